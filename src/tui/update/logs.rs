//! The Logs tab: its height, scrolling and search.

use super::*;

/// How far ←/→ move the logs sideways.
pub(super) const LOG_SCROLL_COLUMNS: usize = 8;

/// Lines of log text that fit in the inspector.
pub(super) fn log_height(app: &App) -> usize {
    let layout = view::main_layout(Rect::new(0, 0, app.size.0, app.size.1), app.focus);
    view::inner_rows(layout.inspector).saturating_sub(1)
}

pub(super) fn log_max_top(app: &App) -> usize {
    app.log_lines().len().saturating_sub(log_height(app))
}

/// Move to the next (or previous) line matching the search; `from_current`
/// includes the line at the top.
pub(super) fn search_logs(app: &mut App, forward: bool, from_current: bool) {
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

/// ←/→: the logs sideways, up to the longest line.
pub(super) fn pan_logs(app: &mut App, right: bool) {
    if !right {
        app.log_left = app.log_left.saturating_sub(LOG_SCROLL_COLUMNS);
        return;
    }
    let longest = app
        .log_lines()
        .iter()
        .map(|l| crate::tui::ansi::plain(&l.text).chars().count())
        .max()
        .unwrap_or(0);
    app.log_left = (app.log_left + LOG_SCROLL_COLUMNS).min(longest.saturating_sub(1));
}
