use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::centered;
use crate::tui::app::App;

/// Every key, grouped; the footer shows the ones that apply at the moment.
pub const KEYS: &[(&str, &str)] = &[
    ("↑/↓ j/k", "move; PgUp/PgDn, g/G first/last"),
    ("Tab/S-Tab", "next/previous pane"),
    (
        "Enter",
        "drill down (sandbox → executions → detail; fold in tree)",
    ),
    ("Esc", "back; clears the filter"),
    (
        "/",
        "new filter by name; in logs: new search (Ctrl-U clears)",
    ),
    ("n / N", "in logs: next/previous match"),
    ("s / S", "sort the focused table: next order / reverse"),
    (
        "P / M",
        "sort the focused table by CPU / memory, biggest first",
    ),
    ("x", "launch (Ctrl-P/F2 Python, Ctrl-S run, Ctrl-U clear)"),
    ("n", "new sandbox from a profile"),
    (
        "K / F9",
        "kill selected execution, sandbox's executions or process",
    ),
    ("D", "remove the selected sandbox"),
    ("u", "update a sandbox marked * to its profile in the file"),
    ("i t l c w", "detail / process tree / logs / charts / files"),
    (
        "w",
        "workspace: Enter open or view, d delete, r reload, ⌫ up",
    ),
    ("space +/-", "fold, expand, collapse a tree node"),
    (
        "f W R ←/→",
        "in logs: follow, wrap, escapes as text (on/off); sideways",
    ),
    ("p", "profiles (e edit in $EDITOR, r reload)"),
    ("mouse", "click selects, wheel scrolls"),
    ("?", "this help"),
    ("q / F10", "quit (kills nothing)"),
];

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let rect = centered(area, 72, KEYS.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<10} "), theme.accent()),
                Span::styled(*what, theme.text()),
            ])
        })
        .collect();
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_type(BorderType::Double)
                .border_style(theme.border(true))
                .title(Span::styled(" Keys ", theme.title())),
        ),
        rect,
    );
}
