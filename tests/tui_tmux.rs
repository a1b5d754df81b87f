//! The whole program in a real terminal: the dashboard under tmux, driven
//! with send-keys and read with capture-pane, against a private state.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{isolation_required, require_root, TestEnv, BIN};

/// A private tmux server, killed however the test ends.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// The dashboard on `env`'s config in a detached `width`x`height` pane
    /// of a private tmux server; `tag` tells the tests' servers apart.
    fn start(tag: &str, env: &TestEnv, size: (u16, u16), extra_args: &str) -> Tmux {
        let tmux = Tmux {
            socket: format!("sandbox-tui-test-{}{tag}", std::process::id()),
        };
        let command = format!(
            "env -u SANDBOX_TUI_STATE_DIR {} --config {} {extra_args}",
            shell_quote(BIN),
            shell_quote(&env.config.display().to_string())
        );
        let (width, height) = (size.0.to_string(), size.1.to_string());
        let out = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "dash",
            "-x",
            &width,
            "-y",
            &height,
            &command,
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    fn cmd(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "dash"]).stdout)
            .into_owned()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "dash"];
        args.extend_from_slice(keys);
        let out = self.cmd(&args);
        assert!(out.status.success(), "send-keys {keys:?}: {out:?}");
    }

    /// Poll the screen until `pred` holds; panics with the last screen.
    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.screen();
            if pred(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "dash"]).status.success()
    }

    /// `q`, and the dashboard must be gone within 10 s.
    fn quit(&self) {
        self.keys(&["q"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.alive() {
            assert!(Instant::now() < deadline, "q did not end the dashboard");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Root and tmux are there; without them the test is skipped, or fails
/// when isolation is required.
fn can_run() -> bool {
    if !require_root() {
        return false;
    }
    if !tmux_available() {
        assert!(
            !isolation_required(),
            "SANDBOX_TUI_REQUIRE_ISOLATION=1 but tmux is not installed"
        );
        eprintln!("skipped: tmux is not installed");
        return false;
    }
    true
}

fn tmux_available() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn status_of(env: &TestEnv, id: &str) -> String {
    let (value, code) = env.json(&["ps"]);
    assert_eq!(code, 0, "ps: {value}");
    value
        .as_array()
        .and_then(|list| list.iter().find(|e| e["id"] == id))
        .and_then(|e| e["status"].as_str())
        .unwrap_or("missing")
        .to_string()
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn dashboard_shows_and_kills_a_runaway_execution() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("");
    for name in ["calm", "web"] {
        let out = env.run(&["create", name]);
        assert!(out.status.success(), "create {name}: {out:?}");
    }
    let out = env.run(&[
        "exec",
        "web",
        "--detach",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    assert!(out.status.success(), "exec: {out:?}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!id.is_empty());

    let tmux = Tmux::start("", &env, (120, 40), "--refresh 300");

    tmux.wait_for("both sandboxes and the running execution", |s| {
        s.contains("calm") && s.contains("web") && s.contains(&id) && s.contains("running")
    });

    // The only execution is selected in the executions pane; K asks first.
    tmux.keys(&["Tab"]);
    tmux.keys(&["K"]);
    let screen = tmux.wait_for("a confirmation naming the execution", |s| {
        s.contains(&format!("Kill execution {id} in sandbox web"))
    });
    assert!(screen.contains("while :; do :; done"), "{screen}");
    assert_eq!(status_of(&env, &id), "running", "nothing dies before y");
    tmux.keys(&["y"]);

    tmux.wait_for("the execution shown killed", |s| {
        s.contains(&format!("execution {id} is killed"))
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while status_of(&env, &id) != "killed" {
        assert!(Instant::now() < deadline, "state: {}", status_of(&env, &id));
        std::thread::sleep(Duration::from_millis(100));
    }

    tmux.quit();
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn quitting_leaves_executions_running() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("");
    assert!(env.run(&["create", "keep"]).status.success());
    let out = env.run(&["exec", "keep", "--detach", "--", "sleep", "30"]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let tmux = Tmux::start("-quit", &env, (80, 24), "");
    tmux.wait_for("the execution", |s| s.contains(&id));
    tmux.quit();
    assert_eq!(status_of(&env, &id), "running");
    assert!(env.run(&["kill", &id]).status.success());
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn files_pane_views_and_deletes_a_workspace_file() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("");
    assert!(env.run(&["create", "box"]).status.success());
    let out = env.run(&[
        "exec",
        "box",
        "--",
        "sh",
        "-c",
        "mkdir sub && echo 'hello from the workspace' > note.txt",
    ]);
    assert!(out.status.success(), "exec: {out:?}");

    let tmux = Tmux::start("-files", &env, (100, 30), "--refresh 300");
    tmux.wait_for("the sandbox", |s| s.contains("box "));

    // (all) -> box, then its workspace: directories first.
    tmux.keys(&["j", "w"]);
    tmux.wait_for("the workspace listing", |s| {
        s.contains("box:./") && s.contains("sub/") && s.contains("note.txt")
    });
    tmux.keys(&["j", "Enter"]);
    tmux.wait_for("the file's text", |s| {
        s.contains("box:note.txt") && s.contains("hello from the workspace")
    });
    // Separately: ESC followed at once by a key reads as Alt-key.
    tmux.keys(&["Escape"]);
    tmux.wait_for("the listing again", |s| !s.contains("box:note.txt"));
    tmux.keys(&["d"]);
    tmux.wait_for("a confirmation naming the file", |s| {
        s.contains("Delete note.txt from the workspace of sandbox box?")
    });
    tmux.keys(&["y"]);
    tmux.wait_for("the deletion, and the listing without the file", |s| {
        s.contains("deleted box:note.txt")
            && !s
                .lines()
                .any(|l| l.contains("note.txt") && l.contains(" file"))
    });
    let (listing, code) = env.json(&["files", "box"]);
    assert_eq!(code, 0, "files: {listing}");
    let names: Vec<&str> = listing
        .as_array()
        .map(|l| l.iter().filter_map(|e| e["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["sub"]);

    tmux.quit();
}

/// A bad profile in the file does not lock the operator out: the dashboard
/// opens, shows a sandbox made before the profile broke, names the invalid
/// profile in the header, and its Profiles screen shows the problem.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn dashboard_opens_with_an_invalid_profile() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("[profiles.broken]\nextends = \"strict\"\nmax_memory_mb = \"lots\"\n");
    let out = env.run(&["create", "still-here", "-p", "strict"]);
    assert!(out.status.success(), "create: {out:?}");

    // A theme that does not exist costs the colours, not the dashboard.
    let tmux = Tmux::start("bad", &env, (120, 40), "--refresh 300 --theme nosuch");
    let screen = tmux.wait_for("the dashboard with its sandbox", |s| {
        s.contains("still-here") && s.contains("invalid profile(s): p")
    });
    assert!(
        screen.contains("default theme in use: unknown theme \"nosuch\""),
        "{screen}"
    );
    assert!(screen.contains("1 invalid profile(s)"), "{screen}");
    tmux.keys(&["p"]);
    tmux.wait_for("the invalid profile marked", |s| s.contains("✗ broken"));
    tmux.keys(&["G"]);
    tmux.keys(&["j", "j", "j", "j"]);
    tmux.wait_for("its problem with line and key", |s| {
        s.contains("profiles.broken.max_memory_mb")
    });
    tmux.quit();
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn logs_tab_shows_both_streams_in_order_and_in_colour() {
    if !can_run() {
        return;
    }
    let env = TestEnv::new("");
    assert!(env.run(&["create", "colours"]).status.success());
    // The pauses let the supervisor read each write before the next.
    let out = env.run(&[
        "exec",
        "colours",
        "--",
        "sh",
        "-c",
        "echo first-out; sleep 0.5; printf '\\033[31mred-err\\033[0m\\033[2J\\n' >&2; sleep 0.5; echo last-out",
    ]);
    assert!(out.status.success(), "exec: {out:?}");

    let tmux = Tmux::start("logs", &env, (120, 40), "--refresh 300");
    tmux.wait_for("the sandbox", |s| s.contains("colours"));
    // The only execution is selected in the executions pane.
    tmux.keys(&["Tab"]);
    tmux.keys(&["l"]);
    let screen = tmux.wait_for("the logs", |s| s.contains("last-out"));
    let at = |needle: &str| {
        screen
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} not shown:\n{screen}"))
    };
    assert!(at("1│first-out") < at("2│red-err"), "{screen}");
    assert!(at("2│red-err") < at("1│last-out"), "{screen}");
    // The colour reaches the terminal as a colour; the screen clear does not.
    let styled =
        String::from_utf8_lossy(&tmux.cmd(&["capture-pane", "-e", "-p", "-t", "dash"]).stdout)
            .into_owned();
    let line = styled
        .lines()
        .find(|l| l.contains("red-err"))
        .unwrap_or_else(|| panic!("no red-err line:\n{styled}"));
    let before = &line[..line.find("red-err").unwrap_or(0)];
    assert!(
        before.ends_with("31m") || before.ends_with("38;5;1m") || before.ends_with(";31m"),
        "not red: {line:?}"
    );
    assert!(
        !screen.contains("[2J") && !screen.contains("\\x1b"),
        "{screen}"
    );
    tmux.keys(&["W"]);
    tmux.wait_for("wrapping on", |s| s.contains("wrap on"));
    tmux.quit();
}
