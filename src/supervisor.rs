//! One execution end to end: policy check, cgroup, clone into namespaces,
//! drain the output with caps, enforce the timeout and the CPU budget, watch
//! for OOM, kill the whole cgroup at the end, classify, and build the result.
//!
//! The supervisor is single-threaded (it is the process that clones the
//! sandbox) and waits on everything with one `poll`.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{pipe2, Pid};

use crate::cgroup::{Cgroup, Hierarchy, Limits, Reading};
use crate::escape::TerminalStream;
use crate::execution::{encode_stream, ErrorInfo, ExecResult, ResultCapture, Status};
use crate::isolation::namespaces::{self, SpawnOptions};
use crate::isolation::rlimits::Rlimits;
use crate::isolation::{InitMessage, SandboxSpec, DEFAULT_PATH};
use crate::netproxy::{self, ProxyOptions, RunningProxy};
use crate::output::forward::{
    self, Endpoint, Forward, ForwardState, FORWARD_BUFFER, PIPE_MAX, READER_STALL_LIMIT,
};
use crate::output::logfile::{self, LogStream, OrderWriter};
use crate::output::CappedCapture;
use crate::profile::{Backend, Profile};

#[cfg(feature = "docker")]
pub mod docker;

/// Where the output goes besides the capped capture.
#[derive(Debug, Default)]
pub struct OutputSinks {
    /// Stream live to our stdout and stderr (the terminal or pipe of `run`),
    /// without ever blocking on their readers (see `output::forward`).
    pub live: bool,
    /// Append to these files (the execution's logs).
    pub stdout_log: LogSink,
    pub stderr_log: LogSink,
    /// Filled in by [`execute`] when the request has a result pipe.
    pub result: Option<ResultCapture>,
    /// The live streams once the execution has ended, with what their
    /// readers have not taken yet: for [`OutputSinks::finish_live`].
    pub forwards: Vec<Forward>,
}

impl OutputSinks {
    /// After the result is recorded: forward what the live streams still
    /// hold while their readers take it (a reader that takes nothing for
    /// [`READER_STALL_LIMIT`] is given up), then say on stderr what a
    /// reader missed.
    pub fn finish_live(&mut self) {
        forward::finish_all(&mut self.forwards, READER_STALL_LIMIT, &|| false);
        for live in self.forwards.drain(..) {
            if let Some(note) = live.note() {
                forward::note_nonblocking(2, &format!("{note}\n"));
            }
        }
    }
}

/// An execution's log of one stream.
#[derive(Debug, Default)]
pub enum LogSink {
    #[default]
    Off,
    /// Created (or appended to) with its first byte: a new file costs an
    /// inode, 0.25 ms on the ext4 of bench/README.md, and most commands
    /// write nothing to one of their streams. Readers take a missing log
    /// for an empty one.
    OnFirstWrite(PathBuf),
    File(File),
}

impl LogSink {
    /// The file, created now if this is its first write; `None` when it
    /// is off or cannot be created (the capture still has the output).
    fn file(&mut self) -> Option<&mut File> {
        if let LogSink::OnFirstWrite(path) = self {
            *self = match std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&*path)
            {
                Ok(file) => LogSink::File(file),
                Err(_) => LogSink::Off,
            };
        }
        match self {
            LogSink::File(file) => Some(file),
            _ => None,
        }
    }
}

/// Events reported while the execution runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The init is cloned and building the sandbox; the command starts
    /// when the handler returns `Ok`. An `Err` ends the execution as a
    /// setup error with that message, before anything of the user's ran.
    Started { init_pid: i32 },
}

pub struct ExecRequest {
    pub id: String,
    pub sandbox: String,
    pub profile: Profile,
    pub argv: Vec<String>,
    /// Host path of the workspace (must exist).
    pub workspace: PathBuf,
    /// `None`: no cgroups at all (degraded).
    pub cgroup: Option<CgroupPlan>,
    pub timeout: Duration,
    pub pass_stdin: bool,
    pub binds: Vec<crate::isolation::Bind>,
    /// Environment added on top of the profile's (e.g. by the Python runner).
    pub extra_env: Vec<(String, String)>,
    /// For profiles with `allowed_hosts`: where the network proxy lives.
    pub proxy: ProxyOptions,
    /// A Python job: the most bytes to read from the pipe the command gets
    /// as fd 3 for its value (see `crate::python`). `None` for a plain
    /// command, which gets no such descriptor.
    pub result_pipe: Option<u64>,
    /// The sandbox's own host uid (and gid) for the command, when run as root.
    pub uid: Option<u32>,
    /// Host path of the sandbox's root (`rootfs`, or an image's unpacked
    /// root); `None`: the host's system directories.
    pub root: Option<PathBuf>,
}

pub struct CgroupPlan {
    pub hierarchy: Hierarchy,
    /// The sandbox's group, relative to the tool's root (created if missing).
    pub sandbox_rel: String,
    /// The execution's group: `sandbox_rel/ID` in a sandbox of many
    /// executions, `sandbox_rel` itself for the one execution of a `run`.
    pub execution_rel: String,
}

/// Whether the environment forces full isolation (CI sets this).
pub fn isolation_forced() -> bool {
    std::env::var("SANDBOX_TUI_REQUIRE_ISOLATION").is_ok_and(|v| v == "1" || v == "true")
}

/// Policy: `allowed_commands`, `allow_shell` and `denied_patterns` of the
/// profile (see `crate::policy`). `code` is a Python job's source, which the
/// patterns also see. `Err` names the rule that matched.
pub fn check_policy(profile: &Profile, argv: &[String], code: Option<&str>) -> Result<(), String> {
    crate::policy::check(profile, argv, code).map_err(|denial| denial.to_string())
}

/// Limits of one execution's cgroup.
pub fn execution_limits(profile: &Profile) -> Limits {
    Limits {
        memory_bytes: Some(profile.max_memory_mb.saturating_mul(1024 * 1024)),
        // One more for the sandbox's init.
        pids_max: Some(profile.max_process_count.saturating_add(1)),
        cpu_quota_cores: profile.cpu_quota,
    }
}

/// Limits of a sandbox's cgroup, shared by all its executions.
pub fn sandbox_limits(profile: &Profile) -> Limits {
    Limits {
        memory_bytes: Some(profile.max_memory_mb.saturating_mul(1024 * 1024)),
        pids_max: Some(
            profile
                .max_process_count
                .saturating_add(profile.max_concurrent),
        ),
        cpu_quota_cores: profile.cpu_quota,
    }
}

#[derive(Default)]
struct Outcome {
    setup_error: Option<String>,
    exec_error: Option<(String, i32)>,
    exited: Option<(Option<i32>, Option<i32>)>,
    timed_out: bool,
    cpu_exceeded: bool,
    oom: bool,
    external_signal: Option<i32>,
    /// The live output's reader went away (`run ... | head`).
    output_reader_gone: bool,
    degraded: Vec<String>,
    /// The cgroup's figures once everything in it is dead.
    final_usage: Option<crate::cgroup::Usage>,
}

fn base_result(req: &ExecRequest) -> ExecResult {
    ExecResult::blank(&req.id, &req.sandbox, &req.profile.name, &req.argv)
}

/// A result for an execution that never started.
pub fn refused(req: &ExecRequest, status: Status, error: String) -> ExecResult {
    let mut result = base_result(req);
    result.status = status;
    result.error = Some(error.into());
    result
}

/// Run one execution to its end. Never panics on kernel or user errors: every
/// failure becomes a result with status `error`.
pub fn execute(
    req: &ExecRequest,
    sinks: &mut OutputSinks,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
) -> ExecResult {
    // The launcher already checked a Python job's code; only the argv is here.
    if let Err(reason) = check_policy(&req.profile, &req.argv, None) {
        return refused(req, Status::Denied, reason);
    }
    if req.profile.backend == Backend::Docker {
        #[cfg(feature = "docker")]
        return docker::execute(req, sinks, on_event);
        #[cfg(not(feature = "docker"))]
        return refused(
            req,
            Status::Error,
            "backend = \"docker\": this build has no Docker support (build with `--features docker`)".into(),
        );
    }
    let require = req.profile.require_isolation || isolation_forced();
    let mut degraded = Vec::new();
    let cgroup = match &req.cgroup {
        Some(plan) => match create_cgroups(plan, req) {
            Ok(cg) => Some(cg),
            Err(e) => return refused(req, Status::Error, format!("cgroup: {e}")),
        },
        None if require => {
            return refused(
                req,
                Status::Error,
                "no usable cgroup hierarchy (memory, pids and CPU limits) and the profile requires full isolation; see `sandbox-tui doctor`".into(),
            )
        }
        None => {
            degraded.push("cgroup: no usable hierarchy; memory limited by RLIMIT_AS, process count not limited".into());
            None
        }
    };
    let user_namespace = !nix::unistd::geteuid().is_root();
    let started = Instant::now();
    let mut final_usage = None;
    let mut result = match run_sandbox(
        req,
        cgroup.as_ref(),
        user_namespace,
        require,
        sinks,
        on_event,
        started,
    ) {
        Ok((mut result, mut outcome)) => {
            degraded.extend(outcome.degraded.iter().cloned());
            classify(&mut result, &outcome, &req.profile, req.timeout);
            final_usage = outcome.final_usage.take();
            result
        }
        // A `kill` (or Ctrl-C) that raced the launch ended the init before
        // it could start: that is a kill, not a failure of the sandbox.
        Err(message) => match pending_stop_signal() {
            Some(sig) => {
                let mut result = refused(
                    req,
                    Status::Killed,
                    format!("killed while the sandbox was starting ({message})"),
                );
                result.signal = Some(sig);
                result.exit_code = Some(128 + sig);
                result
            }
            None => refused(req, Status::Error, message),
        },
    };
    result.duration_ms = started.elapsed().as_millis() as u64;
    if let Some(cg) = &cgroup {
        if let Some(usage) = final_usage.or_else(|| cg.usage(Reading::Outcome).ok()) {
            result.cpu_ms = result.cpu_ms.max(usage.cpu_ns / 1_000_000);
            result.peak_memory_bytes = result.peak_memory_bytes.max(usage.peak_memory_bytes);
        }
        // Nothing outlives its execution.
        if let Err(e) = cg.kill_and_remove() {
            degraded.push(format!("cgroup cleanup: {e}"));
        }
    }
    result.degraded = degraded;
    result
}

/// A stop signal from outside still pending: the supervisor blocks them
/// (to read them from its signalfd), so one that came before the loop is
/// still there when the launch fails.
fn pending_stop_signal() -> Option<i32> {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given and nothing else.
    if unsafe { libc::sigpending(set.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: sigpending returned 0, so it initialised the set.
    let set = unsafe { set.assume_init() };
    [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT]
        .into_iter()
        // SAFETY: sigismember only reads the set.
        .find(|sig| unsafe { libc::sigismember(&set, *sig) } == 1)
}

/// The command's environment, the same for every backend: a few fixed
/// variables, then the profile's `env` and the request's own, each
/// replacing one of the same name. The host's is never passed through.
fn command_env(req: &ExecRequest) -> Vec<(String, String)> {
    let profile = &req.profile;
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), DEFAULT_PATH.into()),
        ("HOME".into(), profile.workdir.display().to_string()),
        ("LANG".into(), "C.UTF-8".into()),
        ("HOSTNAME".into(), profile.hostname.clone()),
    ];
    for (k, v) in profile
        .env
        .iter()
        .chain(req.extra_env.iter().map(|(k, v)| (k, v)))
    {
        env.retain(|(existing, _)| existing != k);
        env.push((k.clone(), v.clone()));
    }
    env
}

fn create_cgroups(
    plan: &CgroupPlan,
    req: &ExecRequest,
) -> Result<Cgroup, crate::cgroup::CgroupError> {
    let rel = &plan.execution_rel;
    let limits = execution_limits(&req.profile);
    if *rel == plan.sandbox_rel {
        return plan.hierarchy.create(rel, &limits);
    }
    match plan.hierarchy.create_child(rel, &limits) {
        // The sandbox's group is gone (a reboot empties cgroupfs): again,
        // with the sandbox's limits.
        Err(crate::cgroup::CgroupError::NotFound(_)) => {
            plan.hierarchy
                .create(&plan.sandbox_rel, &sandbox_limits(&req.profile))?;
            plan.hierarchy.create(rel, &limits)
        }
        other => other,
    }
}

/// Write all of `data` to the init's control socket with `MSG_NOSIGNAL`: a
/// dead init is an error here, never a SIGPIPE, which the supervisor would
/// read from its signalfd as a signal from outside.
fn send_all(socket: &std::os::unix::net::UnixStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        // SAFETY: send from a valid buffer of the given length on a socket we own.
        let sent = unsafe {
            libc::send(
                socket.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if sent < 0 {
            let err = io::Error::last_os_error();
            if err.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        data = &data[sent as usize..];
    }
    Ok(())
}

fn nonblocking_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let (read, write) = pipe2(OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK))
        .map_err(io::Error::from)?;
    Ok((read, write))
}

pub(crate) fn pidfd_open(pid: Pid) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a fresh descriptor that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

fn build_spec(req: &ExecRequest, require: bool, cgroup: bool) -> Result<SandboxSpec, String> {
    let workspace = req
        .workspace
        .canonicalize()
        .map_err(|e| format!("workspace {}: {e}", req.workspace.display()))?;
    let canonical = |paths: &[PathBuf]| -> Result<Vec<PathBuf>, String> {
        paths
            .iter()
            .map(|p| {
                p.canonicalize()
                    .map_err(|e| format!("{}: {e}", p.display()))
            })
            .collect()
    };
    let profile = &req.profile;
    let env = command_env(req);
    let root = match &req.root {
        Some(root) => Some(checked_root(root)?),
        None => None,
    };
    let mb = 1024 * 1024;
    Ok(SandboxSpec {
        argv: req.argv.clone(),
        env,
        hostname: profile.hostname.clone(),
        workspace,
        workdir: profile.workdir.clone(),
        read_only_paths: canonical(&profile.read_only_paths)?,
        writable_paths: canonical(&profile.writable_paths)?,
        binds: req
            .binds
            .iter()
            .map(|b| {
                Ok(crate::isolation::Bind {
                    source: b
                        .source
                        .canonicalize()
                        .map_err(|e| format!("{}: {e}", b.source.display()))?,
                    target: b.target.clone(),
                    writable: b.writable,
                })
            })
            .collect::<Result<Vec<_>, String>>()?,
        allow_network: profile.allow_network,
        rlimits: Rlimits {
            file_size_bytes: profile.max_file_size_mb.saturating_mul(mb),
            open_files: profile.max_open_files,
            cpu_seconds: profile.max_cpu_seconds,
            address_space_bytes: (!cgroup).then(|| profile.max_memory_mb.saturating_mul(mb)),
        },
        // tmpfs pages are charged to the memory cgroup, so /tmp cannot exceed the memory limit either.
        tmp_size_bytes: profile.max_memory_mb.saturating_mul(mb),
        require_isolation: require,
        proxy: None,
        result_pipe: false,
        uid: req.uid,
        root,
    })
}

/// A root directory as the mounts take it: existing (checked at launch,
/// not when the profile loads), a directory, and a path an overlay's
/// `lowerdir` option can carry.
fn checked_root(root: &Path) -> Result<PathBuf, String> {
    let canonical = root
        .canonicalize()
        .map_err(|e| format!("root {}: {e}", root.display()))?;
    if !canonical.is_dir() {
        return Err(format!("root {}: not a directory", root.display()));
    }
    if canonical
        .as_os_str()
        .as_encoded_bytes()
        .iter()
        .any(|b| matches!(b, b':' | b',' | b'\\') || b.is_ascii_control())
    {
        return Err(format!(
            "root {}: the path may not hold ':', ',', '\\' or control characters",
            root.display()
        ));
    }
    Ok(canonical)
}

struct Stream {
    fd: Option<OwnedFd>,
    capture: CappedCapture,
    log: LogSink,
    live: Option<Forward>,
    /// On a terminal the live output is escaped (see [`TerminalStream`]);
    /// the capture and the log keep the bytes as they are.
    live_escape: Option<TerminalStream>,
    /// Writing the live output met EPIPE: nobody reads it any more.
    reader_gone: bool,
    log_written: u64,
    log_cap: u64,
    kind: LogStream,
}

impl Stream {
    /// The live stream holds all it may while the sandbox runs: its pipe
    /// is left unread, so the sandbox waits for the reader as in any
    /// pipeline, until the reader catches up or is given up.
    fn backpressured(&self) -> bool {
        self.live
            .as_ref()
            .is_some_and(|live| live.is_open() && live.pending() >= FORWARD_BUFFER)
    }

    /// Write what the live stream's reader takes now.
    fn forward(&mut self) {
        let Some(live) = &mut self.live else { return };
        if live.flush() == ForwardState::Gone && !self.reader_gone {
            self.reader_gone = true;
            discard_own_sigpipe();
        }
    }

    /// Read what is there (once the sandbox has ended, all of it, else as
    /// much as the live stream can hold), noting it in the order of the
    /// logs; returns false at EOF.
    fn drain(&mut self, buf: &mut [u8], ended: bool, order: &mut OrderWriter) -> bool {
        loop {
            let Some(fd) = &self.fd else { return false };
            // What the live stream may still hold: a dead sandbox's pipe
            // holds at most PIPE_MAX more, and never waits for the reader.
            // Escaped for a terminal, a byte takes up to four.
            let expand = if self.live_escape.is_some() { 4 } else { 1 };
            let (room, limit) = match &self.live {
                Some(live) if live.is_open() && !ended => (
                    FORWARD_BUFFER.saturating_sub(live.pending()) / expand,
                    FORWARD_BUFFER,
                ),
                _ => (buf.len(), (FORWARD_BUFFER + PIPE_MAX) * expand),
            };
            if room == 0 {
                return true;
            }
            let want = room.min(buf.len());
            match nix::unistd::read(fd.as_fd(), &mut buf[..want]) {
                Ok(0) => {
                    self.fd = None;
                    if let (Some(live), Some(escape)) = (&mut self.live, self.live_escape.as_mut())
                    {
                        live.push(&escape.finish(), limit);
                    }
                    return false;
                }
                Ok(n) => {
                    let chunk = &buf[..n];
                    self.capture.push(chunk);
                    if let Some(live) = &mut self.live {
                        match self.live_escape.as_mut() {
                            Some(escape) => live.push(&escape.push(chunk), limit),
                            None => live.push(chunk, limit),
                        }
                    }
                    self.forward();
                    // The log keeps the first log_cap bytes; the capture keeps head and tail.
                    let room = self.log_cap.saturating_sub(self.log_written) as usize;
                    let part = &chunk[..chunk.len().min(room)];
                    if !part.is_empty() {
                        if let Some(log) = self.log.file() {
                            if log.write_all(part).is_ok() {
                                self.log_written += part.len() as u64;
                            }
                        }
                    }
                    order.note(self.kind, n);
                }
                Err(nix::errno::Errno::EAGAIN) => return true,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => {
                    self.fd = None;
                    return false;
                }
            }
        }
    }
}

/// The supervisor's end of a result pipe: read as it comes, never more than
/// `cap` bytes kept.
struct ResultPipe {
    fd: Option<OwnedFd>,
    capture: ResultCapture,
    cap: usize,
}

impl ResultPipe {
    fn new(fd: OwnedFd, cap: u64) -> ResultPipe {
        ResultPipe {
            fd: Some(fd),
            capture: ResultCapture::default(),
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
        }
    }

    /// Read what is there without blocking; past the cap, stop for good.
    fn drain(&mut self, buf: &mut [u8]) {
        let Some(fd) = &self.fd else { return };
        loop {
            match nix::unistd::read(fd.as_fd(), buf) {
                Ok(0) => {
                    self.fd = None;
                    return;
                }
                Ok(n) => {
                    if self.capture.bytes.len() + n > self.cap {
                        // Closing the read end makes the writer's next
                        // write fail with EPIPE instead of filling memory.
                        self.capture.over_cap = true;
                        self.capture.bytes = Vec::new();
                        self.fd = None;
                        return;
                    }
                    self.capture.bytes.extend_from_slice(&buf[..n]);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(nix::errno::Errno::EAGAIN) => return,
                Err(_) => {
                    self.fd = None;
                    return;
                }
            }
        }
    }

    fn finish(self) -> ResultCapture {
        self.capture
    }
}

/// An escaper for the live output to `fd` when it is a terminal: a
/// sandbox's output must not drive the user's terminal (OSC 52, screen
/// clears, bidi overrides); colours, newlines and carriage returns pass.
fn live_escape(live: bool, fd: RawFd) -> Option<TerminalStream> {
    // SAFETY: isatty only queries the descriptor.
    (live && unsafe { libc::isatty(fd) } == 1).then(TerminalStream::new)
}

/// The caller's stdin on its way to the sandbox, through a pipe of ours:
/// the sandbox never holds the caller's descriptor (it could change a
/// terminal's modes, seek a file, or read keystrokes meant for the shell),
/// and a forwarding that cannot proceed waits in the loop's `poll`.
struct StdinForward {
    source: Endpoint,
    /// Our end of the sandbox's stdin; `None` once closed.
    sink: Option<OwnedFd>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    eof: bool,
}

impl StdinForward {
    /// For the caller's stdin: `None` when it is a terminal (or closed),
    /// and the sandbox gets /dev/null; else the forwarding and the read end
    /// of the sandbox's stdin.
    fn open() -> Result<Option<(StdinForward, OwnedFd)>, String> {
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        if nix::unistd::isatty(fd).unwrap_or(false)
            || nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETFD).is_err()
        {
            return Ok(None);
        }
        let source = Endpoint::open(fd.as_raw_fd(), false).map_err(|e| format!("stdin: {e}"))?;
        let (read, write) = forward::stdin_pipe().map_err(|e| format!("pipe: {e}"))?;
        Ok(Some((
            StdinForward {
                source,
                sink: Some(write),
                buf: vec![0; 64 * 1024],
                start: 0,
                end: 0,
                eof: false,
            },
            read,
        )))
    }

    fn active(&self) -> bool {
        self.sink.is_some()
    }

    /// What the loop waits on: the source when there is nothing to pass
    /// on, else room in the sandbox's pipe.
    fn poll_fd(&self) -> Option<(std::os::fd::BorrowedFd<'_>, PollFlags)> {
        let sink = self.sink.as_ref()?;
        if self.start < self.end {
            Some((sink.as_fd(), PollFlags::POLLOUT))
        } else if !self.eof {
            Some((self.source.as_fd(), PollFlags::POLLIN))
        } else {
            None
        }
    }

    /// Move what can move now, a bounded amount per call.
    fn pump(&mut self) {
        for _ in 0..16 {
            let Some(sink) = &self.sink else { return };
            if self.start < self.end {
                // SAFETY: writing a valid buffer to our own non-blocking pipe.
                let n = unsafe {
                    libc::write(
                        sink.as_raw_fd(),
                        self.buf[self.start..].as_ptr().cast(),
                        self.end - self.start,
                    )
                };
                if n > 0 {
                    self.start += n as usize;
                    continue;
                }
                match nix::errno::Errno::last() {
                    nix::errno::Errno::EINTR => continue,
                    nix::errno::Errno::EAGAIN => return,
                    errno => {
                        // The sandbox closed its stdin: the rest is not wanted.
                        if errno == nix::errno::Errno::EPIPE {
                            discard_own_sigpipe();
                        }
                        self.sink = None;
                        return;
                    }
                }
            }
            if self.eof {
                self.sink = None;
                return;
            }
            (self.start, self.end) = (0, 0);
            match self.source.read(&mut self.buf) {
                Ok(None) => return,
                Ok(Some(0)) | Err(_) => self.eof = true,
                Ok(Some(n)) => self.end = n,
            }
        }
    }
}

/// A write of ours to a pipe without reader raised SIGPIPE, which the loop
/// would read from its signalfd as a signal from outside: taken back here.
fn discard_own_sigpipe() {
    let mut set = SigSet::empty();
    set.add(Signal::SIGPIPE);
    let zero = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid signal set and timeout; no siginfo wanted.
    unsafe {
        libc::sigtimedwait(set.as_ref(), std::ptr::null_mut(), &zero);
    }
}

#[allow(clippy::too_many_arguments)]
fn run_sandbox(
    req: &ExecRequest,
    cgroup: Option<&Cgroup>,
    user_namespace: bool,
    require: bool,
    sinks: &mut OutputSinks,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
    started: Instant,
) -> Result<(ExecResult, Outcome), String> {
    let mut spec = build_spec(req, require, cgroup.is_some())?;
    // Dropped on every return below: the proxy never outlives the execution.
    let proxy = start_proxy(req, &mut spec)?;
    let (out_read, out_write) = nonblocking_pipe().map_err(|e| format!("pipe: {e}"))?;
    let (err_read, err_write) = nonblocking_pipe().map_err(|e| format!("pipe: {e}"))?;
    // A pipe rather than a file in the sandbox: the snippet cannot swap it
    // for a symlink or a FIFO, RLIMIT_FSIZE does not apply to it, and it is
    // read here with the output, under the same timeout.
    let (mut result_pipe, result_write) = match req.result_pipe {
        Some(cap) => {
            let (read, write) = nonblocking_pipe().map_err(|e| format!("pipe: {e}"))?;
            spec.result_pipe = true;
            (Some(ResultPipe::new(read, cap)), Some(write))
        }
        None => (None, None),
    };
    let (mut stdin_forward, stdin_read) = match req.pass_stdin {
        true => StdinForward::open()?.unzip(),
        false => (None, None),
    };
    if let Some(uid) = req.uid {
        // A pipe is its creator's, mode 0600: the command reopens it as
        // /dev/stdin, /dev/stdout or /dev/stderr (/proc/self/fd/N) only if
        // it is its own.
        for end in [Some(&out_write), Some(&err_write), stdin_read.as_ref()]
            .into_iter()
            .flatten()
        {
            nix::unistd::fchown(
                end,
                Some(nix::unistd::Uid::from_raw(uid)),
                Some(nix::unistd::Gid::from_raw(uid)),
            )
            .map_err(|e| format!("giving the standard pipes to uid {uid}: {e}"))?;
        }
    }

    // Signals to the supervisor become a kill of the sandbox, handled in the loop.
    let mut mask = SigSet::empty();
    // SIGPIPE too: an attached `exec` whose reader went away passes it on.
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
    ] {
        mask.add(sig);
    }
    mask.thread_block()
        .map_err(|e| format!("sigprocmask: {e}"))?;
    let signal_fd = SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
        .map_err(|e| format!("signalfd: {e}"))?;

    let placement = cgroup.map(Cgroup::placement).unwrap_or_default();
    // Keyed by the cgroup root, so that separate installations (and tests)
    // keep to their own spares.
    let spare_dir = match &req.cgroup {
        Some(plan) if !user_namespace && !req.profile.allow_network => {
            Some(crate::isolation::netns::spare_dir(plan.hierarchy.root()))
        }
        _ => None,
    };
    let child = namespaces::spawn_init(&SpawnOptions {
        user_namespace,
        network_namespace: !req.profile.allow_network,
        network_spare_dir: spare_dir.clone(),
        stdin: stdin_read.as_ref().map(|fd| fd.as_raw_fd()),
        stdout: out_write.as_raw_fd(),
        stderr: err_write.as_raw_fd(),
        result: result_write.as_ref().map(|fd| fd.as_raw_fd()),
        join_cgroups: placement.self_join.clone(),
        clone_into_cgroup: placement.clone_into.clone(),
    })
    .map_err(|e| format!("starting the sandbox: {e}"))?;
    drop((out_write, err_write, result_write, stdin_read));
    let init_pid = child.pid;
    let pidfd = pidfd_open(init_pid);

    let kill_init = || {
        let _ = nix::sys::signal::kill(init_pid, Signal::SIGKILL);
    };
    // The child joined its v1 groups itself before exec'ing the init and
    // was born in its cgroup2 group, unless the kernel lacks clone3; then
    // it is placed here, before the spec is written: the init blocks
    // reading the spec, so it is inside before anything of the user's runs.
    if !child.born_in_cgroup {
        if let Err(e) = placement.add_to_cgroup2_by_parent(init_pid.as_raw()) {
            kill_init();
            let _ = nix::sys::wait::waitpid(init_pid, None);
            return Err(format!("placing the sandbox in its cgroup: {e}"));
        }
    }
    // Serialized while the init is still being exec'd: off the critical path.
    let spec_json = serde_json::to_vec(&spec).map_err(|e| format!("spec: {e}"));
    let spec_json = match spec_json {
        Ok(json) => json,
        Err(e) => {
            kill_init();
            let _ = nix::sys::wait::waitpid(init_pid, None);
            return Err(e);
        }
    };
    let control = child.spec;
    if let Err(e) = send_all(&control, &crate::isolation::frame_spec(&spec_json)) {
        kill_init();
        let _ = nix::sys::wait::waitpid(init_pid, None);
        return Err(format!("sending the sandbox spec: {e}"));
    }
    // The init builds the sandbox now; what the caller records meanwhile is
    // off the critical path. The command starts only on the go-ahead.
    if let Err(e) = on_event(Event::Started {
        init_pid: init_pid.as_raw(),
    }) {
        kill_init();
        let _ = nix::sys::wait::waitpid(init_pid, None);
        return Err(e);
    }
    // An init that died meanwhile shows up in its status and its exit.
    let _ = send_all(&control, &[crate::isolation::GO_AHEAD]);
    drop(control);
    // The next launch's network namespace is made on a core this launch
    // leaves idle while its init locks the sandbox down and runs the
    // command; joined on every return below.
    let spare_maker = match spare_dir {
        Some(dir) => crate::isolation::netns::start_making(dir, child.claimed_network),
        None => crate::isolation::netns::SpareMaker::default(),
    };

    let cap = (req.profile.max_output_kb.saturating_mul(1024)) as usize;
    let log_paths = [&sinks.stdout_log, &sinks.stderr_log].map(|sink| match sink {
        LogSink::OnFirstWrite(path) => Some(path.clone()),
        _ => None,
    });
    let mut order = OrderWriter::new(log_paths[0].as_deref().map(logfile::order_path), cap as u64);
    let mut streams = [
        Stream {
            fd: Some(out_read),
            capture: CappedCapture::new(cap),
            log: std::mem::replace(&mut sinks.stdout_log, LogSink::Off),
            live: sinks.live.then(|| Forward::new("stdout", 1)),
            live_escape: live_escape(sinks.live, 1),
            reader_gone: false,
            log_written: 0,
            log_cap: cap as u64,
            kind: LogStream::Stdout,
        },
        Stream {
            fd: Some(err_read),
            capture: CappedCapture::new(cap),
            log: std::mem::replace(&mut sinks.stderr_log, LogSink::Off),
            live: sinks.live.then(|| Forward::new("stderr", 2)),
            live_escape: live_escape(sinks.live, 2),
            reader_gone: false,
            log_written: 0,
            log_cap: cap as u64,
            kind: LogStream::Stderr,
        },
    ];
    let mut status_reader = io::BufReader::new(child.status);
    nix::fcntl::fcntl(
        status_reader.get_ref(),
        nix::fcntl::FcntlArg::F_SETFL(OFlag::O_NONBLOCK),
    )
    .map_err(|e| format!("fcntl: {e}"))?;
    let mut status_open = true;

    let mut outcome = Outcome::default();
    let deadline = started + req.timeout;
    let cpu_budget_ns = req.profile.max_cpu_seconds.saturating_mul(1_000_000_000);
    let mut init_done = false;
    let mut killed = false;
    let mut end_deadline: Option<Instant> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut init_rusage: Option<libc::rusage> = None;
    // The cgroup's counters are read on a clock, not on every wake-up: an
    // output flood wakes the loop thousands of times a second, and a short
    // command ends before the first reading (the final one, after the loop,
    // still sees an OOM kill).
    let mut next_watch = started + WATCH_INTERVAL;
    // What this thread spends from here on is draining the output (and
    // watching): shown against the sandbox as the supervisor's CPU.
    let drain_cpu = thread_cpu_ms();

    loop {
        let now = Instant::now();
        if !killed && now >= deadline {
            outcome.timed_out = true;
            kill_everything(cgroup, init_pid);
            killed = true;
        }
        if let (Some(cg), true) = (cgroup, now >= next_watch) {
            next_watch = now + WATCH_INTERVAL;
            if !killed {
                if let Ok(usage) = cg.usage(Reading::Limits) {
                    if usage.oom_kills > 0 {
                        // A v1 OOM kills one task; the rest of the group goes with it.
                        outcome.oom = true;
                        kill_everything(cgroup, init_pid);
                        killed = true;
                    } else if usage.cpu_ns > cpu_budget_ns {
                        outcome.cpu_exceeded = true;
                        kill_everything(cgroup, init_pid);
                        killed = true;
                    }
                }
            }
        }
        let streams_open = streams.iter().any(|s| s.fd.is_some())
            || result_pipe.as_ref().is_some_and(|p| p.fd.is_some());
        if init_done && (!streams_open || end_deadline.is_some_and(|d| now >= d)) {
            break;
        }

        let mut fds: Vec<PollFd> = Vec::with_capacity(8);
        let mut which: Vec<u8> = Vec::with_capacity(8);
        for (i, s) in streams.iter().enumerate() {
            if let Some(fd) = &s.fd {
                if init_done || !s.backpressured() {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    which.push(i as u8);
                }
            }
            // Room for what waits for the live stream's reader.
            if let Some(fd) = s.live.as_ref().and_then(Forward::wants_room) {
                fds.push(PollFd::new(fd, PollFlags::POLLOUT));
                which.push(5);
            }
        }
        if let Some((fd, flags)) = stdin_forward.as_ref().and_then(StdinForward::poll_fd) {
            fds.push(PollFd::new(fd, flags));
            which.push(5);
        }
        if let Some(fd) = result_pipe.as_ref().and_then(|p| p.fd.as_ref()) {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            which.push(6);
        }
        if status_open {
            fds.push(PollFd::new(
                status_reader.get_ref().as_fd(),
                PollFlags::POLLIN,
            ));
            which.push(2);
        }
        if let (Ok(pfd), false) = (&pidfd, init_done) {
            fds.push(PollFd::new(pfd.as_fd(), PollFlags::POLLIN));
            which.push(3);
        }
        fds.push(PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN));
        which.push(4);
        // Short ticks only while a cgroup needs watching (OOM, CPU budget).
        let tick = if init_done {
            Duration::from_millis(20)
        } else if cgroup.is_some() {
            Duration::from_millis(100)
        } else {
            Duration::from_millis(500)
        };
        let wait = deadline
            .saturating_duration_since(now)
            .min(tick)
            .max(Duration::from_millis(1));
        let timeout = PollTimeout::try_from(wait.as_millis() as i32).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, timeout) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(format!("poll: {e}")),
        }
        let ready: Vec<u8> = fds
            .iter()
            .zip(&which)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, w)| *w)
            .collect();
        drop(fds);
        for w in ready {
            match w {
                0 | 1 => {
                    streams[w as usize].drain(&mut buf, init_done, &mut order);
                }
                2 => {
                    status_open = read_status(&mut status_reader, &mut outcome);
                }
                3 => {
                    init_rusage = reap_init(init_pid);
                    init_done = true;
                    // Every other process of the sandbox died with its pid
                    // namespace's init, so the output pipes are closing. The
                    // cgroup is emptied and removed after the loop, which
                    // also kills anything the host put in it; until then,
                    // such a process holding a pipe keeps the loop waiting
                    // for at most two seconds.
                    end_deadline = Some(Instant::now() + Duration::from_secs(2));
                }
                6 => {
                    if let Some(pipe) = result_pipe.as_mut() {
                        pipe.drain(&mut buf);
                    }
                }
                4 => {
                    if let Ok(Some(info)) = signal_fd.read_signal() {
                        if !killed {
                            outcome.external_signal = Some(info.ssi_signo as i32);
                            kill_everything(cgroup, init_pid);
                            killed = true;
                        }
                    }
                }
                // The live streams and stdin move below, whatever woke the loop.
                _ => {}
            }
        }
        let now = Instant::now();
        for stream in &mut streams {
            stream.forward();
            if let Some(live) = &mut stream.live {
                if live.stalled(now, READER_STALL_LIMIT) {
                    // The sandbox no longer waits for this reader; the
                    // capture and the log get everything regardless.
                    live.give_up();
                }
            }
            // As in a shell pipeline, a command whose output nobody reads
            // any more is ended (SIGPIPE would end it there).
            if stream.reader_gone && !killed && !init_done {
                outcome.output_reader_gone = true;
                kill_everything(cgroup, init_pid);
                killed = true;
            }
        }
        if init_done {
            // Nobody is left to read stdin.
            stdin_forward = None;
        }
        if let Some(stdin) = &mut stdin_forward {
            stdin.pump();
            if !stdin.active() {
                stdin_forward = None;
            }
        }
        if pidfd.is_err() && !init_done {
            if let Some(usage) = try_reap_init(init_pid) {
                init_rusage = Some(usage);
                init_done = true;
                end_deadline = Some(Instant::now() + Duration::from_secs(2));
            }
        }
    }
    if status_open {
        // The init is gone, so whatever it wrote is already in the pipe.
        read_status(&mut status_reader, &mut outcome);
    }
    // Whatever is left in the pipe is complete: the command is gone.
    if let Some(pipe) = result_pipe.as_mut() {
        pipe.drain(&mut buf);
    }
    sinks.result = result_pipe.map(ResultPipe::finish);
    let _ = mask.thread_unblock();

    let mut result = base_result(req);
    order.finish();
    // The logs keep their heads; what the capture kept past them is their tail.
    for (stream, path) in streams.iter().zip(&log_paths) {
        if let Some(path) = path {
            if stream.capture.total_bytes() > stream.log_written {
                let (offset, bytes) = stream.capture.tail_from(stream.log_written);
                let _ = logfile::write_tail(path, offset, &bytes);
            }
        }
    }
    result.supervisor_cpu_ms = thread_cpu_ms().saturating_sub(drain_cpu);
    let [mut out, mut err] = streams;
    // What their readers have not taken yet is forwarded after the result
    // is recorded: the end of the execution never waits for a reader.
    sinks.forwards.extend(out.live.take());
    sinks.forwards.extend(err.live.take());
    result.stdout_truncated = out.capture.truncated();
    result.stderr_truncated = err.capture.truncated();
    result.stdout_bytes = out.capture.total_bytes();
    result.stderr_bytes = err.capture.total_bytes();
    (result.stdout, result.stdout_encoding) = encode_stream(out.capture.into_bytes());
    (result.stderr, result.stderr_encoding) = encode_stream(err.capture.into_bytes());
    if let Some(usage) = init_rusage {
        let ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
        result.cpu_ms = ms(usage.ru_utime) + ms(usage.ru_stime);
        result.peak_memory_bytes = (usage.ru_maxrss.max(0) as u64) * 1024;
    }
    if let Some(cg) = cgroup {
        if let Ok(usage) = cg.usage(Reading::Outcome) {
            if usage.oom_kills > 0 {
                outcome.oom = true;
            }
            outcome.final_usage = Some(usage);
        }
    }
    if let Some(proxy) = proxy {
        result.network_refusals = proxy.finish();
    }
    // The next launch's namespace is complete before this one reports.
    drop(spare_maker);
    Ok((result, outcome))
}

/// How often a running execution's cgroup is checked for an OOM kill and
/// its CPU budget.
const WATCH_INTERVAL: Duration = Duration::from_millis(25);

/// `allowed_hosts`: start the proxy outside and point the sandbox at it.
/// Before the clone, so the socket exists when the sandbox's root is built.
fn start_proxy(req: &ExecRequest, spec: &mut SandboxSpec) -> Result<Option<RunningProxy>, String> {
    let profile = &req.profile;
    if profile.allowed_hosts.is_empty() {
        return Ok(None);
    }
    if profile.allow_network {
        // The configuration refuses this; a stored profile must not widen it.
        return Err("allow_network = true cannot be combined with allowed_hosts".into());
    }
    let proxy = RunningProxy::start(&profile.allowed_hosts, &req.proxy)
        .map_err(|e| format!("network proxy: {e}"))?;
    let mut bind = proxy.bind();
    bind.source = bind
        .source
        .canonicalize()
        .map_err(|e| format!("network proxy: {}: {e}", bind.source.display()))?;
    spec.binds.push(bind);
    // Last, over the profile's own: the proxy is the only way out anyway.
    for (name, value) in netproxy::proxy_env() {
        spec.env.retain(|(existing, _)| *existing != name);
        spec.env.push((name, value));
    }
    spec.proxy = Some(RunningProxy::bridge());
    Ok(Some(proxy))
}

fn kill_everything(cgroup: Option<&Cgroup>, init_pid: Pid) {
    // Killing the pid namespace's init takes the whole namespace with it; the
    // cgroup kill also catches anything that is in the cgroup but not the namespace.
    let _ = nix::sys::signal::kill(init_pid, Signal::SIGKILL);
    if let Some(cg) = cgroup {
        let _ = cg.kill_all();
    }
}

/// The CPU time (user and system) this thread has used, in ms.
fn thread_cpu_ms() -> u64 {
    // SAFETY: rusage is plain data; getrusage fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid out-pointer; RUSAGE_THREAD only reads the caller.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } != 0 {
        return 0;
    }
    let ms = |tv: libc::timeval| tv.tv_sec as u64 * 1000 + tv.tv_usec as u64 / 1000;
    ms(usage.ru_utime) + ms(usage.ru_stime)
}

fn wait4(pid: Pid, flags: libc::c_int) -> Option<libc::rusage> {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid out-pointers for status and rusage.
        let rc = unsafe { libc::wait4(pid.as_raw(), &mut status, flags, &mut usage) };
        if rc == pid.as_raw() {
            return Some(usage);
        }
        if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
            continue;
        }
        return None;
    }
}

fn reap_init(pid: Pid) -> Option<libc::rusage> {
    wait4(pid, 0)
}

fn try_reap_init(pid: Pid) -> Option<libc::rusage> {
    wait4(pid, libc::WNOHANG)
}

/// Read complete status lines; returns false once the pipe is closed.
fn read_status(reader: &mut io::BufReader<File>, outcome: &mut Outcome) -> bool {
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return false,
            Ok(_) => {
                if !line.ends_with('\n') {
                    // A partial line: the rest comes with the next read.
                    let mut rest = String::new();
                    let _ = reader.read_line(&mut rest);
                    line.push_str(&rest);
                }
                match serde_json::from_str::<InitMessage>(line.trim()) {
                    Ok(InitMessage::Degraded { mechanism, reason }) => {
                        outcome.degraded.push(format!("{mechanism}: {reason}"))
                    }
                    Ok(InitMessage::Started { .. }) => {}
                    Ok(InitMessage::SetupError { message }) => outcome.setup_error = Some(message),
                    Ok(InitMessage::ExecError { message, exit_code }) => {
                        outcome.exec_error = Some((message, exit_code))
                    }
                    Ok(InitMessage::Exited { code, signal }) => {
                        outcome.exited = Some((code, signal))
                    }
                    Err(_) => {}
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

fn classify(result: &mut ExecResult, outcome: &Outcome, profile: &Profile, timeout: Duration) {
    let signal_exit = |sig: i32| Some(128 + sig);
    if let Some(message) = &outcome.setup_error {
        result.status = Status::Error;
        result.error = error_text(format!("sandbox setup failed: {message}"));
        return;
    }
    if let Some((code, signal)) = outcome.exited {
        result.exit_code = code.or(signal.and_then(signal_exit));
        result.signal = signal;
    }
    if outcome.timed_out {
        result.status = Status::Timeout;
        result.error = error_text(format!(
            "wall-clock timeout after {:.1} s",
            timeout.as_secs_f64()
        ));
        return;
    }
    if outcome.oom {
        result.status = Status::MemoryLimit;
        result.error = error_text(format!(
            "out of memory: the sandbox exceeded max_memory_mb = {}",
            profile.max_memory_mb
        ));
        return;
    }
    let cpu_signal = matches!(result.signal, Some(s) if s == libc::SIGXCPU)
        || (result.signal == Some(libc::SIGKILL)
            && result.cpu_ms >= profile.max_cpu_seconds.saturating_mul(1000));
    if outcome.cpu_exceeded || cpu_signal {
        result.status = Status::CpuLimit;
        result.error = error_text(format!(
            "CPU time limit of {} s exceeded",
            profile.max_cpu_seconds
        ));
        return;
    }
    if outcome.output_reader_gone {
        result.status = Status::Killed;
        result.signal = Some(libc::SIGPIPE);
        result.exit_code = signal_exit(libc::SIGPIPE);
        result.error = error_text(
            "killed: the reader of its live output went away (as SIGPIPE ends a pipeline)".into(),
        );
        return;
    }
    if let Some(sig) = outcome.external_signal {
        result.status = Status::Killed;
        result.signal = Some(sig);
        result.exit_code = signal_exit(sig);
        let name =
            Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.to_string());
        result.error = error_text(format!(
            "killed: {name} from outside (Ctrl-C, `kill`, or a signal to its supervisor)"
        ));
        return;
    }
    if let Some((message, code)) = &outcome.exec_error {
        result.status = Status::Failed;
        result.exit_code = Some(*code);
        result.error = Some(message.clone().into());
        return;
    }
    match outcome.exited {
        Some((Some(0), _)) => result.status = Status::Completed,
        Some((Some(_), _)) => result.status = Status::Failed,
        Some((None, Some(sig))) => {
            let from_outside = [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
            result.status = if from_outside.contains(&sig) {
                Status::Killed
            } else {
                Status::Failed
            };
        }
        _ => {
            result.status = Status::Killed;
            result.error =
                Some("the sandbox's init ended without reporting the command's end".into());
        }
    }
}

fn error_text(text: String) -> Option<ErrorInfo> {
    Some(ErrorInfo::Message(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A log that is never written is never made; the first write makes it
    /// and later ones append.
    #[test]
    fn a_log_is_made_with_its_first_byte() {
        let dir = tempfile::tempdir().expect("tempdir");
        let quiet = dir.path().join("quiet.stdout");
        let mut sink = LogSink::OnFirstWrite(quiet.clone());
        drop(std::mem::take(&mut sink));
        assert!(!quiet.exists());

        let path = dir.path().join("id.stderr");
        let mut sink = LogSink::OnFirstWrite(path.clone());
        for part in [b"one ".as_slice(), b"two"] {
            sink.file()
                .expect("the log")
                .write_all(part)
                .expect("write");
        }
        assert_eq!(std::fs::read(&path).expect("read"), b"one two");

        // Where it cannot be made, the log is off; the output is still captured.
        let mut sink = LogSink::OnFirstWrite(dir.path().join("missing/dir/log"));
        assert!(sink.file().is_none());
        assert!(matches!(sink, LogSink::Off));
    }
}
