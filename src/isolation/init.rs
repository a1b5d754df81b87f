//! The sandbox's pid 1: builds the sandbox, execs the command in a child,
//! reaps zombies, forwards signals from outside, and reports how the command
//! ended. When it exits the kernel kills everything left in the pid namespace.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{unshare, CloneFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::bridge::Bridge;
use super::landlock::{self, LandlockOutcome, LandlockPlan};
use super::{
    caps, mounts, rlimits, seccomp, InitMessage, SandboxSpec, COMMAND_RESULT_FD, DEFAULT_PATH,
    GO_AHEAD, MAX_SPEC_BYTES, RESULT_FD, SPEC_FD, STATUS_FD,
};

/// Signals passed on to the command when they come from outside the sandbox.
const FORWARDED: &[Signal] = &[
    Signal::SIGTERM,
    Signal::SIGINT,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGCONT,
    Signal::SIGWINCH,
];

struct Reporter {
    status: File,
}

impl Reporter {
    fn send(&mut self, message: &InitMessage) {
        if let Ok(mut line) = serde_json::to_vec(message) {
            line.push(b'\n');
            // The supervisor may be gone; there is nobody else to tell.
            let _ = self.status.write_all(&line);
        }
    }
}

/// Entry point of `sandbox-tui __init`. Returns the process exit code.
pub fn main() -> i32 {
    // SAFETY: the supervisor dup2'd the status pipe onto STATUS_FD before exec; we own it.
    let status = unsafe { File::from_raw_fd(STATUS_FD) };
    let mut reporter = Reporter { status };
    // The command must inherit only stdin, stdout and stderr (and a Python
    // job's result pipe, handed over on purpose in `run`): above all not the
    // status pipe, through which it could otherwise forge its own end.
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on our own descriptors.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        );
    }
    // SAFETY: likewise for the control socket on SPEC_FD.
    let mut control = unsafe { File::from_raw_fd(SPEC_FD) };
    let raw = match read_spec(&mut control) {
        Ok(raw) => raw,
        Err(e) => {
            reporter.send(&InitMessage::SetupError {
                message: format!("reading the sandbox spec: {e}"),
            });
            return 125;
        }
    };
    let spec: SandboxSpec = match serde_json::from_slice(&raw) {
        Ok(spec) => spec,
        Err(e) => {
            reporter.send(&InitMessage::SetupError {
                message: format!("bad sandbox spec: {e}"),
            });
            return 125;
        }
    };
    match prepare(&spec, &mut reporter) {
        Ok(prepared) => {
            // Everything is built: wait for the supervisor's go-ahead.
            let mut go = [0u8; 1];
            match control.read(&mut go) {
                Ok(1) if go[0] == GO_AHEAD => {}
                _ => {
                    reporter.send(&InitMessage::SetupError {
                        message: "the supervisor did not start the command".into(),
                    });
                    return 125;
                }
            }
            drop(control);
            run(prepared, &mut reporter)
        }
        Err(message) => {
            reporter.send(&InitMessage::SetupError { message });
            125
        }
    }
}

/// The spec's length (8 bytes, little-endian), then that many bytes of JSON.
fn read_spec(control: &mut File) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 8];
    control.read_exact(&mut len)?;
    let len = u64::from_le_bytes(len);
    if len > MAX_SPEC_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("a spec of {len} bytes"),
        ));
    }
    let mut raw = vec![0u8; len as usize];
    control.read_exact(&mut raw)?;
    Ok(raw)
}

struct Prepared {
    path: CString,
    argv: Vec<CString>,
    envp: Vec<CString>,
    bridge: Option<Bridge>,
    result_pipe: bool,
    /// The uid and gid the command takes before its exec.
    uid: Option<u32>,
}

fn degrade(
    spec: &SandboxSpec,
    reporter: &mut Reporter,
    mechanism: &str,
    reason: String,
) -> Result<(), String> {
    if spec.require_isolation {
        return Err(format!(
            "{mechanism} is not available ({reason}) and the profile requires full isolation"
        ));
    }
    reporter.send(&InitMessage::Degraded {
        mechanism: mechanism.to_string(),
        reason,
    });
    Ok(())
}

fn prepare(spec: &SandboxSpec, reporter: &mut Reporter) -> Result<Prepared, String> {
    // The cgroup namespace is created here, after the supervisor placed us in
    // the execution's cgroup, so that group becomes the namespace's root.
    if let Err(e) = unshare(CloneFlags::CLONE_NEWCGROUP) {
        degrade(spec, reporter, "cgroup_namespace", e.to_string())?;
    }
    nix::unistd::sethostname(&spec.hostname).map_err(|e| format!("sethostname: {e}"))?;
    if !spec.allow_network {
        super::netns::bring_up_loopback().map_err(|e| format!("loopback: {e}"))?;
    }
    mounts::build_root(spec).map_err(|e| format!("building the root: {e}"))?;

    let clamped = rlimits::apply(&spec.rlimits).map_err(|e| format!("rlimits: {e}"))?;
    for c in clamped {
        reporter.send(&InitMessage::Degraded {
            mechanism: format!("rlimit_{}", c.resource),
            reason: format!(
                "asked {} but the host's hard limit is {}",
                c.asked, c.applied
            ),
        });
    }
    // Bound before Landlock, which forbids every TCP bind afterwards.
    let bridge = spec
        .proxy
        .as_ref()
        .map(Bridge::listen)
        .transpose()
        .map_err(|e| format!("network proxy bridge: {e}"))?;

    let env_path = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.as_str())
        .unwrap_or(DEFAULT_PATH);
    let program = spec.argv.first().ok_or("empty command")?;
    let path = resolve_command(program, env_path, &spec.workdir);
    let argv = spec
        .argv
        .iter()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "an argument contains a NUL byte")?;
    let envp = spec
        .env
        .iter()
        .map(|(k, v)| CString::new(format!("{k}={v}")))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "an environment value contains a NUL byte")?;
    let path = CString::new(path.as_os_str().as_bytes()).map_err(|_| "bad command path")?;

    caps::set_not_dumpable().map_err(|e| format!("PR_SET_DUMPABLE: {e}"))?;
    // With a uid of its own, the command's process still needs CAP_SETUID
    // and CAP_SETGID after the fork to take it; this process drops them
    // right after the fork (see `run`), and nothing may regain them by exec.
    let keep = if spec.uid.is_some() {
        caps::SETID_CAPS
    } else {
        0
    };
    caps::drop_all_but(keep).map_err(|e| format!("dropping capabilities: {e}"))?;
    caps::set_no_new_privs().map_err(|e| format!("no_new_privs: {e}"))?;

    let mut writable = vec![
        spec.workdir.clone(),
        PathBuf::from("/tmp"),
        PathBuf::from("/dev/shm"),
    ];
    writable.extend(spec.writable_paths.iter().cloned());
    writable.extend(
        spec.binds
            .iter()
            .filter(|b| b.writable)
            .map(|b| b.target.clone()),
    );
    let plan = LandlockPlan {
        writable,
        read_only_roots: vec![PathBuf::from("/")],
        devices: mounts::DEVICES
            .iter()
            .map(|d| Path::new("/dev").join(d))
            .collect(),
        block_network_tcp: !spec.allow_network,
        connect_tcp_ports: spec.proxy.iter().map(|p| p.port).collect(),
        unix_socket_dirs: spec
            .proxy
            .iter()
            .filter_map(|p| p.socket.parent().map(Path::to_path_buf))
            .collect(),
    };
    match landlock::restrict_self(&plan) {
        Ok(LandlockOutcome::Full) => {}
        Ok(LandlockOutcome::Partial) => degrade(
            spec,
            reporter,
            "landlock",
            "the kernel supports only part of the ruleset".into(),
        )?,
        Ok(LandlockOutcome::NotSupported) => degrade(
            spec,
            reporter,
            "landlock",
            "not supported by this kernel".into(),
        )?,
        Err(e) => degrade(spec, reporter, "landlock", e.to_string())?,
    }

    let filter = seccomp::build_filter().map_err(|e| format!("seccomp filter: {e}"))?;
    filter
        .install()
        .map_err(|e| format!("installing seccomp: {e}"))?;
    Ok(Prepared {
        path,
        argv,
        envp,
        bridge,
        result_pipe: spec.result_pipe,
        uid: spec.uid,
    })
}

/// [`RESULT_FD`] onto [`COMMAND_RESULT_FD`], close-on-exec, and the old number closed.
fn move_result_pipe() -> Result<OwnedFd, Errno> {
    // SAFETY: dup3 between two descriptor numbers of this process; the
    // target is free (see `run`), and the new descriptor is ours alone.
    let fd = unsafe { libc::dup3(RESULT_FD, COMMAND_RESULT_FD, libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the supervisor dup2'd the pipe onto RESULT_FD for us; nothing else uses it.
    drop(unsafe { OwnedFd::from_raw_fd(RESULT_FD) });
    // SAFETY: dup3 returned a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `execvp`'s search, done before the fork so the child only calls `execve`.
fn resolve_command(program: &str, path_var: &str, workdir: &Path) -> PathBuf {
    if program.contains('/') {
        return workdir.join(program);
    }
    for dir in path_var.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(program);
        if let Ok(meta) = std::fs::metadata(&candidate) {
            if meta.is_file() {
                return candidate;
            }
        }
    }
    // Not found: execve reports ENOENT, which becomes a clear error.
    PathBuf::from(program)
}

fn run(prepared: Prepared, reporter: &mut Reporter) -> i32 {
    let mut blocked = SigSet::empty();
    blocked.add(Signal::SIGCHLD);
    for sig in FORWARDED {
        blocked.add(*sig);
    }
    if let Err(e) = blocked.thread_block() {
        reporter.send(&InitMessage::SetupError {
            message: format!("blocking signals: {e}"),
        });
        return 125;
    }
    // A Python job's result pipe moves to the command's number now, while
    // that number is free (the control socket on SPEC_FD is closed), and
    // before the pipe below could take it. Close-on-exec until the child
    // clears it, so only the command holds it, never the init.
    let result_fd = if prepared.result_pipe {
        match move_result_pipe() {
            Ok(fd) => Some(fd),
            Err(e) => {
                reporter.send(&InitMessage::SetupError {
                    message: format!("the result pipe: {e}"),
                });
                return 125;
            }
        }
    } else {
        None
    };
    // The classic self-pipe for exec errors: closed by a successful execve,
    // written with errno when execve fails.
    let (err_read, err_write) = match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => {
            reporter.send(&InitMessage::SetupError {
                message: format!("pipe: {e}"),
            });
            return 125;
        }
    };
    let argv: Vec<*const libc::c_char> = prepared
        .argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp: Vec<*const libc::c_char> = prepared
        .envp
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let err_fd = std::os::fd::AsRawFd::as_raw_fd(&err_write);
    let empty_mask = SigSet::empty();
    let uid = prepared.uid;

    // SAFETY: fork from a single-threaded process; the child runs only
    // async-signal-safe calls on memory prepared before the fork.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: see above; all pointers were prepared before the fork.
        unsafe {
            // No controlling terminal: TIOCSTI cannot inject into the operator's shell.
            libc::setsid();
            // The Rust runtime ignores SIGPIPE; the command must get the default.
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            libc::sigprocmask(libc::SIG_SETMASK, empty_mask.as_ref(), std::ptr::null_mut());
            // The sandbox's own uid: its per-uid kernel quotas (inotify,
            // queued signals, message queues, processes) are its own, not
            // host root's. Leaving uid 0 for a uid that is not empties the
            // capability sets. Raw syscalls: this process's alone, and
            // async-signal-safe. A failure is sent negated.
            let code = match uid {
                Some(id) => switch_ids(id as libc::c_long),
                None => 0,
            };
            // The result pipe is the one descriptor the command inherits on purpose.
            if code == 0
                && (result_fd.is_none() || libc::fcntl(COMMAND_RESULT_FD, libc::F_SETFD, 0) == 0)
            {
                libc::execve(prepared.path.as_ptr(), argv.as_ptr(), envp.as_ptr());
            }
            let errno = if code == 0 {
                *libc::__errno_location()
            } else {
                -code
            };
            let bytes = errno.to_ne_bytes();
            libc::write(err_fd, bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127);
        }
    }
    if child < 0 {
        reporter.send(&InitMessage::SetupError {
            message: format!("fork: {}", Errno::last()),
        });
        return 125;
    }
    drop((err_write, result_fd));
    let child = Pid::from_raw(child);
    if uid.is_some() {
        // The child has its own copy of CAP_SETUID and CAP_SETGID; this
        // process has no more use for them.
        if let Err(e) = caps::drop_remaining() {
            let _ = kill(child, Signal::SIGKILL);
            let _ = waitpid(child, None);
            reporter.send(&InitMessage::SetupError {
                message: format!("dropping capabilities: {e}"),
            });
            return 125;
        }
    }
    let mut exec_errno = [0u8; 4];
    let mut err_file = File::from(err_read);
    match err_file.read(&mut exec_errno) {
        Ok(4) if i32::from_ne_bytes(exec_errno) < 0 => {
            let errno = Errno::from_raw(-i32::from_ne_bytes(exec_errno));
            let _ = waitpid(child, None);
            reporter.send(&InitMessage::SetupError {
                message: format!("switching to the sandbox's uid: {}", errno.desc()),
            });
            return 125;
        }
        Ok(4) => {
            let errno = Errno::from_raw(i32::from_ne_bytes(exec_errno));
            let exit_code = if errno == Errno::ENOENT { 127 } else { 126 };
            let program = prepared
                .argv
                .first()
                .map(|a| a.to_string_lossy().into_owned())
                .unwrap_or_default();
            let what = if errno == Errno::ENOENT {
                "command not found".to_string()
            } else {
                format!("cannot execute: {}", errno.desc())
            };
            let _ = waitpid(child, None);
            reporter.send(&InitMessage::ExecError {
                message: format!("{what}: {program}"),
                exit_code,
            });
            return exit_code;
        }
        _ => reporter.send(&InitMessage::Started {
            pid: child.as_raw(),
        }),
    }
    drop(err_file);
    match prepared.bridge {
        Some(bridge) => supervise_with_bridge(child, &blocked, reporter, bridge),
        None => supervise(child, &blocked, reporter),
    }
}

/// No supplementary groups, then gid and uid `id` (real, effective and
/// saved): 0, or the errno of the call that failed. Between fork and exec:
/// raw syscalls only, which change this thread's credentials alone (glibc's
/// wrappers would signal every thread of the process).
///
/// # Safety
/// Only async-signal-safe calls; valid in a freshly forked child.
unsafe fn switch_ids(id: libc::c_long) -> i32 {
    // SAFETY: syscalls with integer arguments and a null list of size 0.
    let failed = unsafe {
        libc::syscall(
            libc::SYS_setgroups,
            0 as libc::c_long,
            std::ptr::null::<libc::gid_t>(),
        ) != 0
            || libc::syscall(libc::SYS_setresgid, id, id, id) != 0
            || libc::syscall(libc::SYS_setresuid, id, id, id) != 0
    };
    if failed {
        // SAFETY: reading this thread's errno.
        unsafe { *libc::__errno_location() }
    } else {
        0
    }
}

fn supervise(child: Pid, signals: &SigSet, reporter: &mut Reporter) -> i32 {
    loop {
        let mut info: libc::siginfo_t = unsafe_zeroed_siginfo();
        // SAFETY: signals is a valid sigset and info a valid out-pointer.
        let sig = unsafe { libc::sigwaitinfo(signals.as_ref(), &mut info) };
        if sig < 0 {
            continue;
        }
        // SAFETY: reading si_pid of a siginfo filled in by sigwaitinfo.
        let sender = unsafe { info.si_pid() };
        if let Some(code) = on_signal(child, sig, sender, reporter) {
            return code;
        }
    }
}

/// The same as [`supervise`], with the proxy bridge served in between: one
/// poll over a signalfd and the bridge's sockets.
fn supervise_with_bridge(
    child: Pid,
    signals: &SigSet,
    reporter: &mut Reporter,
    mut bridge: Bridge,
) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use std::os::fd::AsFd;

    // Without a signalfd the bridge goes (the sandbox has no network then)
    // and the command still runs and is reaped.
    let Ok(signal_fd) =
        SignalFd::with_flags(signals, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
    else {
        drop(bridge);
        return supervise(child, signals, reporter);
    };
    loop {
        {
            let interests = bridge.interests();
            let mut fds = Vec::with_capacity(1 + interests.len());
            fds.push(PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN));
            fds.extend(
                interests
                    .iter()
                    .map(|(fd, events)| PollFd::new(*fd, *events)),
            );
            match poll(&mut fds, PollTimeout::NONE) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(_) => {
                    drop(fds);
                    drop(interests);
                    drop(bridge);
                    return supervise(child, signals, reporter);
                }
            }
        }
        while let Ok(Some(info)) = signal_fd.read_signal() {
            let sender = i32::try_from(info.ssi_pid).unwrap_or(-1);
            if let Some(code) = on_signal(child, info.ssi_signo as i32, sender, reporter) {
                return code;
            }
        }
        bridge.service();
    }
}

/// Handles one signal; returns the exit code once the command has ended.
fn on_signal(child: Pid, sig: i32, sender: libc::pid_t, reporter: &mut Reporter) -> Option<i32> {
    if sig == libc::SIGCHLD {
        return reap(child, reporter);
    }
    // Only signals from outside the sandbox (sender pid invisible here, so 0)
    // are passed on; processes inside cannot steer their init.
    if sender == 0 {
        if let Ok(signal) = Signal::try_from(sig) {
            let _ = kill(child, signal);
        }
    }
    None
}

fn unsafe_zeroed_siginfo() -> libc::siginfo_t {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

/// Reap every zombie; when the command itself has ended, report it and return the exit code.
fn reap(child: Pid, reporter: &mut Reporter) -> Option<i32> {
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                reporter.send(&InitMessage::Exited {
                    code: Some(code),
                    signal: None,
                });
                return Some(code);
            }
            Ok(WaitStatus::Signaled(pid, signal, _)) if pid == child => {
                reporter.send(&InitMessage::Exited {
                    code: None,
                    signal: Some(signal as i32),
                });
                return Some(128 + signal as i32);
            }
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return None,
            Ok(_) => continue,
            Err(Errno::EINTR) => continue,
            Err(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn control_pair() -> (UnixStream, File) {
        let (supervisor, init) = UnixStream::pair().expect("socketpair");
        (supervisor, File::from(std::os::fd::OwnedFd::from(init)))
    }

    #[test]
    fn the_spec_is_read_by_its_length_and_the_socket_stays_open() {
        let (mut supervisor, mut init) = control_pair();
        let json = br#"{"argv":["true"]}"#;
        supervisor
            .write_all(&crate::isolation::frame_spec(json))
            .expect("send");
        assert_eq!(read_spec(&mut init).expect("spec"), json);
        // The go-ahead comes later, on the same socket.
        supervisor.write_all(&[GO_AHEAD]).expect("go");
        let mut go = [0u8; 1];
        assert_eq!(init.read(&mut go).expect("read"), 1);
        assert_eq!(go[0], GO_AHEAD);
        // A supervisor that goes away instead gives end of file: no go-ahead.
        drop(supervisor);
        assert_eq!(init.read(&mut go).expect("read"), 0);
    }

    #[test]
    fn a_truncated_or_oversized_spec_is_an_error() {
        let (mut supervisor, mut init) = control_pair();
        supervisor
            .write_all(&(MAX_SPEC_BYTES + 1).to_le_bytes())
            .expect("send");
        assert!(read_spec(&mut init).is_err());

        let (mut supervisor, mut init) = control_pair();
        let framed = crate::isolation::frame_spec(b"{\"argv\":[]}");
        supervisor
            .write_all(&framed[..framed.len() - 3])
            .expect("send");
        drop(supervisor);
        assert!(read_spec(&mut init).is_err());
    }
}
