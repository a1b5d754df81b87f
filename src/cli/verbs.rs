//! The verbs over named sandboxes: create, exec, ls, ps, top, logs, wait,
//! kill, rm, prune. Each is a thin call into `manager` plus output.

use std::io::{Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;

use super::format::{age, bytes, command_line, millis, parse_duration};
use super::{table, Global};
use crate::escape::for_terminal;
use crate::escape::TerminalStream;
use crate::execution::ExecResult;
use crate::manager::{ExecOptions, Manager, RemoveFailure};
use crate::monitor::{self, Monitor};
use crate::output::forward::{self, Forward, ForwardState, FORWARD_BUFFER, READER_STALL_LIMIT};
use crate::output::logfile::{self, Follower, LogStream, Piece};
use crate::state::db::{now_ms, ExecutionRecord};

pub fn open_manager(global: &Global) -> anyhow::Result<Manager> {
    let config = super::load_config(global)?;
    Ok(Manager::open(config, global.state_dir.as_deref())?)
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// Name: lowercase letters, digits, '_', '.', '-', starting with a letter or digit, at most 63
    pub name: String,
    /// Profile from sandboxes.toml (a snapshot is stored with the sandbox)
    #[arg(short, long, default_value = "default")]
    pub profile: String,
    /// Override a key of the profile for this sandbox, e.g. max_memory_mb=256
    /// (repeatable; VALUE is TOML, checked as in the file)
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

pub fn create(global: &Global, args: CreateArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let record = manager.create_with_settings(&args.name, &args.profile, &args.set)?;
    if global.json {
        outln!("{}", serde_json::to_string(&record)?);
    } else {
        outln!("created {} (profile {})", record.name, record.profile_name);
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    /// Sandbox name
    pub name: String,
    /// Return at once with the execution's id; it runs on without this terminal
    #[arg(short, long)]
    pub detach: bool,
    #[command(flatten)]
    pub launch: super::python_args::LaunchArgs,
}

/// The signal that interrupted an attached `exec` (0: none yet).
static INTERRUPTED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_interrupt(sig: libc::c_int) {
    INTERRUPTED.store(sig, Ordering::SeqCst);
}

/// Ctrl-C while attached kills the execution (as it would a local command).
fn catch_interrupts() {
    let action = nix::sys::signal::SigAction::new(
        nix::sys::signal::SigHandler::Handler(on_interrupt),
        nix::sys::signal::SaFlags::empty(),
        nix::sys::signal::SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { nix::sys::signal::sigaction(sig, &action) };
    }
}

pub fn exec(global: &Global, args: ExecArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let timeout = args.launch.timeout()?;
    let launch = args.launch.launch()?;
    let inherit_stdin = !args.detach && matches!(launch, crate::manager::Launch::Command(_));
    let record = manager.exec(
        &args.name,
        launch,
        &ExecOptions {
            timeout,
            inherit_stdin,
        },
    )?;
    if args.detach {
        if global.json {
            outln!(
                "{}",
                serde_json::json!({ "id": record.id, "sandbox": record.sandbox, "status": record.status })
            );
        } else {
            outln!("{}", record.id);
        }
        return Ok(0);
    }
    let _modes = super::run::TerminalModes::save();
    catch_interrupts();
    let mut follower = LogFollower::new(&record, !global.json);
    let mut reader_gone = None;
    let final_record = manager.wait(&record.id, &mut |_| {
        if let Err(e) = follower.pump() {
            reader_gone = Some(e);
            return false;
        }
        INTERRUPTED.load(Ordering::SeqCst) == 0
    })?;
    // As `run` does, and as a pipeline would: an attached command whose
    // output nobody reads any more is ended (SIGPIPE), like one interrupted
    // with Ctrl-C is (SIGINT).
    let stop = match &reader_gone {
        Some(_) => Some(Signal::SIGPIPE),
        None => Signal::try_from(INTERRUPTED.load(Ordering::SeqCst)).ok(),
    };
    let final_record = match stop {
        Some(sig) if !final_record.status.is_final() => {
            manager.stop_execution(&final_record.id, None, sig)?
        }
        _ => final_record,
    };
    if let Some(e) = reader_gone.or_else(|| follower.finish().err()) {
        super::stdout_failed(&e);
    }
    finish(global, &final_record)
}

/// Print the result of a final execution like `run` does and return its exit code.
fn finish(global: &Global, exec: &ExecutionRecord) -> anyhow::Result<i32> {
    let result = result_of(exec);
    super::run::print_result(global, &result)?;
    Ok(result.exit_code_for_cli())
}

fn result_of(exec: &ExecutionRecord) -> ExecResult {
    exec.result.clone().unwrap_or_else(|| {
        let mut r = ExecResult::blank(&exec.id, &exec.sandbox, "", &exec.command);
        r.status = exec.status;
        r.exit_code = exec.exit_code;
        r.signal = exec.signal;
        r.error = exec.error.clone().map(Into::into);
        r
    })
}

/// Streams an execution's log files to our stdout/stderr as they grow,
/// never blocking on their readers (see `output::forward`): the log file
/// is the buffer, and a reader that is slow only falls behind it.
struct LogFollower {
    streams: Vec<Followed>,
}

struct Followed {
    path: std::path::PathBuf,
    /// How far the log has been read into `live`.
    offset: u64,
    live: Forward,
    /// On a terminal the output is escaped (see [`TerminalStream`]).
    escape: Option<TerminalStream>,
}

impl Followed {
    /// Read what the log gained, as much as the live stream holds.
    fn fill(&mut self) {
        // Escaped for a terminal, a byte takes up to four.
        let expand = if self.escape.is_some() { 4 } else { 1 };
        let room = FORWARD_BUFFER.saturating_sub(self.live.pending()) / expand;
        if !self.live.is_open() || room == 0 {
            return;
        }
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return;
        };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return;
        }
        let mut buf = Vec::new();
        if file.take(room as u64).read_to_end(&mut buf).is_ok() && !buf.is_empty() {
            self.offset += buf.len() as u64;
            match &mut self.escape {
                Some(escape) => self.live.push(&escape.push(&buf), FORWARD_BUFFER),
                None => self.live.push(&buf, FORWARD_BUFFER),
            }
        }
    }

    /// Everything the log holds was read (a missing log is an empty one).
    fn at_end(&self) -> bool {
        std::fs::metadata(&self.path).map_or(true, |m| m.len() <= self.offset)
    }
}

impl LogFollower {
    fn new(exec: &ExecutionRecord, enabled: bool) -> LogFollower {
        // Written past std's buffer from here on.
        let _ = std::io::stdout().flush();
        let streams = if enabled {
            vec![
                Followed {
                    path: exec.stdout_log.clone(),
                    offset: 0,
                    live: Forward::new("stdout", 1),
                    escape: super::stdout_is_terminal().then(TerminalStream::new),
                },
                Followed {
                    path: exec.stderr_log.clone(),
                    offset: 0,
                    live: Forward::new("stderr", 2),
                    escape: super::stderr_is_terminal().then(TerminalStream::new),
                },
            ]
        } else {
            Vec::new()
        };
        LogFollower { streams }
    }

    /// Copy what the logs gained, as far as the readers take it now;
    /// fails only when standard output's reader went away.
    fn pump(&mut self) -> std::io::Result<()> {
        for (i, stream) in self.streams.iter_mut().enumerate() {
            stream.fill();
            let state = stream.live.flush();
            if i == 0 {
                if state == ForwardState::Gone {
                    return Err(std::io::ErrorKind::BrokenPipe.into());
                }
                if let Some(errno) = stream.live.error() {
                    super::stdout_failed(&std::io::Error::from(errno));
                }
            }
        }
        Ok(())
    }

    /// After the end: the rest of the logs, while the readers take it; a
    /// reader that took nothing for [`READER_STALL_LIMIT`] is given up,
    /// and said so on stderr.
    fn finish(&mut self) -> std::io::Result<()> {
        loop {
            self.pump()?;
            let now = std::time::Instant::now();
            let stop = INTERRUPTED.load(Ordering::SeqCst) != 0;
            for stream in &mut self.streams {
                if stop || stream.live.stalled(now, READER_STALL_LIMIT) {
                    stream.live.give_up();
                }
            }
            if self
                .streams
                .iter()
                .all(|s| !s.live.is_open() || (s.live.pending() == 0 && s.at_end()))
            {
                break;
            }
            let lives: Vec<&Forward> = self.streams.iter().map(|s| &s.live).collect();
            forward::wait_for_room(&lives, Duration::from_millis(100));
        }
        for stream in &mut self.streams {
            // Half an escape sequence held back at the very end.
            if let Some(escape) = &mut stream.escape {
                let rest = escape.finish();
                stream.live.push(&rest, FORWARD_BUFFER);
                stream.live.flush();
            }
        }
        for stream in &self.streams {
            if let Some(note) = stream.live.note() {
                forward::note_nonblocking(2, &format!("{note}\n"));
            }
        }
        Ok(())
    }
}

pub fn ls(global: &Global) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let sandboxes = manager.sandboxes()?;
    if global.json {
        outln!("{}", serde_json::to_string(&sandboxes)?);
        return Ok(0);
    }
    let now = now_ms();
    let rows: Vec<Vec<String>> = sandboxes
        .iter()
        .map(|s| {
            vec![
                s.name.clone(),
                s.profile.clone(),
                s.state.clone(),
                format!("{}/{}", s.running, s.total),
                millis(s.cpu_ms),
                format!(
                    "{} / {}",
                    bytes(s.memory_bytes),
                    bytes(s.memory_limit_bytes)
                ),
                format!("{}/{}", s.processes, s.max_processes),
                age(s.created_at, now),
            ]
        })
        .collect();
    table::print(
        &[
            "NAME",
            "PROFILE",
            "STATE",
            "RUNNING/TOTAL",
            "CPU",
            "MEMORY",
            "PROCS",
            "AGE",
        ],
        &rows,
    );
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct PsArgs {
    /// Only this sandbox's executions
    pub name: Option<String>,
    /// Only the newest N executions (default: all, newest first)
    #[arg(short = 'n', long, value_name = "N")]
    pub last: Option<u64>,
}

pub fn ps(global: &Global, args: PsArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let execs = manager.executions(args.name.as_deref(), args.last)?;
    if global.json {
        outln!("{}", serde_json::to_string(&execs)?);
        return Ok(0);
    }
    let now = now_ms();
    let rows: Vec<Vec<String>> = execs
        .iter()
        .map(|e| {
            let r = &e.record;
            vec![
                r.id.clone(),
                r.sandbox.clone(),
                r.status.to_string(),
                truncate(&command_line(&r.command), 40),
                age(r.queued_at, now),
                millis(e.live_cpu_ms),
                bytes(e.memory_bytes),
            ]
        })
        .collect();
    table::print(
        &["ID", "SANDBOX", "STATUS", "COMMAND", "AGE", "CPU", "MEMORY"],
        &rows,
    );
    Ok(0)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Sandbox name
    pub name: String,
    /// How long to measure CPU% over, in milliseconds
    #[arg(long, default_value_t = 500)]
    pub interval: u64,
}

pub fn top(global: &Global, args: TopArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let mut monitor = Monitor::new()?;
    let pids = manager.sandbox_pids(&args.name)?;
    monitor.sample(&pids);
    std::thread::sleep(Duration::from_millis(args.interval.clamp(50, 10_000)));
    let pids = manager.sandbox_pids(&args.name)?;
    let procs = monitor.sample(&pids);
    let order = monitor::tree_order(&procs);
    if global.json {
        let list: Vec<serde_json::Value> = order
            .iter()
            .map(|(depth, i)| {
                let mut v = serde_json::to_value(&procs[*i]).unwrap_or_default();
                v["depth"] = serde_json::json!(depth);
                v
            })
            .collect();
        outln!("{}", serde_json::to_string(&list)?);
        return Ok(0);
    }
    let rows: Vec<Vec<String>> = order
        .iter()
        .map(|(depth, i)| {
            let p = &procs[*i];
            vec![
                p.pid.to_string(),
                p.ppid.map(|x| x.to_string()).unwrap_or_default(),
                format!("{:.1}", p.cpu_percent),
                bytes(p.rss_bytes),
                p.threads.to_string(),
                format!("{}{}", "  ".repeat(*depth), truncate(&p.command, 60)),
            ]
        })
        .collect();
    table::print(&["PID", "PPID", "CPU%", "RSS", "THR", "COMMAND"], &rows);
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Execution id (any unique prefix)
    pub id: String,
    /// Follow until the execution ends
    #[arg(short, long)]
    pub follow: bool,
    /// Show only stdout (default: stdout and stderr in the order they were written)
    #[arg(long, conflicts_with = "stderr")]
    pub stdout: bool,
    /// Show only stderr
    #[arg(long)]
    pub stderr: bool,
}

pub fn logs(global: &Global, args: LogsArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let exec = manager.execution(&args.id)?;
    let files = crate::manager::log_files(&exec);
    let stream = if args.stderr {
        Some(LogStream::Stderr)
    } else if args.stdout {
        Some(LogStream::Stdout)
    } else {
        None
    };
    let context = || format!("reading {}", exec.stdout_log.display());
    if global.json {
        let final_exec = if args.follow {
            manager.wait(&exec.id, &mut |_| true)?
        } else {
            exec.clone()
        };
        let mut data = Vec::new();
        let mut at_line_start = true;
        let files = files.ended(final_exec.status.is_final());
        let pieces = logfile::only(files.read(None).with_context(context)?, stream);
        write_pieces(&mut data, &pieces, None, &mut at_line_start)?;
        let (text, encoding) = match String::from_utf8(data) {
            Ok(t) => (t, "utf-8"),
            Err(e) => {
                use base64::Engine;
                (
                    base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
                    "base64",
                )
            }
        };
        outln!(
            "{}",
            serde_json::json!({
                "id": final_exec.id,
                "stream": stream.map_or("both", LogStream::name),
                "status": final_exec.status,
                "data": text,
                "encoding": encoding,
            })
        );
        return Ok(0);
    }
    let mut out = std::io::stdout();
    // To a terminal the log is escaped; to a pipe or a file it stays byte-exact.
    let mut escape = super::stdout_is_terminal().then(TerminalStream::new);
    let terminal = escape.is_some();
    let mut follower = Follower::default();
    let mut at_line_start = true;
    // `last`: nothing is shown after this; `ended`: the execution has ended.
    let mut show = |last: bool, ended: bool| -> anyhow::Result<()> {
        let files = files.clone().ended(ended);
        let pieces = follower.read(&files, stream).with_context(context)?;
        let written = write_pieces(&mut out, &pieces, escape.as_mut(), &mut at_line_start)
            .and_then(|()| match (&mut escape, last) {
                (Some(escape), true) => out.write_all(&escape.finish()),
                _ => Ok(()),
            })
            .and_then(|()| out.flush());
        if let (Err(_), Some(escape)) = (&written, &mut escape) {
            // Best effort: a terminal that refuses this write is gone.
            let _ = out.write_all(&escape.finish()).and_then(|()| out.flush());
        }
        match written {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => super::stdout_failed(&e),
            Err(e) => Err(e.into()),
        }
    };
    if !args.follow {
        show(true, exec.status.is_final())?;
        return Ok(0);
    }
    // Ctrl-C ends a follow: on a terminal, a colour the log left set is
    // reset first, or the user's shell would go on in it.
    if terminal {
        catch_interrupts();
    }
    let mut failed = None;
    manager.wait(&exec.id, &mut |_| {
        if let Err(e) = show(false, false) {
            failed = Some(e);
            return false;
        }
        INTERRUPTED.load(Ordering::SeqCst) == 0
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if let Ok(sig) = Signal::try_from(INTERRUPTED.load(Ordering::SeqCst)) {
        // What came since the last tick, then the reset; a terminal that
        // hung up takes neither, and the signal ends this process anyway.
        let _ = show(true, false);
        die_by(sig);
    }
    show(true, true)?;
    Ok(0)
}

/// End this process by `sig`, as the signal would have had it not been
/// caught, so a shell sees the same status (130 for Ctrl-C).
fn die_by(sig: Signal) -> ! {
    // SAFETY: restoring the default disposition runs no handler code.
    let _ = unsafe { nix::sys::signal::signal(sig, nix::sys::signal::SigHandler::SigDfl) };
    let _ = nix::sys::signal::raise(sig);
    std::process::exit(128 + sig as i32)
}

/// The pieces' bytes as they are (through `escape` for a terminal), each
/// gap's marker on a line of its own.
fn write_pieces(
    to: &mut impl Write,
    pieces: &[Piece],
    mut escape: Option<&mut TerminalStream>,
    at_line_start: &mut bool,
) -> std::io::Result<()> {
    for piece in pieces {
        if let Piece::Data { bytes, .. } = piece {
            if bytes.is_empty() {
                continue;
            }
            match escape.as_deref_mut() {
                Some(escape) => to.write_all(&escape.push(bytes))?,
                None => to.write_all(bytes)?,
            }
            *at_line_start = bytes.ends_with(b"\n");
        } else if let Some(marker) = piece.marker() {
            if let Some(escape) = escape.as_deref_mut() {
                to.write_all(&escape.finish())?;
            }
            if !*at_line_start {
                to.write_all(b"\n")?;
            }
            to.write_all(marker.as_bytes())?;
            to.write_all(b"\n")?;
            *at_line_start = true;
        }
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct WaitArgs {
    /// Execution id (any unique prefix)
    pub id: String,
}

pub fn wait(global: &Global, args: WaitArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let exec = manager.execution(&args.id)?;
    let done = manager.wait(&exec.id, &mut |_| true)?;
    finish(global, &done)
}

#[derive(Debug, clap::Args)]
pub struct KillArgs {
    /// A sandbox name (kills all its executions) or an execution id / prefix
    pub target: String,
    /// Send this signal to every process instead of killing everything (e.g. TERM, INT, 15)
    #[arg(short, long, value_name = "SIG")]
    pub signal: Option<String>,
}

fn parse_signal(text: &str) -> anyhow::Result<Signal> {
    if let Ok(n) = text.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow::anyhow!("no signal number {n}"));
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<Signal>().map_err(|_| {
        anyhow::anyhow!("unknown signal {text:?} (use e.g. TERM, INT, KILL or a number)")
    })
}

pub fn kill(global: &Global, args: KillArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let signal = args.signal.as_deref().map(parse_signal).transpose()?;
    let killed: Vec<ExecutionRecord> = if manager.store().sandbox(&args.target).is_ok() {
        manager.kill_sandbox(&args.target, signal)?
    } else {
        vec![manager.kill_execution(&args.target, signal)?]
    };
    if global.json {
        let list: Vec<serde_json::Value> = killed
            .iter()
            .map(|e| serde_json::json!({ "id": e.id, "sandbox": e.sandbox, "status": e.status }))
            .collect();
        outln!("{}", serde_json::to_string(&list)?);
    } else if killed.is_empty() {
        outln!("nothing was running");
    } else {
        for e in &killed {
            outln!("{} {}", e.id, e.status);
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct UpdateArgs {
    /// Sandbox name
    pub name: String,
}

/// `update NAME`: the sandbox takes its profile as sandboxes.toml has it
/// now; prints each changed key.
pub fn update(global: &Global, args: UpdateArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let changes = manager.apply_profile(&args.name)?;
    if global.json {
        outln!(
            "{}",
            serde_json::json!({ "sandbox": args.name, "changes": changes })
        );
    } else if changes.is_empty() {
        outln!("{}: already up to date", args.name);
    } else {
        for change in &changes {
            outln!("{}: {}", args.name, for_terminal(&change.to_string()));
        }
    }
    Ok(0)
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Sandbox names (each is removed even when another one cannot be)
    #[arg(required = true, value_name = "NAME")]
    pub names: Vec<String>,
    /// Kill what runs first (otherwise a busy sandbox is refused)
    #[arg(short, long)]
    pub force: bool,
    /// Keep the sandbox's execution history and logs
    #[arg(long)]
    pub keep_history: bool,
}

pub fn rm(global: &Global, args: RmArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for name in args.names {
        match manager.remove(&name, args.force, args.keep_history) {
            Ok(()) => removed.push(name),
            Err(e) => failed.push(RemoveFailure {
                name,
                error: e.to_string(),
            }),
        }
    }
    if global.json {
        let mut value = serde_json::json!({ "removed": removed, "failed": failed });
        if let Some(error) = failures_error(&failed) {
            value["error"] = error.into();
        }
        outln!("{value}");
    } else {
        for name in &removed {
            outln!("removed {}", for_terminal(name));
        }
        report_failures(&failed);
    }
    Ok(if failed.is_empty() {
        0
    } else {
        super::EXIT_USAGE
    })
}

/// The `error` of a JSON answer whose removals failed, in part or in whole.
fn failures_error(failed: &[RemoveFailure]) -> Option<String> {
    match failed {
        [] => None,
        [one] => Some(format!("could not remove {}: {}", one.name, one.error)),
        many => Some(format!("could not remove {} sandboxes", many.len())),
    }
}

/// A line on stderr for each sandbox a removal had to leave.
fn report_failures(failed: &[RemoveFailure]) {
    let terminal = super::stderr_is_terminal();
    for f in failed {
        eprintln!(
            "sandbox-tui: could not remove {}: {}",
            for_terminal(&f.name),
            super::shown(&f.error, terminal)
        );
    }
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Only executions that ended longer ago than this (e.g. 90s, 15m, 2h, 7d)
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub older_than: Option<Duration>,
}

pub fn prune(global: &Global, args: PruneArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let report = manager.prune(args.older_than)?;
    if global.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(error) = failures_error(&report.failed) {
            value["error"] = error.into();
        }
        outln!("{value}");
    } else {
        outln!(
            "removed {} execution(s), {} leftover ephemeral sandbox(es) and {} spare network namespace(s)",
            report.executions.len(),
            report.sandboxes.len(),
            report.spare_network_namespaces
        );
        report_failures(&report.failed);
    }
    Ok(if report.failed.is_empty() {
        0
    } else {
        super::EXIT_USAGE
    })
}
