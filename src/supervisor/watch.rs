//! The watch loop of one execution: one `poll` over its sources (the
//! output pipes, the live streams, stdin, the result pipe, the init's status
//! and exit, the stop signals), with the timeout and the cgroup checked on a
//! clock. The supervisor is single-threaded; nothing here blocks.

use std::fs::File;
use std::io::{self, BufRead, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::Pid;

use super::classify::Outcome;
use super::launch::Launched;
use super::{base_result, set_streams, ExecRequest, LogSink, OutputSinks};
use crate::cgroup::{Cgroup, Reading};
use crate::escape::TerminalStream;
use crate::execution::{ExecResult, ResultCapture};
use crate::isolation::InitMessage;
use crate::output::forward::{
    self, Endpoint, Forward, ForwardState, FORWARD_BUFFER, PIPE_MAX, READER_STALL_LIMIT,
};
use crate::output::logfile::{self, LogStream, OrderWriter};
use crate::output::CappedCapture;

/// What a descriptor in the loop's `poll` stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    /// The sandbox's stdout (0) or stderr (1) pipe.
    Output(usize),
    /// Room in a live stream's reader, or stdin on its way in: both move
    /// after every wake-up, whatever woke the loop.
    Forward,
    /// The init's status messages.
    Status,
    /// The init's pidfd: it has ended.
    InitExit,
    /// A stop signal to the supervisor.
    Signal,
    /// A Python job's result pipe.
    Result,
}

/// Drain the output, forward stdin, enforce the timeout and the CPU budget,
/// watch for OOM and signals until the init has ended and the pipes are
/// closed; then the capture, the logs' tails and the cgroup's figures.
pub(super) fn watch(
    req: &ExecRequest,
    cgroup: Option<&Cgroup>,
    sinks: &mut OutputSinks,
    started: Instant,
    launched: Launched,
) -> Result<(ExecResult, Outcome), String> {
    let Launched {
        init_pid,
        pidfd,
        status,
        out_read,
        err_read,
        mut result_pipe,
        mut stdin_forward,
        mask,
        signal_fd,
        proxy,
        spare_maker,
    } = launched;
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
    let mut status_reader = io::BufReader::new(status);
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
        let mut which: Vec<Source> = Vec::with_capacity(8);
        for (i, s) in streams.iter().enumerate() {
            if let Some(fd) = &s.fd {
                if init_done || !s.backpressured() {
                    fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
                    which.push(Source::Output(i));
                }
            }
            // Room for what waits for the live stream's reader.
            if let Some(fd) = s.live.as_ref().and_then(Forward::wants_room) {
                fds.push(PollFd::new(fd, PollFlags::POLLOUT));
                which.push(Source::Forward);
            }
        }
        if let Some((fd, flags)) = stdin_forward.as_ref().and_then(StdinForward::poll_fd) {
            fds.push(PollFd::new(fd, flags));
            which.push(Source::Forward);
        }
        if let Some(fd) = result_pipe.as_ref().and_then(|p| p.fd.as_ref()) {
            fds.push(PollFd::new(fd.as_fd(), PollFlags::POLLIN));
            which.push(Source::Result);
        }
        if status_open {
            fds.push(PollFd::new(
                status_reader.get_ref().as_fd(),
                PollFlags::POLLIN,
            ));
            which.push(Source::Status);
        }
        if let (Ok(pfd), false) = (&pidfd, init_done) {
            fds.push(PollFd::new(pfd.as_fd(), PollFlags::POLLIN));
            which.push(Source::InitExit);
        }
        fds.push(PollFd::new(signal_fd.as_fd(), PollFlags::POLLIN));
        which.push(Source::Signal);
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
        let ready: Vec<Source> = fds
            .iter()
            .zip(&which)
            .filter(|(fd, _)| fd.revents().is_some_and(|r| !r.is_empty()))
            .map(|(_, w)| *w)
            .collect();
        drop(fds);
        for w in ready {
            match w {
                Source::Output(i) => {
                    streams[i].drain(&mut buf, init_done, &mut order);
                }
                Source::Status => {
                    status_open = read_status(&mut status_reader, &mut outcome);
                }
                Source::InitExit => {
                    init_rusage = reap_init(init_pid, &mut outcome);
                    init_done = true;
                    // Every other process of the sandbox died with its pid
                    // namespace's init, so the output pipes are closing. The
                    // cgroup is emptied and removed after the loop, which
                    // also kills anything the host put in it; until then,
                    // such a process holding a pipe keeps the loop waiting
                    // for at most two seconds.
                    end_deadline = Some(Instant::now() + Duration::from_secs(2));
                }
                Source::Result => {
                    if let Some(pipe) = result_pipe.as_mut() {
                        pipe.drain(&mut buf);
                    }
                }
                Source::Signal => {
                    if let Ok(Some(info)) = signal_fd.read_signal() {
                        if !killed {
                            outcome.external_signal = Some(info.ssi_signo as i32);
                            kill_everything(cgroup, init_pid);
                            killed = true;
                        }
                    }
                }
                // The live streams and stdin move below, whatever woke the loop.
                Source::Forward => {}
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
            if let Some(usage) = try_reap_init(init_pid, &mut outcome) {
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
    set_streams(&mut result, out.capture, err.capture);
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
pub(super) struct ResultPipe {
    fd: Option<OwnedFd>,
    capture: ResultCapture,
    cap: usize,
}

impl ResultPipe {
    pub(super) fn new(fd: OwnedFd, cap: u64) -> ResultPipe {
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
pub(super) fn live_escape(live: bool, fd: RawFd) -> Option<TerminalStream> {
    // SAFETY: isatty only queries the descriptor.
    (live && unsafe { libc::isatty(fd) } == 1).then(TerminalStream::new)
}

/// The caller's stdin on its way to the sandbox, through a pipe of ours:
/// the sandbox never holds the caller's descriptor (it could change a
/// terminal's modes, seek a file, or read keystrokes meant for the shell),
/// and a forwarding that cannot proceed waits in the loop's `poll`.
pub(super) struct StdinForward {
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
    pub(super) fn open() -> Result<Option<(StdinForward, OwnedFd)>, String> {
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
pub(super) fn discard_own_sigpipe() {
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

/// How often a running execution's cgroup is checked for an OOM kill and
/// its CPU budget.
const WATCH_INTERVAL: Duration = Duration::from_millis(25);

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

/// Reap the init; its own exit code goes into `outcome` (an init that
/// exits without having reported the command's end failed, where one
/// killed by a signal was killed).
fn wait4(pid: Pid, flags: libc::c_int, outcome: &mut Outcome) -> Option<libc::rusage> {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: valid out-pointers for status and rusage.
        let rc = unsafe { libc::wait4(pid.as_raw(), &mut status, flags, &mut usage) };
        if rc == pid.as_raw() {
            if libc::WIFEXITED(status) {
                outcome.init_exit_code = Some(libc::WEXITSTATUS(status));
            }
            return Some(usage);
        }
        if rc < 0 && nix::errno::Errno::last() == nix::errno::Errno::EINTR {
            continue;
        }
        return None;
    }
}

fn reap_init(pid: Pid, outcome: &mut Outcome) -> Option<libc::rusage> {
    wait4(pid, 0, outcome)
}

fn try_reap_init(pid: Pid, outcome: &mut Outcome) -> Option<libc::rusage> {
    wait4(pid, libc::WNOHANG, outcome)
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
