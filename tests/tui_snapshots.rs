//! The dashboard without a terminal: every view rendered from a hand-built
//! state into ratatui's TestBackend (insta snapshots), and `update` driven as
//! the pure function it is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::style::Color;
use ratatui::Terminal;

use sandbox_tui::execution::{ErrorInfo, ExecResult, Status};
use sandbox_tui::files::{FileEntry, FileHead};
use sandbox_tui::manager::{ExecutionView, Launch, SandboxView};
use sandbox_tui::monitor::{HostInfo, ProcessInfo};
use sandbox_tui::netproxy::NetworkRefusal;
use sandbox_tui::profile::{Config, Diagnostic, Profile};
use sandbox_tui::python::PythonJob;
use sandbox_tui::state::db::ExecutionRecord;
use sandbox_tui::tui::action::{
    Action, ConfigOutcome, Effect, LineKind, LogLine, LogTail, Outcome, SignalChoice, Snapshot,
    Subject,
};
use sandbox_tui::tui::app::{
    App, ConfigView, Environment, FileView, FilesPane, InputKind, KillTarget, LaunchField, Overlay,
    Pane, Screen, Tab, UsageSort,
};
use sandbox_tui::tui::keys::{self, Binding, Ctx, When, BINDINGS};
use sandbox_tui::tui::theme::Theme;
use sandbox_tui::tui::update::update;
use sandbox_tui::tui::view;

const NOW: i64 = 1_700_000_000_000;
const MIB: u64 = 1024 * 1024;

fn sandbox(name: &str, profile: &str, cpu_ms: u64, memory: u64, procs: u64) -> SandboxView {
    let mut limits = Profile::defaults(profile);
    if profile == "strict" {
        limits.max_memory_mb = 128;
        limits.cpu_quota = Some(0.5);
    }
    SandboxView {
        name: name.into(),
        profile: profile.into(),
        state: "ready".into(),
        running: 0,
        queued: 0,
        total: 0,
        cpu_ms,
        memory_bytes: memory,
        memory_limit_bytes: limits.max_memory_mb * MIB,
        processes: procs,
        max_processes: limits.max_process_count,
        created_at: NOW - 3_600_000,
        workspace: PathBuf::from(format!("/var/lib/sandbox-tui/sandboxes/{name}/workspace")),
        ephemeral: false,
        uid: None,
        limits,
    }
}

fn execution(id: &str, sandbox: &str, seq: i64, status: Status, command: &[&str]) -> ExecutionView {
    let started = NOW - 90_000 + seq * 1000;
    let ended = status.is_final().then_some(started + 4_200);
    let result = (status == Status::Completed).then(|| ExecResult {
        id: id.into(),
        sandbox: sandbox.into(),
        profile: "default".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        status,
        exit_code: Some(0),
        signal: None,
        duration_ms: 4_200,
        cpu_ms: 310,
        supervisor_cpu_ms: 0,
        peak_memory_bytes: 12 * MIB,
        stdout: "hello from the sandbox\nsecond line\n".into(),
        stderr: String::new(),
        stdout_encoding: "utf-8".into(),
        stderr_encoding: "utf-8".into(),
        stdout_truncated: false,
        stderr_truncated: false,
        stdout_bytes: 35,
        stderr_bytes: 0,
        error: None,
        result: None,
        result_non_json: false,
        network_refusals: Vec::new(),
        degraded: Vec::new(),
    });
    let record = ExecutionRecord {
        id: id.into(),
        sandbox: sandbox.into(),
        seq,
        kind: "command".into(),
        command: command.iter().map(|s| s.to_string()).collect(),
        status,
        timeout_ms: 60_000,
        supervisor_pid: Some(4000 + seq as i32),
        supervisor_start: Some(1),
        init_pid: Some(5000 + seq as i32),
        queued_at: started - 10,
        started_at: (status != Status::Queued).then_some(started),
        ended_at: ended,
        exit_code: match status {
            Status::Completed => Some(0),
            Status::Failed => Some(2),
            _ => None,
        },
        signal: (status == Status::Killed).then_some(9),
        cpu_ms: status.is_final().then_some(310),
        peak_memory_bytes: status.is_final().then_some(12 * MIB),
        error: (status == Status::Denied)
            .then(|| "command \"curl\" is not in allowed_commands".to_string()),
        result,
        stdout_log: PathBuf::from(format!("/tmp/{id}.stdout")),
        stderr_log: PathBuf::from(format!("/tmp/{id}.stderr")),
    };
    let running = status == Status::Running;
    ExecutionView {
        record,
        memory_bytes: if running { 48 * MIB } else { 12 * MIB },
        live_cpu_ms: if running { 61_000 } else { 310 },
    }
}

fn process(pid: i32, ppid: i32, command: &str, cpu: f32) -> ProcessInfo {
    ProcessInfo {
        pid,
        ppid: Some(ppid),
        command: command.into(),
        state: if cpu > 1.0 {
            "Runnable".into()
        } else {
            "Sleeping".into()
        },
        cpu_percent: cpu,
        cpu_ms: 1000,
        rss_bytes: 3 * MIB,
        threads: 1,
    }
}

/// Three sandboxes; `web` has a runaway loop, a finished job and a denied one.
fn snapshot(at: i64, cpu_base: u64) -> Snapshot {
    let mut web = sandbox("web", "default", cpu_base + 1_000, 60 * MIB, 4);
    web.running = 2;
    web.total = 4;
    let mut batch = sandbox("batch", "strict", cpu_base / 2, 120 * MIB, 1);
    batch.running = 0;
    batch.queued = 1;
    batch.total = 2;
    let idle = sandbox("idle", "default", 0, 0, 0);
    Snapshot {
        taken_at_ms: at,
        host: HostInfo {
            cpu_percent: 42.5,
            cpus: 8,
            memory_used_bytes: 6 * 1024 * MIB,
            memory_total_bytes: 16 * 1024 * MIB,
        },
        sandboxes: vec![web, batch, idle],
        executions: vec![
            execution(
                "a1b2c3",
                "web",
                1,
                Status::Completed,
                &["python3", "-c", "print('hello')"],
            ),
            execution("d4e5f6", "web", 2, Status::Denied, &["curl", "example.com"]),
            execution(
                "0a0b0c",
                "web",
                3,
                Status::Running,
                &["sh", "-c", "while :; do :; done"],
            ),
            execution(
                "777888",
                "web",
                4,
                Status::Running,
                &["python3", "serve.py"],
            ),
            execution("999aaa", "batch", 5, Status::Killed, &["make", "-j8"]),
            execution("bbbccc", "batch", 6, Status::Queued, &["make", "test"]),
        ],
        subject: Subject::All,
        processes: vec![
            process(100, 1, "sandbox-tui-init __init", 0.0),
            process(101, 100, "sh -c while :; do :; done", 99.7),
            process(200, 1, "sandbox-tui-init __init", 0.0),
            process(201, 200, "python3 serve.py", 2.0),
            process(202, 201, "python3 worker.py", 0.5),
        ],
        logs: None,
        error: None,
    }
}

fn base_app() -> App {
    let theme = Theme::load("default", None).expect("default theme");
    let env = Environment {
        state_dir: PathBuf::from("/var/lib/sandbox-tui"),
        degraded: vec![("landlock".into(), "not supported by this kernel".into())],
    };
    let mut config = ConfigView::from_config(&Config::builtin());
    config.path = Some(PathBuf::from("/etc/sandbox-tui/sandboxes.toml"));
    // The file has the profiles the sandboxes were made with.
    for p in &mut config.profiles {
        *p = sandbox("x", &p.name, 0, 0, 0).limits;
    }
    let mut app = App::new(theme, 1000, env, config);
    // Two samples one second apart: web used 1.5 s of CPU in that second.
    update(
        &mut app,
        Action::Snapshot(Box::new(snapshot(NOW - 1000, 10_000))),
    );
    update(&mut app, Action::Snapshot(Box::new(snapshot(NOW, 11_500))));
    app
}

fn render(app: &mut App, w: u16, h: u16) -> Terminal<TestBackend> {
    update(app, Action::Resize(w, h));
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|frame| view::draw(frame, app)).expect("draw");
    terminal
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    format!("{}", render(app, w, h).backend())
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn left_click(column: u16, row: u16) -> MouseEvent {
    MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }
}

fn keys(app: &mut App, text: &str) -> Vec<Effect> {
    let mut effects = Vec::new();
    for c in text.chars() {
        effects.extend(press(app, KeyCode::Char(c)));
    }
    effects
}

/// Focus the executions of `web` with the runaway loop selected.
fn select_runaway(app: &mut App) {
    keys(app, "/web");
    press(app, KeyCode::Enter);
    keys(app, "j"); // (all) -> web
    press(app, KeyCode::Enter); // drill down to its executions
    assert_eq!(app.focus, Pane::Executions);
    // Newest first: 777888, 0a0b0c, ...
    keys(app, "j");
    assert_eq!(app.selected_execution.as_deref(), Some("0a0b0c"));
}

// ---------------------------------------------------------------- snapshots

#[test]
fn main_view_80x24() {
    let mut app = base_app();
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

/// At the smallest size every pane still shows a row of its table.
#[test]
fn main_view_at_the_minimum_size_shows_a_row_in_each_pane() {
    let mut app = base_app();
    select_runaway(&mut app);
    let text = screen(&mut app, 60, 16);
    assert!(text.contains("0a0b0c"), "no execution row:\n{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn main_view_160x48() {
    let mut app = base_app();
    keys(&mut app, "jjj"); // web
    let mut snap = snapshot(NOW + 1000, 13_000);
    snap.subject = Subject::Sandbox("web".into());
    snap.processes.truncate(2);
    update(&mut app, Action::Snapshot(Box::new(snap)));
    insta::assert_snapshot!(screen(&mut app, 160, 48));
}

#[test]
fn executions_and_execution_detail() {
    let mut app = base_app();
    keys(&mut app, "jjj"); // web
    press(&mut app, KeyCode::Enter);
    keys(&mut app, "jjj"); // the completed one
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Detail);
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn sandbox_detail_lists_every_limit() {
    let mut app = base_app();
    keys(&mut app, "j"); // batch (strict)
    keys(&mut app, "i");
    insta::assert_snapshot!(screen(&mut app, 100, 50));
}

#[test]
fn process_tree_with_a_collapsed_node() {
    let mut app = base_app();
    keys(&mut app, "t");
    keys(&mut app, "jj"); // pid 200
    press(&mut app, KeyCode::Enter);
    assert!(app.collapsed.contains(&200));
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

fn with_logs(app: &mut App) {
    select_runaway(app);
    keys(app, "l");
    let mut snap = snapshot(NOW + 1000, 13_000);
    snap.subject = Subject::Execution("0a0b0c".into());
    snap.processes.clear();
    snap.logs = Some(LogTail {
        id: "0a0b0c".into(),
        lines: (1..=40)
            .map(|i| LogLine::new(LineKind::Stdout, format!("tick {i}")))
            .chain([LogLine::new(LineKind::Stderr, "warning: spinning")])
            .collect(),
        truncated: false,
    });
    update(app, Action::Snapshot(Box::new(snap)));
}

#[test]
fn logs_follow_and_search() {
    let mut app = base_app();
    with_logs(&mut app);
    insta::assert_snapshot!("logs_following", screen(&mut app, 80, 24));
    keys(&mut app, "/tick 1");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.log_scroll, Some(0), "first match is line 0");
    keys(&mut app, "n");
    assert_eq!(app.log_scroll, Some(9), "tick 10");
    keys(&mut app, "N");
    assert_eq!(app.log_scroll, Some(0));
    insta::assert_snapshot!("logs_search", screen(&mut app, 80, 24));
}

#[test]
fn charts_of_a_sandbox() {
    let mut app = base_app();
    for i in 1..30 {
        update(
            &mut app,
            Action::Snapshot(Box::new(snapshot(
                NOW + i * 1000,
                11_500 + (i as u64 % 7) * 200,
            ))),
        );
    }
    keys(&mut app, "j"); // batch: memory limit 128M, cpu quota 50%
    keys(&mut app, "c");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn launch_dialog_shows_a_denial() {
    let mut app = base_app();
    keys(&mut app, "jjj"); // web
    keys(&mut app, "x");
    keys(&mut app, "curl example.com");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        vec![Effect::Launch {
            sandbox: "web".into(),
            launch: Launch::Command(vec!["curl".into(), "example.com".into()]),
            timeout: None,
        }]
    );
    let denied = execution("d4e5f6", "web", 7, Status::Denied, &["curl", "example.com"]);
    update(
        &mut app,
        Action::Done(Outcome::Launched(Ok(Box::new(denied.record)))),
    );
    assert!(
        matches!(app.overlay, Some(Overlay::Launch(_))),
        "stays open"
    );
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn new_sandbox_dialog() {
    let mut app = base_app();
    keys(&mut app, "n");
    keys(&mut app, "scratch");
    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Down);
    insta::assert_snapshot!(screen(&mut app, 80, 24));
    let effects = press(&mut app, KeyCode::Enter);
    let Some(Effect::Create { name, profile }) = effects.first() else {
        panic!("no create effect: {effects:?}");
    };
    assert_eq!(name, "scratch");
    assert!(!profile.is_empty());
}

#[test]
fn confirmations_name_what_dies() {
    let mut app = base_app();
    select_runaway(&mut app);
    keys(&mut app, "K");
    insta::assert_snapshot!("confirm_execution", screen(&mut app, 80, 24));
    press(&mut app, KeyCode::Esc);

    keys(&mut app, "t");
    keys(&mut app, "j");
    keys(&mut app, "K");
    press(&mut app, KeyCode::Right);
    insta::assert_snapshot!("confirm_process", screen(&mut app, 80, 24));
    press(&mut app, KeyCode::Esc);

    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Pane::Sandboxes);
    keys(&mut app, "D");
    insta::assert_snapshot!("confirm_remove", screen(&mut app, 80, 24));
}

#[test]
fn help_overlay() {
    let mut app = base_app();
    keys(&mut app, "?");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
    // It scrolls, and says what is left out.
    press(&mut app, KeyCode::End);
    insta::assert_snapshot!("help_overlay_at_its_end", screen(&mut app, 80, 24));
    press(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none());
}

#[test]
fn help_overlay_small_and_large() {
    let mut app = base_app();
    keys(&mut app, "?");
    insta::assert_snapshot!("help_overlay_60x16", screen(&mut app, 60, 16));
    insta::assert_snapshot!("help_overlay_200x60", screen(&mut app, 200, 60));
}

/// Puts the dashboard where `b` applies.
fn enter_context(app: &mut App, b: &Binding) {
    match b.ctx {
        Ctx::Global | Ctx::Main | Ctx::Sandboxes => app.focus = Pane::Sandboxes,
        Ctx::Executions => app.focus = Pane::Executions,
        Ctx::Tree | Ctx::Logs | Ctx::Files => {
            app.focus = Pane::Inspector;
            app.tab = match b.ctx {
                Ctx::Tree => Tab::Tree,
                Ctx::Logs => Tab::Logs,
                _ => Tab::Files,
            };
        }
        Ctx::Profiles => app.screen = Screen::Profiles,
        Ctx::Cluster => app.screen = Screen::Cluster,
        Ctx::Input => app.input = Some(InputKind::Filter),
        Ctx::Help => app.overlay = Some(Overlay::Help { top: 0 }),
        Ctx::Confirm => {
            keys(app, "t");
            keys(app, "K");
        }
        Ctx::FileView => {
            let head = head(b"one\ntwo\n", 8);
            let view = FileView::new("web".into(), "a.txt".into(), &head);
            app.overlay = Some(Overlay::FileView(Box::new(view)));
        }
        // With (all) selected the dialog starts on the sandbox list.
        Ctx::Launch => {
            keys(app, "x");
        }
        Ctx::Create => {
            keys(app, "n");
        }
    }
    match b.when {
        When::Always => {}
        When::Searching => app.log_search = Some("line".into()),
        When::Unwrapped => app.log_wrap = false,
        When::Process | When::CommandLine | When::Target | When::NotCode | When::Name => {}
        When::Python | When::Code => {
            ctrl(app, 'p');
        }
        When::OneLine | When::Text => {
            press(app, KeyCode::Enter);
        }
        When::ProfileList => {
            press(app, KeyCode::Tab);
        }
        When::ClusterGiven => app.cluster.address = Some("ray://head:8265".into()),
        When::BelowRoot => {
            let mut pane = FilesPane::new("web".into());
            pane.dir = "sub".into();
            app.files = Some(pane);
        }
    }
}

/// Every key of every row of the table reaches that row where the row
/// applies, and the dashboard takes it (no "no such key" hint).
#[test]
fn every_binding_is_reachable() {
    for b in BINDINGS {
        for key in b.keys {
            let mut app = base_app();
            enter_context(&mut app, b);
            let modifiers = if key.ctrl {
                KeyModifiers::CONTROL
            } else {
                KeyModifiers::NONE
            };
            let event = KeyEvent::new(key.code, modifiers);
            let found = keys::lookup(&app, &keys::contexts(&app), &event);
            assert!(
                found.is_some_and(|f| std::ptr::eq(f, b)),
                "{} in {:?} reaches {:?}, not {:?}",
                key.name(),
                b.ctx,
                found.map(|f| f.cmd),
                b.cmd
            );
            update(&mut app, Action::Key(event));
            let hint = app
                .status
                .as_ref()
                .map(|s| s.text.clone())
                .unwrap_or_default();
            assert!(!hint.contains("no such key"), "{}: {hint}", key.name());
        }
    }
}

/// The help lists every row, with its keys, and the footer's words come
/// from rows that apply.
#[test]
fn help_lists_every_binding() {
    let mut app = base_app();
    keys(&mut app, "?");
    let text = screen(&mut app, 240, 100);
    for ctx in Ctx::ALL {
        assert!(text.contains(ctx.title()), "section {ctx:?}");
    }
    for b in BINDINGS {
        let start: String = b.help.split(' ').take(3).collect::<Vec<_>>().join(" ");
        let keys = keys::keys_text(b.keys);
        let first_key = keys.split(' ').next().unwrap_or_default();
        assert!(
            text.lines()
                .any(|l| l.contains(&start) && l.contains(first_key)),
            "{:?} {keys} {start:?} not in the help:\n{text}",
            b.cmd
        );
    }
    // The launch dialog's keys are named where x is.
    assert!(text.contains("Ctrl-P") && text.contains("Ctrl-S"));
}

#[test]
fn profiles_view_with_errors() {
    let mut app = base_app();
    keys(&mut app, "p");
    assert_eq!(app.screen, Screen::Profiles);
    update(
        &mut app,
        Action::Done(Outcome::Config(ConfigOutcome::Invalid(vec![Diagnostic {
            file: "/etc/sandbox-tui/sandboxes.toml".into(),
            line: 12,
            column: 17,
            key: "profiles.strict.max_memory_mb".into(),
            message: "expected a positive integer".into(),
            profile: Some("strict".into()),
        }]))),
    );
    insta::assert_snapshot!(screen(&mut app, 80, 24));
    assert_eq!(keys(&mut app, "r"), vec![Effect::ReloadConfig]);
    assert_eq!(
        keys(&mut app, "e"),
        vec![Effect::OpenEditor {
            path: PathBuf::from("/etc/sandbox-tui/sandboxes.toml")
        }]
    );
}

/// Every key of a profile is reachable on a small terminal: the detail says
/// how many rows are below, and PgDn/PgUp scroll it (down to gpus, env,
/// extends and --set), back to the top on another profile.
#[test]
fn profiles_detail_scrolls_to_every_key_on_a_small_terminal() {
    let mut app = base_app();
    keys(&mut app, "p");
    let hint = |s: &str| {
        s.lines()
            .find(|l| l.contains("more (PgUp PgDn)"))
            .map(str::to_owned)
    };
    let first = screen(&mut app, 80, 24);
    let first_hint = hint(&first).unwrap_or_default();
    assert!(
        first_hint.contains("↓") && !first_hint.contains("↑"),
        "{first}"
    );
    assert!(!first.contains("gpus"), "{first}");
    press(&mut app, KeyCode::PageDown);
    let below = screen(&mut app, 80, 24);
    for key in ["gpus", "warm", "backend", "extends", "--set"] {
        assert!(below.contains(key), "{key} not shown:\n{below}");
    }
    let below_hint = hint(&below).unwrap_or_default();
    assert!(
        below_hint.contains("↑") && !below_hint.contains("↓"),
        "{below}"
    );
    insta::assert_snapshot!(below);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(
        screen(&mut app, 80, 24),
        below,
        "PgDn stops at the last row"
    );
    press(&mut app, KeyCode::PageUp);
    assert_eq!(screen(&mut app, 80, 24), first);
    press(&mut app, KeyCode::PageDown);
    keys(&mut app, "j");
    assert_eq!(
        app.config.detail_top, 0,
        "another profile starts at its top"
    );
    // At 120x40 everything fits: no hint, and PgDn changes nothing.
    let big = screen(&mut app, 120, 40);
    assert!(big.contains("gpus") && hint(&big).is_none(), "{big}");
}

/// One bad profile does not lock the operator out: the dashboard opens with
/// the usable profiles, says in the header that some are invalid, and the
/// Profiles screen lists them marked, with their problems, ready for `e`.
#[test]
fn invalid_profiles_are_marked_and_the_rest_stay_usable() {
    let text = "[profiles.default]\n[profiles.strict]\nmax_memory_mb = \"lots\"\n\
                [profiles.tight]\nextends = \"strict\"\n";
    let config = Config::parse(text, Path::new("/etc/sandbox-tui/sandboxes.toml"))
        .expect("a bad profile leaves the file usable");
    let theme = Theme::load("default", None).expect("default theme");
    let mut app = App::new(
        theme,
        1000,
        Environment::default(),
        ConfigView::from_config(&config),
    );
    update(&mut app, Action::Snapshot(Box::new(snapshot(NOW, 11_500))));
    let main = screen(&mut app, 100, 24);
    assert!(main.contains("✗ 2 invalid profile(s): p"), "{main}");
    keys(&mut app, "p");
    let list = screen(&mut app, 100, 16);
    insta::assert_snapshot!(list);
    keys(&mut app, "j");
    insta::assert_snapshot!("invalid_profile_detail", screen(&mut app, 100, 16));
    keys(&mut app, "j");
    insta::assert_snapshot!(
        "profile_extending_an_invalid_one",
        screen(&mut app, 100, 16)
    );
    // The cursor stops at the last entry.
    keys(&mut app, "jj");
    assert_eq!(app.config.selected, 2);
    assert_eq!(
        keys(&mut app, "e"),
        vec![Effect::OpenEditor {
            path: PathBuf::from("/etc/sandbox-tui/sandboxes.toml")
        }]
    );
}

#[test]
fn filter_input_in_the_footer() {
    let mut app = base_app();
    keys(&mut app, "/ba");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn tiny_terminal_does_not_panic() {
    let mut app = base_app();
    for (w, h) in [(1, 1), (20, 5), (40, 10), (80, 3), (59, 30), (100, 15)] {
        render(&mut app, w, h);
        keys(&mut app, "x");
        render(&mut app, w, h);
        press(&mut app, KeyCode::Esc);
    }
    insta::assert_snapshot!("terminal_too_small", screen(&mut app, 40, 10));
}

#[test]
fn no_color_uses_no_colours_and_reverses_the_selection() {
    let mut app = base_app();
    app.theme = app.theme.clone().without_color();
    keys(&mut app, "j");
    let terminal = render(&mut app, 80, 24);
    let buffer = terminal.backend().buffer();
    let mut reversed = false;
    for cell in buffer.content() {
        assert_eq!(cell.fg, Color::Reset, "fg colour in {:?}", cell.symbol());
        assert_eq!(cell.bg, Color::Reset, "bg colour in {:?}", cell.symbol());
        reversed |= cell.modifier.contains(ratatui::style::Modifier::REVERSED);
    }
    assert!(reversed, "the selection is shown in reverse video");
}

#[test]
fn every_theme_renders() {
    for name in sandbox_tui::tui::theme::BUILTIN {
        let mut app = base_app();
        app.theme = Theme::load(name, None).expect("theme");
        render(&mut app, 80, 24);
    }
}

// ---------------------------------------------------------------- update

#[test]
fn cpu_percent_comes_from_the_change_in_cpu_time() {
    let app = base_app();
    let web = app
        .sandboxes
        .iter()
        .find(|r| r.view.name == "web")
        .expect("web");
    // 1500 ms of CPU in 1000 ms of wall time: one and a half cores.
    assert!(
        (web.cpu_percent - 150.0).abs() < 0.01,
        "{}",
        web.cpu_percent
    );
    let batch = app
        .sandboxes
        .iter()
        .find(|r| r.view.name == "batch")
        .expect("batch");
    assert!((batch.cpu_percent - 75.0).abs() < 0.01);
}

#[test]
fn navigation_moves_between_rows_and_panes() {
    let mut app = base_app();
    assert_eq!(app.selected_sandbox, None, "starts on (all)");
    assert_eq!(app.visible_executions().len(), 6);
    keys(&mut app, "j");
    assert_eq!(app.selected_sandbox.as_deref(), Some("batch"));
    assert_eq!(app.visible_executions().len(), 2);
    assert_eq!(app.selected_execution.as_deref(), Some("bbbccc"));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(
        app.selected_sandbox.as_deref(),
        Some("web"),
        "stops at the end"
    );
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Pane::Executions);
    assert_eq!(app.subject(), Subject::Execution("777888".into()));
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Pane::Inspector);
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Pane::Sandboxes);
    assert_eq!(app.subject(), Subject::Sandbox("web".into()));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.selected_sandbox, None, "Esc goes back to (all)");
}

#[test]
fn sort_cycles_and_reverses() {
    let mut app = base_app();
    let names = |app: &App| -> Vec<String> {
        app.visible_sandboxes()
            .iter()
            .map(|r| r.view.name.clone())
            .collect()
    };
    assert_eq!(names(&app), ["batch", "idle", "web"]);
    keys(&mut app, "S");
    assert_eq!(names(&app), ["web", "idle", "batch"]);
    keys(&mut app, "S");
    keys(&mut app, "ssss"); // profile, state, execs, cpu
    assert_eq!(names(&app), ["idle", "batch", "web"], "by CPU ascending");
    keys(&mut app, "s"); // memory
    keys(&mut app, "S");
    assert_eq!(
        names(&app),
        ["batch", "web", "idle"],
        "by memory descending"
    );
}

#[test]
fn filter_narrows_and_escape_clears() {
    let mut app = base_app();
    keys(&mut app, "/we");
    assert_eq!(app.visible_sandboxes().len(), 1);
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.filter, "we");
    assert_eq!(app.input, None);
    // Keys act normally again once the filter is kept.
    keys(&mut app, "j");
    assert_eq!(app.selected_sandbox.as_deref(), Some("web"));
    keys(&mut app, "/");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.filter, "");
    assert_eq!(app.visible_sandboxes().len(), 3);
}

#[test]
fn kill_asks_first_and_cancel_kills_nothing() {
    let mut app = base_app();
    select_runaway(&mut app);
    assert_eq!(keys(&mut app, "K"), vec![]);
    let Some(Overlay::Confirm(confirm)) = &app.overlay else {
        panic!("no confirmation");
    };
    assert_eq!(
        confirm.target,
        KillTarget::Execution {
            id: "0a0b0c".into(),
            sandbox: "web".into(),
            command: "sh -c 'while :; do :; done'".into(),
        }
    );
    assert_eq!(keys(&mut app, "n"), vec![]);
    assert!(app.overlay.is_none());
    // F9 is K's alias; Enter confirms like y.
    press(&mut app, KeyCode::F(9));
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::KillExecution {
            id: "0a0b0c".into()
        }]
    );
    assert!(app.overlay.is_none());
    update(
        &mut app,
        Action::Done(Outcome::Killed(Ok("execution 0a0b0c is killed".into()))),
    );
    assert_eq!(
        app.status.as_ref().map(|s| s.text.as_str()),
        Some("execution 0a0b0c is killed")
    );
}

#[test]
fn kill_of_a_finished_execution_is_refused() {
    let mut app = base_app();
    select_runaway(&mut app);
    keys(&mut app, "jj"); // a1b2c3: completed
    assert_eq!(keys(&mut app, "K"), vec![]);
    assert!(app.overlay.is_none());
    assert!(app.status.as_ref().is_some_and(|s| s.error));
}

#[test]
fn kill_from_the_sandboxes_pane_kills_the_sandboxes_executions() {
    let mut app = base_app();
    keys(&mut app, "jjj"); // web
    keys(&mut app, "K");
    let Some(Overlay::Confirm(c)) = &app.overlay else {
        panic!("no confirmation");
    };
    assert_eq!(
        c.target,
        KillTarget::Sandbox {
            name: "web".into(),
            active: 2
        }
    );
    assert_eq!(
        keys(&mut app, "y"),
        vec![Effect::KillSandbox { name: "web".into() }]
    );
}

#[test]
fn signal_choice_for_a_single_process() {
    let mut app = base_app();
    keys(&mut app, "t");
    keys(&mut app, "j"); // pid 101
    keys(&mut app, "K");
    press(&mut app, KeyCode::Right);
    assert_eq!(
        keys(&mut app, "y"),
        vec![Effect::SignalProcess {
            sandbox: None,
            pid: 101,
            signal: SignalChoice::Kill
        }]
    );
    keys(&mut app, "K");
    keys(&mut app, "4");
    assert_eq!(
        keys(&mut app, "y"),
        vec![Effect::SignalProcess {
            sandbox: None,
            pid: 101,
            signal: SignalChoice::Hup
        }]
    );
}

#[test]
fn remove_asks_and_removes() {
    let mut app = base_app();
    keys(&mut app, "j");
    keys(&mut app, "D");
    assert_eq!(
        keys(&mut app, "y"),
        vec![Effect::RemoveSandbox {
            name: "batch".into()
        }]
    );
    update(&mut app, Action::Done(Outcome::Removed(Ok("batch".into()))));
    assert_eq!(app.selected_sandbox, None);
}

#[test]
fn launch_dialog_produces_a_launch_effect() {
    let mut app = base_app();
    keys(&mut app, "jj"); // idle
    keys(&mut app, "x");
    keys(&mut app, "yes | head -n 3");
    press(&mut app, KeyCode::Tab);
    keys(&mut app, "90s");
    let effects = press(&mut app, KeyCode::Enter);
    assert_eq!(
        effects,
        vec![Effect::Launch {
            sandbox: "idle".into(),
            launch: Launch::Command(vec!["sh".into(), "-c".into(), "yes | head -n 3".into()]),
            timeout: Some(Duration::from_secs(90)),
        }]
    );
    // Nothing happens twice while the launch is on its way.
    assert_eq!(press(&mut app, KeyCode::Enter), vec![]);
    let running = execution(
        "fff000",
        "idle",
        9,
        Status::Queued,
        &["sh", "-c", "yes | head -n 3"],
    );
    update(
        &mut app,
        Action::Done(Outcome::Launched(Ok(Box::new(running.record)))),
    );
    assert!(app.overlay.is_none());
    assert_eq!(app.selected_execution.as_deref(), Some("fff000"));
    assert_eq!(app.focus, Pane::Executions);
}

#[test]
fn launch_dialog_reports_bad_input_without_effects() {
    let mut app = base_app();
    keys(&mut app, "x");
    // With (all) selected the dialog asks for the target first; Enter takes
    // the one shown.
    let Some(Overlay::Launch(d)) = &app.overlay else {
        panic!("no dialog");
    };
    assert_eq!(d.field, LaunchField::Sandbox);
    assert!(d
        .error
        .as_deref()
        .is_some_and(|e| e.starts_with("launch in which sandbox?")));
    assert_eq!(press(&mut app, KeyCode::Enter), vec![]);
    keys(&mut app, "echo 'unclosed");
    assert_eq!(press(&mut app, KeyCode::Enter), vec![]);
    let Some(Overlay::Launch(d)) = &app.overlay else {
        panic!("dialog closed");
    };
    assert_eq!(d.error.as_deref(), Some("command: unclosed ' quote"));
    press(&mut app, KeyCode::Esc);
    assert!(app.overlay.is_none());
}

#[test]
fn quitting_never_kills_anything() {
    let mut app = base_app();
    select_runaway(&mut app);
    assert_eq!(keys(&mut app, "q"), vec![Effect::Quit]);
    assert!(app.quit);
    let mut app = base_app();
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(update(&mut app, Action::Key(ctrl_c)), vec![Effect::Quit]);
}

#[test]
fn mouse_click_selects_and_wheel_scrolls() {
    let mut app = base_app();
    update(&mut app, Action::Resize(80, 24));
    let layout = view::main_layout(ratatui::layout::Rect::new(0, 0, 80, 24), app.focus);
    // Border, column header, (all), batch, idle: the third data row.
    let click = left_click(layout.sandboxes.x + 3, layout.sandboxes.y + 4);
    update(&mut app, Action::Mouse(click));
    assert_eq!(app.selected_sandbox.as_deref(), Some("idle"));
    let wheel = MouseEvent {
        kind: MouseEventKind::ScrollUp,
        ..click
    };
    update(&mut app, Action::Mouse(wheel));
    assert_eq!(app.selected_sandbox, None);
}

#[test]
fn collapse_and_expand_in_the_tree() {
    let mut app = base_app();
    keys(&mut app, "t");
    assert_eq!(app.tree_rows().len(), 5);
    keys(&mut app, "jj"); // 200
    keys(&mut app, "-");
    assert_eq!(app.tree_rows().len(), 3);
    keys(&mut app, "+");
    assert_eq!(app.tree_rows().len(), 5);
    keys(&mut app, " ");
    assert_eq!(app.tree_rows().len(), 3);
}

#[test]
fn a_failed_sample_keeps_the_last_figures() {
    let mut app = base_app();
    update(
        &mut app,
        Action::Snapshot(Box::new(Snapshot {
            error: Some("database is locked".into()),
            ..Snapshot::default()
        })),
    );
    assert_eq!(app.sandboxes.len(), 3);
    assert!(screen(&mut app, 80, 24).contains("database is locked"));
}

#[test]
fn sample_request_follows_the_selection() {
    let mut app = base_app();
    assert_eq!(app.sample_request().subject, Subject::All);
    assert_eq!(app.sample_request().logs_of, None);
    select_runaway(&mut app);
    keys(&mut app, "l");
    let request = app.sample_request();
    assert_eq!(request.subject, Subject::Execution("0a0b0c".into()));
    assert_eq!(request.logs_of.as_deref(), Some("0a0b0c"));
}

fn ctrl(app: &mut App, c: char) -> Vec<Effect> {
    update(
        app,
        Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)),
    )
}

#[test]
fn python_launch_dialog_runs_a_snippet() {
    let mut app = base_app();
    keys(&mut app, "jj"); // idle
    keys(&mut app, "x");
    ctrl(&mut app, 'p');
    keys(&mut app, "x = 20");
    // Enter is a new line in the code, not a launch.
    assert_eq!(press(&mut app, KeyCode::Enter), vec![]);
    keys(&mut app, "return x + 1");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
    let effects = ctrl(&mut app, 's');
    assert_eq!(
        effects,
        vec![Effect::Launch {
            sandbox: "idle".into(),
            launch: Launch::Python(PythonJob {
                code: "x = 20\nreturn x + 1".into(),
                ..PythonJob::default()
            }),
            timeout: None,
        }]
    );
}

#[test]
fn python_execution_detail_shows_value_and_traceback() {
    let mut snap = snapshot(NOW, 11_500);
    let mut ok = execution(
        "c0ffee",
        "idle",
        10,
        Status::Completed,
        &["python3", "<snippet: return 2 + 2>"],
    );
    ok.record.kind = "python".into();
    if let Some(result) = ok.record.result.as_mut() {
        result.result = Some(serde_json::json!({"answer": 4, "items": [1, 2]}));
        result.stdout = "computing\n".into();
    }
    let mut failed = execution(
        "badc0d",
        "idle",
        11,
        Status::Completed,
        &["python3", "<snippet: return 1 / 0>"],
    );
    failed.record.kind = "python".into();
    failed.record.status = Status::Failed;
    failed.record.exit_code = Some(1);
    failed.record.error = Some("ZeroDivisionError: division by zero".into());
    if let Some(result) = failed.record.result.as_mut() {
        result.status = Status::Failed;
        result.stdout = String::new();
        result.error = Some(ErrorInfo::Exception {
            kind: "ZeroDivisionError".into(),
            message: "division by zero".into(),
            traceback: "Traceback (most recent call last):\n  File \"<snippet>\", line 2, in __snippet__\n    return 1 / 0\nZeroDivisionError: division by zero\n".into(),
            line: None,
        });
    }
    snap.executions = vec![ok, failed];
    let mut app = base_app();
    update(&mut app, Action::Snapshot(Box::new(snap)));
    keys(&mut app, "jj"); // idle
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Enter); // the newest: the failed one
    assert_eq!(app.tab, Tab::Detail);
    let failed_screen = screen(&mut app, 100, 40);
    assert!(
        failed_screen.contains("ZeroDivisionError"),
        "{failed_screen}"
    );
    insta::assert_snapshot!("python_failed_detail", failed_screen);
    keys(&mut app, "j");
    press(&mut app, KeyCode::Enter);
    let ok_screen = screen(&mut app, 100, 40);
    insta::assert_snapshot!("python_result_detail", ok_screen);
}

// ---------------------------------------------------------------- files

fn entry(name: &str, kind: &'static str, size: u64, age_ms: i64) -> FileEntry {
    FileEntry {
        name: name.into(),
        kind,
        size,
        mtime: NOW - age_ms,
    }
}

/// As `list` returns them: by name only.
fn workspace_root() -> Vec<FileEntry> {
    vec![
        entry("data", "dir", 4096, 3_600_000),
        entry("fifo", "fifo", 0, 60_000),
        entry("latest", "symlink", 7, 120_000),
        entry("notes.txt", "file", 1234, 300_000),
        entry("out.bin", "file", 70_000, 30_000),
        entry("src", "dir", 4096, 7_200_000),
    ]
}

fn listed(sandbox: &str, dir: &str, entries: Vec<FileEntry>) -> Action {
    Action::Done(Outcome::Listed {
        sandbox: sandbox.into(),
        dir: dir.into(),
        result: Ok(entries),
    })
}

/// `web` selected, the Files tab open on its workspace root, listed.
fn files_of_web(app: &mut App) {
    keys(app, "jjj"); // web
    assert_eq!(
        keys(app, "w"),
        vec![Effect::ListFiles {
            sandbox: "web".into(),
            dir: String::new()
        }]
    );
    assert_eq!((app.focus, app.tab), (Pane::Inspector, Tab::Files));
    update(app, listed("web", "", workspace_root()));
}

fn files(app: &App) -> &FilesPane {
    app.files.as_ref().expect("files pane")
}

fn names(app: &App) -> Vec<&str> {
    files(app).entries.iter().map(|e| e.name.as_str()).collect()
}

/// Put the cursor on `name` with j/k.
fn select_entry(app: &mut App, name: &str) {
    keys(app, "g");
    let at = names(app)
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("{name} not listed"));
    for _ in 0..at {
        keys(app, "j");
    }
    assert_eq!(
        files(app).selected_entry().map(|e| e.name.as_str()),
        Some(name)
    );
}

/// The answer to reading `path` of web's workspace arrives.
fn file_read(app: &mut App, path: &str, head: FileHead) {
    update(
        app,
        Action::Done(Outcome::FileRead {
            sandbox: "web".into(),
            path: path.into(),
            result: Ok(head),
        }),
    );
}

fn head(text: &[u8], size: u64) -> FileHead {
    FileHead {
        data: text.to_vec(),
        size,
        truncated: size > text.len() as u64,
    }
}

#[test]
fn files_tab_lists_directories_first() {
    let mut app = base_app();
    files_of_web(&mut app);
    assert_eq!(
        names(&app),
        ["data", "src", "fifo", "latest", "notes.txt", "out.bin"]
    );
    assert!(!files(&app).loading);
    // A late answer for another directory changes nothing.
    update(
        &mut app,
        listed("web", "src", vec![entry("x", "file", 1, 0)]),
    );
    assert_eq!(names(&app).len(), 6);
    // Another sandbox in the inspector lists that one's workspace.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.focus, Pane::Sandboxes);
    assert_eq!(
        keys(&mut app, "k"), // idle
        vec![Effect::ListFiles {
            sandbox: "idle".into(),
            dir: String::new()
        }]
    );
    assert_eq!(files(&app).sandbox, "idle");
    // (all) has no workspace.
    keys(&mut app, "kk");
    assert_eq!(app.selected_sandbox, None);
    assert!(app.files.is_none());
}

fn refresh(app: &mut App, seconds: i64) -> Vec<Effect> {
    update(
        app,
        Action::Snapshot(Box::new(snapshot(
            NOW + seconds * 1000,
            11_500 + seconds as u64 * 1000,
        ))),
    )
}

#[test]
fn files_tab_lists_again_each_refresh_and_keeps_the_cursor() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "notes.txt");
    let again = vec![Effect::ListFiles {
        sandbox: "web".into(),
        dir: String::new(),
    }];
    assert_eq!(refresh(&mut app, 1), again);
    assert_eq!(refresh(&mut app, 2), [], "one listing at a time");
    // The sandbox made a file that sorts above the cursor, which stays put.
    let mut grown = workspace_root();
    grown.push(entry("a.txt", "file", 1, 0));
    update(&mut app, listed("web", "", grown.clone()));
    assert_eq!(
        names(&app),
        [
            "data",
            "src",
            "a.txt",
            "fifo",
            "latest",
            "notes.txt",
            "out.bin"
        ]
    );
    assert_eq!(
        files(&app).selected_entry().map(|e| e.name.as_str()),
        Some("notes.txt")
    );
    assert!(app.dirty);
    // The usual case: nothing changed, nothing to redraw.
    assert_eq!(refresh(&mut app, 3), again);
    app.dirty = false;
    update(&mut app, listed("web", "", grown));
    assert!(!app.dirty, "an unchanged listing redraws nothing");
    // Not while a file is open over the list.
    file_read(&mut app, "notes.txt", head(b"hello\n", 6));
    assert!(app.overlay.is_some());
    assert_eq!(refresh(&mut app, 4), []);
}

#[test]
fn files_enter_descends_and_backspace_goes_back_up() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "src");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::ListFiles {
            sandbox: "web".into(),
            dir: "src".into()
        }]
    );
    assert_eq!(files(&app).dir, "src");
    assert!(files(&app).loading);
    update(
        &mut app,
        listed(
            "web",
            "src",
            vec![
                entry("main.py", "file", 10, 0),
                entry("lib", "dir", 4096, 0),
            ],
        ),
    );
    assert_eq!(press(&mut app, KeyCode::Enter).len(), 1, "into src/lib");
    assert_eq!(files(&app).dir, "src/lib");
    update(&mut app, listed("web", "src/lib", Vec::new()));
    assert_eq!(
        press(&mut app, KeyCode::Backspace),
        vec![Effect::ListFiles {
            sandbox: "web".into(),
            dir: "src".into()
        }]
    );
    update(
        &mut app,
        listed(
            "web",
            "src",
            vec![
                entry("a.py", "file", 10, 0),
                entry("lib", "dir", 4096, 0),
                entry("main.py", "file", 10, 0),
            ],
        ),
    );
    assert_eq!(
        files(&app).selected_entry().map(|e| e.name.as_str()),
        Some("lib"),
        "the cursor is on where we came from"
    );
    assert_eq!(
        press(&mut app, KeyCode::Esc),
        vec![Effect::ListFiles {
            sandbox: "web".into(),
            dir: String::new()
        }]
    );
    update(&mut app, listed("web", "", workspace_root()));
    assert_eq!(
        files(&app).selected_entry().map(|e| e.name.as_str()),
        Some("src")
    );
    // At the root, Backspace does nothing and Esc leaves the pane as elsewhere.
    assert_eq!(press(&mut app, KeyCode::Backspace), vec![]);
    assert_eq!(app.focus, Pane::Inspector);
    assert_eq!(press(&mut app, KeyCode::Esc), vec![]);
    assert_eq!(app.focus, Pane::Executions);
}

#[test]
fn files_view_reads_the_head_and_scrolls() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "data");
    assert_eq!(keys(&mut app, "v"), vec![], "v does not open a directory");
    assert!(app.status.as_ref().is_some_and(|s| s.error));
    select_entry(&mut app, "notes.txt");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::ReadFile {
            sandbox: "web".into(),
            path: "notes.txt".into()
        }]
    );
    assert_eq!(
        keys(&mut app, "v"),
        vec![Effect::ReadFile {
            sandbox: "web".into(),
            path: "notes.txt".into()
        }]
    );
    let text: String = (1..=100).map(|i| format!("line {i}\n")).collect();
    file_read(
        &mut app,
        "notes.txt",
        head(text.as_bytes(), text.len() as u64),
    );
    let view = |app: &App| match &app.overlay {
        Some(Overlay::FileView(v)) => (**v).clone(),
        other => panic!("no viewer: {other:?}"),
    };
    assert_eq!(view(&app).lines.len(), 100);
    assert!(!view(&app).binary && !view(&app).truncated);
    keys(&mut app, "jj");
    assert_eq!(view(&app).top, 2);
    keys(&mut app, "G");
    let bottom = view(&app).top;
    keys(&mut app, "j");
    assert_eq!(view(&app).top, bottom, "stops at the end");
    assert_eq!(view(&app).lines[bottom..].len(), 24 - 2 - 3, "a screenful");
    keys(&mut app, "g");
    assert_eq!(view(&app).top, 0);
    assert_eq!(press(&mut app, KeyCode::Esc), vec![]);
    assert!(app.overlay.is_none());
    assert_eq!(app.tab, Tab::Files, "back in the listing");
}

#[test]
fn file_view_flags_binary_and_truncated_heads() {
    let text = FileView::new("w".into(), "a".into(), &head(b"plain\ttext\n", 11));
    assert_eq!(text.lines, ["plain    text"]);
    assert!(!text.binary && !text.truncated);
    // The 64 KiB cut in the middle of "é" is not a sign of binary data.
    let cut = FileView::new("w".into(), "a".into(), &head(b"caf\xc3", 1 << 20));
    assert_eq!(cut.lines, ["caf"]);
    assert!(!cut.binary && cut.truncated);
    let binary = FileView::new("w".into(), "a".into(), &head(b"\x7fELF\x02\x01\x00\xff", 8));
    assert!(binary.binary);
    // Terminal escapes from a hostile file never reach the terminal.
    let hostile = FileView::new("w".into(), "a".into(), &head(b"\x1b[2Jgone", 8));
    assert_eq!(hostile.lines, ["\\x1b[2Jgone"]);
}

#[test]
fn files_delete_asks_first_and_cancel_deletes_nothing() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "src");
    assert_eq!(keys(&mut app, "d"), vec![]);
    assert!(app.overlay.is_none(), "directories are not deleted");
    assert!(app.status.as_ref().is_some_and(|s| s.error));

    select_entry(&mut app, "out.bin");
    assert_eq!(keys(&mut app, "d"), vec![]);
    let Some(Overlay::Confirm(c)) = &app.overlay else {
        panic!("no confirmation");
    };
    assert_eq!(
        c.target,
        KillTarget::DeleteFile {
            sandbox: "web".into(),
            path: "out.bin".into()
        }
    );
    assert_eq!(keys(&mut app, "n"), vec![]);
    assert!(app.overlay.is_none());
    press(&mut app, KeyCode::Delete);
    assert_eq!(press(&mut app, KeyCode::Esc), vec![]);
    assert!(app.overlay.is_none());
    assert_eq!(app.focus, Pane::Inspector, "Esc only closed the dialog");

    press(&mut app, KeyCode::Delete);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::DeleteFile {
            sandbox: "web".into(),
            path: "out.bin".into()
        }]
    );
    let effects = update(
        &mut app,
        Action::Done(Outcome::FileDeleted {
            sandbox: "web".into(),
            path: "out.bin".into(),
            result: Ok(()),
        }),
    );
    assert_eq!(
        effects,
        vec![Effect::ListFiles {
            sandbox: "web".into(),
            dir: String::new()
        }],
        "the listing is read again"
    );
    assert_eq!(
        app.status.as_ref().map(|s| s.text.as_str()),
        Some("deleted web:out.bin")
    );
    let mut after = workspace_root();
    after.retain(|e| e.name != "out.bin");
    update(&mut app, listed("web", "", after));
    assert_eq!(
        files(&app).selected_entry().map(|e| e.name.as_str()),
        Some("notes.txt"),
        "the cursor stays near where the file was"
    );
}

#[test]
fn files_reload_keeps_the_cursor_on_its_entry() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "notes.txt");
    assert_eq!(
        keys(&mut app, "r"),
        vec![Effect::ListFiles {
            sandbox: "web".into(),
            dir: String::new()
        }]
    );
    let mut more = workspace_root();
    more.push(entry("a-new-file", "file", 1, 0));
    update(&mut app, listed("web", "", more));
    assert_eq!(
        files(&app).selected_entry().map(|e| e.name.as_str()),
        Some("notes.txt")
    );
    // Leaving the tab and coming back lists again.
    keys(&mut app, "i");
    assert_eq!(keys(&mut app, "w").len(), 1);
    assert_eq!(keys(&mut app, "w"), vec![], "already shown");
}

#[test]
fn file_errors_land_in_the_pane_and_the_status_line() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "notes.txt");
    press(&mut app, KeyCode::Enter);
    let effects = update(
        &mut app,
        Action::Done(Outcome::FileRead {
            sandbox: "web".into(),
            path: "notes.txt".into(),
            result: Err("\"notes.txt\": no such file or directory".into()),
        }),
    );
    assert!(app.overlay.is_none());
    assert!(app
        .status
        .as_ref()
        .is_some_and(|s| s.error && s.text.contains("no such file")));
    assert_eq!(effects.len(), 1, "a vanished file: list again");

    // A symlink that leads to a directory is entered.
    select_entry(&mut app, "latest");
    press(&mut app, KeyCode::Enter);
    let effects = update(
        &mut app,
        Action::Done(Outcome::FileIsDirectory {
            sandbox: "web".into(),
            path: "latest".into(),
        }),
    );
    assert_eq!(
        effects,
        vec![Effect::ListFiles {
            sandbox: "web".into(),
            dir: "latest".into()
        }]
    );
    update(
        &mut app,
        Action::Done(Outcome::Listed {
            sandbox: "web".into(),
            dir: "latest".into(),
            result: Err(
                "\"latest\" leads outside the workspace (through a symlink); refused".into(),
            ),
        }),
    );
    assert!(files(&app).error.is_some());
    let shown = screen(&mut app, 80, 24);
    assert!(shown.contains("leads outside the workspace"), "{shown}");
    // Nothing to open or delete in a failed listing; keys are harmless.
    keys(&mut app, "jjkdv");
    press(&mut app, KeyCode::Enter);
    assert!(app.overlay.is_none());
    press(&mut app, KeyCode::Backspace);
    assert_eq!(files(&app).dir, "");
}

#[test]
fn files_click_selects_a_row() {
    let mut app = base_app();
    files_of_web(&mut app);
    update(&mut app, Action::Resize(80, 24));
    let layout = view::main_layout(ratatui::layout::Rect::new(0, 0, 80, 24), app.focus);
    // Border, column header, data, src: the third entry.
    let click = left_click(layout.inspector.x + 3, layout.inspector.y + 4);
    update(&mut app, Action::Mouse(click));
    assert_eq!(
        files(&app).selected_entry().map(|e| e.name.as_str()),
        Some("fifo")
    );
}

#[test]
fn files_pane_listing() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "notes.txt");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn file_viewer() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "out.bin");
    press(&mut app, KeyCode::Enter);
    let mut text: String = (1..=30)
        .map(|i| format!("{i:>3} | event {i}: ok\n"))
        .collect();
    text.push_str("  a line that is much longer than the viewer is wide, so that it is cut at the right edge and ←/→ pan\n");
    file_read(&mut app, "out.bin", head(text.as_bytes(), 70_000));
    keys(&mut app, "jjjjjjjjjjjjjjj");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn file_viewer_binary() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "out.bin");
    press(&mut app, KeyCode::Enter);
    file_read(
        &mut app,
        "out.bin",
        head(
            b"\x7fELF\x02\x01\x01\x00\x00\x00\nversion\xff\xfe 1.0\n",
            22,
        ),
    );
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn confirm_delete_file() {
    let mut app = base_app();
    files_of_web(&mut app);
    select_entry(&mut app, "notes.txt");
    keys(&mut app, "d");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

// ---------------------------------------------------------------- network

fn refusal(host: &str, port: u16, after_ms: i64, reason: &str) -> NetworkRefusal {
    NetworkRefusal {
        host: host.into(),
        port,
        // `execution` starts seq 1 at NOW - 89 s.
        time_ms: NOW - 89_000 + after_ms,
        reason: reason.into(),
    }
}

/// `web` with an allowlist, `open` with host networking, and a finished
/// execution in `web` that the proxy refused three connections.
fn network_snapshot() -> Snapshot {
    let mut snap = snapshot(NOW + 1000, 13_000);
    for s in &mut snap.sandboxes {
        if s.name == "web" {
            s.limits.allowed_hosts = vec!["pypi.org".into(), "*.pythonhosted.org:443".into()];
        }
    }
    let mut open = sandbox("open", "default", 0, 0, 0);
    open.limits.allow_network = true;
    snap.sandboxes.push(open);
    if let Some(e) = snap.executions.iter_mut().find(|e| e.record.id == "a1b2c3") {
        if let Some(result) = e.record.result.as_mut() {
            result.network_refusals = vec![
                refusal("evil.example.com", 443, 1_200, "host not in allowed_hosts"),
                refusal("10.0.0.7", 22, 2_500, "address not in allowed_hosts"),
                refusal(
                    "pypi.org",
                    443,
                    3_900,
                    "pypi.org resolves to 127.0.0.1, a loopback, private or special address that is not itself in allowed_hosts (DNS rebinding protection)",
                ),
                refusal("2001:db8::1", 80, 4_100, "address not in allowed_hosts"),
            ];
        }
    }
    snap
}

#[test]
fn execution_detail_with_refusals() {
    let mut app = base_app();
    update(&mut app, Action::Snapshot(Box::new(network_snapshot())));
    keys(&mut app, "/web");
    press(&mut app, KeyCode::Enter);
    keys(&mut app, "j"); // (all) -> web
    assert_eq!(app.selected_sandbox.as_deref(), Some("web"));
    press(&mut app, KeyCode::Enter);
    keys(&mut app, "jjj"); // the completed one
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![],
        "a finished execution's refusals are in its result: nothing to fetch"
    );
    assert_eq!(app.subject(), Subject::Execution("a1b2c3".into()));
    insta::assert_snapshot!(screen(&mut app, 100, 40));
}

#[test]
fn a_running_execution_fetches_its_refusals_while_shown() {
    let mut app = base_app();
    update(&mut app, Action::Snapshot(Box::new(network_snapshot())));
    select_runaway(&mut app);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::FetchRefusals {
            id: "0a0b0c".into()
        }]
    );
    // One at a time: nothing more while it is on its way.
    assert_eq!(keys(&mut app, "j"), vec![]);
    assert_eq!(
        update(&mut app, Action::Snapshot(Box::new(network_snapshot()))),
        vec![]
    );
    update(
        &mut app,
        Action::Done(Outcome::Refusals {
            id: "0a0b0c".into(),
            result: Ok(vec![refusal(
                "crates.io",
                443,
                3_000,
                "host not in allowed_hosts",
            )]),
        }),
    );
    let shown = screen(&mut app, 100, 40);
    assert!(
        shown.contains("crates.io:443  host not in allowed_hosts"),
        "{shown}"
    );
    // Again with the next sample while it runs.
    assert_eq!(
        update(&mut app, Action::Snapshot(Box::new(network_snapshot()))),
        vec![Effect::FetchRefusals {
            id: "0a0b0c".into()
        }]
    );
    // Other tabs, and sandboxes without an allowlist, fetch nothing.
    update(
        &mut app,
        Action::Done(Outcome::Refusals {
            id: "0a0b0c".into(),
            result: Err("database is locked".into()),
        }),
    );
    assert!(screen(&mut app, 100, 40).contains("database is locked"));
    assert_eq!(
        app.refusals.as_ref().map(|r| r.refusals.len()),
        Some(1),
        "a failed fetch keeps what was known"
    );
    keys(&mut app, "t");
    assert_eq!(
        update(&mut app, Action::Snapshot(Box::new(network_snapshot()))),
        vec![]
    );
}

fn host_network_app() -> App {
    let mut app = base_app();
    update(&mut app, Action::Snapshot(Box::new(network_snapshot())));
    keys(&mut app, "jjj"); // batch, idle, open
    assert_eq!(app.selected_sandbox.as_deref(), Some("open"));
    keys(&mut app, "i");
    app
}

#[test]
fn host_network_warning() {
    let mut app = host_network_app();
    insta::assert_snapshot!(screen(&mut app, 80, 24));
}

#[test]
fn host_network_is_drawn_in_the_warning_colour() {
    let mut app = host_network_app();
    let warning = app
        .theme
        .warning()
        .fg
        .expect("the theme has a warning colour");
    let terminal = render(&mut app, 80, 24);
    let buffer = terminal.backend().buffer();
    let width = buffer.area.width as usize;
    let rows: Vec<String> = buffer
        .content()
        .chunks(width)
        .map(|row| row.iter().map(|c| c.symbol()).collect())
        .collect();
    for needle in ["⚠ NET: host network: open", "⚠NET", "⚠ HOST NETWORK"] {
        let (y, line) = rows
            .iter()
            .enumerate()
            .find(|(_, l)| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} not on screen"));
        let x = line[..line.find(needle).unwrap_or(0)].chars().count();
        let cell = &buffer.content()[y * width + x];
        assert_eq!(cell.fg, warning, "{needle:?} is not in the warning colour");
    }
}

#[test]
fn allowlist_sandbox_detail() {
    let mut app = base_app();
    update(&mut app, Action::Snapshot(Box::new(network_snapshot())));
    keys(&mut app, "jjjj"); // batch, idle, open, web
    assert_eq!(app.selected_sandbox.as_deref(), Some("web"));
    keys(&mut app, "i");
    let shown = screen(&mut app, 80, 24);
    assert!(
        shown.contains("network           allowlist (2 hosts) through the proxy"),
        "{shown}"
    );
    let web_row = shown
        .lines()
        .find(|l| l.starts_with("\"│web "))
        .expect("web's row");
    assert!(
        !web_row.contains("NET"),
        "an allowlist is no warning: {web_row}"
    );
}

#[test]
fn tiny_terminal_with_files_and_viewer_does_not_panic() {
    let mut app = base_app();
    files_of_web(&mut app);
    for (w, h) in [(1, 1), (20, 5), (40, 10), (80, 3)] {
        render(&mut app, w, h);
    }
    select_entry(&mut app, "notes.txt");
    press(&mut app, KeyCode::Enter);
    file_read(&mut app, "notes.txt", head(b"x\ny\nz\n", 6));
    for (w, h) in [(1, 1), (4, 3), (20, 5), (80, 3)] {
        render(&mut app, w, h);
        keys(&mut app, "jGkl");
        press(&mut app, KeyCode::PageDown);
        render(&mut app, w, h);
    }
    assert!(matches!(app.overlay, Some(Overlay::FileView(_))));
}

/// The small keys an operator of htop or k9s reaches for.
#[test]
fn f10_quits_unknown_keys_hint_slash_starts_fresh_ctrl_u_clears() {
    let mut app = base_app();
    assert_eq!(press(&mut app, KeyCode::F(10)), vec![Effect::Quit]);

    let mut app = base_app();
    keys(&mut app, "Z");
    let hint = app.status.as_ref().map(|s| s.text.clone());
    assert_eq!(
        hint.as_deref(),
        Some("Z: no such key here (? lists the keys)")
    );
    keys(&mut app, "p");
    keys(&mut app, "Z");
    assert!(app.status.is_some(), "the profiles screen hints too");
    assert_eq!(press(&mut app, KeyCode::F(10)), vec![Effect::Quit]);

    let mut app = base_app();
    keys(&mut app, "/we");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.visible_sandboxes().len(), 1);
    // A new `/` starts from nothing, and shows everything meanwhile.
    keys(&mut app, "/");
    assert_eq!(app.input_buffer, "");
    assert_eq!(app.visible_sandboxes().len(), 3);
    keys(&mut app, "idl");
    assert_eq!(app.visible_sandboxes().len(), 1);
    ctrl(&mut app, 'u');
    assert_eq!(app.input_buffer, "");
    assert_eq!(app.visible_sandboxes().len(), 3);
    press(&mut app, KeyCode::Esc);

    // In the launch dialog Ctrl-U clears the field, and ↑↓ choose the
    // target from the one-line command field as the hint says.
    keys(&mut app, "jj");
    let chosen = app.selected_sandbox.clone();
    keys(&mut app, "x");
    keys(&mut app, "echo hi");
    ctrl(&mut app, 'u');
    let Some(Overlay::Launch(d)) = &app.overlay else {
        panic!("no dialog");
    };
    assert_eq!(d.command.lines().join(""), "");
    let before = d.sandboxes.get(d.sandbox).cloned();
    assert_eq!(before, chosen);
    press(&mut app, KeyCode::Up);
    let Some(Overlay::Launch(d)) = &app.overlay else {
        panic!("no dialog");
    };
    assert_ne!(d.sandboxes.get(d.sandbox).cloned(), before);
    assert_eq!(d.field, LaunchField::Command);
}

/// After the selected process dies the cursor takes the row that replaced
/// it, never an init by surprise; and the confirmation for an init says
/// that ending it ends the whole execution.
#[test]
fn a_killed_process_leaves_the_cursor_off_the_init() {
    let mut app = base_app();
    keys(&mut app, "t");
    keys(&mut app, "j"); // pid 101, the only child of init 100
    assert_eq!(app.selected_pid, Some(101));
    let mut snap = snapshot(NOW + 1000, 13_000);
    snap.processes.retain(|p| p.pid != 101);
    update(&mut app, Action::Snapshot(Box::new(snap)));
    // Rows now: 100, 200, 201, 202. The nearest non-init row above 101's
    // place is none, so the one after: 201.
    assert_eq!(app.selected_pid, Some(201));

    keys(&mut app, "G"); // 202, the last row
    assert_eq!(app.selected_pid, Some(202));
    let mut snap = snapshot(NOW + 2000, 14_000);
    snap.processes.retain(|p| p.pid != 101 && p.pid != 202);
    update(&mut app, Action::Snapshot(Box::new(snap)));
    assert_eq!(app.selected_pid, Some(201));

    keys(&mut app, "g"); // init 100
    assert_eq!(app.selected_pid, Some(100));
    keys(&mut app, "K");
    let text = screen(&mut app, 100, 30);
    assert!(
        text.contains("It is the execution's init: the whole execution ends with it."),
        "{text}"
    );
    keys(&mut app, "n");
    keys(&mut app, "G"); // 201, not an init
    assert_eq!(app.selected_pid, Some(201));
    keys(&mut app, "K");
    let text = screen(&mut app, 100, 30);
    assert!(!text.contains("execution's init"), "{text}");
}

/// As the terminal narrows, columns give way by priority and names go
/// last: at 60 columns every sandbox name, profile and status is whole.
#[test]
fn narrow_terminal_keeps_names_whole() {
    let mut app = base_app();
    keys(&mut app, "jjj"); // web: its executions
    let text = screen(&mut app, 60, 24);
    insta::assert_snapshot!(text);
    for whole in [
        "batch",
        "idle",
        "web",
        "strict",
        "default",
        "running",
        "python3 serve.py",
    ] {
        assert!(text.contains(whole), "{whole} cut:\n{text}");
    }
}

/// `P` and `M` sort the focused table by CPU or memory, biggest first, in
/// every table including the tree; `s` acts on the focused pane; rows do
/// not re-sort under the cursor between key presses.
#[test]
fn one_key_sorts_in_every_table_and_rows_hold_still_between_keys() {
    let mut app = base_app();
    let names = |app: &App| -> Vec<String> {
        app.visible_sandboxes()
            .iter()
            .map(|r| r.view.name.clone())
            .collect()
    };
    keys(&mut app, "P");
    assert_eq!(names(&app), ["web", "batch", "idle"], "CPU, biggest first");
    // A sample in which idle burns the most CPU: the rows hold still...
    let mut snap = snapshot(NOW + 1000, 13_000);
    for s in &mut snap.sandboxes {
        if s.name == "idle" {
            s.cpu_ms = 50_000;
        }
    }
    update(&mut app, Action::Snapshot(Box::new(snap)));
    assert_eq!(names(&app), ["web", "batch", "idle"]);
    // ...until the next key press.
    keys(&mut app, "j");
    assert_eq!(names(&app), ["idle", "web", "batch"]);
    keys(&mut app, "M");
    assert_eq!(
        names(&app),
        ["batch", "web", "idle"],
        "memory, biggest first"
    );

    // The executions pane: `s` and `P` act on it, not on the sandboxes.
    keys(&mut app, "g"); // (all)
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.focus, Pane::Executions);
    let before = app.sort;
    keys(&mut app, "P");
    assert_eq!(app.sort, before, "the sandboxes' order stays");
    let cpu: Vec<u64> = app
        .visible_executions()
        .iter()
        .map(|e| sandbox_tui::tui::app::execution_cpu_ms(e))
        .collect();
    assert!(cpu.windows(2).all(|w| w[0] >= w[1]), "{cpu:?}");
    keys(&mut app, "s"); // CPU -> memory
    assert_eq!(app.exec_sort.0, UsageSort::Memory);
    keys(&mut app, "s"); // back to newest first
    let seqs: Vec<i64> = app
        .visible_executions()
        .iter()
        .map(|e| e.record.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");

    // The tree: siblings by memory, biggest first.
    keys(&mut app, "t");
    assert_eq!(app.focus, Pane::Inspector);
    let mut snap = snapshot(NOW + 2000, 14_000);
    for p in &mut snap.processes {
        if p.pid == 200 {
            p.rss_bytes = 900 * MIB;
        }
    }
    update(&mut app, Action::Snapshot(Box::new(snap)));
    keys(&mut app, "M");
    let pids: Vec<i32> = app
        .tree_rows()
        .iter()
        .map(|r| app.processes[r.index].pid)
        .collect();
    assert_eq!(pids, [200, 201, 202, 100, 101]);
    assert_eq!(app.tree_sort, (UsageSort::Memory, true));
}

/// A sandbox made from an older version of its profile is marked `*`, its
/// detail says what the file changed, and `u` applies it after a
/// confirmation that lists the changes.
#[test]
fn a_sandbox_behind_its_profile_is_marked_and_u_updates_it() {
    let mut app = base_app();
    for p in &mut app.config.profiles {
        if p.name == "strict" {
            p.max_memory_mb = 256;
            p.timeout_seconds = 5;
        }
    }
    update(
        &mut app,
        Action::Snapshot(Box::new(snapshot(NOW + 1000, 13_000))),
    );
    keys(&mut app, "j"); // batch, a strict sandbox
    assert_eq!(app.selected_sandbox.as_deref(), Some("batch"));
    keys(&mut app, "i");
    let shown = screen(&mut app, 100, 30);
    assert!(shown.contains("strict*"), "{shown}");
    assert!(
        shown.contains("⚠ sandboxes.toml has changed it since: max_memory_mb 128 → 256"),
        "{shown}"
    );
    press(&mut app, KeyCode::Tab); // back to the sandboxes pane
    assert_eq!(app.focus, Pane::Sandboxes);
    keys(&mut app, "u");
    insta::assert_snapshot!(screen(&mut app, 80, 24));
    assert_eq!(
        keys(&mut app, "y"),
        vec![Effect::ApplyProfile {
            name: "batch".into()
        }]
    );
    // An up-to-date sandbox needs nothing.
    keys(&mut app, "j"); // idle, default
    assert_eq!(keys(&mut app, "u"), vec![]);
    assert!(app.overlay.is_none());
}

/// The Profiles screen shows every key, allow_shell, denied_patterns and
/// extends included.
#[test]
fn profiles_screen_shows_every_key() {
    let text = "[profiles.base]\ndenied_patterns = ['rm\\s+-rf']\nallow_shell = false\n\
                [profiles.child]\nextends = \"base\"\n";
    let config = Config::parse(text, Path::new("sandboxes.toml")).expect("valid");
    let theme = Theme::load("default", None).expect("default theme");
    let mut app = App::new(
        theme,
        1000,
        Environment::default(),
        ConfigView::from_config(&config),
    );
    keys(&mut app, "p");
    keys(&mut app, "j"); // base, child, default: child
    let shown = screen(&mut app, 100, 40);
    for line in [
        "allow_shell       no",
        "denied_patterns   rm\\s+-rf",
        "extends           base",
        "root              the host's (read-only binds)",
    ] {
        assert!(shown.contains(line), "{line}:\n{shown}");
    }
}

/// The logs of the runaway loop, read by the dashboard's reader from real
/// files: stdout and stderr interleaved, a colour, a hostile escape, and a
/// flood whose head and tail are kept around a marker.
fn with_real_logs(app: &mut App, dir: &Path) {
    use sandbox_tui::output::logfile::{write_tail, LogStream, OrderWriter};
    let out = dir.join("0a0b0c.stdout");
    let err = dir.join("0a0b0c.stderr");
    let mut order = OrderWriter::new(
        Some(sandbox_tui::output::logfile::order_path(&out)),
        1 << 20,
    );
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut write = |stream: LogStream, text: &str| {
        order.note(stream, text.len());
        match stream {
            LogStream::Stdout => stdout.extend_from_slice(text.as_bytes()),
            LogStream::Stderr => stderr.extend_from_slice(text.as_bytes()),
        }
    };
    write(LogStream::Stdout, "a\n");
    write(LogStream::Stderr, "b\n");
    write(
        LogStream::Stdout,
        "c \x1b[31mRED\x1b[0m plain \x1b[1;38;5;33mblue\x1b[0m\n",
    );
    write(
        LogStream::Stderr,
        "\x1b[2J\x1b]52;c;aGk=\x07clipboard?\x1b[H\n",
    );
    for i in 1..=2000 {
        write(LogStream::Stdout, &format!("flood {i}\n"));
    }
    write(LogStream::Stderr, "done\n");
    order.finish();
    // The log keeps the first 64 bytes of stdout, the tail its last 40.
    std::fs::write(&out, &stdout[..64]).expect("write");
    std::fs::write(&err, &stderr).expect("write");
    let tail_at = stdout.len() - 40;
    write_tail(&out, tail_at as u64, &stdout[tail_at..]).expect("tail");

    select_runaway(app);
    keys(app, "l");
    let mut snap = snapshot(NOW + 1000, 13_000);
    snap.subject = Subject::Execution("0a0b0c".into());
    snap.processes.clear();
    snap.logs = Some(sandbox_tui::tui::read_log_tail("0a0b0c", &out, &err, false));
    update(app, Action::Snapshot(Box::new(snap)));
}

/// Where `text` starts on the screen.
fn find_text(terminal: &Terminal<TestBackend>, text: &str) -> Option<(u16, u16)> {
    let buffer = terminal.backend().buffer();
    let area = buffer.area;
    for y in 0..area.height {
        let row: String = (0..area.width)
            .map(|x| buffer[(x, y)].symbol().chars().next().unwrap_or(' '))
            .collect();
        if let Some(i) = row.find(text) {
            return Some((row[..i].chars().count() as u16, y));
        }
    }
    None
}

#[test]
fn logs_interleaved_coloured_with_head_and_tail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut app = base_app();
    with_real_logs(&mut app, dir.path());
    keys(&mut app, "g");
    let terminal = render(&mut app, 100, 30);
    let shown = format!("{}", terminal.backend());
    insta::assert_snapshot!("logs_interleaved_head_and_tail", shown);
    // Coloured, not escaped; the other escapes gone.
    let (x, y) = find_text(&terminal, "RED").expect("RED shown");
    assert_eq!(terminal.backend().buffer()[(x, y)].fg, Color::Red);
    let (x, y) = find_text(&terminal, "blue").expect("blue shown");
    assert_eq!(terminal.backend().buffer()[(x, y)].fg, Color::Indexed(33));
    let (x, y) = find_text(&terminal, "plain").expect("plain shown");
    assert_ne!(terminal.backend().buffer()[(x, y)].fg, Color::Red);
    assert!(
        !shown.contains("[31m") && !shown.contains("52;c"),
        "{shown}"
    );
    assert!(shown.contains("clipboard?"), "{shown}");
    // R: every escape shown as text, nothing coloured.
    keys(&mut app, "R");
    let terminal = render(&mut app, 100, 30);
    let raw = format!("{}", terminal.backend());
    insta::assert_snapshot!("logs_raw_escapes", raw);
    assert!(
        raw.contains("\\x1b[31mRED") && raw.contains("\\x1b]52;c;"),
        "{raw}"
    );
    assert!(find_text(&terminal, "RED")
        .is_some_and(|(x, y)| terminal.backend().buffer()[(x, y)].fg != Color::Red));
    keys(&mut app, "R");
    // Following: the real last lines of the flood, then stderr's last.
    keys(&mut app, "G");
    let shown = screen(&mut app, 100, 30);
    insta::assert_snapshot!("logs_interleaved_tail_following", shown);
    let flood_end = shown.find("flood 2000").expect("the real last line");
    assert!(
        flood_end < shown.find("2│done").expect("stderr's last"),
        "{shown}"
    );
}

#[test]
fn logs_scroll_sideways_and_wrap() {
    let mut app = base_app();
    with_logs(&mut app);
    let mut snap = snapshot(NOW + 2000, 13_000);
    snap.subject = Subject::Execution("0a0b0c".into());
    snap.processes.clear();
    let long: String = (0..30).map(|i| format!("col{i:02} ")).collect();
    snap.logs = Some(LogTail {
        id: "0a0b0c".into(),
        lines: vec![
            LogLine::new(LineKind::Stdout, "short"),
            LogLine::new(LineKind::Stdout, format!("\x1b[32m{long}\x1b[0m")),
            LogLine::new(LineKind::Stderr, "after"),
        ],
        truncated: false,
    });
    update(&mut app, Action::Snapshot(Box::new(snap)));
    insta::assert_snapshot!("logs_long_line_cut", screen(&mut app, 80, 24));
    press(&mut app, KeyCode::Right);
    press(&mut app, KeyCode::Right);
    assert_eq!(app.log_left, 16);
    insta::assert_snapshot!("logs_scrolled_sideways", screen(&mut app, 80, 24));
    press(&mut app, KeyCode::Left);
    assert_eq!(app.log_left, 8);
    keys(&mut app, "W");
    assert!(app.log_wrap);
    let terminal = render(&mut app, 80, 24);
    insta::assert_snapshot!("logs_wrapped", format!("{}", terminal.backend()));
    let (x, y) = find_text(&terminal, "col29").expect("the end of the line, wrapped");
    assert_eq!(terminal.backend().buffer()[(x, y)].fg, Color::Green);
}

#[test]
fn execution_detail_shows_head_tail_and_supervisor_cpu() {
    let mut app = base_app();
    let mut snap = snapshot(NOW + 1000, 13_000);
    for e in &mut snap.executions {
        if let Some(result) = e.record.result.as_mut() {
            result.stdout = (1..=60).map(|i| format!("out {i}\n")).collect();
            result.stdout_truncated = true;
            result.stderr = "\x1b[33mwarn\x1b[0m once\n".into();
            result.supervisor_cpu_ms = 1_250;
        }
    }
    update(&mut app, Action::Snapshot(Box::new(snap)));
    keys(&mut app, "jjj"); // web
    press(&mut app, KeyCode::Enter);
    keys(&mut app, "jjj"); // the completed one
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.tab, Tab::Detail);
    let terminal = render(&mut app, 100, 64);
    let shown = format!("{}", terminal.backend());
    insta::assert_snapshot!(shown);
    for want in [
        "out 1 ",
        "out 6 ",
        "48 more lines",
        "out 55",
        "out 60",
        "supervisor 1.2",
    ] {
        assert!(shown.contains(want), "{want}: {shown}");
    }
    assert!(!shown.contains("out 7 "), "{shown}");
    let (x, y) = find_text(&terminal, "warn").expect("stderr shown");
    assert_eq!(terminal.backend().buffer()[(x, y)].fg, Color::Yellow);
}
