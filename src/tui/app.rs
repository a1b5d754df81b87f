//! The dashboard's whole state, and pure queries over it (sorted and
//! filtered rows, the tree as displayed, what the sampler should look at).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use ratatui_textarea::TextArea;

use super::action::{LogLine, LogTail, SampleRequest, SignalChoice, Subject};
use super::format::clean_line;
use super::theme::Theme;
use crate::files::{FileEntry, FileHead};
use crate::manager::{ExecutionView, SandboxView};
use crate::monitor::{tree_order_by, History, HostInfo, ProcessInfo};
use crate::netproxy::NetworkRefusal;
use crate::profile::{Config, Diagnostic, Profile, ProfileChange};

/// Samples kept for the charts: five minutes at the default refresh.
pub const HISTORY_LEN: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Sandboxes,
    Executions,
    Inspector,
}

/// What the inspector pane shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    Detail,
    Tree,
    Logs,
    Charts,
    /// The workspace of the subject's sandbox.
    Files,
}

impl Tab {
    pub const ALL: [Tab; 5] = [Tab::Detail, Tab::Tree, Tab::Logs, Tab::Charts, Tab::Files];
    pub fn title(self) -> &'static str {
        match self {
            Tab::Detail => "Detail",
            Tab::Tree => "Tree",
            Tab::Logs => "Logs",
            Tab::Charts => "Charts",
            Tab::Files => "Files",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Main,
    Profiles,
    Cluster,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    Name,
    Profile,
    State,
    Execs,
    Cpu,
    Memory,
    Procs,
    Age,
}

impl SortColumn {
    pub const ALL: [SortColumn; 8] = [
        SortColumn::Name,
        SortColumn::Profile,
        SortColumn::State,
        SortColumn::Execs,
        SortColumn::Cpu,
        SortColumn::Memory,
        SortColumn::Procs,
        SortColumn::Age,
    ];
    pub fn next(self) -> SortColumn {
        let i = SortColumn::ALL.iter().position(|c| *c == self).unwrap_or(0);
        SortColumn::ALL[(i + 1) % SortColumn::ALL.len()]
    }
}

impl SortColumn {
    /// Orders that change with every sample: frozen between key presses.
    pub fn is_volatile(self) -> bool {
        matches!(
            self,
            SortColumn::State
                | SortColumn::Execs
                | SortColumn::Cpu
                | SortColumn::Memory
                | SortColumn::Procs
        )
    }
}

/// The order of the executions table or the process tree's siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UsageSort {
    /// Executions newest first; processes by pid.
    #[default]
    Natural,
    Cpu,
    Memory,
}

impl UsageSort {
    pub fn next(self) -> UsageSort {
        match self {
            UsageSort::Natural => UsageSort::Cpu,
            UsageSort::Cpu => UsageSort::Memory,
            UsageSort::Memory => UsageSort::Natural,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            UsageSort::Natural => "natural order",
            UsageSort::Cpu => "CPU",
            UsageSort::Memory => "memory",
        }
    }
}

/// Rows in the order they had at the last key press, so that a sort by a
/// figure that changes with every sample does not move rows under the
/// cursor between two presses. New rows come after the known ones.
#[derive(Debug, Clone, Default)]
pub struct FrozenOrder {
    pub sandboxes: HashMap<String, usize>,
    pub executions: HashMap<String, usize>,
    pub processes: HashMap<i32, usize>,
}

fn rank_of<K: std::hash::Hash + Eq>(ranks: &HashMap<K, usize>, key: &K) -> usize {
    ranks.get(key).copied().unwrap_or(usize::MAX)
}

/// A sandbox as displayed: the manager's view plus the CPU% we derive.
#[derive(Debug, Clone)]
pub struct SandboxRow {
    pub view: SandboxView,
    /// 100 = one core, from the change of cpu_ms between two samples.
    pub cpu_percent: f64,
    /// What `sandboxes.toml` now says differently from the profile the
    /// sandbox was made with (or last updated to); empty when the same.
    pub profile_changes: Vec<ProfileChange>,
}

/// Chart histories of one sandbox: CPU in tenths of a percent, memory in bytes.
#[derive(Debug, Clone)]
pub struct Histories {
    pub cpu_tenths: History,
    pub memory: History,
}

impl Default for Histories {
    fn default() -> Self {
        Histories {
            cpu_tenths: History::new(HISTORY_LEN),
            memory: History::new(HISTORY_LEN),
        }
    }
}

/// What a kill confirmation will kill, named in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillTarget {
    /// A job on the cluster (`--cluster`), stopped through it.
    ClusterJob {
        id: String,
    },
    Execution {
        id: String,
        sandbox: String,
        command: String,
    },
    Sandbox {
        name: String,
        active: u64,
    },
    Process {
        sandbox: Option<String>,
        pid: i32,
        command: String,
        /// The execution's init (pid 1 of its namespace): ending it ends
        /// every process of the execution.
        init: bool,
    },
    Remove {
        name: String,
        active: u64,
    },
    /// Not a kill either: bring a sandbox to its profile as the file has it.
    ApplyProfile {
        name: String,
        profile: String,
        changes: Vec<String>,
    },
    /// Not a kill, but the same yes/no: one workspace file.
    DeleteFile {
        sandbox: String,
        path: String,
    },
}

#[derive(Debug, Clone)]
pub struct Confirm {
    pub target: KillTarget,
    pub signal: SignalChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchField {
    Sandbox,
    Command,
    Timeout,
}

#[derive(Debug, Clone)]
pub struct LaunchDialog {
    pub sandboxes: Vec<String>,
    pub sandbox: usize,
    pub command: TextArea<'static>,
    pub timeout: TextArea<'static>,
    pub field: LaunchField,
    pub error: Option<String>,
    pub busy: bool,
    /// The command box holds multi-line Python (a function body) instead of a command line.
    pub python: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateField {
    Name,
    Profile,
}

#[derive(Debug, Clone)]
pub struct CreateDialog {
    pub name: TextArea<'static>,
    pub profiles: Vec<String>,
    pub profile: usize,
    pub field: CreateField,
    pub error: Option<String>,
    pub busy: bool,
    /// Go back to the launch dialog (with the new sandbox) once created.
    pub then_launch: bool,
}

#[derive(Debug, Clone)]
pub enum Overlay {
    /// The help, scrolled `top` lines down.
    Help {
        top: usize,
    },
    Confirm(Confirm),
    Launch(Box<LaunchDialog>),
    Create(Box<CreateDialog>),
    FileView(Box<FileView>),
}

/// The workspace browser: one directory of one sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilesPane {
    pub sandbox: String,
    /// Relative to the workspace, "" for its root.
    pub dir: String,
    /// Directories first, then by name.
    pub entries: Vec<FileEntry>,
    pub selected: usize,
    /// The last listing failed; `entries` is empty.
    pub error: Option<String>,
    /// A listing of `dir` is on its way.
    pub loading: bool,
    /// A background re-listing of `dir` (each refresh) is on its way.
    pub refreshing: bool,
    /// Entry to put the cursor on when the listing arrives (the directory
    /// one came up from, or the one selected before a reload).
    pub select_name: Option<String>,
}

impl FilesPane {
    pub fn new(sandbox: String) -> FilesPane {
        FilesPane {
            sandbox,
            dir: String::new(),
            entries: Vec::new(),
            selected: 0,
            error: None,
            loading: true,
            refreshing: false,
            select_name: None,
        }
    }

    /// `name` in the current directory, relative to the workspace.
    pub fn path_of(&self, name: &str) -> String {
        if self.dir.is_empty() {
            name.to_string()
        } else {
            format!("{}/{name}", self.dir)
        }
    }

    pub fn selected_entry(&self) -> Option<&FileEntry> {
        self.entries.get(self.selected)
    }

    /// `NAME:dir/`, as `sandbox-tui cp` spells a place in a workspace.
    pub fn label(&self) -> String {
        let dir = if self.dir.is_empty() { "." } else { &self.dir };
        format!("{}:{dir}/", self.sandbox)
    }

    /// Directories first, like most file managers; `list` sorts by name only.
    pub fn set_entries(&mut self, mut entries: Vec<FileEntry>) {
        entries.sort_by(|a, b| {
            (a.kind != "dir")
                .cmp(&(b.kind != "dir"))
                .then_with(|| a.name.cmp(&b.name))
        });
        // Without a wish, the cursor stays on the entry it is on now, wherever
        // a file the sandbox created or deleted moved it in the list.
        let wanted = self
            .select_name
            .take()
            .or_else(|| self.selected_entry().map(|e| e.name.clone()));
        let by_name = wanted.and_then(|name| entries.iter().position(|e| e.name == name));
        // Gone (deleted, say): the entry that took its place.
        self.selected = by_name.unwrap_or(self.selected.min(entries.len().saturating_sub(1)));
        self.entries = entries;
        self.error = None;
        self.loading = false;
    }
}

/// The head of one workspace file, as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileView {
    pub sandbox: String,
    pub path: String,
    pub lines: Vec<String>,
    /// The whole file's size.
    pub size: u64,
    /// Bytes read (at most `files::VIEW_HEAD_BYTES`).
    pub shown: usize,
    pub truncated: bool,
    /// Not UTF-8 (or has NUL bytes): shown lossily.
    pub binary: bool,
    pub top: usize,
    pub left: usize,
}

impl FileView {
    pub fn new(sandbox: String, path: String, head: &FileHead) -> FileView {
        let mut data = head.data.as_slice();
        let mut binary = data.contains(&0);
        if let Err(e) = std::str::from_utf8(data) {
            // The cut at VIEW_HEAD_BYTES can fall inside a character; that
            // alone does not make a text file binary.
            if head.truncated && e.error_len().is_none() {
                data = &data[..e.valid_up_to()];
            } else {
                binary = true;
            }
        }
        let lines = String::from_utf8_lossy(data)
            .lines()
            .map(clean_line)
            .collect();
        FileView {
            sandbox,
            path,
            lines,
            size: head.size,
            shown: head.data.len(),
            truncated: head.truncated,
            binary,
            top: 0,
            left: 0,
        }
    }
}

/// The refusals of one execution as last fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalsView {
    pub id: String,
    pub refusals: Vec<NetworkRefusal>,
    pub error: Option<String>,
}

/// A one-line text input in the footer: the sandbox filter or the log search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Filter,
    LogSearch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusLine {
    pub text: String,
    pub error: bool,
}

/// Facts about this session that do not change while it runs.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    pub state_dir: PathBuf,
    /// Mechanism and detail of every degraded or missing isolation mechanism.
    pub degraded: Vec<(String, String)>,
}

/// The configuration as the profiles view shows it.
#[derive(Debug, Clone, Default)]
pub struct ConfigView {
    pub path: Option<PathBuf>,
    pub profiles: Vec<Profile>,
    /// Profiles left out for their problems, listed after the usable ones.
    pub invalid: Vec<(String, Vec<Diagnostic>)>,
    /// Problems of a reloaded file that could not be used at all.
    pub errors: Vec<Diagnostic>,
    /// Not a validation error (e.g. the file vanished).
    pub failure: Option<String>,
    /// Index into the usable profiles, then the invalid ones.
    pub selected: usize,
    /// The first row of the selected profile's detail on screen.
    pub detail_top: usize,
}

impl ConfigView {
    pub fn from_config(config: &Config) -> ConfigView {
        ConfigView {
            path: config.path.clone(),
            profiles: config.profiles.values().cloned().collect(),
            invalid: config
                .invalid_profiles()
                .into_iter()
                .map(|name| (name.to_owned(), config.problems_of(name)))
                .collect(),
            errors: Vec::new(),
            failure: None,
            selected: 0,
            detail_top: 0,
        }
    }

    /// Usable and invalid profiles: what the list shows.
    pub fn len(&self) -> usize {
        self.profiles.len() + self.invalid.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The selected entry, when it is an invalid profile.
    pub fn selected_invalid(&self) -> Option<&(String, Vec<Diagnostic>)> {
        self.selected
            .checked_sub(self.profiles.len())
            .and_then(|i| self.invalid.get(i))
    }
}

/// One displayed line of the process tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeRow {
    pub depth: usize,
    pub index: usize,
    pub has_children: bool,
    pub collapsed: bool,
}

#[derive(Debug, Clone)]
pub struct App {
    pub theme: Theme,
    pub refresh_ms: u64,
    pub size: (u16, u16),
    pub env: Environment,
    pub config: ConfigView,

    // Data from the sampler.
    pub loaded: bool,
    pub now_ms: i64,
    pub host: HostInfo,
    pub host_history: Histories,
    pub sandboxes: Vec<SandboxRow>,
    pub executions: Vec<ExecutionView>,
    pub processes: Vec<ProcessInfo>,
    pub processes_of: Subject,
    pub logs: Option<LogTail>,
    pub history: BTreeMap<String, Histories>,
    /// Previous (time, cpu_ms) per sandbox, for CPU%.
    pub prev_cpu: BTreeMap<String, (i64, u64)>,
    pub sample_error: Option<String>,

    // Navigation.
    pub screen: Screen,
    pub focus: Pane,
    pub tab: Tab,
    /// The inspector shows the selected execution rather than the sandbox.
    pub exec_context: bool,
    pub selected_sandbox: Option<String>,
    pub selected_execution: Option<String>,
    pub selected_pid: Option<i32>,
    pub collapsed: BTreeSet<i32>,
    pub sort: SortColumn,
    /// The executions' order, and whether it is reversed (biggest first
    /// for CPU and memory; oldest first for the natural order).
    pub exec_sort: (UsageSort, bool),
    /// The order of siblings in the process tree, and whether reversed.
    pub tree_sort: (UsageSort, bool),
    pub frozen: FrozenOrder,
    pub sort_desc: bool,
    pub filter: String,
    pub input: Option<InputKind>,
    pub input_buffer: String,
    pub log_search: Option<String>,
    /// First displayed log line; `None` follows the end.
    pub log_scroll: Option<usize>,
    /// Long log lines wrap (else they are cut, scrolled by `log_left`).
    pub log_wrap: bool,
    /// Columns of the log lines scrolled out on the left, when not wrapping.
    pub log_left: usize,
    /// Escape sequences shown as text (`\x1b[31m`) instead of as colours.
    pub log_raw: bool,
    pub detail_scroll: usize,
    /// The Files tab; `None` until it is first shown.
    pub files: Option<FilesPane>,
    /// Live refusals of the execution in the detail (final ones are in its result).
    pub refusals: Option<RefusalsView>,
    /// Execution whose refusals are being fetched.
    pub refusals_pending: Option<String>,
    pub overlay: Option<Overlay>,
    pub cluster: super::cluster::ClusterPane,
    pub status: Option<StatusLine>,
    pub quit: bool,
    /// Something visible changed since the last draw.
    pub dirty: bool,
}

impl App {
    pub fn new(theme: Theme, refresh_ms: u64, env: Environment, config: ConfigView) -> App {
        App {
            theme,
            refresh_ms,
            size: (80, 24),
            env,
            config,
            loaded: false,
            now_ms: 0,
            host: HostInfo::default(),
            host_history: Histories::default(),
            sandboxes: Vec::new(),
            executions: Vec::new(),
            processes: Vec::new(),
            processes_of: Subject::All,
            logs: None,
            history: BTreeMap::new(),
            prev_cpu: BTreeMap::new(),
            sample_error: None,
            screen: Screen::Main,
            focus: Pane::Sandboxes,
            tab: Tab::Tree,
            exec_context: false,
            selected_sandbox: None,
            selected_execution: None,
            selected_pid: None,
            collapsed: BTreeSet::new(),
            sort: SortColumn::Name,
            exec_sort: (UsageSort::Natural, true),
            tree_sort: (UsageSort::Natural, false),
            frozen: FrozenOrder::default(),
            sort_desc: false,
            filter: String::new(),
            input: None,
            input_buffer: String::new(),
            log_search: None,
            log_scroll: None,
            log_wrap: false,
            log_left: 0,
            log_raw: false,
            detail_scroll: 0,
            files: None,
            refusals: None,
            refusals_pending: None,
            overlay: None,
            cluster: Default::default(),
            status: None,
            quit: false,
            dirty: true,
        }
    }

    /// Sandboxes after the filter, in the chosen order (as it was at the
    /// last key press, for an order that changes with each sample).
    pub fn visible_sandboxes(&self) -> Vec<&SandboxRow> {
        let mut rows = self.live_sandboxes();
        if self.sort.is_volatile() {
            rows.sort_by_key(|r| rank_of(&self.frozen.sandboxes, &r.view.name));
        }
        rows
    }

    /// Sandboxes after the filter, in the chosen order as of now.
    fn live_sandboxes(&self) -> Vec<&SandboxRow> {
        let needle = self.filter.to_lowercase();
        let mut rows: Vec<&SandboxRow> = self
            .sandboxes
            .iter()
            .filter(|r| needle.is_empty() || r.view.name.to_lowercase().contains(&needle))
            .collect();
        rows.sort_by(|a, b| {
            let order = match self.sort {
                SortColumn::Name => a.view.name.cmp(&b.view.name),
                SortColumn::Profile => a.view.profile.cmp(&b.view.profile),
                SortColumn::State => a.view.state.cmp(&b.view.state),
                SortColumn::Execs => {
                    (a.view.running, a.view.total).cmp(&(b.view.running, b.view.total))
                }
                SortColumn::Cpu => a.cpu_percent.total_cmp(&b.cpu_percent),
                SortColumn::Memory => a.view.memory_bytes.cmp(&b.view.memory_bytes),
                SortColumn::Procs => a.view.processes.cmp(&b.view.processes),
                // Oldest first reads like a log.
                SortColumn::Age => a.view.created_at.cmp(&b.view.created_at),
            }
            .then_with(|| a.view.name.cmp(&b.view.name));
            if self.sort_desc {
                order.reverse()
            } else {
                order
            }
        });
        rows
    }

    /// Row index in the sandboxes table (row 0 is "all sandboxes").
    pub fn sandbox_cursor(&self) -> usize {
        match &self.selected_sandbox {
            None => 0,
            Some(name) => self
                .visible_sandboxes()
                .iter()
                .position(|r| &r.view.name == name)
                .map(|i| i + 1)
                .unwrap_or(0),
        }
    }

    pub fn selected_sandbox_row(&self) -> Option<&SandboxRow> {
        let name = self.selected_sandbox.as_ref()?;
        self.sandboxes.iter().find(|r| &r.view.name == name)
    }

    /// Executions of the selected sandbox (or all), newest first.
    pub fn visible_executions(&self) -> Vec<&ExecutionView> {
        let mut rows: Vec<&ExecutionView> = self
            .executions
            .iter()
            .filter(|e| match &self.selected_sandbox {
                Some(name) => &e.record.sandbox == name,
                None => true,
            })
            .collect();
        rows.sort_by_key(|e| std::cmp::Reverse(e.record.seq));
        let (order, desc) = self.exec_sort;
        let mut by_usage = |key: fn(&ExecutionView) -> u64| {
            rows.sort_by(|a, b| {
                let order = key(a).cmp(&key(b));
                if desc {
                    order.reverse()
                } else {
                    order
                }
            });
            rows.sort_by_key(|e| rank_of(&self.frozen.executions, &e.record.id));
        };
        match order {
            UsageSort::Natural if !desc => rows.reverse(),
            UsageSort::Natural => {}
            UsageSort::Cpu => by_usage(execution_cpu_ms),
            UsageSort::Memory => by_usage(|e| e.memory_bytes),
        }
        rows
    }

    pub fn execution_cursor(&self) -> Option<usize> {
        let id = self.selected_execution.as_ref()?;
        self.visible_executions()
            .iter()
            .position(|e| &e.record.id == id)
    }

    pub fn selected_execution_view(&self) -> Option<&ExecutionView> {
        let id = self.selected_execution.as_ref()?;
        self.executions.iter().find(|e| &e.record.id == id)
    }

    /// What the inspector is about.
    pub fn subject(&self) -> Subject {
        if self.exec_context {
            if let Some(id) = &self.selected_execution {
                return Subject::Execution(id.clone());
            }
        }
        match &self.selected_sandbox {
            Some(name) => Subject::Sandbox(name.clone()),
            None => Subject::All,
        }
    }

    /// The sandbox the charts and a process kill refer to.
    pub fn subject_sandbox(&self) -> Option<String> {
        match self.subject() {
            Subject::All => None,
            Subject::Sandbox(name) => Some(name),
            Subject::Execution(id) => self
                .executions
                .iter()
                .find(|e| e.record.id == id)
                .map(|e| e.record.sandbox.clone()),
        }
    }

    /// The execution whose logs the inspector would show.
    pub fn log_subject(&self) -> Option<&ExecutionView> {
        match self.subject() {
            Subject::Execution(id) => self.executions.iter().find(|e| e.record.id == id),
            // Without an explicit choice, the newest execution of the view.
            _ => self
                .selected_execution_view()
                .or_else(|| self.visible_executions().first().copied()),
        }
    }

    pub fn sample_request(&self) -> SampleRequest {
        let logs_visible = self.screen == Screen::Main && self.tab == Tab::Logs;
        SampleRequest {
            subject: self.subject(),
            logs_of: if logs_visible {
                self.log_subject().map(|e| e.record.id.clone())
            } else {
                None
            },
            sandbox: self.selected_sandbox.clone(),
            detail_of: self.selected_execution.clone(),
        }
    }

    /// The process tree as displayed, collapsed subtrees hidden; siblings
    /// in the chosen order (as at the last key press, for CPU and memory).
    pub fn tree_rows(&self) -> Vec<TreeRow> {
        let (sort, desc) = self.tree_sort;
        let usage = |p: &ProcessInfo| match sort {
            UsageSort::Natural => 0,
            // Tenths of a percent: enough to order by.
            UsageSort::Cpu => (p.cpu_percent * 10.0) as u64,
            UsageSort::Memory => p.rss_bytes,
        };
        let order = tree_order_by(&self.processes, |a, b| {
            let frozen = rank_of(&self.frozen.processes, &a.pid)
                .cmp(&rank_of(&self.frozen.processes, &b.pid));
            let live = match sort {
                UsageSort::Natural => a.pid.cmp(&b.pid),
                _ => usage(a).cmp(&usage(b)).then(b.pid.cmp(&a.pid)),
            };
            let live = if desc { live.reverse() } else { live };
            if sort == UsageSort::Natural {
                live
            } else {
                frozen.then(live)
            }
        });
        let mut rows = Vec::with_capacity(order.len());
        let mut hide_below: Option<usize> = None;
        for (pos, (depth, index)) in order.iter().enumerate() {
            if let Some(d) = hide_below {
                if *depth > d {
                    continue;
                }
                hide_below = None;
            }
            let has_children = order.get(pos + 1).is_some_and(|(d, _)| *d > *depth);
            let collapsed = self.collapsed.contains(&self.processes[*index].pid);
            if collapsed && has_children {
                hide_below = Some(*depth);
            }
            rows.push(TreeRow {
                depth: *depth,
                index: *index,
                has_children,
                collapsed,
            });
        }
        rows
    }

    /// Take the orders as they are now: called at each key press or click.
    pub fn freeze_order(&mut self) {
        self.frozen = FrozenOrder::default();
        let sandboxes = self
            .live_sandboxes()
            .iter()
            .enumerate()
            .map(|(i, r)| (r.view.name.clone(), i))
            .collect();
        let executions = self
            .visible_executions()
            .iter()
            .enumerate()
            .map(|(i, e)| (e.record.id.clone(), i))
            .collect();
        let processes = self
            .tree_rows()
            .iter()
            .enumerate()
            .map(|(i, r)| (self.processes[r.index].pid, i))
            .collect();
        self.frozen = FrozenOrder {
            sandboxes,
            executions,
            processes,
        };
    }

    pub fn tree_cursor(&self) -> Option<usize> {
        let pid = self.selected_pid?;
        self.tree_rows()
            .iter()
            .position(|r| self.processes[r.index].pid == pid)
    }

    /// Lines of the logs pane: stdout and stderr in the order they were read.
    pub fn log_lines(&self) -> &[LogLine] {
        self.logs.as_ref().map_or(&[], |l| l.lines.as_slice())
    }

    pub fn running_and_queued(&self) -> (u64, u64) {
        self.sandboxes
            .iter()
            .fold((0, 0), |(r, q), s| (r + s.view.running, q + s.view.queued))
    }
}

/// First row shown so that `cursor` is visible in `height` rows.
pub fn scroll_offset(cursor: usize, height: usize) -> usize {
    if height == 0 {
        0
    } else {
        cursor.saturating_sub(height - 1)
    }
}

/// CPU time of an execution so far (running) or in all (ended).
pub fn execution_cpu_ms(e: &ExecutionView) -> u64 {
    if e.record.status == crate::execution::Status::Running {
        e.live_cpu_ms
    } else {
        e.record.cpu_ms.unwrap_or(0)
    }
}
