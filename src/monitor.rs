//! Sampling: processes of a sandbox (from cgroup membership, so nothing that
//! re-parented or called `setsid` is missed), their CPU% and memory, the
//! host's figures, and short histories for charts.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::path::Path;
use std::time::Instant;

use serde::Serialize;
use sysinfo::{MemoryRefreshKind, System};

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

/// Per-process figures come straight from `/proc/PID/stat`: one read per
/// process per sample. sysinfo reads `stat`, `statm` and `status` (plus a
/// `statx`) for each, which made the dashboard cost more CPU than htop with
/// 500 processes; it still gives the host's figures.
pub struct Monitor {
    system: System,
    /// `/proc/PID/stat` files kept open between samples: the kernel
    /// regenerates one on every read from offset 0, so a sample costs one
    /// `pread` instead of open, read and close. A file whose process ended
    /// fails with ESRCH (even if its pid was reused) and is reopened.
    stat_files: HashMap<i32, File>,
    max_open_stat_files: usize,
    previous: HashMap<i32, CpuMark>,
    commands: HashMap<ProcessKey, String>,
    ticks_per_second: f64,
    page_size: u64,
    buf: Vec<u8>,
}

/// A pid's CPU time at the previous sample, for CPU%.
#[derive(Debug, Clone, Copy)]
struct CpuMark {
    start_ticks: u64,
    cpu_ticks: u64,
    at: Instant,
}

/// A process, not just a pid (pids are recycled), and its name, which
/// changes when it execs another program.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ProcessKey {
    pid: i32,
    start_ticks: u64,
    name: String,
}

/// The fields of `/proc/PID/stat` the dashboard shows.
#[derive(Debug, Clone, PartialEq)]
struct Stat {
    name: String,
    state: char,
    ppid: i32,
    cpu_ticks: u64,
    threads: u64,
    start_ticks: u64,
    rss_pages: u64,
}

/// How many stat files to keep open: a quarter of the soft descriptor
/// limit, so that the dashboard's other files never run short.
fn stat_file_budget() -> usize {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| (soft / 4).min(16_384) as usize)
        .unwrap_or(0)
}

/// The whole of a one-record /proc file from offset 0.
fn pread_record(file: &File, buf: &mut Vec<u8>) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    buf.clear();
    let mut chunk = [0u8; 4096];
    let mut offset = 0;
    loop {
        let n = file.read_at(&mut chunk, offset)?;
        buf.extend_from_slice(&chunk[..n]);
        if n < chunk.len() {
            return Ok(());
        }
        offset += n as u64;
    }
}

/// Parse `/proc/PID/stat`. The name is in parentheses and may itself hold
/// spaces, parentheses or bytes that are not UTF-8, so the fields start
/// after the last ')'.
fn parse_stat(stat: &[u8]) -> Option<Stat> {
    let open = stat.iter().position(|&b| b == b'(')?;
    let close = stat.iter().rposition(|&b| b == b')')?;
    let name = String::from_utf8_lossy(stat.get(open + 1..close)?).into_owned();
    let rest = std::str::from_utf8(stat.get(close + 1..)?).ok()?;
    // proc(5) numbers the fields from 1; state is field 3.
    let mut fields = rest
        .split_ascii_whitespace()
        .enumerate()
        .map(|(i, f)| (i + 3, f));
    let mut next = |wanted: usize| fields.find(|(n, _)| *n == wanted).map(|(_, f)| f);
    let state = next(3)?.chars().next()?;
    let ppid = next(4)?.parse().ok()?;
    let utime: u64 = next(14)?.parse().ok()?;
    let stime: u64 = next(15)?.parse().ok()?;
    let threads = next(20)?.parse().ok()?;
    let start_ticks = next(22)?.parse().ok()?;
    let rss_pages = next(24)?.parse().ok()?;
    Some(Stat {
        name,
        state,
        ppid,
        cpu_ticks: utime.saturating_add(stime),
        threads,
        start_ticks,
        rss_pages,
    })
}

impl Monitor {
    pub fn new() -> Result<Monitor, MonitorError> {
        let system = System::new().map_err(|e| MonitorError(e.to_string()))?;
        let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|t| *t > 0)
            .unwrap_or(100);
        let page_size = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .filter(|p| *p > 0)
            .unwrap_or(4096);
        Ok(Monitor {
            system,
            stat_files: HashMap::new(),
            max_open_stat_files: stat_file_budget(),
            previous: HashMap::new(),
            commands: HashMap::new(),
            ticks_per_second: ticks as f64,
            page_size: page_size as u64,
            buf: Vec::with_capacity(4096),
        })
    }

    /// Sample just these pids and return those still alive. CPU% is over
    /// the time since the previous sample of the same process; its first
    /// sample reads 0. Only these pids are remembered for the next one.
    pub fn sample(&mut self, pids: &[i32]) -> Vec<ProcessInfo> {
        let now = Instant::now();
        let mut marks = HashMap::with_capacity(pids.len());
        let mut commands = HashMap::with_capacity(pids.len());
        let mut out = Vec::with_capacity(pids.len());
        for &pid in pids {
            if !self.read_stat(pid) {
                continue;
            }
            let Some(stat) = parse_stat(&self.buf) else {
                continue;
            };
            let cpu_percent = match self.previous.get(&pid) {
                Some(prev) if prev.start_ticks == stat.start_ticks => {
                    let seconds = now.duration_since(prev.at).as_secs_f64();
                    let used = stat.cpu_ticks.saturating_sub(prev.cpu_ticks) as f64
                        / self.ticks_per_second;
                    if seconds > 0.0 {
                        (used / seconds * 100.0) as f32
                    } else {
                        0.0
                    }
                }
                _ => 0.0,
            };
            marks.insert(
                pid,
                CpuMark {
                    start_ticks: stat.start_ticks,
                    cpu_ticks: stat.cpu_ticks,
                    at: now,
                },
            );
            let key = ProcessKey {
                pid,
                start_ticks: stat.start_ticks,
                name: stat.name.clone(),
            };
            let (command, complete) = match self.commands.remove(&key) {
                Some(command) => (command, true),
                None => match self.command_line(pid) {
                    Some(command) => (command, true),
                    // A zombie, or a process caught in the middle of an exec
                    // (its new name set, its new arguments not yet): the
                    // name for now, and another look next time.
                    None => (stat.name.clone(), false),
                },
            };
            out.push(ProcessInfo {
                pid,
                ppid: (stat.ppid > 0).then_some(stat.ppid),
                command: command.clone(),
                state: stat.state.to_string(),
                cpu_percent,
                cpu_ms: (stat.cpu_ticks as f64 * 1000.0 / self.ticks_per_second) as u64,
                rss_bytes: stat.rss_pages.saturating_mul(self.page_size),
                threads: stat.threads,
            });
            if complete {
                commands.insert(key, command);
            }
        }
        self.previous = marks;
        self.commands = commands;
        self.stat_files
            .retain(|pid, _| self.previous.contains_key(pid));
        out
    }

    /// `/proc/PID/stat` into `self.buf`, through a kept-open file when possible.
    fn read_stat(&mut self, pid: i32) -> bool {
        if let Some(file) = self.stat_files.get(&pid) {
            if pread_record(file, &mut self.buf).is_ok() {
                return true;
            }
            self.stat_files.remove(&pid);
        }
        let Ok(file) = File::open(format!("/proc/{pid}/stat")) else {
            return false;
        };
        if pread_record(&file, &mut self.buf).is_err() {
            return false;
        }
        if self.stat_files.len() < self.max_open_stat_files {
            self.stat_files.insert(pid, file);
        }
        true
    }

    /// The command line; `None` for a process that has none (a zombie, one
    /// in the middle of an exec, one that cleared it).
    fn command_line(&mut self, pid: i32) -> Option<String> {
        let path = format!("/proc/{pid}/cmdline");
        if crate::pseudofs::read_into(Path::new(&path), &mut self.buf).is_err()
            || self.buf.iter().all(|b| *b == 0)
        {
            return None;
        }
        Some(
            self.buf
                .split(|b| *b == 0)
                .filter(|arg| !arg.is_empty())
                .map(String::from_utf8_lossy)
                .collect::<Vec<_>>()
                .join(" "),
        )
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
    tree_order_by(procs, |a, b| a.pid.cmp(&b.pid))
}

/// [`tree_order`] with siblings (and roots) in the order of `siblings`.
pub fn tree_order_by(
    procs: &[ProcessInfo],
    siblings: impl Fn(&ProcessInfo, &ProcessInfo) -> std::cmp::Ordering,
) -> Vec<(usize, usize)> {
    let index: HashMap<i32, usize> = procs.iter().enumerate().map(|(i, p)| (p.pid, i)).collect();
    let mut children: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    let mut roots = Vec::new();
    for (i, p) in procs.iter().enumerate() {
        match p.ppid.filter(|pp| index.contains_key(pp) && *pp != p.pid) {
            Some(parent) => children.entry(parent).or_default().push(i),
            None => roots.push(i),
        }
    }
    roots.sort_by(|a, b| siblings(&procs[*a], &procs[*b]));
    for list in children.values_mut() {
        list.sort_by(|a, b| siblings(&procs[*a], &procs[*b]));
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
    fn stat_names_may_hold_spaces_and_parentheses() {
        let line = "4242 (a (b) c) R 17 4242 4242 0 -1 4194560 100 0 0 0 \
                    250 50 0 0 20 0 3 0 123456 10000000 321 18446744073709551615";
        let stat = parse_stat(line.as_bytes()).expect("parses");
        assert_eq!(stat.name, "a (b) c");
        assert_eq!(stat.state, 'R');
        assert_eq!(stat.ppid, 17);
        assert_eq!(stat.cpu_ticks, 300);
        assert_eq!(stat.threads, 3);
        assert_eq!(stat.start_ticks, 123456);
        assert_eq!(stat.rss_pages, 321);
        assert_eq!(parse_stat(b"4242 (truncated"), None);
    }

    #[test]
    fn a_busy_process_shows_cpu_and_its_command_line() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done", "busy-marker"])
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        let mut monitor = Monitor::new().expect("monitor");
        monitor.sample(&[pid]);
        std::thread::sleep(std::time::Duration::from_millis(300));
        let sample = monitor.sample(&[pid]);
        let _ = child.kill();
        let _ = child.wait();
        // Its kept-open stat file now fails: it is gone, not stale.
        assert!(monitor.sample(&[pid]).is_empty());
        assert!(monitor.stat_files.is_empty());
        assert_eq!(sample.len(), 1);
        assert!(sample[0].cpu_percent > 1.0, "{:?}", sample[0]);
        assert_eq!(sample[0].state, "R");
        assert_eq!(sample[0].command, "sh -c while :; do :; done busy-marker");
        assert_eq!(sample[0].ppid, Some(std::process::id() as i32));
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
