//! The key table: every binding of the main screen, the profiles screen
//! and the help, described once. `update` dispatches by it, the help
//! overlay lists it and the footer shows its short labels, so the three
//! cannot disagree. A new view's keys are a new `Ctx` and its rows.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::app::{App, CreateField, KillTarget, LaunchField, Overlay, Pane, Screen, Tab};

/// One key. A binding without Ctrl takes the key with any modifier (Shift
/// comes with capitals, and a terminal's Ctrl-letter still means the
/// letter); Ctrl bindings are looked up first, so Ctrl-C is not `c`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
}

const fn k(code: KeyCode) -> Key {
    Key { code, ctrl: false }
}

const fn ch(c: char) -> Key {
    k(KeyCode::Char(c))
}

const fn ctrl(c: char) -> Key {
    Key {
        code: KeyCode::Char(c),
        ctrl: true,
    }
}

const UP: Key = k(KeyCode::Up);
const DOWN: Key = k(KeyCode::Down);
const LEFT: Key = k(KeyCode::Left);
const RIGHT: Key = k(KeyCode::Right);
const ENTER: Key = k(KeyCode::Enter);
const ESC: Key = k(KeyCode::Esc);

impl Key {
    fn matches(&self, event: &KeyEvent) -> bool {
        self.code == event.code && (!self.ctrl || event.modifiers.contains(KeyModifiers::CONTROL))
    }

    /// As the help and the footer write it.
    pub fn name(&self) -> String {
        let base = match self.code {
            KeyCode::Up => "↑".into(),
            KeyCode::Down => "↓".into(),
            KeyCode::Left => "←".into(),
            KeyCode::Right => "→".into(),
            KeyCode::PageUp => "PgUp".into(),
            KeyCode::PageDown => "PgDn".into(),
            KeyCode::Home => "Home".into(),
            KeyCode::End => "End".into(),
            KeyCode::Enter => "Enter".into(),
            KeyCode::Esc => "Esc".into(),
            KeyCode::Tab => "Tab".into(),
            KeyCode::BackTab => "S-Tab".into(),
            KeyCode::Backspace => "⌫".into(),
            KeyCode::Delete => "Del".into(),
            KeyCode::F(n) => format!("F{n}"),
            KeyCode::Char(' ') => "space".into(),
            KeyCode::Char(c) if self.ctrl => c.to_ascii_uppercase().to_string(),
            KeyCode::Char(c) => c.to_string(),
            other => format!("{other:?}"),
        };
        if self.ctrl {
            format!("Ctrl-{base}")
        } else {
            base
        }
    }
}

/// Where a binding applies; also the sections of the help, in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ctx {
    /// The main screen and the profiles screen.
    Global,
    /// The main screen, whichever pane has the focus.
    Main,
    Sandboxes,
    Executions,
    Tree,
    Logs,
    Files,
    Profiles,
    /// The Cluster screen (`--cluster`).
    Cluster,
    /// Typing a filter or a log search in the footer.
    Input,
    Help,
    /// A yes/no confirmation (kill, remove, update, delete).
    Confirm,
    /// The file viewer.
    FileView,
    /// The launch dialog.
    Launch,
    /// The new-sandbox dialog.
    Create,
}

impl Ctx {
    pub const ALL: [Ctx; 15] = [
        Ctx::Global,
        Ctx::Main,
        Ctx::Sandboxes,
        Ctx::Executions,
        Ctx::Tree,
        Ctx::Logs,
        Ctx::Files,
        Ctx::Profiles,
        Ctx::Cluster,
        Ctx::Input,
        Ctx::Help,
        Ctx::Confirm,
        Ctx::FileView,
        Ctx::Launch,
        Ctx::Create,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Ctx::Global => "Everywhere",
            Ctx::Main => "Main screen",
            Ctx::Sandboxes => "Sandboxes pane",
            Ctx::Executions => "Executions pane",
            Ctx::Tree => "Tree tab",
            Ctx::Logs => "Logs tab",
            Ctx::Files => "Files tab",
            Ctx::Profiles => "Profiles screen",
            Ctx::Cluster => "Cluster screen",
            Ctx::Input => "Typing a filter or search",
            Ctx::Help => "This help",
            Ctx::Confirm => "A confirmation",
            Ctx::FileView => "The file viewer",
            Ctx::Launch => "Launch dialog",
            Ctx::Create => "New sandbox dialog",
        }
    }
}

/// What a binding does; `update` runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Quit,
    Help,
    NextPane,
    PrevPane,
    /// ↑/↓ (and k/j): one row.
    Move,
    /// PgUp/PgDn: ten rows.
    Page,
    /// Home/End (and g/G): first or last.
    Ends,
    Back,
    Filter,
    Sort,
    Reverse,
    SortCpu,
    SortMemory,
    Launch,
    Create,
    Kill,
    Remove,
    ApplyProfile,
    ShowTab(Tab),
    Follow,
    Profiles,
    Open,
    Detail,
    Fold,
    Expand,
    Collapse,
    Search,
    /// n/N: the next or previous match.
    SearchNext,
    Wrap,
    Raw,
    /// ←/→: the logs sideways.
    Pan,
    FileOpen,
    FileView,
    FileUp,
    FileDelete,
    FileReload,
    ProfilesMove,
    /// PgUp/PgDn: the selected profile's keys, when they do not fit.
    ProfilesPage,
    ProfilesBack,
    ProfilesReload,
    ProfilesEdit,
    /// The Cluster screen, from the main screen.
    Cluster,
    ClusterMove,
    ClusterStop,
    ClusterBack,
    InputKeep,
    InputCancel,
    InputErase,
    InputClear,
    HelpClose,
    HelpScroll,
    HelpPage,
    HelpEnds,
    ConfirmYes,
    ConfirmNo,
    /// ←/→: the previous or next signal.
    SignalCycle,
    /// 1-4: that signal.
    SignalPick,
    ViewClose,
    ViewScroll,
    ViewPage,
    ViewEnds,
    ViewPan,
    LaunchClose,
    /// Command line <-> Python snippet.
    LaunchMode,
    LaunchNewLine,
    LaunchRun,
    LaunchField,
    /// The target is chosen, not launched into.
    LaunchChoose,
    LaunchClear,
    /// A new sandbox, then back to launch into it.
    LaunchCreate,
    /// ↑/↓ (k/j on the list): the target sandbox.
    LaunchSandbox,
    CreateClose,
    CreateField,
    CreateProfile,
    CreateClear,
    CreateRun,
}

/// A condition on the state besides the context: the key goes on to the
/// next context when it does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Always,
    /// The logs have a search.
    Searching,
    /// The logs are not wrapped (so they scroll sideways).
    Unwrapped,
    /// The Files tab shows a directory below the workspace's root.
    BelowRoot,
    /// The confirmation is for one process (a signal to choose).
    Process,
    /// The launch dialog takes a Python snippet / a command line.
    Python,
    CommandLine,
    /// Its focus is on the sandbox list, on the Python code, on a one-line
    /// field (command line or timeout), on any text field, on anything but
    /// the Python code (whose ↑↓ move between its lines).
    Target,
    Code,
    OneLine,
    Text,
    NotCode,
    /// The new-sandbox dialog's focus: the name, or the profile list.
    Name,
    ProfileList,
    /// The dashboard was given `--cluster` (else the Cluster screen has no jobs).
    ClusterGiven,
}

impl When {
    pub fn holds(self, app: &App) -> bool {
        match self {
            When::Always => true,
            When::Searching => app.log_search.is_some(),
            When::Unwrapped => !app.log_wrap,
            When::BelowRoot => app.files.as_ref().is_some_and(|f| !f.dir.is_empty()),
            When::Python
            | When::CommandLine
            | When::Target
            | When::Code
            | When::OneLine
            | When::Text
            | When::NotCode => match &app.overlay {
                Some(Overlay::Launch(d)) => {
                    let code = d.python && d.field == LaunchField::Command;
                    let target = d.field == LaunchField::Sandbox;
                    match self {
                        When::Python => d.python,
                        When::CommandLine => !d.python,
                        When::Target => target,
                        When::Code => code,
                        When::OneLine => !target && !code,
                        When::Text => !target,
                        _ => !code,
                    }
                }
                _ => false,
            },
            When::Name | When::ProfileList => match &app.overlay {
                Some(Overlay::Create(d)) => (d.field == CreateField::Name) == (self == When::Name),
                _ => false,
            },
            When::ClusterGiven => app.cluster.address.is_some(),
            When::Process => matches!(
                &app.overlay,
                Some(Overlay::Confirm(c)) if matches!(c.target, KillTarget::Process { .. })
            ),
        }
    }
}

/// One binding: its keys, where and when it applies, what it does, the
/// footer's word for it (none: help only) and the help's line.
#[derive(Debug)]
pub struct Binding {
    pub keys: &'static [Key],
    pub ctx: Ctx,
    pub when: When,
    pub cmd: Cmd,
    pub footer: Option<&'static str>,
    pub help: &'static str,
}

const fn bind(
    ctx: Ctx,
    keys: &'static [Key],
    cmd: Cmd,
    footer: Option<&'static str>,
    help: &'static str,
) -> Binding {
    Binding {
        keys,
        ctx,
        when: When::Always,
        cmd,
        footer,
        help,
    }
}

const fn when(b: Binding, when: When) -> Binding {
    Binding { when, ..b }
}

use Ctx::*;

/// Within a context the first matching row wins; contexts are tried from
/// the most specific (see `contexts`). The footer shows the labelled rows
/// in the order the contexts are tried, then in table order.
pub static BINDINGS: &[Binding] = &[
    bind(Global, &[ch('?'), k(KeyCode::F(1))], Cmd::Help, Some("help"), "this help"),
    bind(Global, &[ch('q'), k(KeyCode::F(10)), ctrl('c')], Cmd::Quit, Some("quit"), "quit (kills nothing)"),
    bind(Main, &[UP, DOWN, ch('k'), ch('j')], Cmd::Move, Some("move"), "move the cursor (scroll the detail and logs)"),
    bind(Main, &[k(KeyCode::PageUp), k(KeyCode::PageDown)], Cmd::Page, None, "ten rows up / down"),
    bind(Main, &[k(KeyCode::Home), k(KeyCode::End), ch('g'), ch('G')], Cmd::Ends, None, "first / last row"),
    bind(Main, &[ch('/')], Cmd::Filter, Some("filter"), "a new filter of sandboxes by name"),
    bind(Main, &[ch('s')], Cmd::Sort, Some("sort"), "sort the focused table by its next order"),
    bind(Main, &[ch('S')], Cmd::Reverse, None, "reverse the focused table's order"),
    bind(Main, &[ch('P')], Cmd::SortCpu, None, "sort the focused table by CPU, biggest first"),
    bind(Main, &[ch('M')], Cmd::SortMemory, None, "sort the focused table by memory, biggest first"),
    bind(Main, &[ch('x')], Cmd::Launch, Some("launch"), "launch a command, or (Ctrl-P/F2) a Python snippet run by Ctrl-S; Ctrl-U clears a field"),
    bind(Main, &[ch('n')], Cmd::Create, Some("new"), "new sandbox from a profile"),
    bind(Main, &[ch('K'), k(KeyCode::F(9))], Cmd::Kill, Some("kill"), "kill the selected process (choose the signal), execution or sandbox's executions, after a confirmation"),
    bind(Main, &[ch('D')], Cmd::Remove, None, "remove the selected sandbox (confirmed)"),
    bind(Main, &[ch('u')], Cmd::ApplyProfile, None, "give a sandbox marked * its profile as the file has it (confirmed)"),
    bind(Main, &[k(KeyCode::Tab)], Cmd::NextPane, Some("pane"), "next pane"),
    bind(Main, &[k(KeyCode::BackTab)], Cmd::PrevPane, None, "previous pane"),
    bind(Main, &[ESC], Cmd::Back, Some("back"), "back; clears the filter"),
    bind(Main, &[ch('i')], Cmd::ShowTab(Tab::Detail), None, "the Detail tab"),
    bind(Main, &[ch('t')], Cmd::ShowTab(Tab::Tree), None, "the process Tree tab"),
    bind(Main, &[ch('l')], Cmd::ShowTab(Tab::Logs), None, "the Logs tab"),
    bind(Main, &[ch('c')], Cmd::ShowTab(Tab::Charts), None, "the Charts tab"),
    bind(Main, &[ch('w')], Cmd::ShowTab(Tab::Files), None, "the Files tab: the workspace"),
    bind(Main, &[ch('f')], Cmd::Follow, None, "follow the logs (on/off)"),
    bind(Main, &[ch('p')], Cmd::Profiles, Some("profiles"), "the profiles screen"),
    bind(Main, &[ch('C')], Cmd::Cluster, None, "the Ray cluster's nodes and jobs (--cluster)"),
    bind(Sandboxes, &[ENTER], Cmd::Open, Some("open"), "its executions"),
    bind(Executions, &[ENTER], Cmd::Detail, Some("detail"), "the execution's detail"),
    bind(Tree, &[ENTER, ch(' ')], Cmd::Fold, Some("fold"), "fold / unfold the node"),
    bind(Tree, &[ch('+')], Cmd::Expand, None, "unfold the node"),
    bind(Tree, &[ch('-')], Cmd::Collapse, None, "fold the node"),
    bind(Logs, &[ch('/')], Cmd::Search, Some("search"), "a new search"),
    when(bind(Logs, &[ch('n'), ch('N')], Cmd::SearchNext, Some("match"), "next / previous match"), When::Searching),
    bind(Logs, &[ch('W')], Cmd::Wrap, Some("wrap"), "wrap long lines (on/off)"),
    bind(Logs, &[ch('R')], Cmd::Raw, None, "escapes as text, or colours (on/off)"),
    when(bind(Logs, &[LEFT, RIGHT], Cmd::Pan, Some("side"), "sideways, when not wrapping"), When::Unwrapped),
    bind(Files, &[ENTER, RIGHT], Cmd::FileOpen, Some("open"), "enter a directory or view a file"),
    bind(Files, &[ch('v')], Cmd::FileView, Some("view"), "view a file"),
    bind(Files, &[k(KeyCode::Backspace), LEFT], Cmd::FileUp, Some("up"), "the directory above"),
    when(bind(Files, &[ESC], Cmd::FileUp, None, "the directory above, below the root"), When::BelowRoot),
    bind(Files, &[ch('d'), k(KeyCode::Delete)], Cmd::FileDelete, Some("delete"), "delete a file (confirmed)"),
    bind(Files, &[ch('r')], Cmd::FileReload, Some("reload"), "list the directory again"),
    bind(Profiles, &[UP, DOWN, ch('k'), ch('j')], Cmd::ProfilesMove, Some("profile"), "select a profile"),
    bind(Profiles, &[k(KeyCode::PageUp), k(KeyCode::PageDown)], Cmd::ProfilesPage, None, "scroll the profile's keys a page"),
    bind(Profiles, &[ch('e')], Cmd::ProfilesEdit, Some("edit"), "edit the file in $EDITOR, then reload"),
    bind(Profiles, &[ch('r')], Cmd::ProfilesReload, Some("reload"), "read the file again"),
    bind(Profiles, &[ESC, ch('p')], Cmd::ProfilesBack, Some("back"), "back to the main screen"),
    when(bind(Cluster, &[UP, DOWN, ch('k'), ch('j')], Cmd::ClusterMove, Some("job"), "select a job"), When::ClusterGiven),
    when(bind(Cluster, &[ch('K'), k(KeyCode::F(9))], Cmd::ClusterStop, Some("stop job"), "stop the job (asks first)"), When::ClusterGiven),
    bind(Cluster, &[ESC, ch('C')], Cmd::ClusterBack, Some("back"), "back to the main screen"),
    bind(Input, &[ENTER], Cmd::InputKeep, Some("keep"), "keep it (a search goes to its first match)"),
    bind(Input, &[ESC], Cmd::InputCancel, Some("clear"), "drop it"),
    bind(Input, &[k(KeyCode::Backspace)], Cmd::InputErase, None, "erase a character"),
    bind(Input, &[ctrl('u')], Cmd::InputClear, None, "clear what was typed"),
    bind(Help, &[ESC, ch('?'), ch('q'), ENTER, k(KeyCode::F(1))], Cmd::HelpClose, Some("close"), "close the help"),
    bind(Help, &[UP, DOWN, ch('k'), ch('j')], Cmd::HelpScroll, Some("scroll"), "scroll a line"),
    bind(Help, &[k(KeyCode::PageUp), k(KeyCode::PageDown)], Cmd::HelpPage, None, "scroll a page"),
    bind(Help, &[k(KeyCode::Home), k(KeyCode::End), ch('g'), ch('G')], Cmd::HelpEnds, None, "top / bottom"),
    bind(Confirm, &[ch('y'), ch('Y'), ENTER], Cmd::ConfirmYes, Some("confirm"), "yes, do it"),
    bind(Confirm, &[ch('n'), ch('N'), ESC, ch('q')], Cmd::ConfirmNo, Some("cancel"), "no, leave it"),
    when(bind(Confirm, &[LEFT, RIGHT, ch('h'), ch('l'), k(KeyCode::BackTab), k(KeyCode::Tab)], Cmd::SignalCycle, Some("signal"), "the previous / next signal (TERM KILL INT HUP) for a process"), When::Process),
    when(bind(Confirm, &[ch('1'), ch('2'), ch('3'), ch('4')], Cmd::SignalPick, None, "that signal"), When::Process),
    bind(FileView, &[ESC, ENTER, k(KeyCode::Backspace), ch('q'), ch('v'), ctrl('c')], Cmd::ViewClose, Some("close"), "close the viewer"),
    bind(FileView, &[UP, DOWN, ch('k'), ch('j')], Cmd::ViewScroll, Some("scroll"), "a line up / down"),
    bind(FileView, &[k(KeyCode::PageUp), k(KeyCode::PageDown), ch(' ')], Cmd::ViewPage, None, "a page up / down"),
    bind(FileView, &[k(KeyCode::Home), k(KeyCode::End), ch('g'), ch('G')], Cmd::ViewEnds, None, "top / bottom"),
    bind(FileView, &[LEFT, RIGHT, ch('h'), ch('l')], Cmd::ViewPan, Some("pan"), "sideways"),
    when(bind(Launch, &[UP, DOWN], Cmd::LaunchSandbox, Some("sandbox"), "choose the sandbox (from the Python code, Tab to the list first)"), When::NotCode),
    when(bind(Launch, &[ENTER], Cmd::LaunchNewLine, Some("new line"), "in the Python code: a new line"), When::Code),
    when(bind(Launch, &[ENTER], Cmd::LaunchChoose, Some("choose"), "on the sandbox list: on to the command"), When::Target),
    when(bind(Launch, &[ENTER], Cmd::LaunchRun, Some("launch"), "on a one-line field: launch"), When::OneLine),
    when(bind(Launch, &[ch('n')], Cmd::LaunchCreate, Some("new sandbox"), "on the sandbox list: a new sandbox to launch into"), When::Target),
    bind(Launch, &[ctrl('s')], Cmd::LaunchRun, Some("run"), "launch, from any field"),
    bind(Launch, &[k(KeyCode::Tab), k(KeyCode::BackTab)], Cmd::LaunchField, Some("field"), "next / previous field"),
    when(bind(Launch, &[ctrl('u')], Cmd::LaunchClear, None, "clear the field"), When::Text),
    when(bind(Launch, &[ctrl('p'), k(KeyCode::F(2))], Cmd::LaunchMode, Some("Python"), "a multi-line Python snippet instead (`return` gives the result)"), When::CommandLine),
    when(bind(Launch, &[ctrl('p'), k(KeyCode::F(2))], Cmd::LaunchMode, Some("command line"), "back to a command line"), When::Python),
    bind(Launch, &[ESC, ctrl('c')], Cmd::LaunchClose, Some("close"), "close, launching nothing"),
    when(bind(Launch, &[ch('k'), ch('j')], Cmd::LaunchSandbox, None, "on the sandbox list: choose"), When::Target),
    bind(Create, &[UP, DOWN], Cmd::CreateProfile, Some("profile"), "choose the profile"),
    bind(Create, &[k(KeyCode::Tab), k(KeyCode::BackTab)], Cmd::CreateField, Some("field"), "name <-> profile list"),
    when(bind(Create, &[ctrl('u')], Cmd::CreateClear, Some("clear"), "clear the name"), When::Name),
    when(bind(Create, &[ch('k'), ch('j')], Cmd::CreateProfile, None, "on the profile list: choose"), When::ProfileList),
    bind(Create, &[ENTER], Cmd::CreateRun, Some("create"), "create the sandbox"),
    bind(Create, &[ESC, ctrl('c')], Cmd::CreateClose, Some("close"), "close, creating nothing"),
];

/// The contexts in force, the most specific first.
pub fn contexts(app: &App) -> Vec<Ctx> {
    match &app.overlay {
        Some(Overlay::Help { .. }) => return vec![Help],
        Some(Overlay::Confirm(_)) => return vec![Confirm],
        Some(Overlay::FileView(_)) => return vec![FileView],
        Some(Overlay::Launch(_)) => return vec![Launch],
        Some(Overlay::Create(_)) => return vec![Create],
        None => {}
    }
    if app.input.is_some() {
        return vec![Input];
    }
    match app.screen {
        Screen::Profiles => vec![Profiles, Global],
        Screen::Cluster => vec![Cluster, Global],
        Screen::Main => {
            let pane = match (app.focus, app.tab) {
                (Pane::Sandboxes, _) => Some(Sandboxes),
                (Pane::Executions, _) => Some(Executions),
                (Pane::Inspector, Tab::Tree) => Some(Tree),
                (Pane::Inspector, Tab::Logs) => Some(Logs),
                (Pane::Inspector, Tab::Files) => Some(Files),
                (Pane::Inspector, Tab::Detail | Tab::Charts) => None,
            };
            pane.into_iter().chain([Main, Global]).collect()
        }
    }
}

/// The binding a key press runs in `contexts`: Ctrl bindings first, then
/// the contexts from the most specific, then table order.
pub fn lookup(app: &App, contexts: &[Ctx], event: &KeyEvent) -> Option<&'static Binding> {
    let ctrl_first = [true, false];
    ctrl_first.into_iter().find_map(|want_ctrl| {
        contexts.iter().find_map(|ctx| {
            BINDINGS.iter().find(|b| {
                b.ctx == *ctx
                    && b.keys
                        .iter()
                        .any(|k| k.ctrl == want_ctrl && k.matches(event))
                    && b.when.holds(app)
            })
        })
    })
}

/// How the help writes a binding's keys: arrows in pairs, the rest apart.
pub fn keys_text(keys: &[Key]) -> String {
    let names: Vec<String> = keys.iter().map(Key::name).collect();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < names.len() {
        let pair = names
            .get(i + 1)
            .and_then(|next| match (names[i].as_str(), next.as_str()) {
                ("↑", "↓") | ("←", "→") => Some(format!("{}{next}", names[i])),
                _ => None,
            });
        match pair {
            Some(p) => {
                out.push(p);
                i += 2;
            }
            None => {
                out.push(names[i].clone());
                i += 1;
            }
        }
    }
    out.join(" ")
}

/// The footer's words for the bindings in force, in `width` columns:
/// each labelled row once, by its first key (an arrow pair together),
/// skipping rows whose first key a more specific row took; the most
/// specific first, as many as fit, and the global ones (help, quit) always.
pub fn footer(app: &App, width: usize) -> String {
    let mut taken: Vec<Key> = Vec::new();
    let mut parts = Vec::new();
    let mut global = Vec::new();
    for ctx in contexts(app) {
        for b in BINDINGS
            .iter()
            .filter(|b| b.ctx == ctx && b.when.holds(app))
        {
            let first = b.keys[0];
            let shadowed = taken.contains(&first);
            taken.extend(b.keys.iter().copied());
            let Some(label) = b.footer.filter(|_| !shadowed) else {
                continue;
            };
            let arrows = b.keys.len() > 1
                && matches!(
                    (b.keys[0].code, b.keys[1].code),
                    (KeyCode::Up, KeyCode::Down) | (KeyCode::Left, KeyCode::Right)
                );
            let shown = if arrows {
                keys_text(&b.keys[..2])
            } else {
                first.name()
            };
            let part = format!("{shown} {label}");
            if ctx == Global {
                global.push(part);
            } else {
                parts.push(part);
            }
        }
    }
    let len = |p: &String| p.chars().count() + 2;
    let mut room = width.saturating_sub(global.iter().map(len).sum());
    let mut shown: Vec<String> = Vec::new();
    for part in parts {
        if len(&part) > room {
            break;
        }
        room -= len(&part);
        shown.push(part);
    }
    shown.extend(global);
    shown.join("  ")
}
