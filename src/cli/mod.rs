//! The command line: clap subcommands, `--json` output, exit codes.
//! A thin face: the work happens in the layers below.

/// `println!` for the verbs' output, through [`write_out`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod cluster;
mod doctor;
mod files;
mod format;
mod image;
mod profiles;
mod python_args;
mod run;
mod selftest;
mod table;
mod verbs;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Exit code when the tool itself could not do what was asked (bad config, bad arguments).
pub const EXIT_USAGE: i32 = 125;

/// Exit code when standard output's reader went away: 128 + SIGPIPE, what
/// a shell reports for a tool that SIGPIPE ended.
pub const EXIT_STDOUT_GONE: i32 = 141;

/// Write a verb's output. Rust ignores SIGPIPE, so `println!` panics when
/// the reader is gone (`sandbox-tui ps | head`); here the verb ends quietly
/// instead, as other tools do. Nothing is left half done by that: output
/// comes after the work, `logs -f` only watches, and an attached `exec`
/// ends its execution first.
pub(crate) fn write_out(text: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(text).and_then(|()| out.flush()) {
        stdout_failed(&e);
    }
}

/// A failed write to standard output ends the verb: quietly when the
/// reader is gone, with a message otherwise (a full disk behind `>`).
pub(crate) fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() != std::io::ErrorKind::BrokenPipe {
        eprintln!("sandbox-tui: writing to standard output: {e}");
    }
    std::process::exit(EXIT_STDOUT_GONE);
}

#[derive(Debug, Parser)]
#[command(
    name = "sandbox-tui",
    version,
    about = "Run untrusted code in real Linux sandboxes and watch it live",
    long_about = "Run untrusted code (AI-generated code, student submissions, plugins, CI jobs) in Linux \
sandboxes built from profiles in sandboxes.toml: namespaces, cgroups, rlimits, capability drop, \
no_new_privs, landlock and seccomp.\n\nExit codes of run: the command's own code, 128+N for signal N, \
124 timeout, 125 setup error, 126 denied or not executable, 127 command not found, 137 memory limit, \
141 the output's reader went away (docs/cli.md)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Dashboard: milliseconds between samples
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=600_000))]
    pub refresh: u64,
    /// Dashboard: colour theme (default, light, high-contrast, or a file in $XDG_CONFIG_HOME/sandbox-tui/themes/NAME.toml)
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Profiles file (default: ./sandboxes.toml, then $XDG_CONFIG_HOME/sandbox-tui/sandboxes.toml, then built-in)
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// State directory (default: $SANDBOX_TUI_STATE_DIR, settings.state_dir, /var/lib/sandbox-tui as root)
    #[arg(long, global = true, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Machine-readable output (schemas in docs/cli.md)
    #[arg(long, global = true)]
    pub json: bool,
    /// Run and list executions on a Ray cluster (ray://HOST:8265, the dashboard; docs/ray.md): run, ps, logs, wait, kill and the dashboard only
    #[arg(long, global = true, value_name = "ADDR")]
    pub cluster: Option<String>,
}

#[derive(Debug, Subcommand)]
// Only the verb that runs builds its arguments: `run` is on the launch
// path and need not build every other verb's.
#[command(defer = true)]
pub enum Command {
    /// Run one command in a fresh sandbox and remove the sandbox afterwards
    Run(run::RunArgs),
    /// Create a named sandbox from a profile
    Create(verbs::CreateArgs),
    /// Run a command in a named sandbox (attached, or --detach)
    Exec(verbs::ExecArgs),
    /// List sandboxes: name, profile, state, executions, CPU, memory
    Ls,
    /// List executions: id, sandbox, status, command, age, CPU, memory
    Ps(verbs::PsArgs),
    /// Show the process tree of a sandbox (from its cgroup)
    Top(verbs::TopArgs),
    /// Print an execution's output
    Logs(verbs::LogsArgs),
    /// Wait for an execution to end; exits with its code, as run does
    Wait(verbs::WaitArgs),
    /// Kill an execution or every execution of a sandbox
    Kill(verbs::KillArgs),
    /// Give a sandbox its profile as sandboxes.toml has it now (limits and next executions)
    Update(verbs::UpdateArgs),
    /// Remove a sandbox, its workspace and cgroups
    Rm(verbs::RmArgs),
    /// Remove finished executions' logs, leftover ephemeral sandboxes and the spare network namespace
    Prune(verbs::PruneArgs),
    /// Copy a file into or out of a sandbox's workspace (one side is NAME:path)
    Cp(files::CpArgs),
    /// List a sandbox's workspace: type, size, modification time, name
    Files(files::FilesArgs),
    /// List the resolved profiles, or validate the file with --check
    Profiles(profiles::ProfilesArgs),
    /// Images for profiles' `image`: import, ls, rm
    Image(image::ImageArgs),
    /// Show which isolation mechanisms this host provides
    Doctor,
    /// Run the attack cases against this host and report held / broken / skipped
    Selftest(selftest::SelftestArgs),
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version: text on stdout, as asked.
            let _ = e.print();
            return 0;
        }
        Err(e) if json_requested(std::env::args_os()) => {
            let value = serde_json::json!({ "error": clap_message(&e) });
            outln!("{value}");
            return EXIT_USAGE;
        }
        Err(e) => {
            let _ = e.print();
            return EXIT_USAGE;
        }
    };
    let Some(command) = cli.command else {
        return match dashboard(&cli) {
            Ok(()) => 0,
            Err(e) => {
                report_error(&cli.global, &e);
                EXIT_USAGE
            }
        };
    };
    if let Some(address) = cli.global.cluster.clone() {
        if !matches!(command, Command::Run(_)) {
            return cluster_verb(&cli.global, &address, command);
        }
    }
    let outcome = match command {
        Command::Run(args) => run::run(&cli.global, args),
        Command::Create(args) => verbs::create(&cli.global, args),
        Command::Exec(args) => verbs::exec(&cli.global, args),
        Command::Ls => verbs::ls(&cli.global),
        Command::Ps(args) => verbs::ps(&cli.global, args),
        Command::Top(args) => verbs::top(&cli.global, args),
        Command::Logs(args) => verbs::logs(&cli.global, args),
        Command::Wait(args) => verbs::wait(&cli.global, args),
        Command::Kill(args) => verbs::kill(&cli.global, args),
        Command::Update(args) => verbs::update(&cli.global, args),
        Command::Rm(args) => verbs::rm(&cli.global, args),
        Command::Prune(args) => verbs::prune(&cli.global, args),
        Command::Cp(args) => files::cp(&cli.global, args),
        Command::Files(args) => files::files(&cli.global, args),
        Command::Profiles(args) => profiles::run(&cli.global, args),
        Command::Image(args) => image::run(&cli.global, args),
        Command::Doctor => doctor::run(&cli.global),
        Command::Selftest(args) => selftest::run(&cli.global, args),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            report_error(&cli.global, &e);
            EXIT_USAGE
        }
    }
}

/// The verbs that work against a cluster; the rest refuse `--cluster`.
fn cluster_verb(global: &Global, address: &str, command: Command) -> i32 {
    let outcome = match command {
        Command::Ps(args) => cluster::ps(global, address, args),
        Command::Logs(args) => cluster::logs(global, address, args),
        Command::Wait(args) => cluster::wait(global, address, args),
        Command::Kill(args) => cluster::kill(global, address, args),
        _ => Err(anyhow::anyhow!(
            "--cluster works with run, ps, logs, wait and kill (and the dashboard)"
        )),
    };
    outcome.unwrap_or_else(|e| {
        report_error(global, &e);
        EXIT_USAGE
    })
}

/// The configuration for a verb. Invalid profiles are left out with a
/// warning on stderr, so one bad profile does not stop the verbs that do not
/// need it; a verb that asks for it gets its problems as the error.
pub(crate) fn load_config(global: &Global) -> anyhow::Result<crate::profile::Config> {
    let config = crate::profile::Config::discover(global.config.as_deref())?;
    let invalid = config.invalid_profiles();
    if !invalid.is_empty() {
        let file = config
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        eprintln!(
            "sandbox-tui: warning: {file}: invalid profile(s) left out: {} \
             (`sandbox-tui profiles --check` lists the problems)",
            invalid.join(", ")
        );
    }
    Ok(config)
}

/// Whether `--json` is among the options (before a `--`), for the errors
/// that come before there is a parsed command line to ask.
fn json_requested(args: impl Iterator<Item = std::ffi::OsString>) -> bool {
    args.skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

/// A usage error as one message: clap's text without its "error: " and
/// without the colours, the usage and the hint kept on their lines.
fn clap_message(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let text = text.trim();
    text.strip_prefix("error: ").unwrap_or(text).to_string()
}

/// Errors at the edge: a line on stderr, or a JSON object on stdout with `--json`.
pub fn report_error(global: &Global, error: &anyhow::Error) {
    if global.json {
        let value = serde_json::json!({ "error": format!("{error:#}") });
        outln!("{value}");
    } else {
        let text = format!("{error:#}");
        eprintln!("sandbox-tui: {}", shown(&text, stderr_is_terminal()));
    }
}

pub(crate) fn stdout_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stdout())
}

pub(crate) fn stderr_is_terminal() -> bool {
    std::io::IsTerminal::is_terminal(&std::io::stderr())
}

/// Text that may carry a sandbox's words (a message, a traceback, a
/// value), for a terminal: its lines kept, everything else that a
/// terminal would act on shown as escapes (see [`crate::escape`]). To a
/// pipe or a file it goes as it is.
pub(crate) fn shown(text: &str, terminal: bool) -> std::borrow::Cow<'_, str> {
    if !terminal {
        return std::borrow::Cow::Borrowed(text);
    }
    let lines: Vec<std::borrow::Cow<'_, str>> =
        text.split('\n').map(crate::escape::for_terminal).collect();
    if lines
        .iter()
        .all(|l| matches!(l, std::borrow::Cow::Borrowed(_)))
    {
        return std::borrow::Cow::Borrowed(text);
    }
    std::borrow::Cow::Owned(lines.join("\n"))
}

/// The bare command: the terminal dashboard.
fn dashboard(cli: &Cli) -> anyhow::Result<()> {
    let config = crate::profile::Config::discover(cli.global.config.as_deref())?;
    crate::tui::run(crate::tui::Options {
        config,
        config_flag: cli.global.config.clone(),
        state_dir_flag: cli.global.state_dir.clone(),
        refresh: std::time::Duration::from_millis(cli.refresh),
        theme: cli.theme.clone(),
        cluster: cli.global.cluster.clone(),
    })?;
    Ok(())
}
