//! cgroup v2 (unified): one hierarchy. Processes only ever live in leaves;
//! controllers are enabled in `cgroup.subtree_control` of every ancestor
//! from the delegation base down to the leaf's parent.

use std::path::{Path, PathBuf};
use std::time::Instant;

use nix::sys::signal::Signal;

use super::fs::{
    collect_pids, freeze_cgroup2, kernel_at_least, mkdir, mkdir_in_existing, read_keyed,
    read_string, read_u64, signal_pids, subdirs, thaw_cgroup2, wait_until, writable, write_file,
    FREEZE_TIMEOUT, POLL_INTERVAL,
};
use super::group::{Backend, Cgroup, Place, Placement};
use super::mountinfo::{find_cgroup2, MountEntry};
use super::types::{
    cpu_quota_us, CgroupError, Flavor, Limits, Reading, Report, Result, Usage, CFS_PERIOD_US,
};

const CONTROLLERS: [&str; 3] = ["memory", "pids", "cpu"];

#[derive(Debug, Clone)]
pub(super) struct Mount {
    /// Where our root group goes: the mount itself when we may write there
    /// (root), else the topmost writable ancestor of our own cgroup (a
    /// delegated subtree, e.g. systemd's user@UID.service).
    base: PathBuf,
    /// Controllers available at `base`.
    controllers: Vec<String>,
    notes: Vec<String>,
}

fn base_usable(dir: &Path, root: &str) -> bool {
    let top = dir.join(root);
    if top.is_dir() {
        writable(&top) && writable(&top.join("cgroup.procs"))
    } else {
        writable(dir) && writable(&dir.join("cgroup.procs"))
    }
}

/// Our own cgroup and its ancestors below the mount, outermost first.
/// `mount_root` is the hierarchy path the mount shows (not "/" when a
/// subtree is bind-mounted, e.g. in containers).
fn own_cgroup_chain(mount: &Path, mount_root: &str) -> Vec<PathBuf> {
    let Ok(text) = std::fs::read_to_string("/proc/self/cgroup") else {
        return Vec::new();
    };
    let Some(own) = text.lines().find_map(|l| l.strip_prefix("0::")) else {
        return Vec::new();
    };
    let Ok(below) = Path::new(own).strip_prefix(mount_root) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut dir = mount.to_path_buf();
    for comp in below.iter() {
        dir.push(comp);
        out.push(dir.clone());
    }
    out
}

impl Mount {
    pub(super) fn detect(mounts: &[MountEntry], root: &str) -> Result<Option<Mount>> {
        let Some(m) = find_cgroup2(mounts, false) else {
            return Ok(None);
        };
        let mount = m.mount_point.clone();
        let mut candidates = vec![mount.clone()];
        candidates.extend(own_cgroup_chain(&mount, &m.root));
        let Some(base) = candidates.into_iter().find(|c| base_usable(c, root)) else {
            return Err(CgroupError::Unavailable(format!(
                "cgroup2 at {} is not writable and no delegated subtree of our own cgroup is",
                mount.display()
            )));
        };
        let controllers_file = base.join("cgroup.controllers");
        let controllers: Vec<String> = read_string(&controllers_file)?
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let mut notes = Vec::new();
        if base != mount {
            notes.push(format!("using delegated subtree {}", base.display()));
        }
        Ok(Some(Mount {
            base,
            controllers,
            notes,
        }))
    }

    /// The hybrid cgroup2 mount as if it were a unified host.
    #[cfg(test)]
    pub(super) fn unified_for_test() -> Option<Mount> {
        let base = PathBuf::from("/sys/fs/cgroup/unified");
        base.join("cgroup.procs").exists().then(|| Mount {
            base,
            controllers: Vec::new(),
            notes: Vec::new(),
        })
    }

    pub(super) fn top(&self, root: &str) -> PathBuf {
        self.base.join(root)
    }

    fn has(&self, c: &str) -> bool {
        self.controllers.iter().any(|have| have == c)
    }

    pub(super) fn report(&self, root: &str) -> Report {
        let mut notes = self.notes.clone();
        for c in CONTROLLERS {
            if !self.has(c) {
                notes.push(format!(
                    "{c}: not in {}",
                    self.base.join("cgroup.controllers").display()
                ));
            }
        }
        let memory = self.has("memory");
        // memory.swap.max only exists in non-root groups; look at ours if
        // it exists, otherwise at any sibling that has memory enabled.
        let memory_swap = memory && {
            let top = self.top(root);
            let probe = if top.join("memory.current").exists() {
                Some(top)
            } else {
                subdirs(&self.base)
                    .unwrap_or_default()
                    .into_iter()
                    .find(|d| d.join("memory.current").exists())
            };
            match probe {
                Some(d) => d.join("memory.swap.max").exists(),
                None => {
                    notes.push("memory.swap.max not verified (no group to look at)".into());
                    true
                }
            }
        };
        let kill = kernel_at_least(5, 14);
        if !kill {
            notes.push("kernel < 5.14: no cgroup.kill, kill_all uses a freeze/kill loop".into());
        }
        Report {
            flavor: Some(Flavor::V2),
            memory,
            memory_swap,
            pids: self.has("pids"),
            cpu: self.has("cpu"),
            // cpu.stat usage_usec is part of the core, no controller needed.
            cpuacct: true,
            freezer: kernel_at_least(5, 2),
            kill,
            notes,
        }
    }

    pub(super) fn group(&self, root: &str, rel: &str) -> Cgroup {
        let place = Place::new(self.top(root), rel);
        Cgroup {
            rel: rel.to_string(),
            backend: Box::new(Group {
                dir: place.dir.clone(),
            }),
            places: vec![place],
        }
    }

    /// mkdir -p of `root/rel`, enabling the controllers in every ancestor;
    /// with `leaf_only`, a missing parent is `NotFound` instead.
    pub(super) fn create(&self, root: &str, rel: &str, leaf_only: bool) -> Result<Cgroup> {
        // The parents nearly always exist, and got their own parents'
        // controllers when they were made: only the direct parent's are
        // checked, and one mkdir made.
        let leaf = self.top(root).join(rel);
        if let Some(parent) = leaf.parent() {
            if parent.is_dir() {
                enable_controllers(parent);
            }
        }
        if mkdir_in_existing(&leaf)?.is_some() {
            return Ok(self.group(root, rel));
        }
        if leaf_only {
            return Err(CgroupError::NotFound(rel.to_string()));
        }
        let mut parent = self.base.clone();
        for comp in root.split('/').chain(rel.split('/')) {
            enable_controllers(&parent);
            parent.push(comp);
            mkdir(&parent)?;
        }
        Ok(self.group(root, rel))
    }
}

/// Best effort: a controller that cannot be enabled (e.g. the parent has
/// processes of its own) shows up later as a clear error from set_limits,
/// and only if that limit is actually requested.
fn enable_controllers(dir: &Path) {
    let available = read_string(&dir.join("cgroup.controllers")).unwrap_or_default();
    let enabled = read_string(&dir.join("cgroup.subtree_control")).unwrap_or_default();
    for c in CONTROLLERS {
        let listed = |s: &str| s.split_whitespace().any(|x| x == c);
        if listed(&available) && !listed(&enabled) {
            let _ = write_file(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
        }
    }
}

#[derive(Debug)]
struct Group {
    dir: PathBuf,
}

impl Group {
    fn file(&self, name: &str, controller: &str) -> Result<PathBuf> {
        let path = self.dir.join(name);
        if path.exists() {
            Ok(path)
        } else {
            Err(CgroupError::Unavailable(format!(
                "{controller} controller is not enabled for {} (no {name})",
                self.dir.display()
            )))
        }
    }

    fn pids(&self) -> Result<Vec<i32>> {
        let mut pids = Vec::new();
        collect_pids(&self.dir, &mut pids)?;
        Ok(pids)
    }
}

impl Backend for Group {
    fn set_limits(&self, limits: &Limits) -> Result<()> {
        if let Some(bytes) = limits.memory_bytes {
            write_file(&self.file("memory.max", "memory")?, &bytes.to_string())?;
            // Without swap accounting there is no file and nothing to limit.
            let swap = self.dir.join("memory.swap.max");
            if swap.exists() {
                write_file(&swap, "0")?;
            }
            // One OOM kill takes the whole group down, like a crash would.
            let group = self.dir.join("memory.oom.group");
            if group.exists() {
                write_file(&group, "1")?;
            }
        }
        if let Some(max) = limits.pids_max {
            write_file(&self.file("pids.max", "pids")?, &max.to_string())?;
        }
        if let Some(cores) = limits.cpu_quota_cores {
            write_file(
                &self.file("cpu.max", "cpu")?,
                &format!("{} {CFS_PERIOD_US}", cpu_quota_us(cores)),
            )?;
        }
        Ok(())
    }

    fn add_process(&self, pid: i32) -> Result<()> {
        write_file(&self.dir.join("cgroup.procs"), &pid.to_string())
    }

    fn placement(&self) -> Placement {
        Placement {
            self_join: Vec::new(),
            clone_into: Some(self.dir.clone()),
        }
    }

    fn usage(&self, reading: Reading) -> Result<Usage> {
        let opt = |wanted: bool, name: &str, f: &dyn Fn(&Path) -> Result<u64>| -> Result<u64> {
            let p = self.dir.join(name);
            if wanted && p.exists() {
                f(&p)
            } else {
                Ok(0)
            }
        };
        Ok(Usage {
            cpu_ns: read_keyed(&self.dir.join("cpu.stat"), "usage_usec")?.saturating_mul(1000),
            memory_bytes: opt(reading.memory(), "memory.current", &read_u64)?,
            peak_memory_bytes: opt(reading.peak(), "memory.peak", &read_u64)?,
            oom_kills: opt(reading.oom(), "memory.events", &|p| {
                read_keyed(p, "oom_kill")
            })?,
            pids_current: opt(reading.pids(), "pids.current", &read_u64)?,
        })
    }

    fn is_populated(&self) -> Result<bool> {
        Ok(read_keyed(&self.dir.join("cgroup.events"), "populated")? == 1)
    }

    fn kill_all(&self, deadline: Instant) -> Result<()> {
        let kill = self.dir.join("cgroup.kill");
        if kill.exists() {
            write_file(&kill, "1")?;
            wait_until(deadline, || Ok(!self.is_populated()?))?;
            return Ok(());
        }
        // Pre-5.14: freeze so nothing forks past us; v2 delivers SIGKILL to
        // frozen tasks, but thaw anyway so no one is left frozen.
        loop {
            if !self.is_populated()? || Instant::now() >= deadline {
                return Ok(());
            }
            let frozen = freeze_cgroup2(&self.dir, deadline.min(Instant::now() + FREEZE_TIMEOUT));
            let sent = self
                .pids()
                .and_then(|pids| signal_pids(&pids, Signal::SIGKILL));
            if let Some(dir) = frozen {
                thaw_cgroup2(&dir)?;
            }
            sent?;
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    fn signal_all(&self, sig: Signal) -> Result<()> {
        let frozen = freeze_cgroup2(&self.dir, Instant::now() + FREEZE_TIMEOUT);
        let sent = self.pids().and_then(|pids| signal_pids(&pids, sig));
        if let Some(dir) = frozen {
            thaw_cgroup2(&dir)?;
        }
        sent
    }
}
