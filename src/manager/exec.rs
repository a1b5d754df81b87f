//! Launching an execution in a named sandbox: record it, write what it
//! needs, check the policy, start its detached supervisor; and waiting for
//! its end.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::{
    discard_job, io_err, prepare_launch, request_for, run_as, ExecOptions, Launch, Manager,
    ManagerError, SUPERVISE_ARG,
};
use crate::execution::{self, Status};
use crate::python;
use crate::state::db::{
    process_alive, ExecutionRecord, NewExecution, SandboxRecord, StateError, KIND_PYTHON,
};
use crate::supervisor::{self, ExecRequest};

impl Manager {
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

    pub(super) fn request_for(
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
}

/// A terminal on our stdin never reaches a supervisor: detached, it would
/// read the operator's keystrokes in the background.
fn stdin_is_terminal() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
}
