//! Drawing. Every function here takes the state by shared reference and only
//! draws; the layout function is pure so `update` can map mouse clicks.

mod charts;
mod cluster;
mod columns;
mod dialogs;
mod executions;
mod files;
mod header;
mod help;
mod inspector;
mod profiles;
mod sandboxes;

use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};
use ratatui::Frame;

use super::app::{App, InputKind, Overlay, Pane, Screen};

/// Where each pane of the main screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MainLayout {
    pub header: Rect,
    pub sandboxes: Rect,
    pub executions: Rect,
    pub inspector: Rect,
    /// Charts get their own pane only on large terminals.
    pub charts: Option<Rect>,
    pub footer: Rect,
}

/// Side by side from this size up.
pub const WIDE: (u16, u16) = (140, 36);

pub fn main_layout(area: Rect, focus: Pane) -> MainLayout {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    if area.width >= WIDE.0 && area.height >= WIDE.1 {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)])
                .areas(body);
        let [sandboxes, executions] =
            Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(left);
        let [inspector, charts] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(right);
        return MainLayout {
            header,
            sandboxes,
            executions,
            inspector,
            charts: Some(charts),
            footer,
        };
    }
    // Stacked: the focused pane gets half the height.
    let share = |pane: Pane| {
        if pane == focus {
            Constraint::Fill(2)
        } else {
            Constraint::Fill(1)
        }
    };
    // A pane needs its borders, its header and a row to be of any use: on
    // a short terminal the others get that much and the focused one the rest.
    const PANE_MIN: u16 = 4;
    let constraints = if body.height / 4 < PANE_MIN {
        [Pane::Sandboxes, Pane::Executions, Pane::Inspector].map(|pane| {
            if pane == focus {
                Constraint::Fill(1)
            } else {
                Constraint::Length(PANE_MIN)
            }
        })
    } else {
        [
            share(Pane::Sandboxes),
            share(Pane::Executions),
            share(Pane::Inspector),
        ]
    };
    let [sandboxes, executions, inspector] = Layout::vertical(constraints).areas(body);
    MainLayout {
        header,
        sandboxes,
        executions,
        inspector,
        charts: None,
        footer,
    }
}

/// Rows inside a bordered pane.
/// `↑N ↓M` for the rows of a list scrolled out of view, if any.
pub fn scroll_hint(offset: usize, shown: usize, total: usize) -> Option<String> {
    let below = total.saturating_sub(offset + shown);
    let mut parts = Vec::new();
    if offset > 0 {
        parts.push(format!("↑{offset}"));
    }
    if below > 0 {
        parts.push(format!("↓{below}"));
    }
    (!parts.is_empty()).then(|| format!("{} more ", parts.join(" ")))
}

pub fn inner_rows(area: Rect) -> usize {
    area.height.saturating_sub(2) as usize
}

pub(crate) fn pane_block<'a>(app: &App, title: Line<'a>, focused: bool) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(if focused {
            BorderType::Thick
        } else {
            BorderType::Plain
        })
        .border_style(app.theme.border(focused))
        .title(title)
}

/// A rectangle of at most `width` x `height` centred in `area`.
pub(crate) fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [rect] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    rect
}

/// Where the file viewer goes: nearly the whole screen, text needs room.
pub fn file_view_rect(area: Rect) -> Rect {
    centered(
        area,
        area.width.saturating_sub(4),
        area.height.saturating_sub(2),
    )
}

/// Lines of file text the viewer shows at once (under its info line).
pub fn file_view_text_rows(area: Rect) -> usize {
    file_view_rect(area).height.saturating_sub(3) as usize
}

/// A text gauge: `▕███░░░▏`-style bar of `width` cells.
pub(crate) fn bar(ratio: f64, width: usize) -> String {
    let ratio = if ratio.is_finite() {
        ratio.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let full = (ratio * width as f64).round() as usize;
    let mut s = "█".repeat(full);
    s.push_str(&"░".repeat(width - full));
    s
}

/// Below this the panes cannot show a row each; a message says so instead.
pub const MIN_SIZE: (u16, u16) = (60, 16);

pub fn draw(frame: &mut Frame, app: &App) {
    let area = frame.area();
    if area.width < MIN_SIZE.0 || area.height < MIN_SIZE.1 {
        let text = format!(
            "terminal too small: {}x{}, sandbox-tui needs {}x{} (q quits)",
            area.width, area.height, MIN_SIZE.0, MIN_SIZE.1
        );
        let [middle] = Layout::vertical([Constraint::Length(3)])
            .flex(Flex::Center)
            .areas(area);
        frame.render_widget(
            Paragraph::new(Span::styled(text, app.theme.warning()))
                .alignment(ratatui::layout::Alignment::Center)
                .wrap(ratatui::widgets::Wrap { trim: true }),
            middle,
        );
        return;
    }
    match app.screen {
        Screen::Main => {
            let layout = main_layout(area, app.focus);
            header::draw(frame, app, layout.header);
            sandboxes::draw(frame, app, layout.sandboxes);
            executions::draw(frame, app, layout.executions);
            inspector::draw(frame, app, layout.inspector);
            if let Some(charts) = layout.charts {
                charts::draw(frame, app, charts, true);
            }
            footer(frame, app, layout.footer);
        }
        Screen::Profiles => {
            let [body, foot] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
            profiles::draw(frame, app, body);
            footer(frame, app, foot);
        }
        Screen::Cluster => {
            let [body, foot] =
                Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(area);
            cluster::draw(frame, app, body);
            footer(frame, app, foot);
        }
    }
    match &app.overlay {
        Some(Overlay::Help { top }) => help::draw(frame, app, area, *top),
        Some(Overlay::Confirm(c)) => dialogs::confirm(frame, app, c, area),
        Some(Overlay::Launch(d)) => dialogs::launch(frame, app, d, area),
        Some(Overlay::Create(d)) => dialogs::create(frame, app, d, area),
        Some(Overlay::FileView(v)) => files::viewer(frame, app, v, area),
        None => {}
    }
}

/// The keys that apply right now, from the key table.
pub fn hints(app: &App, width: usize) -> String {
    crate::tui::keys::footer(app, width)
}

/// How far the profiles screen's detail scrolls on a terminal of `area`
/// (the footer's row left out).
pub fn profiles_max_top(app: &App, area: Rect) -> usize {
    let body = Rect {
        height: area.height.saturating_sub(1),
        ..area
    };
    profiles::max_top(app, body)
}

/// How far the help scrolls on a terminal of `area`.
pub fn help_max_top(app: &App, area: Rect) -> usize {
    help::max_top(app, area)
}

fn footer(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let line = if let Some(kind) = app.input {
        let label = match kind {
            InputKind::Filter => "filter sandboxes: ",
            InputKind::LogSearch => "search logs: ",
        };
        let typed = label.chars().count() + app.input_buffer.chars().count() + 4;
        let room = usize::from(area.width).saturating_sub(typed);
        Line::from(vec![
            Span::styled(label, theme.accent()),
            Span::styled(app.input_buffer.clone(), theme.text()),
            Span::styled("█", theme.accent()),
            Span::styled(format!("   {}", hints(app, room)), theme.muted()),
        ])
    } else if let Some(status) = &app.status {
        let style = if status.error {
            theme.error()
        } else {
            theme.ok()
        };
        Line::from(Span::styled(status.text.clone(), style))
    } else {
        Line::from(Span::styled(hints(app, area.width.into()), theme.muted()))
    };
    frame.render_widget(Paragraph::new(line).style(Style::default()), area);
}
