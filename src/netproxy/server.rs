//! The proxy itself: accepts on the Unix socket the sandbox reaches through
//! its bridge, speaks HTTP (CONNECT and absolute-URI requests) or SOCKS5
//! (told apart by the first byte), checks the allowlist, resolves names
//! itself, connects, and copies bytes both ways. Blocking I/O, one thread per
//! connection plus one for the reverse direction, at most
//! [`MAX_CONNECTIONS`] at once.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::allowlist::{Allowlist, Check};
use super::resolve::Hosts;
use super::NetworkRefusal;

/// Connections served at once; more are closed on arrival.
pub const MAX_CONNECTIONS: usize = 64;
/// Refusals written to the log; a flood of attempts cannot grow it further.
pub const MAX_LOGGED_REFUSALS: usize = 1000;
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// For the request itself: a client that never finishes it loses its slot.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Policy {
    pub allowlist: Allowlist,
    pub hosts: Hosts,
    log: Mutex<RefusalLog>,
}

struct RefusalLog {
    file: File,
    written: usize,
}

impl Policy {
    pub fn new(allowlist: Allowlist, hosts: Hosts, log: File) -> Policy {
        Policy {
            allowlist,
            hosts,
            log: Mutex::new(RefusalLog {
                file: log,
                written: 0,
            }),
        }
    }

    fn refuse(&self, host: &str, port: u16, reason: String) -> Failure {
        let refusal = NetworkRefusal {
            host: host.to_string(),
            port,
            time_ms: super::now_ms(),
            reason: reason.clone(),
        };
        if let Ok(mut log) = self.log.lock() {
            if log.written < MAX_LOGGED_REFUSALS {
                if let Ok(mut line) = serde_json::to_vec(&refusal) {
                    line.push(b'\n');
                    // One write per line on an O_APPEND file: lines never interleave.
                    if log.file.write_all(&line).is_ok() {
                        log.written += 1;
                    }
                }
            }
        }
        Failure::Refused(reason)
    }

    /// Checks, resolves and connects. Only policy decisions are refusals;
    /// a listed host that does not resolve or answer is an upstream failure.
    fn connect(&self, host: &str, port: u16) -> Result<TcpStream, Failure> {
        let candidates: Vec<SocketAddr> = match self.allowlist.check(host, port) {
            Check::Refuse(reason) => return Err(self.refuse(host, port, reason)),
            Check::Connect(ip) => vec![SocketAddr::new(ip, port)],
            Check::Resolve(name) => {
                let resolved = self.hosts.resolve(&name, port).map_err(|e| {
                    Failure::Unreachable(
                        format!("cannot resolve {name}: {e}"),
                        SOCKS_HOST_UNREACHABLE,
                    )
                })?;
                let allowed: Vec<SocketAddr> = resolved
                    .iter()
                    .copied()
                    .filter(|a| self.allowlist.address_allowed(a.ip(), port))
                    .collect();
                if allowed.is_empty() {
                    let Some(first) = resolved.first() else {
                        return Err(Failure::Unreachable(
                            format!("{name} has no address"),
                            SOCKS_HOST_UNREACHABLE,
                        ));
                    };
                    let reason = format!(
                        "{name} resolves to {}, a loopback, private or special address that is not itself in allowed_hosts (DNS rebinding protection)",
                        first.ip()
                    );
                    return Err(self.refuse(host, port, reason));
                }
                allowed
            }
        };
        let mut last = None;
        for addr in &candidates {
            match TcpStream::connect_timeout(addr, CONNECT_TIMEOUT) {
                Ok(stream) => return Ok(stream),
                Err(e) => last = Some(e),
            }
        }
        let detail = last.map_or_else(|| "no address".to_string(), |e| e.to_string());
        Err(Failure::Unreachable(
            format!("cannot connect to {host}:{port}: {detail}"),
            SOCKS_CONNECTION_REFUSED,
        ))
    }
}

enum Failure {
    Refused(String),
    /// Message, SOCKS5 reply code.
    Unreachable(String, u8),
}

/// Serves until the process is killed (the supervisor does that when the
/// execution ends).
pub fn serve(listener: UnixListener, policy: Arc<Policy>) {
    let active = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let Ok(conn) = conn else {
            // EMFILE and friends: let connections finish before accepting more.
            std::thread::sleep(Duration::from_millis(50));
            continue;
        };
        if active.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue;
        }
        let slot = Slot::take(&active);
        let policy = Arc::clone(&policy);
        let spawned = std::thread::Builder::new()
            .name("proxy-conn".into())
            .spawn(move || {
                let _slot = slot;
                handle(conn, &policy);
            });
        // On failure the closure, with the connection and the slot, is dropped.
        drop(spawned);
    }
}

/// A counted place among the active connections, given back on drop.
struct Slot(Arc<AtomicUsize>);

impl Slot {
    fn take(active: &Arc<AtomicUsize>) -> Slot {
        active.fetch_add(1, Ordering::SeqCst);
        Slot(Arc::clone(active))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn handle(client: UnixStream, policy: &Policy) {
    if client.set_read_timeout(Some(HANDSHAKE_TIMEOUT)).is_err() {
        return;
    }
    let mut first = [0u8; 1];
    if !matches!((&client).read(&mut first), Ok(1)) {
        return;
    }
    let upstream = if first[0] == SOCKS_VERSION {
        socks5(&client, policy)
    } else {
        http(&client, first[0], policy)
    };
    let Some((upstream, pending)) = upstream else {
        return;
    };
    if client.set_read_timeout(None).is_err() {
        return;
    }
    if !pending.is_empty() && (&upstream).write_all(&pending).is_err() {
        return;
    }
    relay(client, upstream);
}

/// Copies both ways until both sides are done; each side's end of file
/// becomes a half-close of the other.
fn relay(client: UnixStream, upstream: TcpStream) {
    let (Ok(client2), Ok(upstream2)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let down = std::thread::Builder::new()
        .name("proxy-down".into())
        .spawn(move || {
            let _ = io::copy(&mut &upstream2, &mut &client2);
            let _ = client2.shutdown(Shutdown::Write);
        });
    let _ = io::copy(&mut &client, &mut &upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    match down {
        Ok(down) => {
            let _ = down.join();
        }
        // Without the reverse thread nothing could be answered.
        Err(_) => {
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}

// --- HTTP ---------------------------------------------------------------

fn http(client: &UnixStream, first: u8, policy: &Policy) -> Option<(TcpStream, Vec<u8>)> {
    let mut buf = vec![first];
    let head_end = loop {
        if let Some(pos) = find(&buf, b"\r\n\r\n") {
            break pos + 4;
        }
        if buf.len() > MAX_HEAD_BYTES {
            respond(
                client,
                431,
                "Request Header Fields Too Large",
                "request head too large",
            );
            return None;
        }
        let mut chunk = [0u8; 4096];
        match (&*client).read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let rest = buf.split_off(head_end);
    let request = match Request::parse(&buf) {
        Ok(request) => request,
        Err(message) => {
            respond(client, 400, "Bad Request", message);
            return None;
        }
    };
    let upstream = match policy.connect(&request.host, request.port) {
        Ok(upstream) => upstream,
        Err(Failure::Refused(reason)) => {
            let body = format!(
                "sandbox-tui: connection to {}:{} refused: {reason}",
                request.host, request.port
            );
            respond(client, 403, "Forbidden", &body);
            return None;
        }
        Err(Failure::Unreachable(message, _)) => {
            respond(
                client,
                502,
                "Bad Gateway",
                &format!("sandbox-tui: {message}"),
            );
            return None;
        }
    };
    if request.connect {
        if (&*client)
            .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .is_err()
        {
            return None;
        }
        return Some((upstream, rest));
    }
    let mut forward = request.origin_head;
    forward.extend_from_slice(&rest);
    Some((upstream, forward))
}

/// A proxy request: where to, and for plain HTTP the head to send upstream.
#[derive(Debug, PartialEq)]
struct Request {
    connect: bool,
    host: String,
    port: u16,
    /// Origin-form request line, hop-by-hop headers dropped, `Connection: close`.
    origin_head: Vec<u8>,
}

impl Request {
    fn parse(head: &[u8]) -> Result<Request, &'static str> {
        let mut lines = head
            .split(|b| *b == b'\n')
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let line = lines
            .next()
            .and_then(|l| std::str::from_utf8(l).ok())
            .ok_or("bad request line")?;
        let mut parts = line.split(' ');
        let (Some(method), Some(target), Some(version), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err("bad request line");
        };
        if !version.starts_with("HTTP/") {
            return Err("bad request line");
        }
        if method.eq_ignore_ascii_case("CONNECT") {
            let (host, port) = split_host_port(target, None).ok_or("CONNECT needs host:port")?;
            return Ok(Request {
                connect: true,
                host,
                port,
                origin_head: Vec::new(),
            });
        }
        let scheme_len = "http://".len();
        let is_http = target
            .get(..scheme_len)
            .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
        if !is_http {
            return Err("only http:// URLs and CONNECT are proxied");
        }
        let after = &target[scheme_len..];
        let split = after.find(['/', '?']).unwrap_or(after.len());
        let (authority, path) = after.split_at(split);
        // user:password@ is for the origin, never part of where to connect.
        let authority = authority.rsplit('@').next().unwrap_or(authority);
        let (host, port) = split_host_port(authority, Some(80)).ok_or("bad host in URL")?;
        let path = match path {
            "" => "/".to_string(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_string(),
        };
        let mut origin_head = format!("{method} {path} {version}\r\n").into_bytes();
        for header in lines.filter(|l| !l.is_empty()) {
            let name = header.split(|b| *b == b':').next().unwrap_or(header);
            let hop_by_hop = [
                &b"connection"[..],
                b"proxy-connection",
                b"keep-alive",
                b"proxy-authorization",
            ]
            .iter()
            .any(|h| name.trim_ascii().eq_ignore_ascii_case(h));
            if !hop_by_hop {
                origin_head.extend_from_slice(header);
                origin_head.extend_from_slice(b"\r\n");
            }
        }
        // One request per connection: a kept-alive connection could carry a
        // next request meant for another host to this one.
        origin_head.extend_from_slice(b"Connection: close\r\n\r\n");
        Ok(Request {
            connect: false,
            host,
            port,
            origin_head,
        })
    }
}

/// `host:port`, `[v6]:port`, or with a default port `host` and `[v6]`.
/// The host comes back without brackets.
fn split_host_port(s: &str, default_port: Option<u16>) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p > 0)?,
        None => default_port?,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn respond(client: &UnixStream, code: u16, reason: &str, body: &str) {
    let response = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    );
    let _ = (&*client).write_all(response.as_bytes());
}

// --- SOCKS5 (RFC 1928), CONNECT only, no authentication -----------------

const SOCKS_VERSION: u8 = 0x05;
const SOCKS_NO_AUTH: u8 = 0x00;
const SOCKS_NO_ACCEPTABLE: u8 = 0xff;
const SOCKS_CMD_CONNECT: u8 = 0x01;
const SOCKS_GENERAL_FAILURE: u8 = 0x01;
const SOCKS_NOT_ALLOWED: u8 = 0x02;
const SOCKS_HOST_UNREACHABLE: u8 = 0x04;
const SOCKS_CONNECTION_REFUSED: u8 = 0x05;
const SOCKS_COMMAND_NOT_SUPPORTED: u8 = 0x07;
const SOCKS_ADDRESS_NOT_SUPPORTED: u8 = 0x08;

fn socks5(client: &UnixStream, policy: &Policy) -> Option<(TcpStream, Vec<u8>)> {
    let mut input = client;
    // The version byte was read already.
    let mut n = [0u8; 1];
    input.read_exact(&mut n).ok()?;
    let mut methods = vec![0u8; usize::from(n[0])];
    input.read_exact(&mut methods).ok()?;
    if !methods.contains(&SOCKS_NO_AUTH) {
        let _ = input.write_all(&[SOCKS_VERSION, SOCKS_NO_ACCEPTABLE]);
        return None;
    }
    input.write_all(&[SOCKS_VERSION, SOCKS_NO_AUTH]).ok()?;

    let mut header = [0u8; 4];
    input.read_exact(&mut header).ok()?;
    let [version, command, _, address_type] = header;
    if version != SOCKS_VERSION {
        return None;
    }
    let host = match address_type {
        0x01 => {
            let mut octets = [0u8; 4];
            input.read_exact(&mut octets).ok()?;
            Ipv4Addr::from(octets).to_string()
        }
        0x03 => {
            let mut len = [0u8; 1];
            input.read_exact(&mut len).ok()?;
            let mut name = vec![0u8; usize::from(len[0])];
            input.read_exact(&mut name).ok()?;
            String::from_utf8_lossy(&name).into_owned()
        }
        0x04 => {
            let mut octets = [0u8; 16];
            input.read_exact(&mut octets).ok()?;
            Ipv6Addr::from(octets).to_string()
        }
        _ => {
            socks_reply(input, SOCKS_ADDRESS_NOT_SUPPORTED);
            return None;
        }
    };
    let mut port = [0u8; 2];
    input.read_exact(&mut port).ok()?;
    let port = u16::from_be_bytes(port);
    if command != SOCKS_CMD_CONNECT {
        socks_reply(input, SOCKS_COMMAND_NOT_SUPPORTED);
        return None;
    }
    match policy.connect(&host, port) {
        Ok(upstream) => {
            socks_reply(input, 0x00);
            Some((upstream, Vec::new()))
        }
        Err(Failure::Refused(_)) => {
            socks_reply(input, SOCKS_NOT_ALLOWED);
            None
        }
        Err(Failure::Unreachable(_, code)) => {
            socks_reply(input, code);
            None
        }
    }
}

fn socks_reply(mut client: &UnixStream, code: u8) {
    let code = if code == 0 || code <= SOCKS_ADDRESS_NOT_SUPPORTED {
        code
    } else {
        SOCKS_GENERAL_FAILURE
    };
    // The bound address is of no use to a client behind the bridge: 0.0.0.0:0.
    let _ = client.write_all(&[SOCKS_VERSION, code, 0, 0x01, 0, 0, 0, 0, 0, 0]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_and_connect_requests() {
        let r = Request::parse(
            b"GET http://user:pw@Example.com:8080/a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nProxy-Connection: keep-alive\r\nConnection: keep-alive\r\nAccept: */*\r\n\r\n",
        )
        .unwrap();
        assert!(!r.connect);
        assert_eq!((r.host.as_str(), r.port), ("Example.com", 8080));
        assert_eq!(
            String::from_utf8(r.origin_head).unwrap(),
            "GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        );

        let r = Request::parse(b"GET http://h?x HTTP/1.0\r\n\r\n").unwrap();
        assert_eq!((r.host.as_str(), r.port), ("h", 80));
        assert!(r.origin_head.starts_with(b"GET /?x HTTP/1.0\r\n"));

        let r = Request::parse(b"CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert!(r.connect);
        assert_eq!((r.host.as_str(), r.port), ("::1", 443));

        for bad in [
            &b"CONNECT example.com HTTP/1.1\r\n\r\n"[..],
            b"GET /relative HTTP/1.1\r\n\r\n",
            b"GET https://example.com/ HTTP/1.1\r\n\r\n",
            b"GET http://:80/ HTTP/1.1\r\n\r\n",
            b"GET http://h:0/ HTTP/1.1\r\n\r\n",
            b"nonsense\r\n\r\n",
        ] {
            assert!(
                Request::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(split_host_port("a:1", None), Some(("a".into(), 1)));
        assert_eq!(split_host_port("a", Some(80)), Some(("a".into(), 80)));
        assert_eq!(split_host_port("a", None), None);
        assert_eq!(split_host_port("[::1]", Some(80)), Some(("::1".into(), 80)));
        assert_eq!(split_host_port("[::1]:9", None), Some(("::1".into(), 9)));
        assert_eq!(split_host_port("[::1]x", Some(80)), None);
        assert_eq!(split_host_port("a:x", Some(80)), None);
    }
}
