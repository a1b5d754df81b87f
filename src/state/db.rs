//! The SQLite database shared by the CLI, the dashboard and the supervisors.
//!
//! Every process opens its own connection and SQLite's locking is the only
//! coordination between them: WAL so readers never block the writer, a busy
//! timeout on every connection, and `BEGIN IMMEDIATE` for every
//! read-modify-write so two writers never decide on the same stale snapshot.

use std::cell::Cell;
use std::ffi::c_int;
use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::hooks::Wal;
use rusqlite::{
    ffi, params, Connection, OpenFlags, OptionalExtension, Params, Row, Transaction,
    TransactionBehavior,
};
use serde::{Deserialize, Serialize};

use crate::execution::{ExecResult, Status};
use crate::profile::Profile;

/// The database file inside the state directory.
pub const DB_FILE: &str = "state.db";

pub const SANDBOX_READY: &str = "ready";
pub const SANDBOX_REMOVING: &str = "removing";

pub const KIND_COMMAND: &str = "command";
pub const KIND_PYTHON: &str = "python";

/// The rule `validate_name` enforces, in words for error messages.
pub const NAME_RULE: &str =
    "1 to 63 characters from a-z, 0-9, '_', '.' and '-', starting with a letter or digit";

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Schema migrations, oldest first. The schema version is the number of
/// migrations applied, kept in `PRAGMA user_version`. Only ever append.
const MIGRATIONS: &[&str] = &[include_str!("schema.sql"), include_str!("sandbox_uid.sql")];

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no such {what}: {name:?}")]
    NotFound { what: &'static str, name: String },
    #[error("sandbox {name:?} already exists")]
    AlreadyExists { name: String },
    /// Execution ids are short and random, so the caller may pick another and retry.
    #[error("execution id {id:?} is already taken")]
    DuplicateId { id: String },
    #[error(
        "execution id prefix {prefix:?} is ambiguous; it matches {}",
        list_matches(matches)
    )]
    AmbiguousPrefix {
        prefix: String,
        matches: Vec<String>,
    },
    #[error("invalid sandbox name {name:?}: use {}", NAME_RULE)]
    InvalidName { name: String },
    /// A uid another sandbox holds (a `run` draws another).
    #[error("uid {uid} already belongs to another sandbox")]
    UidTaken { uid: u32 },
    #[error("every uid of sandbox_uid_base .. +sandbox_uid_count ({base} .. +{count}) belongs to a sandbox; raise sandbox_uid_count")]
    NoFreeUid { base: u32, count: u32 },
    #[error("sandbox {name:?} is being removed")]
    Removing { name: String },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the state database has schema version {found}, newer than version {supported} \
         that this sandbox-tui supports; upgrade sandbox-tui or use another state directory"
    )]
    TooNew { found: i64, supported: i64 },
    #[error("corrupt state database: {0}")]
    Corrupt(String),
}

fn list_matches(matches: &[String]) -> String {
    const SHOWN: usize = 10;
    let mut text = matches
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if matches.len() > SHOWN {
        text.push_str(&format!(" and {} more", matches.len() - SHOWN));
    }
    text
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SandboxRecord {
    pub name: String,
    pub profile_name: String,
    /// The profile as resolved when the sandbox was created.
    pub profile: Profile,
    pub workspace: PathBuf,
    pub cgroup_rel: String,
    /// `SANDBOX_READY` or `SANDBOX_REMOVING`.
    pub state: String,
    pub created_at: i64,
    pub ephemeral: bool,
    /// The host uid and gid its commands run as (see `sandbox_uid.sql`).
    pub uid: Option<u32>,
}

impl SandboxRecord {
    /// A new sandbox, `ready` and created now, as it is recorded.
    pub fn new(
        name: &str,
        profile: &Profile,
        workspace: &Path,
        cgroup_rel: &str,
        ephemeral: bool,
    ) -> SandboxRecord {
        SandboxRecord {
            name: name.to_string(),
            profile_name: profile.name.clone(),
            profile: profile.clone(),
            workspace: workspace.to_path_buf(),
            cgroup_rel: cgroup_rel.to_string(),
            state: SANDBOX_READY.to_string(),
            created_at: now_ms(),
            ephemeral,
            uid: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExecutionRecord {
    pub id: String,
    pub sandbox: String,
    /// Order of submission across the whole database; never reused.
    pub seq: i64,
    /// `KIND_COMMAND` or `KIND_PYTHON`.
    pub kind: String,
    pub command: Vec<String>,
    pub status: Status,
    pub timeout_ms: u64,
    pub supervisor_pid: Option<i32>,
    /// Start time of the supervisor (see `process_start_time`), to detect pid reuse.
    pub supervisor_start: Option<u64>,
    pub init_pid: Option<i32>,
    pub queued_at: i64,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub cpu_ms: Option<u64>,
    pub peak_memory_bytes: Option<u64>,
    pub error: Option<String>,
    /// The supervisor's full result; `None` until it finished (and for `lost`).
    pub result: Option<ExecResult>,
    pub stdout_log: PathBuf,
    pub stderr_log: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewExecution {
    pub id: String,
    pub sandbox: String,
    pub kind: String,
    pub command: Vec<String>,
    pub timeout_ms: u64,
    pub stdout_log: PathBuf,
    pub stderr_log: PathBuf,
}

impl ExecutionRecord {
    /// `new` as [`Store::insert_execution`] would return it, before it is
    /// stored: for a launch that records itself once its sandbox is being
    /// built ([`Store::insert_run`]).
    pub fn unsaved(new: &NewExecution) -> ExecutionRecord {
        ExecutionRecord {
            id: new.id.clone(),
            sandbox: new.sandbox.clone(),
            seq: 0,
            kind: new.kind.clone(),
            command: new.command.clone(),
            status: Status::Queued,
            timeout_ms: new.timeout_ms,
            supervisor_pid: None,
            supervisor_start: None,
            init_pid: None,
            queued_at: now_ms(),
            started_at: None,
            ended_at: None,
            exit_code: None,
            signal: None,
            cpu_ms: None,
            peak_memory_bytes: None,
            error: None,
            result: None,
            stdout_log: new.stdout_log.clone(),
            stderr_log: new.stderr_log.clone(),
        }
    }
}

/// One connection to the state database. Not `Sync`: a thread that needs the
/// database opens its own `Store`, which is cheap.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Open (creating if needed) `state.db` in `state_dir` and bring its
    /// schema up to date.
    pub fn open(state_dir: &Path) -> Result<Store, StateError> {
        crate::state::layout::make_state_dir(state_dir).map_err(|source| StateError::Io {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(DB_FILE);
        // SQLite gives the -wal and -shm files the permissions of the database
        // file, so creating it private here keeps all three private.
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&path)
            .map_err(|source| StateError::Io {
                path: path.clone(),
                source,
            })?;
        let mut conn = Connection::open(&path)?;
        init(&mut conn).map_err(|e| match e {
            StateError::Sqlite(ref inner) if is_not_a_database(inner) => {
                StateError::Corrupt(format!("{}: {inner}", path.display()))
            }
            other => other,
        })?;
        Ok(Store { conn, path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version this build reads and writes.
    pub fn version() -> i64 {
        MIGRATIONS.len() as i64
    }

    /// Stop this connection's commits from checkpointing the log. A
    /// checkpoint syncs the log and the database, two waits on the disk, and
    /// SQLite runs it inside the commit that crossed the threshold. A caller on the hot
    /// path asks [`Store::log_is_long`] after a commit and, if so, runs
    /// [`checkpoint`] on a thread of its own.
    pub fn defer_checkpoints(&self) {
        self.conn.wal_hook(Some(note_log_length));
    }

    /// Whether this thread's last commit on a [`Store::defer_checkpoints`]
    /// connection left the log at or past the length at which SQLite's
    /// automatic checkpoint would have run.
    pub fn log_is_long(&self) -> bool {
        LOG_PAGES.get() >= WAL_AUTOCHECKPOINT_PAGES as c_int
    }

    /// Rollback on drop unless committed. `new_unchecked` because `Store`
    /// methods take `&self`; none of them nests transactions.
    fn immediate(&self) -> Result<Transaction<'_>, StateError> {
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Immediate,
        )?)
    }

    /// A read transaction, for reads that must see one consistent snapshot.
    fn snapshot(&self) -> Result<Transaction<'_>, StateError> {
        Ok(Transaction::new_unchecked(
            &self.conn,
            TransactionBehavior::Deferred,
        )?)
    }

    /// Two processes racing on the same name: the PRIMARY KEY lets exactly
    /// one insert succeed, the other gets `AlreadyExists`.
    pub fn create_sandbox(
        &self,
        name: &str,
        profile: &Profile,
        workspace: &Path,
        cgroup_rel: &str,
        ephemeral: bool,
    ) -> Result<SandboxRecord, StateError> {
        let record = SandboxRecord::new(name, profile, workspace, cgroup_rel, ephemeral);
        insert_sandbox_in(&self.conn, &record)?;
        Ok(record)
    }

    /// [`Store::create_sandbox`] with a uid of its own: free in
    /// `base .. base + count`, found from a random start (so that state
    /// directories sharing a range rarely meet) in the transaction of the insert.
    pub fn create_sandbox_with_uid(
        &self,
        name: &str,
        profile: &Profile,
        workspace: &Path,
        cgroup_rel: &str,
        (base, count): (u32, u32),
        start: u32,
    ) -> Result<SandboxRecord, StateError> {
        let mut record = SandboxRecord::new(name, profile, workspace, cgroup_rel, false);
        let tx = self.immediate()?;
        let taken: std::collections::HashSet<u32> = query_all(
            &tx,
            "SELECT uid FROM sandboxes WHERE uid IS NOT NULL",
            [],
            |row| Ok(row.get::<_, u32>(0)?),
        )?
        .into_iter()
        .collect();
        // At most taken.len() + 1 candidates are looked at before a free one.
        let uid = (0..u64::from(count))
            .map(|step| base + ((u64::from(start) + step) % u64::from(count)) as u32)
            .find(|uid| !taken.contains(uid))
            .ok_or(StateError::NoFreeUid { base, count })?;
        record.uid = Some(uid);
        insert_sandbox_in(&tx, &record)?;
        tx.commit()?;
        Ok(record)
    }

    pub fn sandbox(&self, name: &str) -> Result<SandboxRecord, StateError> {
        query_all(
            &self.conn,
            "SELECT * FROM sandboxes WHERE name = ?1",
            [name],
            sandbox_from_row,
        )?
        .pop()
        .ok_or_else(|| not_found("sandbox", name))
    }

    /// All sandboxes, by name.
    pub fn sandboxes(&self) -> Result<Vec<SandboxRecord>, StateError> {
        query_all(
            &self.conn,
            "SELECT * FROM sandboxes ORDER BY name",
            [],
            sandbox_from_row,
        )
    }

    /// (name, cgroup_rel) of every sandbox, without parsing their profiles.
    pub fn sandbox_groups(&self) -> Result<Vec<(String, String)>, StateError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT name, cgroup_rel FROM sandboxes ORDER BY name")?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push((row.get(0)?, row.get(1)?));
        }
        Ok(out)
    }

    /// `state` is `SANDBOX_READY` or `SANDBOX_REMOVING`.
    pub fn set_sandbox_state(&self, name: &str, state: &str) -> Result<(), StateError> {
        if state != SANDBOX_READY && state != SANDBOX_REMOVING {
            return Err(StateError::Invalid(format!(
                "invalid sandbox state {state:?}: use {SANDBOX_READY:?} or {SANDBOX_REMOVING:?}"
            )));
        }
        let changed = self
            .conn
            .prepare_cached("UPDATE sandboxes SET state = ?2 WHERE name = ?1")?
            .execute(params![name, state])?;
        if changed == 0 {
            return Err(not_found("sandbox", name));
        }
        Ok(())
    }

    /// Replace the profile snapshot the sandbox's next executions run under.
    pub fn set_sandbox_profile(&self, name: &str, profile: &Profile) -> Result<(), StateError> {
        let profile_json = serde_json::to_string(profile)
            .map_err(|e| StateError::Invalid(format!("profile of {name}: {e}")))?;
        let changed = self
            .conn
            .prepare_cached("UPDATE sandboxes SET profile_json = ?2 WHERE name = ?1")?
            .execute(params![name, profile_json])?;
        if changed == 0 {
            return Err(not_found("sandbox", name));
        }
        Ok(())
    }

    /// Delete the sandbox, and its executions unless `keep_history`. Stopping
    /// its active executions first is the caller's job.
    pub fn delete_sandbox(&self, name: &str, keep_history: bool) -> Result<(), StateError> {
        let tx = self.immediate()?;
        delete_sandbox_in(&tx, name)?;
        if !keep_history {
            tx.prepare_cached("DELETE FROM executions WHERE sandbox = ?1")?
                .execute([name])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Queue a new execution (status `queued`, `queued_at` now). Refused for a
    /// missing sandbox and for one being removed, checked in the same
    /// transaction so it cannot slip in behind a concurrent `rm`.
    pub fn insert_execution(&self, new: &NewExecution) -> Result<ExecutionRecord, StateError> {
        let tx = self.immediate()?;
        insert_in(&tx, new, None)?;
        let record = execution_by_id(&tx, &new.id, "*")?.ok_or_else(|| {
            StateError::Corrupt(format!("execution {} vanished after insert", new.id))
        })?;
        tx.commit()?;
        Ok(record)
    }

    /// Record a `run`: its ephemeral sandbox and its one execution, in one
    /// transaction. `started`: the execution is already starting, with no
    /// queue to wait in, so it is recorded `running`, supervised by
    /// (pid, start time) with its init's pid; otherwise `queued`.
    pub fn insert_run(
        &self,
        sandbox: &SandboxRecord,
        new: &NewExecution,
        started: Option<((i32, u64), i32)>,
    ) -> Result<(), StateError> {
        let tx = self.immediate()?;
        insert_sandbox_in(&tx, sandbox)?;
        insert_in(
            &tx,
            new,
            started.map(|((pid, start), init)| (pid, start, init)),
        )?;
        tx.commit()?;
        Ok(())
    }

    pub fn set_supervisor(&self, id: &str, pid: i32, start: u64) -> Result<(), StateError> {
        self.update_execution(
            "UPDATE executions SET supervisor_pid = ?2, supervisor_start = ?3 WHERE id = ?1",
            params![id, pid, saturating_i64(start)],
            id,
        )
    }

    /// Admission control. In one IMMEDIATE transaction: if `id` is the oldest
    /// queued execution (by seq) of its sandbox and fewer than
    /// `max_concurrent` of the sandbox's executions are running, mark it
    /// running (started_at now) and return true; otherwise false.
    ///
    /// An execution that is already running returns true, so a supervisor
    /// that retries after an error cannot wait forever on itself. A
    /// `max_concurrent` of 0 counts as 1: a queue that can never start would
    /// leave its supervisors polling forever.
    pub fn try_start(&self, id: &str, max_concurrent: u64) -> Result<bool, StateError> {
        let tx = self.immediate()?;
        let (sandbox, status): (String, String) = tx
            .prepare_cached("SELECT sandbox, status FROM executions WHERE id = ?1")?
            .query_row([id], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()?
            .ok_or_else(|| not_found("execution", id))?;
        if status == Status::Running.as_str() {
            return Ok(true);
        }
        if status != Status::Queued.as_str() {
            return Ok(false);
        }
        let head: Option<String> = tx
            .prepare_cached(
                "SELECT id FROM executions WHERE sandbox = ?1 AND status = 'queued' \
                 ORDER BY seq LIMIT 1",
            )?
            .query_row([&sandbox], |row| row.get(0))
            .optional()?;
        if head.as_deref() != Some(id) {
            return Ok(false);
        }
        if running_count_in(&tx, &sandbox)? >= max_concurrent.max(1) {
            return Ok(false);
        }
        tx.prepare_cached(
            "UPDATE executions SET status = 'running', started_at = ?2 WHERE id = ?1",
        )?
        .execute(params![id, now_ms()])?;
        tx.commit()?;
        Ok(true)
    }

    pub fn set_init_pid(&self, id: &str, init_pid: i32) -> Result<(), StateError> {
        self.update_execution(
            "UPDATE executions SET init_pid = ?2 WHERE id = ?1",
            params![id, init_pid],
            id,
        )
    }

    /// Store the final result. Always writes, even over `lost`: the
    /// supervisor's own account is better than a guess made from outside.
    pub fn finish_execution(&self, id: &str, result: &ExecResult) -> Result<(), StateError> {
        finish_in(&self.conn, id, result)
    }

    /// [`Store::finish_execution`] and [`Store::delete_sandbox`] (history
    /// kept) in one transaction: the end of a `run`'s ephemeral sandbox.
    pub fn finish_and_delete_sandbox(
        &self,
        id: &str,
        result: &ExecResult,
        sandbox: &str,
    ) -> Result<(), StateError> {
        let tx = self.immediate()?;
        finish_in(&tx, id, result)?;
        delete_sandbox_in(&tx, sandbox)?;
        tx.commit()?;
        Ok(())
    }

    /// Mark a queued or running execution `lost` (its supervisor died).
    /// Returns whether it changed; a final execution is left alone.
    pub fn mark_lost(&self, id: &str, error: &str) -> Result<bool, StateError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE executions SET status = 'lost', error = ?2, ended_at = ?3 \
                 WHERE id = ?1 AND status IN ('queued', 'running')",
            )?
            .execute(params![id, error, now_ms()])?;
        if changed > 0 {
            return Ok(true);
        }
        if execution_by_id(&self.conn, id, SUMMARY_COLUMNS)?.is_none() {
            return Err(not_found("execution", id));
        }
        Ok(false)
    }

    /// Resolve a full id or a unique prefix of one. An exact match wins even
    /// when it is also the prefix of a longer id.
    pub fn execution(&self, id_or_prefix: &str) -> Result<ExecutionRecord, StateError> {
        self.find_execution(id_or_prefix, "*")
    }

    /// [`Store::execution`] without the stored result: for a caller that
    /// needs the record's place and state, not megabytes of its output.
    pub fn execution_summary(&self, id_or_prefix: &str) -> Result<ExecutionRecord, StateError> {
        self.find_execution(id_or_prefix, SUMMARY_COLUMNS)
    }

    fn find_execution(
        &self,
        id_or_prefix: &str,
        columns: &str,
    ) -> Result<ExecutionRecord, StateError> {
        if id_or_prefix.is_empty() {
            return Err(not_found("execution", id_or_prefix));
        }
        let tx = self.snapshot()?;
        if let Some(record) = execution_by_id(&tx, id_or_prefix, columns)? {
            return Ok(record);
        }
        let pattern = format!("{}*", glob_escape(id_or_prefix));
        let mut matches = query_all(
            &tx,
            "SELECT id FROM executions WHERE id GLOB ?1 ORDER BY seq",
            [&pattern],
            |row| Ok(row.get::<_, String>(0)?),
        )?;
        match matches.len() {
            0 => Err(not_found("execution", id_or_prefix)),
            1 => {
                let id = matches.remove(0);
                execution_by_id(&tx, &id, columns)?.ok_or_else(|| not_found("execution", &id))
            }
            _ => Err(StateError::AmbiguousPrefix {
                prefix: id_or_prefix.to_string(),
                matches,
            }),
        }
    }

    /// Executions, newest first; of one sandbox or of all.
    pub fn executions(&self, sandbox: Option<&str>) -> Result<Vec<ExecutionRecord>, StateError> {
        self.newest_executions(sandbox, None)
    }

    /// The newest `limit` executions (all when `None`), newest first; of
    /// one sandbox or of all.
    pub fn newest_executions(
        &self,
        sandbox: Option<&str>,
        limit: Option<u64>,
    ) -> Result<Vec<ExecutionRecord>, StateError> {
        // SQLite reads a negative LIMIT as none.
        let limit = limit.map_or(-1, saturating_i64);
        query_all(
            &self.conn,
            "SELECT * FROM executions WHERE ?1 IS NULL OR sandbox = ?1 ORDER BY seq DESC LIMIT ?2",
            params![sandbox, limit],
            execution_from_row,
        )
    }

    /// What a live view lists, newest first, without the stored results
    /// (their output heads and tails are most of the database; fetch one
    /// with [`Store::execution`]): every queued or running execution, the
    /// newest `newest` of all, and the newest `newest` of `sandbox`.
    pub fn execution_summaries(
        &self,
        newest: u64,
        sandbox: Option<&str>,
    ) -> Result<Vec<ExecutionRecord>, StateError> {
        let newest = saturating_i64(newest);
        query_all(
            &self.conn,
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions \
                 WHERE status IN ('queued', 'running') \
                 OR seq IN (SELECT seq FROM executions ORDER BY seq DESC LIMIT ?1) \
                 OR seq IN (SELECT seq FROM executions WHERE sandbox = ?2 ORDER BY seq DESC LIMIT ?1) \
                 ORDER BY seq DESC"
            ),
            params![newest, sandbox],
            execution_from_row,
        )
    }

    /// Every execution of `sandbox`, newest first, without the stored
    /// results: what removing or killing a sandbox needs (ids, states, log
    /// paths), without reading megabytes of output heads and Python values.
    pub fn execution_summaries_of(
        &self,
        sandbox: &str,
    ) -> Result<Vec<ExecutionRecord>, StateError> {
        query_all(
            &self.conn,
            &format!(
                "SELECT {SUMMARY_COLUMNS} FROM executions WHERE sandbox = ?1 ORDER BY seq DESC"
            ),
            [sandbox],
            execution_from_row,
        )
    }

    /// Per sandbox name: (running, queued, total) executions, counted by
    /// SQLite rather than by loading every record.
    pub fn execution_counts(
        &self,
    ) -> Result<std::collections::HashMap<String, (u64, u64, u64)>, StateError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT sandbox, \
             SUM(status = 'running'), SUM(status = 'queued'), COUNT(*) \
             FROM executions GROUP BY sandbox",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = std::collections::HashMap::new();
        while let Some(row) = rows.next()? {
            let count =
                |i: usize| -> Result<u64, StateError> { Ok(row.get::<_, i64>(i)?.max(0) as u64) };
            out.insert(row.get(0)?, (count(1)?, count(2)?, count(3)?));
        }
        Ok(out)
    }

    /// Queued and running executions of all sandboxes, oldest first.
    pub fn active_executions(&self) -> Result<Vec<ExecutionRecord>, StateError> {
        query_all(
            &self.conn,
            "SELECT * FROM executions WHERE status IN ('queued', 'running') ORDER BY seq",
            [],
            execution_from_row,
        )
    }

    pub fn running_count(&self, sandbox: &str) -> Result<u64, StateError> {
        running_count_in(&self.conn, sandbox)
    }

    /// Delete final executions that ended before `before_ms` (all final ones
    /// if `None`) and return them (without their results), oldest first, so
    /// the caller can delete their log files.
    pub fn prune_executions(
        &self,
        before_ms: Option<i64>,
    ) -> Result<Vec<ExecutionRecord>, StateError> {
        let tx = self.immediate()?;
        let mut pruned = query_all(
            &tx,
            &format!(
                "DELETE FROM executions WHERE status NOT IN ('queued', 'running') \
                 AND (?1 IS NULL OR ended_at < ?1) RETURNING {SUMMARY_COLUMNS}"
            ),
            [before_ms],
            execution_from_row,
        )?;
        tx.commit()?;
        pruned.sort_by_key(|r| r.seq);
        Ok(pruned)
    }

    fn update_execution(&self, sql: &str, params: impl Params, id: &str) -> Result<(), StateError> {
        let changed = self.conn.prepare_cached(sql)?.execute(params)?;
        if changed == 0 {
            return Err(not_found("execution", id));
        }
        Ok(())
    }
}

const WAL_AUTOCHECKPOINT_PAGES: u32 = 64;

thread_local! {
    /// Pages in the log after this thread's last commit on a connection
    /// with deferred checkpoints. A commit runs its hook on the committing
    /// thread, so a thread-local is exactly that connection's last commit.
    static LOG_PAGES: Cell<c_int> = const { Cell::new(0) };
}

fn note_log_length(_wal: &Wal, pages: c_int) -> rusqlite::Result<()> {
    LOG_PAGES.set(pages);
    Ok(())
}

/// Copy the log of the database in `state_dir` into the database, as far
/// as readers allow, on a connection of its own so that it can run beside
/// the caller's. Passive: it never waits for a lock, and a checkpoint cut
/// short (by an error, or the process's end) costs nothing but the next
/// one's work.
pub fn checkpoint(state_dir: &Path) -> Result<(), StateError> {
    let conn = Connection::open_with_flags(
        state_dir.join(DB_FILE),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
    Ok(())
}

/// The insert of [`Store::insert_execution`] (queued) and
/// [`Store::insert_run`] (`started`: supervisor pid and start time, init
/// pid), in the caller's transaction. Refused for a missing sandbox and for
/// one being removed.
fn insert_in(
    tx: &Transaction<'_>,
    new: &NewExecution,
    started: Option<(i32, u64, i32)>,
) -> Result<(), StateError> {
    let status = if started.is_some() {
        Status::Running
    } else {
        Status::Queued
    };
    let now = now_ms();
    if new.kind != KIND_COMMAND && new.kind != KIND_PYTHON {
        return Err(StateError::Invalid(format!(
            "invalid execution kind {:?}: use {KIND_COMMAND:?} or {KIND_PYTHON:?}",
            new.kind
        )));
    }
    if new.id.is_empty() {
        return Err(StateError::Invalid("empty execution id".into()));
    }
    let command_json = serde_json::to_string(&new.command)
        .map_err(|e| StateError::Invalid(format!("command cannot be stored: {e}")))?;
    let stdout_log = path_text(&new.stdout_log)?;
    let stderr_log = path_text(&new.stderr_log)?;

    let state: Option<String> = tx
        .prepare_cached("SELECT state FROM sandboxes WHERE name = ?1")?
        .query_row([&new.sandbox], |row| row.get(0))
        .optional()?;
    match state.as_deref() {
        None => return Err(not_found("sandbox", &new.sandbox)),
        Some(SANDBOX_REMOVING) => {
            return Err(StateError::Removing {
                name: new.sandbox.clone(),
            })
        }
        Some(_) => {}
    }
    let inserted = tx
        .prepare_cached(
            "INSERT INTO executions (id, sandbox, kind, command_json, status, timeout_ms, \
                 queued_at, stdout_log, stderr_log, started_at, supervisor_pid, \
                 supervisor_start, init_pid) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            new.id,
            new.sandbox,
            new.kind,
            command_json,
            status.as_str(),
            saturating_i64(new.timeout_ms),
            now,
            stdout_log,
            stderr_log,
            started.map(|_| now),
            started.map(|s| s.0),
            started.map(|s| saturating_i64(s.1)),
            started.map(|s| s.2),
        ]);
    match inserted {
        Ok(_) => {}
        Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_UNIQUE) => {
            return Err(StateError::DuplicateId { id: new.id.clone() })
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

/// The insert of [`Store::create_sandbox`] and [`Store::insert_run`].
fn insert_sandbox_in(conn: &Connection, record: &SandboxRecord) -> Result<(), StateError> {
    validate_name(&record.name)?;
    let profile_json = serde_json::to_string(&record.profile).map_err(|e| {
        StateError::Invalid(format!(
            "profile {:?} cannot be stored: {e}",
            record.profile.name
        ))
    })?;
    let inserted = conn
        .prepare_cached(
            "INSERT INTO sandboxes (name, profile_name, profile_json, workspace, cgroup_rel, \
             state, created_at, ephemeral, uid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?
        .execute(params![
            record.name,
            record.profile_name,
            profile_json,
            path_text(&record.workspace)?,
            record.cgroup_rel,
            record.state,
            record.created_at,
            record.ephemeral,
            record.uid,
        ]);
    match inserted {
        Ok(_) => Ok(()),
        Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_PRIMARYKEY) => {
            Err(StateError::AlreadyExists {
                name: record.name.clone(),
            })
        }
        // The only UNIQUE index of the table besides the name's.
        Err(e) if is_constraint(&e, ffi::SQLITE_CONSTRAINT_UNIQUE) => Err(StateError::UidTaken {
            uid: record.uid.unwrap_or_default(),
        }),
        Err(e) => Err(e.into()),
    }
}

fn delete_sandbox_in(conn: &Connection, name: &str) -> Result<(), StateError> {
    let deleted = conn
        .prepare_cached("DELETE FROM sandboxes WHERE name = ?1")?
        .execute([name])?;
    if deleted == 0 {
        return Err(not_found("sandbox", name));
    }
    Ok(())
}

fn finish_in(conn: &Connection, id: &str, result: &ExecResult) -> Result<(), StateError> {
    if !result.status.is_final() {
        return Err(StateError::Invalid(format!(
            "execution {id} cannot finish with status {}",
            result.status
        )));
    }
    let result_json = serde_json::to_string(result)
        .map_err(|e| StateError::Invalid(format!("result of {id} cannot be stored: {e}")))?;
    let changed = conn
        .prepare_cached(
            "UPDATE executions SET status = ?2, exit_code = ?3, signal = ?4, cpu_ms = ?5, \
             peak_memory_bytes = ?6, error = ?7, ended_at = ?8, result_json = ?9 WHERE id = ?1",
        )?
        .execute(params![
            id,
            result.status.as_str(),
            result.exit_code,
            result.signal,
            saturating_i64(result.cpu_ms),
            saturating_i64(result.peak_memory_bytes),
            result.error.as_ref().map(ToString::to_string),
            now_ms(),
            result_json,
        ])?;
    if changed == 0 {
        return Err(not_found("execution", id));
    }
    Ok(())
}

/// Every column of `executions` but the stored result, read as NULL.
const SUMMARY_COLUMNS: &str = "seq, id, sandbox, kind, command_json, status, timeout_ms, \
     supervisor_pid, supervisor_start, init_pid, queued_at, started_at, ended_at, exit_code, \
     signal, cpu_ms, peak_memory_bytes, error, NULL AS result_json, stdout_log, stderr_log";

fn init(conn: &mut Connection) -> Result<(), StateError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    enable_wal(conn)?;
    conn.pragma_update(None, "foreign_keys", true)?;
    // In WAL mode NORMAL loses at most the last commits on power loss, never
    // consistency, and saves an fsync per commit for dozens of supervisors.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Every CLI call and supervisor is a short-lived connection. A checkpoint
    // when the last one closes (and the WAL's re-creation by the next) costs
    // four fsyncs per `run`, so leave checkpoints to SQLite's automatic ones.
    // But the first connection to open the database re-reads the whole WAL
    // to rebuild its index, so keep the WAL short: 64 pages, not 1000.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
        true,
    )?;
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
    migrate(conn)
}

/// Switching to WAL needs an exclusive lock that the busy handler does not
/// always wait for (several processes creating the database at once get
/// SQLITE_BUSY straight away), so retry up to the busy timeout.
fn enable_wal(conn: &Connection) -> Result<(), StateError> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        // Some file systems cannot do WAL and keep the old mode; that is
        // slower under contention but still correct, so it is not an error.
        match conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))
        {
            Ok(_) => return Ok(()),
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn user_version(conn: &Connection) -> Result<i64, StateError> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version < 0 {
        return Err(StateError::Corrupt(format!(
            "negative schema version {version}"
        )));
    }
    Ok(version)
}

fn migrate(conn: &mut Connection) -> Result<(), StateError> {
    let supported = Store::version();
    let found = user_version(conn)?;
    if found == supported {
        return Ok(());
    }
    if found > supported {
        return Err(StateError::TooNew { found, supported });
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    // Another process may have migrated while we waited for the lock.
    let found = user_version(&tx)?;
    if found > supported {
        return Err(StateError::TooNew { found, supported });
    }
    for sql in MIGRATIONS.iter().skip(found as usize) {
        tx.execute_batch(sql)?;
    }
    tx.pragma_update(None, "user_version", supported)?;
    tx.commit()?;
    Ok(())
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    )
}

fn is_not_a_database(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
    )
}

fn is_constraint(e: &rusqlite::Error, extended: i32) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.extended_code == extended)
}

fn not_found(what: &'static str, name: &str) -> StateError {
    StateError::NotFound {
        what,
        name: name.to_string(),
    }
}

fn path_text(path: &Path) -> Result<&str, StateError> {
    path.to_str().ok_or_else(|| {
        StateError::Invalid(format!(
            "path {} is not valid UTF-8 and cannot be stored",
            path.display()
        ))
    })
}

/// SQLite integers are signed; the values stored this way (timeouts, CPU
/// time, bytes, clock ticks) never get near the limit in practice.
fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// GLOB instead of LIKE because ids are case-sensitive and GLOB prefix
/// patterns can use the id index.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '*' | '?' | '[' => {
                escaped.push('[');
                escaped.push(c);
                escaped.push(']');
            }
            _ => escaped.push(c),
        }
    }
    escaped
}

fn query_all<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    convert: impl Fn(&Row<'_>) -> Result<T, StateError>,
) -> Result<Vec<T>, StateError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(convert(row)?);
    }
    Ok(out)
}

fn running_count_in(conn: &Connection, sandbox: &str) -> Result<u64, StateError> {
    let count: i64 = conn
        .prepare_cached(
            "SELECT COUNT(*) FROM executions WHERE sandbox = ?1 AND status = 'running'",
        )?
        .query_row([sandbox], |row| row.get(0))?;
    Ok(count.max(0) as u64)
}

fn execution_by_id(
    conn: &Connection,
    id: &str,
    columns: &str,
) -> Result<Option<ExecutionRecord>, StateError> {
    Ok(query_all(
        conn,
        &format!("SELECT {columns} FROM executions WHERE id = ?1"),
        [id],
        execution_from_row,
    )?
    .pop())
}

fn sandbox_from_row(row: &Row<'_>) -> Result<SandboxRecord, StateError> {
    let name: String = row.get("name")?;
    let profile_json: String = row.get("profile_json")?;
    let profile = serde_json::from_str(&profile_json)
        .map_err(|e| StateError::Corrupt(format!("profile snapshot of sandbox {name:?}: {e}")))?;
    Ok(SandboxRecord {
        profile_name: row.get("profile_name")?,
        profile,
        workspace: PathBuf::from(row.get::<_, String>("workspace")?),
        cgroup_rel: row.get("cgroup_rel")?,
        state: row.get("state")?,
        created_at: row.get("created_at")?,
        ephemeral: row.get("ephemeral")?,
        uid: row.get("uid")?,
        name,
    })
}

fn execution_from_row(row: &Row<'_>) -> Result<ExecutionRecord, StateError> {
    let id: String = row.get("id")?;
    let corrupt = |what: &str, detail: &dyn std::fmt::Display| {
        StateError::Corrupt(format!("{what} of execution {id}: {detail}"))
    };
    let command_json: String = row.get("command_json")?;
    let command = serde_json::from_str(&command_json).map_err(|e| corrupt("command", &e))?;
    let status_text: String = row.get("status")?;
    let status = parse_status(&status_text)
        .ok_or_else(|| corrupt("status", &format!("unknown status {status_text:?}")))?;
    let result = match row.get::<_, Option<String>>("result_json")? {
        Some(json) => Some(serde_json::from_str(&json).map_err(|e| corrupt("result", &e))?),
        None => None,
    };
    Ok(ExecutionRecord {
        sandbox: row.get("sandbox")?,
        seq: row.get("seq")?,
        kind: row.get("kind")?,
        command,
        status,
        timeout_ms: row.get("timeout_ms")?,
        supervisor_pid: row.get("supervisor_pid")?,
        supervisor_start: row.get("supervisor_start")?,
        init_pid: row.get("init_pid")?,
        queued_at: row.get("queued_at")?,
        started_at: row.get("started_at")?,
        ended_at: row.get("ended_at")?,
        exit_code: row.get("exit_code")?,
        signal: row.get("signal")?,
        cpu_ms: row.get("cpu_ms")?,
        peak_memory_bytes: row.get("peak_memory_bytes")?,
        error: row.get("error")?,
        result,
        stdout_log: PathBuf::from(row.get::<_, String>("stdout_log")?),
        stderr_log: PathBuf::from(row.get::<_, String>("stderr_log")?),
        id,
    })
}

/// Through serde so the stored names are exactly `Status`'s serde names.
fn parse_status(text: &str) -> Option<Status> {
    use serde::de::IntoDeserializer;
    let de: serde::de::value::StrDeserializer<'_, serde::de::value::Error> =
        text.into_deserializer();
    Status::deserialize(de).ok()
}

/// Sandbox names become directory and cgroup names, so they are kept to a
/// small, path-safe alphabet.
pub fn validate_name(name: &str) -> Result<(), StateError> {
    let bytes = name.as_bytes();
    let first_ok = bytes
        .first()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let rest_ok = bytes
        .iter()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-'));
    if first_ok && rest_ok && bytes.len() <= 63 {
        Ok(())
    } else {
        Err(StateError::InvalidName {
            name: name.to_string(),
        })
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// State (field 3) and start time (field 22) from /proc/PID/stat.
fn proc_stat(pid: i32) -> Option<(u8, u64)> {
    if pid <= 0 {
        return None;
    }
    // Bytes, not a String: the command name is whatever the process set.
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&stat)
}

fn parse_stat(stat: &[u8]) -> Option<(u8, u64)> {
    // The command name (field 2) may itself hold spaces and ')'.
    let close = stat.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&stat[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = *fields.next()?.as_bytes().first()?;
    // The next field is field 4.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

/// Start time of a process in clock ticks since boot (field 22 of
/// /proc/PID/stat); `None` if it does not exist.
pub fn process_start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// Whether `pid` is alive and still the process that started at `start`
/// (not a later process that reused the pid). A zombie counts as dead: it has
/// exited and only waits to be reaped.
pub fn process_alive(pid: i32, start: u64) -> bool {
    matches!(proc_stat(pid), Some((state, s)) if s == start && !matches!(state, b'Z' | b'X'))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Barrier};

    use super::*;

    fn profile() -> Profile {
        Profile {
            name: "default".into(),
            max_memory_mb: 512,
            max_cpu_seconds: 30,
            max_file_size_mb: 100,
            max_process_count: 10,
            max_open_files: 100,
            allow_network: false,
            allowed_hosts: vec![],
            timeout_seconds: 60,
            allowed_commands: vec![],
            cpu_quota: None,
            max_output_kb: 1024,
            env: BTreeMap::new(),
            read_only_paths: vec![],
            writable_paths: vec![],
            workdir: "/workspace".into(),
            hostname: "sandbox".into(),
            require_isolation: false,
            max_concurrent: 4,
            python: "python3".into(),
            max_result_mb: 16,
            denied_patterns: vec![],
            allow_shell: true,
            rootfs: None,
            image: None,
            backend: crate::profile::Backend::Native,
            docker_image: None,
            settings: Vec::new(),
            extends: None,
            warm: 0,
            gpus: 0,
        }
    }

    fn result(id: &str, status: Status) -> ExecResult {
        ExecResult {
            id: id.into(),
            sandbox: "box".into(),
            profile: "default".into(),
            command: vec!["echo".into(), "hi".into()],
            status,
            exit_code: Some(3),
            signal: None,
            duration_ms: 12,
            cpu_ms: 7,
            supervisor_cpu_ms: 0,
            peak_memory_bytes: 4096,
            stdout: "hi\n".into(),
            stderr: "AAEC".into(),
            stdout_encoding: "utf-8".into(),
            stderr_encoding: "base64".into(),
            stdout_truncated: false,
            stderr_truncated: true,
            stdout_bytes: 3,
            stderr_bytes: 3,
            error: Some("exit status 3".into()),
            result: Some(serde_json::json!({"answer": 42})),
            result_non_json: false,
            degraded: vec!["landlock: not supported".into()],
            network_refusals: Vec::new(),
        }
    }

    fn new_exec(id: &str, sandbox: &str) -> NewExecution {
        NewExecution {
            id: id.into(),
            sandbox: sandbox.into(),
            kind: KIND_COMMAND.into(),
            command: vec!["echo".into(), "hi there".into()],
            timeout_ms: 60_000,
            stdout_log: format!("/logs/{id}.out").into(),
            stderr_log: format!("/logs/{id}.err").into(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("state")).expect("open");
        (dir, store)
    }

    fn with_sandbox(store: &Store, name: &str) {
        store
            .create_sandbox(name, &profile(), Path::new("/ws"), name, false)
            .expect("create sandbox");
    }

    #[test]
    fn open_creates_private_dir_and_wal_db() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, store) = store();
        let mode = std::fs::metadata(dir.path().join("state"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
        assert_eq!(store.path(), dir.path().join("state").join(DB_FILE));
        let journal: String = store
            .conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(journal, "wal");
        let fk: bool = store
            .conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert!(fk);
        assert_eq!(user_version(&store.conn).unwrap(), Store::version());
    }

    #[test]
    fn sandbox_crud() {
        let (_dir, store) = store();
        let created = store
            .create_sandbox("b-box", &profile(), Path::new("/ws/b"), "b-box", false)
            .unwrap();
        store
            .create_sandbox("a.box_1", &profile(), Path::new("/ws/a"), "a.box_1", true)
            .unwrap();
        assert_eq!(store.sandbox("b-box").unwrap(), created);
        assert_eq!(created.state, SANDBOX_READY);
        let names: Vec<String> = store
            .sandboxes()
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(names, ["a.box_1", "b-box"]);
        assert!(store.sandbox("a.box_1").unwrap().ephemeral);

        store.set_sandbox_state("b-box", SANDBOX_REMOVING).unwrap();
        assert_eq!(store.sandbox("b-box").unwrap().state, SANDBOX_REMOVING);
        assert!(matches!(
            store.set_sandbox_state("b-box", "gone"),
            Err(StateError::Invalid(_))
        ));
        assert!(matches!(
            store.set_sandbox_state("nope", SANDBOX_READY),
            Err(StateError::NotFound { .. })
        ));

        store.delete_sandbox("b-box", false).unwrap();
        assert!(matches!(
            store.sandbox("b-box"),
            Err(StateError::NotFound {
                what: "sandbox",
                ..
            })
        ));
        assert!(matches!(
            store.delete_sandbox("b-box", false),
            Err(StateError::NotFound { .. })
        ));
        assert_eq!(store.sandboxes().unwrap().len(), 1);
    }

    #[test]
    fn duplicate_sandbox_is_already_exists() {
        let (_dir, store) = store();
        with_sandbox(&store, "box");
        let err = store
            .create_sandbox("box", &profile(), Path::new("/ws"), "box", false)
            .unwrap_err();
        assert!(
            matches!(&err, StateError::AlreadyExists { name } if name == "box"),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_names_are_refused() {
        let long = "a".repeat(64);
        for name in [
            "", "Box", "-box", "box/x", "_box", ".box", "bo x", "bøx", &long,
        ] {
            let err = validate_name(name).unwrap_err();
            assert!(err.to_string().contains(NAME_RULE), "{err}");
            let (_dir, store) = store();
            assert!(matches!(
                store.create_sandbox(name, &profile(), Path::new("/ws"), "x", false),
                Err(StateError::InvalidName { .. })
            ));
        }
        for name in ["a", "0", "box-1.test_x", &"a".repeat(63)] {
            validate_name(name).unwrap();
        }
    }

    #[test]
    fn profile_snapshot_round_trips() {
        let (_dir, store) = store();
        let mut p = profile();
        p.name = "custom".into();
        p.cpu_quota = Some(0.5);
        p.env = [("A".to_string(), "1 2".to_string())].into();
        p.read_only_paths = vec!["/usr/share".into()];
        p.allowed_commands = vec!["python3".into(), "/bin/sh".into()];
        store
            .create_sandbox("box", &p, Path::new("/ws/box"), "box", false)
            .unwrap();
        let record = store.sandbox("box").unwrap();
        assert_eq!(record.profile, p);
        assert_eq!(record.profile_name, "custom");
        assert_eq!(record.workspace, Path::new("/ws/box"));
    }

    #[test]
    fn insert_and_lookup_executions() {
        let (_dir, store) = store();
        with_sandbox(&store, "box");
        let rec = store.insert_execution(&new_exec("a3f9c2", "box")).unwrap();
        assert_eq!(rec.status, Status::Queued);
        assert_eq!(rec.command, ["echo", "hi there"]);
        assert_eq!(rec.timeout_ms, 60_000);
        assert!(rec.started_at.is_none() && rec.result.is_none());
        store.insert_execution(&new_exec("a3f9d0", "box")).unwrap();
        store.insert_execution(&new_exec("b00000", "box")).unwrap();

        assert_eq!(store.execution("a3f9c2").unwrap(), rec);
        assert_eq!(store.execution("a3f9c").unwrap().id, "a3f9c2");
        assert_eq!(store.execution("b").unwrap().id, "b00000");
        match store.execution("a3f9") {
            Err(StateError::AmbiguousPrefix { prefix, matches }) => {
                assert_eq!(prefix, "a3f9");
                assert_eq!(matches, ["a3f9c2", "a3f9d0"]);
            }
            other => panic!("{other:?}"),
        }
        for missing in ["c", "", "a*", "?3f9c2", "[a]"] {
            assert!(
                matches!(
                    store.execution(missing),
                    Err(StateError::NotFound {
                        what: "execution",
                        ..
                    })
                ),
                "{missing}"
            );
        }

        assert!(matches!(
            store.insert_execution(&new_exec("a3f9c2", "box")),
            Err(StateError::DuplicateId { .. })
        ));
        assert!(matches!(
            store.insert_execution(&new_exec("ffffff", "nope")),
            Err(StateError::NotFound {
                what: "sandbox",
                ..
            })
        ));
        let mut bad = new_exec("eeeeee", "box");
        bad.kind = "shell".into();
        assert!(matches!(
            store.insert_execution(&bad),
            Err(StateError::Invalid(_))
        ));
        store.set_sandbox_state("box", SANDBOX_REMOVING).unwrap();
        assert!(matches!(
            store.insert_execution(&new_exec("dddddd", "box")),
            Err(StateError::Removing { .. })
        ));

        let newest_first: Vec<String> = store
            .executions(Some("box"))
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(newest_first, ["b00000", "a3f9d0", "a3f9c2"]);
        assert!(store.executions(Some("other")).unwrap().is_empty());
        assert_eq!(store.executions(None).unwrap().len(), 3);
        assert_eq!(store.active_executions().unwrap().len(), 3);
    }

    #[test]
    fn live_views_read_the_newest_and_the_active_without_results() {
        let (_dir, store) = store();
        with_sandbox(&store, "old");
        with_sandbox(&store, "busy");
        for i in 0..3 {
            let id = format!("0ld00{i}");
            store.insert_execution(&new_exec(&id, "old")).unwrap();
            store.try_start(&id, u64::MAX).unwrap();
            store
                .finish_execution(&id, &result(&id, Status::Completed))
                .unwrap();
        }
        // Still running, and older than everything of "busy".
        store.insert_execution(&new_exec("0ld0ff", "old")).unwrap();
        for i in 0..5 {
            let id = format!("b0000{i}");
            store.insert_execution(&new_exec(&id, "busy")).unwrap();
            store.try_start(&id, u64::MAX).unwrap();
            store
                .finish_execution(&id, &result(&id, Status::Failed))
                .unwrap();
        }
        let ids = |records: Vec<ExecutionRecord>| -> Vec<String> {
            records.into_iter().map(|r| r.id).collect()
        };
        let newest = store.execution_summaries(2, None).unwrap();
        assert!(newest.iter().all(|r| r.result.is_none()));
        assert_eq!(ids(newest), ["b00004", "b00003", "0ld0ff"]);
        assert_eq!(
            ids(store.execution_summaries(2, Some("old")).unwrap()),
            ["b00004", "b00003", "0ld0ff", "0ld002"]
        );
        assert_eq!(store.execution_summaries(100, None).unwrap().len(), 9);

        let counts = store.execution_counts().unwrap();
        assert_eq!(counts.get("old"), Some(&(0, 1, 4)));
        assert_eq!(counts.get("busy"), Some(&(0, 0, 5)));
        assert_eq!(counts.get("none"), None);
    }

    #[test]
    fn supervisor_and_init_pid() {
        let (_dir, store) = store();
        with_sandbox(&store, "box");
        store.insert_execution(&new_exec("aaaaaa", "box")).unwrap();
        store.set_supervisor("aaaaaa", 1234, 98765).unwrap();
        store.set_init_pid("aaaaaa", 4321).unwrap();
        let rec = store.execution("aaaaaa").unwrap();
        assert_eq!(rec.supervisor_pid, Some(1234));
        assert_eq!(rec.supervisor_start, Some(98765));
        assert_eq!(rec.init_pid, Some(4321));
        assert!(matches!(
            store.set_init_pid("nope", 1),
            Err(StateError::NotFound { .. })
        ));
    }

    #[test]
    fn try_start_respects_order_and_max_concurrent() {
        let (_dir, store) = store();
        with_sandbox(&store, "box");
        with_sandbox(&store, "other");
        let ids: Vec<String> = (1..=6).map(|i| format!("e{i}")).collect();
        for id in &ids {
            store.insert_execution(&new_exec(id, "box")).unwrap();
        }
        store.insert_execution(&new_exec("o1", "other")).unwrap();

        // Out of order: e3 is not the head of the queue yet.
        assert!(!store.try_start("e3", 2).unwrap());
        let started: Vec<bool> = ids
            .iter()
            .map(|id| store.try_start(id, 2).unwrap())
            .collect();
        assert_eq!(started, [true, true, false, false, false, false]);
        assert_eq!(store.running_count("box").unwrap(), 2);
        assert!(store.execution("e1").unwrap().started_at.is_some());
        // Other sandboxes have their own queue and limit.
        assert!(store.try_start("o1", 2).unwrap());

        store
            .finish_execution("e1", &result("e1", Status::Completed))
            .unwrap();
        assert!(!store.try_start("e5", 2).unwrap());
        assert!(store.try_start("e3", 2).unwrap());
        assert!(!store.try_start("e4", 2).unwrap());
        assert_eq!(store.running_count("box").unwrap(), 2);
        // Already running stays started; final never starts again.
        assert!(store.try_start("e2", 2).unwrap());
        assert!(!store.try_start("e1", 2).unwrap());
        assert!(matches!(
            store.try_start("zz", 2),
            Err(StateError::NotFound { .. })
        ));
        let active: Vec<String> = store
            .active_executions()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(active, ["e2", "e3", "e4", "e5", "e6", "o1"]);
    }

    #[test]
    fn finish_stores_the_result() {
        let (_dir, store) = store();
        with_sandbox(&store, "box");
        store.insert_execution(&new_exec("aaaaaa", "box")).unwrap();
        assert!(store.try_start("aaaaaa", 1).unwrap());
        let res = result("aaaaaa", Status::Failed);
        store.finish_execution("aaaaaa", &res).unwrap();
        let rec = store.execution("aaaaaa").unwrap();
        assert_eq!(rec.status, Status::Failed);
        assert_eq!(rec.exit_code, Some(3));
        assert_eq!(rec.cpu_ms, Some(7));
        assert_eq!(rec.peak_memory_bytes, Some(4096));
        assert_eq!(rec.error.as_deref(), Some("exit status 3"));
        assert!(rec.ended_at.is_some());
        assert_eq!(rec.result, Some(res));
        assert_eq!(store.running_count("box").unwrap(), 0);
        // The summary is the same record without the stored result, by prefix too.
        let summary = store.execution_summary("aaa").unwrap();
        assert_eq!(summary.result, None);
        assert_eq!(
            ExecutionRecord {
                result: None,
                ..rec
            },
            summary
        );

        assert!(matches!(
            store.finish_execution("aaaaaa", &result("aaaaaa", Status::Running)),
            Err(StateError::Invalid(_))
        ));
        assert!(matches!(
            store.finish_execution("nope", &result("nope", Status::Completed)),
            Err(StateError::NotFound { .. })
        ));
    }

    #[test]
    fn mark_lost_only_touches_active() {
        let (_dir, store) = store();
        with_sandbox(&store, "box");
        for id in ["q00000", "r00000", "f00000"] {
            store.insert_execution(&new_exec(id, "box")).unwrap();
        }
        store
            .finish_execution("f00000", &result("f00000", Status::Completed))
            .unwrap();
        // q00000 is the head of the queue, so start it and leave r00000 queued.
        assert!(store.try_start("q00000", 1).unwrap());

        assert!(store.mark_lost("q00000", "supervisor died").unwrap());
        assert!(store.mark_lost("r00000", "supervisor died").unwrap());
        assert!(!store.mark_lost("f00000", "supervisor died").unwrap());
        assert!(!store.mark_lost("q00000", "again").unwrap());
        assert!(matches!(
            store.mark_lost("nope", "x"),
            Err(StateError::NotFound { .. })
        ));

        let lost = store.execution("q00000").unwrap();
        assert_eq!(lost.status, Status::Lost);
        assert_eq!(lost.error.as_deref(), Some("supervisor died"));
        assert!(lost.ended_at.is_some());
        assert_eq!(store.execution("f00000").unwrap().status, Status::Completed);
        assert!(store.active_executions().unwrap().is_empty());
    }

    #[test]
    fn prune_deletes_only_final_executions() {
        let (_dir, store) = store();
        with_sandbox(&store, "box");
        for id in ["a00000", "b00000", "c00000", "d00000"] {
            store.insert_execution(&new_exec(id, "box")).unwrap();
        }
        store
            .finish_execution("a00000", &result("a00000", Status::Completed))
            .unwrap();
        store.mark_lost("b00000", "gone").unwrap();
        assert!(store.try_start("c00000", 1).unwrap());

        assert!(store.prune_executions(Some(0)).unwrap().is_empty());
        let pruned = store.prune_executions(Some(now_ms() + 1)).unwrap();
        let ids: Vec<&str> = pruned.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["a00000", "b00000"]);
        assert_eq!(pruned[0].stdout_log, Path::new("/logs/a00000.out"));
        assert_eq!(pruned[0].status, Status::Completed);
        assert!(
            pruned[0].result.is_none(),
            "pruned records come without their results"
        );

        store
            .finish_execution("c00000", &result("c00000", Status::Timeout))
            .unwrap();
        let pruned = store.prune_executions(None).unwrap();
        assert_eq!(pruned.len(), 1);
        let left: Vec<String> = store
            .executions(None)
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(left, ["d00000"]);

        // Seq is never reused after pruning, so the queue order stays sound.
        let next = store.insert_execution(&new_exec("e00000", "box")).unwrap();
        assert!(next.seq > store.execution("d00000").unwrap().seq);
    }

    #[test]
    fn delete_sandbox_keeps_or_drops_history() {
        let (_dir, store) = store();
        with_sandbox(&store, "keep");
        with_sandbox(&store, "drop");
        store.insert_execution(&new_exec("k00000", "keep")).unwrap();
        store.insert_execution(&new_exec("d00000", "drop")).unwrap();
        store.delete_sandbox("keep", true).unwrap();
        store.delete_sandbox("drop", false).unwrap();
        assert_eq!(store.execution("k00000").unwrap().sandbox, "keep");
        assert!(matches!(
            store.execution("d00000"),
            Err(StateError::NotFound { .. })
        ));
        // A new sandbox may reuse the name of a removed one.
        with_sandbox(&store, "keep");
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.pragma_update(None, "user_version", 999).unwrap();
        }
        match Store::open(dir.path()) {
            Err(StateError::TooNew { found, supported }) => {
                assert_eq!(found, 999);
                assert_eq!(supported, Store::version());
            }
            Err(other) => panic!("{other:?}"),
            Ok(_) => panic!("opened a database from the future"),
        }
    }

    #[test]
    fn empty_database_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            assert_eq!(user_version(&conn).unwrap(), 0);
            // Not empty on disk, but still at version 0.
            conn.execute_batch("CREATE TABLE unrelated (x INTEGER)")
                .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), Store::version());
        with_sandbox(&store, "box");
        drop(store);
        // Reopening an up-to-date database changes nothing.
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.sandboxes().unwrap().len(), 1);
    }

    #[test]
    fn sandboxes_get_distinct_uids_of_the_range_until_it_is_full() {
        let (_dir, store) = store();
        let range = (5000, 3);
        let mut uids = Vec::new();
        for (name, start) in [("a", 1), ("b", 1), ("c", 7)] {
            let ws = Path::new("/ws").join(name);
            let made = store
                .create_sandbox_with_uid(name, &profile(), &ws, name, range, start)
                .unwrap();
            assert_eq!(store.sandbox(name).unwrap().uid, made.uid);
            uids.push(made.uid.unwrap());
        }
        // From the start onwards, wrapping around the range.
        assert_eq!(uids, [5001, 5002, 5000]);
        assert!(matches!(
            store.create_sandbox_with_uid("d", &profile(), Path::new("/ws/d"), "d", range, 0),
            Err(StateError::NoFreeUid {
                base: 5000,
                count: 3
            })
        ));
        assert!(store.sandbox("d").is_err());
        // A removed sandbox's uid is free again.
        store.delete_sandbox("b", false).unwrap();
        let d = store
            .create_sandbox_with_uid("d", &profile(), Path::new("/ws/d"), "d", range, 0)
            .unwrap();
        assert_eq!(d.uid, Some(5002));
        // A `run` that drew a taken uid is told so, and nothing is recorded.
        let mut run = SandboxRecord::new("run-1", &profile(), Path::new("/ws/r"), "run-1", true);
        run.uid = Some(5000);
        let new = NewExecution {
            id: "e00001".into(),
            sandbox: "run-1".into(),
            kind: KIND_COMMAND.into(),
            command: vec!["true".into()],
            timeout_ms: 1000,
            stdout_log: PathBuf::from("/logs/e00001.stdout"),
            stderr_log: PathBuf::from("/logs/e00001.stderr"),
        };
        assert!(matches!(
            store.insert_run(&run, &new, None),
            Err(StateError::UidTaken { uid: 5000 })
        ));
        assert!(store.sandbox("run-1").is_err());
        run.uid = Some(7);
        store.insert_run(&run, &new, None).unwrap();
        // Without a uid (no root) any number of sandboxes have none.
        with_sandbox(&store, "x");
        with_sandbox(&store, "y");
        assert_eq!(store.sandbox("y").unwrap().uid, None);
    }

    #[test]
    fn a_version_1_database_gains_uids_and_keeps_its_sandboxes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let conn = Connection::open(dir.path().join(DB_FILE)).unwrap();
            conn.execute_batch(MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            let json = serde_json::to_string(&profile()).unwrap();
            conn.execute(
                "INSERT INTO sandboxes (name, profile_name, profile_json, workspace, cgroup_rel, \
                 state, created_at, ephemeral) VALUES ('old', 'default', ?1, '/ws/old', 'old', \
                 'ready', 1, 0)",
                [json],
            )
            .unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(user_version(&store.conn).unwrap(), 2);
        assert_eq!(store.sandbox("old").unwrap().uid, None);
        let new = store
            .create_sandbox_with_uid("new", &profile(), Path::new("/ws/n"), "new", (9, 1), 0)
            .unwrap();
        assert_eq!(new.uid, Some(9));
    }

    #[test]
    fn garbage_file_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(DB_FILE), vec![b'x'; 8192]).unwrap();
        assert!(matches!(
            Store::open(dir.path()),
            Err(StateError::Corrupt(_))
        ));
    }

    #[test]
    fn racing_create_sandbox_has_one_winner() {
        let dir = tempfile::tempdir().unwrap();
        let state_dir = dir.path().join("state");
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let state_dir = state_dir.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    // Open concurrently too: creating the database races as well.
                    barrier.wait();
                    let store = Store::open(&state_dir)?;
                    store.create_sandbox("same", &profile(), Path::new("/ws"), "same", false)
                })
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let wins = results.iter().filter(|r| r.is_ok()).count();
        let losses = results
            .iter()
            .filter(|r| matches!(r, Err(StateError::AlreadyExists { .. })))
            .count();
        assert_eq!((wins, losses), (1, 7), "{results:?}");
    }

    #[test]
    fn concurrent_admission_never_exceeds_the_limit() {
        const THREADS: usize = 4;
        const PER_THREAD: usize = 50;
        const MAX: u64 = 2;
        let (dir, store) = store();
        with_sandbox(&store, "box");
        let state_dir = dir.path().join("state");
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let state_dir = state_dir.clone();
                std::thread::spawn(move || -> Result<u64, StateError> {
                    let store = Store::open(&state_dir)?;
                    let mut peak = 0;
                    for i in 0..PER_THREAD {
                        let id = format!("t{t}-{i}");
                        store.insert_execution(&new_exec(&id, "box"))?;
                        // Every waiting execution belongs to a thread that polls
                        // it, so the head of the queue always makes progress.
                        while !store.try_start(&id, MAX)? {
                            peak = peak.max(store.running_count("box")?);
                            std::thread::yield_now();
                        }
                        peak = peak.max(store.running_count("box")?);
                        store.finish_execution(&id, &result(&id, Status::Completed))?;
                    }
                    Ok(peak)
                })
            })
            .collect();
        let mut peak = 0;
        for handle in handles {
            peak = peak.max(handle.join().unwrap().unwrap());
        }
        assert!(peak <= MAX, "{peak} running at once");
        assert!(peak >= 1);
        let all = store.executions(Some("box")).unwrap();
        assert_eq!(all.len(), THREADS * PER_THREAD);
        assert!(all.iter().all(|r| r.status == Status::Completed));
        // Starts happened in submission order.
        let mut by_start: Vec<&ExecutionRecord> = all.iter().collect();
        by_start.sort_by_key(|r| (r.started_at, r.seq));
        assert!(by_start.windows(2).all(|w| w[0].seq < w[1].seq));
    }

    #[test]
    fn stat_parsing_survives_odd_command_names() {
        let tail = (4..=21)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" ");
        let line = format!("4242 (evil) (x y)) R {tail} 777 0 0\n");
        assert_eq!(parse_stat(line.as_bytes()), Some((b'R', 777)));
        let mut bytes = b"1 (\xff\xfe) Z ".to_vec();
        bytes.extend_from_slice(format!("{tail} 5\n").as_bytes());
        assert_eq!(parse_stat(&bytes), Some((b'Z', 5)));
        assert_eq!(parse_stat(b"1 (short) S 1 2 3"), None);
        assert_eq!(parse_stat(b"garbage"), None);
    }

    #[test]
    fn process_identity() {
        let pid = std::process::id() as i32;
        let start = process_start_time(pid).expect("own start time");
        assert!(process_alive(pid, start));
        assert!(!process_alive(pid, start + 1));
        assert!(process_start_time(0).is_none());
        assert!(process_start_time(-5).is_none());
        assert!(!process_alive(i32::MAX, start));
    }

    #[test]
    fn deferred_checkpoints_leave_the_log_to_a_checkpoint_of_its_own() {
        let (dir, store) = store();
        let state_dir = dir.path().join("state");
        let db_len = || std::fs::metadata(state_dir.join(DB_FILE)).unwrap().len();
        store.defer_checkpoints();
        with_sandbox(&store, "box");
        let before = db_len();
        let mut commits = 0;
        while !store.log_is_long() {
            commits += 1;
            assert!(commits < 1000, "the log never grew long");
            store
                .insert_execution(&new_exec(&format!("{commits:06x}"), "box"))
                .unwrap();
        }
        // No commit copied the log into the database file...
        assert_eq!(db_len(), before);
        // ...until the checkpoint, which leaves every row readable.
        checkpoint(&state_dir).unwrap();
        assert!(db_len() > before, "{} <= {before}", db_len());
        assert_eq!(
            store.executions(None).unwrap().len(),
            commits,
            "rows after the checkpoint"
        );
    }
}
