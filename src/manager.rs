//! The public API that the CLI and the dashboard call: create, exec, kill,
//! remove, list, and the detached supervisor's own main.
//!
//! There is no daemon. Every execution is owned by a supervisor process (this
//! binary, `__supervise`), started detached, that records its progress in the
//! shared SQLite state. Every command that opens the state first recovers
//! executions whose supervisor is gone.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use serde::Serialize;

use crate::cgroup::{Cgroup, Hierarchy};
use crate::execution::{self, ExecResult, ResultCapture, Status};
use crate::profile::{Config, Profile, ProfileChange};
use crate::python::{self, PythonJob};
use crate::state::db::{
    now_ms, process_alive, process_start_time, validate_name, ExecutionRecord, NewExecution,
    SandboxRecord, StateError, Store, KIND_COMMAND, KIND_PYTHON,
};
use crate::state::layout::{give_back_spare, remove_tree, resolve_state_dir};
use crate::supervisor::{self, CgroupPlan, ExecRequest, LogSink, OutputSinks};

mod files;
mod kill;
mod logs;
mod run;
pub use logs::log_files;
use logs::remove_logs;
pub use run::run;

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

/// A sandbox with live figures, for `ls` and the dashboard.
#[derive(Debug, Clone, Serialize)]
pub struct SandboxView {
    pub name: String,
    pub profile: String,
    pub state: String,
    pub running: u64,
    pub queued: u64,
    pub total: u64,
    pub cpu_ms: u64,
    pub memory_bytes: u64,
    pub memory_limit_bytes: u64,
    pub processes: u64,
    pub max_processes: u64,
    pub created_at: i64,
    pub workspace: PathBuf,
    pub ephemeral: bool,
    /// The host uid and gid its commands run as; `None` without root.
    pub uid: Option<u32>,
    #[serde(skip)]
    pub limits: Profile,
}

/// An execution with live figures for running ones.
#[derive(Debug, Clone, Serialize)]
pub struct ExecutionView {
    #[serde(flatten)]
    pub record: ExecutionRecord,
    /// Current memory while running, else the peak.
    pub memory_bytes: u64,
    pub live_cpu_ms: u64,
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

    pub fn create(&self, name: &str, profile_name: &str) -> Result<SandboxRecord, ManagerError> {
        self.create_with_settings(name, profile_name, &[])
    }

    /// [`Manager::create`] with `KEY=VALUE` overrides of the profile
    /// (`create --set`, see [`Profile::with_settings`]), stored with the sandbox.
    pub fn create_with_settings(
        &self,
        name: &str,
        profile_name: &str,
        settings: &[String],
    ) -> Result<SandboxRecord, ManagerError> {
        let mut profile = self.config.profile(profile_name)?.with_settings(settings)?;
        validate_name(name)?;
        pin_image(&self.state_dir, &mut profile)?;
        let dir = self.sandbox_dir(name);
        let workspace = dir.join("workspace");
        // The record first: of two racing creates exactly one gets here, and
        // the loser never touches the winner's files.
        let record = if nix::unistd::geteuid().is_root() {
            let settings = &self.config.settings;
            self.store.create_sandbox_with_uid(
                name,
                &profile,
                &workspace,
                name,
                (settings.sandbox_uid_base, settings.sandbox_uid_count),
                random_u32(),
            )?
        } else {
            self.store
                .create_sandbox(name, &profile, &workspace, name, false)?
        };
        if let Err(e) = std::fs::create_dir_all(&workspace).and_then(|()| give_workspace(&record)) {
            let _ = self.store.delete_sandbox(name, false);
            return Err(io_err(format!(
                "creating the workspace {}",
                workspace.display()
            ))(e));
        }
        if let Some(h) = self.hierarchy() {
            // Limits shared by all executions of the sandbox.
            if let Err(e) = h.create(name, &supervisor::sandbox_limits(&profile)) {
                let _ = self.store.delete_sandbox(name, false);
                let _ = remove_tree(&dir);
                return Err(ManagerError::Invalid(format!("cgroup for {name}: {e}")));
            }
        }
        Ok(record)
    }

    /// Bring a sandbox to its profile as `sandboxes.toml` has it now: the
    /// snapshot its next executions run under, and the limits of its cgroup
    /// (which bind its running executions at once). The changes, empty when
    /// it was up to date.
    pub fn apply_profile(&self, name: &str) -> Result<Vec<ProfileChange>, ManagerError> {
        let sandbox = self.store.sandbox(name)?;
        if sandbox.ephemeral {
            return Err(ManagerError::Invalid(format!(
                "sandbox {name:?} belongs to a `run`: its profile is the one it started with"
            )));
        }
        // Its own `--set` overrides stay; its image is pinned anew.
        let mut profile = self
            .config
            .profile(&sandbox.profile_name)?
            .with_settings(&sandbox.profile.settings)?;
        pin_image(&self.state_dir, &mut profile)?;
        let changes = sandbox.profile.changes_to(&profile);
        if changes.is_empty() {
            return Ok(changes);
        }
        if let Some(h) = self.hierarchy() {
            h.create(&sandbox.cgroup_rel, &supervisor::sandbox_limits(&profile))
                .map_err(|e| match &e {
                    // cgroup v1 refuses a memory limit below what its
                    // processes hold (v2 reclaims, or kills them).
                    crate::cgroup::CgroupError::Io { path, source }
                        if source.raw_os_error() == Some(libc::EBUSY)
                            && path.to_string_lossy().contains("memory") =>
                    {
                        ManagerError::Invalid(format!(
                            "{name} holds more memory than max_memory_mb = {} MB allows; \
                             nothing changed: try again when its executions end, or kill them",
                            profile.max_memory_mb
                        ))
                    }
                    _ => ManagerError::Invalid(format!("cgroup of {name}: {e}")),
                })?;
        }
        self.store.set_sandbox_profile(name, &profile)?;
        Ok(changes)
    }

    /// Launch an execution: record it as queued and start its detached
    /// supervisor. A denied command is recorded as `denied` and starts nothing.
    pub fn exec(
        &self,
        name: &str,
        launch: Launch,
        options: &ExecOptions,
    ) -> Result<ExecutionRecord, ManagerError> {
        let sandbox = self.store.sandbox(name)?;
        if sandbox.state != "ready" {
            return Err(ManagerError::Invalid(format!(
                "sandbox {name:?} is {}",
                sandbox.state
            )));
        }
        // Its run removes it the moment its one command ends.
        if sandbox.ephemeral {
            return Err(ManagerError::Invalid(format!(
                "sandbox {name:?} belongs to a `run`; create a sandbox to exec in"
            )));
        }
        if let Launch::Command(argv) = &launch {
            if argv.is_empty() {
                return Err(ManagerError::Invalid("empty command".into()));
            }
        }
        let timeout = options
            .timeout
            .unwrap_or(Duration::from_secs(sandbox.profile.timeout_seconds));
        let record = self.record_execution(&sandbox, &launch, timeout)?;
        let id = record.id.clone();
        if let Err(e) = self.prepare_launch(&sandbox, &record, &launch) {
            let request = self.request_for(&sandbox, &record, timeout);
            let result = supervisor::refused(&request, Status::Error, e.to_string());
            self.store.finish_execution(&id, &result)?;
            return Ok(self.store.execution(&id)?);
        }
        if let Err(reason) = supervisor::check_policy(
            &sandbox.profile,
            &self.run_argv(&sandbox, &record),
            launch.policy_code(),
        ) {
            let request = self.request_for(&sandbox, &record, timeout);
            let result = supervisor::refused(&request, Status::Denied, reason);
            self.store.finish_execution(&id, &result)?;
            self.discard_job(&id);
            return Ok(self.store.execution(&id)?);
        }
        if let Err(e) = self.spawn_supervisor(&id, options.inherit_stdin) {
            let request = self.request_for(&sandbox, &record, timeout);
            let result = supervisor::refused(
                &request,
                Status::Error,
                format!("could not start the supervisor: {e}"),
            );
            self.store.finish_execution(&id, &result)?;
            self.discard_job(&id);
        }
        Ok(self.store.execution(&id)?)
    }

    fn record_execution(
        &self,
        sandbox: &SandboxRecord,
        launch: &Launch,
        timeout: Duration,
    ) -> Result<ExecutionRecord, ManagerError> {
        let new = self.new_execution(sandbox, launch, timeout)?;
        Ok(self.store.insert_execution(&new)?)
    }

    /// An execution's id and log paths, not recorded yet.
    fn new_execution(
        &self,
        sandbox: &SandboxRecord,
        launch: &Launch,
        timeout: Duration,
    ) -> Result<NewExecution, ManagerError> {
        let logs = self.logs_dir();
        std::fs::create_dir_all(&logs).map_err(io_err(format!("creating {}", logs.display())))?;
        let id = self.unique_id()?;
        Ok(NewExecution {
            id: id.clone(),
            sandbox: sandbox.name.clone(),
            kind: launch.kind().into(),
            command: launch.display(&sandbox.profile),
            timeout_ms: timeout.as_millis() as u64,
            stdout_log: logs.join(format!("{id}.stdout")),
            stderr_log: logs.join(format!("{id}.stderr")),
        })
    }

    /// Files a launch needs before its supervisor starts (a Python job's code).
    fn prepare_launch(
        &self,
        sandbox: &SandboxRecord,
        exec: &ExecutionRecord,
        launch: &Launch,
    ) -> Result<(), python::PythonError> {
        prepare_launch(&self.state_dir, &exec.id, launch, run_as(sandbox))
    }

    fn discard_job(&self, id: &str) {
        discard_job(&self.state_dir, id)
    }

    /// The argv that really runs (for a Python job: the interpreter and runner).
    fn run_argv(&self, sandbox: &SandboxRecord, exec: &ExecutionRecord) -> Vec<String> {
        if exec.kind == KIND_PYTHON {
            python::command(
                &python::job_dir(&self.state_dir, &exec.id),
                &sandbox.profile,
            )
            .0
        } else {
            exec.command.clone()
        }
    }

    fn unique_id(&self) -> Result<String, ManagerError> {
        for _ in 0..32 {
            let id = execution::new_id();
            if matches!(self.store.execution(&id), Err(StateError::NotFound { .. })) {
                return Ok(id);
            }
        }
        Err(ManagerError::Invalid(
            "could not find a free execution id".into(),
        ))
    }

    fn spawn_supervisor(&self, id: &str, inherit_stdin: bool) -> std::io::Result<()> {
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("sandbox-tui-supervisor")
            .arg(SUPERVISE_ARG)
            .arg(&self.state_dir)
            .arg(id)
            .arg(&self.config.settings.cgroup_root)
            .args(self.config.settings.hosts_file.iter())
            .env_clear()
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .stdin(if inherit_stdin && !stdin_is_terminal() {
                Stdio::inherit()
            } else {
                Stdio::null()
            });
        // The Docker backend's daemon, as the caller names it (docs/docker.md).
        if let Some(host) = std::env::var_os("DOCKER_HOST") {
            cmd.env("DOCKER_HOST", host);
        }
        // SAFETY: setsid and close_range are async-signal-safe. A session
        // of its own: the supervisor survives the terminal, CLI or
        // dashboard that launched it, and holds none of their descriptors
        // beyond 0, 1 and 2 (a terminal the caller left open, say).
        unsafe {
            cmd.pre_exec(|| {
                nix::unistd::setsid().map_err(std::io::Error::from)?;
                libc::syscall(
                    libc::SYS_close_range,
                    3 as libc::c_uint,
                    libc::c_uint::MAX,
                    libc::CLOSE_RANGE_CLOEXEC,
                );
                Ok(())
            });
        }
        // The supervisor forks once more and its first process exits at once,
        // so waiting here reaps it and the real supervisor is nobody's child.
        let status = cmd.status()?;
        if !status.success() {
            return Err(std::io::Error::other(format!(
                "supervisor launcher exited with {status}"
            )));
        }
        Ok(())
    }

    fn request_for(
        &self,
        sandbox: &SandboxRecord,
        exec: &ExecutionRecord,
        timeout: Duration,
    ) -> ExecRequest {
        request_for(
            &self.state_dir,
            self.hierarchy(),
            sandbox,
            exec,
            timeout,
            self.config.settings.hosts_file.as_deref(),
        )
    }

    /// Connections the `allowed_hosts` proxy refused: from the result once
    /// the execution is final, else from the live log.
    pub fn network_refusals(
        &self,
        id: &str,
    ) -> Result<Vec<crate::netproxy::NetworkRefusal>, ManagerError> {
        let exec = self.store.execution(id)?;
        Ok(match &exec.result {
            Some(result) => result.network_refusals.clone(),
            None => crate::netproxy::live_refusals(&self.state_dir, &exec.id),
        })
    }

    /// Block until the execution is final; `on_tick` runs between polls (for `logs -f`).
    pub fn wait(
        &self,
        id: &str,
        on_tick: &mut dyn FnMut(&ExecutionRecord) -> bool,
    ) -> Result<ExecutionRecord, ManagerError> {
        let mut delay = Duration::from_millis(2);
        // The supervisor's exit is the moment its result is recorded: wait on
        // a pidfd for it instead of polling the database on a timer.
        let mut watched: Option<(i32, std::os::fd::OwnedFd)> = None;
        loop {
            let exec = self.store.execution(id)?;
            if !on_tick(&exec) {
                return Ok(exec);
            }
            if exec.status.is_final() {
                return Ok(exec);
            }
            if let Some((pid, start)) = exec.supervisor_pid.zip(exec.supervisor_start) {
                if !process_alive(pid, start) {
                    self.recover()?;
                    continue;
                }
                if watched.as_ref().map(|(p, _)| *p) != Some(pid) {
                    watched = supervisor::pidfd_open(nix::unistd::Pid::from_raw(pid))
                        .ok()
                        .map(|fd| (pid, fd));
                }
            }
            match &watched {
                Some((_, fd)) => {
                    use std::os::fd::AsFd;
                    let mut fds = [nix::poll::PollFd::new(
                        fd.as_fd(),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    let ms = u16::try_from(delay.as_millis()).unwrap_or(u16::MAX);
                    let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(ms));
                }
                None => std::thread::sleep(delay),
            }
            delay = (delay * 2).min(Duration::from_millis(50));
        }
    }

    pub fn execution(&self, id_or_prefix: &str) -> Result<ExecutionRecord, ManagerError> {
        Ok(self.store.execution(id_or_prefix)?)
    }

    /// Remove a sandbox: its workspace (never following symlinks or crossing
    /// mounts), its cgroups, and its history unless `keep_history`.
    pub fn remove(&self, name: &str, force: bool, keep_history: bool) -> Result<(), ManagerError> {
        let sandbox = self.store.sandbox(name)?;
        let active: Vec<ExecutionRecord> = self
            .store
            .execution_summaries_of(name)?
            .into_iter()
            .filter(|e| !e.status.is_final())
            .collect();
        if !active.is_empty() {
            if !force {
                return Err(ManagerError::Busy {
                    name: name.to_string(),
                    running: active.len(),
                });
            }
            self.kill_sandbox(name, None)?;
        }
        self.store.set_sandbox_state(name, "removing")?;
        self.release(&sandbox)?;
        if !keep_history {
            for exec in self.store.execution_summaries_of(name)? {
                remove_logs(&exec.stdout_log, &exec.stderr_log);
            }
        }
        self.store.delete_sandbox(name, keep_history)?;
        Ok(())
    }

    /// Remove final executions (older than `older_than`, if given) with their
    /// logs, and ephemeral sandboxes that a crashed `run` left behind.
    pub fn prune(&self, older_than: Option<Duration>) -> Result<PruneReport, ManagerError> {
        let before = older_than.map(|d| now_ms() - d.as_millis() as i64);
        let mut report = PruneReport::default();
        for sandbox in self.store.sandboxes()? {
            if !sandbox.ephemeral {
                continue;
            }
            let busy = self
                .store
                .execution_summaries_of(&sandbox.name)?
                .iter()
                .any(|e| !e.status.is_final());
            if !busy {
                // One sandbox that cannot go (a file made immutable, an
                // I/O error) must not keep the others: it is reported and
                // the prune goes on.
                match self.remove(&sandbox.name, false, true) {
                    Ok(()) => report.sandboxes.push(sandbox.name),
                    Err(e) => report.failed.push(RemoveFailure {
                        name: sandbox.name,
                        error: e.to_string(),
                    }),
                }
            }
        }
        for exec in self.store.prune_executions(before)? {
            remove_logs(&exec.stdout_log, &exec.stderr_log);
            report.executions.push(exec.id);
        }
        report.spare_network_namespaces = crate::isolation::netns::discard_all(
            &crate::isolation::netns::spare_dir(&self.config.settings.cgroup_root),
        );
        Ok(report)
    }

    pub fn sandboxes(&self) -> Result<Vec<SandboxView>, ManagerError> {
        let counts = self.store.execution_counts()?;
        let mut out = Vec::new();
        for sb in self.store.sandboxes()? {
            let (running, queued, total) = counts.get(&sb.name).copied().unwrap_or_default();
            let usage = self.live_usage(&sb.cgroup_rel);
            out.push(SandboxView {
                running,
                queued,
                total,
                cpu_ms: usage.cpu_ns / 1_000_000,
                memory_bytes: usage.memory_bytes,
                memory_limit_bytes: sb.profile.max_memory_mb * 1024 * 1024,
                processes: usage.pids_current,
                max_processes: sb.profile.max_process_count,
                name: sb.name.clone(),
                profile: sb.profile_name.clone(),
                state: sb.state.clone(),
                created_at: sb.created_at,
                workspace: sb.workspace.clone(),
                ephemeral: sb.ephemeral,
                uid: sb.uid,
                limits: sb.profile.clone(),
            });
        }
        Ok(out)
    }

    /// Executions, newest first: of `sandbox` or of all, the newest
    /// `last` or all of them.
    pub fn executions(
        &self,
        sandbox: Option<&str>,
        last: Option<u64>,
    ) -> Result<Vec<ExecutionView>, ManagerError> {
        if let Some(name) = sandbox {
            self.store.sandbox(name)?;
        }
        let records = self.store.newest_executions(sandbox, last)?;
        self.views(records)
    }

    /// For a live view: every active execution and the newest `newest` (of
    /// all, and of `sandbox`), without their results but for `full`'s.
    pub fn recent_executions(
        &self,
        newest: u64,
        sandbox: Option<&str>,
        full: Option<&str>,
    ) -> Result<Vec<ExecutionView>, ManagerError> {
        let mut records = self.store.execution_summaries(newest, sandbox)?;
        if let Some(id) = full {
            if let Some(slot) = records.iter_mut().find(|r| r.id == id) {
                // Pruned in between: the summary will do.
                if let (true, Ok(record)) = (slot.status.is_final(), self.store.execution(id)) {
                    *slot = record;
                }
            }
        }
        self.views(records)
    }

    fn views(&self, records: Vec<ExecutionRecord>) -> Result<Vec<ExecutionView>, ManagerError> {
        let groups = self.store.sandbox_groups()?;
        let mut out = Vec::new();
        for record in records {
            let (memory_bytes, live_cpu_ms) = if record.status == Status::Running {
                let rel = groups
                    .iter()
                    .find(|(name, _)| *name == record.sandbox)
                    .map(|(_, rel)| format!("{rel}/{}", record.id));
                let usage = rel.map(|r| self.live_usage(&r)).unwrap_or_default();
                (usage.memory_bytes, usage.cpu_ns / 1_000_000)
            } else {
                (
                    record.peak_memory_bytes.unwrap_or(0),
                    record.cpu_ms.unwrap_or(0),
                )
            };
            out.push(ExecutionView {
                record,
                memory_bytes,
                live_cpu_ms,
            });
        }
        Ok(out)
    }

    /// Every pid in the sandbox's cgroup (all executions), from cgroup membership.
    pub fn sandbox_pids(&self, name: &str) -> Result<Vec<i32>, ManagerError> {
        let sandbox = self.store.sandbox(name)?;
        Ok(self.member_pids(&sandbox.cgroup_rel))
    }

    /// Every pid in every sandbox, with one read of the state.
    pub fn all_sandbox_pids(&self) -> Result<Vec<i32>, ManagerError> {
        let mut pids = Vec::new();
        for (_, rel) in self.store.sandbox_groups()? {
            pids.extend(self.member_pids(&rel));
        }
        Ok(pids)
    }

    /// A group that does not exist (any more) reads as all zeros.
    fn live_usage(&self, rel: &str) -> crate::cgroup::Usage {
        self.hierarchy()
            .and_then(|h| h.for_reading(rel).ok())
            .and_then(|g| g.usage(crate::cgroup::Reading::Live).ok())
            .unwrap_or_default()
    }

    fn member_pids(&self, rel: &str) -> Vec<i32> {
        self.hierarchy()
            .and_then(|h| h.for_reading(rel).ok())
            .and_then(|g| g.member_pids().ok())
            .unwrap_or_default()
    }

    /// Every pid of one execution.
    pub fn execution_pids(&self, id: &str) -> Result<Vec<i32>, ManagerError> {
        let exec = self.store.execution_summary(id)?;
        let sandbox = self.store.sandbox(&exec.sandbox)?;
        Ok(self.member_pids(&execution_group(&sandbox, &exec.id)))
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

/// A terminal on our stdin never reaches a supervisor: detached, it would
/// read the operator's keystrokes in the background.
fn stdin_is_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
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

#[derive(Debug, Clone, Default, Serialize)]
pub struct PruneReport {
    pub sandboxes: Vec<String>,
    pub executions: Vec<String>,
    /// Network namespaces made ahead for the next launch (see
    /// `isolation::netns`), and leftovers of their making.
    pub spare_network_namespaces: usize,
    /// Sandboxes that could not be removed, and why.
    pub failed: Vec<RemoveFailure>,
}

/// A sandbox a removal had to leave, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemoveFailure {
    pub name: String,
    pub error: String,
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
    let mut stops = nix::sys::signal::SigSet::empty();
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
        Signal::SIGPIPE,
    ] {
        stops.add(sig);
    }
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
