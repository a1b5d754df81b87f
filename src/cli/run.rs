//! `sandbox-tui run`: one command in a fresh, ephemeral sandbox.

use super::Global;
use crate::execution::{ErrorInfo, ExecResult};
use crate::manager::{self, RunOptions};

#[derive(Debug, clap::Args)]
// On a node, the job's environment holds the command.
#[command(mut_arg("command", |a| a.required_unless_present_any(["python", "job_env"])))]
pub struct RunArgs {
    /// Profile from sandboxes.toml
    #[arg(short, long, default_value = "default")]
    pub profile: String,
    /// Override a key of the profile for this run, e.g. max_memory_mb=256 or
    /// python="python3" (repeatable; VALUE is TOML, checked as in the file)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// With --cluster: print the job's id and leave it running
    #[arg(short, long)]
    pub detach: bool,
    /// On a cluster's node: the profile and the launch from $SANDBOX_TUI_JOB
    #[arg(long, hide = true, conflicts_with_all = ["profile", "set", "detach"])]
    pub job_env: bool,
    #[command(flatten)]
    pub launch: super::python_args::LaunchArgs,
}

pub fn run(global: &super::Global, args: RunArgs) -> anyhow::Result<i32> {
    if let Some(address) = &global.cluster {
        return super::cluster::run(global, address, args);
    }
    if args.job_env {
        return super::cluster::run_on_node(global, args);
    }
    if args.detach {
        anyhow::bail!(
            "run --detach needs --cluster; on this machine use `create` and `exec --detach`"
        );
    }
    let config = super::load_config(global)?;
    let profile = config.profile(&args.profile)?.with_settings(&args.set)?;
    let timeout = args.launch.timeout()?;
    let launch = args.launch.launch()?;
    let options = RunOptions {
        timeout,
        live_output: !global.json,
        // A Python job's code may come from stdin; the snippet then gets none.
        pass_stdin: matches!(launch, crate::manager::Launch::Command(_)),
    };
    let _modes = TerminalModes::save();
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
    let mut lines = String::new();
    // An exception the runner raised itself (ResultTooLarge) has no
    // traceback: its type and message make the line instead.
    let traceback = match &result.error {
        Some(ErrorInfo::Exception { traceback, .. }) if !traceback.is_empty() => Some(traceback),
        _ => None,
    };
    if let Some(traceback) = traceback {
        lines.push_str(&super::shown(traceback, err_tty));
    } else if let Some(error) = &result.error {
        // Policy reasons already start with "denied by ...".
        let text = error.to_string();
        let text = super::shown(&text, err_tty);
        if text.starts_with(result.status.as_str()) {
            lines.push_str(&format!("sandbox-tui: {text}\n"));
        } else {
            lines.push_str(&format!("sandbox-tui: {}: {text}\n", result.status));
        }
    }
    for note in &result.degraded {
        lines.push_str(&format!(
            "sandbox-tui: warning: degraded isolation: {note}\n"
        ));
    }
    write_stderr(&lines);
    Ok(())
}

/// The end's lines on stderr, which may be the live output's pipe: a
/// reader that went away loses them (no panic, the exit code says it), and
/// one that takes nothing is given up after `READER_STALL_LIMIT`.
fn write_stderr(text: &str) {
    use crate::output::forward::{self, Forward, READER_STALL_LIMIT};
    if text.is_empty() {
        return;
    }
    let mut stderr = [Forward::new("stderr", 2)];
    stderr[0].push(text.as_bytes(), text.len());
    forward::finish_all(&mut stderr, READER_STALL_LIMIT, &|| false);
}

/// The modes of the caller's terminals (any of stdin, stdout, stderr),
/// put back when an attached execution ends if they changed. The sandbox
/// never gets the terminal; this holds even if something changed it.
pub(crate) struct TerminalModes(Vec<(i32, nix::sys::termios::Termios)>);

/// `f` on our own descriptor 0, 1 or 2.
fn on_std_fd<R>(fd: i32, f: impl FnOnce(std::os::fd::BorrowedFd<'_>) -> R) -> R {
    use std::os::fd::AsFd;
    match fd {
        0 => f(std::io::stdin().as_fd()),
        1 => f(std::io::stdout().as_fd()),
        _ => f(std::io::stderr().as_fd()),
    }
}

impl TerminalModes {
    pub(crate) fn save() -> TerminalModes {
        TerminalModes(
            (0..=2)
                .filter_map(|fd| {
                    Some((
                        fd,
                        on_std_fd(fd, |tty| nix::sys::termios::tcgetattr(tty)).ok()?,
                    ))
                })
                .collect(),
        )
    }
}

impl Drop for TerminalModes {
    fn drop(&mut self) {
        use nix::sys::signal::{SigSet, SigmaskHow, Signal};
        for (fd, saved) in &self.0 {
            on_std_fd(*fd, |tty| {
                let changed = nix::sys::termios::tcgetattr(tty).is_ok_and(|now| now != *saved);
                // Only a foreground job's: in the background, the terminal
                // (and its modes) belong to whatever runs in front.
                let foreground = nix::unistd::tcgetpgrp(tty) == Ok(nix::unistd::getpgrp());
                if !(changed && foreground) {
                    return;
                }
                // Blocked, SIGTTOU cannot stop us should the job have just
                // been put in the background.
                let mut ttou = SigSet::empty();
                ttou.add(Signal::SIGTTOU);
                let mut old = SigSet::empty();
                let blocked = nix::sys::signal::pthread_sigmask(
                    SigmaskHow::SIG_BLOCK,
                    Some(&ttou),
                    Some(&mut old),
                );
                let _ =
                    nix::sys::termios::tcsetattr(tty, nix::sys::termios::SetArg::TCSANOW, saved);
                if blocked.is_ok() {
                    let _ = nix::sys::signal::pthread_sigmask(
                        SigmaskHow::SIG_SETMASK,
                        Some(&old),
                        None,
                    );
                }
            });
        }
    }
}
