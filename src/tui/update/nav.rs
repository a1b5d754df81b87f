//! Moving about the main screen: panes, tabs, cursors, sorting, the tree's folds, the mouse.

use super::*;

/// `s` (`by: None`: the next order), `P` (CPU) and `M` (memory): the
/// table of the focused pane. CPU and memory put the biggest first.
pub(super) fn sort_focused(app: &mut App, by: Option<UsageSort>) {
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

pub(super) fn reverse_focused(app: &mut App) {
    match (app.focus, app.tab) {
        (Pane::Sandboxes, _) => app.sort_desc = !app.sort_desc,
        (Pane::Executions, _) => app.exec_sort.1 = !app.exec_sort.1,
        (Pane::Inspector, Tab::Tree) => app.tree_sort.1 = !app.tree_sort.1,
        (Pane::Inspector, _) => status(app, "nothing to sort here: Tab to a table", false),
    }
}

pub(super) fn next_pane(pane: Pane, forward: bool) -> Pane {
    match (pane, forward) {
        (Pane::Sandboxes, true) | (Pane::Inspector, false) => Pane::Executions,
        (Pane::Executions, true) | (Pane::Sandboxes, false) => Pane::Inspector,
        (Pane::Inspector, true) | (Pane::Executions, false) => Pane::Sandboxes,
    }
}

pub(super) fn set_focus(app: &mut App, pane: Pane) {
    match pane {
        Pane::Sandboxes => app.exec_context = false,
        Pane::Executions => app.exec_context = app.selected_execution.is_some(),
        Pane::Inspector => {}
    }
    app.focus = pane;
}

pub(super) fn show_tab(app: &mut App, tab: Tab) {
    if app.focus == Pane::Executions {
        app.exec_context = app.selected_execution.is_some();
    }
    app.tab = tab;
    app.focus = Pane::Inspector;
    app.detail_scroll = 0;
}

pub(super) fn drill_down(app: &mut App) {
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

pub(super) fn go_back(app: &mut App) {
    match app.focus {
        Pane::Inspector => set_focus(app, Pane::Executions),
        Pane::Executions => set_focus(app, Pane::Sandboxes),
        Pane::Sandboxes if !app.filter.is_empty() => app.filter.clear(),
        Pane::Sandboxes => select_sandbox(app, None),
    }
}

pub(super) fn toggle_collapse(app: &mut App, want_collapsed: Option<bool>) {
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

pub(super) fn select_sandbox(app: &mut App, name: Option<String>) {
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

pub(super) fn step(cursor: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (cursor as i64 + delta).clamp(0, len as i64 - 1) as usize
}

pub(super) fn move_cursor(app: &mut App, delta: i64) {
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

pub(super) fn on_mouse(app: &mut App, mouse: MouseEvent) -> Vec<Effect> {
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
