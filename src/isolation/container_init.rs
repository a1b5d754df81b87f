//! The pid 1 of a Docker backend container (docs/docker.md): this binary,
//! bound read-only into the container, runs the command in a child and
//! reports to its supervisor, over a Unix socket the supervisor binds in,
//! how the command ended. Docker itself reports only an exit status, where
//! a command killed by signal N and one that did `exit 128+N` look alike.
//!
//! It also ties the container to its supervisor: when the socket hangs up
//! (the supervisor is gone, even by SIGKILL) it kills every process of the
//! container and exits, and the container stops. A Python job's result
//! comes from the command's fd 3, as in a native sandbox, and is relayed
//! over the same socket, capped.
//!
//! The socket is the init's alone: it connects before the command exists,
//! the supervisor accepts one connection (checked against the container's
//! pid 1 by `SO_PEERCRED`) and then closes its listener, and this process
//! is not dumpable, so the command (same uid, no capabilities) can neither
//! trace it nor open its descriptors.

use std::ffi::{CString, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::net::UnixStream;

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::COMMAND_RESULT_FD;

/// The argument that makes this binary run as a container's init.
pub const ARG: &str = "__container-init";
/// Where the supervisor binds this binary in the container.
pub const INIT_PATH: &str = "/.sandbox-tui/init";
/// Where the supervisor binds its report socket in the container.
pub const REPORT_PATH: &str = "/.sandbox-tui/report";

/// Frame kinds on the report socket: each frame is the kind, the payload's
/// length as a big-endian u32, and the payload.
pub const FRAME_RESULT: u8 = b'R';
/// The result went past its cap: its pipe was closed, the rest dropped.
pub const FRAME_RESULT_OVER: u8 = b'O';
/// The command could not be executed: "EXIT_CODE MESSAGE".
pub const FRAME_EXEC_ERROR: u8 = b'E';
/// How the command ended: "exit N" or "signal N".
pub const FRAME_END: u8 = b'X';
/// The largest payload of one frame.
pub const FRAME_MAX: usize = 64 * 1024;

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(5 + payload.len());
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// Entry point: `INIT __container-init RESULT_CAP|- COMMAND...` (after the
/// binary's name). Returns the exit status the container reports: the
/// command's own code, or 128 + the signal that ended it.
pub fn main(args: &[OsString]) -> i32 {
    // SAFETY: prctl with integer arguments only changes this process's flag.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
    let (Some(cap), Some(program)) = (args.first(), args.get(1)) else {
        eprintln!("sandbox-tui container init: no command");
        return 125;
    };
    let result_cap: Option<u64> = cap.to_str().and_then(|c| c.parse().ok());
    let argv = &args[1..];
    let mut report = UnixStream::connect(REPORT_PATH).ok();

    let mut mask = SigSet::empty();
    mask.add(Signal::SIGCHLD);
    if mask.thread_block().is_err() {
        return 125;
    }
    let Ok(sigchld) = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
    else {
        return 125;
    };

    let path = match resolve(program) {
        Ok(path) => path,
        Err(errno) => return exec_error(&mut report, program, errno),
    };
    let to_c = |s: &OsString| CString::new(s.as_bytes().to_vec()).ok();
    let Some(argv_c) = argv.iter().map(to_c).collect::<Option<Vec<CString>>>() else {
        return exec_error(&mut report, program, Errno::EINVAL);
    };
    let envp_c: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.into_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let mut argv_p: Vec<*const libc::c_char> = argv_c.iter().map(|a| a.as_ptr()).collect();
    argv_p.push(std::ptr::null());
    let mut envp_p: Vec<*const libc::c_char> = envp_c.iter().map(|a| a.as_ptr()).collect();
    envp_p.push(std::ptr::null());

    let result = match result_cap {
        Some(_) => match nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) {
            Ok(pair) => Some(pair),
            Err(_) => return 125,
        },
        None => None,
    };
    let Ok((err_read, err_write)) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC) else {
        return 125;
    };
    let result_write = result.as_ref().map_or(-1, |(_, w)| w.as_raw_fd());
    let empty = SigSet::empty();
    // SAFETY: this process is single-threaded; the child only makes
    // async-signal-safe calls (sigprocmask, dup2, fcntl, execve, write,
    // _exit) on data prepared before the fork.
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: as above, in the freshly forked child.
        unsafe {
            libc::sigprocmask(libc::SIG_SETMASK, empty.as_ref(), std::ptr::null_mut());
            let handed = result_write < 0
                || if result_write == COMMAND_RESULT_FD {
                    libc::fcntl(COMMAND_RESULT_FD, libc::F_SETFD, 0) == 0
                } else {
                    libc::dup2(result_write, COMMAND_RESULT_FD) == COMMAND_RESULT_FD
                };
            if handed {
                libc::execve(path.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr());
            }
            let errno = *libc::__errno_location();
            let bytes = errno.to_ne_bytes();
            libc::write(err_write.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
            libc::_exit(127);
        }
    }
    if child < 0 {
        return 125;
    }
    let child = Pid::from_raw(child);
    drop(err_write);
    let mut result = ResultRelay {
        read: result.map(|(r, w)| {
            drop(w);
            r
        }),
        relayed: 0,
        cap: result_cap,
        buf: vec![0u8; FRAME_MAX],
    };
    let mut errno = [0u8; 4];
    if let Ok(4) = std::fs::File::from(err_read).read(&mut errno) {
        let _ = waitpid(child, None);
        return exec_error(
            &mut report,
            program,
            Errno::from_raw(i32::from_ne_bytes(errno)),
        );
    }

    let mut ended: Option<WaitStatus> = None;
    while ended.is_none() {
        let mut fds = vec![PollFd::new(sigchld.as_fd(), PollFlags::POLLIN)];
        if let Some(stream) = &report {
            fds.push(PollFd::new(stream.as_fd(), PollFlags::POLLIN));
        }
        let result_at = fds.len();
        if let Some(read) = &result.read {
            fds.push(PollFd::new(read.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return 125,
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty())
        };
        let (signalled, hung_up, result_ready) =
            (ready(0), report.is_some() && ready(1), ready(result_at));
        drop(fds);
        if hung_up {
            let mut byte = [0u8; 1];
            let gone = report
                .as_mut()
                .is_none_or(|s| !matches!(s.read(&mut byte), Ok(n) if n > 0));
            if gone {
                // The supervisor is gone: nothing may outlive it.
                kill_all();
                return 128 + libc::SIGKILL;
            }
        }
        if result_ready {
            result.pump(&mut report);
        }
        if signalled {
            while let Ok(Some(_)) = sigchld.read_signal() {}
            ended = reap(child);
        }
    }
    // The command is gone: so is everything it started (as when a native
    // sandbox's init exits), and then its result pipe holds all there is.
    kill_all();
    while waitpid(Pid::from_raw(-1), None).is_ok() {}
    while result.read.is_some() {
        result.pump(&mut report);
    }
    let (text, code) = match ended {
        Some(WaitStatus::Signaled(_, sig, _)) => {
            (format!("signal {}", sig as i32), 128 + sig as i32)
        }
        Some(WaitStatus::Exited(_, code)) => (format!("exit {code}"), code),
        _ => (String::new(), 125),
    };
    if let Some(stream) = &mut report {
        let _ = stream.write_all(&frame(FRAME_END, text.as_bytes()));
    }
    code
}

/// Reap every child that ended; how `child` ended, if it did.
fn reap(child: Pid) -> Option<WaitStatus> {
    let mut ended = None;
    loop {
        match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return ended,
            Ok(status) if status.pid() == Some(child) => ended = Some(status),
            Ok(_) => {}
        }
    }
}

/// Every other process of the container (pid 1 of a pid namespace is
/// spared by kill(-1)).
fn kill_all() {
    let _ = nix::sys::signal::kill(Pid::from_raw(-1), Signal::SIGKILL);
}

/// The command's result pipe on its way to the supervisor.
struct ResultRelay {
    /// Our end; `None` once it ended or went past the cap.
    read: Option<OwnedFd>,
    relayed: u64,
    cap: Option<u64>,
    buf: Vec<u8>,
}

impl ResultRelay {
    /// Pass on what the pipe holds now; past the cap, close it (the
    /// writer gets EPIPE) and say so.
    fn pump(&mut self, report: &mut Option<UnixStream>) {
        let Some(fd) = &self.read else { return };
        match nix::unistd::read(fd.as_fd(), &mut self.buf) {
            Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
            Ok(0) | Err(_) => self.read = None,
            Ok(n) => {
                self.relayed += n as u64;
                if self.cap.is_some_and(|cap| self.relayed > cap) {
                    self.read = None;
                    if let Some(stream) = report {
                        let _ = stream.write_all(&frame(FRAME_RESULT_OVER, b""));
                    }
                } else if let Some(stream) = report {
                    let _ = stream.write_all(&frame(FRAME_RESULT, &self.buf[..n]));
                }
            }
        }
    }
}

/// The program's path: as given when it has a slash, else the first
/// executable regular file of that name on `PATH`.
fn resolve(program: &OsString) -> Result<CString, Errno> {
    let bytes = program.as_bytes();
    if bytes.is_empty() {
        return Err(Errno::ENOENT);
    }
    if bytes.contains(&b'/') {
        return CString::new(bytes.to_vec()).map_err(|_| Errno::EINVAL);
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| super::DEFAULT_PATH.into());
    let mut denied = false;
    for dir in path.as_bytes().split(|b| *b == b':') {
        let dir = if dir.is_empty() { b".".as_slice() } else { dir };
        let mut candidate = dir.to_vec();
        candidate.push(b'/');
        candidate.extend_from_slice(bytes);
        let Ok(c) = CString::new(candidate) else {
            continue;
        };
        let regular =
            std::fs::metadata(std::ffi::OsStr::from_bytes(c.as_bytes())).is_ok_and(|m| m.is_file());
        if !regular {
            continue;
        }
        // SAFETY: access only reads the NUL-terminated path.
        if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
            return Ok(c);
        }
        denied = true;
    }
    Err(if denied { Errno::EACCES } else { Errno::ENOENT })
}

/// Report an exec failure as a native sandbox's init does; the exit code.
fn exec_error(report: &mut Option<UnixStream>, program: &OsString, errno: Errno) -> i32 {
    let code = if errno == Errno::ENOENT { 127 } else { 126 };
    let what = if errno == Errno::ENOENT {
        "command not found".to_string()
    } else {
        format!("cannot execute: {}", errno.desc())
    };
    let message = format!("{what}: {}", program.to_string_lossy());
    if let Some(stream) = report {
        let _ = stream.write_all(&frame(
            FRAME_EXEC_ERROR,
            format!("{code} {message}").as_bytes(),
        ));
        let _ = stream.write_all(&frame(FRAME_END, format!("exit {code}").as_bytes()));
    }
    code
}
