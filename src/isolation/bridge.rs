//! The only way out of a proxied sandbox: the init listens on
//! `127.0.0.1:PORT` in the sandbox's own (otherwise empty) network namespace
//! and copies each connection to the supervisor's proxy through a Unix
//! socket bound into the sandbox.
//!
//! It runs inside the init's one poll loop (no thread, no extra process), so
//! it costs the sandbox no task of its `pids` limit. The listener is bound
//! before Landlock, which then forbids any TCP bind and allows TCP connect
//! to this port only.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;

use nix::poll::PollFlags;
use serde::{Deserialize, Serialize};

/// Concurrent bridged connections, at most; also bounded by RLIMIT_NOFILE.
const MAX_PAIRS: usize = 64;
/// Descriptors the init keeps for itself (stdio, status, signalfd, listener).
const RESERVED_FDS: u64 = 8;
const BUF_SIZE: usize = 32 * 1024;

/// What the init needs to bridge: where the proxy's socket is inside the
/// sandbox, and which loopback port to listen on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProxyBridge {
    pub socket: PathBuf,
    pub port: u16,
}

pub struct Bridge {
    listener: TcpListener,
    socket: PathBuf,
    pairs: Vec<Pair>,
    max_pairs: usize,
}

/// One direction of a connection: bytes read but not yet written.
struct Pipe {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// The source reached end of file.
    eof: bool,
    /// ...and everything was written and the destination's write side shut.
    done: bool,
}

impl Pipe {
    fn new() -> Pipe {
        Pipe {
            buf: vec![0; BUF_SIZE].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            done: false,
        }
    }

    fn wants_read(&self) -> bool {
        !self.eof && self.end == 0
    }

    fn wants_write(&self) -> bool {
        self.start < self.end || (self.eof && !self.done)
    }

    /// Moves bytes until either side would block. Err: the pair is broken.
    fn pump(
        &mut self,
        mut src: impl Read,
        mut dst: impl Write,
        shutdown_dst: impl Fn() -> io::Result<()>,
    ) -> io::Result<()> {
        loop {
            if self.start < self.end {
                match dst.write(&self.buf[self.start..self.end]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => {
                        self.start += n;
                        if self.start == self.end {
                            self.start = 0;
                            self.end = 0;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
                continue;
            }
            if self.eof {
                if !self.done {
                    self.done = true;
                    // Half-close: the other direction may still carry a reply.
                    shutdown_dst()?;
                }
                return Ok(());
            }
            match src.read(&mut self.buf) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

struct Pair {
    inside: TcpStream,
    outside: UnixStream,
    /// inside -> proxy
    up: Pipe,
    /// proxy -> inside
    down: Pipe,
}

impl Pair {
    /// Ok(false): finished in both directions.
    fn service(&mut self) -> io::Result<bool> {
        let (inside, outside) = (&self.inside, &self.outside);
        self.up
            .pump(inside, outside, || outside.shutdown(Shutdown::Write))?;
        self.down
            .pump(outside, inside, || inside.shutdown(Shutdown::Write))?;
        Ok(!(self.up.done && self.down.done))
    }
}

impl Bridge {
    /// Binds the loopback listener. Called after the loopback is up and the
    /// rlimits are set, before Landlock.
    pub fn listen(spec: &ProxyBridge) -> io::Result<Bridge> {
        let listener = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, spec.port))?;
        listener.set_nonblocking(true)?;
        let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
            .map(|(soft, _)| soft)
            .unwrap_or(0);
        let by_fds = usize::try_from(nofile.saturating_sub(RESERVED_FDS) / 2).unwrap_or(MAX_PAIRS);
        Ok(Bridge {
            listener,
            socket: spec.socket.clone(),
            pairs: Vec::new(),
            max_pairs: by_fds.clamp(1, MAX_PAIRS),
        })
    }

    /// Descriptors to poll and what to wait for; descriptors with nothing to
    /// wait for are left out, so a hung-up peer cannot make poll spin.
    pub fn interests(&self) -> Vec<(BorrowedFd<'_>, PollFlags)> {
        let mut out = Vec::with_capacity(1 + 2 * self.pairs.len());
        if self.pairs.len() < self.max_pairs {
            out.push((self.listener.as_fd(), PollFlags::POLLIN));
        }
        for pair in &self.pairs {
            let mut inside = PollFlags::empty();
            let mut outside = PollFlags::empty();
            if pair.up.wants_read() {
                inside |= PollFlags::POLLIN;
            }
            if pair.up.wants_write() {
                outside |= PollFlags::POLLOUT;
            }
            if pair.down.wants_read() {
                outside |= PollFlags::POLLIN;
            }
            if pair.down.wants_write() {
                inside |= PollFlags::POLLOUT;
            }
            if !inside.is_empty() {
                out.push((pair.inside.as_fd(), inside));
            }
            if !outside.is_empty() {
                out.push((pair.outside.as_fd(), outside));
            }
        }
        out
    }

    /// Accepts what is waiting and moves whatever can move, without blocking
    /// (except on connecting to the proxy's Unix socket, which the proxy
    /// accepts at once).
    pub fn service(&mut self) {
        while self.pairs.len() < self.max_pairs {
            match self.listener.accept() {
                Ok((inside, _)) => {
                    if let Some(pair) = self.connect(inside) {
                        self.pairs.push(pair);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(libc::EMFILE) => {
                    // Out of descriptors: wait until a connection ends.
                    self.max_pairs = self.pairs.len().max(1);
                    break;
                }
                Err(_) => break,
            }
        }
        self.pairs
            .retain_mut(|pair| matches!(pair.service(), Ok(true)));
    }

    fn connect(&self, inside: TcpStream) -> Option<Pair> {
        // Dropping `inside` on any failure closes the client's connection:
        // with the proxy unreachable there is no network, never a bypass.
        let outside = UnixStream::connect(&self.socket).ok()?;
        inside.set_nonblocking(true).ok()?;
        outside.set_nonblocking(true).ok()?;
        Some(Pair {
            inside,
            outside,
            up: Pipe::new(),
            down: Pipe::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixListener;
    use std::time::Duration;

    /// The whole round trip on the host: client -> bridge -> Unix socket ->
    /// echo server, driven by the same poll loop shape the init uses.
    #[test]
    fn bridges_both_directions_with_half_close() {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("proxy.sock");
        let server = UnixListener::bind(&socket).expect("bind unix");
        let echo = std::thread::spawn(move || {
            let (mut conn, _) = server.accept().expect("accept");
            let mut got = Vec::new();
            conn.read_to_end(&mut got).expect("read");
            conn.write_all(b"echo:").expect("write");
            conn.write_all(&got).expect("write");
        });
        // Port 0 would be ideal, but the bridge binds a fixed port; find a free one.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut bridge = Bridge::listen(&ProxyBridge { socket, port }).expect("listen");
        let client = std::thread::spawn(move || {
            let mut conn = TcpStream::connect(("127.0.0.1", port)).expect("connect");
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .expect("timeout");
            let payload = vec![7u8; 200_000];
            conn.write_all(&payload).expect("send");
            conn.shutdown(Shutdown::Write).expect("shutdown");
            let mut reply = Vec::new();
            conn.read_to_end(&mut reply).expect("reply");
            reply
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        // Until the client has its whole reply: a pair may be accepted,
        // served and closed within one `service`, so an empty pair list
        // says nothing by itself.
        while !(client.is_finished() && bridge.pairs.is_empty()) {
            assert!(std::time::Instant::now() < deadline, "bridge stalled");
            {
                let interests = bridge.interests();
                let mut fds: Vec<nix::poll::PollFd> = interests
                    .iter()
                    .map(|(fd, ev)| nix::poll::PollFd::new(*fd, *ev))
                    .collect();
                let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(100u16));
            }
            bridge.service();
        }
        let reply = client.join().expect("client");
        echo.join().expect("echo");
        assert_eq!(&reply[..5], b"echo:");
        assert_eq!(reply.len(), 5 + 200_000);
    }
}
