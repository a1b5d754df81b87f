//! The Cluster screen's state and keys (`C`): the nodes and jobs of the
//! Ray cluster given with `--cluster` (docs/ray.md), polled by the worker
//! each tick while the screen shows, and a stop of a job, confirmed.

use ratatui::crossterm::event::{KeyCode, KeyEvent};

use super::action::{Effect, SignalChoice};
use super::app::{App, Confirm, KillTarget, Overlay, Screen};
use crate::cluster::{JobInfo, NodeInfo};

/// What one poll of the cluster read.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterData {
    pub nodes: Vec<NodeInfo>,
    /// This tool's jobs, newest first.
    pub jobs: Vec<JobInfo>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterPane {
    /// `--cluster` as given; `None`: the screen says how to give one.
    pub address: Option<String>,
    pub data: ClusterData,
    /// The last poll failed (the data is the last good one).
    pub error: Option<String>,
    /// The selected job.
    pub selected: usize,
    /// A poll is on its way: no second one until it is back.
    pub polling: bool,
    /// A poll has come back; until then the screen polls at once, after
    /// that on the sampler's ticks.
    pub fetched: bool,
}

/// The poll to ask for when the screen shows, on a tick (or at once the
/// first time), and none is on its way.
pub fn poll(app: &mut App, tick: bool) -> Vec<Effect> {
    let pane = &app.cluster;
    let due = tick || !pane.fetched;
    if app.screen != Screen::Cluster || pane.polling || pane.address.is_none() || !due {
        return Vec::new();
    }
    app.cluster.polling = true;
    vec![Effect::FetchCluster]
}

/// A poll's answer.
pub fn apply(app: &mut App, result: Result<ClusterData, String>) {
    let pane = &mut app.cluster;
    pane.polling = false;
    pane.fetched = true;
    match result {
        Ok(data) => {
            pane.data = data;
            pane.error = None;
            pane.selected = pane.selected.min(pane.data.jobs.len().saturating_sub(1));
        }
        Err(e) => pane.error = Some(e),
    }
}

pub fn on_key(app: &mut App, key: KeyEvent) -> Vec<Effect> {
    let count = app.cluster.data.jobs.len();
    match key.code {
        KeyCode::Char('q') | KeyCode::F(10) => {
            app.quit = true;
            return vec![Effect::Quit];
        }
        KeyCode::Char('?') | KeyCode::F(1) => app.overlay = Some(Overlay::Help),
        KeyCode::Esc | KeyCode::Char('C') => app.screen = Screen::Main,
        KeyCode::Up | KeyCode::Char('k') => {
            app.cluster.selected = app.cluster.selected.saturating_sub(1)
        }
        KeyCode::Down | KeyCode::Char('j') => {
            app.cluster.selected = (app.cluster.selected + 1).min(count.saturating_sub(1))
        }
        KeyCode::Char('K') | KeyCode::F(9) => {
            let job = app.cluster.data.jobs.get(app.cluster.selected);
            if let Some(id) = job.and_then(|j| j.submission_id.clone()) {
                app.overlay = Some(Overlay::Confirm(Confirm {
                    target: KillTarget::ClusterJob { id },
                    signal: SignalChoice::Term,
                }));
            }
        }
        _ => {}
    }
    Vec::new()
}
