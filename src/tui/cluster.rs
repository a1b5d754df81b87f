//! The Cluster screen's state and keys (`C`): the nodes and jobs of the
//! Ray cluster given with `--cluster` (docs/ray.md), polled by the worker
//! each tick while the screen shows, and a stop of a job, confirmed.

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

/// ↑/↓: the previous or next job.
pub fn move_selection(app: &mut App, sign: i64) {
    let last = app.cluster.data.jobs.len().saturating_sub(1);
    app.cluster.selected = if sign > 0 {
        (app.cluster.selected + 1).min(last)
    } else {
        app.cluster.selected.saturating_sub(1)
    };
}

/// K: stop the selected job, once confirmed.
pub fn confirm_stop(app: &mut App) {
    let job = app.cluster.data.jobs.get(app.cluster.selected);
    if let Some(id) = job.and_then(|j| j.submission_id.clone()) {
        app.overlay = Some(Overlay::Confirm(Confirm {
            target: KillTarget::ClusterJob { id },
            signal: SignalChoice::Term,
        }));
    }
}
