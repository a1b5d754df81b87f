//! One group in every hierarchy it lives in: the flavour-independent
//! parts of `Cgroup` over a per-flavour [`Backend`].

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::fs::{collect_pids, io_err, remove_tree, signal_pids, write_file, POLL_INTERVAL};
use super::types::{CgroupError, Limits, Reading, Result, Usage};

/// How long `kill_all` keeps trying before giving up.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);

/// How a new process enters a group without its parent writing its pid to
/// `cgroup.procs`. That write takes the kernel's global threadgroup lock for
/// writing, which waits for an RCU grace period: longer than everything
/// else a launch does.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Placement {
    /// v1 `tasks` files. A single-threaded child that writes "0" to each
    /// moves only itself, which the kernel does without the global lock.
    pub self_join: Vec<PathBuf>,
    /// The cgroup2 directory, for `clone3(CLONE_INTO_CGROUP)`: the child is
    /// born inside it.
    pub clone_into: Option<PathBuf>,
}

impl Placement {
    /// The fallback where `clone3` is missing: the parent writes the pid
    /// into the cgroup2 group (the v1 groups the child still joins itself).
    pub fn add_to_cgroup2_by_parent(&self, pid: i32) -> Result<()> {
        match &self.clone_into {
            Some(dir) => write_file(&dir.join("cgroup.procs"), &pid.to_string()),
            None => Ok(()),
        }
    }
}

/// Per-flavour operations on one group. `v1::Group` and `v2::Group` are the
/// two implementations; `Cgroup` does the flavour-independent parts.
pub(super) trait Backend: Send + Sync + fmt::Debug {
    fn set_limits(&self, limits: &Limits) -> Result<()>;
    fn add_process(&self, pid: i32) -> Result<()>;
    fn placement(&self) -> Placement;
    fn usage(&self, reading: Reading) -> Result<Usage>;
    fn is_populated(&self) -> Result<bool>;
    /// Try to empty the group before `deadline`; the caller verifies.
    fn kill_all(&self, deadline: Instant) -> Result<()>;
    fn signal_all(&self, sig: Signal) -> Result<()>;
}

/// One directory of a group in one hierarchy, with the tool's root group in
/// that hierarchy as the boundary nothing may escape.
#[derive(Debug, Clone)]
pub(super) struct Place {
    pub(super) top: PathBuf,
    pub(super) dir: PathBuf,
}

impl Place {
    pub(super) fn new(top: PathBuf, rel: &str) -> Place {
        let dir = top.join(rel);
        Place { top, dir }
    }
}

#[derive(Debug)]
pub struct Cgroup {
    pub(super) rel: String,
    pub(super) places: Vec<Place>,
    pub(super) backend: Box<dyn Backend>,
}

impl Cgroup {
    pub fn rel(&self) -> &str {
        &self.rel
    }

    pub fn set_limits(&self, limits: &Limits) -> Result<()> {
        if let Some(cores) = limits.cpu_quota_cores {
            if !cores.is_finite() || cores <= 0.0 {
                return Err(CgroupError::InvalidLimit(format!(
                    "cpu quota must be a positive number of cores, got {cores}"
                )));
            }
        }
        self.backend.set_limits(limits)
    }

    /// Write pid into cgroup.procs of every hierarchy (v1: each controller
    /// dir + the unified dir if present).
    pub fn add_process(&self, pid: i32) -> Result<()> {
        self.backend.add_process(pid)
    }

    /// How a child being spawned can place itself here (see [`Placement`]).
    pub fn placement(&self) -> Placement {
        self.backend.placement()
    }

    /// All pids in this group and its descendants, over every hierarchy
    /// (so a partially added process still shows up). Deduplicated, sorted.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        for place in &self.places {
            collect_pids(&place.dir, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// The pids of this group and its descendants as one hierarchy lists
    /// them: cheap enough for a dashboard to ask every second for every
    /// sandbox. All hierarchies hold the same processes but for the moment
    /// a new child takes to join them all; it is born in the cgroup2 group,
    /// so that one is read where it exists. Killing uses [`Cgroup::pids`].
    pub fn member_pids(&self) -> Result<Vec<i32>> {
        let placement = self.backend.placement();
        let dir = placement.clone_into.or_else(|| {
            placement
                .self_join
                .first()
                .and_then(|tasks| tasks.parent().map(Path::to_path_buf))
        });
        let Some(dir) = dir else {
            return self.pids();
        };
        let mut pids = Vec::new();
        collect_pids(&dir, &mut pids)?;
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    /// The figures of [`Usage`] that `reading` names; the others read 0.
    pub fn usage(&self, reading: Reading) -> Result<Usage> {
        self.backend.usage(reading)
    }

    pub fn is_populated(&self) -> Result<bool> {
        self.backend.is_populated()
    }

    /// Kill everything in the group and its descendants and return once it
    /// is empty, or fail with `Timeout` after about two seconds.
    pub fn kill_all(&self) -> Result<()> {
        // The common case at the end of an execution: already empty, and
        // nothing can fork into a group that has no member.
        if self.pids()?.is_empty() {
            return Ok(());
        }
        let start = Instant::now();
        let deadline = start + KILL_TIMEOUT;
        self.backend.kill_all(deadline)?;
        // The backend may have stopped early (e.g. cgroup.kill without
        // waiting); the guarantee is "empty in every hierarchy", so check
        // that here and finish stragglers with plain SIGKILL.
        loop {
            let pids = self.pids()?;
            if pids.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(CgroupError::Timeout {
                    rel: self.rel.clone(),
                    pids,
                    waited: start.elapsed(),
                });
            }
            signal_pids(&pids, Signal::SIGKILL)?;
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// Send one signal to every process in the group, freezing it first
    /// where possible so nothing forks past the signal.
    pub fn signal_all(&self, sig: Signal) -> Result<()> {
        self.backend.signal_all(sig)
    }

    /// Kill everything in the group, then remove it ([`Cgroup::kill_all`],
    /// [`Cgroup::remove`]). The common case, a group already empty and
    /// without children, costs one rmdir per hierarchy: the kernel refuses
    /// (EBUSY) to remove a group that still has a process or a child group,
    /// and only then is the group walked, killed and removed bottom-up.
    pub fn kill_and_remove(&self) -> Result<()> {
        let mut all_gone = true;
        for place in &self.places {
            match fs::remove_dir(&place.dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    all_gone = false;
                    break;
                }
                Err(e) => return Err(io_err(&place.dir, e)),
            }
        }
        if all_gone {
            return Ok(());
        }
        self.kill_all()?;
        self.remove()
    }

    /// Remove the group and its descendants bottom-up with rmdir only. The
    /// group must be free of processes (call `kill_all` first). Missing
    /// directories are fine.
    pub fn remove(&self) -> Result<()> {
        for place in &self.places {
            remove_tree(&place.top, &place.dir)?;
        }
        Ok(())
    }
}
