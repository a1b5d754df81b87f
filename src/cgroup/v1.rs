//! cgroup v1 (legacy/hybrid): one hierarchy per controller, limits through
//! the v1 files, and the controller-less cgroup2 mount (when present) only
//! for its atomic `cgroup.kill`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::sys::signal::Signal;
use nix::unistd::{self, AccessFlags};

use super::fs::{
    collect_pids, freeze_cgroup2, kernel_at_least, mkdir, mkdir_in_existing, read_keyed,
    read_string, read_u64, signal_pids, thaw_cgroup2, wait_until, writable, write_file,
    FREEZE_TIMEOUT, POLL_INTERVAL,
};
use super::group::{Backend, Cgroup, Place, Placement};
use super::mountinfo::{find_cgroup2, MountEntry};
use super::types::{
    cpu_quota_us, CgroupError, Flavor, Limits, Reading, Report, Result, Usage, CFS_PERIOD_US,
};

/// Controllers we use. cpuset is deliberately absent: creating a cpuset
/// group requires filling cpuset.cpus/mems first, and we do not need it.
const CONTROLLERS: [&str; 5] = ["memory", "pids", "cpu", "cpuacct", "freezer"];

/// Mount points of the v1 hierarchies we use (None = not mounted or not
/// writable), plus the cgroup2 mount of a hybrid setup.
#[derive(Debug, Clone)]
pub(super) struct Mounts {
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    freezer: Option<PathBuf>,
    unified: Option<PathBuf>,
    /// cpuacct and freezer hierarchies left unused because the cgroup2
    /// mount does their work (see `detect`); only tests bring them back.
    #[cfg_attr(not(test), allow(dead_code))]
    spared: (Option<PathBuf>, Option<PathBuf>),
    notes: Vec<String>,
}

/// Usable when our root group already exists and is writable (pre-created
/// and delegated by an admin), or when we may create it.
fn usable(mount: &Path, root: &str) -> bool {
    let top = mount.join(root);
    // access() of the group itself tells both whether it exists and whether
    // it is ours: one call in the common case instead of a stat first.
    match unistd::access(&top, AccessFlags::W_OK) {
        Ok(()) => writable(&top.join("cgroup.procs")),
        Err(nix::errno::Errno::ENOENT) => writable(mount),
        Err(_) => false,
    }
}

impl Mounts {
    /// `Ok(None)` when no controller we use is mounted as v1 (try v2 next).
    pub(super) fn detect(mounts: &[MountEntry], root: &str) -> Result<Option<Mounts>> {
        let find = |name: &str| {
            mounts
                .iter()
                .find(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == name))
                .map(|m| m.mount_point.clone())
        };
        if CONTROLLERS.iter().all(|c| find(c).is_none()) {
            return Ok(None);
        }
        let mut notes = Vec::new();
        let unified = find_cgroup2(mounts, true).and_then(|m| {
            if usable(&m.mount_point, root) {
                Some(m.mount_point.clone())
            } else {
                notes.push(format!(
                    "unified: {} is not writable; no cgroup.kill",
                    m.mount_point.display()
                ));
                None
            }
        });
        let mut pick = |name: &str| match find(name) {
            None => {
                notes.push(format!("{name}: no cgroup v1 hierarchy mounted"));
                None
            }
            Some(mp) if !usable(&mp, root) => {
                notes.push(format!(
                    "{name}: {} is not writable (need root or a delegated {root} group)",
                    mp.display()
                ));
                None
            }
            Some(mp) => Some(mp),
        };
        let memory = pick("memory");
        let pids = pick("pids");
        let cpu = pick("cpu");
        // A cgroup2 group accounts CPU time without any controller
        // (cpu.stat) and freezes (cgroup.freeze, Linux 5.2): with it the v1
        // cpuacct and freezer groups are redundant, and every execution is
        // spared their two mkdirs, two rmdirs and two joins.
        let (cpuacct, freezer, spared) = if unified.is_some() && kernel_at_least(5, 2) {
            (None, None, (find("cpuacct"), find("freezer")))
        } else {
            (pick("cpuacct"), pick("freezer"), (None, None))
        };
        let m = Mounts {
            memory,
            pids,
            cpu,
            cpuacct,
            freezer,
            unified,
            spared,
            notes,
        };
        if m.dirs().is_empty() {
            return Err(CgroupError::Unavailable(format!(
                "cgroup v1 is mounted but nothing is writable: {}",
                m.notes.join("; ")
            )));
        }
        Ok(Some(m))
    }

    #[cfg(test)]
    pub(super) fn cpu_mount(&self) -> Option<PathBuf> {
        self.cpu.clone()
    }

    /// Pretend there is no cgroup2 mount, to exercise the freezer path.
    #[cfg(test)]
    pub(super) fn drop_unified(&mut self) {
        self.unified = None;
        let (cpuacct, freezer) = std::mem::take(&mut self.spared);
        self.cpuacct = self.cpuacct.take().or(cpuacct);
        self.freezer = self.freezer.take().or(freezer);
    }

    /// Distinct mount points in use (co-mounted controllers share one),
    /// v1 first, unified last.
    fn dirs(&self) -> Vec<PathBuf> {
        let mut out: Vec<PathBuf> = Vec::new();
        let all = [
            &self.memory,
            &self.pids,
            &self.cpu,
            &self.cpuacct,
            &self.freezer,
            &self.unified,
        ];
        for mp in all.into_iter().flatten() {
            if !out.contains(mp) {
                out.push(mp.clone());
            }
        }
        out
    }

    pub(super) fn tops(&self, root: &str) -> Vec<PathBuf> {
        self.dirs().iter().map(|d| d.join(root)).collect()
    }

    pub(super) fn report(&self, root: &str) -> Report {
        let mut notes = self.notes.clone();
        let memory_swap = self
            .memory
            .as_ref()
            .is_some_and(|m| m.join("memory.memsw.limit_in_bytes").exists());
        if self.memory.is_some() && !memory_swap {
            notes.push(
                "memory.memsw.* missing (swapaccount off?): swap use is not limited".to_string(),
            );
        }
        if self.memory.is_some() {
            notes.push("cgroup v1 OOM kills one task, not the whole group".to_string());
        }
        let kill = self.unified.as_ref().is_some_and(|u| {
            let top = u.join(root);
            if top.is_dir() {
                top.join("cgroup.kill").exists()
            } else {
                kernel_at_least(5, 14)
            }
        });
        if !kill {
            notes.push("no cgroup.kill: kill_all uses the freeze/SIGKILL loop".to_string());
        }
        if self.cpuacct.is_none() && self.unified.is_some() {
            notes.push("cpu time read from the unified cpu.stat".to_string());
        }
        let unified_freezer = self.freezer.is_none() && self.unified.is_some();
        if unified_freezer {
            notes.push("groups frozen through the unified cgroup.freeze".to_string());
        }
        Report {
            flavor: Some(Flavor::V1Hybrid),
            memory: self.memory.is_some(),
            memory_swap,
            pids: self.pids.is_some(),
            cpu: self.cpu.is_some(),
            cpuacct: self.cpuacct.is_some() || self.unified.is_some(),
            freezer: self.freezer.is_some() || (unified_freezer && kernel_at_least(5, 2)),
            kill,
            notes,
        }
    }

    pub(super) fn group(&self, root: &str, rel: &str) -> Cgroup {
        self.group_in(root, rel, self.dirs())
    }

    /// Without a CPU quota a group needs nothing of the cpu hierarchy
    /// (unless another controller we use shares its mount): one group less
    /// to make, join and remove. The other places of such a group look for
    /// it there and find none, which they take as empty.
    fn dirs_for(&self, cpu_quota: bool) -> Vec<PathBuf> {
        let mut dirs = self.dirs();
        if !cpu_quota {
            if let Some(cpu) = &self.cpu {
                let shared = [&self.memory, &self.pids, &self.cpuacct, &self.freezer]
                    .into_iter()
                    .any(|other| other.as_ref() == Some(cpu));
                if !shared {
                    dirs.retain(|d| d != cpu);
                }
            }
        }
        dirs
    }

    /// The group `rel`, joined (and limited) through the hierarchies in
    /// `joined`, but looked for in all of them when it is walked, killed or
    /// removed: a parent may have been made without a CPU quota and a child
    /// with one.
    fn group_in(&self, root: &str, rel: &str, joined: Vec<PathBuf>) -> Cgroup {
        let at = |mp: &Option<PathBuf>| {
            mp.as_ref()
                .filter(|m| joined.contains(m))
                .map(|m| m.join(root).join(rel))
        };
        let places = self
            .dirs()
            .iter()
            .map(|d| Place::new(d.join(root), rel))
            .collect::<Vec<_>>();
        let joined = joined.iter().map(|d| d.join(root).join(rel)).collect();
        let group = Group {
            memory: at(&self.memory),
            pids: at(&self.pids),
            cpu: at(&self.cpu),
            cpuacct: at(&self.cpuacct),
            freezer: at(&self.freezer),
            unified: at(&self.unified),
            all: places.iter().map(|p| p.dir.clone()).collect(),
            joined,
        };
        Cgroup {
            rel: rel.to_string(),
            places,
            backend: Box::new(group),
        }
    }

    /// mkdir -p of `root/rel` in every hierarchy; with `leaf_only`, a
    /// missing parent is `NotFound` instead.
    pub(super) fn create(
        &self,
        root: &str,
        rel: &str,
        leaf_only: bool,
        cpu_quota: bool,
    ) -> Result<Cgroup> {
        let dirs = self.dirs_for(cpu_quota);
        for mount in dirs.iter().cloned() {
            let is_memory = self.memory.as_ref() == Some(&mount);
            let made = |dir: &Path| {
                if is_memory {
                    // Only matters on old kernels (it is always 1 since 6.x)
                    // and must happen before the group gets children;
                    // a refusal leaves the kernel default, which is fine.
                    let _ = write_file(&dir.join("memory.use_hierarchy"), "1");
                }
            };
            // The parents nearly always exist: one mkdir instead of a walk.
            let leaf = mount.join(root).join(rel);
            match mkdir_in_existing(&leaf)? {
                Some(true) => made(&leaf),
                Some(false) => {}
                None if leaf_only => return Err(CgroupError::NotFound(rel.to_string())),
                None => {
                    let mut dir = mount;
                    for comp in root.split('/').chain(rel.split('/')) {
                        dir.push(comp);
                        if mkdir(&dir)? {
                            made(&dir);
                        }
                    }
                }
            }
        }
        Ok(self.group_in(root, rel, dirs))
    }
}

/// One group's directory in each v1 hierarchy (and the unified mount).
#[derive(Debug)]
struct Group {
    memory: Option<PathBuf>,
    pids: Option<PathBuf>,
    cpu: Option<PathBuf>,
    cpuacct: Option<PathBuf>,
    freezer: Option<PathBuf>,
    unified: Option<PathBuf>,
    /// The group's directory in every hierarchy in use, for walks of
    /// cgroup.procs.
    all: Vec<PathBuf>,
    /// The directories a new member joins (`all` but for hierarchies the
    /// group was made without).
    joined: Vec<PathBuf>,
}

fn need<'a>(dir: &'a Option<PathBuf>, what: &str) -> Result<&'a Path> {
    dir.as_deref().ok_or_else(|| {
        CgroupError::Unavailable(format!("{what} controller is not available (cgroup v1)"))
    })
}

impl Group {
    fn all_pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        for dir in &self.all {
            collect_pids(dir, &mut pids)?;
        }
        pids.sort_unstable();
        pids.dedup();
        Ok(pids)
    }

    fn set_memory(&self, bytes: u64) -> Result<()> {
        let dir = need(&self.memory, "memory")?;
        let mem = dir.join("memory.limit_in_bytes");
        let memsw = dir.join("memory.memsw.limit_in_bytes");
        if !memsw.exists() {
            return write_file(&mem, &bytes.to_string());
        }
        // The kernel keeps memsw >= memory at every step, so the order of
        // the two writes depends on the direction of the change.
        let current = read_u64(&mem)?;
        let value = bytes.to_string();
        if bytes >= current {
            write_file(&memsw, &value)?;
            write_file(&mem, &value)
        } else {
            write_file(&mem, &value)?;
            // Refused (EBUSY: more than that in use, swap included): the
            // limits stay as they were, not half lowered.
            write_file(&memsw, &value).inspect_err(|_| {
                let _ = write_file(&mem, &current.to_string());
            })
        }
    }

    /// Freeze through the v1 freezer, or the unified cgroup.freeze when
    /// there is no v1 freezer. `None` when this call froze nothing (already
    /// frozen by someone else, or no freezer), so the caller must not thaw.
    fn freeze(&self, deadline: Instant) -> Option<Freeze> {
        if let Some(dir) = &self.freezer {
            let state = dir.join("freezer.state");
            if read_string(&state).is_ok_and(|s| s.trim() == "FROZEN") {
                return None;
            }
            write_file(&state, "FROZEN").ok()?;
            // FREEZING can stick (e.g. a task in uninterruptible sleep);
            // the caller signals anyway, so the wait result is ignored.
            let _ = wait_until(deadline, || {
                Ok(read_string(&state).is_ok_and(|s| s.trim() == "FROZEN"))
            });
            return Some(Freeze::V1(state));
        }
        let dir = self.unified.as_ref()?;
        freeze_cgroup2(dir, deadline).map(Freeze::V2)
    }
}

enum Freeze {
    V1(PathBuf),
    V2(PathBuf),
}

impl Freeze {
    fn thaw(self) -> Result<()> {
        match self {
            Freeze::V1(state) => write_file(&state, "THAWED"),
            Freeze::V2(dir) => thaw_cgroup2(&dir),
        }
    }
}

impl Backend for Group {
    fn set_limits(&self, limits: &Limits) -> Result<()> {
        if let Some(bytes) = limits.memory_bytes {
            self.set_memory(bytes)?;
        }
        if let Some(max) = limits.pids_max {
            let dir = need(&self.pids, "pids")?;
            write_file(&dir.join("pids.max"), &max.to_string())?;
        }
        if let Some(cores) = limits.cpu_quota_cores {
            let dir = need(&self.cpu, "cpu")?;
            write_file(&dir.join("cpu.cfs_period_us"), &CFS_PERIOD_US.to_string())?;
            write_file(
                &dir.join("cpu.cfs_quota_us"),
                &cpu_quota_us(cores).to_string(),
            )?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        let pid = pid.to_string();
        for dir in &self.joined {
            write_file(&dir.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    fn placement(&self) -> Placement {
        Placement {
            self_join: self
                .joined
                .iter()
                .filter(|dir| Some(*dir) != self.unified.as_ref())
                .map(|dir| dir.join("tasks"))
                .collect(),
            clone_into: self.unified.clone(),
        }
    }

    fn usage(&self, reading: Reading) -> Result<Usage> {
        let mut u = Usage::default();
        if let Some(dir) = &self.cpuacct {
            u.cpu_ns = read_u64(&dir.join("cpuacct.usage"))?;
        } else if let Some(dir) = &self.unified {
            // cgroup2 accounts cpu time even with no controllers enabled.
            u.cpu_ns = read_keyed(&dir.join("cpu.stat"), "usage_usec")?.saturating_mul(1000);
        }
        if let Some(dir) = &self.memory {
            if reading.memory() {
                u.memory_bytes = read_u64(&dir.join("memory.usage_in_bytes"))?;
            }
            if reading.peak() {
                u.peak_memory_bytes = read_u64(&dir.join("memory.max_usage_in_bytes"))?;
            }
            if reading.oom() {
                u.oom_kills = read_keyed(&dir.join("memory.oom_control"), "oom_kill")?;
            }
        }
        if let (Some(dir), true) = (&self.pids, reading.pids()) {
            u.pids_current = read_u64(&dir.join("pids.current"))?;
        }
        Ok(u)
    }

    fn is_populated(&self) -> Result<bool> {
        Ok(!self.all_pids()?.is_empty())
    }

    fn kill_all(&self, deadline: Instant) -> Result<()> {
        if let Some(dir) = &self.unified {
            let kill = dir.join("cgroup.kill");
            if kill.exists() && write_file(&kill, "1").is_ok() {
                // cgroup.kill only sees the unified tree; wait for the v1
                // hierarchies too, then fall back for anything not in it.
                if wait_until(deadline, || Ok(self.all_pids()?.is_empty()))? {
                    return Ok(());
                }
            }
        }
        // Freeze so nothing forks between reading cgroup.procs and the
        // kill, SIGKILL everyone, then thaw: a frozen v1 task only dies
        // once thawed.
        loop {
            if self.all_pids()?.is_empty() || Instant::now() >= deadline {
                return Ok(());
            }
            let frozen = self.freeze(deadline.min(Instant::now() + FREEZE_TIMEOUT));
            let sent = self
                .all_pids()
                .and_then(|pids| signal_pids(&pids, Signal::SIGKILL));
            if let Some(f) = frozen {
                f.thaw()?;
            }
            sent?;
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn signal_all(&self, sig: Signal) -> Result<()> {
        let frozen = self.freeze(Instant::now() + FREEZE_TIMEOUT);
        let sent = self.all_pids().and_then(|pids| signal_pids(&pids, sig));
        if let Some(f) = frozen {
            f.thaw()?;
        }
        sent
    }
}
