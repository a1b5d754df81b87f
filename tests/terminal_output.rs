//! What a sandbox writes (file names, argv, output) never drives the user's
//! terminal: the CLI's tables show control characters as escapes, always;
//! `logs`, attached `exec` and `run` escape them when their output is a
//! terminal (colours pass) and stay byte-exact to a pipe; JSON is exact.

mod common;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::process::{Command, Output, Stdio};

use common::{require_root, TestEnv};

/// Output a hostile command writes: a screen clear, an OSC 52 clipboard
/// write, a bidi override, a C1 CSI, a colour (which passes) and a byte
/// that is not UTF-8.
const HOSTILE_PRINTF: &str =
    r"printf '\033[2J\033]52;c;aGk=\007\342\200\256evil\302\233\033[31mred\033[0m\377\n'";

fn ok(env: &TestEnv, args: &[&str]) -> Output {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?} exited {:?}: stdout {:?} stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Run `cmd` with its stdout and stderr on a fresh pseudo-terminal; what
/// the terminal received, and the exit code.
fn on_terminal(mut cmd: Command) -> (Vec<u8>, i32) {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let master: OwnedFd = pty.master;
    let slave: OwnedFd = pty.slave;
    cmd.stdout(Stdio::from(slave.try_clone().expect("dup")));
    cmd.stderr(Stdio::from(slave));
    let mut child = cmd.spawn().expect("spawn");
    // Our copies of the slave are gone now (moved into the Command, which
    // the spawn consumed): the master reads EIO once the child's are closed.
    drop(cmd);
    let mut file = std::fs::File::from(master);
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match file.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
        all
    });
    let status = child.wait().expect("wait");
    let all = reader.join().expect("reader");
    (all, status.code().unwrap_or(-1))
}

/// True when `bytes` holds an escape character that does not start a
/// colour sequence (`ESC [ digits/; m`), or a BEL, or U+202E.
fn has_raw_controls(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    if text.contains('\u{7}') || text.contains('\u{202e}') || text.contains('\u{9b}') {
        return true;
    }
    text.match_indices('\u{1b}').any(|(i, _)| {
        let rest = &text[i + 1..];
        let Some(params) = rest.strip_prefix('[') else {
            return true;
        };
        let end = params
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(params.len());
        !params[end..].starts_with('m')
    })
}

fn assert_escaped(what: &str, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    assert!(!has_raw_controls(bytes), "{what}: raw controls in {text:?}");
    for shown in [
        r"\x1b[2J",
        r"\x1b]52;c;aGk=\x07",
        r"\u{202e}evil",
        r"\u{9b}",
        r"\xff",
    ] {
        assert!(text.contains(shown), "{what}: no {shown:?} in {text:?}");
    }
    assert!(
        text.contains("\u{1b}[31mred\u{1b}[0m"),
        "{what}: the colour did not pass: {text:?}"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn streams_on_a_terminal_are_escaped_and_exact_to_a_pipe() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "tbox"]);
    let (value, code) = env.json(&["exec", "tbox", "--", "sh", "-c", HOSTILE_PRINTF]);
    assert_eq!(code, 0, "{value}");
    let id = value["id"].as_str().expect("id").to_string();
    let expected: &[u8] =
        b"\x1b[2J\x1b]52;c;aGk=\x07\xe2\x80\xaeevil\xc2\x9b\x1b[31mred\x1b[0m\xff\n";

    // To a pipe: byte-exact.
    let piped = ok(&env, &["logs", &id]);
    assert_eq!(piped.stdout, expected);

    // To a terminal: escaped, colours kept.
    let mut logs = env.cmd();
    logs.args(["logs", &id]);
    let (shown, code) = on_terminal(logs);
    assert_eq!(code, 0);
    assert_escaped("logs", &shown);

    let mut attached = env.cmd();
    attached.args(["exec", "tbox", "--", "sh", "-c", HOSTILE_PRINTF]);
    let (shown, code) = on_terminal(attached);
    assert_eq!(code, 0);
    assert_escaped("exec", &shown);

    let mut run = env.cmd();
    run.args(["run", "--", "sh", "-c", HOSTILE_PRINTF]);
    let (shown, code) = on_terminal(run);
    assert_eq!(code, 0);
    assert_escaped("run", &shown);

    // `run` to a pipe stays exact.
    let piped = ok(&env, &["run", "--", "sh", "-c", HOSTILE_PRINTF]);
    assert_eq!(piped.stdout, expected);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn tables_escape_names_and_argv_and_keep_one_row_each() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "nbox"]);
    // Three files with hostile names, made inside the sandbox.
    let make = r#"touch "$(printf 'a\033]52;c;aGk=\007b')" "$(printf 'x\nforged row')" "$(printf 'r\342\200\256txt')""#;
    ok(&env, &["exec", "nbox", "--", "sh", "-c", make]);
    let (entries, code) = env.json(&["files", "nbox"]);
    assert_eq!(code, 0);
    let mut names: Vec<&str> = entries
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["a\u{1b}]52;c;aGk=\u{7}b", "r\u{202e}txt", "x\nforged row"],
        "JSON keeps the names exact"
    );
    let listing = ok(&env, &["files", "nbox"]).stdout;
    let text = String::from_utf8_lossy(&listing);
    assert!(!has_raw_controls(&listing), "{text:?}");
    assert_eq!(text.lines().count(), 4, "a header and three rows: {text:?}");
    for shown in [r"a\x1b]52;c;aGk=\x07b", r"x\nforged row", r"r\u{202e}txt"] {
        assert!(text.contains(shown), "no {shown:?} in {text:?}");
    }
    // The same listing on a terminal.
    let mut files = env.cmd();
    files.args(["files", "nbox"]);
    let (on_tty, _) = on_terminal(files);
    assert!(!has_raw_controls(&on_tty));

    // argv in `ps` and in `top`.
    let sleeper = r"import os; os.execv('/bin/sleep', ['\x1b]52;c;aGk=\x07\nforged\u202e', '60'])";
    let (detached, code) = env.json(&["exec", "nbox", "--detach", "--", "python3", "-c", sleeper]);
    assert_eq!(code, 0, "{detached}");
    let ps = ok(&env, &["ps", "nbox"]).stdout;
    let ps_text = String::from_utf8_lossy(&ps);
    assert!(!has_raw_controls(&ps), "{ps_text:?}");
    assert_eq!(
        ps_text.lines().count(),
        3,
        "a header and two executions: {ps_text:?}"
    );
    // Wait until the command has become the sleeper, then read the tree.
    let mut top_text = String::new();
    for _ in 0..200 {
        let top = ok(&env, &["top", "nbox", "--interval", "50"]).stdout;
        assert!(
            !has_raw_controls(&top),
            "{:?}",
            String::from_utf8_lossy(&top)
        );
        top_text = String::from_utf8_lossy(&top).into_owned();
        if top_text.contains(r"\x1b]52;c;aGk=\x07\nforged\u{202e}") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(
        top_text.contains(r"\x1b]52;c;aGk=\x07\nforged\u{202e}"),
        "{top_text:?}"
    );
    assert!(
        !top_text.lines().any(|l| l.starts_with("forged")),
        "{top_text:?}"
    );
    ok(&env, &["rm", "--force", "nbox"]);
}

#[test]
fn errors_on_a_terminal_are_escaped() {
    // An unknown sandbox name is echoed in the error; on a terminal its
    // escape sequence must not reach the screen.
    let env = TestEnv::new("");
    let mut cmd = env.cmd();
    cmd.args(["files", "no\u{1b}]52;c;aGk=\u{7}such"]);
    let (shown, code) = on_terminal(cmd);
    assert_eq!(code, 125);
    assert!(
        !has_raw_controls(&shown),
        "{:?}",
        String::from_utf8_lossy(&shown)
    );
}

/// A sandbox that leaves its text hidden (`ESC [ 8 m`) or black on black
/// cannot hide what sandbox-tui says after it (the timeout, here) nor the
/// shell's prompt: a stream that ends styled is reset, on every path that
/// shows a sandbox's output on a terminal (run, attached exec, logs).
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn output_left_styled_is_reset_before_sandbox_tuis_own_lines() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let hide = r"printf '\033[8m\033[30;40mhidden' >&2; printf '\033[8m'; sleep 60";
    let reset_after_last_style = |what: &str, shown: &[u8]| {
        let text = String::from_utf8_lossy(shown);
        let last_style = text.rfind("\u{1b}[30;40m").expect("the style passed");
        let reset = text[last_style..]
            .find("\u{1b}[0m")
            .map(|i| i + last_style)
            .unwrap_or_else(|| panic!("{what}: never reset: {text:?}"));
        let verdict = text
            .find("timeout")
            .unwrap_or_else(|| panic!("{what}: no timeout line: {text:?}"));
        assert!(reset < verdict, "{what}: the verdict is hidden: {text:?}");
    };
    let mut run = env.cmd();
    run.args(["run", "--timeout", "2", "--", "sh", "-c", hide]);
    let (shown, code) = on_terminal(run);
    assert_eq!(code, 124, "{}", String::from_utf8_lossy(&shown));
    reset_after_last_style("run", &shown);

    ok(&env, &["create", "styled"]);
    let mut exec = env.cmd();
    exec.args(["exec", "styled", "--timeout", "2", "--", "sh", "-c", hide]);
    let (shown, code) = on_terminal(exec);
    assert_eq!(code, 124, "{}", String::from_utf8_lossy(&shown));
    reset_after_last_style("exec", &shown);

    // `logs` of it: the stream (stderr's log here) ends reset too.
    let (list, _) = env.json(&["ps"]);
    let id = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["sandbox"] == "styled"))
        .and_then(|e| e["id"].as_str())
        .expect("the exec's id")
        .to_string();
    let mut logs = env.cmd();
    logs.args(["logs", "--stderr", &id]);
    let (shown, code) = on_terminal(logs);
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&shown));
    assert!(
        String::from_utf8_lossy(&shown).ends_with("hidden\u{1b}[0m"),
        "logs: {:?}",
        String::from_utf8_lossy(&shown)
    );
}

/// Ctrl-C while `logs -f` follows a log that set a colour and never reset
/// it: the terminal gets the reset before the process ends by SIGINT.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn interrupted_follow_resets_a_colour_the_log_left_set() {
    use std::os::unix::process::ExitStatusExt;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "colour"]);
    let script = r"printf '\033[31mred'; sleep 120";
    let (value, code) = env.json(&["exec", "-d", "colour", "--", "sh", "-c", script]);
    assert_eq!(code, 0, "{value}");
    let id = value["id"].as_str().expect("id").to_string();

    let pty = nix::pty::openpty(None, None).expect("openpty");
    let mut logs = env.cmd();
    logs.args(["logs", "-f", &id])
        .stdout(Stdio::from(pty.slave.try_clone().expect("dup")))
        .stderr(Stdio::from(pty.slave));
    let mut child = logs.spawn().expect("spawn logs -f");
    drop(logs);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let seen = Arc::clone(&seen);
        let mut file = std::fs::File::from(pty.master);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = file.read(&mut buf) {
                seen.lock().expect("lock").extend_from_slice(&buf[..n]);
            }
        })
    };
    common::poll("the coloured text", Duration::from_secs(60), || {
        let seen = seen.lock().expect("lock");
        String::from_utf8_lossy(&seen).contains("red").then_some(())
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let status = child.wait().expect("wait");
    reader.join().expect("reader");
    let text = String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}: {text:?}");
    let red = text.find("\u{1b}[31mred").expect("the colour passed");
    assert!(
        text[red..].contains("\u{1b}[0m"),
        "left red after Ctrl-C: {text:?}"
    );
    ok(&env, &["kill", &id]);
}
