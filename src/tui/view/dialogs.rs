//! Confirmations, the launch dialog and the new-sandbox dialog.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use ratatui_textarea::TextArea;

use super::centered;
use crate::tui::action::SignalChoice;
use crate::tui::app::{
    App, Confirm, CreateDialog, CreateField, KillTarget, LaunchDialog, LaunchField,
};
use crate::tui::format::clean_line;

fn dialog_block<'a>(app: &App, title: &'a str, danger: bool) -> Block<'a> {
    let style = if danger {
        app.theme.error()
    } else {
        app.theme.border(true)
    };
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(style)
        .title(Span::styled(title, style))
}

/// The sentence that names what will die.
pub fn confirm_text(target: &KillTarget) -> String {
    match target {
        KillTarget::Execution {
            id,
            sandbox,
            command,
        } => format!(
            "Kill execution {id} in sandbox {sandbox}?\n  {command}\nEvery process in its cgroup is killed."
        ),
        KillTarget::Sandbox { name, active } => format!(
            "Kill all {active} running or queued execution(s) of sandbox {name}?\nThe sandbox itself stays."
        ),
        KillTarget::Process {
            sandbox,
            pid,
            command,
            init,
        } => format!(
            "Send a signal to process {pid} in {}?\n  {command}{}",
            sandbox
                .as_deref()
                .map(|s| format!("sandbox {s}"))
                .unwrap_or_else(|| "its sandbox".into()),
            if *init {
                "\nIt is the execution's init: the whole execution ends with it."
            } else {
                ""
            }
        ),
        KillTarget::Remove { name, active: 0 } => format!(
            "Remove sandbox {name}?\nNothing runs in it. Deletes its workspace, cgroups and history."
        ),
        KillTarget::Remove { name, active } => format!(
            "Remove sandbox {name}?\nKills its {active} running or queued execution(s), deletes its workspace, cgroups and history."
        ),
        KillTarget::ApplyProfile {
            name,
            profile,
            changes,
        } => {
            const SHOWN: usize = 6;
            let mut text = format!("Give sandbox {name} its profile {profile} as sandboxes.toml has it?");
            for change in changes.iter().take(SHOWN) {
                text.push_str(&format!("\n  {}", clean_line(change)));
            }
            if changes.len() > SHOWN {
                text.push_str(&format!("\n  … and {} more", changes.len() - SHOWN));
            }
            text.push_str("\nLimits change at once, for what runs now too.");
            text
        }
        KillTarget::ClusterJob { id } => format!(
            "Stop job {id} on the cluster?\nIts sandbox on the node is killed, its whole process tree."
        ),
        KillTarget::DeleteFile { sandbox, path } => format!(
            "Delete {path} from the workspace of sandbox {sandbox}?\nThis cannot be undone (of a symlink, only the link goes)."
        ),
    }
}

pub fn confirm(frame: &mut Frame, app: &App, c: &Confirm, area: Rect) {
    let theme = &app.theme;
    let title = match c.target {
        KillTarget::Remove { .. } => " Remove sandbox ",
        KillTarget::Process { .. } => " Signal process ",
        KillTarget::DeleteFile { .. } => " Delete file ",
        KillTarget::ApplyProfile { .. } => " Update profile ",
        _ => " Kill ",
    };
    let text = confirm_text(&c.target);
    let rect = centered(area, 64, (text.lines().count() as u16 + 6).max(9));
    frame.render_widget(Clear, rect);
    let block = dialog_block(app, title, true);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let mut lines: Vec<Line> = text
        .lines()
        .map(|l| Line::from(Span::styled(l.to_string(), theme.text())))
        .collect();
    if matches!(c.target, KillTarget::Process { .. }) {
        let mut spans = vec![Span::styled("signal: ", theme.muted())];
        for (i, s) in SignalChoice::ALL.iter().enumerate() {
            let style = if *s == c.signal {
                theme.selected()
            } else {
                theme.text()
            };
            spans.push(Span::styled(format!(" {} {} ", i + 1, s.name()), style));
        }
        lines.push(Line::from(spans));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(vec![
        Span::styled(" y ", theme.selected()),
        Span::styled(" yes   ", theme.text()),
        Span::styled(" n ", theme.selected()),
        Span::styled(" no (Esc)", theme.text()),
    ]));
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
}

fn field<'a>(app: &App, area: &TextArea<'a>, title: &'a str, active: bool) -> TextArea<'a> {
    let mut area = area.clone();
    area.set_block(
        Block::default()
            .borders(Borders::ALL)
            .border_style(app.theme.border(active))
            .title(Span::styled(
                title,
                if active {
                    app.theme.title()
                } else {
                    app.theme.muted()
                },
            )),
    );
    area.set_cursor_line_style(Style::default());
    area.set_cursor_style(if active {
        Style::default().add_modifier(Modifier::REVERSED)
    } else {
        Style::default()
    });
    area
}

fn error_line<'a>(app: &App, error: &Option<String>, busy: bool) -> Line<'a> {
    match (error, busy) {
        (_, true) => Line::from(Span::styled("working…", app.theme.accent())),
        (Some(e), _) => Line::from(Span::styled(e.clone(), app.theme.error())),
        (None, _) => Line::from(""),
    }
}

pub fn launch(frame: &mut Frame, app: &App, d: &LaunchDialog, area: Rect) {
    let theme = &app.theme;
    // Python code gets room for several lines.
    let code_rows = if d.python { 10 } else { 3 };
    let rect = centered(area, 76, 13 + code_rows);
    frame.render_widget(Clear, rect);
    let title = if d.python {
        " Launch Python snippet "
    } else {
        " Launch execution "
    };
    let block = dialog_block(app, title, false);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [sandbox, command, timeout, help, error] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(code_rows),
        Constraint::Length(3),
        Constraint::Length(3),
        Constraint::Min(1),
    ])
    .areas(inner);
    let active = d.field == LaunchField::Sandbox;
    let name = d
        .sandboxes
        .get(d.sandbox)
        .cloned()
        .unwrap_or_else(|| "(none)".into());
    frame.render_widget(
        Paragraph::new(Line::from(vec![
            Span::styled(
                "Sandbox ",
                if active { theme.title() } else { theme.muted() },
            ),
            Span::styled(
                format!(" ‹ {name} › "),
                if active {
                    theme.selected()
                } else {
                    theme.text()
                },
            ),
            Span::styled(
                format!(
                    "  {}/{}  {}",
                    (d.sandbox + 1).min(d.sandboxes.len()),
                    d.sandboxes.len(),
                    match (active, d.python && d.field == LaunchField::Command) {
                        (true, _) => "↑↓ choose, n new",
                        (false, true) => "Tab here to choose",
                        (false, false) => "↑↓ choose",
                    }
                ),
                theme.muted(),
            ),
        ])),
        sandbox,
    );
    frame.render_widget(
        &field(
            app,
            &d.command,
            if d.python {
                " Python: the body of a function, `return` gives the result "
            } else {
                " Command "
            },
            d.field == LaunchField::Command,
        ),
        command,
    );
    frame.render_widget(
        &field(
            app,
            &d.timeout,
            " Timeout ",
            d.field == LaunchField::Timeout,
        ),
        timeout,
    );
    frame.render_widget(
        Paragraph::new(if d.python {
            "Enter: new line. Ctrl-S: run. Ctrl-P or F2: back to a command line. The value and any exception show in the execution's detail."
        } else {
            "Words split like a shell ('quotes', \"quotes\", \\ escapes). A line with | & ; < > ( ) $ ` * ? [ ] { } ~ # ! runs as sh -c LINE. Ctrl-P or F2: Python."
        })
        .style(theme.muted())
        .wrap(Wrap { trim: true }),
        help,
    );
    frame.render_widget(
        Paragraph::new(error_line(app, &d.error, d.busy)).wrap(Wrap { trim: false }),
        error,
    );
}

pub fn create(frame: &mut Frame, app: &App, d: &CreateDialog, area: Rect) {
    let theme = &app.theme;
    let height = (d.profiles.len() as u16 + 8).min(20);
    let rect = centered(area, 56, height);
    frame.render_widget(Clear, rect);
    let block = dialog_block(app, " New sandbox ", false);
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let [name, label, profiles, error] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(inner);
    frame.render_widget(
        &field(app, &d.name, " Name ", d.field == CreateField::Name),
        name,
    );
    let active = d.field == CreateField::Profile;
    frame.render_widget(
        Paragraph::new(Span::styled(
            "Profile (Tab to choose, ↑↓)",
            if active { theme.title() } else { theme.muted() },
        )),
        label,
    );
    let lines: Vec<Line> = d
        .profiles
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let style = match (i == d.profile, active) {
                (true, true) => theme.selected(),
                (true, false) => theme.selected_unfocused(),
                _ => theme.text(),
            };
            Line::from(Span::styled(format!(" {p} "), style))
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), profiles);
    frame.render_widget(Paragraph::new(error_line(app, &d.error, d.busy)), error);
}
