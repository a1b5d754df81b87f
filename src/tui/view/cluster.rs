//! The Cluster screen: the Ray cluster's nodes (CPU, memory) and this
//! tool's jobs with their status. Everything in it comes from the cluster
//! and is shown escaped.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::pane_block;
use crate::tui::app::App;
use crate::tui::format::clean_line;

fn mib(bytes: u64) -> String {
    format!("{} MiB", bytes >> 20)
}

/// `text` cut to `width` characters and padded to it.
fn cell(text: &str, width: usize) -> String {
    let text: String = clean_line(text).chars().take(width).collect();
    format!("{text:<width$} ")
}

pub fn draw(frame: &mut Frame, app: &App, area: Rect) {
    let theme = &app.theme;
    let pane = &app.cluster;
    let Some(address) = &pane.address else {
        let text = vec![
            Line::from("No cluster: start the dashboard with --cluster ray://HOST:8265"),
            Line::from("(the Ray dashboard's address; docs/ray.md)."),
        ];
        let block = pane_block(app, Line::from(" Cluster "), true);
        frame.render_widget(Paragraph::new(text).style(theme.muted()).block(block), area);
        return;
    };
    let nodes_height = (pane.data.nodes.len() as u16 + 3)
        .min(area.height / 2)
        .max(4);
    let [nodes_area, jobs_area] =
        Layout::vertical([Constraint::Length(nodes_height), Constraint::Min(0)]).areas(area);

    let mut lines = vec![Line::styled(
        format!(
            "{}{}{}{}{}",
            cell("NODE", 14),
            cell("HOST", 16),
            cell("STATE", 8),
            cell("CPUS", 5),
            "CPU%   MEMORY"
        ),
        theme.header(),
    )];
    for n in &pane.data.nodes {
        let name = format!("{}{}", if n.is_head { "*" } else { "" }, n.id);
        let gpus = if n.gpus > 0.0 {
            format!("  {} GPU", n.gpus)
        } else {
            String::new()
        };
        lines.push(Line::styled(
            format!(
                "{}{}{}{}{:>4.0}%  {} / {}{gpus}",
                cell(&name, 14),
                cell(&format!("{} {}", n.hostname, n.ip), 16),
                cell(&n.state, 8),
                cell(&format!("{}", n.cpus), 5),
                n.cpu_percent,
                mib(n.mem_used),
                mib(n.mem_total),
            ),
            theme.text(),
        ));
    }
    let mut title = vec![Span::styled(
        format!(" Cluster {} ", clean_line(address)),
        theme.title(),
    )];
    if let Some(error) = &pane.error {
        title.push(Span::styled(
            format!(" {} ", clean_line(error)),
            theme.error(),
        ));
    } else if pane.data == Default::default() && pane.polling {
        title.push(Span::styled(" reading… ", theme.muted()));
    }
    let block = pane_block(app, Line::from(title), false);
    frame.render_widget(Paragraph::new(lines).block(block), nodes_area);

    let mut lines = vec![Line::styled(
        format!(
            "{}{}{}{}COMMAND",
            cell("JOB", 19),
            cell("STATUS", 12),
            cell("PROFILE", 10),
            cell("NODE", 12)
        ),
        theme.header(),
    )];
    let visible = jobs_area.height.saturating_sub(3) as usize;
    let first = pane.selected.saturating_sub(visible.saturating_sub(1));
    for (i, j) in pane.data.jobs.iter().enumerate().skip(first).take(visible) {
        let style = if i == pane.selected {
            theme.selected()
        } else {
            theme.text()
        };
        lines.push(Line::styled(
            format!(
                "{}{}{}{}{}",
                cell(j.submission_id.as_deref().unwrap_or("-"), 19),
                cell(crate::cluster::status_of(j).as_str(), 12),
                cell(&j.metadata_field("profile"), 10),
                cell(j.driver_node_id.as_deref().unwrap_or("-"), 12),
                clean_line(&j.metadata_field("command")),
            ),
            style,
        ));
    }
    let title = format!(" Jobs ({}) ", pane.data.jobs.len());
    let block = pane_block(app, Line::styled(title, theme.title()), true);
    frame.render_widget(Paragraph::new(lines).block(block), jobs_area);
}
