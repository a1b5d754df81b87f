//! Dropping every capability and setting `no_new_privs`.

use nix::errno::Errno;

/// Highest capability number the kernel knows, read from procfs (falls back to a safe upper bound).
fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(63)
}

/// `CAP_SETGID` and `CAP_SETUID` (linux/capability.h), as a mask.
pub const SETID_CAPS: u64 = (1 << 6) | (1 << 7);

/// Empty the bounding, ambient, inheritable, permitted and effective sets, so that
/// neither this process nor anything it execs (even as uid 0) holds a capability.
pub fn drop_all() -> Result<(), Errno> {
    drop_all_but(0)
}

/// [`drop_all`], except that the capabilities of `keep` stay permitted and
/// effective in this process: [`SETID_CAPS`] for the init, whose command's
/// process then changes to an unprivileged uid (which empties its sets), and
/// which itself calls [`drop_remaining`] right after. The bounding set is
/// emptied all the same, so no exec can ever regain one.
pub fn drop_all_but(keep: u64) -> Result<(), Errno> {
    for cap in 0..=last_cap() {
        // SAFETY: prctl with integer arguments; no memory is passed.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        // EINVAL: a capability this kernel does not have; nothing to drop.
        if rc != 0 && Errno::last() != Errno::EINVAL {
            return Err(Errno::last());
        }
    }
    // SAFETY: prctl with integer arguments.
    let rc = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    if rc != 0 && Errno::last() != Errno::EINVAL {
        return Err(Errno::last());
    }
    capset(keep)
}

/// Empty the permitted and effective sets that [`drop_all_but`] kept.
pub fn drop_remaining() -> Result<(), Errno> {
    capset(0)
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Effective and permitted = `keep`, inheritable empty.
fn capset(keep: u64) -> Result<(), Errno> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let word = |w: u32| CapData {
        effective: w,
        permitted: w,
        inheritable: 0,
    };
    let data = [word(keep as u32), word((keep >> 32) as u32)];
    // SAFETY: header and data are valid, correctly laid out for version 3 (two data words).
    let rc = unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// Effective capabilities of this process, as the kernel reports them in /proc/self/status.
pub fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

pub fn set_no_new_privs() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// A non-dumpable process cannot have its /proc/PID/fd opened by same-uid processes
/// without CAP_SYS_PTRACE: the command cannot reach the init's status pipe.
pub fn set_not_dumpable() -> Result<(), Errno> {
    // SAFETY: prctl with integer arguments.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    if rc != 0 {
        return Err(Errno::last());
    }
    Ok(())
}
