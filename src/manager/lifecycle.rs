//! A sandbox's life: create (with `--set` overrides), bring it to its
//! profile as it is now, remove it, and prune old executions.

use std::time::Duration;

use serde::Serialize;

use super::{give_workspace, io_err, pin_image, random_u32, remove_logs, Manager, ManagerError};
use crate::profile::ProfileChange;
use crate::state::db::{now_ms, validate_name, ExecutionRecord, SandboxRecord};
use crate::state::layout::remove_tree;
use crate::supervisor;

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

impl Manager {
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
        crate::image::sweep_leftovers(&self.state_dir);
        report.spare_network_namespaces = crate::isolation::netns::discard_all(
            &crate::isolation::netns::spare_dir(&self.config.settings.cgroup_root),
        );
        Ok(report)
    }
}
