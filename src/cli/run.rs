//! `sandbox-tui run`: one command in a fresh, ephemeral sandbox.

use super::Global;
use crate::manager::{self, RunOptions};
use crate::supervisor::{ErrorInfo, ExecResult};

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Profile from sandboxes.toml
    #[arg(short, long, default_value = "default")]
    pub profile: String,
    #[command(flatten)]
    pub launch: super::python_args::LaunchArgs,
}

pub fn run(global: &super::Global, args: RunArgs) -> anyhow::Result<i32> {
    let config = super::load_config(global)?;
    let profile = config.profile(&args.profile)?.clone();
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
        let out_tty = super::stdout_is_terminal();
        if result.result_non_json {
            let repr = value
                .get("repr")
                .and_then(|r| r.as_str())
                .unwrap_or_default();
            outln!("{}", super::shown(repr, out_tty));
        } else {
            outln!("{}", super::shown(&value.to_string(), out_tty));
        }
    }
    let err_tty = super::stderr_is_terminal();
    if let Some(ErrorInfo::Exception { traceback, .. }) = &result.error {
        eprint!("{}", super::shown(traceback, err_tty));
    } else if let Some(error) = &result.error {
        // Policy reasons already start with "denied by ...".
        let text = error.to_string();
        let text = super::shown(&text, err_tty);
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
