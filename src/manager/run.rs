//! `run`: one command in an ephemeral sandbox, supervised by this very
//! process (so stdin and Ctrl-C work as for any command), then removed.
//!
//! Launching is the hot path of the tool, so the sandbox is started before
//! the state is opened, and the run is recorded while the sandbox's init
//! builds it; the command starts only once the run is recorded. Until then
//! nothing in the database holds the run's id, so it is reserved on the
//! filesystem:
//! - the sandbox's directory `sandboxes/run-ID` with an exclusive mkdir (or
//!   an exclusive rename of a spare), against every other sandbox;
//! - the execution's two logs with `O_EXCL`, against the history: logs are
//!   deleted only with their execution's record.
//!
//! A `run` killed before its record leaves an empty directory, two empty
//! logs and empty cgroups, never a process (the init ends when its
//! supervisor's control socket closes); [`sweep_unrecorded`] removes them.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    discard_job, finish_job, group, logs_dir, prepare_launch, release, request_for, sandbox_dir,
    sandboxes_dir, state_dir, Launch, Manager, ManagerError, RunOptions,
};
use crate::cgroup::{Hierarchy, Limits};
use crate::profile::{Config, Profile};
use crate::state::db::{
    now_ms, process_start_time, ExecutionRecord, NewExecution, SandboxRecord, StateError,
};
use crate::state::layout::{remove_tree, take_spare};
use crate::supervisor::{self, ExecResult, OutputSinks, Status};

/// How old the reservations of a run with no record must be before
/// [`sweep_unrecorded`] takes them for a crash's: a live run records itself
/// within milliseconds of reserving.
const UNRECORDED_GRACE: Duration = Duration::from_secs(60);

/// Prefix of an ephemeral sandbox's name; the rest is its execution's id.
const RUN_PREFIX: &str = "run-";

/// Run `launch` in a fresh sandbox of `profile` and remove the sandbox;
/// the execution stays in the history.
pub fn run(
    config: Config,
    state_dir_flag: Option<&Path>,
    profile: &Profile,
    launch: Launch,
    options: &RunOptions,
) -> Result<ExecResult, ManagerError> {
    let state_dir = state_dir(&config, state_dir_flag);
    let hierarchy = Hierarchy::detect(&config.settings.cgroup_root).ok();
    let timeout = options
        .timeout
        .unwrap_or(Duration::from_secs(profile.timeout_seconds));
    let (reserved, stdout_log, stderr_log) =
        Reservation::make(&state_dir, hierarchy.as_ref(), profile, &launch, timeout)?;
    let sandbox = &reserved.sandbox;
    let new = &reserved.execution;
    let record = ExecutionRecord::unsaved(new);
    let mut request = request_for(
        &state_dir,
        hierarchy.as_ref(),
        sandbox,
        &record,
        timeout,
        config.settings.hosts_file.as_deref(),
    );
    request.pass_stdin = options.pass_stdin;

    let open = || Manager::open_with(config.clone(), state_dir.clone(), hierarchy.clone());
    let mut opened: Option<Manager> = None;
    let mut recorded = false;
    let mut result = if let Err(e) = prepare_launch(&state_dir, &new.id, &launch) {
        discard_job(&state_dir, &new.id);
        supervisor::refused(&request, Status::Error, e.to_string())
    } else if let Err(reason) =
        supervisor::check_policy(profile, &request.argv, launch.policy_code())
    {
        // Refused before anything starts, so a denied run is never recorded
        // as started.
        supervisor::refused(&request, Status::Denied, reason)
    } else {
        // Logs too, so `logs` and the dashboard can follow a `run` like any execution.
        let mut sinks = OutputSinks {
            live: options.live_output,
            stdout_log: Some(stdout_log),
            stderr_log: Some(stderr_log),
        };
        let me = std::process::id() as i32;
        let supervisor = (me, process_start_time(me).unwrap_or(0));
        supervisor::execute(&request, &mut sinks, &mut |event| {
            let supervisor::Event::Started { init_pid } = event;
            let manager = open().map_err(|e| format!("opening the state: {e}"))?;
            let inserted = manager
                .store
                .insert_run(sandbox, new, Some((supervisor, init_pid)));
            opened = Some(manager);
            inserted.map_err(|e| format!("recording the execution: {e}"))?;
            recorded = true;
            Ok(())
        })
    };
    let manager = match opened.map_or_else(open, Ok) {
        Ok(manager) => manager,
        Err(e) => {
            reserved.abandon(&state_dir, hierarchy.as_ref());
            return Err(e);
        }
    };
    if !recorded {
        // It never started: recorded now, so that its end can be.
        if let Err(e) = manager.store.insert_run(sandbox, new, None) {
            reserved.abandon(&state_dir, hierarchy.as_ref());
            return Err(e.into());
        }
    }
    finish_job(&state_dir, &record, profile, &mut result);
    // Its one execution has ended and nothing else may use an ephemeral
    // sandbox: its files and cgroups go first, then the execution's end and
    // the sandbox's removal are recorded in one transaction. A crash in
    // between leaves an execution that recovery marks lost, and nothing to
    // clean up.
    if let Err(e) = manager.release(sandbox) {
        result.degraded.push(format!("cleanup: {e}"));
        manager.store.finish_execution(&new.id, &result)?;
        if let Err(e) = manager.remove(&sandbox.name, true, true) {
            result.degraded.push(format!("cleanup: {e}"));
        }
    } else {
        manager
            .store
            .finish_and_delete_sandbox(&new.id, &result, &sandbox.name)?;
    }
    Ok(result)
}

/// What a run holds before it is recorded: its sandbox's directory (with
/// an empty workspace) and cgroups, and its execution's logs.
struct Reservation {
    sandbox: SandboxRecord,
    execution: NewExecution,
}

impl Reservation {
    fn make(
        state_dir: &Path,
        hierarchy: Option<&Hierarchy>,
        profile: &Profile,
        launch: &Launch,
        timeout: Duration,
    ) -> Result<(Reservation, File, File), ManagerError> {
        let logs = logs_dir(state_dir);
        std::fs::create_dir_all(&logs)
            .map_err(super::io_err(format!("creating {}", logs.display())))?;
        let sandboxes = sandboxes_dir(state_dir);
        std::fs::create_dir_all(&sandboxes)
            .map_err(super::io_err(format!("creating {}", sandboxes.display())))?;
        // Ids are short (6 hex digits), so one may be taken; another is drawn.
        for _ in 0..32 {
            let id = supervisor::new_id();
            let name = format!("{RUN_PREFIX}{id}");
            let dir = sandbox_dir(state_dir, &name);
            if !claim_dir(&dir)? {
                continue;
            }
            let workspace = dir.join("workspace");
            let sandbox = SandboxRecord::new(&name, profile, &workspace, &name, true);
            let execution = NewExecution {
                sandbox: name.clone(),
                kind: launch.kind().into(),
                command: launch.display(profile),
                timeout_ms: timeout.as_millis() as u64,
                stdout_log: logs.join(format!("{id}.stdout")),
                stderr_log: logs.join(format!("{id}.stderr")),
                id,
            };
            let (stdout_log, stderr_log) = match create_logs(&execution) {
                Ok(Some(files)) => files,
                Ok(None) => {
                    let _ = release(state_dir, None, &sandbox);
                    continue;
                }
                Err(e) => {
                    let _ = release(state_dir, None, &sandbox);
                    return Err(e);
                }
            };
            let reservation = Reservation { sandbox, execution };
            if let Some(h) = hierarchy {
                // No limits of its own: its one execution's group has them.
                if let Err(e) = h.create(&name, &Limits::default()) {
                    reservation.abandon(state_dir, hierarchy);
                    return Err(ManagerError::Invalid(format!("cgroup for {name}: {e}")));
                }
            }
            return Ok((reservation, stdout_log, stderr_log));
        }
        Err(ManagerError::Invalid(
            "could not find a free execution id".into(),
        ))
    }

    /// Give everything back, for a run that could not be recorded.
    fn abandon(self, state_dir: &Path, hierarchy: Option<&Hierarchy>) {
        let _ = release(state_dir, hierarchy, &self.sandbox);
        let _ = std::fs::remove_file(&self.execution.stdout_log);
        let _ = std::fs::remove_file(&self.execution.stderr_log);
        discard_job(state_dir, &self.execution.id);
    }
}

/// Make `dir` with an empty `workspace`, from a spare when one is kept.
/// False when `dir` exists: its name belongs to another sandbox. Its mtime
/// is when it was claimed (see [`sweep_unrecorded`]).
fn claim_dir(dir: &Path) -> Result<bool, ManagerError> {
    if take_spare(dir) {
        let now = nix::sys::time::TimeSpec::UTIME_NOW;
        // A spare made long ago would otherwise pass for a crash's leftover.
        if let Err(e) = nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            dir,
            &now,
            &now,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        ) {
            let _ = remove_tree(dir);
            return Err(super::io_err(format!("touching {}", dir.display()))(
                e.into(),
            ));
        }
        return Ok(true);
    }
    match std::fs::create_dir(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => return Ok(false),
        Err(e) => return Err(super::io_err(format!("creating {}", dir.display()))(e)),
    }
    let workspace = dir.join("workspace");
    std::fs::create_dir(&workspace).map_err(|e| {
        let _ = std::fs::remove_dir(dir);
        super::io_err(format!("creating {}", workspace.display()))(e)
    })?;
    Ok(true)
}

/// The execution's logs, both new; `None` when either exists (the id
/// belongs to an execution of the history).
fn create_logs(execution: &NewExecution) -> Result<Option<(File, File)>, ManagerError> {
    let create = |path: &PathBuf| {
        OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(path)
            .map(Some)
            .or_else(|e| match e.kind() {
                ErrorKind::AlreadyExists => Ok(None),
                _ => Err(super::io_err(format!("creating {}", path.display()))(e)),
            })
    };
    let Some(stdout_log) = create(&execution.stdout_log)? else {
        return Ok(None);
    };
    match create(&execution.stderr_log) {
        Ok(Some(stderr_log)) => Ok(Some((stdout_log, stderr_log))),
        other => {
            let _ = std::fs::remove_file(&execution.stdout_log);
            other.map(|_| None)
        }
    }
}

/// Remove what runs that died before they were recorded left behind: a
/// `sandboxes/run-ID` directory that no sandbox record names, older than
/// [`UNRECORDED_GRACE`], with its cgroups, and its logs unless an
/// execution of the history holds the id.
pub(super) fn sweep_unrecorded(manager: &Manager) {
    let Ok(entries) = std::fs::read_dir(sandboxes_dir(&manager.state_dir)) else {
        return;
    };
    let now = now_ms();
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(name) = file_name.to_str() else {
            continue;
        };
        let Some(id) = name.strip_prefix(RUN_PREFIX) else {
            continue;
        };
        // Its mtime is when it was claimed; nothing in it but the workspace
        // directory, which is never replaced, changes it afterwards.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        let reserved_ms = meta.mtime() * 1000 + meta.mtime_nsec() / 1_000_000;
        if !meta.is_dir() || now - reserved_ms < UNRECORDED_GRACE.as_millis() as i64 {
            continue;
        }
        if !matches!(
            manager.store.sandbox(name),
            Err(StateError::NotFound { .. })
        ) {
            continue;
        }
        if let Some(group) = group(manager.hierarchy.as_ref(), name) {
            if group.kill_and_remove().is_err() {
                continue;
            }
        }
        if remove_tree(&entry.path()).is_err() {
            continue;
        }
        if matches!(
            manager.store.execution_summary(id),
            Err(StateError::NotFound { .. })
        ) {
            let logs = logs_dir(&manager.state_dir);
            let _ = std::fs::remove_file(logs.join(format!("{id}.stdout")));
            let _ = std::fs::remove_file(logs.join(format!("{id}.stderr")));
            discard_job(&manager.state_dir, id);
        }
    }
}
