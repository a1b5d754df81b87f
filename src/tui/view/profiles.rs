//! The profiles of the configuration, resolved, with validation errors.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::inspector::{network_line, profile_lines};
use super::pane_block;
use crate::tui::app::App;
use crate::tui::format::clean_line;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
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
    let (selected_name, lines) = match (c.profiles.get(c.selected), c.selected_invalid()) {
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
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} ", clean_line(selected_name)), theme.title()),
        Span::styled(format!("{path} "), theme.muted()),
    ]);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(pane_block(app, title, false)),
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
