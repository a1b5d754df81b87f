//! The caller's descriptors, reached without ever waiting on whoever is at
//! their other end: the live output of `run` and of an attached `exec`, and
//! the stdin a supervisor passes on to its sandbox.
//!
//! A pipe or a terminal is reopened through `/proc/self/fd` into an open
//! file description of our own, which alone is made non-blocking: setting
//! `O_NONBLOCK` on the caller's own description would change it for the
//! shell and every other process that shares it. A socket is written and
//! read with `MSG_DONTWAIT`; a file or a device other than a terminal has
//! nobody at the other end to wait for.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// How long a live output's reader may take nothing while output waits
/// for it before it is given up: the live stream then stops (the capture
/// and the log keep everything) and the sandbox no longer waits for it.
pub const READER_STALL_LIMIT: Duration = Duration::from_secs(10);

/// What a live stream holds for its reader besides the kernel's pipe
/// buffer; while it is full, `run` stops reading the sandbox's output
/// (which then waits as in any pipeline) until the reader catches up or is
/// given up.
pub const FORWARD_BUFFER: usize = 256 * 1024;

/// The largest pipe buffer an unprivileged process can give itself
/// (`/proc/sys/fs/pipe-max-size` by default): what a sandbox's output pipe
/// may still hold when its last process has ended.
pub const PIPE_MAX: usize = 1024 * 1024;

/// One of the caller's descriptors, borrowed for reads or writes that
/// never block.
#[derive(Debug)]
pub enum Endpoint {
    /// A pipe or terminal reopened into a non-blocking description of our
    /// own, for reads and writes, and the caller's descriptor, for `poll`:
    /// a pipe reopened after its writer left never reports the hangup.
    Own(OwnedFd, RawFd),
    /// A socket: `MSG_DONTWAIT` (and `MSG_NOSIGNAL`) per call.
    Socket(RawFd),
    /// A regular file or a device that is no terminal: nothing to wait for.
    Plain(RawFd),
    /// A pipe or terminal that could not be reopened: touched only when
    /// `poll` says it is ready, and written `PIPE_BUF` bytes at a time,
    /// which a pipe with room takes at once.
    Polled(RawFd),
}

impl Endpoint {
    /// `fd` for writing (`write`) or reading. `Err(ENXIO)`: a pipe for
    /// writing whose reader is already gone.
    pub fn open(fd: RawFd, write: bool) -> Result<Endpoint, Errno> {
        // SAFETY: fstat fills a plain struct for a descriptor we do not close.
        let mut stat: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer for the descriptor's status.
        if unsafe { libc::fstat(fd, &mut stat) } != 0 {
            return Ok(Endpoint::Plain(fd));
        }
        let kind = stat.st_mode & libc::S_IFMT;
        // SAFETY: isatty only inspects the descriptor.
        let terminal = unsafe { libc::isatty(fd) } == 1;
        if kind == libc::S_IFSOCK {
            return Ok(Endpoint::Socket(fd));
        }
        if kind != libc::S_IFIFO && !terminal {
            return Ok(Endpoint::Plain(fd));
        }
        let access = if write {
            nix::fcntl::OFlag::O_WRONLY
        } else {
            nix::fcntl::OFlag::O_RDONLY
        };
        let path = format!("/proc/self/fd/{fd}");
        match nix::fcntl::open(
            path.as_str(),
            access
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC
                | nix::fcntl::OFlag::O_NOCTTY,
            nix::sys::stat::Mode::empty(),
        ) {
            Ok(own) => Ok(Endpoint::Own(own, fd)),
            Err(Errno::ENXIO) if write && kind == libc::S_IFIFO => Err(Errno::ENXIO),
            Err(_) => Ok(Endpoint::Polled(fd)),
        }
    }

    /// What to read and write.
    fn raw(&self) -> RawFd {
        use std::os::fd::AsRawFd;
        match self {
            Endpoint::Own(fd, _) => fd.as_raw_fd(),
            Endpoint::Socket(fd) | Endpoint::Plain(fd) | Endpoint::Polled(fd) => *fd,
        }
    }

    /// What to `poll` for readiness.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        let fd = match self {
            Endpoint::Own(_, callers) => *callers,
            _ => self.raw(),
        };
        // SAFETY: the caller's descriptors stay open for as long as this
        // endpoint (they are our stdin, stdout and stderr).
        unsafe { BorrowedFd::borrow_raw(fd) }
    }

    /// Whether `poll` on `fd` reports `flags` right now.
    fn ready(&self, flags: PollFlags) -> bool {
        let mut fds = [PollFd::new(self.as_fd(), flags)];
        matches!(nix::poll::poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
    }

    /// Write some of `data`; `Ok(0)` when the other end takes nothing now.
    pub fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        if data.is_empty() {
            return Ok(0);
        }
        let fd = self.raw();
        let data = match self {
            Endpoint::Polled(_) if !self.ready(PollFlags::POLLOUT) => return Ok(0),
            Endpoint::Polled(_) => &data[..data.len().min(libc::PIPE_BUF)],
            _ => data,
        };
        loop {
            let n = match self {
                // SAFETY: sending from a valid buffer of the given length.
                Endpoint::Socket(_) => unsafe {
                    libc::send(
                        fd,
                        data.as_ptr().cast(),
                        data.len(),
                        libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                    )
                },
                // SAFETY: writing from a valid buffer of the given length.
                _ => unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) },
            };
            if n >= 0 {
                return Ok(n as usize);
            }
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::EAGAIN => return Ok(0),
                errno => return Err(errno),
            }
        }
    }

    /// Read into `buf`: `Ok(None)` when nothing is there now, `Ok(Some(0))` at the end.
    pub fn read(&self, buf: &mut [u8]) -> Result<Option<usize>, Errno> {
        let fd = self.raw();
        if matches!(self, Endpoint::Polled(_))
            && !self.ready(PollFlags::POLLIN | PollFlags::POLLHUP)
        {
            return Ok(None);
        }
        loop {
            let n = match self {
                // SAFETY: receiving into a valid buffer of the given length.
                Endpoint::Socket(_) => unsafe {
                    libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), libc::MSG_DONTWAIT)
                },
                // SAFETY: reading into a valid buffer of the given length.
                _ => unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) },
            };
            if n >= 0 {
                return Ok(Some(n as usize));
            }
            match Errno::last() {
                Errno::EINTR => continue,
                Errno::EAGAIN => return Ok(None),
                errno => return Err(errno),
            }
        }
    }
}

/// Where a live stream is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardState {
    Open,
    /// Its reader went away (EPIPE).
    Gone,
    /// Its reader took nothing for [`READER_STALL_LIMIT`] while output
    /// waited, or more came than could be held: nothing more is forwarded.
    GivenUp,
}

/// A live stream to one of the caller's descriptors, through a bounded
/// buffer, with writes that never block. Once anything could not be
/// forwarded, nothing more is: the reader gets a prefix of the stream,
/// never one with holes.
#[derive(Debug)]
pub struct Forward {
    name: &'static str,
    target: Option<Endpoint>,
    pending: VecDeque<u8>,
    state: ForwardState,
    forwarded: u64,
    dropped: u64,
    /// When the reader last took a byte, or output started waiting for it.
    last_progress: Instant,
    /// The last write error other than EPIPE (a full disk behind `>`).
    error: Option<Errno>,
}

impl Forward {
    /// A live stream named `name` ("stdout") to the caller's `fd`.
    pub fn new(name: &'static str, fd: RawFd) -> Forward {
        let (target, state) = match Endpoint::open(fd, true) {
            Ok(target) => (Some(target), ForwardState::Open),
            Err(_) => (None, ForwardState::Gone),
        };
        Forward {
            name,
            target,
            pending: VecDeque::new(),
            state,
            forwarded: 0,
            dropped: 0,
            last_progress: Instant::now(),
            error: None,
        }
    }

    pub fn error(&self) -> Option<Errno> {
        self.error
    }

    pub fn state(&self) -> ForwardState {
        self.state
    }

    pub fn is_open(&self) -> bool {
        self.state == ForwardState::Open
    }

    /// Bytes that wait for the reader.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Bytes that reached the reader.
    pub fn forwarded(&self) -> u64 {
        self.forwarded
    }

    /// Bytes that never will.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Take `data` for the reader, holding at most `limit` bytes; beyond
    /// that (or once the stream is not open) it is dropped and counted, and
    /// the stream given up.
    pub fn push(&mut self, data: &[u8], limit: usize) {
        if !self.is_open() {
            self.dropped += data.len() as u64;
            return;
        }
        if self.pending.len() + data.len() > limit {
            self.dropped += data.len() as u64;
            self.give_up();
            return;
        }
        if self.pending.is_empty() {
            self.last_progress = Instant::now();
        }
        self.pending.extend(data);
    }

    /// Write what the reader takes now; never blocks.
    pub fn flush(&mut self) -> ForwardState {
        while self.is_open() && !self.pending.is_empty() {
            let Some(target) = &self.target else { break };
            let (chunk, _) = self.pending.as_slices();
            match target.write(chunk) {
                Ok(0) => break,
                Ok(n) => {
                    self.pending.drain(..n);
                    self.forwarded += n as u64;
                    self.last_progress = Instant::now();
                }
                Err(Errno::EPIPE) => {
                    self.dropped += self.pending.len() as u64;
                    self.pending.clear();
                    self.state = ForwardState::Gone;
                }
                // A full disk behind `>`, a hung-up terminal: this output
                // is lost on the way; the capture and the log have it.
                Err(errno) => {
                    self.dropped += self.pending.len() as u64;
                    self.pending.clear();
                    self.error = Some(errno);
                }
            }
        }
        self.state
    }

    /// Output waited for the reader and it took nothing for `limit`.
    pub fn stalled(&self, now: Instant, limit: Duration) -> bool {
        self.is_open()
            && !self.pending.is_empty()
            && now.saturating_duration_since(self.last_progress) >= limit
    }

    /// When [`Forward::stalled`] becomes true if the reader takes nothing.
    pub fn stall_deadline(&self, limit: Duration) -> Option<Instant> {
        (self.is_open() && !self.pending.is_empty()).then(|| self.last_progress + limit)
    }

    pub fn give_up(&mut self) {
        if self.is_open() {
            self.state = ForwardState::GivenUp;
        }
        self.dropped += self.pending.len() as u64;
        self.pending.clear();
    }

    /// What to poll for room, while output waits for the reader.
    pub fn wants_room(&self) -> Option<BorrowedFd<'_>> {
        match (&self.target, self.is_open() && !self.pending.is_empty()) {
            (Some(target), true) => Some(target.as_fd()),
            _ => None,
        }
    }

    /// A line for the caller's stderr when the stream was given up.
    pub fn note(&self) -> Option<String> {
        (self.state == ForwardState::GivenUp).then(|| {
            format!(
                "sandbox-tui: note: the live {} stopped after {} bytes: its reader took nothing for {} s; {} bytes were not shown (the execution's log and result keep the first max_output_kb)",
                self.name,
                self.forwarded,
                READER_STALL_LIMIT.as_secs(),
                self.dropped,
            )
        })
    }
}

/// After the end: forward what `forwards` still hold while their readers
/// keep taking it; a reader that took nothing for `stall` is given up, and
/// `interrupted` (Ctrl-C) gives them all up.
pub fn finish_all(forwards: &mut [Forward], stall: Duration, interrupted: &dyn Fn() -> bool) {
    loop {
        let now = Instant::now();
        let stop = interrupted();
        for live in forwards.iter_mut() {
            live.flush();
            if stop || live.stalled(now, stall) {
                live.give_up();
            }
        }
        if forwards.iter().all(|f| f.wants_room().is_none()) {
            return;
        }
        let waiting: Vec<&Forward> = forwards.iter().collect();
        wait_for_room(&waiting, Duration::from_millis(100));
    }
}

/// Sleep until one of `forwards` has room for what waits, or `timeout`.
pub fn wait_for_room(forwards: &[&Forward], timeout: Duration) {
    let mut fds: Vec<PollFd> = forwards
        .iter()
        .filter_map(|f| f.wants_room())
        .map(|fd| PollFd::new(fd, PollFlags::POLLOUT))
        .collect();
    if fds.is_empty() {
        return;
    }
    let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
    let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
}

/// Write `text` to the caller's `fd` if it takes it now; never blocks.
pub fn note_nonblocking(fd: RawFd, text: &str) {
    if let Ok(target) = Endpoint::open(fd, true) {
        let mut data = text.as_bytes();
        while let Ok(n @ 1..) = target.write(data) {
            data = &data[n..];
        }
    }
}

/// The read end of a pipe for the sandbox's stdin, and our write end,
/// non-blocking (a description of our own, so that is ours to set).
pub fn stdin_pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: pipe2 fills two descriptors that we then own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors were just returned by the kernel.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    nix::fcntl::fcntl(
        write.as_fd(),
        nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK),
    )?;
    Ok((read, write))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::fd::AsRawFd;

    /// A reader that takes nothing never blocks a write: what does not fit
    /// waits, and once the limit is passed the stream is given up whole.
    #[test]
    fn a_reader_that_takes_nothing_never_blocks_the_writer() {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let mut forward = Forward::new("stdout", write.as_raw_fd());
        let chunk = vec![b'y'; 64 * 1024];
        for _ in 0..4 {
            forward.push(&chunk, FORWARD_BUFFER);
            assert_eq!(forward.flush(), ForwardState::Open);
        }
        // The pipe took its 64 KiB; the rest waits.
        assert!(forward.pending() > 0);
        assert!(forward.stalled(Instant::now() + READER_STALL_LIMIT, READER_STALL_LIMIT));
        forward.push(&vec![b'n'; FORWARD_BUFFER], FORWARD_BUFFER);
        assert_eq!(forward.state(), ForwardState::GivenUp);
        assert_eq!(
            forward.forwarded() + forward.dropped(),
            (4 * chunk.len() + FORWARD_BUFFER) as u64
        );
        // Nothing but whole `y`s reached the reader: a prefix, no holes.
        let mut file = std::fs::File::from(read);
        drop(forward);
        drop(write);
        let mut got = Vec::new();
        file.read_to_end(&mut got).expect("read");
        assert!(got.iter().all(|&b| b == b'y'));
        assert!(!got.is_empty());
    }

    /// A pipe whose writer left before it was reopened still wakes `poll`
    /// at its end, and never blocks a read.
    #[test]
    fn a_reopened_pipe_reports_its_end() {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        nix::unistd::write(&write, b"x").expect("write");
        drop(write);
        let source = Endpoint::open(read.as_raw_fd(), false).expect("open");
        assert!(matches!(source, Endpoint::Own(..)));
        let mut buf = [0u8; 8];
        assert_eq!(source.read(&mut buf), Ok(Some(1)));
        assert!(source.ready(PollFlags::POLLIN));
        assert_eq!(source.read(&mut buf), Ok(Some(0)));

        // An empty pipe with a writer: nothing now, without blocking.
        let (read, _write) = nix::unistd::pipe().expect("pipe");
        let source = Endpoint::open(read.as_raw_fd(), false).expect("open");
        assert_eq!(source.read(&mut buf), Ok(None));
        assert!(!source.ready(PollFlags::POLLIN));
    }

    /// The caller's description keeps its flags: only our own is non-blocking.
    #[test]
    fn the_callers_pipe_stays_blocking() {
        let (read, write) = nix::unistd::pipe().expect("pipe");
        let forward = Forward::new("stdout", write.as_raw_fd());
        assert!(matches!(forward.target, Some(Endpoint::Own(..))));
        let flags = nix::fcntl::fcntl(&write, nix::fcntl::FcntlArg::F_GETFL).expect("flags");
        assert_eq!(flags & libc::O_NONBLOCK, 0);
        drop(read);
        let mut forward = forward;
        forward.push(b"x", FORWARD_BUFFER);
        assert_eq!(forward.flush(), ForwardState::Gone);
    }
}
