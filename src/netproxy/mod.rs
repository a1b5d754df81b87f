//! Network allowlists (`allowed_hosts`): the sandbox keeps its own empty
//! network namespace, and the only way out is an HTTP and SOCKS5 proxy that
//! runs outside and lets through connections to listed hosts only.
//!
//! ```text
//!  command --TCP--> 127.0.0.1:3128 (init's bridge, sandbox netns)
//!          --Unix socket /.sandbox-tui/net/proxy.sock-->
//!  proxy helper (`sandbox-tui __proxy`, host netns, child of the supervisor)
//!          --TCP--> listed host
//! ```
//!
//! The helper is a process of its own rather than threads in the supervisor:
//! the supervisor stays single-threaded (it clones the sandbox), and the end
//! of an execution is a SIGKILL to the helper, so no proxy connection, thread
//! or DNS lookup can outlive it. It dies with the supervisor too
//! (`PR_SET_PDEATHSIG`). It is outside the sandbox's cgroup, so the sandbox's
//! limits do not count it, and the sandbox's kill does not reach it.
//!
//! Refusals are appended as JSON lines to a file in the execution's job
//! directory while it runs ([`live_refusals`]) and end up in the result's
//! `network_refusals`.

pub mod allowlist;
pub mod resolve;
pub mod server;

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::isolation::bridge::ProxyBridge;
use crate::isolation::Bind;

pub use allowlist::{Allowlist, HostRule};
pub use resolve::Hosts;

/// The hidden subcommand that runs the proxy helper.
pub const PROXY_ARG: &str = "__proxy";
/// Where the proxy listens inside the sandbox (its own network namespace,
/// so the port never clashes with anything on the host).
pub const PROXY_PORT: u16 = 3128;
/// The directory, inside the sandbox, that holds only the proxy's socket.
pub const INSIDE_DIR: &str = "/.sandbox-tui/net";
const SOCKET_NAME: &str = "proxy.sock";
const REFUSALS_NAME: &str = "refusals.jsonl";
/// The listening socket's descriptor number in the helper.
const LISTENER_FD: RawFd = 3;

/// One connection the proxy refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkRefusal {
    /// As the client asked for it (name or address).
    pub host: String,
    pub port: u16,
    /// Unix time in milliseconds.
    pub time_ms: i64,
    pub reason: String,
}

/// Where the proxy of one execution keeps its socket and log, and what it
/// resolves before DNS. Used only when the profile lists `allowed_hosts`.
#[derive(Debug, Clone, Default)]
pub struct ProxyOptions {
    /// A per-execution directory (created, and removed at the end).
    pub dir: Option<PathBuf>,
    /// `[settings] hosts_file`.
    pub hosts_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no directory for the network proxy of this execution")]
    NoDirectory,
    #[error("{0}")]
    Allowlist(String),
    #[error(transparent)]
    HostsFile(#[from] resolve::HostsFileError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ProxyError + 'a {
    move |source| ProxyError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The execution's proxy directory under the state directory.
pub fn job_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("jobs").join(id).join("net")
}

/// Refusals so far of a running execution (a finished one has them in its
/// result). Unreadable or missing log: none.
pub fn live_refusals(state_dir: &Path, id: &str) -> Vec<NetworkRefusal> {
    read_refusals(&job_dir(state_dir, id).join(REFUSALS_NAME))
}

fn read_refusals(path: &Path) -> Vec<NetworkRefusal> {
    let Ok(file) = File::open(path) else {
        return Vec::new();
    };
    io::BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .filter_map(|line| serde_json::from_str(&line).ok())
        .collect()
}

/// The environment that points clients at the bridge. Both cases: curl
/// reads only the lower-case `http_proxy`, other tools only upper case.
pub fn proxy_env() -> Vec<(String, String)> {
    let http = format!("http://127.0.0.1:{PROXY_PORT}");
    let socks = format!("socks5h://127.0.0.1:{PROXY_PORT}");
    let mut env = Vec::new();
    for (name, value) in [
        ("HTTP_PROXY", &http),
        ("HTTPS_PROXY", &http),
        ("ALL_PROXY", &socks),
        ("NO_PROXY", &String::new()),
    ] {
        env.push((name.to_string(), value.clone()));
        env.push((name.to_ascii_lowercase(), value.clone()));
    }
    env
}

/// What the helper is told, as one JSON argument.
#[derive(Debug, Serialize, Deserialize)]
struct HelperConfig {
    allowed_hosts: Vec<String>,
    hosts: Hosts,
    refusals: PathBuf,
}

/// A running proxy helper. Dropping it kills the helper and removes its
/// directory; [`RunningProxy::finish`] also returns the refusals.
pub struct RunningProxy {
    child: Option<Child>,
    dir: PathBuf,
}

impl RunningProxy {
    /// Binds the socket and starts the helper. Call from the single-threaded
    /// supervisor, before the sandbox is cloned (the socket must exist when
    /// the sandbox's root is built).
    pub fn start(allowed_hosts: &[String], options: &ProxyOptions) -> Result<Self, ProxyError> {
        Allowlist::parse(allowed_hosts).map_err(ProxyError::Allowlist)?;
        let hosts = match &options.hosts_file {
            Some(path) => Hosts::load(path)?,
            None => Hosts::default(),
        };
        let dir = options.dir.clone().ok_or(ProxyError::NoDirectory)?;
        let socket_dir = dir.join("sock");
        std::fs::create_dir_all(&socket_dir).map_err(io_err("creating", &socket_dir))?;
        // From here on, a failure removes the directory again.
        let mut proxy = RunningProxy { child: None, dir };
        let socket = socket_dir.join(SOCKET_NAME);
        let _ = std::fs::remove_file(&socket);
        let listener = bind_unix(&socket_dir, SOCKET_NAME).map_err(io_err("binding", &socket))?;
        let refusals = proxy.dir.join(REFUSALS_NAME);
        File::create(&refusals).map_err(io_err("creating", &refusals))?;
        let config = HelperConfig {
            allowed_hosts: allowed_hosts.to_vec(),
            hosts,
            refusals,
        };
        let config = serde_json::to_string(&config).map_err(|e| ProxyError::Io {
            what: "encoding the proxy configuration for",
            path: proxy.dir.clone(),
            source: io::Error::other(e),
        })?;
        let listener_fd = listener.as_raw_fd();
        let parent = std::process::id() as libc::pid_t;
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("sandbox-tui-proxy")
            .arg(PROXY_ARG)
            .arg(config)
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: dup2, fcntl, prctl and getppid are async-signal-safe and
        // touch only descriptors and state of the new child.
        unsafe {
            cmd.pre_exec(move || {
                // dup2 onto the same number would keep close-on-exec set.
                let rc = if listener_fd == LISTENER_FD {
                    libc::fcntl(LISTENER_FD, libc::F_SETFD, 0)
                } else {
                    libc::dup2(listener_fd, LISTENER_FD)
                };
                if rc < 0 {
                    return Err(io::Error::last_os_error());
                }
                // The proxy never outlives its supervisor, even a killed one.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) < 0
                    || libc::getppid() != parent
                {
                    return Err(io::Error::other("the supervisor is gone"));
                }
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(io_err("starting the proxy for", &socket))?;
        proxy.child = Some(child);
        Ok(proxy)
    }

    /// The socket's directory, read-only at [`INSIDE_DIR`].
    pub fn bind(&self) -> Bind {
        Bind {
            source: self.dir.join("sock"),
            target: PathBuf::from(INSIDE_DIR),
            writable: false,
        }
    }

    /// What the sandbox's init needs to bridge to the proxy.
    pub fn bridge() -> ProxyBridge {
        ProxyBridge {
            socket: Path::new(INSIDE_DIR).join(SOCKET_NAME),
            port: PROXY_PORT,
        }
    }

    /// Stops the helper and returns the refusals it logged.
    pub fn finish(mut self) -> Vec<NetworkRefusal> {
        self.stop();
        read_refusals(&self.dir.join(REFUSALS_NAME))
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RunningProxy {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
        // The job directory itself, unless something else (a Python job) uses it.
        if let Some(parent) = self.dir.parent() {
            let _ = std::fs::remove_dir(parent);
        }
    }
}

/// Binds a Unix socket in `dir`; when the path is too long for `sun_path`
/// (deep state directories), through `/proc/self/fd/N/` of the directory.
fn bind_unix(dir: &Path, name: &str) -> io::Result<UnixListener> {
    const SUN_PATH_MAX: usize = 107;
    let path = dir.join(name);
    if path.as_os_str().len() <= SUN_PATH_MAX {
        return UnixListener::bind(path);
    }
    let handle = File::open(dir)?;
    UnixListener::bind(format!("/proc/self/fd/{}/{name}", handle.as_raw_fd()))
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `sandbox-tui __proxy CONFIG_JSON`, with the listening socket on fd 3.
/// Runs until killed; returns only on a bad start.
pub fn helper_main(args: &[OsString]) -> i32 {
    let [config] = args else {
        return 2;
    };
    let Some(config) = config.to_str() else {
        return 2;
    };
    let Ok(config) = serde_json::from_str::<HelperConfig>(config) else {
        return 2;
    };
    let Ok(allowlist) = Allowlist::parse(&config.allowed_hosts) else {
        return 2;
    };
    let Ok(log) = OpenOptions::new().append(true).open(&config.refusals) else {
        return 1;
    };
    // SAFETY: the supervisor put the listening socket on LISTENER_FD before
    // exec (RunningProxy::start); nothing else in this process owns it.
    let listener = unsafe { UnixListener::from_raw_fd(LISTENER_FD) };
    let policy = Arc::new(server::Policy::new(allowlist, config.hosts, log));
    server::serve(listener, policy);
    1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_points_at_the_bridge() {
        let env = proxy_env();
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("http_proxy"), Some("http://127.0.0.1:3128"));
        assert_eq!(get("HTTPS_PROXY"), Some("http://127.0.0.1:3128"));
        assert_eq!(get("all_proxy"), Some("socks5h://127.0.0.1:3128"));
        assert_eq!(get("NO_PROXY"), Some(""));
    }

    #[test]
    fn long_socket_paths_bind_through_proc() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(120));
        std::fs::create_dir_all(&deep).unwrap();
        let _listener = bind_unix(&deep, SOCKET_NAME).unwrap();
        assert!(deep.join(SOCKET_NAME).exists());
    }

    #[test]
    fn results_stored_before_refusals_existed_still_parse() {
        let result = crate::execution::ExecResult::blank("a1b2c3", "box", "default", &[]);
        let mut json = serde_json::to_value(&result).unwrap();
        assert_eq!(json["network_refusals"], serde_json::json!([]));
        json.as_object_mut().unwrap().remove("network_refusals");
        let back: crate::execution::ExecResult = serde_json::from_value(json).unwrap();
        assert_eq!(back, result);
    }

    #[test]
    fn refusal_log_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(REFUSALS_NAME);
        let r = NetworkRefusal {
            host: "x".into(),
            port: 1,
            time_ms: 2,
            reason: "r".into(),
        };
        let line = serde_json::to_string(&r).unwrap();
        std::fs::write(&path, format!("{line}\n{{broken\n{line}\n")).unwrap();
        assert_eq!(read_refusals(&path), vec![r.clone(), r]);
        assert!(read_refusals(&dir.path().join("missing")).is_empty());
    }
}
