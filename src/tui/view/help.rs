//! The help: every row of the key table, a section per context, in as
//! many columns as the terminal holds, scrolled when it still does not fit.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::{centered, scroll_hint};
use crate::tui::app::App;
use crate::tui::keys::{keys_text, Ctx, BINDINGS};
use crate::tui::theme::Theme;

/// A column narrower than this reads badly; wider terminals get more.
const MIN_COLUMN: u16 = 38;
/// The keys' part of a column.
const KEY_WIDTH: usize = 11;
const MAX_COLUMNS: u16 = 4;

/// `text` cut at spaces into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines
}

/// The lines of one context's section in a column `width` wide.
fn section(ctx: Ctx, width: usize, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled(ctx.title(), theme.title()))];
    let text_width = width.saturating_sub(KEY_WIDTH + 1).max(8);
    for b in BINDINGS.iter().filter(|b| b.ctx == ctx) {
        let keys = wrap(&keys_text(b.keys), KEY_WIDTH - 2);
        let text = wrap(b.help, text_width);
        for i in 0..keys.len().max(text.len()) {
            let k = keys.get(i).map_or("", String::as_str);
            let t = text.get(i).map_or("", String::as_str);
            lines.push(Line::from(vec![
                Span::styled(format!(" {k:<w$}", w = KEY_WIDTH - 1), theme.accent()),
                Span::styled(t.to_string(), theme.text()),
            ]));
        }
    }
    lines
}

struct HelpLayout {
    rect: Rect,
    columns: Vec<Vec<Line<'static>>>,
    /// Lines of the tallest column.
    height: usize,
}

impl HelpLayout {
    fn visible(&self) -> usize {
        self.rect.height.saturating_sub(2) as usize
    }

    fn max_top(&self) -> usize {
        self.height.saturating_sub(self.visible())
    }
}

fn layout(area: Rect, theme: &Theme) -> HelpLayout {
    let inner = area.width.saturating_sub(2);
    let count = (inner / MIN_COLUMN).clamp(1, MAX_COLUMNS);
    let width = (inner / count) as usize;
    let sections: Vec<Vec<Line<'static>>> = Ctx::ALL
        .iter()
        .map(|ctx| section(*ctx, width.saturating_sub(1), theme))
        .collect();
    let total: usize = sections.iter().map(|s| s.len() + 1).sum();
    let target = total.div_ceil(count as usize);
    // Sections in order, a new column when the next would pass the target.
    let mut columns: Vec<Vec<Line<'static>>> = vec![Vec::new()];
    for s in sections {
        let current = columns.len() - 1;
        let used = columns[current].len();
        if used > 0 && used + s.len() > target && columns.len() < count as usize {
            columns.push(Vec::new());
        }
        let column = columns.last_mut().expect("one column at least");
        if !column.is_empty() {
            column.push(Line::default());
        }
        column.extend(s);
    }
    let height = columns.iter().map(Vec::len).max().unwrap_or(0);
    let used = columns.len() as u16 * width as u16 + 2;
    let rect = centered(area, used, height as u16 + 2);
    HelpLayout {
        rect,
        columns,
        height,
    }
}

/// How far the help scrolls in `area`.
pub fn max_top(app: &App, area: Rect) -> usize {
    layout(area, &app.theme).max_top()
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect, top: usize) {
    let theme = &app.theme;
    let help = layout(area, theme);
    let top = top.min(help.max_top());
    frame.render_widget(Clear, help.rect);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(" Keys ", theme.title()));
    if let Some(hint) = scroll_hint(top, help.visible(), help.height) {
        block = block.title_bottom(Span::styled(
            format!(" {hint}(↑↓ PgUp PgDn scroll) "),
            theme.accent(),
        ));
    }
    let inner = block.inner(help.rect);
    frame.render_widget(block, help.rect);
    let areas = Layout::horizontal(vec![Constraint::Fill(1); help.columns.len()]).split(inner);
    for (column, rect) in help.columns.into_iter().zip(areas.iter()) {
        frame.render_widget(Paragraph::new(column).scroll((top as u16, 0)), *rect);
    }
}
