//! The dialogs: kill/remove/update/delete confirmations, launch and new sandbox.

use super::*;

pub(super) fn open_kill(app: &mut App) {
    let target = match app.focus {
        Pane::Sandboxes => match app.selected_sandbox_row() {
            Some(row) => KillTarget::Sandbox {
                name: row.view.name.clone(),
                active: row.view.running + row.view.queued,
            },
            None => {
                status(
                    app,
                    "select a sandbox, an execution or a process to kill",
                    true,
                );
                return;
            }
        },
        Pane::Inspector if app.tab == Tab::Tree => {
            let Some(process) = app
                .selected_pid
                .and_then(|pid| app.processes.iter().find(|p| p.pid == pid))
            else {
                status(app, "no process selected", true);
                return;
            };
            KillTarget::Process {
                sandbox: app.subject_sandbox(),
                pid: process.pid,
                command: process.command.clone(),
                init: app
                    .tree_cursor()
                    .and_then(|i| app.tree_rows().get(i).map(|r| r.depth == 0))
                    .unwrap_or(false),
            }
        }
        _ => match app.selected_execution_view() {
            Some(e) if !e.record.status.is_final() => KillTarget::Execution {
                id: e.record.id.clone(),
                sandbox: e.record.sandbox.clone(),
                command: command_line(&e.record.command),
            },
            Some(e) => {
                status(
                    app,
                    format!("{} already ended ({})", e.record.id, e.record.status),
                    true,
                );
                return;
            }
            None => {
                status(app, "no execution selected", true);
                return;
            }
        },
    };
    app.overlay = Some(Overlay::Confirm(Confirm {
        target,
        signal: SignalChoice::Term,
    }));
}

/// `u`: the selected sandbox takes its profile as the file has it now,
/// after a confirmation that lists what changes.
pub(super) fn open_apply_profile(app: &mut App) {
    let Some(row) = app.selected_sandbox_row() else {
        status(app, "select a sandbox to update its profile", true);
        return;
    };
    if row.profile_changes.is_empty() {
        let text = format!(
            "{} runs its profile {} as sandboxes.toml has it",
            row.view.name, row.view.profile
        );
        status(app, text, false);
        return;
    }
    let target = KillTarget::ApplyProfile {
        name: row.view.name.clone(),
        profile: row.view.profile.clone(),
        changes: row
            .profile_changes
            .iter()
            .map(ToString::to_string)
            .collect(),
    };
    app.overlay = Some(Overlay::Confirm(Confirm {
        target,
        signal: SignalChoice::Term,
    }));
}

pub(super) fn open_remove(app: &mut App) {
    match app.selected_sandbox_row() {
        Some(row) => {
            app.overlay = Some(Overlay::Confirm(Confirm {
                target: KillTarget::Remove {
                    name: row.view.name.clone(),
                    active: row.view.running + row.view.queued,
                },
                signal: SignalChoice::Term,
            }))
        }
        None => status(app, "select a sandbox to remove", true),
    }
}

pub(super) fn single_line(placeholder: &str) -> TextArea<'static> {
    let mut area = TextArea::default();
    area.set_placeholder_text(placeholder.to_string());
    area
}

pub(super) fn launch_dialog(app: &App) -> LaunchDialog {
    let mut names: Vec<String> = app.sandboxes.iter().map(|r| r.view.name.clone()).collect();
    names.sort();
    let sandbox = app
        .selected_sandbox
        .as_ref()
        .and_then(|s| names.iter().position(|n| n == s))
        .unwrap_or(0);
    LaunchDialog {
        sandboxes: names,
        sandbox,
        command: single_line("command, e.g. python3 -c 'print(1)'  or  yes | head"),
        timeout: single_line("seconds (empty: the profile's timeout)"),
        field: LaunchField::Command,
        error: None,
        busy: false,
        python: false,
    }
}

pub(super) fn open_launch(app: &mut App) {
    let mut dialog = launch_dialog(app);
    if dialog.sandboxes.is_empty() {
        dialog.field = LaunchField::Sandbox;
        dialog.error = Some("no sandbox yet: press n to create one".into());
    } else if app.selected_sandbox.is_none() && dialog.sandboxes.len() > 1 {
        // With (all) selected there is no obvious target: ask.
        dialog.field = LaunchField::Sandbox;
        dialog.error = Some("launch in which sandbox? ↑↓ choose, Enter confirms".into());
    }
    app.overlay = Some(Overlay::Launch(Box::new(dialog)));
}

pub(super) fn open_create(app: &mut App, then_launch: bool) {
    let profiles: Vec<String> = app.config.profiles.iter().map(|p| p.name.clone()).collect();
    let profile = profiles.iter().position(|p| p == "default").unwrap_or(0);
    app.overlay = Some(Overlay::Create(Box::new(CreateDialog {
        name: single_line("name: a-z 0-9 _ . -"),
        profiles,
        profile,
        field: CreateField::Name,
        error: None,
        busy: false,
        then_launch,
    })));
}

pub(super) fn on_confirm_key(
    app: &mut App,
    mut confirm: Confirm,
    cmd: Option<Cmd>,
    key: KeyEvent,
) -> Vec<Effect> {
    let index = SignalChoice::ALL
        .iter()
        .position(|s| *s == confirm.signal)
        .unwrap_or(0);
    match cmd {
        Some(Cmd::ConfirmYes) => {
            let (effect, text) = match confirm.target {
                KillTarget::ClusterJob { id } => (
                    Effect::StopClusterJob { id: id.clone() },
                    format!("stopping {id}…"),
                ),
                KillTarget::Execution { id, .. } => (
                    Effect::KillExecution { id: id.clone() },
                    format!("killing {id}…"),
                ),
                KillTarget::Sandbox { name, .. } => (
                    Effect::KillSandbox { name: name.clone() },
                    format!("killing every execution of {name}…"),
                ),
                KillTarget::Process { sandbox, pid, .. } => (
                    Effect::SignalProcess {
                        sandbox,
                        pid,
                        signal: confirm.signal,
                    },
                    format!("sending SIG{} to {pid}…", confirm.signal.name()),
                ),
                KillTarget::ApplyProfile { name, .. } => (
                    Effect::ApplyProfile { name: name.clone() },
                    format!("updating {name}…"),
                ),
                KillTarget::Remove { name, .. } => (
                    Effect::RemoveSandbox { name: name.clone() },
                    format!("removing {name}…"),
                ),
                KillTarget::DeleteFile { sandbox, path } => (
                    Effect::DeleteFile {
                        sandbox: sandbox.clone(),
                        path: path.clone(),
                    },
                    format!("deleting {sandbox}:{path}…"),
                ),
            };
            status(app, text, false);
            return vec![effect];
        }
        Some(Cmd::ConfirmNo) => {
            status(app, "cancelled", false);
            return Vec::new();
        }
        Some(Cmd::SignalCycle) => {
            let step = if forward(&key) { 1 } else { 3 };
            confirm.signal = SignalChoice::ALL[(index + step) % 4];
        }
        Some(Cmd::SignalPick) => {
            if let KeyCode::Char(c @ '1'..='4') = key.code {
                confirm.signal = SignalChoice::ALL[(c as usize) - ('1' as usize)];
            }
        }
        _ => {}
    }
    app.overlay = Some(Overlay::Confirm(confirm));
    Vec::new()
}

/// "30", "30s", "2m", "1h" → a duration; empty → none.
pub(super) fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (number, factor) = match text.char_indices().last() {
        Some((i, 's')) => (&text[..i], 1.0),
        Some((i, 'm')) => (&text[..i], 60.0),
        Some((i, 'h')) => (&text[..i], 3600.0),
        _ => (text, 1.0),
    };
    match number.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(Some(Duration::from_secs_f64(v * factor))),
        _ => Err(format!("timeout {text:?}: use seconds, e.g. 30, 90s, 5m")),
    }
}

pub(super) fn on_launch_key(
    app: &mut App,
    mut d: Box<LaunchDialog>,
    cmd: Option<Cmd>,
    key: KeyEvent,
) -> Vec<Effect> {
    if cmd == Some(Cmd::LaunchClose) {
        return Vec::new();
    }
    if d.busy {
        app.overlay = Some(Overlay::Launch(d));
        return Vec::new();
    }
    let mut effects = Vec::new();
    match cmd {
        Some(Cmd::LaunchMode) => {
            d.python = !d.python;
            d.field = LaunchField::Command;
            d.error = None;
        }
        Some(Cmd::LaunchNewLine) => {
            d.command.input(key);
        }
        Some(Cmd::LaunchRun) => match submit_launch(&d) {
            Ok(effect) => {
                d.busy = true;
                d.error = None;
                effects.push(effect);
            }
            Err(e) => d.error = Some(e),
        },
        Some(Cmd::LaunchField) => {
            let order = [
                LaunchField::Sandbox,
                LaunchField::Command,
                LaunchField::Timeout,
            ];
            let i = order.iter().position(|f| *f == d.field).unwrap_or(0);
            let next = if key.code == KeyCode::Tab {
                i + 1
            } else {
                i + 2
            };
            d.field = order[next % 3];
        }
        Some(Cmd::LaunchChoose) => {
            d.field = LaunchField::Command;
            d.error = None;
        }
        Some(Cmd::LaunchClear) => match d.field {
            LaunchField::Command => clear_field(&mut d.command),
            LaunchField::Timeout => clear_field(&mut d.timeout),
            LaunchField::Sandbox => {}
        },
        Some(Cmd::LaunchCreate) => {
            open_create(app, true);
            return Vec::new();
        }
        // One-line fields have no lines to move between, so ↑↓ choose the
        // sandbox from any field but the Python code.
        Some(Cmd::LaunchSandbox) => {
            d.sandbox = if forward(&key) {
                (d.sandbox + 1).min(d.sandboxes.len().saturating_sub(1))
            } else {
                d.sandbox.saturating_sub(1)
            };
            if matches!(key.code, KeyCode::Up | KeyCode::Down) {
                d.error = None;
            }
        }
        _ => match d.field {
            LaunchField::Command => {
                d.command.input(key);
            }
            LaunchField::Timeout => {
                d.timeout.input(key);
            }
            LaunchField::Sandbox => {}
        },
    }
    app.overlay = Some(Overlay::Launch(d));
    effects
}

pub(super) fn clear_field(field: &mut TextArea<'static>) {
    field.select_all();
    field.cut();
}

pub(super) fn submit_launch(d: &LaunchDialog) -> Result<Effect, String> {
    let sandbox = d
        .sandboxes
        .get(d.sandbox)
        .cloned()
        .ok_or("no sandbox: press Tab to the sandbox list, then n to create one")?;
    let text = d.command.lines().join("\n");
    let launch = if d.python {
        if text.trim().is_empty() {
            return Err("code: empty (a function body; `return` gives the result)".into());
        }
        crate::manager::Launch::Python(crate::python::PythonJob {
            code: text,
            ..crate::python::PythonJob::default()
        })
    } else {
        crate::manager::Launch::Command(split_command(&text).map_err(|e| format!("command: {e}"))?)
    };
    let timeout = parse_timeout(&d.timeout.lines().join(""))?;
    Ok(Effect::Launch {
        sandbox,
        launch,
        timeout,
    })
}

pub(super) fn on_create_key(
    app: &mut App,
    mut d: Box<CreateDialog>,
    cmd: Option<Cmd>,
    key: KeyEvent,
) -> Vec<Effect> {
    if cmd == Some(Cmd::CreateClose) {
        if d.then_launch {
            open_launch(app);
        }
        return Vec::new();
    }
    if d.busy {
        app.overlay = Some(Overlay::Create(d));
        return Vec::new();
    }
    let mut effects = Vec::new();
    match cmd {
        Some(Cmd::CreateField) => {
            d.field = match d.field {
                CreateField::Name => CreateField::Profile,
                CreateField::Profile => CreateField::Name,
            }
        }
        // The name is one line: ↑↓ choose the profile from either field.
        Some(Cmd::CreateProfile) if forward(&key) => {
            d.profile = (d.profile + 1).min(d.profiles.len().saturating_sub(1))
        }
        Some(Cmd::CreateProfile) => d.profile = d.profile.saturating_sub(1),
        Some(Cmd::CreateClear) => clear_field(&mut d.name),
        Some(Cmd::CreateRun) => {
            let name = d.name.lines().join("").trim().to_string();
            match (name.is_empty(), d.profiles.get(d.profile)) {
                (true, _) => d.error = Some("type a name".into()),
                (false, None) => d.error = Some("no profile in the configuration".into()),
                (false, Some(profile)) => {
                    d.busy = true;
                    d.error = None;
                    effects.push(Effect::Create {
                        name,
                        profile: profile.clone(),
                    });
                }
            }
        }
        _ if d.field == CreateField::Name => {
            d.name.input(key);
        }
        _ => {}
    }
    app.overlay = Some(Overlay::Create(d));
    effects
}
