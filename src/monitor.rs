//! Sampling: processes of a sandbox (from cgroup membership, so nothing that
//! re-parented or called `setsid` is missed), their CPU% and memory, the
//! host's figures, and short histories for charts.

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde::Serialize;
use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProcessInfo {
    pub pid: i32,
    pub ppid: Option<i32>,
    pub command: String,
    pub state: String,
    /// 100 = one full core, as in htop.
    pub cpu_percent: f32,
    pub cpu_ms: u64,
    pub rss_bytes: u64,
    pub threads: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct HostInfo {
    pub cpu_percent: f32,
    pub cpus: usize,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("process sampling is not available: {0}")]
pub struct MonitorError(String);

pub struct Monitor {
    system: System,
}

fn refresh_kind() -> ProcessRefreshKind {
    // Threads would appear as processes otherwise.
    ProcessRefreshKind::nothing()
        .with_cpu()
        .with_memory()
        .with_cmd(UpdateKind::OnlyIfNotSet)
        .without_tasks()
}

/// Number of threads, from /proc/PID/stat (field 20), which sysinfo does not give without tasks.
fn thread_count(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            after.split_whitespace().nth(17)?.parse().ok()
        })
        .unwrap_or(1)
}

impl Monitor {
    pub fn new() -> Result<Monitor, MonitorError> {
        let system = System::new().map_err(|e| MonitorError(e.to_string()))?;
        Ok(Monitor { system })
    }

    /// Refresh just these pids (a full scan costs ~50 us per process on the
    /// host) and return those still alive. CPU% is relative to the previous
    /// sample of the same pid; the first sample of a pid reads 0.
    pub fn sample(&mut self, pids: &[i32]) -> Vec<ProcessInfo> {
        let wanted: Vec<Pid> = pids.iter().map(|p| Pid::from(*p as usize)).collect();
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::Some(&wanted),
            true,
            refresh_kind(),
        );
        let mut out = Vec::with_capacity(wanted.len());
        for pid in &wanted {
            let Some(process) = self.system.process(*pid) else {
                continue;
            };
            let command = if process.cmd().is_empty() {
                process.name().to_string_lossy().into_owned()
            } else {
                process
                    .cmd()
                    .iter()
                    .map(|a| a.to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(" ")
            };
            let raw = pid.as_u32() as i32;
            out.push(ProcessInfo {
                pid: raw,
                ppid: process.parent().map(|p| p.as_u32() as i32),
                command,
                state: process.status().to_string(),
                cpu_percent: process.cpu_usage(),
                cpu_ms: process.accumulated_cpu_time(),
                rss_bytes: process.memory(),
                threads: thread_count(raw),
            });
        }
        out
    }

    pub fn host(&mut self) -> HostInfo {
        self.system.refresh_cpu_usage();
        self.system
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        HostInfo {
            cpu_percent: self.system.global_cpu_usage(),
            cpus: self.system.cpus().len(),
            memory_used_bytes: self.system.used_memory(),
            memory_total_bytes: self.system.total_memory(),
        }
    }
}

/// Order processes as an indented tree: parents before children, siblings by
/// pid. A process whose parent is not in the set is a root (the sandbox's
/// init, or anything that re-parented). Returns (depth, index into `procs`).
pub fn tree_order(procs: &[ProcessInfo]) -> Vec<(usize, usize)> {
    let index: HashMap<i32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let mut children: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        match p.ppid.filter(|pp| index.contains_key(pp) && *pp != p.pid) {
            Some(parent) => children.entry(parent).or_default().push(i),
            None => roots.push(i),
        }
    }
    roots.sort_by_key(|i| procs[*i].pid);
    for list in children.values_mut() {
        list.sort_by_key(|i| procs[*i].pid);
    }
    let mut out = Vec::with_capacity(procs.len());
    let mut stack: Vec<(usize, usize)> = roots.into_iter().rev().map(|i| (0, i)).collect();
    let mut seen = vec![false; procs.len()];
    while let Some((depth, i)) = stack.pop() {
        if std::mem::replace(&mut seen[i], true) {
            continue;
        }
        out.push((depth, i));
        if let Some(kids) = children.get(&procs[i].pid) {
            for k in kids.iter().rev() {
                stack.push((depth + 1, *k));
            }
        }
    }
    out
}

/// A fixed-length history of samples for the charts.
#[derive(Debug, Clone, Default)]
pub struct History {
    capacity: usize,
    points: VecDeque<u64>,
}

impl History {
    pub fn new(capacity: usize) -> History {
        History {
            capacity,
            points: VecDeque::with_capacity(capacity),
        }
    }

    pub fn push(&mut self, value: u64) {
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(value);
    }

    pub fn values(&self) -> Vec<u64> {
        self.points.iter().copied().collect()
    }

    pub fn last(&self) -> Option<u64> {
        self.points.back().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc_info(pid: i32, ppid: Option<i32>) -> ProcessInfo {
        ProcessInfo {
            pid,
            ppid,
            command: format!("p{pid}"),
            state: "S".into(),
            cpu_percent: 0.0,
            cpu_ms: 0,
            rss_bytes: 0,
            threads: 1,
        }
    }

    #[test]
    fn tree_orders_parents_first_and_keeps_orphans() {
        let procs = vec![
            proc_info(30, Some(10)),
            proc_info(10, Some(1)),
            proc_info(20, Some(10)),
            proc_info(99, Some(5)),
            proc_info(40, Some(20)),
        ];
        let order: Vec<(usize, i32)> = tree_order(&procs)
            .into_iter()
            .map(|(d, i)| (d, procs[i].pid))
            .collect();
        assert_eq!(order, vec![(0, 10), (1, 20), (2, 40), (1, 30), (0, 99)]);
    }

    #[test]
    fn samples_our_own_process() {
        let mut monitor = Monitor::new().expect("monitor");
        let me = std::process::id() as i32;
        let sample = monitor.sample(&[me, 999_999_999]);
        assert_eq!(sample.len(), 1);
        assert_eq!(sample[0].pid, me);
        assert!(sample[0].rss_bytes > 0);
        assert!(sample[0].threads >= 1);
    }

    #[test]
    fn history_is_bounded() {
        let mut h = History::new(3);
        for v in 0..10 {
            h.push(v);
        }
        assert_eq!(h.values(), vec![7, 8, 9]);
    }
}
