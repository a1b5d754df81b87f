use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Row, Table};
use ratatui::Frame;

use super::columns::{self, Column};
use super::{bar, inner_rows, pane_block, scroll_hint};
use crate::profile::NetworkAccess;
use crate::tui::app::{scroll_offset, App, Pane, SortColumn};
use crate::tui::format::{age, bytes, clip};

const COLUMNS: [(&str, SortColumn); 8] = [
    ("NAME", SortColumn::Name),
    ("PROFILE", SortColumn::Profile),
    ("STATE", SortColumn::State),
    ("EXEC", SortColumn::Execs),
    ("CPU%", SortColumn::Cpu),
    ("MEMORY", SortColumn::Memory),
    ("PROCS", SortColumn::Procs),
    ("AGE", SortColumn::Age),
];

/// After the name of a sandbox with full host networking.
const HOST_NET_MARK: &str = " ⚠NET";

fn memory_cell(used: u64, limit: u64) -> (String, f64) {
    let ratio = if limit > 0 {
        used as f64 / limit as f64
    } else {
        0.0
    };
    let text = if limit > 0 {
        format!("{} {}/{}", bar(ratio, 5), bytes(used), bytes(limit))
    } else {
        bytes(used)
    };
    (text, ratio)
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let focused = app.focus == Pane::Sandboxes;
    let rows_visible = app.visible_sandboxes();
    let mut title = vec![Span::styled(
        format!(" Sandboxes ({}) ", app.sandboxes.len()),
        theme.title(),
    )];
    if !app.filter.is_empty() {
        title.push(Span::styled(
            format!("filter: {} ", app.filter),
            theme.accent(),
        ));
    }
    // Row 0 is (all); the header takes one line of the pane.
    let cursor = app.sandbox_cursor();
    let height = inner_rows(area).saturating_sub(1);
    let offset = scroll_offset(cursor, height);
    if let Some(hint) = scroll_hint(offset, height, rows_visible.len() + 1) {
        title.push(Span::styled(hint, theme.muted()));
    }
    let block = pane_block(app, Line::from(title), focused);

    let inner_width = area.width.saturating_sub(2);
    let name_want = rows_visible
        .iter()
        .map(|r| {
            let mark = if r.view.limits.network_access() == NetworkAccess::Host {
                HOST_NET_MARK.chars().count()
            } else {
                0
            };
            r.view.name.chars().count() + mark
        })
        // Room for the usual names, so the columns do not jump about.
        .chain([16])
        .max()
        .unwrap_or(16);
    // A profile that sandboxes.toml has changed since is marked `*`.
    let shown_profiles: Vec<String> = rows_visible
        .iter()
        .map(|r| match r.profile_changes.is_empty() {
            true => r.view.profile.clone(),
            false => format!("{}*", r.view.profile),
        })
        .collect();
    let profile_want = Column::widest("PROFILE▲", shown_profiles.iter().map(String::as_str));
    let state_want = Column::widest("STATE▲", rows_visible.iter().map(|r| r.view.state.as_str()));
    // Lowest priority gives way first; the name is cut only when nothing
    // else is left to give.
    let widths = columns::fit(
        inner_width,
        1,
        &[
            Column {
                want: u16::try_from(name_want).unwrap_or(u16::MAX),
                cut: Some((4, u8::MAX)),
                drop: None,
            },
            Column {
                want: profile_want,
                cut: Some((6, 5)),
                drop: Some(7),
            },
            Column::fixed(state_want, 6),
            Column::fixed(5, 3),
            Column::fixed(6, 4),
            Column::fixed(17, 2),
            Column::fixed(6, 1),
            Column::fixed(4, 0),
        ],
    );
    let width_of = |i: usize| usize::from(widths[i].unwrap_or(0));

    let header = Row::new(columns::kept(
        COLUMNS.iter().map(|(name, col)| {
            let mark = if *col == app.sort {
                if app.sort_desc {
                    "▼"
                } else {
                    "▲"
                }
            } else {
                ""
            };
            Cell::from(format!("{name}{mark}"))
        }),
        &widths,
    ))
    .style(theme.column_header());

    let name_width = width_of(0);
    let mut rows = Vec::with_capacity(rows_visible.len() + 1);
    // Row 0: everything, so the executions pane can show all of them.
    let (running, total, cpu, mem, procs) =
        app.sandboxes
            .iter()
            .fold((0, 0, 0.0, 0, 0), |(r, t, c, m, p), s| {
                (
                    r + s.view.running,
                    t + s.view.total,
                    c + s.cpu_percent,
                    m + s.view.memory_bytes,
                    p + s.view.processes,
                )
            });
    rows.push(
        Row::new(columns::kept(
            [
                Cell::from("(all)"),
                Cell::from(""),
                Cell::from(""),
                Cell::from(format!("{running}/{total}")),
                Cell::from(format!("{cpu:.1}")),
                Cell::from(bytes(mem)),
                Cell::from(procs.to_string()),
                Cell::from(""),
            ],
            &widths,
        ))
        .style(theme.muted()),
    );
    for r in &rows_visible {
        let v = &r.view;
        let (mem_text, mem_ratio) = memory_cell(v.memory_bytes, v.memory_limit_bytes);
        let state_style = if v.state == "ready" {
            theme.ok()
        } else {
            theme.warning()
        };
        let exec_style = if v.running > 0 {
            theme.status(crate::execution::Status::Running)
        } else {
            theme.text()
        };
        let cpu_style = if r.cpu_percent >= 90.0 {
            theme.error()
        } else {
            theme.text()
        };
        let name = if v.limits.network_access() == NetworkAccess::Host {
            Line::from(vec![
                Span::raw(clip(
                    &v.name,
                    name_width.saturating_sub(HOST_NET_MARK.chars().count()),
                )),
                Span::styled(HOST_NET_MARK, theme.warning()),
            ])
        } else {
            Line::from(clip(&v.name, name_width))
        };
        rows.push(Row::new(columns::kept(
            [
                Cell::from(name),
                if r.profile_changes.is_empty() {
                    Cell::from(clip(&v.profile, width_of(1)))
                } else {
                    Cell::from(Span::styled(
                        format!("{}*", clip(&v.profile, width_of(1).saturating_sub(1))),
                        theme.warning(),
                    ))
                },
                Cell::from(Span::styled(v.state.clone(), state_style)),
                Cell::from(Span::styled(
                    format!("{}/{}", v.running, v.total),
                    exec_style,
                )),
                Cell::from(Span::styled(format!("{:.1}", r.cpu_percent), cpu_style)),
                Cell::from(Span::styled(mem_text, theme.gauge(mem_ratio))),
                Cell::from(format!("{}/{}", v.processes, v.max_processes)),
                Cell::from(age(v.created_at, app.now_ms)),
            ],
            &widths,
        )));
    }

    let rows: Vec<Row> = rows
        .into_iter()
        .enumerate()
        .skip(offset)
        .map(|(i, row)| {
            if i == cursor {
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
    let widths: Vec<Constraint> = widths
        .iter()
        .flatten()
        .map(|w| Constraint::Length(*w))
        .collect();
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1)
        .flex(ratatui::layout::Flex::Start);
    frame.render_widget(table, area);
    if !app.loaded {
        let inner =
            Rect::new(area.x + 2, area.y + 3, area.width.saturating_sub(4), 1).intersection(area);
        frame.render_widget(
            ratatui::widgets::Paragraph::new(Span::styled("reading the state…", theme.muted())),
            inner,
        );
    }
}
