//! The types both cgroup flavours share: limits asked for, usage read, errors.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use nix::errno::Errno;
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Flavor {
    /// Pure cgroup2: one hierarchy, controllers enabled via subtree_control.
    V2,
    /// Legacy/hybrid: limits through v1 controller hierarchies, plus the
    /// controller-less cgroup2 mount (if any) for `cgroup.kill`.
    V1Hybrid,
}

/// Resource limits. `None` means "do not touch": unlimited on a fresh group,
/// unchanged on an existing one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub pids_max: Option<u64>,
    pub cpu_quota_cores: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Usage {
    pub cpu_ns: u64,
    pub memory_bytes: u64,
    pub peak_memory_bytes: u64,
    pub oom_kills: u64,
    pub pids_current: u64,
}

/// Which figures of [`Usage`] a reading takes. Each is a file read in a
/// hierarchy, and the end of every execution waits for its reading, so
/// each asks only for what its caller uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// CPU time, memory and process count: a live view.
    Live,
    /// CPU time and OOM kills: what a supervisor watches its limits by.
    Limits,
    /// CPU time, peak memory and OOM kills: an execution's result.
    Outcome,
}

impl Reading {
    pub(super) fn memory(self) -> bool {
        self == Reading::Live
    }

    pub(super) fn pids(self) -> bool {
        self == Reading::Live
    }

    pub(super) fn peak(self) -> bool {
        self == Reading::Outcome
    }

    pub(super) fn oom(self) -> bool {
        self != Reading::Live
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cgroups unavailable: {0}")]
    Unavailable(String),
    #[error("invalid cgroup name {0:?}: use components of [A-Za-z0-9_.-], separated by '/'")]
    InvalidName(String),
    #[error("invalid limit: {0}")]
    InvalidLimit(String),
    #[error("cgroup {0:?} does not exist")]
    NotFound(String),
    #[error("cannot parse {}: {detail}", path.display())]
    Parse { path: PathBuf, detail: String },
    #[error("refusing to touch {} (outside the tool's cgroup root)", .0.display())]
    OutsideRoot(PathBuf),
    #[error("sending a signal to pid {pid}: {source}")]
    Signal { pid: i32, source: Errno },
    #[error("cgroup {rel:?} still has processes {pids:?} after {waited:?}")]
    Timeout {
        rel: String,
        pids: Vec<i32>,
        waited: Duration,
    },
}

pub(super) type Result<T> = std::result::Result<T, CgroupError>;

/// What is there, for `sandbox-tui doctor`: per controller available or not and why.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub flavor: Option<Flavor>,
    pub memory: bool,
    pub memory_swap: bool,
    pub pids: bool,
    pub cpu: bool,
    pub cpuacct: bool,
    pub freezer: bool,
    /// Atomic `cgroup.kill` usable.
    pub kill: bool,
    pub notes: Vec<String>,
}

/// The CFS period both flavours set (v1 `cpu.cfs_period_us`, v2 `cpu.max`).
pub(super) const CFS_PERIOD_US: u64 = 100_000;

/// v1 cfs quota / v2 cpu.max quota for `cores`, with the kernel's 1 ms minimum.
pub(super) fn cpu_quota_us(cores: f64) -> u64 {
    ((cores * CFS_PERIOD_US as f64).round() as u64).max(1000)
}
