//! `sandbox-tui run`: one command in a fresh, ephemeral sandbox.

use std::time::Duration;

use anyhow::Context;

use super::Global;
use crate::cgroup::Hierarchy;
use crate::profile::Config;
use crate::state::layout::{remove_tree, resolve_state_dir};
use crate::supervisor::{self, CgroupPlan, ExecRequest, OutputSinks, Status};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Profile from sandboxes.toml
    #[arg(short, long, default_value = "default")]
    pub profile: String,
    /// Wall-clock timeout in seconds (overrides the profile's timeout_seconds)
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    /// The command and its arguments
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

pub fn run(global: &Global, args: RunArgs) -> anyhow::Result<i32> {
    let config = Config::discover(global.config.as_deref())?;
    let profile = config.profile(&args.profile)?.clone();
    let timeout = match args.timeout {
        Some(s) if s.is_finite() && s > 0.0 => Duration::from_secs_f64(s),
        Some(s) => anyhow::bail!("--timeout must be a positive number of seconds, got {s}"),
        None => Duration::from_secs(profile.timeout_seconds),
    };
    let state_dir = resolve_state_dir(
        global.state_dir.as_deref(),
        config.settings.state_dir.as_deref(),
    );
    let id = supervisor::new_id();
    let sandbox = format!("run-{id}");
    let sandbox_dir = state_dir.join("run").join(&sandbox);
    let workspace = sandbox_dir.join("workspace");
    std::fs::create_dir_all(&workspace)
        .with_context(|| format!("creating the workspace {}", workspace.display()))?;
    let cgroup = Hierarchy::detect(&config.settings.cgroup_root)
        .ok()
        .map(|hierarchy| CgroupPlan {
            hierarchy,
            sandbox_rel: sandbox.clone(),
        });
    let request = ExecRequest {
        id,
        sandbox,
        profile,
        argv: args.command,
        workspace,
        cgroup,
        timeout,
        pass_stdin: true,
        extra_files: Vec::new(),
        extra_env: Vec::new(),
    };
    let mut sinks = OutputSinks {
        live: !global.json,
        ..OutputSinks::default()
    };
    let result = supervisor::execute(&request, &mut sinks, &mut |_| {});
    if let Some(plan) = &request.cgroup {
        if let Ok(group) = plan.hierarchy.open(&plan.sandbox_rel) {
            let _ = group.kill_all();
            let _ = group.remove();
        }
    }
    let cleanup = remove_tree(&sandbox_dir);
    if global.json {
        println!("{}", serde_json::to_string(&result)?);
    } else if !matches!(result.status, Status::Completed | Status::Failed)
        || result.exit_code.is_none()
    {
        if let Some(error) = &result.error {
            eprintln!("sandbox-tui: {}: {error}", result.status);
        }
    } else if let (Status::Failed, Some(error)) = (result.status, &result.error) {
        eprintln!("sandbox-tui: {error}");
    }
    for note in &result.degraded {
        eprintln!("sandbox-tui: warning: degraded isolation: {note}");
    }
    if let Err(e) = cleanup {
        eprintln!("sandbox-tui: warning: {e}");
    }
    Ok(result.exit_code_for_cli())
}
