//! What the world answers: a sampling round, and the outcome of an effect.

use super::*;

pub(super) fn apply_snapshot(app: &mut App, snap: Snapshot) {
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
pub(super) fn replacement_row(rows: &[TreeRow], old_cursor: Option<usize>) -> Option<TreeRow> {
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
pub(super) fn profile_changes(made: &Profile, now: &Profile) -> Vec<ProfileChange> {
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

pub(super) fn on_outcome(app: &mut App, outcome: Outcome) -> Vec<Effect> {
    match outcome {
        Outcome::Cluster(result) => crate::tui::cluster::apply(app, result),
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
