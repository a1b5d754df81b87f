//! `logs`: stdout and stderr in the order they were written, the real end
//! of a flood past `max_output_kb`, and the supervisor's CPU recorded.

mod common;

use std::process::Output;

use common::{require_root, TestEnv};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(env: &TestEnv, args: &[&str]) -> Output {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?} exited {:?}: {} {}",
        out.status.code(),
        text(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `exec NAME -- CMD...` attached (it waits for the end); the result.
fn exec(env: &TestEnv, name: &str, command: &[&str]) -> serde_json::Value {
    let mut args = vec!["exec", name, "--"];
    args.extend_from_slice(command);
    let (v, code) = env.json(&args);
    assert_eq!(code, 0, "{v}");
    v
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn stdout_and_stderr_come_in_the_order_they_were_written() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "order"]);
    // The pauses let the supervisor read each write before the next: the
    // order kept is the order it read them in.
    let v = exec(
        &env,
        "order",
        &[
            "sh",
            "-c",
            "echo a; sleep 0.5; echo b >&2; sleep 0.5; echo c",
        ],
    );
    let id = v["id"].as_str().expect("id");
    assert_eq!(text(&ok(&env, &["logs", id])), "a\nb\nc\n");
    assert_eq!(text(&ok(&env, &["logs", "--stdout", id])), "a\nc\n");
    assert_eq!(text(&ok(&env, &["logs", "--stderr", id])), "b\n");
    let (j, code) = env.json(&["logs", id]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["stream"], "both", "{j}");
    assert_eq!(j["data"], "a\nb\nc\n", "{j}");
    // Following an ended execution shows the same.
    assert_eq!(text(&ok(&env, &["logs", "-f", id])), "a\nb\nc\n");
    assert_eq!(text(&ok(&env, &["logs", "-f", "--stderr", id])), "b\n");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_flood_keeps_its_real_last_lines_and_counts_the_supervisor_cpu() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.small]\nmax_output_kb = 16\n");
    ok(&env, &["create", "flood", "-p", "small"]);
    let v = exec(
        &env,
        "flood",
        &[
            "sh",
            "-c",
            "echo first; yes flood | head -c 200000000; echo; echo last; echo err >&2",
        ],
    );
    let id = v["id"].as_str().expect("id");
    assert_eq!(v["stdout_truncated"], true, "{v}");
    assert!(
        v["supervisor_cpu_ms"].as_u64().is_some_and(|ms| ms > 0),
        "{v}"
    );
    let shown = text(&ok(&env, &["logs", id]));
    assert!(shown.starts_with("first\nflood\n"), "{}", &shown[..64]);
    assert!(
        shown.ends_with("flood\nfl\nlast\nerr\n"),
        "{}",
        &shown[shown.len() - 64..]
    );
    let marker = shown
        .lines()
        .find(|l| l.starts_with("[… ") && l.ends_with(" bytes of stdout not kept …]"))
        .expect("a marker between head and tail");
    let not_kept: u64 = marker
        .trim_start_matches("[… ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count");
    // Head (16 KiB) and tail (8 KiB) kept of 200 MB and a few lines.
    assert_eq!(not_kept, 200_000_000 + 6 + 1 + 5 - 16 * 1024 - 8 * 1024);
    // The log files stay within their caps.
    let logs = env.state_dir.join("logs");
    let size = |name: &str| std::fs::metadata(logs.join(name)).map(|m| m.len());
    assert_eq!(size(&format!("{id}.stdout")).ok(), Some(16 * 1024));
    assert!(size(&format!("{id}.stdout.tail")).is_ok_and(|n| n <= 8 * 1024 + 32));
    // The dashboard reads them through the same reader: the head, the
    // marker, the real last lines.
    let tail = sandbox_tui::tui::read_log_tail(
        id,
        &logs.join(format!("{id}.stdout")),
        &logs.join(format!("{id}.stderr")),
        true,
    );
    let lines: Vec<&str> = tail.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(lines[..2], ["first", "flood"]);
    assert_eq!(lines[lines.len() - 3..], ["fl", "last", "err"]);
    assert!(lines.contains(&marker), "{marker}");
    assert_eq!(
        tail.lines.last().map(|l| l.kind),
        Some(sandbox_tui::tui::action::LineKind::Stderr)
    );
    // `prune` removes them all.
    ok(&env, &["prune"]);
    let left: Vec<_> = std::fs::read_dir(&logs)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn following_past_the_cap_shows_the_head_then_the_tail_at_the_end() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.small]\nmax_output_kb = 16\n");
    ok(&env, &["create", "follow", "-p", "small"]);
    let (v, code) = env.json(&[
        "exec",
        "follow",
        "--detach",
        "--",
        "sh",
        "-c",
        "echo first; yes flood | head -c 999996; echo err >&2; sleep 1; echo last",
    ]);
    assert_eq!(code, 0, "{v}");
    let id = v["id"].as_str().expect("id");
    let shown = text(&ok(&env, &["logs", "-f", id]));
    assert!(shown.starts_with("first\nflood\n"), "{}", &shown[..64]);
    // While it ran, stderr came after the head; the tail of the flood
    // comes at the end (or, ended already, before stderr's line).
    assert!(
        shown.ends_with("flood\nlast\n"),
        "{}",
        &shown[shown.len() - 64..]
    );
    assert!(shown.contains("\nerr\n"), "stderr interleaved");
    assert!(
        shown.contains(" bytes of stdout not kept …]\n"),
        "the gap marked"
    );
    // Each byte shown once: the head, the tail, stderr's line, the markers
    // (each on a line of its own: a newline before one that follows a
    // line cut short).
    let markers: usize = shown
        .lines()
        .filter(|l| l.starts_with("[… "))
        .map(|l| l.len() + 1)
        .sum();
    let data = 16 * 1024 + 8 * 1024 + "err\n".len();
    assert!(shown.len() - markers <= data + 2, "{}", shown.len());
}
