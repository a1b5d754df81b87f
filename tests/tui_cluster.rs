//! The dashboard's Cluster screen (`C`) without a terminal or a cluster:
//! rendered from a hand-built state into TestBackend (insta snapshots), and
//! its keys driven through `update`: polling on ticks, one poll at a time,
//! a stop only after the confirm.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use sandbox_tui::cluster::{JobInfo, NodeInfo};
use sandbox_tui::profile::Config;
use sandbox_tui::tui::action::{Action, Effect, Outcome, Snapshot};
use sandbox_tui::tui::app::{App, ConfigView, Environment, Screen};
use sandbox_tui::tui::cluster::ClusterData;
use sandbox_tui::tui::theme::Theme;
use sandbox_tui::tui::update::update;
use sandbox_tui::tui::view;

fn app(address: Option<&str>) -> App {
    let theme = Theme::load("default", None).expect("default theme");
    let env = Environment {
        state_dir: PathBuf::from("/var/lib/sandbox-tui"),
        degraded: Vec::new(),
    };
    let mut app = App::new(
        theme,
        1000,
        env,
        ConfigView::from_config(&Config::builtin()),
    );
    app.cluster.address = address.map(str::to_owned);
    app
}

fn job(id: &str, status: &str, code: Option<i32>, command: &str) -> JobInfo {
    let metadata: BTreeMap<String, String> = [
        ("sandbox_tui".to_owned(), "0.1.0".to_owned()),
        ("profile".to_owned(), "strict".to_owned()),
        ("command".to_owned(), command.to_owned()),
    ]
    .into();
    JobInfo {
        submission_id: Some(id.to_owned()),
        status: status.to_owned(),
        metadata: Some(metadata),
        driver_exit_code: code,
        driver_node_id: Some("8ca4a12db741".to_owned()),
        ..JobInfo::default()
    }
}

fn data() -> ClusterData {
    let node = |id: &str, head: bool, cpus: f64| NodeInfo {
        id: id.to_owned(),
        hostname: "vm".to_owned(),
        ip: "10.0.0.2".to_owned(),
        state: "ALIVE".to_owned(),
        is_head: head,
        cpus,
        gpus: 0.0,
        cpu_percent: 37.0,
        mem_total: 2048 << 20,
        mem_used: 512 << 20,
    };
    ClusterData {
        nodes: vec![
            node("5da5626979ed", true, 1.0),
            node("8ca4a12db741", false, 2.0),
        ],
        jobs: vec![
            job("sandbox-tui-c9e52c", "RUNNING", None, "python3 grade.py"),
            job("sandbox-tui-9da550", "FAILED", Some(124), "sleep 30"),
            // The cluster's words are escaped on screen.
            job(
                "sandbox-tui-769487",
                "SUCCEEDED",
                Some(0),
                "echo \u{1b}[31mred",
            ),
        ],
    }
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    update(app, Action::Resize(w, h));
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("terminal");
    terminal.draw(|frame| view::draw(frame, app)).expect("draw");
    format!("{}", terminal.backend())
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Action::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn tick(app: &mut App) -> Vec<Effect> {
    update(app, Action::Snapshot(Box::<Snapshot>::default()))
}

#[test]
fn the_cluster_screen_shows_nodes_and_jobs() {
    let mut app = app(Some("ray://head:8265"));
    press(&mut app, KeyCode::Char('C'));
    assert_eq!(app.screen, Screen::Cluster);
    update(&mut app, Action::Done(Outcome::Cluster(Ok(data()))));
    press(&mut app, KeyCode::Down);
    insta::assert_snapshot!(screen(&mut app, 100, 16));
}

#[test]
fn without_a_cluster_the_screen_says_how_to_give_one_and_polls_nothing() {
    let mut app = app(None);
    let effects = press(&mut app, KeyCode::Char('C'));
    assert!(!effects.contains(&Effect::FetchCluster));
    assert!(!tick(&mut app).contains(&Effect::FetchCluster));
    let text = screen(&mut app, 80, 16);
    // The footer offers no job keys where there are no jobs, and K says so.
    assert!(
        !text.contains("stop job") && !text.contains("↑↓ job"),
        "{text}"
    );
    insta::assert_snapshot!(text);
    press(&mut app, KeyCode::Char('K'));
    assert!(app.overlay.is_none());
    let text = screen(&mut app, 80, 16);
    assert!(text.contains("K: no such key here"), "{text}");
}

#[test]
fn the_screen_polls_on_ticks_one_poll_at_a_time_and_keeps_data_on_errors() {
    let mut app = app(Some("ray://head:8265"));
    assert!(
        !tick(&mut app).contains(&Effect::FetchCluster),
        "not while hidden"
    );
    assert!(press(&mut app, KeyCode::Char('C')).contains(&Effect::FetchCluster));
    assert!(
        !tick(&mut app).contains(&Effect::FetchCluster),
        "one at a time"
    );
    update(&mut app, Action::Done(Outcome::Cluster(Ok(data()))));
    assert!(tick(&mut app).contains(&Effect::FetchCluster));
    update(
        &mut app,
        Action::Done(Outcome::Cluster(Err("connection refused".into()))),
    );
    assert_eq!(app.cluster.data.jobs.len(), 3);
    let text = screen(&mut app, 100, 16);
    assert!(text.contains("connection refused"), "{text}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.screen, Screen::Main);
}

#[test]
fn a_job_is_stopped_only_after_the_confirm() {
    let mut app = app(Some("ray://head:8265"));
    press(&mut app, KeyCode::Char('C'));
    update(&mut app, Action::Done(Outcome::Cluster(Ok(data()))));
    press(&mut app, KeyCode::Down);
    assert!(press(&mut app, KeyCode::Char('K')).is_empty());
    let text = screen(&mut app, 100, 16);
    assert!(text.contains("Stop job sandbox-tui-9da550"), "{text}");
    assert!(press(&mut app, KeyCode::Esc).is_empty(), "cancelled");
    press(&mut app, KeyCode::Char('K'));
    let effects = press(&mut app, KeyCode::Char('y'));
    assert!(
        effects.contains(&Effect::StopClusterJob {
            id: "sandbox-tui-9da550".into()
        }),
        "{effects:?}"
    );
}
