//! Killing: an execution (its cgroup, and its supervisor records it
//! `killed`), every execution of a sandbox, or one process, which is
//! signalled only while it is still in a sandbox's cgroup.

use std::time::Duration;

use nix::sys::signal::Signal;

use super::{execution_group, Manager, ManagerError};
use crate::execution::Status;
use crate::state::db::{process_alive, ExecutionRecord};
use crate::supervisor;

impl Manager {
    /// Kill an execution: everything in its cgroup (or one signal to every
    /// process in it). A queued execution is marked killed and never starts.
    pub fn kill_execution(
        &self,
        id: &str,
        signal: Option<Signal>,
    ) -> Result<ExecutionRecord, ManagerError> {
        self.stop_execution(id, signal, Signal::SIGTERM)
    }

    /// [`Manager::kill_execution`], with the signal its supervisor gets to
    /// end it and record it `killed`: an attached `exec` passes on the one
    /// it got (Ctrl-C: SIGINT), so the result says what happened.
    pub fn stop_execution(
        &self,
        id: &str,
        signal: Option<Signal>,
        to_supervisor: Signal,
    ) -> Result<ExecutionRecord, ManagerError> {
        let exec = self.store.execution(id)?;
        if exec.status.is_final() {
            return Ok(exec);
        }
        let sandbox = self.store.sandbox(&exec.sandbox)?;
        let group = self.group(&execution_group(&sandbox, &exec.id));
        match signal {
            Some(sig) if sig != Signal::SIGKILL => {
                if let Some(g) = &group {
                    g.signal_all(sig)
                        .map_err(|e| ManagerError::Invalid(format!("signal: {e}")))?;
                }
                return Ok(self.store.execution(&exec.id)?);
            }
            _ => {}
        }
        if exec.status == Status::Queued {
            let request = self.request_for(&sandbox, &exec, Duration::from_millis(exec.timeout_ms));
            let result =
                supervisor::refused(&request, Status::Killed, "killed while queued".into());
            self.store.finish_execution(&exec.id, &result)?;
        }
        // The supervisor turns the signal into a cgroup kill and records `killed`.
        if let Some((pid, start)) = exec.supervisor_pid.zip(exec.supervisor_start) {
            if process_alive(pid, start) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), to_supervisor);
            }
        }
        if let Some(g) = &group {
            let _ = g.kill_all();
        }
        self.wait(&exec.id, &mut |_| true)
    }

    /// Kill every execution of a sandbox (queued ones never start).
    pub fn kill_sandbox(
        &self,
        name: &str,
        signal: Option<Signal>,
    ) -> Result<Vec<ExecutionRecord>, ManagerError> {
        let _ = self.store.sandbox(name)?;
        let mut killed = Vec::new();
        // Queued first, so none of them slips into a freed slot.
        let mut active: Vec<ExecutionRecord> = self
            .store
            .execution_summaries_of(name)?
            .into_iter()
            .filter(|e| !e.status.is_final())
            .collect();
        active.sort_by_key(|e| (e.status != Status::Queued, e.seq));
        for exec in active {
            killed.push(self.kill_execution(&exec.id, signal)?);
        }
        Ok(killed)
    }

    /// Send `signal` to the process `pid`, only while it is in the cgroup
    /// of sandbox `sandbox` (of any sandbox for `None`): membership is
    /// checked right before the signal, so a recycled pid of some other
    /// program is never hit.
    pub fn signal_process(
        &self,
        sandbox: Option<&str>,
        pid: i32,
        signal: Signal,
    ) -> Result<(), ManagerError> {
        let members = match sandbox {
            Some(name) => self.sandbox_pids(name)?,
            None => self.all_sandbox_pids()?,
        };
        if !members.contains(&pid) {
            return Err(ManagerError::Invalid(format!(
                "process {pid} is no longer in the sandbox"
            )));
        }
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), signal)
            .map_err(|e| ManagerError::Invalid(format!("signal {pid}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Config;

    /// A pid that is in no sandbox's cgroup is never signalled: here a
    /// child of the test, which survives the SIGKILL asked for.
    #[test]
    fn a_process_outside_every_sandbox_is_not_signalled() {
        let dir = tempfile::tempdir().expect("tempdir");
        let manager = Manager::open(Config::builtin(), Some(dir.path())).expect("open");
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        let refused = manager.signal_process(None, pid, Signal::SIGKILL);
        assert!(
            matches!(&refused, Err(ManagerError::Invalid(m)) if m.contains("no longer in the sandbox")),
            "{refused:?}"
        );
        assert!(matches!(child.try_wait(), Ok(None)), "the child was hit");
        child.kill().expect("kill");
        child.wait().expect("wait");
    }
}
