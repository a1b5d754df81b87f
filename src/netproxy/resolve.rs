//! Name resolution for the proxy: the entries of `[settings] hosts_file`
//! first (as /etc/hosts would be), then the host's resolver.
//!
//! The proxy connects to the addresses resolved here, never to the name, so
//! what was checked is what is reached.

use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::allowlist::canonical;

#[derive(Debug, thiserror::Error)]
pub enum HostsFileError {
    #[error("hosts_file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("hosts_file {}:{line}: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// Extra name -> addresses entries, consulted before DNS.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hosts {
    entries: BTreeMap<String, Vec<IpAddr>>,
}

impl Hosts {
    /// Reads a file in /etc/hosts format: `ADDRESS NAME [NAME...]`, `#` comments.
    pub fn load(path: &Path) -> Result<Hosts, HostsFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| HostsFileError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Hosts::parse(&text).map_err(|(line, message)| HostsFileError::Syntax {
            path: path.to_path_buf(),
            line,
            message,
        })
    }

    /// Errors are (1-based line, message).
    pub fn parse(text: &str) -> Result<Hosts, (usize, String)> {
        let mut entries: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(addr) = words.next() else {
                continue;
            };
            let ip: IpAddr = addr
                .parse()
                .map(canonical)
                .map_err(|_| (i + 1, format!("not an IP address: {addr:?}")))?;
            let mut named = false;
            for name in words {
                named = true;
                let name = name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase();
                let ips = entries.entry(name).or_default();
                if !ips.contains(&ip) {
                    ips.push(ip);
                }
            }
            if !named {
                return Err((i + 1, format!("no name after {addr}")));
            }
        }
        Ok(Hosts { entries })
    }

    pub fn lookup(&self, name: &str) -> Option<&[IpAddr]> {
        self.entries.get(name).map(Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Addresses of `name` (lower-case, as the allowlist normalised it).
    /// A name in the hosts file gets only its entries there, like /etc/hosts.
    pub fn resolve(&self, name: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
        if let Some(ips) = self.lookup(name) {
            return Ok(ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect());
        }
        let mut addrs: Vec<SocketAddr> = (name, port)
            .to_socket_addrs()?
            .map(|a| SocketAddr::new(canonical(a.ip()), a.port()))
            .collect();
        let mut seen = Vec::with_capacity(addrs.len());
        addrs.retain(|a| {
            let new = !seen.contains(a);
            seen.push(*a);
            new
        });
        Ok(addrs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hosts_format() {
        let hosts = Hosts::parse(
            "# comment\n\n127.0.0.1 Rebind.test other.test # trailing\n::ffff:10.0.0.1\tmapped.test\n10.0.0.2 rebind.test\n",
        )
        .unwrap();
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let ten: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(hosts.lookup("rebind.test"), Some(&[lo, ten][..]));
        assert_eq!(hosts.lookup("other.test"), Some(&[lo][..]));
        assert_eq!(
            hosts.lookup("mapped.test"),
            Some(&["10.0.0.1".parse::<IpAddr>().unwrap()][..])
        );
        assert_eq!(hosts.len(), 3);
        let addrs = hosts.resolve("rebind.test", 80).unwrap();
        assert_eq!(
            addrs,
            vec![SocketAddr::new(lo, 80), SocketAddr::new(ten, 80)]
        );

        assert_eq!(Hosts::parse("nonsense name\n").unwrap_err().0, 1);
        assert_eq!(Hosts::parse("\n1.2.3.4\n").unwrap_err().0, 2);
    }

    #[test]
    fn falls_back_to_the_system_resolver() {
        let hosts = Hosts::default();
        let addrs = hosts.resolve("localhost", 8).unwrap();
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8));
    }
}
