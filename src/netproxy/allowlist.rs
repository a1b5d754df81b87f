//! `allowed_hosts`: parsing the entries, matching a requested host and port
//! against them, and telling public addresses from loopback and private ones.
//!
//! Pure code: no sockets, no resolution. The proxy asks [`Allowlist::check`]
//! whether a name or address literal is listed at all, resolves it itself, and
//! then keeps only the addresses [`Allowlist::address_allowed`] accepts.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest DNS name, without the trailing dot.
const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

/// What one entry matches on the host side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    /// A name, lower-case, without a trailing dot.
    Name(String),
    /// `*.suffix`: any name that ends in `.suffix` (not `suffix` itself).
    Wildcard(String),
    /// An address literal; v4-mapped IPv6 addresses are stored as IPv4.
    Ip(IpAddr),
}

/// One parsed `allowed_hosts` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    pub host: HostPattern,
    /// `None`: any port.
    pub port: Option<u16>,
}

impl HostRule {
    /// Parses `host`, `host:port`, `*.domain`, `*.domain:port`, an IPv4
    /// literal with or without a port, `[v6]`, `[v6]:port` or a bare IPv6
    /// literal. The error is a sentence for a configuration diagnostic.
    pub fn parse(entry: &str) -> Result<HostRule, String> {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err("must not be empty".into());
        }
        if entry.contains("://") || entry.contains('/') {
            return Err(format!(
                "expected a host name or address, optionally with :port, not a URL (got \"{entry}\")"
            ));
        }
        if let Some(rest) = entry.strip_prefix('[') {
            let (addr, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("unclosed '[' in \"{entry}\""))?;
            let ip: Ipv6Addr = addr
                .parse()
                .map_err(|_| format!("not an IPv6 address: \"{addr}\""))?;
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(p) => Some(parse_port(p)?),
                    None => return Err(format!("unexpected \"{after}\" after ']'")),
                },
            };
            return Ok(HostRule {
                host: HostPattern::Ip(canonical(IpAddr::V6(ip))),
                port,
            });
        }
        if entry.matches(':').count() > 1 {
            let ip: Ipv6Addr = entry.parse().map_err(|_| {
                format!("not an IPv6 address (write [addr]:port to add a port): \"{entry}\"")
            })?;
            return Ok(HostRule {
                host: HostPattern::Ip(canonical(IpAddr::V6(ip))),
                port: None,
            });
        }
        let (host, port) = match entry.split_once(':') {
            Some((host, port)) => (host, Some(parse_port(port)?)),
            None => (entry, None),
        };
        if let Ok(ip) = host.parse::<Ipv4Addr>() {
            return Ok(HostRule {
                host: HostPattern::Ip(IpAddr::V4(ip)),
                port,
            });
        }
        let pattern = match host.strip_prefix("*.") {
            Some(suffix) => HostPattern::Wildcard(check_name(suffix)?),
            None if host.contains('*') => {
                return Err(format!(
                    "a wildcard must be a whole first label, as in *.example.com (got \"{host}\")"
                ))
            }
            None => HostPattern::Name(check_name(host)?),
        };
        Ok(HostRule {
            host: pattern,
            port,
        })
    }

    fn port_matches(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }
}

impl fmt::Display for HostRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.host, self.port) {
            (HostPattern::Name(n), _) => f.write_str(n)?,
            (HostPattern::Wildcard(s), _) => write!(f, "*.{s}")?,
            (HostPattern::Ip(IpAddr::V6(ip)), Some(_)) => write!(f, "[{ip}]")?,
            (HostPattern::Ip(ip), _) => write!(f, "{ip}")?,
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

fn parse_port(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!("port must be 1 to 65535 (got \"{s}\")")),
    }
}

/// Validates a DNS name and returns it lower-case, without a trailing dot.
fn check_name(name: &str) -> Result<String, String> {
    let lower = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= MAX_LABEL_LEN
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if lower.is_empty() || lower.len() > MAX_NAME_LEN || !lower.split('.').all(valid_label) {
        return Err(format!(
            "not a valid host name: \"{name}\" (labels of A-Z, a-z, 0-9, '-' and '_', separated by dots)"
        ));
    }
    Ok(lower)
}

/// v4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the IPv4 address they carry.
pub fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// A requested host as the proxy sees it, normalised for matching.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Name(String),
    Ip(IpAddr),
}

impl Target {
    /// Accepts a name, an address literal, or a bracketed IPv6 literal.
    pub fn parse(host: &str) -> Option<Target> {
        let bare = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Some(Target::Ip(canonical(ip)));
        }
        check_name(bare).ok().map(Target::Name)
    }
}

/// The decision on a requested host before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// A listed name: resolve it and keep the addresses `address_allowed` accepts.
    Resolve(String),
    /// A listed address literal: connect to exactly this.
    Connect(IpAddr),
    /// Not listed; the reason is for the refusal log.
    Refuse(String),
}

/// The parsed `allowed_hosts` of a profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    rules: Vec<HostRule>,
}

impl Allowlist {
    /// Parses every entry; the error names the first bad one.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Allowlist, String> {
        let rules = entries
            .iter()
            .map(|e| HostRule::parse(e.as_ref()).map_err(|m| format!("allowed_hosts: {m}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Allowlist { rules })
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Is `host` (as the client wrote it) on the list for `port`?
    pub fn check(&self, host: &str, port: u16) -> Check {
        let Some(target) = Target::parse(host) else {
            return Check::Refuse("not a valid host name or address".into());
        };
        match target {
            Target::Ip(ip) => {
                if self.address_listed(ip, port) {
                    Check::Connect(ip)
                } else {
                    Check::Refuse("address not in allowed_hosts".into())
                }
            }
            Target::Name(name) => {
                let listed = self.rules.iter().any(|r| {
                    r.port_matches(port)
                        && match &r.host {
                            HostPattern::Name(n) => *n == name,
                            HostPattern::Wildcard(suffix) => name
                                .strip_suffix(suffix.as_str())
                                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
                            HostPattern::Ip(_) => false,
                        }
                });
                if listed {
                    Check::Resolve(name)
                } else {
                    Check::Refuse("host not in allowed_hosts".into())
                }
            }
        }
    }

    /// Whether `ip:port` is itself an entry of the list.
    pub fn address_listed(&self, ip: IpAddr, port: u16) -> bool {
        let ip = canonical(ip);
        self.rules
            .iter()
            .any(|r| r.port_matches(port) && r.host == HostPattern::Ip(ip))
    }

    /// May a listed name connect to this resolved address? Public unicast
    /// addresses yes; loopback, private, link-local and other special ranges
    /// only when listed themselves, so a listed name cannot be pointed at
    /// the host or its LAN (DNS rebinding).
    pub fn address_allowed(&self, ip: IpAddr, port: u16) -> bool {
        is_public(ip) || self.address_listed(ip, port)
    }
}

/// False for loopback, private (RFC 1918, ULA), link-local, shared (CGNAT),
/// "this network", multicast, broadcast, documentation and reserved ranges,
/// in IPv4 and IPv6, including IPv4 addresses carried in IPv6 forms.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = a == 0 // "this network"
        || a == 10
        || a == 127
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 169 && b == 254)
        || (a == 172 && (16..32).contains(&b))
        || (a == 192 && b == 168)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2) // documentation
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || (a == 198 && b == 51 && c == 100) // documentation
        || (a == 203 && b == 0 && c == 113) // documentation
        || a >= 224; // multicast, reserved, broadcast
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    if ip.is_unspecified() || ip.is_loopback() {
        return false;
    }
    // IPv4-compatible (::a.b.c.d, deprecated) and NAT64 (64:ff9b::/96) carry
    // an IPv4 address that a host may route to.
    // Truncation keeps the low 32 bits: the embedded address.
    let embedded = || Ipv4Addr::from(u128::from(ip) as u32);
    if segments[..6] == [0; 6] || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(embedded());
    }
    let first = segments[0];
    let special = (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local fec0::/10 (deprecated)
        || (first & 0xff00) == 0xff00 // multicast
        || (first == 0x2001 && segments[1] == 0x0db8) // documentation
        || first == 0x2002 // 6to4 carries an IPv4 address
        || (first == 0x2001 && segments[1] == 0); // Teredo
    !special
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(s: &str) -> HostRule {
        HostRule::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn parses_every_form() {
        assert_eq!(
            rule("PyPI.org"),
            HostRule {
                host: HostPattern::Name("pypi.org".into()),
                port: None
            }
        );
        assert_eq!(rule("api.example.com:443").port, Some(443));
        assert_eq!(
            rule("*.example.com:8443"),
            HostRule {
                host: HostPattern::Wildcard("example.com".into()),
                port: Some(8443)
            }
        );
        assert_eq!(
            rule("127.0.0.1:8080"),
            HostRule {
                host: HostPattern::Ip("127.0.0.1".parse().unwrap()),
                port: Some(8080)
            }
        );
        assert_eq!(
            rule("[::1]:80").host,
            HostPattern::Ip("::1".parse().unwrap())
        );
        assert_eq!(rule("[::1]").port, None);
        assert_eq!(rule("2001:db8::1").port, None);
        // v4-mapped literals are the IPv4 address.
        assert_eq!(
            rule("[::ffff:10.0.0.1]:1").host,
            HostPattern::Ip("10.0.0.1".parse().unwrap())
        );
        assert_eq!(rule("example.com.").to_string(), "example.com");
        for s in ["*.a.b:1", "[::1]:2", "1.2.3.4", "x.y"] {
            assert_eq!(rule(s).to_string(), s);
        }
    }

    #[test]
    fn refuses_bad_entries() {
        for bad in [
            "",
            "https://example.com",
            "example.com/path",
            "example.com:0",
            "example.com:65536",
            "example.com:http",
            "*",
            "*.",
            "a.*.com",
            "*example.com",
            "exa mple.com",
            "-bad.com",
            "a..b",
            "[::1",
            "[::1]x",
            "[1.2.3.4]:80",
            "::1:80:zz",
            &"a".repeat(64),
        ] {
            assert!(HostRule::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    fn list(entries: &[&str]) -> Allowlist {
        Allowlist::parse(entries).unwrap()
    }

    #[test]
    fn names_and_wildcards() {
        let l = list(&["pypi.org", "api.example.com:443", "*.files.io"]);
        assert_eq!(l.check("pypi.org", 80), Check::Resolve("pypi.org".into()));
        assert_eq!(l.check("PYPI.ORG.", 443), Check::Resolve("pypi.org".into()));
        assert!(matches!(l.check("evil-pypi.org", 80), Check::Refuse(_)));
        assert!(matches!(l.check("pypi.org.evil.com", 80), Check::Refuse(_)));
        assert_eq!(
            l.check("api.example.com", 443),
            Check::Resolve("api.example.com".into())
        );
        assert!(matches!(l.check("api.example.com", 80), Check::Refuse(_)));
        assert!(matches!(l.check("example.com", 443), Check::Refuse(_)));
        assert!(matches!(l.check("a.files.io", 1), Check::Resolve(_)));
        assert!(matches!(l.check("a.b.files.io", 1), Check::Resolve(_)));
        assert!(matches!(l.check("files.io", 1), Check::Refuse(_)));
        assert!(matches!(l.check("xfiles.io", 1), Check::Refuse(_)));
        assert!(matches!(l.check("", 1), Check::Refuse(_)));
        assert!(matches!(l.check("a b", 1), Check::Refuse(_)));
    }

    #[test]
    fn address_literals_match_only_addresses() {
        let l = list(&["127.0.0.1:8080", "[::1]", "pypi.org"]);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(l.check("127.0.0.1", 8080), Check::Connect(lo));
        assert_eq!(l.check("::ffff:127.0.0.1", 8080), Check::Connect(lo));
        assert!(matches!(l.check("127.0.0.1", 8081), Check::Refuse(_)));
        assert!(matches!(l.check("[::1]", 22), Check::Connect(_)));
        // A name never matches an address rule, nor an address a name rule.
        assert!(matches!(l.check("localhost", 8080), Check::Refuse(_)));
        assert!(matches!(l.check("151.101.0.223", 443), Check::Refuse(_)));
    }

    #[test]
    fn resolved_addresses() {
        let l = list(&["rebind.test", "127.0.0.1:8080"]);
        let public: IpAddr = "151.101.0.223".parse().unwrap();
        assert!(l.address_allowed(public, 443));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(l.address_allowed(lo, 8080));
        assert!(!l.address_allowed(lo, 8081));
        assert!(!l.address_allowed("10.0.0.1".parse().unwrap(), 8080));
        assert!(!l.address_allowed("::ffff:10.0.0.1".parse().unwrap(), 80));
        assert!(l.address_allowed("::ffff:127.0.0.1".parse().unwrap(), 8080));
    }

    #[test]
    fn classification() {
        for private in [
            "0.0.0.0",
            "0.1.2.3",
            "10.1.2.3",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.255.0.9",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "192.0.2.1",
            "224.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:192.168.0.1",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:db8::1",
        ] {
            let ip: IpAddr = private.parse().unwrap();
            assert!(!is_public(ip), "{private} counted as public");
        }
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "169.253.0.1",
            "151.101.0.223",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            let ip: IpAddr = public.parse().unwrap();
            assert!(is_public(ip), "{public} counted as private");
        }
    }
}
