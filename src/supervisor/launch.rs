//! Starting one execution's sandbox: the spec, the pipes, the signal
//! mask, the clone of the init, the spec and the go-ahead sent to it.
//! An [`InitGuard`] kills and reaps the init on every return before the
//! go-ahead, so a launch that fails part way leaves no process.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::unistd::{pipe2, Pid};

use super::watch::{ResultPipe, StdinForward};
use super::{command_env, Event, ExecRequest};
use crate::cgroup::Cgroup;
use crate::isolation::namespaces::{self, SpawnOptions};
use crate::isolation::rlimits::Rlimits;
use crate::isolation::SandboxSpec;
use crate::netproxy::{self, RunningProxy};

/// What a started sandbox hands to the watch loop.
pub(super) struct Launched {
    pub init_pid: Pid,
    /// Readable when the init ends; without pidfds the loop polls `wait4`.
    pub pidfd: io::Result<OwnedFd>,
    /// The init's status messages ([`crate::isolation::InitMessage`] lines).
    pub status: std::fs::File,
    pub out_read: OwnedFd,
    pub err_read: OwnedFd,
    pub result_pipe: Option<ResultPipe>,
    pub stdin_forward: Option<StdinForward>,
    /// The stop signals, blocked while the execution runs.
    pub mask: SigSet,
    pub signal_fd: SignalFd,
    /// Dropped with the execution: the proxy never outlives it.
    pub proxy: Option<RunningProxy>,
    /// Joined before the execution reports.
    pub spare_maker: crate::isolation::netns::SpareMaker,
}

/// The init until it has its go-ahead: dropped armed, it is killed and
/// reaped.
struct InitGuard {
    pid: Pid,
    armed: bool,
}

impl InitGuard {
    fn new(pid: Pid) -> InitGuard {
        InitGuard { pid, armed: true }
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for InitGuard {
    fn drop(&mut self) {
        if self.armed {
            let _ = nix::sys::signal::kill(self.pid, Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(self.pid, None);
        }
    }
}

/// Build the spec, open the pipes, clone the init, send it the spec, report
/// [`Event::Started`] and give the go-ahead.
pub(super) fn start(
    req: &ExecRequest,
    cgroup: Option<&Cgroup>,
    user_namespace: bool,
    require: bool,
    on_event: &mut dyn FnMut(Event) -> Result<(), String>,
) -> Result<Launched, String> {
    let mut spec = build_spec(req, require, cgroup.is_some())?;
    // Dropped on every return below: the proxy never outlives the execution.
    let proxy = start_proxy(req, &mut spec)?;
    let (out_read, out_write) = nonblocking_pipe().map_err(|e| format!("pipe: {e}"))?;
    let (err_read, err_write) = nonblocking_pipe().map_err(|e| format!("pipe: {e}"))?;
    // A pipe rather than a file in the sandbox: the snippet cannot swap it
    // for a symlink or a FIFO, RLIMIT_FSIZE does not apply to it, and it is
    // read here with the output, under the same timeout.
    let (result_pipe, result_write) = match req.result_pipe {
        Some(cap) => {
            let (read, write) = nonblocking_pipe().map_err(|e| format!("pipe: {e}"))?;
            spec.result_pipe = true;
            (Some(ResultPipe::new(read, cap)), Some(write))
        }
        None => (None, None),
    };
    let (stdin_forward, stdin_read) = match req.pass_stdin {
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
    let mask = super::stop_signals();
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

    // Until the go-ahead, every return below kills and reaps the init.
    let guard = InitGuard::new(init_pid);
    // The child joined its v1 groups itself before exec'ing the init and
    // was born in its cgroup2 group, unless the kernel lacks clone3; then
    // it is placed here, before the spec is written: the init blocks
    // reading the spec, so it is inside before anything of the user's runs.
    if !child.born_in_cgroup {
        placement
            .add_to_cgroup2_by_parent(init_pid.as_raw())
            .map_err(|e| format!("placing the sandbox in its cgroup: {e}"))?;
    }
    // Serialized while the init is still being exec'd: off the critical path.
    let spec_json = serde_json::to_vec(&spec).map_err(|e| format!("spec: {e}"))?;
    let control = child.spec;
    send_all(&control, &crate::isolation::frame_spec(&spec_json))
        .map_err(|e| format!("sending the sandbox spec: {e}"))?;
    // The init builds the sandbox now; what the caller records meanwhile is
    // off the critical path. The command starts only on the go-ahead.
    on_event(Event::Started {
        init_pid: init_pid.as_raw(),
    })?;
    // An init that died meanwhile shows up in its status and its exit.
    let _ = send_all(&control, &[crate::isolation::GO_AHEAD]);
    drop(control);
    // From here the watch loop reaps it (and the cgroup kill ends it).
    guard.disarm();
    // The next launch's network namespace is made on a core this launch
    // leaves idle while its init locks the sandbox down and runs the
    // command; joined when dropped, before this execution reports.
    let spare_maker = match spare_dir {
        Some(dir) => crate::isolation::netns::start_making(dir, child.claimed_network),
        None => crate::isolation::netns::SpareMaker::default(),
    };
    Ok(Launched {
        init_pid,
        pidfd,
        status: child.status,
        out_read,
        err_read,
        result_pipe,
        stdin_forward,
        mask,
        signal_fd,
        proxy,
        spare_maker,
    })
}

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

#[cfg(test)]
mod tests {
    use super::*;

    /// A child of this process, reaped by the code under test.
    #[expect(
        clippy::zombie_processes,
        reason = "the guard (or the test) reaps it by pid"
    )]
    fn sleeper() -> Pid {
        let child = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .expect("spawn sleep");
        Pid::from_raw(child.id() as i32)
    }

    /// A launch that returns before the go-ahead drops its guard armed:
    /// the init is killed and reaped, so not even a zombie is left.
    #[test]
    fn an_armed_guard_kills_and_reaps_the_init() {
        let pid = sleeper();
        drop(InitGuard::new(pid));
        assert_eq!(
            nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)),
            Err(nix::errno::Errno::ECHILD),
            "the init was not reaped"
        );
    }

    /// After the go-ahead the init is the watch loop's: the guard leaves it.
    #[test]
    fn a_disarmed_guard_leaves_the_init_running() {
        let pid = sleeper();
        InitGuard::new(pid).disarm();
        assert_eq!(
            nix::sys::wait::waitpid(pid, Some(nix::sys::wait::WaitPidFlag::WNOHANG)),
            Ok(nix::sys::wait::WaitStatus::StillAlive)
        );
        nix::sys::signal::kill(pid, Signal::SIGKILL).expect("kill");
        nix::sys::wait::waitpid(pid, None).expect("reap");
    }
}
