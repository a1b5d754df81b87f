//! Cloning the sandbox's init into new namespaces.
//!
//! Between `clone` and `execve` the child runs only async-signal-safe calls
//! (`prctl`, `dup2`, `execve`, `write`, `_exit`) on data prepared before the
//! clone; everything else happens after the exec, in a fresh process image.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::{pipe2, Pid};

use super::{SPEC_FD, STATUS_FD};

/// The argument that makes this binary run as the sandbox's init.
pub const INIT_ARG: &str = "__init";

#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{step}: {source}")]
    Sys {
        step: &'static str,
        #[source]
        source: io::Error,
    },
}

fn sys(step: &'static str) -> impl FnOnce(nix::Error) -> SpawnError {
    move |e| SpawnError::Sys {
        step,
        source: io::Error::from(e),
    }
}

pub struct SpawnOptions {
    pub user_namespace: bool,
    pub network_namespace: bool,
    /// `None`: /dev/null.
    pub stdin: Option<RawFd>,
    pub stdout: RawFd,
    pub stderr: RawFd,
}

/// A cloned init that is waiting for its spec.
pub struct InitChild {
    pub pid: Pid,
    /// Write the spec here, then drop it: the init starts when it sees EOF.
    pub spec: File,
    /// One JSON [`super::InitMessage`] per line.
    pub status: File,
}

/// Duplicate `fd` to a number >= 10 with close-on-exec, so the child's `dup2`s onto
/// 0..=4 can never clobber a source that happens to sit on one of those numbers.
fn high_fd(fd: RawFd) -> Result<OwnedFd, SpawnError> {
    // SAFETY: F_DUPFD_CLOEXEC returns a new descriptor that we alone own.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let new = fcntl(borrowed, FcntlArg::F_DUPFD_CLOEXEC(10)).map_err(sys("dup fd"))?;
    // SAFETY: `new` is a fresh descriptor returned by the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

pub fn spawn_init(options: &SpawnOptions) -> Result<InitChild, SpawnError> {
    let exe = c"/proc/self/exe";
    let arg0 = c"sandbox-tui-init";
    let arg1 = CString::new(INIT_ARG).map_err(|_| SpawnError::Sys {
        step: "argv",
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })?;
    let argv = [arg0.as_ptr(), arg1.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null::<libc::c_char>()];
    let exec_failed =
        b"{\"kind\":\"setup_error\",\"message\":\"could not execute the init (/proc/self/exe)\"}\n";

    let (spec_read, spec_write) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let (status_read, status_write) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
    let dev_null;
    let stdin_src = match options.stdin {
        Some(fd) => high_fd(fd)?,
        None => {
            dev_null = File::open("/dev/null").map_err(|source| SpawnError::Sys {
                step: "open /dev/null",
                source,
            })?;
            high_fd(dev_null.as_raw_fd())?
        }
    };
    let stdout_src = high_fd(options.stdout)?;
    let stderr_src = high_fd(options.stderr)?;
    let spec_src = high_fd(spec_read.as_raw_fd())?;
    let status_src = high_fd(status_write.as_raw_fd())?;
    let moves = [
        (stdin_src.as_raw_fd(), 0),
        (stdout_src.as_raw_fd(), 1),
        (stderr_src.as_raw_fd(), 2),
        (spec_src.as_raw_fd(), SPEC_FD),
        (status_src.as_raw_fd(), STATUS_FD),
    ];

    let mut flags =
        libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    if options.network_namespace {
        flags |= libc::CLONE_NEWNET;
    }
    if options.user_namespace {
        flags |= libc::CLONE_NEWUSER;
    }

    let pid = clone_process(flags);
    if pid == 0 {
        // Child: async-signal-safe calls only, on data prepared above.
        // SAFETY: prctl/dup2/execve/write/_exit are async-signal-safe and all
        // pointers refer to memory prepared before the clone.
        unsafe {
            // The sandbox never outlives its supervisor.
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
            for (from, to) in moves {
                if libc::dup2(from, to) < 0 {
                    libc::_exit(125);
                }
            }
            libc::execve(exe.as_ptr(), argv.as_ptr(), envp.as_ptr());
            libc::write(STATUS_FD, exec_failed.as_ptr().cast(), exec_failed.len());
            libc::_exit(125);
        }
    }
    if pid < 0 {
        return Err(SpawnError::Sys {
            step: "clone",
            source: io::Error::last_os_error(),
        });
    }
    drop((stdin_src, stdout_src, stderr_src, spec_src, status_src));
    drop((spec_read, status_write));
    Ok(InitChild {
        pid: Pid::from_raw(pid),
        spec: File::from(spec_write),
        status: File::from(status_read),
    })
}

/// `clone` without a new stack behaves like `fork` but takes namespace flags.
fn clone_process(flags: libc::c_int) -> libc::pid_t {
    // SAFETY: a raw clone with a NULL stack duplicates the calling thread like
    // fork; the supervisor is single-threaded, and the child only runs
    // async-signal-safe code before execve.
    unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        ) as libc::pid_t
    }
}

/// Map uid/gid 0 inside a new user namespace to the caller's ids outside.
pub fn write_id_maps(pid: Pid) -> io::Result<()> {
    let uid = nix::unistd::getuid();
    let gid = nix::unistd::getgid();
    let base = format!("/proc/{pid}");
    std::fs::write(format!("{base}/uid_map"), format!("0 {uid} 1\n"))?;
    // An unprivileged process must give up setgroups before it may write gid_map.
    let mut setgroups = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("{base}/setgroups"))?;
    setgroups.write_all(b"deny")?;
    std::fs::write(format!("{base}/gid_map"), format!("0 {gid} 1\n"))?;
    Ok(())
}
