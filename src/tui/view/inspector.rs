//! The inspector pane: detail, process tree, logs or charts of the subject.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::executions::{duration_ms, exit_text};
use super::{inner_rows, pane_block};
use crate::netproxy::NetworkRefusal;
use crate::profile::{Key, Kind, NetworkAccess, Profile, Value, KEYS};
use crate::tui::action::{LineKind, LogLine, Subject};
use crate::tui::ansi;
use crate::tui::app::{scroll_offset, App, Pane, Tab, UsageSort};
use crate::tui::format::{age, bytes, clean_line, command_line, millis};

fn subject_label(app: &App) -> String {
    if app.tab == Tab::Files {
        if let Some(f) = &app.files {
            return f.label();
        }
    }
    match app.subject() {
        Subject::All => "all sandboxes".into(),
        Subject::Sandbox(name) => name,
        Subject::Execution(id) => match app.executions.iter().find(|e| e.record.id == id) {
            Some(e) => format!("{}/{}", e.record.sandbox, id),
            None => id,
        },
    }
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let focused = app.focus == Pane::Inspector;
    let mut title = vec![Span::raw(" ")];
    for (i, tab) in Tab::ALL.iter().enumerate() {
        if i > 0 {
            title.push(Span::styled("│", theme.muted()));
        }
        let style = if *tab == app.tab {
            theme.title().add_modifier(Modifier::REVERSED)
        } else {
            theme.muted()
        };
        title.push(Span::styled(format!(" {} ", tab.title()), style));
    }
    title.push(Span::styled(
        format!(" {} ", subject_label(app)),
        theme.accent(),
    ));
    let block = pane_block(app, Line::from(title), focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    match app.tab {
        Tab::Detail => detail(frame, app, inner),
        Tab::Tree => tree(frame, app, inner, area),
        Tab::Logs => logs(frame, app, inner),
        Tab::Charts => super::charts::draw(frame, app, inner, false),
        Tab::Files => super::files::draw(frame, app, inner, area),
    }
}

fn kv<'a>(app: &App, key: &str, value: impl Into<String>) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!("{key:<18}"), app.theme.muted()),
        Span::styled(value.into(), app.theme.text()),
    ])
}

fn on_off(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn list(items: &[impl std::fmt::Display]) -> String {
    if items.is_empty() {
        "-".into()
    } else {
        items
            .iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How the profile reaches the network, in one line; host networking is
/// the one setting that opens the sandbox wide, so it is said loudly.
pub fn network_line<'a>(app: &App, p: &Profile) -> Line<'a> {
    let theme = &app.theme;
    let (text, style) = match p.network_access() {
        NetworkAccess::Host => (
            "⚠ HOST NETWORK: allow_network = true, any host and port".to_string(),
            theme.warning(),
        ),
        NetworkAccess::Allowlist(n) => (
            format!(
                "allowlist ({n} host{}) through the proxy",
                if n == 1 { "" } else { "s" }
            ),
            theme.ok(),
        ),
        NetworkAccess::None => (
            "none (an empty network namespace)".to_string(),
            theme.text(),
        ),
    };
    Line::from(vec![
        Span::styled(format!("{:<18}", "network"), theme.muted()),
        Span::styled(text, style),
    ])
}

/// Every key of a profile, in the order of `profile::KEYS`.
pub fn profile_lines<'a>(app: &App, p: &Profile) -> Vec<Line<'a>> {
    let mut lines = Vec::with_capacity(KEYS.len() + 1);
    for key in KEYS {
        let text = match key.name {
            // One row says where the root comes from, one what runs it.
            "image" | "docker_image" => continue,
            "rootfs" => {
                lines.push(kv(
                    app,
                    "root",
                    match (&p.rootfs, &p.image) {
                        (Some(dir), _) => format!("rootfs {}", dir.display()),
                        (None, Some(image)) => format!("image {image}"),
                        (None, None) => "the host's (read-only binds)".into(),
                    },
                ));
                continue;
            }
            "backend" => match &p.docker_image {
                Some(image) => format!("{} ({image})", p.backend.as_str()),
                None => p.backend.as_str().to_string(),
            },
            _ => shown(key, key.value_of(p)),
        };
        // Host networking is the one setting that opens the sandbox wide.
        let style = if key.name == "allow_network" && p.allow_network {
            app.theme.warning()
        } else {
            app.theme.text()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{:<18}", key.name), app.theme.muted()),
            Span::styled(text, style),
        ]));
    }
    lines.push(kv(app, "--set", list(&p.settings)));
    lines
}

/// A key's value in a row of the detail.
fn shown(key: &Key, value: Value) -> String {
    match value {
        Value::Unset if matches!(key.kind, Kind::Cores { .. }) => "none".into(),
        Value::Unset => "-".into(),
        Value::Int(n) => n.to_string(),
        Value::Bool(b) => on_off(b).into(),
        Value::Number(q) => format!("{q} cores ({:.0}%)", q * 100.0),
        Value::Text(s) => s,
        Value::Path(path) => path.display().to_string(),
        Value::List(items) => list(&items),
        Value::Paths(paths) => list(&paths.iter().map(|p| p.display()).collect::<Vec<_>>()),
        Value::Table(table) => list(
            &table
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>(),
        ),
    }
}

fn detail(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let mut lines: Vec<Line> = Vec::new();
    match app.subject() {
        Subject::All => {
            lines.push(Line::from(Span::styled(
                "Select a sandbox (or an execution) to see its limits or its result.",
                theme.muted(),
            )));
            lines.push(kv(app, "sandboxes", app.sandboxes.len().to_string()));
            lines.push(kv(app, "executions", app.executions.len().to_string()));
        }
        Subject::Sandbox(name) => match app.sandboxes.iter().find(|r| r.view.name == name) {
            Some(r) => {
                let v = &r.view;
                lines.push(kv(app, "sandbox", v.name.clone()));
                lines.push(kv(app, "profile", v.profile.clone()));
                if !r.profile_changes.is_empty() {
                    let changes: Vec<String> =
                        r.profile_changes.iter().map(ToString::to_string).collect();
                    lines.push(Line::from(Span::styled(
                        clean_line(&format!(
                            "⚠ sandboxes.toml has changed it since: {} (u updates the sandbox)",
                            changes.join(", ")
                        )),
                        theme.warning(),
                    )));
                }
                // Early, so it is on screen without scrolling.
                lines.push(network_line(app, &v.limits));
                lines.push(kv(app, "state", v.state.clone()));
                lines.push(kv(
                    app,
                    "created",
                    format!("{} ago", age(v.created_at, app.now_ms)),
                ));
                lines.push(kv(app, "workspace", v.workspace.display().to_string()));
                lines.push(Line::from(Span::styled("limits", theme.title())));
                lines.extend(profile_lines(app, &v.limits));
            }
            None => lines.push(Line::from(Span::styled("sandbox gone", theme.muted()))),
        },
        Subject::Execution(id) => match app.executions.iter().find(|e| e.record.id == id) {
            Some(e) => {
                let r = &e.record;
                lines.push(kv(app, "execution", r.id.clone()));
                lines.push(kv(app, "sandbox", r.sandbox.clone()));
                lines.push(Line::from(vec![
                    Span::styled(format!("{:<18}", "status"), theme.muted()),
                    Span::styled(r.status.to_string(), theme.status(r.status)),
                ]));
                lines.push(kv(app, "command", clean_line(&command_line(&r.command))));
                lines.push(kv(
                    app,
                    "duration",
                    duration_ms(e, app.now_ms)
                        .map(millis)
                        .unwrap_or_else(|| "-".into()),
                ));
                lines.push(kv(app, "exit", exit_text(e)));
                let cpu = millis(r.cpu_ms.unwrap_or(e.live_cpu_ms));
                lines.push(kv(
                    app,
                    "cpu",
                    match r.result.as_ref().map(|res| res.supervisor_cpu_ms) {
                        Some(ms) if ms > 0 => {
                            format!("{cpu}, supervisor {} draining output", millis(ms))
                        }
                        _ => cpu,
                    },
                ));
                lines.push(kv(app, "memory (peak)", bytes(e.memory_bytes)));
                lines.push(kv(app, "timeout", millis(r.timeout_ms)));
                let limits = app
                    .sandboxes
                    .iter()
                    .find(|s| s.view.name == r.sandbox)
                    .map(|s| &s.view.limits);
                if let Some(limits) = limits {
                    lines.push(network_line(app, limits));
                }
                // Final: in the result. Running: as last fetched from the live log.
                let (refusals, error): (&[NetworkRefusal], Option<&str>) = match &r.result {
                    Some(result) => (&result.network_refusals, None),
                    None => match app.refusals.as_ref().filter(|x| x.id == r.id) {
                        Some(x) => (&x.refusals, x.error.as_deref()),
                        None => (&[], None),
                    },
                };
                let proxied = limits
                    .is_some_and(|l| matches!(l.network_access(), NetworkAccess::Allowlist(_)));
                if proxied || !refusals.is_empty() || error.is_some() {
                    refusal_lines(app, &mut lines, e, refusals, error);
                }
                if let Some(error) = &r.error {
                    lines.push(Line::from(vec![
                        Span::styled(format!("{:<18}", "error"), theme.muted()),
                        Span::styled(error.clone(), theme.error()),
                    ]));
                }
                if let Some(result) = &r.result {
                    if let Some(value) = &result.result {
                        let text = if result.result_non_json {
                            let repr = value.get("repr").and_then(|v| v.as_str()).unwrap_or("");
                            let kind = value.get("type").and_then(|v| v.as_str()).unwrap_or("");
                            format!("{repr}  (a {kind}, not JSON)")
                        } else {
                            serde_json::to_string_pretty(value).unwrap_or_default()
                        };
                        lines.push(Line::from(Span::styled("result", theme.title())));
                        for l in text.lines().take(20) {
                            lines.push(Line::from(Span::styled(l.to_string(), theme.text())));
                        }
                    }
                    if let Some(crate::execution::ErrorInfo::Exception { traceback, .. }) =
                        &result.error
                    {
                        lines.push(Line::from(Span::styled("traceback", theme.title())));
                        for l in traceback.lines().take(30) {
                            lines.push(Line::from(Span::styled(l.to_string(), theme.error())));
                        }
                    }
                    if !result.degraded.is_empty() {
                        lines.push(Line::from(vec![
                            Span::styled(format!("{:<18}", "degraded"), theme.muted()),
                            Span::styled(result.degraded.join("; "), theme.warning()),
                        ]));
                    }
                    for (name, text, truncated, style) in [
                        (
                            "stdout",
                            &result.stdout,
                            result.stdout_truncated,
                            theme.text(),
                        ),
                        (
                            "stderr",
                            &result.stderr,
                            result.stderr_truncated,
                            theme.warning(),
                        ),
                    ] {
                        if text.is_empty() {
                            continue;
                        }
                        let more = if truncated { " (truncated)" } else { "" };
                        lines.push(Line::from(Span::styled(
                            format!("{name}{more}"),
                            theme.title(),
                        )));
                        // The head and the tail of the stream.
                        let all: Vec<&str> = text.lines().collect();
                        let shown = |l: &str| Line::from(ansi_spans(l, style));
                        if all.len() <= DETAIL_STREAM_LINES * 2 {
                            lines.extend(all.iter().map(|l| shown(l)));
                        } else {
                            lines.extend(all[..DETAIL_STREAM_LINES].iter().map(|l| shown(l)));
                            lines.push(Line::from(Span::styled(
                                format!(
                                    "… {} more lines (l: logs) …",
                                    all.len() - 2 * DETAIL_STREAM_LINES
                                ),
                                theme.muted(),
                            )));
                            lines.extend(
                                all[all.len() - DETAIL_STREAM_LINES..]
                                    .iter()
                                    .map(|l| shown(l)),
                            );
                        }
                    }
                }
            }
            None => lines.push(Line::from(Span::styled("execution gone", theme.muted()))),
        },
    }
    let scroll = app.detail_scroll.min(lines.len().saturating_sub(1)) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0)),
        area,
    );
}

/// The detail shows this many lines of the beginning of a stream, and as
/// many of its end.
const DETAIL_STREAM_LINES: usize = 6;

/// A line of output, styled as its colour sequences say, nothing else of them kept.
fn ansi_spans(line: &str, base: ratatui::style::Style) -> Vec<Span<'static>> {
    ansi::segments(line, base)
        .into_iter()
        .map(|(text, style)| Span::styled(text, style))
        .collect()
}

/// Beyond this many, a count: the result keeps up to a thousand.
const REFUSALS_SHOWN: usize = 50;

/// `hh:mm:ss` UTC of a Unix time in milliseconds.
fn clock(ms: i64) -> String {
    let secs = ms.div_euclid(1000).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

fn refusal_lines<'a>(
    app: &App,
    lines: &mut Vec<Line<'a>>,
    e: &crate::manager::ExecutionView,
    refusals: &[NetworkRefusal],
    error: Option<&str>,
) {
    let theme = &app.theme;
    if refusals.is_empty() {
        lines.push(kv(app, "net refusals", "none"));
    } else {
        lines.push(Line::from(vec![
            Span::styled(
                format!("network refusals ({})", refusals.len()),
                theme.title(),
            ),
            Span::styled("  UTC, since start, host:port, why", theme.muted()),
        ]));
    }
    if let Some(error) = error {
        lines.push(Line::from(Span::styled(error.to_string(), theme.error())));
    }
    for n in refusals.iter().take(REFUSALS_SHOWN) {
        let since = e
            .record
            .started_at
            .map(|start| format!("+{}", millis((n.time_ms - start).max(0) as u64)))
            .unwrap_or_default();
        let host = if n.host.contains(':') {
            format!("[{}]", n.host)
        } else {
            n.host.clone()
        };
        lines.push(Line::from(vec![
            Span::styled(format!("{} {since:>7} ", clock(n.time_ms)), theme.muted()),
            Span::styled(format!("{host}:{}", n.port), theme.warning()),
            Span::styled(format!("  {}", n.reason), theme.text()),
        ]));
    }
    if refusals.len() > REFUSALS_SHOWN {
        lines.push(Line::from(Span::styled(
            format!("… and {} more", refusals.len() - REFUSALS_SHOWN),
            theme.muted(),
        )));
    }
}

fn tree(frame: &mut Frame, app: &App, inner: Rect, outer: Rect) {
    let theme = &app.theme;
    if app.processes_of != app.subject() {
        frame.render_widget(
            Paragraph::new(Span::styled("sampling…", theme.muted())),
            inner,
        );
        return;
    }
    if app.processes.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no processes: nothing is running here",
                theme.muted(),
            )),
            inner,
        );
        return;
    }
    let rows = app.tree_rows();
    let cursor = app.tree_cursor().unwrap_or(0);
    let height = inner_rows(outer).saturating_sub(1);
    let offset = scroll_offset(cursor, height);
    let focused = app.focus == Pane::Inspector;
    let table_rows: Vec<Row> = rows
        .iter()
        .enumerate()
        .skip(offset)
        .take(height.max(1))
        .map(|(i, r)| {
            let p = &app.processes[r.index];
            let marker = match (r.has_children, r.collapsed) {
                (true, true) => "▸ ",
                (true, false) => "▾ ",
                _ => "  ",
            };
            let row = Row::new(vec![
                Cell::from(p.pid.to_string()),
                Cell::from(p.ppid.map(|p| p.to_string()).unwrap_or_else(|| "-".into())),
                Cell::from(p.state.chars().next().map(String::from).unwrap_or_default()),
                Cell::from(format!("{:.1}", p.cpu_percent)),
                Cell::from(bytes(p.rss_bytes)),
                Cell::from(p.threads.to_string()),
                Cell::from(format!(
                    "{}{marker}{}",
                    "  ".repeat(r.depth),
                    clean_line(&p.command)
                )),
            ]);
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
    let (sort, desc) = app.tree_sort;
    let mark = |on: bool| match (on, desc) {
        (false, _) => "",
        (true, true) => "▼",
        (true, false) => "▲",
    };
    let header = Row::new([
        format!("PID{}", mark(sort == UsageSort::Natural)),
        "PPID".into(),
        "S".into(),
        format!("CPU%{}", mark(sort == UsageSort::Cpu)),
        format!("RSS{}", mark(sort == UsageSort::Memory)),
        "THR".into(),
        "COMMAND".into(),
    ])
    .style(theme.column_header());
    let widths = [
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(1),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(3),
        Constraint::Min(10),
    ];
    frame.render_widget(
        Table::new(table_rows, widths)
            .header(header)
            .column_spacing(1),
        inner,
    );
}

fn logs(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let Some(subject) = app.log_subject() else {
        frame.render_widget(
            Paragraph::new(Span::styled("no execution selected", theme.muted())),
            area,
        );
        return;
    };
    let id = &subject.record.id;
    let Some(logs) = app.logs.as_ref().filter(|l| &l.id == id) else {
        frame.render_widget(
            Paragraph::new(Span::styled("reading logs…", theme.muted())),
            area,
        );
        return;
    };
    let lines = app.log_lines();
    let height = (area.height as usize).saturating_sub(1);
    // Each line starts with "1│", "2│" (its stream) or " │" (a note).
    let width = (area.width as usize).saturating_sub(2).max(1);
    let needle = app
        .log_search
        .as_ref()
        .map(|s| s.to_lowercase())
        .filter(|n| !n.is_empty());
    // The rows one line takes: one, or as many as it wraps to.
    let rows_of = |line: &LogLine| -> Vec<Vec<Span<'static>>> {
        let base = match line.kind {
            LineKind::Stdout => theme.text(),
            LineKind::Stderr => theme.warning(),
            LineKind::Note => theme.muted(),
        };
        let mut segments = if app.log_raw {
            vec![(clean_line(&line.text), base)]
        } else {
            ansi::segments(&line.text, base)
        };
        if needle.as_ref().is_some_and(|n| {
            segments
                .iter()
                .map(|(t, _)| t.as_str())
                .collect::<String>()
                .to_lowercase()
                .contains(n)
        }) {
            for (_, style) in &mut segments {
                *style = theme.selected();
            }
        }
        let len: usize = segments.iter().map(|(t, _)| t.chars().count()).sum();
        if app.log_wrap {
            (0..len.div_ceil(width).max(1))
                .map(|row| slice_segments(&segments, row * width, width))
                .collect()
        } else {
            vec![slice_segments(&segments, app.log_left, width)]
        }
    };
    // The first line such that the rest fills the pane: where following shows.
    let mut max_top = lines.len();
    let mut filled = 0;
    while max_top > 0 {
        let rows = if app.log_wrap {
            rows_of(&lines[max_top - 1]).len()
        } else {
            1
        };
        if filled + rows > height {
            break;
        }
        filled += rows;
        max_top -= 1;
    }
    let top = app.log_scroll.unwrap_or(max_top).min(max_top);
    let count = |kind| lines.iter().filter(|l| l.kind == kind).count();
    let mut info = vec![
        Span::styled(
            format!(
                "{id}: {} stdout, {} stderr lines{} ",
                count(LineKind::Stdout),
                count(LineKind::Stderr),
                if logs.truncated {
                    " (head and tail)"
                } else {
                    ""
                }
            ),
            theme.muted(),
        ),
        if app.log_scroll.is_none() {
            Span::styled("following ", theme.ok())
        } else {
            Span::styled(format!("line {}/{} ", top + 1, lines.len()), theme.accent())
        },
    ];
    if app.log_raw {
        info.push(Span::styled("raw ", theme.accent()));
    }
    if app.log_wrap {
        info.push(Span::styled("wrap ", theme.accent()));
    } else if app.log_left > 0 {
        info.push(Span::styled(format!("→{} ", app.log_left), theme.accent()));
    }
    if let Some(n) = &app.log_search {
        info.push(Span::styled(format!("search: {n} (n/N)"), theme.accent()));
    }
    let mut out = vec![Line::from(info)];
    'lines: for line in lines.iter().skip(top) {
        let prefix = match line.kind {
            LineKind::Stdout => "1│",
            LineKind::Stderr => "2│",
            LineKind::Note => " │",
        };
        for (i, row) in rows_of(line).into_iter().enumerate() {
            if out.len() > height {
                break 'lines;
            }
            let mut spans = vec![Span::styled(
                if i == 0 { prefix } else { " ┆" },
                theme.muted(),
            )];
            spans.extend(row);
            out.push(Line::from(spans));
        }
    }
    if lines.is_empty() {
        out.push(Line::from(Span::styled("(no output yet)", theme.muted())));
    }
    frame.render_widget(Paragraph::new(out), area);
}

/// The characters `[skip, skip + take)` of styled text, as spans.
fn slice_segments(segments: &ansi::Segments, skip: usize, take: usize) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    let mut at = 0;
    for (text, style) in segments {
        let len = text.chars().count();
        let (from, to) = (skip.max(at), (skip + take).min(at + len));
        if from < to {
            let part: String = text.chars().skip(from - at).take(to - from).collect();
            spans.push(Span::styled(part, *style));
        }
        at += len;
        if at >= skip + take {
            break;
        }
    }
    spans
}
