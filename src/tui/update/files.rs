//! The Files tab (the workspace browser) and the file viewer.

use super::*;

/// Enter a directory, view anything else; `view_only` refuses directories.
pub(super) fn open_entry(app: &mut App, view_only: bool) -> Vec<Effect> {
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

pub(super) fn enter_dir(f: &mut FilesPane, dir: String) -> Vec<Effect> {
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

pub(super) fn go_up(app: &mut App) -> Vec<Effect> {
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
pub(super) fn reload_files(app: &mut App) -> Vec<Effect> {
    match app.subject_sandbox() {
        Some(sandbox) => reload_files_of(app, &sandbox),
        // `sync` starts afresh for a new subject.
        None => Vec::new(),
    }
}

pub(super) fn reload_files_of(app: &mut App, sandbox: &str) -> Vec<Effect> {
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

pub(super) fn open_delete(app: &mut App) {
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

pub(super) fn on_file_view_key(
    app: &mut App,
    mut v: Box<FileView>,
    cmd: Option<Cmd>,
    key: KeyEvent,
) {
    let height = view::file_view_text_rows(Rect::new(0, 0, app.size.0, app.size.1));
    let max_top = v.lines.len().saturating_sub(height);
    let page = height.max(1) as i64;
    let sign = if forward(&key) { 1 } else { -1 };
    let scroll = |top: usize, delta: i64| (top as i64 + delta).clamp(0, max_top as i64) as usize;
    match cmd {
        Some(Cmd::ViewClose) => return,
        Some(Cmd::ViewScroll) => v.top = scroll(v.top, sign),
        Some(Cmd::ViewPage) => v.top = scroll(v.top, sign * page),
        Some(Cmd::ViewEnds) if sign > 0 => v.top = max_top,
        Some(Cmd::ViewEnds) => v.top = 0,
        Some(Cmd::ViewPan) if sign > 0 => {
            let widest = v.lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
            v.left = (v.left + 8).min(widest.saturating_sub(1));
        }
        Some(Cmd::ViewPan) => v.left = v.left.saturating_sub(8),
        _ => {}
    }
    app.overlay = Some(Overlay::FileView(v));
}
