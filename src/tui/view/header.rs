use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::bar;
use crate::profile::NetworkAccess;
use crate::tui::app::App;
use crate::tui::format::bytes;

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let host = &app.host;
    let cpu = f64::from(host.cpu_percent);
    let mem_ratio = if host.memory_total_bytes > 0 {
        host.memory_used_bytes as f64 / host.memory_total_bytes as f64
    } else {
        0.0
    };
    let (running, queued) = app.running_and_queued();
    let sep = Span::styled(" │ ", theme.muted());
    // At 80 columns every figure must fit: no title, shorter gauges.
    let wide = area.width >= 100;
    let gauge = if wide { 8 } else { 4 };
    let mut first = Vec::new();
    if wide {
        first.push(Span::styled(" sandbox-tui", theme.title()));
        first.push(sep.clone());
    }
    first.extend([
        Span::styled(
            match app.sandboxes.len() {
                1 => "1 sandbox".to_string(),
                n => format!("{n} sandboxes"),
            },
            theme.text(),
        ),
        sep.clone(),
        Span::styled(
            format!("{running} running"),
            theme.status(crate::execution::Status::Running),
        ),
        Span::styled(
            format!(" {queued} queued"),
            theme.status(crate::execution::Status::Queued),
        ),
        sep.clone(),
        Span::styled("CPU ", theme.muted()),
        Span::styled(bar(cpu / 100.0, gauge), theme.gauge(cpu / 100.0)),
        Span::styled(format!(" {cpu:.1}% ×{}", host.cpus), theme.text()),
        sep.clone(),
        Span::styled("MEM ", theme.muted()),
        Span::styled(bar(mem_ratio, gauge), theme.gauge(mem_ratio)),
        Span::styled(
            format!(
                " {}/{}",
                bytes(host.memory_used_bytes),
                bytes(host.memory_total_bytes)
            ),
            theme.text(),
        ),
    ]);
    let first = Line::from(first);
    let config = app
        .config
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "(built-in profiles)".into());
    let mut second = vec![
        Span::styled(if wide { " state " } else { " " }, theme.muted()),
        Span::styled(app.env.state_dir.display().to_string(), theme.text()),
        Span::styled("  config ", theme.muted()),
        Span::styled(config, theme.text()),
    ];
    let invalid = app.config.invalid.len();
    if invalid > 0 {
        second.push(Span::styled(
            format!("  ✗ {invalid} invalid profile(s): p"),
            theme.error(),
        ));
    }
    second.push(Span::styled(
        format!("  refresh {}ms", app.refresh_ms),
        theme.muted(),
    ));
    let second = Line::from(second);
    let third = if let Some(error) = &app.sample_error {
        Line::from(Span::styled(format!(" ✗ {error}"), theme.error()))
    } else {
        let mut spans = if app.env.degraded.is_empty() {
            vec![Span::styled(
                " isolation: every mechanism available",
                theme.ok(),
            )]
        } else {
            let names: Vec<&str> = app.env.degraded.iter().map(|(m, _)| m.as_str()).collect();
            vec![
                Span::styled(" ⚠ degraded: ", theme.warning()),
                Span::styled(names.join(", "), theme.warning()),
                Span::styled("  (sandbox-tui doctor)", theme.muted()),
            ]
        };
        // Host networking is a per-sandbox hole in the isolation: as loud as a
        // degraded mechanism.
        let mut open: Vec<&str> = app
            .sandboxes
            .iter()
            .filter(|r| r.view.limits.network_access() == NetworkAccess::Host)
            .map(|r| r.view.name.as_str())
            .collect();
        open.sort_unstable();
        if !open.is_empty() {
            spans.push(Span::styled(
                format!("  ⚠ NET: host network: {}", open.join(", ")),
                theme.warning(),
            ));
        }
        Line::from(spans)
    };
    frame.render_widget(
        Paragraph::new(vec![first, second, third]).style(theme.header()),
        area,
    );
}
