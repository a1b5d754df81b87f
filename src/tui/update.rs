//! `update`: the only place the state changes. Pure: it returns the effects
//! it wants and the runtime performs them.

use std::time::Duration;

use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Position, Rect};
use ratatui_textarea::TextArea;

use super::action::{Action, ConfigOutcome, Effect, Outcome, SignalChoice, Snapshot, Subject};
use super::app::{
    scroll_offset, App, ConfigView, Confirm, CreateDialog, CreateField, FileView, FilesPane,
    InputKind, KillTarget, LaunchDialog, LaunchField, Overlay, Pane, RefusalsView, SandboxRow,
    Screen, SortColumn, StatusLine, Tab, TreeRow, UsageSort,
};
use super::format::{command_line, split_command};
use super::view;
use crate::execution::Status;
use crate::profile::{NetworkAccess, Profile, ProfileChange};

pub fn update(app: &mut App, action: Action) -> Vec<Effect> {
    let tick = matches!(action, Action::Snapshot(_));
    let mut effects = dispatch(app, action);
    if !app.quit {
        effects.extend(sync(app, tick));
    }
    effects
}

fn dispatch(app: &mut App, action: Action) -> Vec<Effect> {
    match action {
        Action::Key(key) if key.kind == KeyEventKind::Release => Vec::new(),
        Action::Key(key) => {
            app.dirty = true;
            let effects = on_key(app, key);
            app.freeze_order();
            effects
        }
        Action::Mouse(mouse) => {
            let effects = on_mouse(app, mouse);
            app.freeze_order();
            effects
        }
        Action::Resize(w, h) => {
            app.size = (w, h);
            app.dirty = true;
            Vec::new()
        }
        Action::Snapshot(snapshot) => {
            apply_snapshot(app, *snapshot);
            app.dirty = true;
            Vec::new()
        }
        Action::Done(outcome) => {
            app.dirty = true;
            on_outcome(app, outcome)
        }
    }
}

/// Reads that what is on screen needs and the sampler does not do: the
/// workspace listing when the Files tab shows another sandbox, and the
/// live network refusals of the execution in the detail (again each
/// `tick` while it runs).
fn sync(app: &mut App, tick: bool) -> Vec<Effect> {
    if app.screen != Screen::Main {
        return Vec::new();
    }
    let effect = match app.tab {
        Tab::Files => sync_files(app, tick),
        Tab::Detail => sync_refusals(app, tick),
        Tab::Tree | Tab::Logs | Tab::Charts => None,
    };
    effect.into_iter().collect()
}

fn sync_files(app: &mut App, tick: bool) -> Option<Effect> {
    let Some(sandbox) = app.subject_sandbox() else {
        app.files = None;
        return None;
    };
    if let Some(f) = app.files.as_mut().filter(|f| f.sandbox == sandbox) {
        // What runs in the sandbox changes its workspace: list the shown
        // directory again with each refresh (one readdir), one at a time,
        // and not under a dialog or a file view.
        if !tick || f.loading || f.refreshing || app.overlay.is_some() {
            return None;
        }
        f.refreshing = true;
        return Some(Effect::ListFiles {
            sandbox,
            dir: f.dir.clone(),
        });
    }
    app.files = Some(FilesPane::new(sandbox.clone()));
    app.dirty = true;
    Some(Effect::ListFiles {
        sandbox,
        dir: String::new(),
    })
}

fn sync_refusals(app: &mut App, tick: bool) -> Option<Effect> {
    let Subject::Execution(id) = app.subject() else {
        return None;
    };
    let e = app.executions.iter().find(|e| e.record.id == id)?;
    // A finished execution carries its refusals in its result; a queued one has none yet.
    if e.record.status.is_final() || e.record.status == Status::Queued {
        return None;
    }
    let proxied = app
        .sandboxes
        .iter()
        .find(|r| r.view.name == e.record.sandbox)
        .is_none_or(|r| matches!(r.view.limits.network_access(), NetworkAccess::Allowlist(_)));
    // One fetch at a time: a slow one is not piled on every tick.
    if !proxied || app.refusals_pending.is_some() {
        return None;
    }
    let have = app.refusals.as_ref().is_some_and(|r| r.id == id);
    // Running: again on every sample. Ended without a result (lost): once.
    let live = tick && !e.record.status.is_final();
    if have && !live {
        return None;
    }
    app.refusals_pending = Some(id.clone());
    Some(Effect::FetchRefusals { id })
}

fn status(app: &mut App, text: impl Into<String>, error: bool) {
    app.status = Some(StatusLine {
        text: text.into(),
        error,
    });
}

// ---------------------------------------------------------------- snapshot

fn apply_snapshot(app: &mut App, snap: Snapshot) {
    if let Some(error) = snap.error {
        // Keep the last good figures; say why they are not moving.
        app.sample_error = Some(error);
        return;
    }
    app.sample_error = None;
    let tree_cursor = app.tree_cursor();
    let now = snap.taken_at_ms;
    app.now_ms = now;
    app.host = snap.host;
    app.host_history
        .cpu_tenths
        .push((f64::from(app.host.cpu_percent) * 10.0).round() as u64);
    app.host_history.memory.push(app.host.memory_used_bytes);

    let mut rows = Vec::with_capacity(snap.sandboxes.len());
    for view in snap.sandboxes {
        let cpu_percent = match app.prev_cpu.get(&view.name) {
            Some((t, cpu)) if now > *t && view.cpu_ms >= *cpu => {
                (view.cpu_ms - cpu) as f64 * 100.0 / (now - t) as f64
            }
            _ => 0.0,
        };
        app.prev_cpu.insert(view.name.clone(), (now, view.cpu_ms));
        let h = app.history.entry(view.name.clone()).or_default();
        h.cpu_tenths.push((cpu_percent * 10.0).round() as u64);
        h.memory.push(view.memory_bytes);
        let profile_changes = app
            .config
            .profiles
            .iter()
            .find(|p| p.name == view.profile)
            .map(|now| profile_changes(&view.limits, now))
            .unwrap_or_default();
        rows.push(SandboxRow {
            view,
            cpu_percent,
            profile_changes,
        });
    }
    let alive = |name: &String| rows.iter().any(|r: &SandboxRow| &r.view.name == name);
    app.prev_cpu.retain(|k, _| alive(k));
    app.history.retain(|k, _| alive(k));
    app.sandboxes = rows;
    app.executions = snap.executions;
    app.processes = snap.processes;
    app.processes_of = snap.subject;
    app.logs = snap.logs;
    app.loaded = true;

    if let Some(name) = &app.selected_sandbox {
        if !app.sandboxes.iter().any(|r| &r.view.name == name) {
            app.selected_sandbox = None;
        }
    }
    if app.execution_cursor().is_none() {
        app.selected_execution = app
            .visible_executions()
            .first()
            .map(|e| e.record.id.clone());
    }
    if app.tree_cursor().is_none() {
        app.selected_pid =
            replacement_row(&app.tree_rows(), tree_cursor).map(|r| app.processes[r.index].pid);
    }
    let pids: Vec<i32> = app.processes.iter().map(|p| p.pid).collect();
    app.collapsed.retain(|p| pids.contains(p));
}

/// Where the tree's cursor goes when its process is gone (killed, say): the
/// row that took its place, or the nearest one above; an init (a root of
/// the tree, whose death ends its whole execution) only when nothing else
/// is left, so a second K never lands on one by surprise.
fn replacement_row(rows: &[TreeRow], old_cursor: Option<usize>) -> Option<TreeRow> {
    let Some(old) = old_cursor else {
        return rows.first().copied();
    };
    let at = old.min(rows.len().checked_sub(1)?);
    let not_init = |i: &usize| rows[*i].depth > 0;
    (0..=at)
        .rev()
        .find(not_init)
        .or_else(|| (at..rows.len()).find(not_init))
        .or(Some(at))
        .map(|i| rows[i])
}

/// What the file's profile `now` would change in a sandbox made from
/// `made`: its own `--set` overrides stay, and an image it pinned to a
/// digest is not taken as changed by the file naming it (pinning again is
/// for `update`, which can import).
fn profile_changes(made: &Profile, now: &Profile) -> Vec<ProfileChange> {
    let Ok(now) = now.with_settings(&made.settings) else {
        return Vec::new();
    };
    made.changes_to(&now)
        .into_iter()
        .filter(|c| {
            let pinned = c.from.as_str().is_some_and(|s| s.starts_with("sha256:"));
            let named = c.to.as_str().is_some_and(|s| !s.starts_with("sha256:"));
            !(c.key == "image" && pinned && named)
        })
        .collect()
}

// ---------------------------------------------------------------- outcomes

fn on_outcome(app: &mut App, outcome: Outcome) -> Vec<Effect> {
    match outcome {
        Outcome::Launched(Ok(record)) => {
            let refused = matches!(record.status, Status::Denied | Status::Error);
            if refused {
                let why = record
                    .error
                    .clone()
                    .unwrap_or_else(|| record.status.to_string());
                if let Some(Overlay::Launch(d)) = &mut app.overlay {
                    d.busy = false;
                    d.error = Some(format!("{}: {why}", record.status));
                    return Vec::new();
                }
                status(app, format!("{} {}: {why}", record.id, record.status), true);
                return Vec::new();
            }
            if matches!(app.overlay, Some(Overlay::Launch(_))) {
                app.overlay = None;
            }
            app.selected_sandbox = Some(record.sandbox.clone());
            app.selected_execution = Some(record.id.clone());
            app.focus = Pane::Executions;
            app.exec_context = true;
            status(
                app,
                format!(
                    "launched {} in {}: {}",
                    record.id,
                    record.sandbox,
                    command_line(&record.command)
                ),
                false,
            );
        }
        Outcome::Launched(Err(e)) => match &mut app.overlay {
            Some(Overlay::Launch(d)) => {
                d.busy = false;
                d.error = Some(e);
            }
            _ => status(app, format!("launch failed: {e}"), true),
        },
        Outcome::Created(Ok(name)) => {
            let then_launch = matches!(&app.overlay, Some(Overlay::Create(d)) if d.then_launch);
            app.overlay = None;
            app.selected_sandbox = Some(name.clone());
            status(app, format!("created sandbox {name}"), false);
            if then_launch {
                let mut dialog = launch_dialog(app);
                if !dialog.sandboxes.contains(&name) {
                    dialog.sandboxes.push(name.clone());
                    dialog.sandboxes.sort();
                }
                dialog.sandbox = dialog
                    .sandboxes
                    .iter()
                    .position(|n| n == &name)
                    .unwrap_or(0);
                dialog.field = LaunchField::Command;
                app.overlay = Some(Overlay::Launch(Box::new(dialog)));
            }
        }
        Outcome::Created(Err(e)) => match &mut app.overlay {
            Some(Overlay::Create(d)) => {
                d.busy = false;
                d.error = Some(e);
            }
            _ => status(app, format!("create failed: {e}"), true),
        },
        Outcome::Killed(Ok(text)) => status(app, text, false),
        Outcome::Killed(Err(e)) => status(app, format!("kill failed: {e}"), true),
        Outcome::Removed(Ok(name)) => {
            if app.selected_sandbox.as_deref() == Some(name.as_str()) {
                app.selected_sandbox = None;
            }
            status(app, format!("removed sandbox {name}"), false);
        }
        Outcome::Removed(Err(e)) => status(app, format!("remove failed: {e}"), true),
        Outcome::ProfileApplied(Ok((name, 0))) => {
            status(app, format!("{name} already has its profile"), false)
        }
        Outcome::ProfileApplied(Ok((name, n))) => status(
            app,
            format!("{name}: {n} key(s) of its profile applied"),
            false,
        ),
        Outcome::ProfileApplied(Err(e)) => status(app, format!("update failed: {e}"), true),
        Outcome::Config(ConfigOutcome::Loaded(config)) => {
            let selected = app.config.selected;
            app.config = ConfigView::from_config(&config);
            app.config.selected = selected.min(app.config.len().saturating_sub(1));
            match app.config.invalid.len() {
                0 => status(app, "configuration reloaded", false),
                n => status(
                    app,
                    format!("configuration reloaded; {n} invalid profile(s) left out"),
                    true,
                ),
            }
        }
        Outcome::Config(ConfigOutcome::Invalid(diagnostics)) => {
            let n = diagnostics.len();
            app.config.errors = diagnostics;
            app.config.failure = None;
            status(
                app,
                format!("configuration has {n} error(s); the previous one stays in use"),
                true,
            );
        }
        Outcome::Config(ConfigOutcome::Failed(e)) => {
            app.config.failure = Some(e.clone());
            status(app, e, true);
        }
        Outcome::Listed {
            sandbox,
            dir,
            result,
        } => {
            let Some(f) = app.files.as_mut().filter(|f| f.sandbox == sandbox) else {
                app.dirty = false;
                return Vec::new();
            };
            f.refreshing = false;
            // Only the answer for the directory shown now; older ones are stale.
            if f.dir != dir {
                app.dirty = false;
                return Vec::new();
            }
            let before = f.clone();
            match result {
                Ok(entries) => f.set_entries(entries),
                Err(e) => {
                    f.entries.clear();
                    f.selected = 0;
                    f.loading = false;
                    f.error = Some(e);
                }
            }
            // The usual re-listing finds nothing new: nothing to redraw.
            app.dirty = *f != before;
        }
        Outcome::FileRead {
            sandbox,
            path,
            result,
        } => match result {
            Ok(head) => {
                if app.overlay.is_none() {
                    let view = FileView::new(sandbox, path, &head);
                    app.overlay = Some(Overlay::FileView(Box::new(view)));
                }
            }
            Err(e) => {
                status(app, e, true);
                // Most often the file vanished: show what is there now.
                return reload_files_of(app, &sandbox);
            }
        },
        Outcome::FileIsDirectory { sandbox, path } => {
            let parent = path.rsplit_once('/').map_or("", |(p, _)| p);
            if let Some(f) = app
                .files
                .as_mut()
                .filter(|f| f.sandbox == sandbox && f.dir == parent)
            {
                return enter_dir(f, path);
            }
        }
        Outcome::FileDeleted {
            sandbox,
            path,
            result,
        } => {
            match result {
                Ok(()) => status(app, format!("deleted {sandbox}:{path}"), false),
                Err(e) => status(app, format!("delete failed: {e}"), true),
            }
            return reload_files_of(app, &sandbox);
        }
        Outcome::Refusals { id, result } => {
            if app.refusals_pending.as_ref() == Some(&id) {
                app.refusals_pending = None;
            }
            let previous = app
                .refusals
                .take()
                .filter(|r| r.id == id)
                .map(|r| r.refusals)
                .unwrap_or_default();
            app.refusals = Some(match result {
                Ok(refusals) => RefusalsView {
                    id,
                    refusals,
                    error: None,
                },
                Err(e) => RefusalsView {
                    id,
                    refusals: previous,
                    error: Some(e),
                },
            });
        }
    }
    Vec::new()
}

// ---------------------------------------------------------------- keys

fn is_ctrl_c(key: &KeyEvent) -> bool {
    key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c')
}

fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if let Some(overlay) = app.overlay.take() {
        return on_overlay_key(app, overlay, key);
    }
    if let Some(kind) = app.input {
        on_input_key(app, kind, key);
        return Vec::new();
    }
    if is_ctrl_c(&key) {
        app.quit = true;
        return vec![Effect::Quit];
    }
    // A new key press makes old news stale.
    app.status = None;
    match app.screen {
        Screen::Main => on_main_key(app, key),
        Screen::Profiles => on_profiles_key(app, key),
    }
}

fn on_input_key(app: &mut App, kind: InputKind, key: KeyEvent) {
    match key.code {
        KeyCode::Esc => {
            app.input = None;
            app.input_buffer.clear();
            match kind {
                InputKind::Filter => app.filter.clear(),
                InputKind::LogSearch => app.log_search = None,
            }
        }
        KeyCode::Enter => {
            app.input = None;
            if kind == InputKind::LogSearch {
                let needle = std::mem::take(&mut app.input_buffer);
                app.log_search = (!needle.is_empty()).then_some(needle);
                search_logs(app, true, true);
            }
            app.input_buffer.clear();
        }
        KeyCode::Backspace => {
            app.input_buffer.pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
            app.input_buffer.clear();
        }
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
            app.input_buffer.push(c);
        }
        _ => {}
    }
    if kind == InputKind::Filter && app.input.is_some() {
        // The filter applies as one types.
        app.filter = app.input_buffer.clone();
        keep_sandbox_selection_visible(app);
    }
}

fn keep_sandbox_selection_visible(app: &mut App) {
    if let Some(name) = &app.selected_sandbox {
        if !app.visible_sandboxes().iter().any(|r| &r.view.name == name) {
            let first = app.visible_sandboxes().first().map(|r| r.view.name.clone());
            select_sandbox(app, first);
        }
    }
}

fn on_main_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if app.focus == Pane::Inspector && app.tab == Tab::Files {
        if let Some(effects) = on_files_key(app, key) {
            return effects;
        }
    }
    let logs_focused = app.focus == Pane::Inspector && app.tab == Tab::Logs;
    match key.code {
        KeyCode::Char('q') | KeyCode::F(10) => {
            app.quit = true;
            return vec![Effect::Quit];
        }
        KeyCode::Char('?') | KeyCode::F(1) => app.overlay = Some(Overlay::Help),
        KeyCode::Tab => set_focus(app, next_pane(app.focus, true)),
        KeyCode::BackTab => set_focus(app, next_pane(app.focus, false)),
        KeyCode::Up | KeyCode::Char('k') => move_cursor(app, -1),
        KeyCode::Down | KeyCode::Char('j') => move_cursor(app, 1),
        KeyCode::PageUp => move_cursor(app, -10),
        KeyCode::PageDown => move_cursor(app, 10),
        KeyCode::Home | KeyCode::Char('g') => move_cursor(app, i64::MIN / 2),
        KeyCode::End | KeyCode::Char('G') => move_cursor(app, i64::MAX / 2),
        KeyCode::Enter => drill_down(app),
        KeyCode::Char(' ') | KeyCode::Char('+') | KeyCode::Char('-')
            if app.focus == Pane::Inspector && app.tab == Tab::Tree =>
        {
            let want = match key.code {
                KeyCode::Char('+') => Some(false),
                KeyCode::Char('-') => Some(true),
                _ => None,
            };
            toggle_collapse(app, want);
        }
        KeyCode::Esc => go_back(app),
        // A new search or filter starts empty, as in less and k9s.
        KeyCode::Char('/') => {
            app.input_buffer.clear();
            if logs_focused {
                app.input = Some(InputKind::LogSearch);
            } else {
                app.input = Some(InputKind::Filter);
                app.filter.clear();
                keep_sandbox_selection_visible(app);
            }
        }
        KeyCode::Char('n') if logs_focused && app.log_search.is_some() => {
            search_logs(app, true, false)
        }
        KeyCode::Char('N') if logs_focused && app.log_search.is_some() => {
            search_logs(app, false, false)
        }
        KeyCode::Char('W') if logs_focused => {
            app.log_wrap = !app.log_wrap;
            let state = if app.log_wrap { "on" } else { "off" };
            status(app, format!("wrap {state}"), false);
        }
        KeyCode::Char('R') if logs_focused => {
            app.log_raw = !app.log_raw;
            let state = if app.log_raw {
                "escapes shown"
            } else {
                "colours"
            };
            status(app, format!("logs: {state}"), false);
        }
        KeyCode::Left if logs_focused && !app.log_wrap => {
            app.log_left = app.log_left.saturating_sub(LOG_SCROLL_COLUMNS)
        }
        KeyCode::Right if logs_focused && !app.log_wrap => {
            let longest = app
                .log_lines()
                .iter()
                .map(|l| crate::tui::ansi::plain(&l.text).chars().count())
                .max()
                .unwrap_or(0);
            app.log_left = (app.log_left + LOG_SCROLL_COLUMNS).min(longest.saturating_sub(1));
        }
        KeyCode::Char('n') => open_create(app, false),
        KeyCode::Char('s') => sort_focused(app, None),
        KeyCode::Char('S') => reverse_focused(app),
        KeyCode::Char('P') => sort_focused(app, Some(UsageSort::Cpu)),
        KeyCode::Char('M') => sort_focused(app, Some(UsageSort::Memory)),
        KeyCode::Char('x') => open_launch(app),
        KeyCode::Char('K') | KeyCode::F(9) => open_kill(app),
        KeyCode::Char('D') => open_remove(app),
        KeyCode::Char('u') => open_apply_profile(app),
        KeyCode::Char('l') => show_tab(app, Tab::Logs),
        KeyCode::Char('t') => show_tab(app, Tab::Tree),
        KeyCode::Char('c') => show_tab(app, Tab::Charts),
        KeyCode::Char('i') => show_tab(app, Tab::Detail),
        KeyCode::Char('w') => {
            let shown = app.tab == Tab::Files;
            show_tab(app, Tab::Files);
            // Coming back to the tab: the workspace may have changed meanwhile.
            if !shown {
                return reload_files(app);
            }
        }
        KeyCode::Char('f') => {
            app.log_scroll = match app.log_scroll {
                Some(_) => None,
                None => Some(log_max_top(app)),
            };
            let state = if app.log_scroll.is_none() {
                "on"
            } else {
                "off"
            };
            status(app, format!("follow {state}"), false);
        }
        KeyCode::Char('p') => app.screen = Screen::Profiles,
        _ => unknown_key(app, &key),
    }
    Vec::new()
}

/// `s` (`by: None`: the next order), `P` (CPU) and `M` (memory): the
/// table of the focused pane. CPU and memory put the biggest first.
fn sort_focused(app: &mut App, by: Option<UsageSort>) {
    let usage = |current: (UsageSort, bool)| match by {
        Some(order) => (order, true),
        None => {
            let next = current.0.next();
            (next, next != UsageSort::Natural || current.1)
        }
    };
    let what = match (app.focus, app.tab) {
        (Pane::Sandboxes, _) => {
            match by {
                None => app.sort = app.sort.next(),
                Some(UsageSort::Cpu) => app.sort = SortColumn::Cpu,
                Some(_) => app.sort = SortColumn::Memory,
            }
            app.sort_desc = by.is_some();
            format!("sandboxes sorted by {:?}", app.sort).to_lowercase()
        }
        (Pane::Executions, _) => {
            app.exec_sort = usage(app.exec_sort);
            if app.exec_sort.0 == UsageSort::Natural {
                app.exec_sort.1 = true;
            }
            format!("executions sorted by {}", app.exec_sort.0.name())
        }
        (Pane::Inspector, Tab::Tree) => {
            app.tree_sort = usage(app.tree_sort);
            if app.tree_sort.0 == UsageSort::Natural {
                app.tree_sort.1 = false;
            }
            format!("processes sorted by {}", app.tree_sort.0.name())
        }
        (Pane::Inspector, _) => {
            status(app, "nothing to sort here: Tab to a table", false);
            return;
        }
    };
    status(app, what, false);
}

fn reverse_focused(app: &mut App) {
    match (app.focus, app.tab) {
        (Pane::Sandboxes, _) => app.sort_desc = !app.sort_desc,
        (Pane::Executions, _) => app.exec_sort.1 = !app.exec_sort.1,
        (Pane::Inspector, Tab::Tree) => app.tree_sort.1 = !app.tree_sort.1,
        (Pane::Inspector, _) => status(app, "nothing to sort here: Tab to a table", false),
    }
}

/// A key that does nothing here says so, instead of leaving the operator
/// to guess whether it was taken.
fn unknown_key(app: &mut App, key: &KeyEvent) {
    let name = match key.code {
        KeyCode::Char(c) if key.modifiers.contains(KeyModifiers::CONTROL) => format!("Ctrl-{c}"),
        KeyCode::Char(c) if !c.is_control() => c.to_string(),
        KeyCode::F(n) => format!("F{n}"),
        // Modifiers alone, arrows at an edge and the like: nothing to say.
        _ => {
            app.dirty = false;
            return;
        }
    };
    status(
        app,
        format!("{name}: no such key here (? lists the keys)"),
        false,
    );
}

/// Keys of the Files tab; `None` leaves the key to the main screen.
fn on_files_key(app: &mut App, key: KeyEvent) -> Option<Vec<Effect>> {
    let at_root = app.files.as_ref().is_none_or(|f| f.dir.is_empty());
    Some(match key.code {
        KeyCode::Enter | KeyCode::Right => open_entry(app, false),
        KeyCode::Char('v') => open_entry(app, true),
        KeyCode::Backspace | KeyCode::Left => go_up(app),
        KeyCode::Esc if !at_root => go_up(app),
        KeyCode::Char('d') | KeyCode::Delete => {
            open_delete(app);
            Vec::new()
        }
        KeyCode::Char('r') => reload_files(app),
        _ => return None,
    })
}

/// Enter a directory, view anything else; `view_only` refuses directories.
fn open_entry(app: &mut App, view_only: bool) -> Vec<Effect> {
    let Some(f) = app.files.as_mut() else {
        return Vec::new();
    };
    let Some(entry) = f.selected_entry() else {
        app.dirty = false;
        return Vec::new();
    };
    let path = f.path_of(&entry.name);
    match (entry.kind, view_only) {
        ("dir", false) => enter_dir(f, path),
        ("dir", true) => {
            status(app, format!("{path} is a directory: Enter opens it"), true);
            Vec::new()
        }
        // The manager decides what can be read; its refusal is the message.
        _ => vec![Effect::ReadFile {
            sandbox: f.sandbox.clone(),
            path,
        }],
    }
}

fn enter_dir(f: &mut FilesPane, dir: String) -> Vec<Effect> {
    f.dir = dir;
    f.entries.clear();
    f.selected = 0;
    f.error = None;
    f.loading = true;
    vec![Effect::ListFiles {
        sandbox: f.sandbox.clone(),
        dir: f.dir.clone(),
    }]
}

fn go_up(app: &mut App) -> Vec<Effect> {
    let Some(f) = app.files.as_mut().filter(|f| !f.dir.is_empty()) else {
        app.dirty = false;
        return Vec::new();
    };
    let (parent, name) = match f.dir.rsplit_once('/') {
        Some((parent, name)) => (parent.to_string(), name.to_string()),
        None => (String::new(), f.dir.clone()),
    };
    let effects = enter_dir(f, parent);
    f.select_name = Some(name);
    effects
}

/// List the shown directory again, if the pane is still about the subject.
fn reload_files(app: &mut App) -> Vec<Effect> {
    match app.subject_sandbox() {
        Some(sandbox) => reload_files_of(app, &sandbox),
        // `sync` starts afresh for a new subject.
        None => Vec::new(),
    }
}

fn reload_files_of(app: &mut App, sandbox: &str) -> Vec<Effect> {
    match app.files.as_mut().filter(|f| f.sandbox == sandbox) {
        Some(f) => {
            f.loading = true;
            f.select_name = f.selected_entry().map(|e| e.name.clone());
            vec![Effect::ListFiles {
                sandbox: f.sandbox.clone(),
                dir: f.dir.clone(),
            }]
        }
        None => Vec::new(),
    }
}

fn open_delete(app: &mut App) {
    let Some(f) = app.files.as_ref() else {
        return;
    };
    let Some(entry) = f.selected_entry() else {
        status(app, "nothing selected to delete", true);
        return;
    };
    let path = f.path_of(&entry.name);
    if entry.kind == "dir" {
        status(
            app,
            format!("{path} is a directory: only single files are deleted here"),
            true,
        );
        return;
    }
    app.overlay = Some(Overlay::Confirm(Confirm {
        target: KillTarget::DeleteFile {
            sandbox: f.sandbox.clone(),
            path,
        },
        signal: SignalChoice::Term,
    }));
}

fn on_profiles_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let count = app.config.len();
    match key.code {
        KeyCode::Char('q') | KeyCode::F(10) => {
            app.quit = true;
            return vec![Effect::Quit];
        }
        KeyCode::Char('?') | KeyCode::F(1) => app.overlay = Some(Overlay::Help),
        KeyCode::Esc | KeyCode::Char('p') => app.screen = Screen::Main,
        KeyCode::Up | KeyCode::Char('k') => {
            app.config.selected = app.config.selected.saturating_sub(1)
        }
        KeyCode::Down | KeyCode::Char('j') => {
            app.config.selected = (app.config.selected + 1).min(count.saturating_sub(1))
        }
        KeyCode::Char('r') => return vec![Effect::ReloadConfig],
        KeyCode::Char('e') => match &app.config.path {
            Some(path) => return vec![Effect::OpenEditor { path: path.clone() }],
            None => status(
                app,
                "the built-in profiles are in use: there is no file to edit (create sandboxes.toml)",
                true,
            ),
        },
        _ => unknown_key(app, &key),
    }
    Vec::new()
}

fn next_pane(pane: Pane, forward: bool) -> Pane {
    match (pane, forward) {
        (Pane::Sandboxes, true) | (Pane::Inspector, false) => Pane::Executions,
        (Pane::Executions, true) | (Pane::Sandboxes, false) => Pane::Inspector,
        (Pane::Inspector, true) | (Pane::Executions, false) => Pane::Sandboxes,
    }
}

fn set_focus(app: &mut App, pane: Pane) {
    match pane {
        Pane::Sandboxes => app.exec_context = false,
        Pane::Executions => app.exec_context = app.selected_execution.is_some(),
        Pane::Inspector => {}
    }
    app.focus = pane;
}

fn show_tab(app: &mut App, tab: Tab) {
    if app.focus == Pane::Executions {
        app.exec_context = app.selected_execution.is_some();
    }
    app.tab = tab;
    app.focus = Pane::Inspector;
    app.detail_scroll = 0;
}

fn drill_down(app: &mut App) {
    match app.focus {
        Pane::Sandboxes => {
            app.focus = Pane::Executions;
            app.exec_context = app.selected_execution.is_some();
        }
        Pane::Executions => {
            app.exec_context = app.selected_execution.is_some();
            app.focus = Pane::Inspector;
            app.tab = Tab::Detail;
            app.detail_scroll = 0;
        }
        Pane::Inspector if app.tab == Tab::Tree => toggle_collapse(app, None),
        Pane::Inspector => {}
    }
}

fn go_back(app: &mut App) {
    match app.focus {
        Pane::Inspector => set_focus(app, Pane::Executions),
        Pane::Executions => set_focus(app, Pane::Sandboxes),
        Pane::Sandboxes if !app.filter.is_empty() => app.filter.clear(),
        Pane::Sandboxes => select_sandbox(app, None),
    }
}

fn toggle_collapse(app: &mut App, want_collapsed: Option<bool>) {
    let Some(pid) = app.selected_pid else {
        return;
    };
    let now = app.collapsed.contains(&pid);
    if want_collapsed.unwrap_or(!now) {
        app.collapsed.insert(pid);
    } else {
        app.collapsed.remove(&pid);
    }
}

fn select_sandbox(app: &mut App, name: Option<String>) {
    if app.selected_sandbox == name {
        return;
    }
    app.selected_sandbox = name;
    app.selected_execution = app
        .visible_executions()
        .first()
        .map(|e| e.record.id.clone());
    app.selected_pid = None;
    app.log_scroll = None;
    app.log_left = 0;
}

fn step(cursor: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (cursor as i64 + delta).clamp(0, len as i64 - 1) as usize
}

fn move_cursor(app: &mut App, delta: i64) {
    match app.focus {
        Pane::Sandboxes => {
            let names: Vec<String> = app
                .visible_sandboxes()
                .iter()
                .map(|r| r.view.name.clone())
                .collect();
            let cursor = step(app.sandbox_cursor(), delta, names.len() + 1);
            let name = cursor.checked_sub(1).and_then(|i| names.get(i).cloned());
            select_sandbox(app, name);
        }
        Pane::Executions => {
            let ids: Vec<String> = app
                .visible_executions()
                .iter()
                .map(|e| e.record.id.clone())
                .collect();
            let cursor = step(app.execution_cursor().unwrap_or(0), delta, ids.len());
            let id = ids.get(cursor).cloned();
            if id != app.selected_execution {
                app.selected_execution = id;
                app.selected_pid = None;
                app.log_scroll = None;
                app.log_left = 0;
            }
            app.exec_context = app.selected_execution.is_some();
        }
        Pane::Inspector => match app.tab {
            Tab::Tree => {
                let rows = app.tree_rows();
                let cursor = step(app.tree_cursor().unwrap_or(0), delta, rows.len());
                app.selected_pid = rows.get(cursor).map(|r| app.processes[r.index].pid);
            }
            Tab::Logs => {
                let max_top = log_max_top(app);
                let top = app.log_scroll.unwrap_or(max_top);
                let top = (top as i64 + delta).clamp(0, max_top as i64) as usize;
                // Scrolling back to the end resumes following.
                app.log_scroll = (top < max_top).then_some(top);
            }
            Tab::Detail => {
                app.detail_scroll = (app.detail_scroll as i64 + delta).clamp(0, 10_000) as usize
            }
            Tab::Files => match app.files.as_mut() {
                Some(f) => f.selected = step(f.selected, delta, f.entries.len()),
                None => app.dirty = false,
            },
            Tab::Charts => app.dirty = false,
        },
    }
}

/// How far ←/→ move the logs sideways.
const LOG_SCROLL_COLUMNS: usize = 8;

/// Lines of log text that fit in the inspector.
fn log_height(app: &App) -> usize {
    let layout = view::main_layout(Rect::new(0, 0, app.size.0, app.size.1), app.focus);
    view::inner_rows(layout.inspector).saturating_sub(1)
}

fn log_max_top(app: &App) -> usize {
    app.log_lines().len().saturating_sub(log_height(app))
}

/// Move to the next (or previous) line matching the search; `from_current`
/// includes the line at the top.
fn search_logs(app: &mut App, forward: bool, from_current: bool) {
    let Some(needle) = app.log_search.clone().map(|n| n.to_lowercase()) else {
        return;
    };
    let lines = app.log_lines();
    let top = app
        .log_scroll
        .unwrap_or(lines.len().saturating_sub(log_height(app)));
    let matches = |i: &usize| {
        crate::tui::ansi::plain(&lines[*i].text)
            .to_lowercase()
            .contains(&needle)
    };
    let found = if forward {
        let start = if from_current { top } else { top + 1 };
        (start..lines.len())
            .find(matches)
            .or_else(|| (0..start.min(lines.len())).find(matches))
    } else {
        (0..top)
            .rev()
            .find(matches)
            .or_else(|| (top..lines.len()).rev().find(matches))
    };
    match found {
        Some(i) => app.log_scroll = Some(i),
        None => status(app, format!("no match for {needle:?}"), true),
    }
}

// ---------------------------------------------------------------- dialogs

fn open_kill(app: &mut App) {
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
fn open_apply_profile(app: &mut App) {
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

fn open_remove(app: &mut App) {
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

fn single_line(placeholder: &str) -> TextArea<'static> {
    let mut area = TextArea::default();
    area.set_placeholder_text(placeholder.to_string());
    area
}

fn launch_dialog(app: &App) -> LaunchDialog {
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

fn open_launch(app: &mut App) {
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

fn open_create(app: &mut App, then_launch: bool) {
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

fn on_overlay_key(app: &mut App, overlay: Overlay, key: KeyEvent) -> Vec<Effect> {
    match overlay {
        Overlay::Help => {
            if !matches!(
                key.code,
                KeyCode::Esc
                    | KeyCode::Char('?')
                    | KeyCode::Char('q')
                    | KeyCode::Enter
                    | KeyCode::F(1)
            ) {
                app.overlay = Some(Overlay::Help);
            }
            Vec::new()
        }
        Overlay::Confirm(confirm) => on_confirm_key(app, confirm, key),
        Overlay::Launch(dialog) => on_launch_key(app, dialog, key),
        Overlay::Create(dialog) => on_create_key(app, dialog, key),
        Overlay::FileView(view) => {
            on_file_view_key(app, view, key);
            Vec::new()
        }
    }
}

fn on_file_view_key(app: &mut App, mut v: Box<FileView>, key: KeyEvent) {
    let height = view::file_view_text_rows(Rect::new(0, 0, app.size.0, app.size.1));
    let max_top = v.lines.len().saturating_sub(height);
    let page = height.max(1) as i64;
    let scroll = |top: usize, delta: i64| (top as i64 + delta).clamp(0, max_top as i64) as usize;
    match key.code {
        KeyCode::Esc
        | KeyCode::Enter
        | KeyCode::Backspace
        | KeyCode::Char('q')
        | KeyCode::Char('v') => return,
        _ if is_ctrl_c(&key) => return,
        KeyCode::Up | KeyCode::Char('k') => v.top = scroll(v.top, -1),
        KeyCode::Down | KeyCode::Char('j') => v.top = scroll(v.top, 1),
        KeyCode::PageUp => v.top = scroll(v.top, -page),
        KeyCode::PageDown | KeyCode::Char(' ') => v.top = scroll(v.top, page),
        KeyCode::Home | KeyCode::Char('g') => v.top = 0,
        KeyCode::End | KeyCode::Char('G') => v.top = max_top,
        KeyCode::Left | KeyCode::Char('h') => v.left = v.left.saturating_sub(8),
        KeyCode::Right | KeyCode::Char('l') => {
            let widest = v.lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            v.left = (v.left + 8).min(widest.saturating_sub(1));
        }
        _ => {}
    }
    app.overlay = Some(Overlay::FileView(v));
}

fn on_confirm_key(app: &mut App, mut confirm: Confirm, key: KeyEvent) -> Vec<Effect> {
    let is_process = matches!(confirm.target, KillTarget::Process { .. });
    let index = SignalChoice::ALL
        .iter()
        .position(|s| *s == confirm.signal)
        .unwrap_or(0);
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') | KeyCode::Enter => {
            let (effect, text) = match confirm.target {
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
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc | KeyCode::Char('q') => {
            status(app, "cancelled", false);
            return Vec::new();
        }
        KeyCode::Left | KeyCode::Char('h') | KeyCode::BackTab if is_process => {
            confirm.signal = SignalChoice::ALL[(index + 3) % 4];
        }
        KeyCode::Right | KeyCode::Char('l') | KeyCode::Tab if is_process => {
            confirm.signal = SignalChoice::ALL[(index + 1) % 4];
        }
        KeyCode::Char(c @ '1'..='4') if is_process => {
            confirm.signal = SignalChoice::ALL[(c as usize) - ('1' as usize)];
        }
        _ => {}
    }
    app.overlay = Some(Overlay::Confirm(confirm));
    Vec::new()
}

/// "30", "30s", "2m", "1h" → a duration; empty → none.
fn parse_timeout(text: &str) -> Result<Option<Duration>, String> {
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

fn on_launch_key(app: &mut App, mut d: Box<LaunchDialog>, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Esc || is_ctrl_c(&key) {
        return Vec::new();
    }
    if d.busy {
        app.overlay = Some(Overlay::Launch(d));
        return Vec::new();
    }
    let mut effects = Vec::new();
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        // Ctrl-P or F2: command line <-> Python snippet.
        KeyCode::Char('p') if ctrl => {
            d.python = !d.python;
            d.field = LaunchField::Command;
            d.error = None;
        }
        KeyCode::F(2) => {
            d.python = !d.python;
            d.field = LaunchField::Command;
            d.error = None;
        }
        // In Python mode Enter is a new line in the code; Ctrl-S runs in either mode.
        KeyCode::Enter if d.python && d.field == LaunchField::Command && !ctrl => {
            d.command.input(key);
        }
        KeyCode::Char('s') if ctrl => match submit_launch(&d) {
            Ok(effect) => {
                d.busy = true;
                d.error = None;
                effects.push(effect);
            }
            Err(e) => d.error = Some(e),
        },
        KeyCode::Tab | KeyCode::BackTab => {
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
        // The target is chosen, not launched into.
        KeyCode::Enter if d.field == LaunchField::Sandbox => {
            d.field = LaunchField::Command;
            d.error = None;
        }
        KeyCode::Enter => match submit_launch(&d) {
            Ok(effect) => {
                d.busy = true;
                d.error = None;
                effects.push(effect);
            }
            Err(e) => d.error = Some(e),
        },
        KeyCode::Char('u') if ctrl => match d.field {
            LaunchField::Command => clear_field(&mut d.command),
            LaunchField::Timeout => clear_field(&mut d.timeout),
            LaunchField::Sandbox => {}
        },
        KeyCode::Char('n') if d.field == LaunchField::Sandbox => {
            open_create(app, true);
            return Vec::new();
        }
        // One-line fields have no lines to move between, so ↑↓ choose the
        // sandbox from any field but the Python code.
        KeyCode::Up | KeyCode::Down if !(d.python && d.field == LaunchField::Command) => {
            d.sandbox = if key.code == KeyCode::Up {
                d.sandbox.saturating_sub(1)
            } else {
                (d.sandbox + 1).min(d.sandboxes.len().saturating_sub(1))
            };
            d.error = None;
        }
        KeyCode::Char('k') if d.field == LaunchField::Sandbox => {
            d.sandbox = d.sandbox.saturating_sub(1)
        }
        KeyCode::Char('j') if d.field == LaunchField::Sandbox => {
            d.sandbox = (d.sandbox + 1).min(d.sandboxes.len().saturating_sub(1))
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

fn clear_field(field: &mut TextArea<'static>) {
    field.select_all();
    field.cut();
}

fn submit_launch(d: &LaunchDialog) -> Result<Effect, String> {
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

fn on_create_key(app: &mut App, mut d: Box<CreateDialog>, key: KeyEvent) -> Vec<Effect> {
    if key.code == KeyCode::Esc || is_ctrl_c(&key) {
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
    match key.code {
        KeyCode::Tab | KeyCode::BackTab => {
            d.field = match d.field {
                CreateField::Name => CreateField::Profile,
                CreateField::Profile => CreateField::Name,
            }
        }
        // The name is one line: ↑↓ choose the profile from either field.
        KeyCode::Up => d.profile = d.profile.saturating_sub(1),
        KeyCode::Down => d.profile = (d.profile + 1).min(d.profiles.len().saturating_sub(1)),
        KeyCode::Char('u')
            if d.field == CreateField::Name && key.modifiers.contains(KeyModifiers::CONTROL) =>
        {
            clear_field(&mut d.name)
        }
        KeyCode::Char('k') if d.field == CreateField::Profile => {
            d.profile = d.profile.saturating_sub(1)
        }
        KeyCode::Char('j') if d.field == CreateField::Profile => {
            d.profile = (d.profile + 1).min(d.profiles.len().saturating_sub(1))
        }
        KeyCode::Enter => {
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

// ---------------------------------------------------------------- mouse

fn on_mouse(app: &mut App, mouse: MouseEvent) -> Vec<Effect> {
    if app.overlay.is_some() || app.screen != Screen::Main {
        return Vec::new();
    }
    let layout = view::main_layout(Rect::new(0, 0, app.size.0, app.size.1), app.focus);
    let at = Position::new(mouse.column, mouse.row);
    let pane = [
        (Pane::Sandboxes, layout.sandboxes),
        (Pane::Executions, layout.executions),
        (Pane::Inspector, layout.inspector),
    ]
    .into_iter()
    .find(|(_, r)| r.contains(at));
    let Some((pane, area)) = pane else {
        return Vec::new();
    };
    match mouse.kind {
        MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
            let delta = if mouse.kind == MouseEventKind::ScrollDown {
                3
            } else {
                -3
            };
            let before = app.focus;
            app.focus = pane;
            move_cursor(app, delta);
            if pane == Pane::Inspector {
                app.focus = before;
            } else {
                set_focus(app, pane);
            }
        }
        MouseEventKind::Down(MouseButton::Left) => {
            set_focus(app, pane);
            // Rows start under the top border and the column header.
            let tabular = matches!(app.tab, Tab::Tree | Tab::Files);
            let first_row = area.y
                + if pane == Pane::Inspector && !tabular {
                    1
                } else {
                    2
                };
            if mouse.row < first_row {
                app.dirty = true;
                return Vec::new();
            }
            let height = view::inner_rows(area).saturating_sub(1);
            let clicked = (mouse.row - first_row) as usize;
            match pane {
                Pane::Sandboxes => {
                    let cursor = app.sandbox_cursor();
                    let row = scroll_offset(cursor, height) + clicked;
                    let name = row
                        .checked_sub(1)
                        .and_then(|i| app.visible_sandboxes().get(i).map(|r| r.view.name.clone()));
                    if row == 0 || name.is_some() {
                        select_sandbox(app, name);
                    }
                }
                Pane::Executions => {
                    let cursor = app.execution_cursor().unwrap_or(0);
                    let row = scroll_offset(cursor, height) + clicked;
                    if let Some(e) = app.visible_executions().get(row) {
                        app.selected_execution = Some(e.record.id.clone());
                        app.exec_context = true;
                    }
                }
                Pane::Inspector if app.tab == Tab::Tree => {
                    let rows = app.tree_rows();
                    let cursor = app.tree_cursor().unwrap_or(0);
                    let row = scroll_offset(cursor, height) + clicked;
                    if let Some(r) = rows.get(row) {
                        app.selected_pid = Some(app.processes[r.index].pid);
                    }
                }
                Pane::Inspector if app.tab == Tab::Files => {
                    if let Some(f) = app.files.as_mut() {
                        let row = scroll_offset(f.selected, height) + clicked;
                        if row < f.entries.len() {
                            f.selected = row;
                        }
                    }
                }
                Pane::Inspector => {}
            }
        }
        _ => return Vec::new(),
    }
    app.dirty = true;
    Vec::new()
}
