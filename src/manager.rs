//! The public API that the CLI and the dashboard call.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cgroup::Hierarchy;
use crate::profile::{Config, Profile};
use crate::state::layout::{remove_tree, resolve_state_dir};
use crate::supervisor::{self, CgroupPlan, ExecRequest, ExecResult, OutputSinks};

/// What `run` needs besides the profile.
pub struct RunOptions {
    pub timeout: Option<Duration>,
    pub live_output: bool,
    pub pass_stdin: bool,
}

/// Where the state of this invocation lives.
pub fn state_dir(config: &Config, flag: Option<&Path>) -> PathBuf {
    resolve_state_dir(flag, config.settings.state_dir.as_deref())
}

/// `run`: create an ephemeral sandbox, execute one command in it, and remove
/// the sandbox (workspace and cgroups) whatever happened.
pub fn run_ephemeral(
    config: &Config,
    state_dir: &Path,
    profile: &Profile,
    argv: Vec<String>,
    options: &RunOptions,
) -> ExecResult {
    let id = supervisor::new_id();
    let sandbox = format!("run-{id}");
    let sandbox_dir = state_dir.join("run").join(&sandbox);
    let workspace = sandbox_dir.join("workspace");
    let cgroup = Hierarchy::detect(&config.settings.cgroup_root)
        .ok()
        .map(|hierarchy| CgroupPlan {
            hierarchy,
            sandbox_rel: sandbox.clone(),
        });
    let request = ExecRequest {
        id,
        sandbox,
        profile: profile.clone(),
        argv,
        workspace: workspace.clone(),
        cgroup,
        timeout: options
            .timeout
            .unwrap_or(Duration::from_secs(profile.timeout_seconds)),
        pass_stdin: options.pass_stdin,
        extra_files: Vec::new(),
        extra_env: Vec::new(),
    };
    if let Err(e) = std::fs::create_dir_all(&workspace) {
        return supervisor::refused(
            &request,
            supervisor::Status::Error,
            format!("creating the workspace {}: {e}", workspace.display()),
        );
    }
    let mut sinks = OutputSinks {
        live: options.live_output,
        ..OutputSinks::default()
    };
    let mut result = supervisor::execute(&request, &mut sinks, &mut |_| {});
    if let Some(plan) = &request.cgroup {
        if let Ok(group) = plan.hierarchy.open(&plan.sandbox_rel) {
            let cleaned = group.kill_all().and_then(|()| group.remove());
            if let Err(e) = cleaned {
                result.degraded.push(format!("cgroup cleanup: {e}"));
            }
        }
    }
    if let Err(e) = remove_tree(&sandbox_dir) {
        result.degraded.push(format!("workspace cleanup: {e}"));
    }
    result
}
