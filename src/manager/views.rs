//! What `ls`, `ps`, `top` and the dashboard show: sandboxes and executions
//! with live figures from their cgroups, and the pids in them.

use std::path::PathBuf;

use serde::Serialize;

use super::{execution_group, Manager, ManagerError};
use crate::execution::Status;
use crate::profile::Profile;
use crate::state::db::ExecutionRecord;

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

impl Manager {
    pub fn execution(&self, id_or_prefix: &str) -> Result<ExecutionRecord, ManagerError> {
        Ok(self.store.execution(id_or_prefix)?)
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
}
