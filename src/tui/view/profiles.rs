//! The profiles of the configuration, resolved, with validation errors.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::inspector::{network_line, profile_lines};
use super::{pane_block, scroll_hint};
use crate::tui::app::App;
use crate::tui::format::clean_line;

/// The list, the detail and the errors pane of the screen in `area`.
fn layout(app: &App, area: Rect) -> [Rect; 3] {
    let c = &app.config;
    let problems = c.errors.len() + usize::from(c.failure.is_some());
    let error_height = if problems > 0 {
        (problems as u16 + 2).min(area.height / 3)
    } else {
        0
    };
    let [top, errors] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(error_height)]).areas(area);
    let [list, detail] =
        Layout::horizontal([Constraint::Length(22), Constraint::Min(0)]).areas(top);
    [list, detail, errors]
}

/// The selected profile's name and the lines that describe it.
fn detail_lines<'a>(app: &'a App) -> (&'a str, Vec<Line<'a>>) {
    let theme = &app.theme;
    let c = &app.config;
    match (c.profiles.get(c.selected), c.selected_invalid()) {
        (Some(p), _) => {
            let mut lines = vec![network_line(app, p)];
            lines.extend(profile_lines(app, p));
            (p.name.as_str(), lines)
        }
        (None, Some((name, problems))) => {
            let mut lines = vec![Line::from(Span::styled(
                "invalid: left out until fixed (e edits the file, r reloads it)",
                theme.error(),
            ))];
            lines.extend(
                problems
                    .iter()
                    .map(|d| Line::from(Span::styled(clean_line(&d.to_string()), theme.error()))),
            );
            (name.as_str(), lines)
        }
        (None, None) => (
            "",
            vec![Line::from(Span::styled("no profiles", theme.muted()))],
        ),
    }
}

/// Rows the detail's lines take, wrapped to `width`, and rows it shows.
fn detail_rows(app: &App, area: Rect) -> (usize, usize) {
    let [_, detail, _] = layout(app, area);
    let width = usize::from(detail.width.saturating_sub(2)).max(1);
    let (_, lines) = detail_lines(app);
    let total = lines.iter().map(|l| l.width().div_ceil(width).max(1)).sum();
    (total, usize::from(detail.height.saturating_sub(2)))
}

/// How far the selected profile's detail scrolls in `area`.
pub fn max_top(app: &App, area: Rect) -> usize {
    let (total, shown) = detail_rows(app, area);
    total.saturating_sub(shown)
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let c = &app.config;
    let problems = c.errors.len() + usize::from(c.failure.is_some());
    let [list, detail, errors] = layout(app, area);
    let path = c
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in".into());
    let valid = c.profiles.iter().map(|p| (p.name.as_str(), false));
    let invalid = c.invalid.iter().map(|(name, _)| (name.as_str(), true));
    let names: Vec<Line> = valid
        .chain(invalid)
        .enumerate()
        .map(|(i, (name, invalid))| {
            let style = match (i == c.selected, invalid) {
                (true, _) => theme.selected(),
                (false, true) => theme.error(),
                (false, false) => theme.text(),
            };
            let mark = if invalid { "✗ " } else { "  " };
            Line::from(Span::styled(format!("{mark}{} ", clean_line(name)), style))
        })
        .collect();
    frame.render_widget(
        Paragraph::new(names).block(pane_block(
            app,
            Line::from(Span::styled(" Profiles ", theme.title())),
            true,
        )),
        list,
    );
    let (selected_name, lines) = detail_lines(app);
    let (total, shown) = detail_rows(app, area);
    let top = c.detail_top.min(total.saturating_sub(shown));
    let title = Line::from(vec![
        Span::styled(format!(" {} ", clean_line(selected_name)), theme.title()),
        Span::styled(format!("{path} "), theme.muted()),
    ]);
    let mut block = pane_block(app, title, false);
    if let Some(hint) = scroll_hint(top, shown, total) {
        block = block.title_bottom(Span::styled(format!(" {hint}(PgUp PgDn) "), theme.accent()));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((top as u16, 0))
            .block(block),
        detail,
    );
    if problems > 0 {
        let mut lines: Vec<Line> = c
            .errors
            .iter()
            .map(|d| Line::from(Span::styled(d.to_string(), theme.error())))
            .collect();
        if let Some(f) = &c.failure {
            lines.push(Line::from(Span::styled(f.clone(), theme.error())));
        }
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(pane_block(
                    app,
                    Line::from(Span::styled(
                        " Errors (the previous configuration stays in use) ",
                        theme.error(),
                    )),
                    false,
                )),
            errors,
        );
    }
}
