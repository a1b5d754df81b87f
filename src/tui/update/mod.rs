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
use super::keys::{self, Cmd, Ctx};
use super::view;
use crate::execution::Status;
use crate::profile::{NetworkAccess, Profile, ProfileChange};

mod dialogs;
mod files;
mod logs;
mod nav;
mod outcomes;

use dialogs::*;
use files::*;
use logs::*;
use nav::*;
use outcomes::*;

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
    if app.screen == Screen::Cluster {
        return crate::tui::cluster::poll(app, tick);
    }
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
// ---------------------------------------------------------------- keys

/// Keys go to a dialog, else to the binding `keys::BINDINGS` names for
/// the contexts in force; a key with no binding there says so.
fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    if let Some(Overlay::Help { top }) = app.overlay {
        on_help_key(app, top, key);
        return Vec::new();
    }
    let contexts = keys::contexts(app);
    let cmd = keys::lookup(app, &contexts, &key).map(|b| b.cmd);
    if let Some(overlay) = app.overlay.take() {
        return on_overlay_key(app, overlay, cmd, key);
    }
    if let Some(kind) = app.input {
        on_input_key(app, kind, cmd, key);
        return Vec::new();
    }
    // A new key press makes old news stale.
    app.status = None;
    match cmd {
        Some(cmd) => run(app, cmd, key),
        None => {
            unknown_key(app, &key);
            Vec::new()
        }
    }
}

/// The second key of a pair (↓ of ↑↓, End of Home/End, N of n/N…) goes
/// the other way.
fn forward(key: &KeyEvent) -> bool {
    matches!(
        key.code,
        KeyCode::Down
            | KeyCode::PageDown
            | KeyCode::End
            | KeyCode::Right
            | KeyCode::Char('j')
            | KeyCode::Char('G')
            | KeyCode::Char('n')
            | KeyCode::Char('l')
            | KeyCode::Char(' ')
            | KeyCode::Tab
    )
}

fn run(app: &mut App, cmd: Cmd, key: KeyEvent) -> Vec<Effect> {
    let sign = if forward(&key) { 1 } else { -1 };
    match cmd {
        Cmd::Quit => {
            app.quit = true;
            return vec![Effect::Quit];
        }
        Cmd::Help => app.overlay = Some(Overlay::Help { top: 0 }),
        Cmd::NextPane => set_focus(app, next_pane(app.focus, true)),
        Cmd::PrevPane => set_focus(app, next_pane(app.focus, false)),
        Cmd::Move => move_cursor(app, sign),
        Cmd::Page => move_cursor(app, 10 * sign),
        Cmd::Ends => move_cursor(app, sign * (i64::MAX / 2)),
        Cmd::Back => go_back(app),
        // A new search or filter starts empty, as in less and k9s.
        Cmd::Filter => {
            app.input_buffer.clear();
            app.input = Some(InputKind::Filter);
            app.filter.clear();
            keep_sandbox_selection_visible(app);
        }
        Cmd::Search => {
            app.input_buffer.clear();
            app.input = Some(InputKind::LogSearch);
        }
        Cmd::Sort => sort_focused(app, None),
        Cmd::Reverse => reverse_focused(app),
        Cmd::SortCpu => sort_focused(app, Some(UsageSort::Cpu)),
        Cmd::SortMemory => sort_focused(app, Some(UsageSort::Memory)),
        Cmd::Launch => open_launch(app),
        Cmd::Create => open_create(app, false),
        Cmd::Kill => open_kill(app),
        Cmd::Remove => open_remove(app),
        Cmd::ApplyProfile => open_apply_profile(app),
        Cmd::ShowTab(Tab::Files) => {
            let shown = app.tab == Tab::Files;
            show_tab(app, Tab::Files);
            // Coming back to the tab: the workspace may have changed meanwhile.
            if !shown {
                return reload_files(app);
            }
        }
        Cmd::ShowTab(tab) => show_tab(app, tab),
        Cmd::Follow => {
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
        Cmd::Profiles => app.screen = Screen::Profiles,
        Cmd::Cluster => app.screen = Screen::Cluster,
        Cmd::ClusterBack => app.screen = Screen::Main,
        Cmd::ClusterMove => crate::tui::cluster::move_selection(app, sign),
        Cmd::ClusterStop => crate::tui::cluster::confirm_stop(app),
        Cmd::Open | Cmd::Detail => drill_down(app),
        Cmd::Fold => toggle_collapse(app, None),
        Cmd::Expand => toggle_collapse(app, Some(false)),
        Cmd::Collapse => toggle_collapse(app, Some(true)),
        Cmd::SearchNext => search_logs(app, sign > 0, false),
        Cmd::Wrap => {
            app.log_wrap = !app.log_wrap;
            let state = if app.log_wrap { "on" } else { "off" };
            status(app, format!("wrap {state}"), false);
        }
        Cmd::Raw => {
            app.log_raw = !app.log_raw;
            let state = if app.log_raw {
                "escapes shown"
            } else {
                "colours"
            };
            status(app, format!("logs: {state}"), false);
        }
        Cmd::Pan => pan_logs(app, sign > 0),
        Cmd::FileOpen => return open_entry(app, false),
        Cmd::FileView => return open_entry(app, true),
        Cmd::FileUp => return go_up(app),
        Cmd::FileDelete => open_delete(app),
        Cmd::FileReload => return reload_files(app),
        Cmd::ProfilesMove => {
            let last = app.config.len().saturating_sub(1);
            app.config.selected = if sign > 0 {
                (app.config.selected + 1).min(last)
            } else {
                app.config.selected.saturating_sub(1)
            };
            app.config.detail_top = 0;
        }
        Cmd::ProfilesPage => {
            let page = usize::from(app.size.1.saturating_sub(4)).max(1);
            let max_top = view::profiles_max_top(app, Rect::new(0, 0, app.size.0, app.size.1));
            let top = app.config.detail_top.min(max_top);
            app.config.detail_top = if sign > 0 {
                (top + page).min(max_top)
            } else {
                top.saturating_sub(page)
            };
        }
        Cmd::ProfilesBack => app.screen = Screen::Main,
        Cmd::ProfilesReload => return vec![Effect::ReloadConfig],
        Cmd::ProfilesEdit => match &app.config.path {
            Some(path) => return vec![Effect::OpenEditor { path: path.clone() }],
            None => status(
                app,
                "the built-in profiles are in use: there is no file to edit (create sandboxes.toml)",
                true,
            ),
        },
        // The footer's input, the help and the dialogs take these before `run`.
        Cmd::InputKeep
        | Cmd::InputCancel
        | Cmd::InputErase
        | Cmd::InputClear
        | Cmd::HelpClose
        | Cmd::HelpScroll
        | Cmd::HelpPage
        | Cmd::HelpEnds
        | Cmd::ConfirmYes
        | Cmd::ConfirmNo
        | Cmd::SignalCycle
        | Cmd::SignalPick
        | Cmd::ViewClose
        | Cmd::ViewScroll
        | Cmd::ViewPage
        | Cmd::ViewEnds
        | Cmd::ViewPan
        | Cmd::LaunchClose
        | Cmd::LaunchMode
        | Cmd::LaunchNewLine
        | Cmd::LaunchRun
        | Cmd::LaunchField
        | Cmd::LaunchChoose
        | Cmd::LaunchClear
        | Cmd::LaunchCreate
        | Cmd::LaunchSandbox
        | Cmd::CreateClose
        | Cmd::CreateField
        | Cmd::CreateProfile
        | Cmd::CreateClear
        | Cmd::CreateRun => {}
    }
    Vec::new()
}

fn on_help_key(app: &mut App, top: usize, key: KeyEvent) {
    let page = usize::from(app.size.1.saturating_sub(4)).max(1);
    let max_top = view::help_max_top(app, Rect::new(0, 0, app.size.0, app.size.1));
    let sign = if forward(&key) { 1 } else { -1 };
    let top = match keys::lookup(app, &[Ctx::Help], &key).map(|b| b.cmd) {
        Some(Cmd::HelpClose) => {
            app.overlay = None;
            return;
        }
        Some(Cmd::HelpScroll) => top.saturating_add_signed(sign),
        Some(Cmd::HelpPage) => top.saturating_add_signed(sign * page as isize),
        Some(Cmd::HelpEnds) if sign > 0 => max_top,
        Some(Cmd::HelpEnds) => 0,
        _ => top,
    };
    app.overlay = Some(Overlay::Help {
        top: top.min(max_top),
    });
}

fn on_input_key(app: &mut App, kind: InputKind, cmd: Option<Cmd>, key: KeyEvent) {
    match cmd {
        Some(Cmd::InputCancel) => {
            app.input = None;
            app.input_buffer.clear();
            match kind {
                InputKind::Filter => app.filter.clear(),
                InputKind::LogSearch => app.log_search = None,
            }
        }
        Some(Cmd::InputKeep) => {
            app.input = None;
            if kind == InputKind::LogSearch {
                let needle = std::mem::take(&mut app.input_buffer);
                app.log_search = (!needle.is_empty()).then_some(needle);
                search_logs(app, true, true);
            }
            app.input_buffer.clear();
        }
        Some(Cmd::InputErase) => {
            app.input_buffer.pop();
        }
        Some(Cmd::InputClear) => app.input_buffer.clear(),
        _ => match key.code {
            KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                app.input_buffer.push(c);
            }
            _ => {}
        },
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

fn on_overlay_key(app: &mut App, overlay: Overlay, cmd: Option<Cmd>, key: KeyEvent) -> Vec<Effect> {
    match overlay {
        // `on_key` keeps the help open with its scroll position.
        Overlay::Help { top } => {
            app.overlay = Some(Overlay::Help { top });
            Vec::new()
        }
        Overlay::Confirm(confirm) => on_confirm_key(app, confirm, cmd, key),
        Overlay::Launch(dialog) => on_launch_key(app, dialog, cmd, key),
        Overlay::Create(dialog) => on_create_key(app, dialog, cmd, key),
        Overlay::FileView(view) => {
            on_file_view_key(app, view, cmd, key);
            Vec::new()
        }
    }
}
