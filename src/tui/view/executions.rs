use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::columns::{self, Column};
use super::{inner_rows, pane_block, scroll_hint};
use crate::execution::Status;
use crate::manager::ExecutionView;
use crate::tui::app::{scroll_offset, App, Pane, UsageSort};
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
    let show_sandbox = app.selected_sandbox.is_none();
    let cursor = app.execution_cursor().unwrap_or(0);
    let height = inner_rows(area).saturating_sub(1);
    let offset = scroll_offset(cursor, height);
    let mut title = title;
    if let Some(hint) = scroll_hint(offset, height, list.len()) {
        title.push_span(Span::styled(hint, theme.muted()));
    }
    let block = pane_block(app, title, focused);

    let commands: Vec<String> = list
        .iter()
        .map(|e| clean_line(&command_line(&e.record.command)))
        .collect();
    let statuses: Vec<String> = list.iter().map(|e| e.record.status.to_string()).collect();
    // Lowest priority gives way first: a long command is cut before any
    // column goes; the id and the status never go.
    let columns = [
        Column::fixed(
            Column::widest("ID", list.iter().map(|e| e.record.id.as_str())),
            u8::MAX,
        ),
        if show_sandbox {
            Column {
                want: Column::widest("SANDBOX", list.iter().map(|e| e.record.sandbox.as_str())),
                cut: Some((6, 6)),
                drop: Some(7),
            }
        } else {
            Column::fixed(0, 0)
        },
        Column {
            // "completed" fits without the column jumping as statuses change.
            want: Column::widest("STATUS", statuses.iter().map(String::as_str)).max(9),
            cut: None,
            drop: None,
        },
        Column {
            want: Column::widest("COMMAND", commands.iter().map(String::as_str)).max(24),
            cut: Some((12, 0)),
            drop: None,
        },
        Column::fixed(5, 2),
        Column::fixed(6, 3),
        Column::fixed(6, 1),
        Column::fixed(5, 0),
        Column::fixed(4, 4),
    ];
    let mut widths = columns::fit(area.width.saturating_sub(2), 1, &columns);
    if !show_sandbox {
        widths[1] = None;
    }
    let width_of = |i: usize| usize::from(widths[i].unwrap_or(0));
    let (sort, desc) = app.exec_sort;
    let mark = |on: bool| match (on, desc) {
        (false, _) => "",
        (true, true) => "▼",
        (true, false) => "▲",
    };
    let header = Row::new(columns::kept(
        [
            format!("ID{}", mark(sort == UsageSort::Natural && !desc)),
            "SANDBOX".into(),
            "STATUS".into(),
            "COMMAND".into(),
            "START".into(),
            "DUR".into(),
            format!("CPU{}", mark(sort == UsageSort::Cpu)),
            format!("MEM{}", mark(sort == UsageSort::Memory)),
            "EXIT".into(),
        ],
        &widths,
    ))
    .style(theme.column_header());

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
            let cells = [
                Cell::from(r.id.clone()),
                Cell::from(clip(&r.sandbox, width_of(1))),
                Cell::from(Span::styled(statuses[i].clone(), theme.status(r.status))),
                Cell::from(clip(&commands[i], width_of(3))),
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
            ];
            let row = Row::new(columns::kept(cells, &widths));
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
    // The command takes whatever width is left.
    let last_command = widths.iter().take(4).flatten().count().saturating_sub(1);
    let widths: Vec<Constraint> = widths
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, w)| {
            if widths[3].is_some() && i == last_command {
                Constraint::Min(*w)
            } else {
                Constraint::Length(*w)
            }
        })
        .collect();
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
