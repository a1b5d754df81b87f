//! `sandbox-tui run`: one command in a fresh, ephemeral sandbox.

use std::time::Duration;

use super::Global;
use crate::manager::{Manager, RunOptions};
use crate::profile::Config;
use crate::supervisor::{ErrorInfo, ExecResult};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Profile from sandboxes.toml
    #[arg(short, long, default_value = "default")]
    pub profile: String,
    /// Wall-clock timeout in seconds (overrides the profile's timeout_seconds)
    #[arg(long, value_name = "S")]
    pub timeout: Option<f64>,
    #[command(flatten)]
    pub python: super::python_args::PythonArgs,
    /// The command and its arguments
    #[arg(
        required_unless_present = "python",
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    pub command: Vec<String>,
}

pub fn parse_timeout(value: Option<f64>) -> anyhow::Result<Option<Duration>> {
    match value {
        Some(s) if s.is_finite() && s > 0.0 => Ok(Some(Duration::from_secs_f64(s))),
        Some(s) => anyhow::bail!("--timeout must be a positive number of seconds, got {s}"),
        None => Ok(None),
    }
}

pub fn run(global: &super::Global, args: RunArgs) -> anyhow::Result<i32> {
    let config = Config::discover(global.config.as_deref())?;
    let profile = config.profile(&args.profile)?.clone();
    let options = RunOptions {
        timeout: parse_timeout(args.timeout)?,
        live_output: !global.json,
        pass_stdin: true,
    };
    let launch = args.python.launch(args.command)?;
    let options = RunOptions {
        pass_stdin: matches!(launch, crate::manager::Launch::Command(_)),
        ..options
    };
    let manager = Manager::open(config, global.state_dir.as_deref())?;
    let result = manager.run_ephemeral(&profile, launch, &options)?;
    print_result(global, &result)?;
    Ok(result.exit_code_for_cli())
}

/// After the live output: the JSON object, or a line on stderr when the end needs explaining.
pub fn print_result(global: &Global, result: &ExecResult) -> anyhow::Result<()> {
    if global.json {
        println!("{}", serde_json::to_string(result)?);
        return Ok(());
    }
    // A Python snippet's value goes to stdout after its own output, as a REPL would show it.
    if let Some(value) = &result.result {
        if result.result_non_json {
            let repr = value
                .get("repr")
                .and_then(|r| r.as_str())
                .unwrap_or_default();
            println!("{repr}");
        } else {
            println!("{value}");
        }
    }
    if let Some(ErrorInfo::Exception { traceback, .. }) = &result.error {
        eprint!("{traceback}");
    } else if let Some(error) = &result.error {
        eprintln!("sandbox-tui: {}: {error}", result.status);
    }
    for note in &result.degraded {
        eprintln!("sandbox-tui: warning: degraded isolation: {note}");
    }
    Ok(())
}
