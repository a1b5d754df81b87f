//! Performing effects: each runs on the blocking pool with the effects'
//! own `Manager` (a rusqlite connection is not shared between threads).

use std::path::PathBuf;

use nix::sys::signal::Signal;

use super::action::{ConfigOutcome, Effect, Outcome, SignalChoice};
use crate::files::{FilesError, VIEW_HEAD_BYTES};
use crate::manager::{ExecOptions, Manager, ManagerError};
use crate::profile::{Config, ConfigError};

pub struct Worker {
    pub manager: Manager,
    /// `--config` as given, for reloads.
    pub config_flag: Option<PathBuf>,
    /// `--cluster`, for the Cluster screen.
    pub cluster: Option<String>,
}

fn signal_of(choice: SignalChoice) -> Signal {
    match choice {
        SignalChoice::Term => Signal::SIGTERM,
        SignalChoice::Kill => Signal::SIGKILL,
        SignalChoice::Int => Signal::SIGINT,
        SignalChoice::Hup => Signal::SIGHUP,
    }
}

impl Worker {
    /// Perform one effect; `None` for effects that are not the worker's.
    pub fn perform(&mut self, effect: Effect) -> Option<Outcome> {
        let m = &self.manager;
        Some(match effect {
            Effect::KillExecution { id } => Outcome::Killed(
                m.kill_execution(&id, None)
                    .map(|r| format!("execution {} is {}", r.id, r.status))
                    .map_err(|e| e.to_string()),
            ),
            Effect::KillSandbox { name } => Outcome::Killed(
                m.kill_sandbox(&name, None)
                    .map(|killed| format!("killed {} execution(s) of {name}", killed.len()))
                    .map_err(|e| e.to_string()),
            ),
            Effect::SignalProcess {
                sandbox,
                pid,
                signal,
            } => Outcome::Killed(self.signal_process(sandbox.as_deref(), pid, signal)),
            Effect::ApplyProfile { name } => Outcome::ProfileApplied(
                m.apply_profile(&name)
                    .map(|changes| (name, changes.len()))
                    .map_err(|e| e.to_string()),
            ),
            Effect::RemoveSandbox { name } => Outcome::Removed(
                m.remove(&name, true, false)
                    .map(|()| name)
                    .map_err(|e| e.to_string()),
            ),
            Effect::Launch {
                sandbox,
                launch,
                timeout,
            } => Outcome::Launched(
                m.exec(
                    &sandbox,
                    launch,
                    &ExecOptions {
                        timeout,
                        inherit_stdin: false,
                    },
                )
                .map(Box::new)
                .map_err(|e| e.to_string()),
            ),
            Effect::Create { name, profile } => Outcome::Created(
                m.create(&name, &profile)
                    .map(|r| r.name)
                    .map_err(|e| e.to_string()),
            ),
            Effect::ReloadConfig => Outcome::Config(self.reload()),
            Effect::ListFiles { sandbox, dir } => Outcome::Listed {
                result: m.list_files(&sandbox, &dir).map_err(|e| e.to_string()),
                sandbox,
                dir,
            },
            Effect::ReadFile { sandbox, path } => {
                match m.read_file_head(&sandbox, &path, VIEW_HEAD_BYTES) {
                    // A symlink to a directory: the listing shows it as a link.
                    Err(ManagerError::Files(FilesError::IsDirectory { .. })) => {
                        Outcome::FileIsDirectory { sandbox, path }
                    }
                    result => Outcome::FileRead {
                        result: result.map_err(|e| e.to_string()),
                        sandbox,
                        path,
                    },
                }
            }
            Effect::DeleteFile { sandbox, path } => Outcome::FileDeleted {
                result: m.delete_file(&sandbox, &path).map_err(|e| e.to_string()),
                sandbox,
                path,
            },
            Effect::FetchRefusals { id } => Outcome::Refusals {
                result: m.network_refusals(&id).map_err(|e| e.to_string()),
                id,
            },
            Effect::FetchCluster => Outcome::Cluster(self.fetch_cluster()),
            Effect::StopClusterJob { id } => Outcome::Killed(
                self.cluster_client()
                    .and_then(|c| c.stop(&id).map_err(|e| e.to_string()))
                    .map(|stopped| match stopped {
                        true => format!("stopping {id} on the cluster"),
                        false => format!("{id} had already ended"),
                    }),
            ),
            Effect::Quit | Effect::OpenEditor { .. } => return None,
        })
    }

    fn cluster_client(&self) -> Result<crate::cluster::RayClient, String> {
        let address = self.cluster.as_deref().ok_or("no --cluster given")?;
        let token = std::env::var(crate::cluster::TOKEN_ENV).ok();
        crate::cluster::RayClient::new(address, token).map_err(|e| e.to_string())
    }

    /// The Cluster screen's nodes and this tool's jobs, newest first.
    fn fetch_cluster(&self) -> Result<super::cluster::ClusterData, String> {
        let client = self.cluster_client()?;
        let nodes = client.nodes().map_err(|e| e.to_string())?;
        let mut jobs: Vec<_> = client
            .jobs()
            .map_err(|e| e.to_string())?
            .into_iter()
            .filter(|j| j.is_ours())
            .collect();
        jobs.sort_by_key(|j| std::cmp::Reverse(j.start_time));
        Ok(super::cluster::ClusterData { nodes, jobs })
    }

    /// Signal a process through the manager, which checks right before
    /// that it is still in the sandbox's cgroup.
    fn signal_process(
        &self,
        sandbox: Option<&str>,
        pid: i32,
        choice: SignalChoice,
    ) -> Result<String, String> {
        self.manager
            .signal_process(sandbox, pid, signal_of(choice))
            .map(|()| format!("sent SIG{} to {pid}", choice.name()))
            .map_err(|e| e.to_string())
    }

    fn reload(&mut self) -> ConfigOutcome {
        match Config::discover(self.config_flag.as_deref()) {
            Ok(config) => {
                // Keep the state directory of this session whatever the file says.
                let state_dir = self.manager.state_dir().to_path_buf();
                match Manager::open(config.clone(), Some(&state_dir)) {
                    Ok(manager) => {
                        self.manager = manager;
                        ConfigOutcome::Loaded(Box::new(config))
                    }
                    Err(e) => ConfigOutcome::Failed(e.to_string()),
                }
            }
            Err(ConfigError::Invalid(diagnostics)) => ConfigOutcome::Invalid(diagnostics),
            Err(e) => ConfigOutcome::Failed(e.to_string()),
        }
    }
}
