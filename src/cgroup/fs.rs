//! cgroupfs file operations both flavours use: single-write files, keyed
//! reads, group walks, signals, and the cgroup2 freezer.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::{self, AccessFlags, Pid};

use super::types::{CgroupError, Result};

/// How long to wait for a freezer to settle before signalling anyway.
pub(super) const FREEZE_TIMEOUT: Duration = Duration::from_millis(500);
pub(super) const POLL_INTERVAL: Duration = Duration::from_millis(10);

pub(super) fn io_err(path: &Path, source: io::Error) -> CgroupError {
    CgroupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(super) fn read_string(path: &Path) -> Result<String> {
    crate::pseudofs::read_string(path).map_err(|e| io_err(path, e))
}

/// cgroupfs parses each write() on its own, so the value must go out in a
/// single write on a file opened without O_CREAT/O_TRUNC.
pub(super) fn write_file(path: &Path, value: &str) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    f.write_all(value.as_bytes()).map_err(|e| io_err(path, e))
}

pub(super) fn read_u64(path: &Path) -> Result<u64> {
    let text = read_string(path)?;
    text.trim().parse().map_err(|_| CgroupError::Parse {
        path: path.to_path_buf(),
        detail: format!("expected an integer, got {:?}", text.trim()),
    })
}

/// Value of `key` in a flat "key value" file such as cpu.stat or
/// memory.events; a missing key reads as 0.
pub(super) fn read_keyed(path: &Path, key: &str) -> Result<u64> {
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

pub(super) fn writable(path: &Path) -> bool {
    unistd::access(path, AccessFlags::W_OK).is_ok()
}

/// mkdir that tolerates an existing directory but never a symlink or file in
/// its place.
pub(super) fn mkdir(path: &Path) -> Result<bool> {
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
pub(super) fn mkdir_in_existing(path: &Path) -> Result<Option<bool>> {
    match mkdir(path) {
        Err(CgroupError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => Ok(None),
        other => other.map(Some),
    }
}

/// Direct subdirectories (child groups); a missing `dir` has none. Symlinks
/// are skipped: DirEntry::file_type does not follow them.
pub(super) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
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
pub(super) fn collect_pids(dir: &Path, out: &mut Vec<i32>) -> Result<()> {
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
pub(super) fn signal_pids(pids: &[i32], sig: Signal) -> Result<()> {
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
pub(super) fn remove_tree(top: &Path, dir: &Path) -> Result<()> {
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
pub(super) fn wait_until(
    deadline: Instant,
    mut cond: impl FnMut() -> Result<bool>,
) -> Result<bool> {
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

/// Kernel release >= `major.minor`, for features we cannot probe without
/// creating a group (e.g. cgroup.kill appeared in 5.14).
/// `uname`, not /proc/sys/kernel/osrelease: no file to open on every launch.
pub(super) fn kernel_at_least(major: u32, minor: u32) -> bool {
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

/// Freeze `dir` via cgroup.freeze and wait (bounded) for it to settle.
/// `None` when it was already frozen or cannot be frozen, so the caller
/// must not thaw it.
pub(super) fn freeze_cgroup2(dir: &Path, deadline: Instant) -> Option<PathBuf> {
    let file = dir.join("cgroup.freeze");
    if read_string(&file).ok()?.trim() == "1" {
        return None;
    }
    write_file(&file, "1").ok()?;
    let events = dir.join("cgroup.events");
    let _ = wait_until(deadline, || Ok(read_keyed(&events, "frozen")? == 1));
    Some(dir.to_path_buf())
}

pub(super) fn thaw_cgroup2(dir: &Path) -> Result<()> {
    write_file(&dir.join("cgroup.freeze"), "0")
}
