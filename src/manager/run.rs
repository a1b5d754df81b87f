//! `run`: one command in an ephemeral sandbox, supervised by this very
//! process (so stdin and Ctrl-C work as for any command), then removed.
//!
//! Launching is the hot path of the tool, so the sandbox is started before
//! the state is opened, and the run is recorded while the sandbox's init
//! builds it; the command starts only once the run is recorded. Until then
//! the sandbox's directory `sandboxes/run-ID`, made with an exclusive mkdir
//! (or an exclusive rename of a spare), keeps other runs off the id. Ids are
//! short, so one of the history may be drawn: the record finds out, before
//! the command has started, and the run starts over with another.
//!
//! A `run` killed before its record leaves an empty directory and empty
//! cgroups, never a process (the init ends when its supervisor's control
//! socket closes); [`sweep_unrecorded`] removes them.

use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::{
    discard_job, finish_job, give_workspace, logs_dir, pin_image, prepare_launch, random_u32,
    release, release_named, request_for, run_as, sandbox_dir, sandboxes_dir, state_dir, Launch,
    Manager, ManagerError, RunOptions,
};
use crate::cgroup::Hierarchy;
use crate::execution::{self, ExecResult, Status};
use crate::profile::{Config, Profile};
use crate::state::db::{
    checkpoint, now_ms, process_start_time, ExecutionRecord, NewExecution, SandboxRecord,
    StateError,
};
use crate::state::layout::{make_state_dir, remove_tree, take_spare};
use crate::supervisor::{self, LogSink, OutputSinks};

/// How old the reservations of a run with no record must be before
/// [`sweep_unrecorded`] takes them for a crash's: a live run records itself
/// within milliseconds of reserving.
const UNRECORDED_GRACE: Duration = Duration::from_secs(60);

/// Prefix of an ephemeral sandbox's name; the rest is its execution's id.
const RUN_PREFIX: &str = "run-";

/// How many ids a run draws before it gives up; each that is taken costs
/// the start of a sandbox, and one is taken with a chance of (executions in
/// the history) / 16.7 million.
const ID_DRAWS: usize = 8;

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
    let pinned;
    let profile = if profile.image.is_some() {
        let mut copy = profile.clone();
        pin_image(&state_dir, &mut copy)?;
        pinned = copy;
        &pinned
    } else {
        profile
    };
    let hierarchy = Hierarchy::detect(&config.settings.cgroup_root).ok();
    let timeout = options
        .timeout
        .unwrap_or(Duration::from_secs(profile.timeout_seconds));
    let run = Run {
        config,
        state_dir,
        hierarchy,
        profile,
        launch,
        options,
        timeout,
    };
    for _ in 0..ID_DRAWS {
        if let Some(result) = run.attempt()? {
            return Ok(result);
        }
    }
    Err(ManagerError::Invalid(
        "could not find a free execution id and sandbox uid (as root, see sandbox_uid_count)"
            .into(),
    ))
}

struct Run<'a> {
    config: Config,
    state_dir: PathBuf,
    hierarchy: Option<Hierarchy>,
    profile: &'a Profile,
    launch: Launch,
    options: &'a RunOptions,
    timeout: Duration,
}

impl Run<'_> {
    /// The run under one id; `None` when the id belongs to an execution of
    /// the history (nothing of the user's has run, and nothing is left).
    fn attempt(&self) -> Result<Option<ExecResult>, ManagerError> {
        let (state_dir, hierarchy, profile) =
            (&self.state_dir, self.hierarchy.as_ref(), self.profile);
        let settings = &self.config.settings;
        // As root, a uid of its own, drawn at random: the record finds out,
        // before the command has started, if another sandbox holds it.
        let uid = nix::unistd::geteuid()
            .is_root()
            .then(|| settings.sandbox_uid_base + random_u32() % settings.sandbox_uid_count.max(1));
        let reserved = Reservation::make(
            state_dir,
            profile,
            &self.launch,
            self.timeout,
            uid,
            execution::new_id,
        )?;
        let sandbox = &reserved.sandbox;
        let new = &reserved.execution;
        let record = ExecutionRecord::unsaved(new);
        let mut request = request_for(
            state_dir,
            hierarchy,
            sandbox,
            &record,
            self.timeout,
            self.config.settings.hosts_file.as_deref(),
        );
        request.pass_stdin = self.options.pass_stdin;

        let open = || {
            let manager = Manager::open_with(
                self.config.clone(),
                state_dir.clone(),
                std::cell::OnceCell::from(self.hierarchy.clone()),
            )?;
            manager.store.defer_checkpoints();
            Ok::<_, ManagerError>(manager)
        };
        // Joined when the attempt ends, so the process never ends in the
        // middle of a checkpoint it could have finished.
        let mut checkpointer = Checkpointer::default();
        let mut opened: Option<Manager> = None;
        let mut recorded = false;
        let mut id_taken = false;
        let mut capture = None;
        // Logs too, so `logs` and the dashboard can follow a `run` like
        // any execution; made only once the record holds the id.
        let mut sinks = OutputSinks {
            live: self.options.live_output,
            stdout_log: LogSink::OnFirstWrite(new.stdout_log.clone()),
            stderr_log: LogSink::OnFirstWrite(new.stderr_log.clone()),
            result: None,
            forwards: Vec::new(),
        };
        let mut result = if let Err(e) =
            prepare_launch(state_dir, &new.id, &self.launch, run_as(sandbox))
        {
            discard_job(state_dir, &new.id);
            supervisor::refused(&request, Status::Error, e.to_string())
        } else if let Err(reason) =
            supervisor::check_policy(profile, &request.argv, self.launch.policy_code())
        {
            // Refused before anything starts, so a denied run is never
            // recorded as started.
            supervisor::refused(&request, Status::Denied, reason)
        } else {
            let me = std::process::id() as i32;
            let supervisor = (me, process_start_time(me).unwrap_or(0));
            let result = supervisor::execute(&request, &mut sinks, &mut |event| {
                let supervisor::Event::Started { init_pid } = event;
                let manager = open().map_err(|e| format!("opening the state: {e}"))?;
                let inserted = manager
                    .store
                    .insert_run(sandbox, new, Some((supervisor, init_pid)));
                let log_is_long = manager.store.log_is_long();
                opened = Some(manager);
                if let Err(e) = inserted {
                    id_taken = is_taken(&e);
                    return Err(format!("recording the execution: {e}"));
                }
                recorded = true;
                // While the init builds the sandbox and the command runs, a
                // thread copies the log into the database, instead of the
                // final commit doing so on the way out.
                if log_is_long {
                    checkpointer.start(state_dir);
                }
                Ok(())
            });
            capture = sinks.result.take();
            result
        };
        if id_taken {
            reserved.abandon(state_dir, hierarchy);
            return Ok(None);
        }
        let manager = match opened.map_or_else(open, Ok) {
            Ok(manager) => manager,
            Err(e) => {
                reserved.abandon(state_dir, hierarchy);
                return Err(e);
            }
        };
        if !recorded {
            // It never started: recorded now, so that its end can be.
            if let Err(e) = manager.store.insert_run(sandbox, new, None) {
                reserved.abandon(state_dir, hierarchy);
                return if is_taken(&e) {
                    Ok(None)
                } else {
                    Err(e.into())
                };
            }
        }
        finish_job(state_dir, &record, profile, &mut result, capture);
        // Its one execution has ended and nothing else may use an ephemeral
        // sandbox: its files and cgroups go first, then the execution's end
        // and the sandbox's removal are recorded in one transaction. A crash
        // in between leaves an execution that recovery marks lost, and
        // nothing to clean up.
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
        // Recorded: what the live output's readers have not taken yet may
        // wait for them now.
        sinks.finish_live();
        Ok(Some(result))
    }
}

/// A checkpoint of the state's log on a thread of its own, joined on drop.
#[derive(Default)]
struct Checkpointer(Option<std::thread::JoinHandle<()>>);

impl Checkpointer {
    fn start(&mut self, state_dir: &Path) {
        let state_dir = state_dir.to_path_buf();
        // A checkpoint that fails or cannot start is only put off: the next
        // long log's commit tries again, and the log stays correct meanwhile.
        self.0 = std::thread::Builder::new()
            .name("checkpoint".into())
            .spawn(move || {
                let _ = checkpoint(&state_dir);
            })
            .ok();
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

/// What a run holds before it is recorded: its sandbox's directory, with
/// an empty workspace; its cgroups are made as its execution's, just before
/// the init is cloned (see `execution_group`).
struct Reservation {
    sandbox: SandboxRecord,
    execution: NewExecution,
}

impl Reservation {
    fn make(
        state_dir: &Path,
        profile: &Profile,
        launch: &Launch,
        timeout: Duration,
        uid: Option<u32>,
        mut draw_id: impl FnMut() -> String,
    ) -> Result<Reservation, ManagerError> {
        // Private, as the state makes it: this may be the first use.
        make_state_dir(state_dir)
            .map_err(super::io_err(format!("creating {}", state_dir.display())))?;
        let logs = logs_dir(state_dir);
        std::fs::create_dir_all(&logs)
            .map_err(super::io_err(format!("creating {}", logs.display())))?;
        let sandboxes = sandboxes_dir(state_dir);
        std::fs::create_dir_all(&sandboxes)
            .map_err(super::io_err(format!("creating {}", sandboxes.display())))?;
        // Another live sandbox may have the id's name; another is drawn.
        for _ in 0..32 {
            let id = draw_id();
            let name = format!("{RUN_PREFIX}{id}");
            let dir = sandbox_dir(state_dir, &name);
            if !claim_dir(&dir)? {
                continue;
            }
            let workspace = dir.join("workspace");
            let mut sandbox = SandboxRecord::new(&name, profile, &workspace, &name, true);
            sandbox.uid = uid;
            if let Err(e) = give_workspace(&sandbox) {
                let _ = remove_tree(&dir);
                return Err(super::io_err(format!("giving {}", workspace.display()))(e));
            }
            let reservation = Reservation {
                sandbox,
                execution: NewExecution {
                    sandbox: name.clone(),
                    kind: launch.kind().into(),
                    command: launch.display(profile),
                    timeout_ms: timeout.as_millis() as u64,
                    stdout_log: logs.join(format!("{id}.stdout")),
                    stderr_log: logs.join(format!("{id}.stderr")),
                    id,
                },
            };
            return Ok(reservation);
        }
        Err(ManagerError::Invalid(
            "could not find a free sandbox name".into(),
        ))
    }

    /// Give everything back, for a run that was not recorded. Its logs were
    /// never made: they are made with their first byte, after the record.
    fn abandon(self, state_dir: &Path, hierarchy: Option<&Hierarchy>) {
        let _ = release(state_dir, hierarchy, &self.sandbox);
        discard_job(state_dir, &self.execution.id);
    }
}

/// The record found the run's id (or its sandbox's name) taken.
fn is_taken(error: &StateError) -> bool {
    matches!(
        error,
        StateError::DuplicateId { .. }
            | StateError::AlreadyExists { .. }
            | StateError::UidTaken { .. }
    )
}

/// Make `dir` with an empty `workspace`, from a spare when one is kept.
/// False when `dir` exists: its name belongs to another sandbox. Its mtime
/// is when it was claimed (see [`sweep_unrecorded`]).
fn claim_dir(dir: &Path) -> Result<bool, ManagerError> {
    if take_spare(dir) {
        let now = nix::sys::time::TimeSpec::UTIME_NOW;
        // A spare made long ago would otherwise pass for a crash's leftover,
        // and its workspace would show the last run's times (which that
        // run may have set to anything) instead of a fresh directory's.
        for path in [dir.join("workspace"), dir.to_path_buf()] {
            if let Err(e) = nix::sys::stat::utimensat(
                nix::fcntl::AT_FDCWD,
                &path,
                &now,
                &now,
                nix::sys::stat::UtimensatFlags::NoFollowSymlink,
            ) {
                let _ = remove_tree(dir);
                return Err(super::io_err(format!("touching {}", path.display()))(
                    e.into(),
                ));
            }
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

/// Remove what runs that died before they were recorded left behind: a
/// `sandboxes/run-ID` directory that no sandbox record names, older than
/// [`UNRECORDED_GRACE`], and its cgroups.
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
        if !name.starts_with(RUN_PREFIX) {
            continue;
        }
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
        // A run's group is named after its sandbox; what is left may be
        // dirty, so it is not kept as a spare.
        let _ = release_named(&manager.state_dir, manager.hierarchy(), name, name, false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::db::{Store, KIND_COMMAND};

    /// An id of the history is found only by the record, and its run gives
    /// everything back; a name a live run holds is never drawn twice.
    #[test]
    fn a_taken_id_is_given_back_and_a_held_name_is_skipped() {
        let dir = tempfile::tempdir().expect("tempdir");
        let state_dir = dir.path().join("state");
        let store = Store::open(&state_dir).expect("open");
        let profile = Profile::defaults("default");
        store
            .create_sandbox("box", &profile, &dir.path().join("ws"), "box", false)
            .expect("sandbox");
        store
            .insert_execution(&NewExecution {
                id: "aaaaaa".into(),
                sandbox: "box".into(),
                kind: KIND_COMMAND.into(),
                command: vec!["true".into()],
                timeout_ms: 1000,
                stdout_log: dir.path().join("aaaaaa.out"),
                stderr_log: dir.path().join("aaaaaa.err"),
            })
            .expect("history");
        let launch = Launch::Command(vec!["true".into()]);
        let timeout = Duration::from_secs(1);
        let mut ids = ["aaaaaa", "aaaaaa", "bbbbbb"].into_iter().map(String::from);
        let mut draw = || ids.next().unwrap_or_default();
        let first = Reservation::make(&state_dir, &profile, &launch, timeout, None, &mut draw)
            .expect("first reservation");
        let second = Reservation::make(&state_dir, &profile, &launch, timeout, None, &mut draw)
            .expect("second reservation");
        assert_eq!(first.execution.id, "aaaaaa");
        assert_eq!(second.execution.id, "bbbbbb", "run-aaaaaa is held");
        let workspace = state_dir.join("sandboxes/run-aaaaaa/workspace");
        assert!(workspace.is_dir());

        let taken = store
            .insert_run(&first.sandbox, &first.execution, None)
            .expect_err("aaaaaa is in the history");
        assert!(is_taken(&taken), "{taken}");
        first.abandon(&state_dir, None);
        assert!(!state_dir.join("sandboxes/run-aaaaaa").exists());
        assert_eq!(store.sandboxes().expect("sandboxes").len(), 1);

        store
            .insert_run(&second.sandbox, &second.execution, None)
            .expect("bbbbbb is free");
        assert_eq!(
            store.execution("bbbbbb").expect("recorded").sandbox,
            "run-bbbbbb"
        );
    }
}
