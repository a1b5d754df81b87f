//! Resource limits of the sandboxed command.

use nix::sys::resource::{getrlimit, setrlimit, Resource};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimits {
    pub file_size_bytes: u64,
    pub open_files: u64,
    pub cpu_seconds: u64,
    /// Address-space cap, only used when no memory cgroup is available.
    pub address_space_bytes: Option<u64>,
}

/// Signals queued to the sandbox's processes at once (`RLIMIT_SIGPENDING`):
/// the kernel counts them per uid, here the sandbox's own. Set, never
/// inherited from whoever started the tool.
pub const SIGPENDING: u64 = 1024;

/// Bytes of POSIX message queues (`RLIMIT_MSGQUEUE`), per uid: the kernel's
/// own default for a new user (800 KiB).
pub const MSGQUEUE_BYTES: u64 = 819_200;

/// A limit that could not be applied as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clamped {
    pub resource: &'static str,
    pub asked: u64,
    pub applied: u64,
}

/// Lower the limits. Root on these machines lacks CAP_SYS_RESOURCE, so a limit can
/// only go down: anything above the current hard limit is clamped to it and reported.
pub fn apply(limits: &Rlimits) -> Result<Vec<Clamped>, nix::Error> {
    let mut clamped = Vec::new();
    let mut set = |resource: Resource, name: &'static str, soft: u64, hard: u64| {
        let (_, current_hard) = getrlimit(resource)?;
        let hard_applied = hard.min(current_hard);
        let soft_applied = soft.min(hard_applied);
        if soft_applied < soft {
            clamped.push(Clamped {
                resource: name,
                asked: soft,
                applied: soft_applied,
            });
        }
        setrlimit(resource, soft_applied, hard_applied)
    };
    set(
        Resource::RLIMIT_FSIZE,
        "file_size",
        limits.file_size_bytes,
        limits.file_size_bytes,
    )?;
    set(
        Resource::RLIMIT_NOFILE,
        "open_files",
        limits.open_files,
        limits.open_files,
    )?;
    // The soft limit sends SIGXCPU so the command is told; one second later the hard limit kills it.
    set(
        Resource::RLIMIT_CPU,
        "cpu",
        limits.cpu_seconds,
        limits.cpu_seconds.saturating_add(1),
    )?;
    set(Resource::RLIMIT_CORE, "core", 0, 0)?;
    if let Some(bytes) = limits.address_space_bytes {
        set(Resource::RLIMIT_AS, "address_space", bytes, bytes)?;
    }
    // No real-time scheduling and no raising of priority (a nice value
    // below 20 - 0 = 20 is out of reach), whatever the host gave root.
    set(Resource::RLIMIT_RTPRIO, "rtprio", 0, 0)?;
    set(Resource::RLIMIT_NICE, "nice", 0, 0)?;
    // A host that allows less is stricter still: not a degradation.
    for (resource, value) in [
        (Resource::RLIMIT_SIGPENDING, SIGPENDING),
        (Resource::RLIMIT_MSGQUEUE, MSGQUEUE_BYTES),
    ] {
        let (_, hard) = getrlimit(resource)?;
        let value = value.min(hard);
        setrlimit(resource, value, value)?;
    }
    Ok(clamped)
}
