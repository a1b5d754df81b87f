//! Landlock: confine filesystem writes (and optionally TCP) of the sandboxed
//! command, independently of mount namespaces.
//!
//! Even if a bind mount is accidentally writable, or a path leaks in through
//! /proc, Landlock still refuses writes outside the declared writable paths.
//! The ruleset handles every filesystem right of the best ABI the kernel
//! offers, then grants read+execute beneath the read-only roots, full access
//! beneath the writable paths and write access to a few harmless device nodes.

use std::io;
use std::path::{Path, PathBuf};

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, NetPort, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use serde::Serialize;

/// Device nodes that ordinary programs expect to open for writing.
pub const DEFAULT_DEVICES: &[&str] = &[
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/tty",
    "/dev/random",
    "/dev/urandom",
];

/// What the sandboxed command may touch. Paths are as seen inside the sandbox.
#[derive(Debug, Clone, Serialize)]
pub struct LandlockPlan {
    /// Full access (read, write, create, remove, rename) beneath each path.
    pub writable: Vec<PathBuf>,
    /// Read and execute beneath each path; usually just "/".
    pub read_only_roots: Vec<PathBuf>,
    /// Device nodes that may additionally be opened for writing.
    pub devices: Vec<PathBuf>,
    /// Also deny TCP bind/connect (defence in depth behind the net namespace).
    pub block_network_tcp: bool,
    /// With `block_network_tcp`: TCP ports that may still be connected to
    /// (the loopback bridge to the network proxy).
    pub connect_tcp_ports: Vec<u16>,
    /// Directories holding Unix sockets that may be connected to (needed
    /// from ABI 9, which handles `connect` on pathname sockets).
    pub unix_socket_dirs: Vec<PathBuf>,
}

impl LandlockPlan {
    /// Read-only "/", [`DEFAULT_DEVICES`], and the given writable paths.
    pub fn with_defaults(writable: Vec<PathBuf>, block_network_tcp: bool) -> Self {
        Self {
            writable,
            read_only_roots: vec![PathBuf::from("/")],
            devices: DEFAULT_DEVICES.iter().map(PathBuf::from).collect(),
            block_network_tcp,
            connect_tcp_ports: Vec::new(),
            unix_socket_dirs: Vec::new(),
        }
    }
}

/// How much of the plan the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LandlockOutcome {
    /// Everything this module asks for is enforced (kernel ABI >= 6).
    Full,
    /// Enforced, but an older ABI lacks some rights: e.g. truncate (v3),
    /// TCP (v4), device ioctl (v5) or signal/abstract-socket scoping (v6).
    Partial,
    /// The kernel has no usable Landlock; nothing is enforced.
    NotSupported,
}

#[derive(Debug, thiserror::Error)]
pub enum LandlockError {
    #[error("landlock: cannot inspect {path}: {source}")]
    Path { path: PathBuf, source: io::Error },
    #[error("landlock: cannot open {path}: {source}")]
    Open {
        path: PathBuf,
        source: landlock::PathFdError,
    },
    #[error("landlock ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    #[error("landlock: cannot set no_new_privs: {0}")]
    NoNewPrivs(nix::errno::Errno),
}

/// `LANDLOCK_CREATE_RULESET_VERSION` from linux/landlock.h.
const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;

/// The best Landlock ABI version the running kernel supports, 0 if none
/// (not built in, or disabled at boot).
pub fn kernel_abi() -> i32 {
    // SAFETY: with a NULL attr and size 0 and the VERSION flag the kernel
    // reads no memory and only returns a number.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if v < 0 {
        0
    } else {
        i32::try_from(v).unwrap_or(i32::MAX)
    }
}

/// Restrict the calling process (and everything it later execs or forks).
///
/// Called in the sandbox's command process after pivot_root and before
/// seccomp. Paths that do not exist are skipped; any other problem opening a
/// path is an error, so the caller never runs with a silently thinner policy
/// than planned. Always leaves no_new_privs set.
pub fn restrict_self(plan: &LandlockPlan) -> Result<LandlockOutcome, LandlockError> {
    // The crate discourages picking the ABI from the running kernel because
    // the policy then varies between machines. Here that is the point: use
    // every right the kernel can enforce and report the level reached via
    // the outcome (and `doctor` shows `kernel_abi()`).
    let abi = ABI::from(kernel_abi());
    if abi == ABI::Unsupported {
        nix::sys::prctl::set_no_new_privs().map_err(LandlockError::NoNewPrivs)?;
        return Ok(LandlockOutcome::NotSupported);
    }

    let fs_all = AccessFs::from_all(abi);
    let fs_file = AccessFs::from_file(abi);
    let read_exec = AccessFs::from_read(abi);
    // Truncate matters for `: > /dev/null` style opens with O_TRUNC; the
    // intersection drops rights this ABI does not know.
    let device_access =
        (AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev)
            & fs_file;

    let mut ruleset = Ruleset::default().handle_access(fs_all)?;
    let handle_tcp = plan.block_network_tcp && abi >= ABI::V4;
    if handle_tcp {
        // Only the NetPort rules below: every other TCP bind/connect is
        // refused. Only TCP is handled on purpose; UDP rights (newer ABIs)
        // are left to the netns.
        ruleset = ruleset.handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?;
    }
    if abi >= ABI::V6 {
        // Keep the sandbox from signalling, or reaching abstract unix
        // sockets of, processes outside its Landlock domain.
        ruleset = ruleset.scope(Scope::Signal | Scope::AbstractUnixSocket)?;
    }
    let mut created = ruleset.create()?;

    for root in &plan.read_only_roots {
        if let Some(rule) = rule_for(root, read_exec, fs_file)? {
            created = created.add_rule(rule)?;
        }
    }
    for dir in &plan.writable {
        if let Some(rule) = rule_for(dir, fs_all, fs_file)? {
            created = created.add_rule(rule)?;
        }
    }
    for dev in &plan.devices {
        if let Some(rule) = rule_for(dev, device_access, fs_file)? {
            created = created.add_rule(rule)?;
        }
    }
    // Empty below ABI 9, and then rule_for adds nothing: connect is not handled.
    let resolve_unix = fs_all & AccessFs::ResolveUnix;
    for dir in &plan.unix_socket_dirs {
        if let Some(rule) = rule_for(dir, resolve_unix, fs_file)? {
            created = created.add_rule(rule)?;
        }
    }
    if handle_tcp {
        for port in &plan.connect_tcp_ports {
            created = created.add_rule(NetPort::new(*port, AccessNet::ConnectTcp))?;
        }
    }

    let status = created.restrict_self()?;
    if !status.no_new_privs {
        nix::sys::prctl::set_no_new_privs().map_err(LandlockError::NoNewPrivs)?;
    }
    Ok(match status.ruleset {
        RulesetStatus::NotEnforced => LandlockOutcome::NotSupported,
        RulesetStatus::PartiallyEnforced => LandlockOutcome::Partial,
        RulesetStatus::FullyEnforced if abi < ABI::V6 => LandlockOutcome::Partial,
        RulesetStatus::FullyEnforced => LandlockOutcome::Full,
    })
}

/// A path-beneath rule for `path`, or `None` if it does not exist.
/// Non-directories only accept file rights, so `access` is narrowed to
/// `file_rights` for them (the kernel rejects directory rights on files).
fn rule_for(
    path: &Path,
    access: BitFlags<AccessFs>,
    file_rights: BitFlags<AccessFs>,
) -> Result<Option<PathBeneath<PathFd>>, LandlockError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LandlockError::Path {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let access = if meta.is_dir() {
        access
    } else {
        access & file_rights
    };
    if access.is_empty() {
        return Ok(None);
    }
    let fd = PathFd::new(path).map_err(|source| LandlockError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Some(PathBeneath::new(fd, access)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    #[test]
    fn kernel_has_landlock() {
        assert!(kernel_abi() >= 1, "kernel_abi() = {}", kernel_abi());
    }

    fn plan_for(dir: &Path) -> LandlockPlan {
        LandlockPlan::with_defaults(
            vec![dir.to_path_buf(), "/nonexistent-writable".into()],
            true,
        )
    }

    fn cpath(p: &Path) -> CString {
        CString::new(p.as_os_str().as_bytes()).expect("no NUL in temp path")
    }

    /// 0 if `open(path, flags)` fails with `want` (0 = must succeed).
    fn open_probe(path: &CString, flags: libc::c_int, want: i32) -> i32 {
        // SAFETY: `path` is a valid NUL-terminated string.
        let fd = unsafe { libc::open(path.as_ptr(), flags, 0o644) };
        if fd >= 0 {
            // SAFETY: closing the fd we just opened.
            unsafe { libc::close(fd) };
            return if want == 0 { 0 } else { 1 };
        }
        let e = nix::errno::Errno::last_raw();
        if e == want {
            0
        } else {
            e
        }
    }

    /// 0 if a TCP connect to localhost is refused by Landlock (EACCES), or
    /// if the ABI cannot filter TCP at all.
    fn tcp_probe(abi: i32) -> i32 {
        if abi < 4 {
            return 0;
        }
        // SAFETY: plain socket/connect/close on a local sockaddr_in.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return nix::errno::Errno::last_raw();
            }
            let addr = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 1u16.to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_be_bytes([127, 0, 0, 1]).to_be(),
                },
                sin_zero: [0; 8],
            };
            let rc = libc::connect(
                fd,
                (&addr as *const libc::sockaddr_in).cast(),
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            );
            let e = nix::errno::Errno::last_raw();
            libc::close(fd);
            match (rc, e) {
                (-1, libc::EACCES) => 0,
                (-1, e) => e,
                _ => 1,
            }
        }
    }

    /// Exact errno checks inside the restricted child: the pre_exec closure
    /// restricts itself, runs the probes and `_exit`s with the first failing
    /// probe's code, so exec never happens.
    #[test]
    fn writes_confined_to_writable_paths() {
        let allowed = tempfile::tempdir().expect("tempdir");
        let denied = tempfile::tempdir().expect("tempdir");
        let plan = plan_for(allowed.path());
        let ok_file = cpath(&allowed.path().join("inside"));
        let bad_file = cpath(&denied.path().join("outside"));
        let hostname = cpath(Path::new("/etc/hostname"));
        let devnull = cpath(Path::new("/dev/null"));
        let create = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC;
        let abi = kernel_abi();
        let want_outcome = if abi >= 6 {
            LandlockOutcome::Full
        } else {
            LandlockOutcome::Partial
        };

        let mut cmd = Command::new("/bin/true");
        // SAFETY: the closure runs between fork and exec; it allocates
        // (tolerated in tests: glibc's malloc is fork-safe) and ends in _exit.
        unsafe {
            cmd.pre_exec(move || {
                let code = match restrict_self(&plan) {
                    Ok(LandlockOutcome::NotSupported) => 2,
                    Err(_) => 3,
                    Ok(o) if o != want_outcome => 4,
                    Ok(_) => {
                        let probes = [
                            (10, open_probe(&ok_file, create, 0)),
                            (20, open_probe(&bad_file, create, libc::EACCES)),
                            (30, open_probe(&hostname, libc::O_RDONLY, 0)),
                            (40, open_probe(&devnull, create, 0)),
                            (50, tcp_probe(abi)),
                        ];
                        probes
                            .iter()
                            .find(|(_, r)| *r != 0)
                            .map_or(0, |(base, _)| *base)
                    }
                };
                libc::_exit(code)
            });
        }
        let status = cmd.status().expect("spawn");
        assert_eq!(status.code(), Some(0), "{status:?}");
        assert!(allowed.path().join("inside").exists());
        assert!(!denied.path().join("outside").exists());
    }

    /// The same policy with a real exec'd shell: executing binaries under "/"
    /// works and the confinement survives execve.
    #[test]
    fn shell_under_landlock() {
        let allowed = tempfile::tempdir().expect("tempdir");
        let denied = tempfile::tempdir().expect("tempdir");
        let plan = plan_for(allowed.path());
        let script = r#"
            set -u
            echo hello > "$A/f" || exit 10
            cat /etc/hostname > /dev/null || exit 11
            echo nope > /dev/null || exit 12
            if echo x 2>/dev/null > "$B/f"; then exit 13; fi
            mkdir "$A/d" && rm -r "$A/d" || exit 14
            if mkdir "$B/d" 2>/dev/null; then exit 15; fi
            echo x > "$B/f"
        "#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .env("A", allowed.path())
            .env("B", denied.path())
            .stdin(Stdio::null());
        // SAFETY: see writes_confined_to_writable_paths.
        unsafe {
            cmd.pre_exec(move || {
                restrict_self(&plan)
                    .map(drop)
                    .map_err(|e| io::Error::other(e.to_string()))
            });
        }
        let out = cmd.output().expect("spawn sh");
        let stderr = String::from_utf8_lossy(&out.stderr);
        // Only the last command may fail, and the shell reports EACCES for it.
        let code = out.status.code();
        assert!(
            matches!(code, Some(c) if c != 0 && !(10..=15).contains(&c)),
            "exit {:?}: {stderr}",
            out.status
        );
        assert!(stderr.contains("Permission denied"), "{stderr}");
        assert_eq!(
            std::fs::read_to_string(allowed.path().join("f")).expect("written"),
            "hello\n"
        );
    }

    #[test]
    fn plan_serializes() {
        let plan = LandlockPlan::with_defaults(vec!["/work".into()], false);
        let v = serde_json::to_value(&plan).expect("serialize");
        assert_eq!(v["read_only_roots"][0], "/");
        assert_eq!(
            serde_json::to_value(LandlockOutcome::Partial).expect("serialize"),
            "Partial"
        );
    }
}
