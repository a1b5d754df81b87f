//! Cloning the sandbox's init into new namespaces.
//!
//! Between `clone` and `execve` the child runs only async-signal-safe calls
//! (`prctl`, `dup2`, `execveat`/`execve`, `write`, `_exit`) on data prepared
//! before the clone; everything else happens after the exec, in a fresh
//! process image: the small `sandbox-tui-init` beside this binary, or this
//! binary as `__init` where that is missing.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{fcntl, FcntlArg, OFlag};
use nix::unistd::{pipe2, Pid};

use super::{RESULT_FD, SPEC_FD, STATUS_FD};

/// The argument that makes this binary run as the sandbox's init.
pub const INIT_ARG: &str = "__init";

/// The init as an executable of its own, installed beside this one (Cargo
/// builds and installs both). It is a fifth of this binary's size with a
/// seventh of its relocations, and every launch waits for it to start, so
/// the smaller executable's start-up is the launch's gain.
pub const INIT_BINARY: &str = "sandbox-tui-init";

/// The small init beside the running executable, opened for `execveat`;
/// `None` when it is not there (then this binary runs as `__init`).
fn open_init_binary() -> Option<OwnedFd> {
    let exe = std::fs::read_link("/proc/self/exe").ok()?;
    let path = exe.with_file_name(INIT_BINARY);
    let fd = nix::fcntl::open(
        &path,
        OFlag::O_PATH | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    // Only a regular file: execveat of anything else fails in the child,
    // where the error could only be reported as "could not execute".
    let stat = nix::sys::stat::fstat(&fd).ok()?;
    let regular = nix::sys::stat::SFlag::from_bits_truncate(stat.st_mode)
        & nix::sys::stat::SFlag::S_IFMT
        == nix::sys::stat::SFlag::S_IFREG;
    regular.then_some(fd)
}

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
    /// Where a spare network namespace may wait ([`super::netns`]): taken
    /// instead of cloning a new one, when running as root.
    pub network_spare_dir: Option<PathBuf>,
    /// `None`: /dev/null.
    pub stdin: Option<RawFd>,
    pub stdout: RawFd,
    pub stderr: RawFd,
    /// A Python job's result pipe (write end), passed on as [`RESULT_FD`].
    pub result: Option<RawFd>,
    /// Cgroup v1 `tasks` files the child writes "0" to before it execs.
    pub join_cgroups: Vec<PathBuf>,
    /// A cgroup2 directory to clone the child into (`CLONE_INTO_CGROUP`).
    pub clone_into_cgroup: Option<PathBuf>,
}

/// A cloned init that is waiting for its spec.
pub struct InitChild {
    pub pid: Pid,
    /// The control socket: the framed spec, then the go-ahead (see
    /// [`super::GO_AHEAD`]). Send with `MSG_NOSIGNAL`: a dead init must not
    /// raise SIGPIPE in the supervisor, which reads its signals.
    pub spec: std::os::unix::net::UnixStream,
    /// One JSON [`super::InitMessage`] per line.
    pub status: File,
    /// False when `clone_into_cgroup` was asked for but the kernel has no
    /// `clone3`: the caller must then place the child itself.
    pub born_in_cgroup: bool,
    /// The mount of the spare network namespace the child joined, for the
    /// caller to remove off the launch's path ([`super::netns::start_making`]).
    pub claimed_network: Option<super::netns::ClaimedMount>,
}

/// Duplicate `fd` to a number >= 10 with close-on-exec, so the child's `dup2`s onto
/// 0..=5 can never clobber a source that happens to sit on one of those numbers.
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
    // Above the numbers the child dup2s onto, like every source it uses.
    let init_binary = open_init_binary().and_then(|fd| high_fd(fd.as_raw_fd()).ok());
    let envp = [std::ptr::null::<libc::c_char>()];
    let exec_failed =
        b"{\"kind\":\"setup_error\",\"message\":\"could not execute the init (/proc/self/exe)\"}\n";
    let join_failed =
        b"{\"kind\":\"setup_error\",\"message\":\"could not join the execution's cgroup\"}\n";
    let network_failed =
        b"{\"kind\":\"setup_error\",\"message\":\"could not join the spare network namespace\"}\n";
    let join_paths = options
        .join_cgroups
        .iter()
        .map(|path| c_path(path))
        .collect::<Result<Vec<_>, _>>()?;
    let joins: Vec<*const libc::c_char> = join_paths.iter().map(|p| p.as_ptr()).collect();
    let cgroup_dir = match &options.clone_into_cgroup {
        Some(dir) => Some(open_dir(dir)?),
        None => None,
    };

    // A socket, not a pipe, so the supervisor can send with MSG_NOSIGNAL.
    let (spec_write, spec_read) =
        std::os::unix::net::UnixStream::pair().map_err(|source| SpawnError::Sys {
            step: "socketpair",
            source,
        })?;
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
    let result_src = options.result.map(high_fd).transpose()?;
    // A plain command gets no result pipe: -1 is skipped by the child.
    let moves = [
        (stdin_src.as_raw_fd(), 0),
        (stdout_src.as_raw_fd(), 1),
        (stderr_src.as_raw_fd(), 2),
        (spec_src.as_raw_fd(), SPEC_FD),
        (status_src.as_raw_fd(), STATUS_FD),
        (
            result_src.as_ref().map_or(-1, |fd| fd.as_raw_fd()),
            RESULT_FD,
        ),
    ];

    let mut flags =
        libc::CLONE_NEWPID | libc::CLONE_NEWNS | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS;
    // In a user namespace of its own the child could not join a namespace
    // made outside it (setns needs CAP_SYS_ADMIN where it was made).
    let spare_network = match (&options.network_spare_dir, options.user_namespace) {
        (Some(dir), false) if options.network_namespace => super::netns::claim(dir),
        _ => None,
    };
    // Above the numbers the child dup2s onto, as every source it uses.
    let spare_network = spare_network.and_then(|ns| Some((high_fd(ns.as_raw_fd()).ok()?, ns)));
    if options.network_namespace && spare_network.is_none() {
        flags |= libc::CLONE_NEWNET;
    }
    if options.user_namespace {
        flags |= libc::CLONE_NEWUSER;
    }

    // In a new user namespace the child must not exec before its id maps
    // exist: an exec by an unmapped uid drops every capability, and the init
    // needs them (inside its namespace) to build the sandbox.
    let (go_read, go_write) = if options.user_namespace {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(sys("pipe"))?;
        (Some(r), Some(w))
    } else {
        (None, None)
    };
    let plan = ChildPlan {
        moves,
        exe: exe.as_ptr(),
        exe_fd: init_binary.as_ref().map(|fd| fd.as_raw_fd()).unwrap_or(-1),
        argv: argv.as_ptr(),
        envp: envp.as_ptr(),
        exec_failed,
        wait_fd: go_read.as_ref().map(|fd| fd.as_raw_fd()).unwrap_or(-1),
        joins: &joins,
        join_failed,
        network_fd: spare_network.as_ref().map_or(-1, |(fd, _)| fd.as_raw_fd()),
        network_failed,
    };
    let mut born_in_cgroup = false;
    let mut pid = -1;
    if let Some(dir) = &cgroup_dir {
        // Without CLONE_VM: clone3 cannot run a function on a new stack the
        // way clone(2) does, so the child gets its own copy, as with fork.
        // Nor CLONE_VFORK: the child needs nothing more of our memory, and
        // while it execs the init we compile the spec it then reads.
        match clone3_fork(flags, dir.as_raw_fd(), &plan) {
            Ok(child) => {
                pid = child;
                born_in_cgroup = true;
            }
            Err(e) if clone3_missing(&e) => {}
            Err(source) => {
                return Err(SpawnError::Sys {
                    step: "clone3 into the cgroup",
                    source,
                })
            }
        }
    }
    if !born_in_cgroup {
        pid = if options.user_namespace {
            clone_waiting(flags, &plan)
        } else {
            clone_vfork(flags, &plan)
        };
    }
    if pid < 0 {
        return Err(SpawnError::Sys {
            step: "clone",
            source: io::Error::last_os_error(),
        });
    }
    let claimed_network = spare_network.map(|(fd, ns)| {
        drop(fd);
        ns.into_mount()
    });
    drop((cgroup_dir, init_binary));
    drop((
        stdin_src, stdout_src, stderr_src, spec_src, status_src, result_src, go_read,
    ));
    if let Some(go) = go_write {
        let child = Pid::from_raw(pid);
        let released = write_id_maps(child).and_then(|()| File::from(go).write_all(b"1"));
        if let Err(source) = released {
            let _ = nix::sys::signal::kill(child, nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(child, None);
            return Err(SpawnError::Sys {
                step: "user namespace id maps",
                source,
            });
        }
    }
    drop((spec_read, status_write));
    Ok(InitChild {
        pid: Pid::from_raw(pid),
        spec: spec_write,
        status: File::from(status_read),
        born_in_cgroup,
        claimed_network,
    })
}

fn c_path(path: &Path) -> Result<CString, SpawnError> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| SpawnError::Sys {
        step: "cgroup path",
        source: io::Error::from(io::ErrorKind::InvalidInput),
    })
}

fn open_dir(dir: &Path) -> Result<OwnedFd, SpawnError> {
    nix::fcntl::open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(sys("open the cgroup2 directory"))
}

/// Kernels before 5.7 know no `CLONE_INTO_CGROUP` (EINVAL, or E2BIG for
/// the longer argument struct), before 5.3 no `clone3` (ENOSYS).
fn clone3_missing(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(libc::ENOSYS | libc::E2BIG | libc::EINVAL)
    )
}

/// What the cloned child needs; everything is prepared before the clone.
struct ChildPlan<'a> {
    /// (from, to); a `from` of -1 is skipped.
    moves: [(RawFd, RawFd); 6],
    /// Used when `exe_fd` is -1.
    exe: *const libc::c_char,
    /// The small init (`INIT_BINARY`), run with `execveat(AT_EMPTY_PATH)`.
    exe_fd: RawFd,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    exec_failed: &'a [u8],
    /// When >= 0: block reading one byte from it before exec (see spawn_init).
    wait_fd: RawFd,
    /// NUL-terminated paths of cgroup v1 `tasks` files to write "0" to.
    joins: &'a [*const libc::c_char],
    join_failed: &'a [u8],
    /// When >= 0: a network namespace to join instead of a cloned one.
    network_fd: RawFd,
    network_failed: &'a [u8],
}

/// The cloned child: async-signal-safe calls only, on data prepared before
/// the clone, until `execve` replaces it with the init.
extern "C" fn child_main(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: `arg` points at the ChildPlan that clone_vfork keeps alive
    // until this child has exec'd or exited (CLONE_VFORK suspends the parent).
    let plan = unsafe { &*(arg as *const ChildPlan) };
    // SAFETY: prctl/dup2/close_range/setsid/sigprocmask/execve(at)/write/_exit are async-signal-safe
    // and every pointer refers to memory prepared before the clone.
    unsafe {
        // The sandbox never outlives its supervisor.
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        );
        if plan.wait_fd >= 0 {
            let mut byte = 0u8;
            if libc::read(plan.wait_fd, (&mut byte as *mut u8).cast(), 1) != 1 {
                libc::_exit(125);
            }
        }
        for (from, to) in plan.moves {
            if from >= 0 && libc::dup2(from, to) < 0 {
                libc::_exit(125);
            }
        }
        // Nothing else of the supervisor's reaches the init: not a
        // descriptor its caller left open (a terminal, say), nor the
        // caller's session, whose controlling terminal /dev/tty would open.
        // A Python job's result pipe is the one descriptor above them kept.
        let has_result = plan
            .moves
            .iter()
            .any(|&(from, to)| to == RESULT_FD && from >= 0);
        let last_kept = if has_result {
            RESULT_FD
        } else {
            SPEC_FD.max(STATUS_FD)
        };
        libc::syscall(
            libc::SYS_close_range,
            (last_kept + 1) as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
        libc::setsid();
        if plan.network_fd >= 0 && libc::setns(plan.network_fd, libc::CLONE_NEWNET) != 0 {
            libc::write(
                STATUS_FD,
                plan.network_failed.as_ptr().cast(),
                plan.network_failed.len(),
            );
            libc::_exit(125);
        }
        // Into the execution's cgroups before the init runs, and so before
        // anything of the user's. "0" moves only the calling thread, which
        // for this single-threaded child is the whole process.
        for &path in plan.joins {
            let fd = libc::open(path, libc::O_WRONLY | libc::O_CLOEXEC);
            let joined = fd >= 0 && libc::write(fd, b"0".as_ptr().cast(), 1) == 1;
            if fd >= 0 {
                libc::close(fd);
            }
            if !joined {
                libc::write(
                    STATUS_FD,
                    plan.join_failed.as_ptr().cast(),
                    plan.join_failed.len(),
                );
                libc::_exit(125);
            }
        }
        // The init starts with nothing blocked; it blocks what it waits for itself.
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        if plan.exe_fd >= 0 {
            libc::syscall(
                libc::SYS_execveat,
                plan.exe_fd,
                c"".as_ptr(),
                plan.argv,
                plan.envp,
                libc::AT_EMPTY_PATH,
            );
        }
        libc::execve(plan.exe, plan.argv, plan.envp);
        libc::write(
            STATUS_FD,
            plan.exec_failed.as_ptr().cast(),
            plan.exec_failed.len(),
        );
        libc::_exit(125)
    }
}

const CHILD_STACK_BYTES: usize = 64 * 1024;

/// `clone` into new namespaces the way posix_spawn does it: the child shares
/// our memory (no page tables to copy) and we sleep until it has exec'd.
fn clone_vfork(flags: libc::c_int, plan: &ChildPlan) -> libc::pid_t {
    let mut stack = vec![0u8; CHILD_STACK_BYTES];
    // Stacks grow down on every architecture we support; keep 16-byte alignment.
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK_BYTES) & !0xf;
    // No signal handler of ours may run on the child's borrowed stack.
    let pid = with_signals_blocked(|| {
        // SAFETY: the stack and the plan outlive the child's use of them: with
        // CLONE_VFORK this call returns only after the child exec'd or exited.
        unsafe {
            libc::clone(
                child_main,
                top as *mut libc::c_void,
                flags | libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                plan as *const ChildPlan as *mut libc::c_void,
            )
        }
    });
    drop(stack);
    pid
}

/// Run `f` with every signal blocked, then restore the mask: no handler of
/// ours may run in a child that borrows or copies our memory before it execs
/// (the child resets its own mask).
fn with_signals_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: plain sigset manipulation on locals.
    let mut all: libc::sigset_t = unsafe { std::mem::zeroed() };
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointers to local sigsets.
    unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
    }
    let out = f();
    // SAFETY: restoring our own mask.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
    }
    out
}

/// A fork-like clone (own copy of memory) for the user-namespace case, where
/// the child waits for its id maps and a vfork-style clone would deadlock.
fn clone_waiting(flags: libc::c_int, plan: &ChildPlan) -> libc::pid_t {
    let mut stack = vec![0u8; CHILD_STACK_BYTES];
    let top = (stack.as_mut_ptr() as usize + CHILD_STACK_BYTES) & !0xf;
    // SAFETY: without CLONE_VM the child runs on its own copy of `stack` and
    // `plan`; the supervisor is single-threaded, and the child only runs
    // async-signal-safe code before execve.
    let pid = unsafe {
        libc::clone(
            child_main,
            top as *mut libc::c_void,
            flags | libc::SIGCHLD,
            plan as *const ChildPlan as *mut libc::c_void,
        )
    };
    drop(stack);
    pid
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// `struct clone_args` of linux/sched.h, up to `cgroup` (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// A fork-like `clone3` that creates the child inside the cgroup2 group
/// `cgroup_fd`. It returns at once; the child execs the init on its own
/// (or first waits for its id maps).
fn clone3_fork(flags: libc::c_int, cgroup_fd: RawFd, plan: &ChildPlan) -> io::Result<libc::pid_t> {
    let mut args = CloneArgs {
        flags: flags as u64 | CLONE_INTO_CGROUP,
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cgroup_fd as u64,
        ..CloneArgs::default()
    };
    // No handler of ours may run in the child before its exec.
    with_signals_blocked(|| {
        // SAFETY: clone3 with stack 0 and no CLONE_VM returns twice like fork;
        // the child runs only child_main (async-signal-safe, it execs or exits)
        // on its own copy of our memory.
        let pid = unsafe {
            libc::syscall(
                libc::SYS_clone3,
                &mut args as *mut CloneArgs,
                std::mem::size_of::<CloneArgs>(),
            )
        };
        if pid == 0 {
            child_main(plan as *const ChildPlan as *mut libc::c_void);
            // SAFETY: _exit is async-signal-safe; child_main does not return.
            unsafe { libc::_exit(125) };
        }
        if pid < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(pid as libc::pid_t)
        }
    })
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
