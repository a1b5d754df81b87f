//! Named sandboxes and their state: detached supervisors, recovery of lost
//! executions, admission order and limits, races, removal and pruning.
//! Real binary, real supervisors, real SQLite.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::{pids_with_cmdline, poll, require_root, unique_marker, TestEnv};

/// Generous: waiting for a condition, never timing it.
const DEADLINE: Duration = Duration::from_secs(30);

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a verb that must succeed; returns its output.
fn ok(env: &TestEnv, args: &[&str]) -> Output {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?} exited {:?}: stdout {:?} stderr {:?}",
        out.status.code(),
        stdout_of(&out),
        stderr_of(&out)
    );
    out
}

fn create(env: &TestEnv, name: &str, profile: &str) {
    ok(env, &["create", name, "-p", profile]);
}

/// `exec NAME --detach -- CMD...`; returns the execution id.
fn detach(env: &TestEnv, name: &str, command: &[&str]) -> String {
    let mut args = vec!["exec", name, "--detach", "--"];
    args.extend_from_slice(command);
    let (v, code) = env.json(&args);
    assert_eq!(code, 0, "{v}");
    let id = v["id"].as_str().unwrap_or_else(|| panic!("no id: {v}"));
    assert_eq!(id.len(), 6, "{v}");
    id.to_string()
}

/// All execution records (`ps --json`).
fn ps(env: &TestEnv) -> Vec<Value> {
    let (v, code) = env.json(&["ps"]);
    assert_eq!(code, 0, "{v}");
    v.as_array()
        .unwrap_or_else(|| panic!("ps --json is not an array: {v}"))
        .clone()
}

fn record(env: &TestEnv, id: &str) -> Value {
    ps(env)
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("execution {id} not in ps --json"))
}

fn is_final(status: &Value) -> bool {
    !matches!(status.as_str(), Some("queued" | "running"))
}

fn wait_status(env: &TestEnv, id: &str, status: &str) -> Value {
    poll(&format!("execution {id} to be {status}"), DEADLINE, || {
        let r = record(env, id);
        if r["status"] == status {
            return Some(r);
        }
        assert!(!is_final(&r["status"]), "ended before {status}: {r}");
        None
    })
}

/// Wait for the end through the CLI (`wait --json`): (result, exit code).
fn wait_json(env: &TestEnv, id: &str) -> (Value, i32) {
    env.json(&["wait", id])
}

fn logs(env: &TestEnv, id: &str) -> String {
    stdout_of(&ok(env, &["logs", id]))
}

fn ls(env: &TestEnv) -> Vec<Value> {
    let (v, code) = env.json(&["ls"]);
    assert_eq!(code, 0, "{v}");
    v.as_array()
        .unwrap_or_else(|| panic!("ls --json is not an array: {v}"))
        .clone()
}

fn process_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            // Field 3, after the command name in parentheses.
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .unwrap_or("");
            matches!(state, "Z" | "X")
        }
    }
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn detached_execution_survives_its_killed_launcher() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "surv", "default");
    let mut launcher = env
        .cmd()
        .args(["exec", "surv", "--", "sh", "-c", "sleep 2; echo survived"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the attached exec");
    let id = poll("the attached execution to run", DEADLINE, || {
        let records = ps(&env);
        records
            .iter()
            .find(|r| r["sandbox"] == "surv" && r["status"] == "running")
            .map(|r| r["id"].as_str().expect("id").to_string())
    });
    launcher.kill().expect("SIGKILL the launcher");
    let status = launcher.wait().expect("reap the launcher");
    assert!(!status.success(), "the launcher was not killed: {status}");
    let now = record(&env, &id);
    if is_final(&now["status"]) {
        eprintln!("note: execution already ended when its launcher died: {now}");
    }

    let (v, code) = wait_json(&env, &id);
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["exit_code"], 0, "{v}");
    assert!(logs(&env, &id).contains("survived"), "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn logs_follow_prints_everything_and_ends_with_the_execution() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "follow", "default");
    let id = detach(
        &env,
        "follow",
        &[
            "sh",
            "-c",
            "for i in 1 2 3; do echo line$i; sleep 0.3; done",
        ],
    );
    let out = env.run(&["logs", "-f", &id]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "line1\nline2\nline3\n");
    // It returned because the execution ended, not before.
    let r = record(&env, &id);
    assert_eq!(r["status"], "completed", "{r}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn killed_supervisor_is_recovered_as_lost_and_nothing_is_left() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "lost", "default");
    let marker = unique_marker("lost");
    let script = format!("exec -a {marker} sleep 300");
    let id = detach(&env, "lost", &["bash", "-c", &script]);
    let running = wait_status(&env, &id, "running");
    // The command itself is up (so the test kills a supervisor with work under it).
    let sandboxed = poll("the marked sleep to run", DEADLINE, || {
        let pids = pids_with_cmdline(&marker);
        (!pids.is_empty()).then_some(pids)
    });
    let supervisor = running["supervisor_pid"]
        .as_i64()
        .unwrap_or_else(|| panic!("no supervisor_pid: {running}")) as i32;
    assert!(
        !sandboxed.contains(&supervisor),
        "supervisor_pid {supervisor} is the sandboxed process itself"
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(supervisor),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL the supervisor");
    poll("the supervisor to die", DEADLINE, || {
        process_gone(supervisor).then_some(())
    });

    // The very next command that opens the state recovers it.
    let r = record(&env, &id);
    assert_eq!(r["status"], "lost", "{r}");
    assert!(r["error"].as_str().is_some_and(|e| !e.is_empty()), "{r}");

    poll(
        &format!("no host process with {marker} in its cmdline"),
        Duration::from_secs(10),
        || pids_with_cmdline(&marker).is_empty().then_some(()),
    );
    let rel = format!("lost/{id}");
    poll(
        "the execution's cgroup to be empty",
        Duration::from_secs(10),
        || env.cgroup_pids(&rel).is_empty().then_some(()),
    );
    let (list, _) = env.json(&["ls"]);
    assert_eq!(list[0]["running"], 0, "{list}");
}

/// Start an attached `run` or `exec` (the env's only execution) and return
/// once its sandbox's init is up. The command line of the CLI itself names
/// its command too, so this waits on the record, not on the process table.
fn attached(env: &TestEnv, args: &[&str]) -> std::process::Child {
    let cli = env
        .cmd()
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sandbox-tui");
    poll("the execution's sandbox to start", DEADLINE, || {
        ps(env)
            .first()
            .is_some_and(|r| r["status"] == "running" && r["init_pid"].is_i64())
            .then_some(())
    });
    cli
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_killed_run_leaves_no_sandbox_behind() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let marker = unique_marker("killedrun");
    let script = format!("exec -a {marker} sleep 300");
    // `run` supervises in the CLI process itself: kill -9 that process.
    let mut cli = attached(&env, &["run", "--", "bash", "-c", &script]);
    // Its sandbox is its own: nobody else may exec in it.
    let running = poll("the run's execution", DEADLINE, || {
        ps(&env).into_iter().find(|r| r["status"] == "running")
    });
    let name = running["sandbox"].as_str().unwrap_or_default().to_string();
    let out = env.run(&["exec", &name, "--", "true"]);
    assert!(!out.status.success(), "exec into {name} was accepted");
    assert!(
        stderr_of(&out).contains("belongs to a `run`"),
        "{}",
        stderr_of(&out)
    );
    cli.kill().expect("SIGKILL the run");
    cli.wait().expect("reap the run");

    // The next command recovers the execution and removes its sandbox.
    let records = ps(&env);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["status"], "lost", "{records:?}");
    let sandbox = records[0]["sandbox"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(sandbox.starts_with("run-"), "{records:?}");
    assert_eq!(
        ls(&env),
        Vec::<Value>::new(),
        "the ephemeral sandbox is gone"
    );
    assert!(!env.state_dir.join("sandboxes").join(&sandbox).exists());
    poll(
        &format!("no host process with {marker} in its cmdline"),
        Duration::from_secs(10),
        || pids_with_cmdline(&marker).is_empty().then_some(()),
    );
    let leftovers: Vec<_> = env
        .cgroup_dirs()
        .into_iter()
        .filter(|d| d.join(&sandbox).exists())
        .collect();
    assert!(leftovers.is_empty(), "cgroups left: {leftovers:?}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn ctrl_c_on_an_attached_exec_kills_it_like_a_local_command() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "attached", "default");
    let mut cli = attached(&env, &["exec", "attached", "--", "sleep", "300"]);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(cli.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .expect("SIGINT the attached exec");
    let status = poll("exec to end", DEADLINE, || {
        cli.try_wait().expect("try_wait")
    });
    assert_eq!(status.code(), Some(130), "128 + SIGINT");
    let records = ps(&env);
    assert_eq!(records[0]["status"], "killed", "{records:?}");
    assert_eq!(records[0]["signal"], 2, "{records:?}");
    let error = records[0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("SIGINT"), "{records:?}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn an_attached_exec_whose_reader_goes_away_ends_like_a_pipeline() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "piped", "default");
    // `sandbox-tui exec piped -- yes | head -c 4`.
    let status = common::exit_after_reader_leaves(&env, &["exec", "piped", "--", "yes"]);
    assert_eq!(status.code(), Some(141), "128 + SIGPIPE");
    let records = ps(&env);
    assert_eq!(records[0]["status"], "killed", "{records:?}");
    assert_eq!(records[0]["signal"], 13, "{records:?}");
}

/// The largest number of [start, end] intervals that overlap; an end and a
/// start at the same millisecond do not overlap (admission is serialised,
/// and a slot frees when its execution is recorded as ended).
fn max_overlap(intervals: &[(i64, i64)]) -> usize {
    let mut events: Vec<(i64, i32)> = Vec::new();
    for &(start, end) in intervals {
        events.push((start, 1));
        events.push((end, -1));
    }
    // Ends (-1) sort before starts (+1) at the same time.
    events.sort();
    let (mut now, mut max) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        max = max.max(now);
    }
    max as usize
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn two_hundred_executions_respect_max_concurrent_and_order() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.q]\nmax_concurrent = 4\ntimeout_seconds = 60\n");
    create(&env, "queue", "q");
    let began = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids.push(detach(&env, "queue", &["sh", "-c", "sleep 0.05"]));
    }
    let launched = began.elapsed();
    let records = poll(
        "all 200 executions to end",
        Duration::from_secs(600),
        || {
            let records = ps(&env);
            records
                .iter()
                .all(|r| is_final(&r["status"]))
                .then_some(records)
        },
    );
    eprintln!(
        "200 executions: launched in {:.1} s, all ended after {:.1} s",
        launched.as_secs_f64(),
        began.elapsed().as_secs_f64()
    );
    assert_eq!(records.len(), 200);
    let not_completed: Vec<&Value> = records
        .iter()
        .filter(|r| r["status"] != "completed")
        .collect();
    assert!(
        not_completed.is_empty(),
        "{} not completed, e.g. {}",
        not_completed.len(),
        not_completed[0]
    );
    let mut by_seq: Vec<(i64, i64, i64, String)> = records
        .iter()
        .map(|r| {
            let get = |k: &str| r[k].as_i64().unwrap_or_else(|| panic!("no {k} in {r}"));
            (
                get("seq"),
                get("started_at"),
                get("ended_at"),
                r["id"].as_str().expect("id").to_string(),
            )
        })
        .collect();
    by_seq.sort();
    let submitted: Vec<&String> = by_seq.iter().map(|(_, _, _, id)| id).collect();
    assert_eq!(
        submitted,
        ids.iter().collect::<Vec<_>>(),
        "seq is not the submission order"
    );
    let intervals: Vec<(i64, i64)> = by_seq.iter().map(|(_, s, e, _)| (*s, *e)).collect();
    for (start, end) in &intervals {
        assert!(start <= end, "started after it ended: {start} > {end}");
    }
    let overlap = max_overlap(&intervals);
    eprintln!("200 executions: at most {overlap} at once");
    assert!(overlap <= 4, "{overlap} executions ran at once (max 4)");
    for pair in by_seq.windows(2) {
        assert!(
            pair[0].1 <= pair[1].1,
            "execution seq {} ({}) started at {} after seq {} ({}) at {}",
            pair[0].0,
            pair[0].3,
            pair[0].1,
            pair[1].0,
            pair[1].3,
            pair[1].1
        );
    }
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn racing_creates_give_one_sandbox_and_one_clear_error() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // The first round also races on creating the state database itself.
    for name in ["same", "same2", "same3", "same4", "same5"] {
        let spawn = || {
            env.cmd()
                .args(["create", name, "-p", "default"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn create")
        };
        let (a, b) = (spawn(), spawn());
        let outs = [
            a.wait_with_output().expect("wait a"),
            b.wait_with_output().expect("wait b"),
        ];
        let winners = outs.iter().filter(|o| o.status.success()).count();
        assert_eq!(
            winners,
            1,
            "{name}: {:?}",
            outs.iter()
                .map(|o| (o.status.code(), stderr_of(o)))
                .collect::<Vec<_>>()
        );
        let loser = outs.iter().find(|o| !o.status.success()).expect("loser");
        let err = stderr_of(loser);
        assert!(err.contains("already exists"), "{name}: {err}");
        assert!(err.contains(name), "{name}: {err}");
    }
    let list = ls(&env);
    let same: Vec<&Value> = list.iter().filter(|s| s["name"] == "same").collect();
    assert_eq!(same.len(), 1, "{list:?}");
    assert_eq!(list.len(), 5, "{list:?}");
    let workspace = same[0]["workspace"].as_str().expect("workspace");
    assert!(Path::new(workspace).is_dir(), "{workspace}");
    // The winner's sandbox works.
    let out = ok(&env, &["exec", "same", "--", "true"]);
    assert!(out.status.success());
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn rm_refuses_a_busy_sandbox_and_force_kills_and_removes() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "busy", "default");
    let marker = unique_marker("busy");
    let script = format!("exec -a {marker} sleep 300");
    let id = detach(&env, "busy", &["bash", "-c", &script]);
    wait_status(&env, &id, "running");

    let out = env.run(&["rm", "busy"]);
    assert!(!out.status.success(), "rm of a busy sandbox succeeded");
    let err = stderr_of(&out);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(ls(&env).len(), 1, "refused rm still removed something");
    assert_eq!(record(&env, &id)["status"], "running");

    ok(&env, &["rm", "busy", "--force"]);
    let dir = env.state_dir.join("sandboxes").join("busy");
    assert!(!dir.exists(), "{} is still there", dir.display());
    assert_eq!(ls(&env), Vec::<Value>::new());
    assert_eq!(ps(&env), Vec::<Value>::new(), "history outlived rm");
    poll(
        &format!("no host process with {marker} in its cmdline"),
        Duration::from_secs(10),
        || pids_with_cmdline(&marker).is_empty().then_some(()),
    );
    assert!(env.cgroup_pids("busy").is_empty());
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn rm_never_follows_symlinks_out_of_the_workspace() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "links", "default");
    let list = ls(&env);
    let workspace = Path::new(list[0]["workspace"].as_str().expect("workspace")).to_path_buf();
    assert!(workspace.is_dir(), "{}", workspace.display());

    let host = env.dir.path().join("host-data");
    std::fs::create_dir_all(host.join("sub")).expect("mkdir host");
    let precious = host.join("precious");
    std::fs::write(&precious, "keep me").expect("write precious");
    std::fs::write(host.join("sub").join("deeper"), "me too").expect("write deeper");

    std::os::unix::fs::symlink(&host, workspace.join("to-host")).expect("symlink dir");
    std::os::unix::fs::symlink(&precious, workspace.join("to-precious")).expect("symlink file");
    std::fs::create_dir_all(workspace.join("nested")).expect("mkdir nested");
    std::os::unix::fs::symlink(&host, workspace.join("nested").join("again"))
        .expect("nested symlink");

    // And one made by the sandboxed code itself: relative, climbing out of
    // the workspace to the same host directory.
    ok(
        &env,
        &[
            "exec",
            "links",
            "--",
            "ln",
            "-s",
            "../../../../host-data",
            "up",
        ],
    );
    let up = workspace.join("up");
    assert_eq!(
        std::fs::read_to_string(up.join("precious")).expect("the relative link resolves"),
        "keep me"
    );

    ok(&env, &["rm", "links"]);
    assert!(!workspace.exists(), "workspace survived rm");
    assert_eq!(
        std::fs::read_to_string(&precious).expect("precious is gone"),
        "keep me"
    );
    assert_eq!(
        std::fs::read_to_string(host.join("sub").join("deeper")).expect("deeper is gone"),
        "me too"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn newer_state_database_is_refused_clearly() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["ls"]);
    let db = env.state_dir.join("state.db");
    {
        let conn = rusqlite::Connection::open(&db).expect("open state.db");
        conn.pragma_update(None, "user_version", 999)
            .expect("set user_version");
    }
    let out = env.run(&["ls"]);
    assert!(!out.status.success(), "ls accepted a newer database");
    let err = stderr_of(&out);
    assert!(err.contains("version"), "{err}");
    assert!(err.contains("999"), "{err}");
    // And the database was left alone.
    let conn = rusqlite::Connection::open(&db).expect("reopen state.db");
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |row| row.get(0))
        .expect("read user_version");
    assert_eq!(version, 999);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn corrupt_state_database_is_a_clear_error_not_a_panic() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    std::fs::create_dir_all(&env.state_dir).expect("state dir");
    let db = env.state_dir.join("state.db");
    std::fs::write(
        &db,
        b"this is not a database, just garbage bytes \x00\x01".repeat(200),
    )
    .expect("write garbage");
    for args in [
        &["ls"][..],
        &["ps"],
        &["create", "x"],
        &["run", "--", "true"],
    ] {
        let out = env.run(args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?} panicked: {err}");
        assert!(
            err.contains("state.db") || err.contains("database"),
            "{args:?}: {err}"
        );
    }
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn execution_ids_accept_unique_prefixes_and_unknown_ids_are_clear_errors() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "ids", "default");
    let ids: Vec<String> = (0..3)
        .map(|i| detach(&env, "ids", &["sh", "-c", &format!("echo hello{i}")]))
        .collect();
    for (i, id) in ids.iter().enumerate() {
        // The shortest unique prefix of at least 3 characters.
        let prefix = (3..=6)
            .map(|n| &id[..n])
            .find(|p| ids.iter().filter(|other| other.starts_with(p)).count() == 1)
            .expect("a full id is unique");
        let (v, code) = wait_json(&env, prefix);
        assert_eq!(code, 0, "wait {prefix}: {v}");
        assert_eq!(v["id"], id.as_str(), "wait {prefix}: {v}");
        assert_eq!(v["status"], "completed", "{v}");
        assert_eq!(logs(&env, prefix), format!("hello{i}\n"));
        let (v, code) = env.json(&["logs", prefix]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["id"], id.as_str(), "{v}");
    }

    // A hex id that is no execution's prefix.
    let unknown = (0..=0xffu32)
        .map(|n| format!("{n:02x}ee"))
        .find(|c| !ids.iter().any(|id| id.starts_with(c.as_str())))
        .expect("a free id");
    for verb in ["wait", "logs"] {
        let out = env.run(&[verb, &unknown]);
        assert!(!out.status.success(), "{verb} {unknown} succeeded");
        let err = stderr_of(&out);
        assert!(err.contains(&unknown), "{verb}: {err}");
        assert!(err.contains("no such execution"), "{verb}: {err}");
    }

    // `ps --last N`: the newest N, newest first; of all sandboxes or of one.
    create(&env, "other", "default");
    let newest = detach(&env, "other", &["true"]);
    wait_json(&env, &newest);
    let listed = |args: &[&str]| -> Vec<String> {
        let (v, code) = env.json(args);
        assert_eq!(code, 0, "{v}");
        v.as_array()
            .unwrap_or_else(|| panic!("not an array: {v}"))
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(listed(&["ps", "-n", "2"]), [newest.clone(), ids[2].clone()]);
    assert_eq!(listed(&["ps", "ids", "--last", "1"]), [ids[2].clone()]);
    assert_eq!(listed(&["ps", "ids", "--last", "9"]).len(), 3);
    assert_eq!(listed(&["ps"]).len(), 4);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn denied_exec_is_recorded_with_its_reason() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.only_echo]\nallowed_commands = [\"echo\"]\n");
    create(&env, "policy", "only_echo");
    let (v, code) = env.json(&["exec", "policy", "--", "cat", "/etc/hostname"]);
    assert_eq!(code, 126, "{v}");
    assert_eq!(v["status"], "denied", "{v}");
    let reason = v["error"].as_str().unwrap_or_default();
    assert!(reason.contains("allowed_commands"), "{v}");
    let id = v["id"].as_str().expect("id").to_string();

    // Without --json too, with the reason on stderr.
    let out = env.run(&["exec", "policy", "--", "cat", "/etc/hostname"]);
    assert_eq!(out.status.code(), Some(126));
    assert!(stderr_of(&out).contains("allowed_commands"), "{out:?}");

    let r = record(&env, &id);
    assert_eq!(r["status"], "denied", "{r}");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.contains("allowed_commands")),
        "{r}"
    );
    assert_eq!(
        r["started_at"],
        Value::Null,
        "a denied command started: {r}"
    );
    // The allowed command still runs.
    let (v, code) = env.json(&["exec", "policy", "--", "echo", "fine"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stdout"], "fine\n", "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn kill_with_signal_term_reaches_the_sandboxed_processes() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "term", "default");
    let id = detach(
        &env,
        "term",
        &[
            "sh",
            "-c",
            "trap 'echo got-term; exit 0' TERM; echo ready; while :; do sleep 0.1; done",
        ],
    );
    // Only once the trap is set.
    poll("the trap to be set", DEADLINE, || {
        logs(&env, &id).contains("ready").then_some(())
    });
    let (v, code) = env.json(&["kill", "term", "--signal", "TERM"]);
    assert_eq!(code, 0, "{v}");
    let (v, code) = wait_json(&env, &id);
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(code, 0, "{v}");
    assert!(logs(&env, &id).contains("got-term"), "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn prune_removes_finished_executions_and_their_logs() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "prune", "default");
    let ids = [
        detach(&env, "prune", &["sh", "-c", "echo one; echo err1 >&2"]),
        detach(&env, "prune", &["sh", "-c", "echo two; echo err2 >&2"]),
    ];
    let mut log_files = Vec::new();
    for id in &ids {
        let (v, code) = wait_json(&env, id);
        assert_eq!(code, 0, "{v}");
        let r = record(&env, id);
        for key in ["stdout_log", "stderr_log"] {
            let path = Path::new(r[key].as_str().expect("log path")).to_path_buf();
            assert!(path.starts_with(env.state_dir.join("logs")), "{r}");
            assert!(path.exists(), "{} missing before prune", path.display());
            log_files.push(path);
        }
    }
    let (v, code) = env.json(&["prune"]);
    assert_eq!(code, 0, "{v}");
    let mut pruned: Vec<&str> = v["executions"]
        .as_array()
        .unwrap_or_else(|| panic!("{v}"))
        .iter()
        .filter_map(Value::as_str)
        .collect();
    pruned.sort_unstable();
    let mut expected: Vec<&str> = ids.iter().map(String::as_str).collect();
    expected.sort_unstable();
    assert_eq!(pruned, expected, "{v}");
    assert_eq!(ps(&env), Vec::<Value>::new());
    for path in &log_files {
        assert!(!path.exists(), "{} survived prune", path.display());
    }
    let left: Vec<_> = std::fs::read_dir(env.state_dir.join("logs"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in logs/: {left:?}");
    // The sandbox itself stays.
    assert_eq!(ls(&env).len(), 1);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn global_flags_work_before_and_after_the_verb() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "flags", "default");
    for args in [
        vec!["ls", "--json"],
        vec!["--json", "ls"],
        vec!["ps", "--json"],
        vec!["--json", "ps"],
    ] {
        let out = ok(&env, &args);
        let text = stdout_of(&out);
        let v: Value = serde_json::from_str(text.trim())
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text:?}"));
        assert!(v.is_array(), "{args:?}: {v}");
    }
    let out = ok(&env, &["ls", "--json"]);
    let v: Value = serde_json::from_str(stdout_of(&out).trim()).expect("json");
    assert_eq!(v[0]["name"], "flags", "{v}");
}

/// The user's command sits in its execution's group in every hierarchy the
/// tool uses, as the host sees it: joined by the child itself (v1) and born
/// there (cgroup2, `CLONE_INTO_CGROUP`), never left in the launcher's group.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn the_command_runs_inside_its_execution_cgroup_in_every_hierarchy() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "placed", "default");
    let marker = unique_marker("placed");
    let id = detach(
        &env,
        "placed",
        &["sh", "-c", &format!("sleep 30; echo {marker}")],
    );
    let pid = poll("the command to start", DEADLINE, || {
        pids_with_cmdline(&marker).first().copied()
    });
    let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/cgroup: {e}"));
    let group = format!("/{}/placed/{id}", env.cgroup_root);
    // Every hierarchy in which the tool made its root group (v1 controllers,
    // the cgroup2 mount) must list the command in the execution's group.
    let hierarchies: Vec<String> = env
        .cgroup_dirs()
        .iter()
        .filter_map(|dir| dir.parent().map(|h| h.display().to_string()))
        .collect();
    assert!(!hierarchies.is_empty(), "no cgroup hierarchy of the tool");
    let mut checked = Vec::new();
    for line in membership.lines() {
        // "ID:controllers:path"; "0::path" is cgroup2.
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let mount = match controllers {
            "" if Path::new("/sys/fs/cgroup/unified").is_dir() => {
                "/sys/fs/cgroup/unified".to_string()
            }
            "" => "/sys/fs/cgroup".to_string(),
            named => format!("/sys/fs/cgroup/{named}"),
        };
        if hierarchies.contains(&mount) {
            assert_eq!(path, group, "{line} in\n{membership}");
            checked.push(mount);
        }
    }
    assert_eq!(
        checked.len(),
        hierarchies.len(),
        "checked {checked:?} of {hierarchies:?} in\n{membership}"
    );
    let (v, code) = env.json(&["kill", "placed"]);
    assert_eq!(code, 0, "{v}");
    wait_json(&env, &id);
}

/// After a reboot cgroupfs is empty but the state remembers the sandbox: the
/// next execution makes the sandbox's group again, with its limits.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_sandbox_whose_cgroups_vanished_gets_them_back_with_its_limits() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, "reborn", "default");
    let groups: Vec<_> = env
        .cgroup_dirs()
        .into_iter()
        .map(|dir| dir.join("reborn"))
        .filter(|group| group.is_dir())
        .collect();
    assert!(!groups.is_empty(), "no group made for the sandbox");
    for group in &groups {
        std::fs::remove_dir(group).unwrap_or_else(|e| panic!("rmdir {}: {e}", group.display()));
    }
    let (v, code) = env.json(&["exec", "reborn", "--", "true"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    let memory = Path::new("/sys/fs/cgroup/memory")
        .join(&env.cgroup_root)
        .join("reborn");
    if memory.is_dir() {
        let limit =
            std::fs::read_to_string(memory.join("memory.limit_in_bytes")).expect("memory limit");
        let listed = ls(&env)
            .into_iter()
            .find(|s| s["name"] == "reborn")
            .map(|s| s["memory_limit_bytes"].to_string())
            .unwrap_or_default();
        assert_eq!(limit.trim(), listed, "the sandbox's memory limit");
        let pids = Path::new("/sys/fs/cgroup/pids")
            .join(&env.cgroup_root)
            .join("reborn/pids.max");
        let max = std::fs::read_to_string(&pids).expect("pids.max");
        assert_ne!(max.trim(), "max", "the sandbox's process limit");
    }
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_run_killed_before_it_was_recorded_leaves_nothing_for_long() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    assert!(ps(&env).is_empty());
    // A writer that holds the database keeps the run from recording itself:
    // its sandbox is built, but its command waits for the record.
    let db = rusqlite::Connection::open(env.state_dir.join("state.db")).expect("open the state");
    db.execute_batch("BEGIN IMMEDIATE").expect("lock the state");
    let marker = unique_marker("unrecorded");
    let script = format!("exec -a {marker} sleep 300");
    let mut cli = env
        .cmd()
        .args(["run", "--", "bash", "-c", &script])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sandbox-tui run");
    let sandboxes = env.state_dir.join("sandboxes");
    let dir = poll("the run's sandbox and its init", DEADLINE, || {
        let dir = std::fs::read_dir(&sandboxes)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("run-"))
            })?;
        (!env.cgroup_pids("").is_empty()).then_some(dir)
    });
    cli.kill().expect("SIGKILL the run");
    cli.wait().expect("reap the run");
    // The init ends with its supervisor; the command never started.
    poll("the init to end", DEADLINE, || {
        env.cgroup_pids("").is_empty().then_some(())
    });
    assert!(pids_with_cmdline(&marker).is_empty(), "the command ran");
    db.execute_batch("COMMIT").expect("unlock the state");
    drop(db);

    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let groups = || -> Vec<_> {
        env.cgroup_dirs()
            .into_iter()
            .map(|d| d.join(&name))
            .filter(|d| d.exists())
            .collect()
    };
    assert!(ps(&env).is_empty(), "nothing was recorded");
    // Young leftovers could be a run that is recording itself right now.
    assert!(dir.exists());
    assert!(!groups().is_empty(), "the run's cgroups");

    let two_minutes_ago = nix::sys::time::TimeSpec::new(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64 - 120)
            .unwrap_or(0),
        0,
    );
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        &dir,
        &two_minutes_ago,
        &two_minutes_ago,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .expect("age the leftovers");
    ls(&env);
    assert!(!dir.exists(), "{} is left", dir.display());
    assert_eq!(
        groups(),
        Vec::<std::path::PathBuf>::new(),
        "cgroups are left"
    );
}

/// `update NAME` gives a sandbox its profile as the file has it now: the
/// snapshot its executions run under and its cgroup's limits; a second
/// update finds nothing to do.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn update_applies_the_profile_as_the_file_has_it_now() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.grow]\nmax_memory_mb = 64\ntimeout_seconds = 30\n");
    // Its own override stays through the update.
    assert!(env
        .run(&[
            "create",
            "box",
            "-p",
            "grow",
            "--set",
            "max_process_count=20"
        ])
        .status
        .success());
    let text = std::fs::read_to_string(&env.config).expect("config");
    let text = text.replace(
        "max_memory_mb = 64\ntimeout_seconds = 30",
        "max_memory_mb = 96\ntimeout_seconds = 7",
    );
    std::fs::write(&env.config, text).expect("config");

    let (v, code) = env.json(&["update", "box"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["sandbox"], "box");
    let changes = v["changes"].as_array().expect("changes");
    let keys: Vec<&str> = changes.iter().filter_map(|c| c["key"].as_str()).collect();
    assert_eq!(keys, ["max_memory_mb", "timeout_seconds"], "{v}");
    assert_eq!(changes[0]["from"], 64);
    assert_eq!(changes[0]["to"], 96);

    let (v, _) = env.json(&["ls"]);
    let row = v
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "box"))
        .cloned()
        .expect("box listed");
    assert_eq!(row["memory_limit_bytes"], 96 * 1024 * 1024, "{row}");
    assert_eq!(row["max_processes"], 20, "{row}");
    // The cgroup holds the new limit (v1 memory, or v2 memory.max).
    let limit = env
        .cgroup_dirs()
        .iter()
        .flat_map(|d| ["memory.limit_in_bytes", "memory.max"].map(|f| d.join("box").join(f)))
        .find_map(|f| std::fs::read_to_string(f).ok())
        .expect("a memory limit file of the sandbox's group");
    assert_eq!(limit.trim(), (96u64 * 1024 * 1024).to_string());
    // The next execution runs under the new timeout.
    let (v, code) = env.json(&["exec", "box", "--", "sleep", "30"]);
    assert_eq!(code, 124, "{v}");
    assert_eq!(v["status"], "timeout");

    let (v, code) = env.json(&["update", "box"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["changes"], serde_json::json!([]));
    assert!(env.run(&["rm", "box"]).status.success());
}

/// A `kill` that races the launch of a detached execution ends it as
/// `killed`, never `lost` (the supervisor ended before it recorded
/// anything) or `error` (the init killed before it got its spec).
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_kill_right_after_a_detached_exec_is_recorded_killed() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    assert!(env.run(&["create", "racy"]).status.success());
    for round in 0..8 {
        let out = env.run(&["exec", "racy", "--detach", "--", "sleep", "30"]);
        assert!(out.status.success(), "round {round}: {out:?}");
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let (v, _) = env.json(&["kill", &id]);
        let status = v[0]["status"].as_str().unwrap_or_default().to_string();
        assert_eq!(status, "killed", "round {round}: {v}");
    }
    assert!(env.run(&["rm", "--force", "racy"]).status.success());
}

/// `update` lowering max_memory_mb below what a running execution holds:
/// cgroup v1 refuses the limit, and `update` says so plainly, changes
/// nothing (neither the cgroup's limits nor the stored profile) and works
/// once the execution has ended; cgroup v2 takes the limit and the
/// execution ends as memory_limit.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn update_below_a_running_executions_memory_changes_nothing_or_binds_it() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.mem]\nmax_memory_mb = 200\ntimeout_seconds = 300\n");
    assert!(env.run(&["create", "box", "-p", "mem"]).status.success());
    // Holds 80 MB until the file `go` appears in its workspace.
    let out = env.run(&[
        "exec",
        "box",
        "--detach",
        "--python",
        "import os, time\nb = bytearray(80 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\n\
         while not os.path.exists('go'): time.sleep(0.05)\nreturn len(b)",
    ]);
    assert!(out.status.success(), "{out:?}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let (v, _) = env.json(&["ls"]);
        let used = v[0]["memory_bytes"].as_u64().unwrap_or(0);
        if used > 80 << 20 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never used 80 MB: {v}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let text = std::fs::read_to_string(&env.config).expect("config");
    let text = text.replace(
        "max_memory_mb = 200\ntimeout_seconds = 300",
        "max_memory_mb = 20\ntimeout_seconds = 300\nmax_process_count = 7",
    );
    std::fs::write(&env.config, text).expect("config");
    let memory_limit = || {
        let (v, _) = env.json(&["ls"]);
        (
            v[0]["memory_limit_bytes"].clone(),
            v[0]["max_processes"].clone(),
        )
    };
    let (v, code) = env.json(&["update", "box"]);
    let go = env.state_dir.join("sandboxes/box/workspace/go");
    if code == 0 {
        // cgroup v2: bound at once.
        let (v, _) = env.json(&["wait", &id]);
        assert_eq!(v["status"], "memory_limit", "{v}");
        return;
    }
    assert_eq!(code, 125, "{v}");
    let error = v["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("max_memory_mb = 20 MB") && error.contains("nothing changed"),
        "{v}"
    );
    assert_eq!(
        memory_limit(),
        (serde_json::json!(200 << 20), serde_json::json!(10)),
        "limits changed by a refused update"
    );
    std::fs::write(&go, "").expect("go");
    let (v, code) = env.json(&["wait", &id]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["result"], 80 << 20);
    // Now it applies, the memory key among the changes.
    let (v, code) = env.json(&["update", "box"]);
    assert_eq!(code, 0, "{v}");
    let keys: Vec<&str> = v["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .filter_map(|c| c["key"].as_str())
        .collect();
    assert_eq!(keys, ["max_memory_mb", "max_process_count"], "{v}");
    assert_eq!(
        memory_limit(),
        (serde_json::json!(20 << 20), serde_json::json!(7))
    );
}
