//! The Files tab (one directory of a sandbox's workspace) and the viewer of
//! one file's head.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::{file_view_rect, inner_rows};
use crate::files::FileEntry;
use crate::tui::app::{scroll_offset, App, FileView, Pane};
use crate::tui::format::{age, bytes, clean_line};

/// `ls -F`'s marks, so the kind shows even without colour.
fn display_name(e: &FileEntry) -> String {
    let mark = match e.kind {
        "dir" => "/",
        "symlink" => "@",
        "fifo" => "|",
        "socket" => "=",
        _ => "",
    };
    format!("{}{mark}", clean_line(&e.name))
}

pub fn draw(frame: &mut Frame, app: &App, inner: Rect, outer: Rect) {
    let theme = &app.theme;
    let message = |text: String, style| Paragraph::new(Span::styled(text, style));
    let Some(f) = app.files.as_ref() else {
        let text = if app.subject_sandbox().is_none() {
            "select a sandbox to browse its workspace"
        } else {
            "listing…"
        };
        frame.render_widget(message(text.into(), theme.muted()), inner);
        return;
    };
    if let Some(error) = &f.error {
        let back = if f.dir.is_empty() {
            "r retry"
        } else {
            "r retry  Esc/⌫ up"
        };
        frame.render_widget(
            Paragraph::new(vec![
                Line::from(Span::styled(error.clone(), theme.error())),
                Line::from(Span::styled(back, theme.muted())),
            ])
            .wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    if f.entries.is_empty() {
        let text = if f.loading {
            "listing…"
        } else {
            "(empty directory)"
        };
        frame.render_widget(message(text.into(), theme.muted()), inner);
        return;
    }
    let height = inner_rows(outer).saturating_sub(1);
    let offset = scroll_offset(f.selected, height);
    let focused = app.focus == Pane::Inspector;
    let rows: Vec<Row> = f
        .entries
        .iter()
        .enumerate()
        .skip(offset)
        .take(height.max(1))
        .map(|(i, e)| {
            let name_style = match e.kind {
                "dir" => theme.accent(),
                "file" => theme.text(),
                _ => theme.muted(),
            };
            let size = if e.kind == "file" {
                bytes(e.size)
            } else {
                "-".into()
            };
            let row = Row::new(vec![
                Cell::from(Span::styled(display_name(e), name_style)),
                Cell::from(size),
                Cell::from(age(e.mtime, app.now_ms)),
                Cell::from(e.kind),
            ]);
            match (i == f.selected, focused) {
                (true, true) => row.style(theme.selected()),
                (true, false) => row.style(theme.selected_unfocused()),
                _ => row,
            }
        })
        .collect();
    let header = Row::new(["NAME", "SIZE", "AGE", "TYPE"]).style(theme.column_header());
    let widths = [
        Constraint::Min(12),
        Constraint::Length(6),
        Constraint::Length(4),
        Constraint::Length(7),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
}

pub fn viewer(frame: &mut Frame, app: &App, v: &FileView, area: Rect) {
    let theme = &app.theme;
    let rect = file_view_rect(area);
    frame.render_widget(Clear, rect);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Double)
        .border_style(theme.border(true))
        .title(Span::styled(
            format!(" {}:{} ", v.sandbox, v.path),
            theme.title(),
        ));
    let inner = block.inner(rect);
    frame.render_widget(block, rect);
    let height = (inner.height as usize).saturating_sub(1);
    let last = (v.top + height).min(v.lines.len());
    let sep = || Span::styled(" · ", theme.muted());
    let mut info = vec![Span::styled(
        format!(
            "{}, lines {}-{last} of {}",
            bytes(v.size),
            (v.top + 1).min(last),
            v.lines.len()
        ),
        theme.muted(),
    )];
    if v.truncated {
        info.push(sep());
        info.push(Span::styled(
            format!("truncated: the first {} only", bytes(v.shown as u64)),
            theme.warning(),
        ));
    }
    if v.binary {
        info.push(sep());
        info.push(Span::styled(
            "binary: not UTF-8, shown lossily",
            theme.warning(),
        ));
    }
    if v.left > 0 {
        info.push(sep());
        info.push(Span::styled(
            format!("from column {}", v.left + 1),
            theme.accent(),
        ));
    }
    let mut lines: Vec<Line> = v
        .lines
        .iter()
        .skip(v.top)
        .take(height)
        .map(|l| Line::from(Span::styled(l.as_str(), theme.text())))
        .collect();
    if v.lines.is_empty() {
        lines.push(Line::from(Span::styled("(empty file)", theme.muted())));
    }
    let [info_row, text] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(inner);
    frame.render_widget(Paragraph::new(Line::from(info)), info_row);
    let left = u16::try_from(v.left).unwrap_or(u16::MAX);
    frame.render_widget(Paragraph::new(lines).scroll((0, left)), text);
}
