//! The public API that the CLI and the dashboard call, one file per concern:
//! `lifecycle` (create, apply, remove, prune), `exec` (launch, wait), `kill`,
//! `views` (listings, pids, live figures), `files`, `logs`, and `run`; here
//! the [`Manager`], its errors, recovery and the detached supervisor's main.
//!
//! There is no daemon. Every execution is owned by a supervisor process (this
//! binary, `__supervise`), started detached, that records its progress in the
//! shared SQLite state. Every command that opens the state first recovers
//! executions whose supervisor is gone.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroup::{Cgroup, Hierarchy};
use crate::execution::{ExecResult, ResultCapture};
use crate::profile::{Config, Profile};
use crate::python::{self, PythonJob};
use crate::state::db::{
    now_ms, process_alive, process_start_time, ExecutionRecord, SandboxRecord, StateError, Store,
    KIND_COMMAND, KIND_PYTHON,
};
use crate::state::layout::{give_back_spare, remove_tree, resolve_state_dir};
use crate::supervisor::{self, CgroupPlan, ExecRequest, LogSink, OutputSinks};

mod exec;
mod files;
mod kill;
mod lifecycle;
mod logs;
mod run;
mod views;
pub use lifecycle::{PruneReport, RemoveFailure};
pub use logs::log_files;
use logs::remove_logs;
pub use run::run;
pub use views::{ExecutionView, SandboxView};

/// The hidden subcommand that runs a detached supervisor.
pub const SUPERVISE_ARG: &str = "__supervise";

#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Config(#[from] crate::profile::ConfigError),
    #[error(transparent)]
    Files(#[from] crate::files::FilesError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("sandbox {name:?} has {running} execution(s) queued or running; kill them first or use --force")]
    Busy { name: String, running: usize },
    #[error("{0}")]
    Invalid(String),
}

fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ManagerError {
    let what = what.into();
    move |source| ManagerError::Io { what, source }
}

/// What `run` needs besides the profile.
pub struct RunOptions {
    pub timeout: Option<Duration>,
    pub live_output: bool,
    pub pass_stdin: bool,
}

/// What an execution runs.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    Command(Vec<String>),
    Python(PythonJob),
}

impl Launch {
    fn kind(&self) -> &'static str {
        match self {
            Launch::Command(_) => KIND_COMMAND,
            Launch::Python(_) => KIND_PYTHON,
        }
    }

    /// What `denied_patterns` sees besides the argv: a Python job's code.
    fn policy_code(&self) -> Option<&str> {
        match self {
            Launch::Command(_) => None,
            Launch::Python(job) => Some(&job.code),
        }
    }

    /// What listings show.
    fn display(&self, profile: &Profile) -> Vec<String> {
        match self {
            Launch::Command(argv) => argv.clone(),
            Launch::Python(job) => python::display_command(job, profile),
        }
    }
}

/// How to launch an execution in a named sandbox.
#[derive(Debug, Clone, Default)]
pub struct ExecOptions {
    pub timeout: Option<Duration>,
    /// The supervisor inherits our stdin (attached `exec`) instead of
    /// /dev/null, unless it is a terminal, and passes it on to the sandbox
    /// through a pipe of its own.
    pub inherit_stdin: bool,
}

/// Where the state of this invocation lives.
pub fn state_dir(config: &Config, flag: Option<&Path>) -> PathBuf {
    resolve_state_dir(flag, config.settings.state_dir.as_deref())
}

pub struct Manager {
    config: Config,
    state_dir: PathBuf,
    store: Store,
    /// Detected on first use (see [`Manager::hierarchy`]).
    hierarchy: std::cell::OnceCell<Option<Hierarchy>>,
}

impl Manager {
    /// Open the state (creating it on first use) and recover lost executions.
    pub fn open(config: Config, state_dir_flag: Option<&Path>) -> Result<Manager, ManagerError> {
        let state_dir = state_dir(&config, state_dir_flag);
        Manager::open_with(config, state_dir, std::cell::OnceCell::new())
    }

    /// As [`Manager::open`], with the state directory known, and the cgroup
    /// hierarchy too when the cell is filled.
    fn open_with(
        config: Config,
        state_dir: PathBuf,
        hierarchy: std::cell::OnceCell<Option<Hierarchy>>,
    ) -> Result<Manager, ManagerError> {
        let store = Store::open(&state_dir)?;
        let manager = Manager {
            config,
            state_dir,
            store,
            hierarchy,
        };
        manager.recover()?;
        Ok(manager)
    }

    /// The cgroup mounts, detected when first needed: reading them means
    /// the mount table and a writability check per hierarchy, and most
    /// verbs (`exec`, `ps`, `logs`, `wait`) never touch a cgroup.
    fn hierarchy(&self) -> Option<&Hierarchy> {
        self.hierarchy
            .get_or_init(|| Hierarchy::detect(&self.config.settings.cgroup_root).ok())
            .as_ref()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    fn logs_dir(&self) -> PathBuf {
        logs_dir(&self.state_dir)
    }

    fn sandbox_dir(&self, name: &str) -> PathBuf {
        sandbox_dir(&self.state_dir, name)
    }

    fn group(&self, rel: &str) -> Option<Cgroup> {
        group(self.hierarchy(), rel)
    }

    /// Executions whose supervisor is gone: kill what is left in their cgroup
    /// and mark them `lost`; the ephemeral sandbox of a `run` that died goes
    /// too, and so does what a `run` killed before it was recorded left.
    /// Returns the lost executions' ids.
    pub fn recover(&self) -> Result<Vec<String>, ManagerError> {
        let mut lost = Vec::new();
        let mut orphans = Vec::new();
        for exec in self.store.active_executions()? {
            let alive = match (exec.supervisor_pid, exec.supervisor_start) {
                (Some(pid), Some(start)) => process_alive(pid, start),
                // Not spawned yet: give the launcher a moment before calling it lost.
                _ => now_ms() - exec.queued_at < 30_000,
            };
            if alive {
                continue;
            }
            let sandbox = self.store.sandbox(&exec.sandbox).ok();
            if let Some(sb) = &sandbox {
                if let Some(group) = self.group(&execution_group(sb, &exec.id)) {
                    let _ = group.kill_and_remove();
                }
                #[cfg(feature = "docker")]
                if sb.profile.backend == crate::profile::Backend::Docker {
                    supervisor::docker::remove_leftover(&exec.id);
                }
            }
            if self.store.mark_lost(
                &exec.id,
                "the supervisor ended without recording a result; whatever was left in its cgroup was killed",
            )? {
                lost.push(exec.id);
                if let Some(sb) = sandbox.filter(|sb| sb.ephemeral) {
                    orphans.push(sb.name);
                }
            }
        }
        // A `run` that was killed cannot remove its ephemeral sandbox any
        // more; nobody else uses one, so it goes here (its history stays).
        // Racing recoveries: the loser's remove fails harmlessly.
        orphans.dedup();
        for name in orphans {
            let _ = self.remove(&name, false, true);
        }
        run::sweep_unrecorded(self);
        Ok(lost)
    }

    /// A sandbox's cgroups (whatever still runs there is killed) and its
    /// directory; an ephemeral sandbox's directory is kept as a spare when
    /// it is clean.
    fn release(&self, sandbox: &SandboxRecord) -> Result<(), ManagerError> {
        release(&self.state_dir, self.hierarchy(), sandbox)
    }
}

/// See [`Manager::prepare_launch`].
fn prepare_launch(
    state_dir: &Path,
    id: &str,
    launch: &Launch,
    uid: Option<u32>,
) -> Result<(), python::PythonError> {
    match launch {
        Launch::Command(_) => Ok(()),
        Launch::Python(job) => python::write_job(&python::job_dir(state_dir, id), job, uid),
    }
}

/// The uid `sandbox`'s commands run as: its own, when the tool runs as
/// root (only root can take it; without root the user namespace's uid 0 is
/// the caller's own uid anyway).
pub(crate) fn run_as(sandbox: &SandboxRecord) -> Option<u32> {
    sandbox.uid.filter(|_| nix::unistd::geteuid().is_root())
}

/// A random number, for where a uid search starts; the time's if the
/// kernel's random pool is not ready (any start is correct, only slower
/// to find a free uid when others share the range).
fn random_u32() -> u32 {
    let mut bytes = [0u8; 4];
    // SAFETY: getrandom writes at most bytes.len() bytes into the buffer.
    let got =
        unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), libc::GRND_NONBLOCK) };
    if got == bytes.len() as isize {
        u32::from_ne_bytes(bytes)
    } else {
        now_ms() as u32 ^ std::process::id()
    }
}

/// Hand a sandbox's fresh, empty workspace to its uid (`run_as`), so that its
/// commands may write there.
fn give_workspace(sandbox: &SandboxRecord) -> std::io::Result<()> {
    match run_as(sandbox) {
        Some(uid) => std::os::unix::fs::lchown(&sandbox.workspace, Some(uid), Some(uid)),
        None => Ok(()),
    }
}

fn discard_job(state_dir: &Path, id: &str) {
    let dir = python::job_dir(state_dir, id);
    if dir.exists() {
        let _ = remove_tree(&dir);
    }
}

fn logs_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("logs")
}

fn sandboxes_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("sandboxes")
}

fn sandbox_dir(state_dir: &Path, name: &str) -> PathBuf {
    sandboxes_dir(state_dir).join(name)
}

/// An execution's cgroup, relative to the tool's root: its own group in
/// its sandbox's, except for the one execution of a `run`, which runs in
/// its sandbox's group (fresh for it, so that a cgroup2 group that has had
/// `cgroup.kill` is never reused), for one group less to make and remove.
fn execution_group(sandbox: &SandboxRecord, id: &str) -> String {
    if sandbox.ephemeral {
        sandbox.cgroup_rel.clone()
    } else {
        format!("{}/{}", sandbox.cgroup_rel, id)
    }
}

fn group(hierarchy: Option<&Hierarchy>, rel: &str) -> Option<Cgroup> {
    hierarchy.and_then(|h| h.open(rel).ok())
}

/// See [`Manager::release`].
fn release(
    state_dir: &Path,
    hierarchy: Option<&Hierarchy>,
    sandbox: &SandboxRecord,
) -> Result<(), ManagerError> {
    release_named(
        state_dir,
        hierarchy,
        &sandbox.name,
        &sandbox.cgroup_rel,
        sandbox.ephemeral,
    )
}

/// [`release`] of the sandbox `name` whose group is `cgroup_rel`, with or
/// without a record; `spare`: its directory may be kept as a spare.
fn release_named(
    state_dir: &Path,
    hierarchy: Option<&Hierarchy>,
    name: &str,
    cgroup_rel: &str,
    spare: bool,
) -> Result<(), ManagerError> {
    if let Some(group) = group(hierarchy, cgroup_rel) {
        group
            .kill_and_remove()
            .map_err(|e| ManagerError::Invalid(format!("removing the cgroup of {name}: {e}")))?;
    }
    let dir = sandbox_dir(state_dir, name);
    if !(spare && give_back_spare(&dir)) {
        remove_tree(&dir).map_err(|e| ManagerError::Invalid(e.to_string()))?;
    }
    Ok(())
}

/// The request that runs `exec` in `sandbox`.
fn request_for(
    state_dir: &Path,
    hierarchy: Option<&Hierarchy>,
    sandbox: &SandboxRecord,
    exec: &ExecutionRecord,
    timeout: Duration,
    hosts_file: Option<&Path>,
) -> ExecRequest {
    let (argv, binds) = if exec.kind == KIND_PYTHON {
        python::command(&python::job_dir(state_dir, &exec.id), &sandbox.profile)
    } else {
        (exec.command.clone(), Vec::new())
    };
    ExecRequest {
        id: exec.id.clone(),
        sandbox: sandbox.name.clone(),
        profile: sandbox.profile.clone(),
        argv,
        workspace: sandbox.workspace.clone(),
        cgroup: hierarchy.map(|h| CgroupPlan {
            hierarchy: h.clone(),
            sandbox_rel: sandbox.cgroup_rel.clone(),
            execution_rel: execution_group(sandbox, &exec.id),
        }),
        timeout,
        pass_stdin: false,
        binds,
        extra_env: Vec::new(),
        proxy: crate::netproxy::ProxyOptions {
            dir: Some(crate::netproxy::job_dir(state_dir, &exec.id)),
            hosts_file: hosts_file.map(Path::to_path_buf),
        },
        result_pipe: (exec.kind == KIND_PYTHON).then(|| python::result_cap(&sandbox.profile)),
        uid: run_as(sandbox),
        root: root_of(state_dir, &sandbox.profile),
    }
}

/// Host path of the root a profile asks for: its `rootfs`, or its pinned
/// image's unpacked root.
fn root_of(state_dir: &Path, profile: &Profile) -> Option<PathBuf> {
    match &profile.image {
        Some(digest) => Some(crate::image::root_dir(state_dir, digest)),
        None => profile.rootfs.clone(),
    }
}

/// A profile's `image` resolved to the digest of an imported image
/// (importing a source the first time), so the sandbox keeps the image it
/// was made with and `image rm` can tell it is in use.
pub(crate) fn pin_image(state_dir: &Path, profile: &mut Profile) -> Result<(), ManagerError> {
    if let Some(reference) = &profile.image {
        let digest = crate::image::pin(state_dir, reference)
            .map_err(|e| ManagerError::Invalid(format!("image {reference}: {e}")))?;
        profile.image = Some(digest);
    }
    Ok(())
}

/// After the end: a Python job's value or exception joins the result, and
/// its files go.
fn finish_job(
    state_dir: &Path,
    exec: &ExecutionRecord,
    profile: &Profile,
    result: &mut ExecResult,
    capture: Option<ResultCapture>,
) {
    if exec.kind != KIND_PYTHON {
        return;
    }
    let dir = python::job_dir(state_dir, &exec.id);
    python::collect(capture, result, profile);
    // The interpreter's argv is an implementation detail; show what was asked.
    result.command = exec.command.clone();
    let _ = remove_tree(&dir);
}

/// `sandbox-tui __supervise STATE_DIR ID CGROUP_ROOT [HOSTS_FILE]`: the
/// detached owner of one execution.
pub fn supervise_main(args: &[std::ffi::OsString]) -> i32 {
    let (state_dir, id, cgroup_root, hosts_file) = match args {
        [state_dir, id, cgroup_root] => (state_dir, id, cgroup_root, None),
        [state_dir, id, cgroup_root, hosts] => (state_dir, id, cgroup_root, Some(Path::new(hosts))),
        _ => return 2,
    };
    // Detach for good: the launcher reaps this first process, the child
    // carries on as nobody's child in its own session.
    // SAFETY: fork from a single-threaded process that was just exec'd.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Parent { .. }) => return 0,
        Ok(nix::unistd::ForkResult::Child) => {}
        Err(_) => return 1,
    }
    // A `kill` may come at any moment from now on: its signal waits,
    // blocked, until the supervisor reads it and records `killed`, instead
    // of ending the supervisor before it can record anything. Before the
    // thread below, which inherits the mask.
    let stops = supervisor::stop_signals();
    let _ = stops.thread_block();
    // Detected beside the state's opening and the admission, which do not
    // need it, so it is off the launch's path.
    let cgroup_root = cgroup_root.to_string_lossy().into_owned();
    let detecting = std::thread::spawn(move || Hierarchy::detect(&cgroup_root).ok());
    let state_dir = PathBuf::from(state_dir);
    let id = id.to_string_lossy().into_owned();
    let Ok(store) = Store::open(&state_dir) else {
        return 1;
    };
    let fail = |store: &Store, message: String| {
        if let Ok(exec) = store.execution(&id) {
            let profile = store
                .sandbox(&exec.sandbox)
                .map(|s| s.profile_name)
                .unwrap_or_default();
            let mut result = ExecResult::blank(&exec.id, &exec.sandbox, &profile, &exec.command);
            result.error = Some(message.into());
            let _ = store.finish_execution(&id, &result);
        }
        1
    };
    let me = std::process::id() as i32;
    if let Err(e) = store.set_supervisor(&id, me, process_start_time(me).unwrap_or(0)) {
        return fail(&store, format!("recording the supervisor: {e}"));
    }
    let exec = match store.execution(&id) {
        Ok(e) => e,
        Err(_) => return 1,
    };
    let sandbox = match store.sandbox(&exec.sandbox) {
        Ok(s) => s,
        Err(e) => return fail(&store, format!("sandbox: {e}")),
    };
    // Wait for a slot, in submission order; the wait is cheap for those far back.
    let mut delay = Duration::from_millis(5);
    loop {
        match store.try_start(&id, sandbox.profile.max_concurrent) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) => return fail(&store, format!("admission: {e}")),
        }
        match store.execution(&id) {
            Ok(e) if e.status.is_final() => return 0,
            Ok(_) => {}
            Err(_) => return 1,
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(100));
    }
    let hierarchy = detecting.join().ok().flatten();
    let mut request = request_for(
        &state_dir,
        hierarchy.as_ref(),
        &sandbox,
        &exec,
        Duration::from_millis(exec.timeout_ms),
        hosts_file,
    );
    request.pass_stdin = true;
    let mut sinks = OutputSinks {
        live: false,
        stdout_log: LogSink::OnFirstWrite(exec.stdout_log.clone()),
        stderr_log: LogSink::OnFirstWrite(exec.stderr_log.clone()),
        result: None,
        forwards: Vec::new(),
    };
    let mut result = supervisor::execute(&request, &mut sinks, &mut |event| {
        let supervisor::Event::Started { init_pid } = event;
        let _ = store.set_init_pid(&id, init_pid);
        Ok(())
    });
    finish_job(
        &state_dir,
        &exec,
        &sandbox.profile,
        &mut result,
        sinks.result.take(),
    );
    match store.finish_execution(&id, &result) {
        Ok(()) => 0,
        Err(_) => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::Status;
    use crate::state::db::{NewExecution, KIND_COMMAND};

    /// The dashboard's listing leaves stored results out, except the one
    /// whose detail is on screen.
    #[test]
    fn recent_executions_carry_only_the_selected_result() {
        let dir = tempfile::tempdir().expect("tempdir");
        let manager = Manager::open(Config::builtin(), Some(dir.path())).expect("open");
        let profile = Profile::defaults("default");
        let workspace = dir.path().join("ws");
        manager
            .store()
            .create_sandbox("box", &profile, &workspace, "box", false)
            .expect("sandbox");
        for id in ["aaaaaa", "bbbbbb"] {
            manager
                .store()
                .insert_execution(&NewExecution {
                    id: id.into(),
                    sandbox: "box".into(),
                    kind: KIND_COMMAND.into(),
                    command: vec!["true".into()],
                    timeout_ms: 1000,
                    stdout_log: dir.path().join(format!("{id}.out")),
                    stderr_log: dir.path().join(format!("{id}.err")),
                })
                .expect("insert");
            manager.store().try_start(id, u64::MAX).expect("start");
            let mut result = ExecResult::blank(id, "box", "default", &["true".to_string()]);
            result.status = Status::Completed;
            result.stdout = "out of ".to_string() + id;
            manager
                .store()
                .finish_execution(id, &result)
                .expect("finish");
        }
        let views = manager
            .recent_executions(10, Some("box"), Some("aaaaaa"))
            .expect("recent");
        let result_of = |id: &str| {
            views
                .iter()
                .find(|v| v.record.id == id)
                .map(|v| v.record.result.as_ref().map(|r| r.stdout.clone()))
        };
        assert_eq!(result_of("aaaaaa"), Some(Some("out of aaaaaa".to_string())));
        assert_eq!(result_of("bbbbbb"), Some(None));
        let counts = manager.sandboxes().expect("sandboxes");
        assert_eq!((counts[0].running, counts[0].total), (0, 2));
    }
}
