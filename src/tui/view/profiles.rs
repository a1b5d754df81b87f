//! The profiles of the configuration, resolved, with validation errors.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use ratatui::Frame;

use super::inspector::{network_line, profile_lines};
use super::pane_block;
use crate::tui::app::App;

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
    let names: Vec<Line> = c
        .profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let style = if i == c.selected {
                theme.selected()
            } else {
                theme.text()
            };
            Line::from(Span::styled(format!(" {} ", p.name), style))
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
    let lines = match c.profiles.get(c.selected) {
        Some(p) => {
            let mut lines = vec![network_line(app, p)];
            lines.extend(profile_lines(app, p));
            lines
        }
        None => vec![Line::from(Span::styled("no profiles", theme.muted()))],
    };
    let title = Line::from(vec![
        Span::styled(
            format!(
                " {} ",
                c.profiles
                    .get(c.selected)
                    .map(|p| p.name.as_str())
                    .unwrap_or("")
            ),
            theme.title(),
        ),
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
