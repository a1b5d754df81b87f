//! CPU and memory over the last minutes, with the limits drawn.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::symbols::Marker;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Axis, Block, Borders, Chart, Dataset, GraphType, Paragraph};
use ratatui::Frame;

use super::pane_block;
use crate::tui::app::{App, Histories, HISTORY_LEN};
use crate::tui::format::bytes;

struct Series<'a> {
    title: String,
    values: Vec<f64>,
    limit: Option<f64>,
    format: &'a dyn Fn(f64) -> String,
    style: ratatui::style::Style,
}

fn chart(frame: &mut Frame, app: &App, area: Rect, s: Series) {
    let theme = &app.theme;
    let n = s.values.len();
    // Newest sample at the right edge, x in samples ago (negative).
    let points: Vec<(f64, f64)> = s
        .values
        .iter()
        .enumerate()
        .map(|(i, v)| (i as f64 - n as f64 + 1.0, *v))
        .collect();
    let max_value = s.values.iter().copied().fold(0.0, f64::max);
    let top = s.limit.unwrap_or(0.0).max(max_value).max(1.0) * 1.1;
    let left = -(HISTORY_LEN as f64) + 1.0;
    let limit_points: Vec<(f64, f64)> = s
        .limit
        .map(|l| vec![(left, l), (0.0, l)])
        .unwrap_or_default();
    let mut datasets = vec![Dataset::default()
        .marker(Marker::Braille)
        .graph_type(GraphType::Line)
        .style(s.style)
        .data(&points)];
    if !limit_points.is_empty() {
        datasets.push(
            Dataset::default()
                .marker(Marker::Dot)
                .graph_type(GraphType::Line)
                .style(theme.limit())
                .data(&limit_points),
        );
    }
    let current = s.values.last().copied().unwrap_or(0.0);
    let mut title = vec![
        Span::styled(format!("{} ", s.title), theme.title()),
        Span::styled((s.format)(current), s.style),
    ];
    if let Some(l) = s.limit {
        title.push(Span::styled(
            format!(" limit {}", (s.format)(l)),
            theme.limit(),
        ));
    }
    let secs = HISTORY_LEN as u64 * app.refresh_ms / 1000;
    let chart = Chart::new(datasets)
        .block(
            Block::default()
                .borders(Borders::TOP)
                .border_style(theme.border(false))
                .title(Line::from(title)),
        )
        .x_axis(
            Axis::default()
                .bounds([left, 0.0])
                .style(theme.muted())
                .labels([Span::raw(format!("-{}m", secs / 60)), Span::raw("now")]),
        )
        .y_axis(
            Axis::default()
                .bounds([0.0, top])
                .style(theme.muted())
                .labels([Span::raw("0"), Span::raw((s.format)(top))]),
        );
    frame.render_widget(chart, area);
}

/// `own_pane`: draw a bordered pane (wide layout) rather than inside the inspector.
pub fn draw(frame: &mut Frame, app: &App, area: Rect, own_pane: bool) {
    let theme = &app.theme;
    let sandbox = app.subject_sandbox();
    let area = if own_pane {
        let label = sandbox.clone().unwrap_or_else(|| "host".into());
        let block = pane_block(
            app,
            Line::from(Span::styled(format!(" Charts: {label} "), theme.title())),
            false,
        );
        let inner = block.inner(area);
        frame.render_widget(block, area);
        inner
    } else {
        area
    };
    if area.height < 3 {
        return;
    }
    let empty = Histories::default();
    let (history, mem_limit, cpu_limit, label) = match &sandbox {
        Some(name) => {
            let row = app.sandboxes.iter().find(|r| &r.view.name == name);
            (
                app.history.get(name).unwrap_or(&empty),
                row.map(|r| r.view.memory_limit_bytes as f64)
                    .filter(|l| *l > 0.0),
                row.and_then(|r| r.view.limits.cpu_quota).map(|q| q * 100.0),
                "",
            )
        }
        None => (
            &app.host_history,
            Some(app.host.memory_total_bytes as f64).filter(|l| *l > 0.0),
            None,
            "host ",
        ),
    };
    if history.cpu_tenths.last().is_none() {
        frame.render_widget(
            Paragraph::new(Span::styled("collecting samples…", theme.muted())),
            area,
        );
        return;
    }
    let cpu: Vec<f64> = history
        .cpu_tenths
        .values()
        .iter()
        .map(|v| *v as f64 / 10.0)
        .collect();
    let mem: Vec<f64> = history.memory.values().iter().map(|v| *v as f64).collect();
    let percent = |v: f64| format!("{v:.0}%");
    let size = |v: f64| bytes(v as u64);
    let wide = area.width >= 2 * area.height.max(10) * 2;
    let [a, b] = if wide {
        Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    };
    chart(
        frame,
        app,
        a,
        Series {
            title: format!("{label}CPU"),
            values: cpu,
            limit: cpu_limit,
            format: &percent,
            style: theme.chart_cpu(),
        },
    );
    chart(
        frame,
        app,
        b,
        Series {
            title: format!("{label}memory"),
            values: mem,
            limit: mem_limit,
            format: &size,
            style: theme.chart_memory(),
        },
    );
}
