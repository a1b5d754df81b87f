//! `sandbox-tui run`: one command in a fresh, ephemeral sandbox.

use super::Global;
use crate::manager::{self, RunOptions};
use crate::profile::Config;
use crate::supervisor::{ErrorInfo, ExecResult};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Profile from sandboxes.toml
    #[arg(short, long, default_value = "default")]
    pub profile: String,
    /// Override a key of the profile for this run, e.g. max_memory_mb=256 or
    /// python="python3" (repeatable; VALUE is TOML, checked as in the file)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    #[command(flatten)]
    pub launch: super::python_args::LaunchArgs,
}

pub fn run(global: &super::Global, args: RunArgs) -> anyhow::Result<i32> {
    let config = Config::discover(global.config.as_deref())?;
    let profile = config.profile(&args.profile)?.with_settings(&args.set)?;
    let timeout = args.launch.timeout()?;
    let launch = args.launch.launch()?;
    let options = RunOptions {
        timeout,
        live_output: !global.json,
        // A Python job's code may come from stdin; the snippet then gets none.
        pass_stdin: matches!(launch, crate::manager::Launch::Command(_)),
    };
    let result = manager::run(
        config,
        global.state_dir.as_deref(),
        &profile,
        launch,
        &options,
    )?;
    print_result(global, &result)?;
    Ok(result.exit_code_for_cli())
}

/// After the live output: the JSON object, or a line on stderr when the end needs explaining.
pub fn print_result(global: &Global, result: &ExecResult) -> anyhow::Result<()> {
    if global.json {
        outln!("{}", serde_json::to_string(result)?);
        return Ok(());
    }
    // A Python snippet's value goes to stdout after its own output, as a REPL would show it.
    if let Some(value) = &result.result {
        if result.result_non_json {
            let repr = value
                .get("repr")
                .and_then(|r| r.as_str())
                .unwrap_or_default();
            outln!("{repr}");
        } else {
            outln!("{value}");
        }
    }
    if let Some(ErrorInfo::Exception { traceback, .. }) = &result.error {
        eprint!("{traceback}");
    } else if let Some(error) = &result.error {
        // Policy reasons already start with "denied by ...".
        let text = error.to_string();
        if text.starts_with(result.status.as_str()) {
            eprintln!("sandbox-tui: {text}");
        } else {
            eprintln!("sandbox-tui: {}: {text}", result.status);
        }
    }
    for note in &result.degraded {
        eprintln!("sandbox-tui: warning: degraded isolation: {note}");
    }
    Ok(())
}
