use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{inner_rows, pane_block};
use crate::manager::ExecutionView;
use crate::supervisor::Status;
use crate::tui::app::{scroll_offset, App, Pane};
use crate::tui::format::{age, bytes, clean_line, clip, command_line, millis};

/// Wall time so far (running) or in total (ended).
pub fn duration_ms(e: &ExecutionView, now_ms: i64) -> Option<u64> {
    let start = e.record.started_at?;
    let end = e.record.ended_at.unwrap_or(now_ms);
    Some((end - start).max(0) as u64)
}

pub fn exit_text(e: &ExecutionView) -> String {
    match (e.record.exit_code, e.record.signal) {
        (Some(code), _) => code.to_string(),
        (None, Some(sig)) => format!("sig{sig}"),
        _ => "-".into(),
    }
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let focused = app.focus == Pane::Executions;
    let list = app.visible_executions();
    let scope = app
        .selected_sandbox
        .clone()
        .unwrap_or_else(|| "all sandboxes".into());
    let running = list
        .iter()
        .filter(|e| e.record.status == Status::Running)
        .count();
    // The dashboard lists only the newest executions of a long history.
    let total = match &app.selected_sandbox {
        Some(name) => app
            .sandboxes
            .iter()
            .find(|s| &s.view.name == name)
            .map_or(0, |s| s.view.total as usize),
        None => 0,
    };
    let counts = if total > list.len() {
        format!("({running} running, newest {} of {total}) ", list.len())
    } else if app.selected_sandbox.is_none()
        && list.len() as u64 >= crate::tui::sampler::EXECUTIONS_LISTED
    {
        format!("({running} running, newest {}) ", list.len())
    } else {
        format!("({running} running, {} total) ", list.len())
    };
    let title = Line::from(vec![
        Span::styled(format!(" Executions of {scope} "), theme.title()),
        Span::styled(counts, theme.muted()),
    ]);
    let block = pane_block(app, title, focused);
    let show_sandbox = app.selected_sandbox.is_none();
    let mut header = vec!["ID"];
    if show_sandbox {
        header.push("SANDBOX");
    }
    header.extend(["STATUS", "COMMAND", "START", "DUR", "CPU", "MEM", "EXIT"]);
    let header = Row::new(header).style(theme.column_header());

    let cursor = app.execution_cursor().unwrap_or(0);
    let height = inner_rows(area).saturating_sub(1);
    let offset = scroll_offset(cursor, height);
    let rows: Vec<Row> = list
        .iter()
        .enumerate()
        .skip(offset)
        .take(height.max(1))
        .map(|(i, e)| {
            let r = &e.record;
            let cpu = if r.status == Status::Running {
                Some(e.live_cpu_ms)
            } else {
                r.cpu_ms
            };
            let mut cells = vec![Cell::from(clip(&r.id, 8))];
            if show_sandbox {
                cells.push(Cell::from(clip(&r.sandbox, 10)));
            }
            cells.extend([
                Cell::from(Span::styled(r.status.to_string(), theme.status(r.status))),
                Cell::from(clean_line(&command_line(&r.command))),
                Cell::from(age(r.started_at.unwrap_or(r.queued_at), app.now_ms)),
                Cell::from(
                    duration_ms(e, app.now_ms)
                        .map(millis)
                        .unwrap_or_else(|| "-".into()),
                ),
                Cell::from(cpu.map(millis).unwrap_or_else(|| "-".into())),
                Cell::from(if e.memory_bytes > 0 {
                    bytes(e.memory_bytes)
                } else {
                    "-".into()
                }),
                Cell::from(exit_text(e)),
            ]);
            let row = Row::new(cells);
            if i == cursor && app.selected_execution.is_some() {
                row.style(if focused {
                    theme.selected()
                } else {
                    theme.selected_unfocused()
                })
            } else {
                row
            }
        })
        .collect();
    let mut widths = vec![Constraint::Length(8)];
    if show_sandbox {
        widths.push(Constraint::Length(10));
    }
    widths.extend([
        Constraint::Length(9),
        Constraint::Min(10),
        Constraint::Length(5),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(5),
        Constraint::Length(4),
    ]);
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    frame.render_widget(table, area);
    if list.is_empty() && app.loaded && area.height > 3 {
        let hint = Rect::new(area.x + 2, area.y + 2, area.width.saturating_sub(4), 1);
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no executions — press x to launch one",
                theme.muted(),
            )),
            hint,
        );
    }
}
