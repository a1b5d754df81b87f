//! One execution end to end: policy check, cgroup, clone into namespaces,
//! drain the output with caps, enforce the timeout and the CPU budget, watch
//! for OOM, kill the whole cgroup at the end, classify, and build the result.
//!
//! The supervisor is single-threaded (it is the process that clones the
//! sandbox) and waits on everything with one `poll`. `launch` starts the
//! sandbox, `watch` runs the loop, `classify` turns what it saw into the
//! result; `docker` is the other backend, with the same types.

use std::fs::File;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};

use crate::cgroup::{Cgroup, Hierarchy, Limits, Reading};
use crate::execution::{encode_stream, ExecResult, ResultCapture, Status};
use crate::isolation::DEFAULT_PATH;
use crate::netproxy::ProxyOptions;
use crate::output::forward::{self, Forward, READER_STALL_LIMIT};
use crate::output::CappedCapture;
use crate::profile::{Backend, Profile};

mod classify;
#[cfg(feature = "docker")]
pub mod docker;
mod launch;
mod watch;

use classify::classify;
pub(crate) use launch::pidfd_open;

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
    /// inode, and most commands write nothing to one of their streams.
    /// Readers take a missing log for an empty one.
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

/// The signals that stop an execution: the supervisor blocks them and
/// turns them into a kill of the sandbox. SIGPIPE too: an attached `exec`
/// whose reader went away passes it on.
pub(crate) fn stop_signals() -> SigSet {
    let mut set = SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
    ] {
        set.add(sig);
    }
    set
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

fn base_result(req: &ExecRequest) -> ExecResult {
    ExecResult::blank(&req.id, &req.sandbox, &req.profile.name, &req.argv)
}

/// The captured streams into the result: their bytes (base64 when not
/// UTF-8), sizes and whether they were cut.
fn set_streams(result: &mut ExecResult, out: CappedCapture, err: CappedCapture) {
    result.stdout_truncated = out.truncated();
    result.stderr_truncated = err.truncated();
    result.stdout_bytes = out.total_bytes();
    result.stderr_bytes = err.total_bytes();
    (result.stdout, result.stdout_encoding) = encode_stream(out.into_bytes());
    (result.stderr, result.stderr_encoding) = encode_stream(err.into_bytes());
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
    let run = launch::start(req, cgroup.as_ref(), user_namespace, require, on_event)
        .and_then(|launched| watch::watch(req, cgroup.as_ref(), sinks, started, launched));
    let mut result = match run {
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

#[cfg(test)]
mod tests {
    use std::io::Write;

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
