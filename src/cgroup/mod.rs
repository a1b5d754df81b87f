//! cgroups: one trait, two implementations (v2 unified, v1 hybrid).
//!
//! Everything this module creates lives under one root group (the tool's
//! `cgroup_root` setting) in each hierarchy it uses; every path it writes or
//! removes is built from validated names below that root, so other users of
//! the cgroup filesystem are never touched.

mod v1;
mod v2;

use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::{self, AccessFlags, Pid};
use serde::Serialize;

/// How long `kill_all` keeps trying before giving up.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long to wait for a freezer to settle before signalling anyway.
const FREEZE_TIMEOUT: Duration = Duration::from_millis(500);
const POLL_INTERVAL: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Flavor {
    /// Pure cgroup2: one hierarchy, controllers enabled via subtree_control.
    V2,
    /// Legacy/hybrid: limits through v1 controller hierarchies, plus the
    /// controller-less cgroup2 mount (if any) for `cgroup.kill`.
    V1Hybrid,
}

/// How a new process enters a group without its parent writing its pid to
/// `cgroup.procs`. That write takes the kernel's global threadgroup lock for
/// writing, which waits for an RCU grace period: 7-10 ms per launch on these
/// machines, more than everything else a launch does.
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
/// hierarchy (30-40 us on cgroupfs), and the end of every execution waits
/// for its reading, so each asks only for what its caller uses.
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
    fn memory(self) -> bool {
        self == Reading::Live
    }

    fn pids(self) -> bool {
        self == Reading::Live
    }

    fn peak(self) -> bool {
        self == Reading::Outcome
    }

    fn oom(self) -> bool {
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

type Result<T> = std::result::Result<T, CgroupError>;

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

/// Detected cgroup mounts plus the tool's root group name.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    root: String,
    mounts: Mounts,
}

#[derive(Debug, Clone)]
enum Mounts {
    V1(v1::Mounts),
    V2(v2::Mount),
}

impl Hierarchy {
    /// Detect mounts at run time from /proc/self/mountinfo. `root` is the
    /// tool's root group name (settings.cgroup_root), e.g. "sandbox-tui".
    pub fn detect(root: &str) -> Result<Hierarchy> {
        validate_rel(root)?;
        let path = Path::new("/proc/self/mountinfo");
        let text = read_string(path)?;
        let mounts = parse_mountinfo(&text);
        let mounts = if let Some(m) = v1::Mounts::detect(&mounts, root)? {
            Mounts::V1(m)
        } else if let Some(m) = v2::Mount::detect(&mounts, root)? {
            Mounts::V2(m)
        } else {
            return Err(CgroupError::Unavailable(
                "no usable cgroup filesystem in /proc/self/mountinfo".into(),
            ));
        };
        Ok(Hierarchy {
            root: root.to_string(),
            mounts,
        })
    }

    /// The tool's root group name (`settings.cgroup_root`).
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn flavor(&self) -> Flavor {
        match self.mounts {
            Mounts::V1(_) => Flavor::V1Hybrid,
            Mounts::V2(_) => Flavor::V2,
        }
    }

    pub fn report(&self) -> Report {
        match &self.mounts {
            Mounts::V1(m) => m.report(&self.root),
            Mounts::V2(m) => m.report(&self.root),
        }
    }

    /// Create (mkdir -p, idempotent) the group `rel` (e.g. "mybox" or
    /// "mybox/a3f9c2") under the root in every hierarchy we use and apply
    /// `limits`. On v2 the needed controllers are enabled in every ancestor
    /// from the delegation base down to the parent of `rel`.
    pub fn create(&self, rel: &str, limits: &Limits) -> Result<Cgroup> {
        self.create_group(rel, limits, false)
    }

    /// As [`Hierarchy::create`], but only the last component is made: a
    /// missing parent is `NotFound`, so the caller can make the parent with
    /// its own limits (an execution's group under its sandbox's, which a
    /// reboot may have taken away).
    pub fn create_child(&self, rel: &str, limits: &Limits) -> Result<Cgroup> {
        self.create_group(rel, limits, true)
    }

    fn create_group(&self, rel: &str, limits: &Limits, leaf_only: bool) -> Result<Cgroup> {
        validate_rel(rel)?;
        let cg = match &self.mounts {
            Mounts::V1(m) => {
                m.create(&self.root, rel, leaf_only, limits.cpu_quota_cores.is_some())?
            }
            Mounts::V2(m) => m.create(&self.root, rel, leaf_only)?,
        };
        cg.set_limits(limits)?;
        Ok(cg)
    }

    /// Open an existing group. It counts as existing if its directory is
    /// present in at least one hierarchy, so half-created groups can still be
    /// opened for cleanup.
    pub fn open(&self, rel: &str) -> Result<Cgroup> {
        validate_rel(rel)?;
        let cg = self.group(rel);
        if cg.places.iter().any(|p| p.dir.is_dir()) {
            Ok(cg)
        } else {
            Err(CgroupError::NotFound(rel.to_string()))
        }
    }

    /// A group for reading, whether or not it exists (yet): a missing one
    /// has no pids. Spares the existence check of [`Hierarchy::open`] when
    /// a dashboard asks for many groups every second.
    pub fn for_reading(&self, rel: &str) -> Result<Cgroup> {
        validate_rel(rel)?;
        Ok(self.group(rel))
    }

    /// Names of child groups directly under `rel` ("" = root), for
    /// listing/recovery. Union over all hierarchies, sorted.
    pub fn children(&self, rel: &str) -> Result<Vec<String>> {
        if !rel.is_empty() {
            validate_rel(rel)?;
        }
        let mut names = Vec::new();
        for top in self.tops() {
            let dir = if rel.is_empty() { top } else { top.join(rel) };
            for sub in subdirs(&dir)? {
                if let Some(name) = sub.file_name().and_then(|n| n.to_str()) {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Remove the tool's root group in every hierarchy (bottom-up rmdir).
    /// Fails if any group below it still has processes.
    pub fn remove_root(&self) -> Result<()> {
        for top in self.tops() {
            remove_tree(&top, &top)?;
        }
        Ok(())
    }

    fn group(&self, rel: &str) -> Cgroup {
        match &self.mounts {
            Mounts::V1(m) => m.group(&self.root, rel),
            Mounts::V2(m) => m.group(&self.root, rel),
        }
    }

    /// The tool's root group directory in every hierarchy we use.
    fn tops(&self) -> Vec<PathBuf> {
        match &self.mounts {
            Mounts::V1(m) => m.tops(&self.root),
            Mounts::V2(m) => vec![m.top(&self.root)],
        }
    }
}

/// Per-flavour operations on one group. `v1::Group` and `v2::Group` are the
/// two implementations; `Cgroup` does the flavour-independent parts.
trait Backend: Send + Sync + fmt::Debug {
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
struct Place {
    top: PathBuf,
    dir: PathBuf,
}

impl Place {
    fn new(top: PathBuf, rel: &str) -> Place {
        let dir = top.join(rel);
        Place { top, dir }
    }
}

#[derive(Debug)]
pub struct Cgroup {
    rel: String,
    places: Vec<Place>,
    backend: Box<dyn Backend>,
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

/// Components of [A-Za-z0-9_.-]+, no "." or "..", no empty components.
fn validate_rel(rel: &str) -> Result<()> {
    let ok = !rel.is_empty()
        && rel.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(CgroupError::InvalidName(rel.to_string()))
    }
}

fn io_err(path: &Path, source: io::Error) -> CgroupError {
    CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn read_string(path: &Path) -> Result<String> {
    crate::pseudofs::read_string(path).map_err(|e| io_err(path, e))
}

/// cgroupfs parses each write() on its own, so the value must go out in a
/// single write on a file opened without O_CREAT/O_TRUNC.
fn write_file(path: &Path, value: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.write_all(value.as_bytes()).map_err(|e| io_err(path, e))
}

fn read_u64(path: &Path) -> Result<u64> {
    let text = read_string(path)?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        detail: format!("expected an integer, got {:?}", text.trim()),
    })
}

/// Value of `key` in a flat "key value" file such as cpu.stat or
/// memory.events; a missing key reads as 0.
fn read_keyed(path: &Path, key: &str) -> Result<u64> {
    let text = read_string(path)?;
    for line in text.lines() {
        let mut it = line.split_whitespace();
        if it.next() == Some(key) {
            let v = it.next().unwrap_or("");
            return v.parse().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                detail: format!("bad value {v:?} for {key}"),
            });
        }
    }
    Ok(0)
}

fn writable(path: &Path) -> bool {
    unistd::access(path, AccessFlags::W_OK).is_ok()
}

/// mkdir that tolerates an existing directory but never a symlink or file in
/// its place.
fn mkdir(path: &Path) -> Result<bool> {
    match fs::create_dir(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let md = fs::symlink_metadata(path).map_err(|e| io_err(path, e))?;
            if md.is_dir() {
                Ok(false)
            } else {
                Err(CgroupError::OutsideRoot(path.to_path_buf()))
            }
        }
        Err(e) => Err(io_err(path, e)),
    }
}

/// mkdir of a group whose parent should exist: `Some(true)` made,
/// `Some(false)` already there (a directory, never a symlink or file),
/// `None` when the parent is missing.
fn mkdir_in_existing(path: &Path) -> Result<Option<bool>> {
    match mkdir(path) {
        Err(CgroupError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        other => other.map(Some),
    }
}

/// Direct subdirectories (child groups); a missing `dir` has none. Symlinks
/// are skipped: DirEntry::file_type does not follow them.
fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir, e)),
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| io_err(dir, e))?;
        let ft = entry.file_type().map_err(|e| io_err(&entry.path(), e))?;
        if ft.is_dir() {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn parse_pids(path: &Path, text: &str) -> Result<Vec<i32>> {
    text.split_whitespace()
        .map(|s| {
            s.parse().map_err(|_| CgroupError::Parse {
                path: path.to_path_buf(),
                detail: format!("bad pid {s:?}"),
            })
        })
        .collect()
}

/// cgroup.procs of `dir` and all descendants. Groups vanishing mid-walk are
/// not an error: a concurrent remove is a normal race.
fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
    let procs = dir.join("cgroup.procs");
    match crate::pseudofs::read_string(&procs) {
        Ok(text) => out.extend(parse_pids(&procs, &text)?),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(&procs, e)),
    }
    for sub in subdirs(dir)? {
        collect_pids(&sub, out)?;
    }
    Ok(())
}

/// Signal each pid, skipping ones that already exited. Never signals pid
/// 0/1 or ourselves: a confused caller must not take the supervisor down.
fn signal_pids(pids: &[i32], sig: Signal) -> Result<()> {
    let me = std::process::id() as i32;
    for &pid in pids {
        if pid <= 1 || pid == me {
            continue;
        }
        match signal::kill(Pid::from_raw(pid), sig) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(source) => return Err(CgroupError::Signal { pid, source }),
        }
    }
    Ok(())
}

/// rmdir `dir` and its descendants bottom-up. `top` is the boundary: the
/// tool's root group in this hierarchy.
fn remove_tree(top: &Path, dir: &Path) -> Result<()> {
    if !dir.starts_with(top) {
        return Err(CgroupError::OutsideRoot(dir.to_path_buf()));
    }
    match fs::symlink_metadata(dir) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => return Err(CgroupError::OutsideRoot(dir.to_path_buf())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err(dir, e)),
    }
    for sub in subdirs(dir)? {
        remove_tree(top, &sub)?;
    }
    // A group whose last task just died can report EBUSY for a moment while
    // the kernel finishes tearing it down.
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline => {
                thread::sleep(POLL_INTERVAL);
            }
            Err(e) => return Err(io_err(dir, e)),
        }
    }
}

/// Poll `cond` until it holds or `deadline` passes; returns whether it held.
fn wait_until(deadline: Instant, mut cond: impl FnMut() -> Result<bool>) -> Result<bool> {
    loop {
        if cond()? {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        thread::sleep(POLL_INTERVAL);
    }
}

/// v1 cfs quota / v2 cpu.max quota for `cores`, with the kernel's 1 ms minimum.
fn cpu_quota_us(cores: f64) -> u64 {
    ((cores * v1::CFS_PERIOD_US as f64).round() as u64).max(1000)
}

/// One line of /proc/self/mountinfo, reduced to what we need.
#[derive(Debug, Clone)]
struct MountEntry {
    root: String,
    mount_point: PathBuf,
    fstype: String,
    super_opts: Vec<String>,
}

fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        // id parent maj:min root mount_point opts [optional...] - fstype source super_opts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        out.push(MountEntry {
            root: unescape_mount(left[3]),
            mount_point: PathBuf::from(unescape_mount(left[4])),
            fstype: right[0].to_string(),
            super_opts: right[2].split(',').map(str::to_string).collect(),
        });
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Kernel release >= `major.minor`, for features we cannot probe without
/// creating a group (e.g. cgroup.kill appeared in 5.14).
/// `uname`, not /proc/sys/kernel/osrelease: no file to open on every launch.
fn kernel_at_least(major: u32, minor: u32) -> bool {
    let Ok(uts) = nix::sys::utsname::uname() else {
        return false;
    };
    let rel = uts.release().to_string_lossy();
    let mut it = rel
        .trim()
        .split(|c: char| !c.is_ascii_digit())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let maj = it.next().unwrap_or(0);
    let min = it.next().unwrap_or(0);
    (maj, min) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_kernel_is_read_by_its_release() {
        assert!(kernel_at_least(3, 0));
        assert!(!kernel_at_least(999, 0));
    }
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A unique root per test, torn down even when the test panics.
    struct TestRoot {
        h: Hierarchy,
    }

    impl TestRoot {
        /// These tests write to the real cgroup filesystem: without root
        /// they are ignored (cfg sandbox_tui_root), or fail if built to run.
        fn new() -> Option<TestRoot> {
            assert!(unistd::geteuid().is_root(), "cgroup tests need root");
            let name = format!(
                "sandbox-tui-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            Some(TestRoot {
                h: Hierarchy::detect(&name).expect("detect cgroups"),
            })
        }
    }

    impl Drop for TestRoot {
        fn drop(&mut self) {
            if let Ok(names) = self.h.children("") {
                for name in names {
                    if let Ok(cg) = self.h.open(&name) {
                        let _ = cg.kill_all();
                        let _ = cg.remove();
                    }
                }
            }
            if let Err(e) = self.h.remove_root() {
                eprintln!("cleanup of test cgroup root failed: {e}");
            }
        }
    }

    /// Kills and reaps a spawned child whatever happens in the test.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn spawn(cg: &Cgroup, script: &str) -> Reaped {
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        let child = Reaped(child);
        cg.add_process(pid).expect("add_process");
        child
    }

    fn wait_exit(child: &mut Reaped, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.0.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "child did not exit in {timeout:?}"
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn alive(pid: i32) -> bool {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            // State follows the parenthesised comm, which may contain spaces.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    /// The group's directory (in whichever hierarchy) that has `file`.
    fn file_of(cg: &Cgroup, file: &str) -> PathBuf {
        cg.places
            .iter()
            .map(|p| p.dir.join(file))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no {file} in {:?}", cg.places))
    }

    fn read(cg: &Cgroup, file: &str) -> String {
        read_string(&file_of(cg, file))
            .expect("read cgroup file")
            .trim()
            .to_string()
    }

    fn v1_memory_mounted() -> bool {
        let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        parse_mountinfo(&text)
            .iter()
            .any(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == "memory"))
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn rel_validation() {
        for ok in ["a", "my-box", "box/a3f9c2", "A_b.c/d-1"] {
            assert!(validate_rel(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "a b", "ä", "a\\b",
        ] {
            assert!(
                matches!(validate_rel(bad), Err(CgroupError::InvalidName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn mountinfo_parsing() {
        let text = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
                    50 31 0:40 /x /mnt/with\\040space rw - cgroup cgroup rw,cpu,cpuacct\n\
                    garbage\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m[0].super_opts, ["rw", "memory"]);
        assert_eq!(m[1].fstype, "cgroup2");
        assert_eq!(m[2].mount_point, Path::new("/mnt/with space"));
        assert_eq!(m[2].root, "/x");
        assert_eq!(cpu_quota_us(0.5), 50_000);
        assert_eq!(cpu_quota_us(0.001), 1000);
        assert_eq!(cpu_quota_us(2.0), 200_000);
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn detect_and_report() {
        let Some(t) = TestRoot::new() else { return };
        let r = t.h.report();
        eprintln!("{r:#?}");
        if v1_memory_mounted() {
            assert_eq!(t.h.flavor(), Flavor::V1Hybrid);
            assert_eq!(r.flavor, Some(Flavor::V1Hybrid));
            assert!(r.freezer);
            assert!(r.cpuacct);
        } else {
            assert_eq!(t.h.flavor(), Flavor::V2);
        }
        assert!(r.memory && r.pids && r.cpu && r.kill, "{r:?}");
        assert!(Hierarchy::detect("../etc").is_err());
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn create_nested_with_limits_and_remove() {
        let Some(t) = TestRoot::new() else { return };
        let h = &t.h;
        let outer = h.create("box", &Limits::default()).expect("create box");
        let limits = Limits {
            memory_bytes: Some(64 * MIB),
            pids_max: Some(7),
            cpu_quota_cores: Some(0.5),
        };
        let cg = h.create("box/exec", &limits).expect("create box/exec");
        assert_eq!(cg.rel(), "box/exec");
        // Idempotent.
        h.create("box/exec", &limits).expect("create again");

        match h.flavor() {
            Flavor::V1Hybrid => {
                assert_eq!(read(&cg, "memory.limit_in_bytes"), (64 * MIB).to_string());
                assert_eq!(
                    read(&cg, "memory.memsw.limit_in_bytes"),
                    (64 * MIB).to_string()
                );
                assert_eq!(read(&cg, "cpu.cfs_period_us"), "100000");
                assert_eq!(read(&cg, "cpu.cfs_quota_us"), "50000");
                assert_eq!(read(&cg, "memory.use_hierarchy"), "1");
                // Raising and lowering both need the memsw/memory order right.
                for mib in [256, 16, 128] {
                    let l = Limits {
                        memory_bytes: Some(mib * MIB),
                        ..Limits::default()
                    };
                    cg.set_limits(&l).expect("change memory limit");
                    assert_eq!(read(&cg, "memory.limit_in_bytes"), (mib * MIB).to_string());
                    assert_eq!(
                        read(&cg, "memory.memsw.limit_in_bytes"),
                        (mib * MIB).to_string()
                    );
                }
                // Never create anything in cpuset.
                let cpuset_top = Path::new("/sys/fs/cgroup/cpuset").join(&h.root);
                assert!(!cpuset_top.exists());
            }
            Flavor::V2 => {
                assert_eq!(read(&cg, "memory.max"), (64 * MIB).to_string());
                assert_eq!(read(&cg, "memory.oom.group"), "1");
                assert_eq!(read(&cg, "cpu.max"), "50000 100000");
                let sub = read(&outer, "cgroup.subtree_control");
                assert!(sub.contains("memory") && sub.contains("pids"), "{sub}");
            }
        }
        assert_eq!(read(&cg, "pids.max"), "7");
        assert_eq!(read(&outer, "pids.max"), "max");

        assert_eq!(h.children("").expect("children"), ["box"]);
        assert_eq!(h.children("box").expect("children"), ["exec"]);
        assert!(h.children("box/exec").expect("children").is_empty());
        assert!(h.open("box/exec").is_ok());
        assert!(matches!(h.open("nope"), Err(CgroupError::NotFound(_))));
        assert!(matches!(
            h.create("box/../x", &Limits::default()),
            Err(CgroupError::InvalidName(_))
        ));

        outer.remove().expect("remove");
        outer.remove().expect("remove is idempotent");
        for p in cg.places.iter().chain(&outer.places) {
            assert!(!p.dir.exists(), "{} still exists", p.dir.display());
        }
    }

    /// A group without a CPU quota is made and joined without the cpu
    /// hierarchy (v1), yet removed from every hierarchy, including a child
    /// made with a quota; an empty group goes with one rmdir per hierarchy.
    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn groups_without_cpu_quota_skip_the_cpu_hierarchy() {
        let Some(t) = TestRoot::new() else { return };
        let h = &t.h;
        let outer = h.create("box", &Limits::default()).expect("create box");
        let Mounts::V1(m) = &h.mounts else { return };
        let Some(cpu) = m.cpu_mount() else { return };
        let cpu_dir = cpu.join(&h.root).join("box");
        assert!(!cpu_dir.exists(), "{} was made", cpu_dir.display());
        assert!(outer
            .placement()
            .self_join
            .iter()
            .all(|tasks| !tasks.starts_with(&cpu)));
        let quota = Limits {
            cpu_quota_cores: Some(0.5),
            ..Limits::default()
        };
        // Only the leaf is made: box has no group in cpu to hold it.
        assert!(matches!(
            h.create_child("box/exec", &quota),
            Err(CgroupError::NotFound(_))
        ));
        let inner = h.create("box/exec", &quota).expect("create with parents");
        assert!(cpu_dir.join("exec").is_dir());
        assert!(inner
            .placement()
            .self_join
            .iter()
            .any(|tasks| tasks.starts_with(&cpu)));
        assert!(matches!(
            h.create_child("nobox/exec", &Limits::default()),
            Err(CgroupError::NotFound(_))
        ));
        inner.kill_and_remove().expect("remove the empty child");
        assert!(!cpu_dir.join("exec").exists());
        h.create_child("box/exec", &Limits::default())
            .expect("create child");
        // The parent has a child group: rmdir refuses, the walk removes both.
        outer.kill_and_remove().expect("remove box and its child");
        for p in &outer.places {
            assert!(!p.dir.exists(), "{} still exists", p.dir.display());
        }
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn kill_all_and_remove_a_real_process() {
        let Some(t) = TestRoot::new() else { return };
        let cg = t.h.create("box/run", &Limits::default()).expect("create");
        let mut child = spawn(&cg, "exec sleep 30");
        let pid = child.0.id() as i32;
        assert_eq!(cg.pids().expect("pids"), [pid]);
        assert!(cg.is_populated().expect("populated"));
        assert!(cg.usage(Reading::Live).expect("usage").pids_current >= 1);
        let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("proc cgroup");
        let want = format!("{}/box/run", t.h.root);
        // In every hierarchy we use, including unified (0::) if present.
        let hits = own.lines().filter(|l| l.ends_with(&want)).count();
        assert!(hits >= 3, "{own}");

        cg.kill_all().expect("kill_all");
        assert!(cg.pids().expect("pids").is_empty());
        assert!(!cg.is_populated().expect("populated"));
        let st = wait_exit(&mut child, Duration::from_secs(2));
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        cg.kill_all().expect("kill_all on an empty group");

        cg.remove().expect("remove");
        for p in &cg.places {
            assert!(!p.dir.exists(), "{} still exists", p.dir.display());
        }
        // The parent stays (v1 without a CPU quota has none in cpu).
        let parents = cg.places.iter().filter(|p| p.top.join("box").exists());
        assert!(parents.count() >= 3);
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn kill_all_reaches_setsid_grandchildren() {
        let Some(t) = TestRoot::new() else { return };
        let cg = t.h.create("box", &Limits::default()).expect("create");
        // The delay makes sure the forks happen after add_process.
        let mut child = spawn(&cg, "sleep 0.3; setsid sleep 60 & sleep 60");
        let deadline = Instant::now() + Duration::from_secs(5);
        let pids = loop {
            let pids = cg.pids().expect("pids");
            if pids.len() >= 3 {
                break pids;
            }
            assert!(Instant::now() < deadline, "only {pids:?} appeared");
            thread::sleep(POLL_INTERVAL);
        };
        let start = Instant::now();
        cg.kill_all().expect("kill_all");
        eprintln!("kill_all of {} pids took {:?}", pids.len(), start.elapsed());
        assert!(!cg.is_populated().expect("populated"));
        wait_exit(&mut child, Duration::from_secs(2));
        for pid in pids {
            assert!(!alive(pid), "pid {pid} survived");
        }
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn v1_freezer_fallback_kills_a_fork_loop() {
        let Some(mut t) = TestRoot::new() else { return };
        let Mounts::V1(m) = &mut t.h.mounts else {
            return;
        };
        m.drop_unified();
        let limits = Limits {
            pids_max: Some(64),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        assert!(cg
            .places
            .iter()
            .all(|p| !p.dir.starts_with("/sys/fs/cgroup/unified")));
        let mut child = spawn(
            &cg,
            "sleep 0.2; setsid sleep 60 & while :; do sleep 5 & sh -c 'sleep 5 &'; done",
        );
        thread::sleep(Duration::from_millis(500));
        let before = cg.pids().expect("pids");
        assert!(before.len() > 3, "{before:?}");
        let start = Instant::now();
        cg.kill_all().expect("kill_all");
        eprintln!(
            "freezer kill_all of {} pids took {:?}",
            before.len(),
            start.elapsed()
        );
        assert!(cg.pids().expect("pids").is_empty());
        wait_exit(&mut child, Duration::from_secs(2));
        for pid in before {
            assert!(!alive(pid), "pid {pid} survived");
        }
        cg.remove().expect("remove");
    }

    /// The v2 backend on this hybrid machine's controller-less cgroup2
    /// mount: no limits, but groups, cgroup.kill, cgroup.freeze and cpu.stat.
    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn v2_backend_without_controllers() {
        let Some(mut t) = TestRoot::new() else { return };
        let Some(base) = v2::Mount::unified_for_test() else {
            return;
        };
        t.h.mounts = Mounts::V2(base);
        assert_eq!(t.h.flavor(), Flavor::V2);
        eprintln!("{:#?}", t.h.report());
        let cg = t.h.create("box/run", &Limits::default()).expect("create");
        let limits = Limits {
            memory_bytes: Some(64 * MIB),
            ..Limits::default()
        };
        assert!(matches!(
            cg.set_limits(&limits),
            Err(CgroupError::Unavailable(_))
        ));
        let mut child = spawn(&cg, "exec sleep 30");
        let pid = child.0.id() as i32;
        assert_eq!(cg.pids().expect("pids"), [pid]);
        assert!(cg.is_populated().expect("populated"));
        assert_eq!(t.h.children("box").expect("children"), ["run"]);
        cg.signal_all(Signal::SIGSTOP).expect("signal_all");
        assert_eq!(read(&cg, "cgroup.freeze"), "0");
        cg.kill_all().expect("kill_all");
        assert!(!cg.is_populated().expect("populated"));
        let st = wait_exit(&mut child, Duration::from_secs(2));
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        t.h.open("box").expect("open").remove().expect("remove");
        assert!(t.h.children("").expect("children").is_empty());
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn memory_limit_triggers_oom() {
        let Some(t) = TestRoot::new() else { return };
        let limits = Limits {
            memory_bytes: Some(50 * MIB),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        let mut child = spawn(
            &cg,
            r#"sleep 0.3; x=$(head -c 300000000 /dev/zero | tr "\0" a); echo survived"#,
        );
        let st = wait_exit(&mut child, Duration::from_secs(30));
        let u = cg.usage(Reading::Outcome).expect("usage");
        eprintln!("exit {st:?}, {u:?}");
        assert!(u.oom_kills >= 1, "{u:?}");
        assert!(u.peak_memory_bytes > 0, "{u:?}");
        assert!(u.peak_memory_bytes <= 51 * MIB, "{u:?}");
        assert!(!st.success());
        cg.kill_all().expect("kill_all");
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn pids_limit_makes_fork_fail() {
        let Some(t) = TestRoot::new() else { return };
        let limits = Limits {
            pids_max: Some(5),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        let child = spawn(
            &cg,
            "sleep 0.3; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; sleep 30",
        );
        thread::sleep(Duration::from_millis(1000));
        let u = cg.usage(Reading::Live).expect("usage");
        assert!(u.pids_current <= 5, "{u:?}");
        assert!(cg.pids().expect("pids").len() <= 5);
        cg.kill_all().expect("kill_all");
        let mut child = child;
        let mut stderr = String::new();
        if let Some(mut e) = child.0.stderr.take() {
            io::Read::read_to_string(&mut e, &mut stderr).expect("read stderr");
        }
        eprintln!("stderr: {stderr}");
        assert!(stderr.to_lowercase().contains("fork"), "{stderr}");
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn cpu_usage_grows_and_quota_holds() {
        let Some(t) = TestRoot::new() else { return };
        let limits = Limits {
            cpu_quota_cores: Some(0.5),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        let _child = spawn(&cg, "while :; do :; done");
        let before = cg.usage(Reading::Limits).expect("usage").cpu_ns;
        thread::sleep(Duration::from_secs(1));
        let after = cg.usage(Reading::Limits).expect("usage").cpu_ns;
        let used = after - before;
        eprintln!("busy loop used {used} ns in 1 s at 0.5 cores");
        assert!(used > 50_000_000, "{used}");
        assert!(used < 750_000_000, "{used}");
        cg.kill_all().expect("kill_all");
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn signal_all_delivers_and_thaws() {
        let Some(t) = TestRoot::new() else { return };
        let cg = t.h.create("box", &Limits::default()).expect("create");
        let mut child = spawn(&cg, "exec sleep 30");
        cg.signal_all(Signal::SIGTERM).expect("signal_all");
        let st = wait_exit(&mut child, Duration::from_secs(2));
        assert_eq!(st.signal(), Some(libc::SIGTERM));
        if let Some(p) = cg
            .places
            .iter()
            .find(|p| p.dir.join("freezer.state").exists())
        {
            let state = read_string(&p.dir.join("freezer.state")).expect("state");
            assert_eq!(state.trim(), "THAWED");
        }
        cg.remove().expect("remove");
    }
}
