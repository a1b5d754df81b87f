//! What can happen to the dashboard (`Action`) and what it asks the runtime
//! to do in the world (`Effect`). Both are plain data so `update` stays pure.

use std::path::PathBuf;
use std::time::Duration;

use ratatui::crossterm::event::{KeyEvent, MouseEvent};

use crate::files::{FileEntry, FileHead};
use crate::manager::{ExecutionView, SandboxView};
use crate::monitor::{HostInfo, ProcessInfo};
use crate::netproxy::NetworkRefusal;
use crate::profile::{Config, Diagnostic};
use crate::state::db::ExecutionRecord;

/// Whose processes the tree shows (and whose logs/detail the inspector shows).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Subject {
    #[default]
    All,
    Sandbox(String),
    Execution(String),
}

/// What the sampler should look at besides the shared state; the runtime
/// sends a new one whenever the selection changes so the answer comes at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleRequest {
    pub subject: Subject,
    /// Execution whose log files to tail.
    pub logs_of: Option<String>,
    /// The sandbox in view: its newest executions are listed even when
    /// those of other sandboxes are newer.
    pub sandbox: Option<String>,
    /// The selected execution: the only one whose stored result is read.
    pub detail_of: Option<String>,
}

/// An execution's logs as the Logs tab shows them: stdout and stderr in
/// the order they were read, the beginning and the end of long ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogTail {
    pub id: String,
    pub lines: Vec<LogLine>,
    /// Part of the output is not shown (not kept, or left out here).
    pub truncated: bool,
}

/// One line of the logs; its text as written (escape sequences included:
/// the view styles or drops them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub kind: LineKind,
    pub text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineKind {
    Stdout,
    Stderr,
    /// Says what is not shown.
    Note,
}

impl LogLine {
    pub fn new(kind: LineKind, text: impl Into<String>) -> LogLine {
        LogLine {
            kind,
            text: text.into(),
        }
    }
}

/// One sampling round, as plain data: nothing in it refers back to I/O.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub taken_at_ms: i64,
    pub host: HostInfo,
    pub sandboxes: Vec<SandboxView>,
    pub executions: Vec<ExecutionView>,
    pub subject: Subject,
    pub processes: Vec<ProcessInfo>,
    pub logs: Option<LogTail>,
    /// The state could not be read this round; the previous figures stay.
    pub error: Option<String>,
}

/// Signals offered for a single process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignalChoice {
    Term,
    Kill,
    Int,
    Hup,
}

impl SignalChoice {
    pub const ALL: [SignalChoice; 4] = [
        SignalChoice::Term,
        SignalChoice::Kill,
        SignalChoice::Int,
        SignalChoice::Hup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SignalChoice::Term => "TERM",
            SignalChoice::Kill => "KILL",
            SignalChoice::Int => "INT",
            SignalChoice::Hup => "HUP",
        }
    }
}

/// Result of a configuration reload.
#[derive(Debug, Clone)]
pub enum ConfigOutcome {
    Loaded(Box<Config>),
    Invalid(Vec<Diagnostic>),
    Failed(String),
}

/// What finished in the world after an `Effect`.
#[derive(Debug, Clone)]
pub enum Outcome {
    Cluster(Result<super::cluster::ClusterData, String>),
    Launched(Result<Box<ExecutionRecord>, String>),
    Created(Result<String, String>),
    Killed(Result<String, String>),
    Removed(Result<String, String>),
    /// A sandbox brought to its profile: its name and how many keys changed.
    ProfileApplied(Result<(String, usize), String>),
    Config(ConfigOutcome),
    /// The directory `dir` of a sandbox's workspace.
    Listed {
        sandbox: String,
        dir: String,
        result: Result<Vec<FileEntry>, String>,
    },
    FileRead {
        sandbox: String,
        path: String,
        result: Result<FileHead, String>,
    },
    /// What was opened as a file (a symlink) turned out to be a directory.
    FileIsDirectory {
        sandbox: String,
        path: String,
    },
    FileDeleted {
        sandbox: String,
        path: String,
        result: Result<(), String>,
    },
    Refusals {
        id: String,
        result: Result<Vec<NetworkRefusal>, String>,
    },
}

impl Outcome {
    /// Whether the shared state may have changed, so the sampler should look
    /// again now. Reads must not: each sample can ask for another read, and
    /// a resample per read would spin.
    pub fn changes_state(&self) -> bool {
        match self {
            Outcome::Launched(_)
            | Outcome::Created(_)
            | Outcome::Killed(_)
            | Outcome::Removed(_)
            | Outcome::ProfileApplied(_)
            | Outcome::Config(_) => true,
            Outcome::Listed { .. }
            | Outcome::FileRead { .. }
            | Outcome::FileIsDirectory { .. }
            | Outcome::FileDeleted { .. }
            | Outcome::Refusals { .. }
            | Outcome::Cluster(_) => false,
        }
    }
}

#[derive(Debug, Clone)]
pub enum Action {
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    Snapshot(Box<Snapshot>),
    Done(Outcome),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Quit,
    KillExecution {
        id: String,
    },
    KillSandbox {
        name: String,
    },
    /// One signal to one process, only if it is still in the sandbox's cgroup.
    SignalProcess {
        sandbox: Option<String>,
        pid: i32,
        signal: SignalChoice,
    },
    RemoveSandbox {
        name: String,
    },
    ApplyProfile {
        name: String,
    },
    Launch {
        sandbox: String,
        launch: crate::manager::Launch,
        timeout: Option<Duration>,
    },
    Create {
        name: String,
        profile: String,
    },
    ReloadConfig,
    OpenEditor {
        path: PathBuf,
    },
    /// `dir` is relative to the workspace, "" for its root.
    ListFiles {
        sandbox: String,
        dir: String,
    },
    ReadFile {
        sandbox: String,
        path: String,
    },
    DeleteFile {
        sandbox: String,
        path: String,
    },
    /// The cluster's nodes and jobs (the Cluster screen), and a stop of one job.
    FetchCluster,
    StopClusterJob {
        id: String,
    },
    /// The connections the `allowed_hosts` proxy refused so far.
    FetchRefusals {
        id: String,
    },
}
