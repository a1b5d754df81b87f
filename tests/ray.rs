//! The Ray cluster backend (docs/ray.md) against a real cluster: the one
//! `source .ci/ray-env; ray_env_start BIN_DIR` starts (a head and a second
//! node on this machine, running this build), named by
//! SANDBOX_TUI_RAY_ADDRESS. Ignored in the plain suite; `.ci/run` runs
//! them with `cargo test --test ray -- --include-ignored`.

mod common;

use std::time::{Duration, Instant};

use common::TestEnv;

const NEEDS: &str = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)";

fn address() -> String {
    std::env::var("SANDBOX_TUI_RAY_ADDRESS")
        .unwrap_or_else(|_| panic!("{NEEDS}: run `source .ci/ray-env; ray_env_start DIR` first"))
}

fn cluster_json(env: &TestEnv, args: &[&str]) -> (serde_json::Value, i32) {
    let address = address();
    let mut full = vec!["--cluster", address.as_str()];
    full.extend_from_slice(args);
    env.json(&full)
}

/// Host pids of processes whose command line has `marker` as an argument.
fn processes_with(marker: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|arg| arg == marker.as_bytes()))
        })
        .collect()
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)"]
fn a_command_runs_as_a_job_and_its_result_comes_back() {
    let env = TestEnv::new("");
    let (result, code) = cluster_json(
        &env,
        &["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"],
    );
    assert_eq!(code, 3, "{result}");
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(result["exit_code"], 3);
    assert_eq!(result["stdout"], "out\n");
    assert_eq!(result["stderr"], "err\n");
    // The node kept the execution in the state directory of its own
    // sandboxes.toml (XDG_CONFIG_HOME), not in one a sandboxes.toml in the
    // job's working directory (where the node was started) named.
    if let Ok(dir) = std::env::var("RAY_ENV_DIR") {
        let sandbox = result["sandbox"].as_str().expect("sandbox");
        let node_id = sandbox.strip_prefix("run-").expect("run-ID");
        let log = std::path::Path::new(&dir).join(format!("state/logs/{node_id}.stdout"));
        assert!(log.is_file(), "{} is missing: {result}", log.display());
    }
    let id = result["id"].as_str().expect("id").to_owned();
    assert!(id.starts_with("sandbox-tui-"), "{id}");
    // The same result again from `wait` and `logs`, and the job in `ps`.
    let (again, code) = cluster_json(&env, &["wait", &id]);
    assert_eq!((again["status"].as_str(), code), (Some("failed"), 3));
    let address = address();
    let out = env.run(&["--cluster", &address, "logs", "--stdout", &id]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let (list, code) = cluster_json(&env, &["ps"]);
    assert_eq!(code, 0);
    let row = list
        .as_array()
        .expect("array")
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} not in {list}"));
    assert_eq!(row["status"], "failed");
    assert_eq!(row["ray_status"], "FAILED");
}

#[test]
#[ignore = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)"]
fn the_profile_travels_with_the_job_and_its_limits_hold_on_the_node() {
    // A profile only the submitter's file has: the node has none of it.
    let env = TestEnv::new(
        "[profiles.travel]\nextends = \"strict\"\ntimeout_seconds = 2\nenv = { TRAVEL = \"yes\" }\n",
    );
    let (result, code) = cluster_json(
        &env,
        &[
            "run",
            "-p",
            "travel",
            "--",
            "sh",
            "-c",
            "echo $TRAVEL; sleep 30",
        ],
    );
    assert_eq!(code, 124, "{result}");
    assert_eq!(result["status"], "timeout");
    assert_eq!(result["profile"], "travel");
    assert_eq!(result["stdout"], "yes\n");
    // A Python snippet's value.
    let (result, code) = cluster_json(&env, &["run", "--python", "return [6 * 7, 'x']"]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(result["result"], serde_json::json!([42, "x"]));
    // No network on the node either.
    let (result, _) = cluster_json(
        &env,
        &[
            "run",
            "-p",
            "strict",
            "--",
            "sh",
            "-c",
            "grep -c : /proc/net/dev",
        ],
    );
    assert_eq!(result["stdout"], "1\n", "only lo: {result}");
}

#[test]
#[ignore = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)"]
fn kill_stops_the_job_and_no_process_of_its_tree_survives() {
    let env = TestEnv::new("");
    // Unique arguments to find the tree's processes on this machine by.
    let marker = format!("3600.{}{}", std::process::id(), line!());
    let script = format!("setsid sleep {marker} & sleep {marker} & (sleep {marker} &) ; wait");
    let (submitted, code) = cluster_json(&env, &["run", "--detach", "--", "sh", "-c", &script]);
    assert_eq!(code, 0, "{submitted}");
    let id = submitted["id"].as_str().expect("id").to_owned();
    wait_for("the job's three sleeps", Duration::from_secs(120), || {
        processes_with(&marker).len() == 3
    });
    let (killed, code) = cluster_json(&env, &["kill", &id]);
    assert_eq!(code, 0, "{killed}");
    assert_eq!(killed["stopped"], true, "{killed}");
    assert_eq!(killed["status"], "killed", "{killed}");
    // The kill returns once the job has ended; the setsid child and the
    // orphan went with the sandbox's cgroup, not with the process group.
    wait_for("no sleep left", Duration::from_secs(30), || {
        processes_with(&marker).is_empty()
    });
    let (result, code) = cluster_json(&env, &["wait", &id]);
    assert_eq!(result["status"], "killed", "{result}");
    assert_ne!(code, 0);
}

#[test]
#[ignore = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)"]
fn a_signal_to_a_waiting_run_stops_its_job() {
    let env = TestEnv::new("");
    let marker = format!("3600.{}{}", std::process::id(), line!());
    let script = format!("setsid sleep {marker} & sleep {marker}");
    let address = address();
    let child = env
        .cmd()
        .args([
            "--json",
            "--cluster",
            &address,
            "run",
            "--",
            "sh",
            "-c",
            &script,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    wait_for("the job's two sleeps", Duration::from_secs(120), || {
        processes_with(&marker).len() == 2
    });
    // Our own child, the waiting CLI: it stops the job and reports its end.
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("kill");
    let out = child.wait_with_output().expect("wait");
    let result: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("the result on stdout");
    assert_eq!(result["status"], "killed", "{result}");
    assert_ne!(out.status.code(), Some(0));
    wait_for("no sleep left", Duration::from_secs(30), || {
        processes_with(&marker).is_empty()
    });
}

#[test]
#[ignore = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)"]
fn the_cluster_lists_both_nodes_and_refuses_bad_ids() {
    let client = sandbox_tui::cluster::RayClient::new(&address(), None).expect("client");
    let nodes = client.nodes().expect("nodes");
    assert!(nodes.len() >= 2, "{nodes:?}");
    assert!(nodes.iter().any(|n| n.is_head));
    assert!(nodes
        .iter()
        .all(|n| n.state == "ALIVE" && n.cpus >= 1.0 && n.mem_total > 0));
    let env = TestEnv::new("");
    let (answer, code) = cluster_json(&env, &["wait", "nosuchjob"]);
    assert_eq!(code, 125);
    assert!(
        answer["error"]
            .as_str()
            .is_some_and(|e| e.contains("no job")),
        "{answer}"
    );
}

#[test]
#[ignore = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)"]
fn logs_of_a_running_job_show_its_output_so_far_stream_by_stream() {
    let env = TestEnv::new("");
    let address = address();
    let marker = format!("3600.{}{}", std::process::id(), line!());
    // The sleep stands for a long computation; the test ends it itself.
    let script = format!(
        "echo out1; echo err1 >&2; printf '\\033]0;t\\007\\n'; sleep {marker}; echo out2; echo err2 >&2; exit 3"
    );
    let (submitted, code) = cluster_json(&env, &["run", "--detach", "--", "sh", "-c", &script]);
    assert_eq!(code, 0, "{submitted}");
    let id = submitted["id"].as_str().expect("id").to_owned();
    wait_for("the job's sleep", Duration::from_secs(120), || {
        processes_with(&marker).len() == 1
    });
    let logs = |args: &[&str]| {
        let mut full = vec!["--cluster", address.as_str(), "logs"];
        full.extend_from_slice(args);
        full.push(&id);
        env.run(&full)
    };
    // The frames reach Ray's log a moment after the sleep started.
    let mut so_far = None;
    wait_for("the output so far", Duration::from_secs(60), || {
        let out = logs(&[]);
        so_far = Some(out.clone());
        out.status.success() && out.stdout.starts_with(b"out1\n") && out.stderr == b"err1\n"
    });
    let so_far = so_far.expect("an answer");
    assert_eq!(
        so_far.stdout, b"out1\n\x1b]0;t\x07\n",
        "not a terminal: as written"
    );
    let out = logs(&["--stdout"]);
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b"out1\n\x1b]0;t\x07\n"[..], &b""[..])
    );
    let out = logs(&["--stderr"]);
    assert_eq!(
        (out.stdout.as_slice(), out.stderr.as_slice()),
        (&b""[..], &b"err1\n"[..])
    );
    let (running, code) = cluster_json(&env, &["logs", &id]);
    assert_eq!(code, 0, "{running}");
    assert_eq!(running["status"], "running", "{running}");
    assert_eq!(running["stderr"], "err1\n", "{running}");
    // `logs -f` shows what there is and follows to the end.
    let follower = env
        .cmd()
        .args(["--cluster", &address, "logs", "-f", "--stdout", &id])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    for pid in processes_with(&marker) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let (result, code) = cluster_json(&env, &["wait", &id]);
    assert_eq!(code, 3, "{result}");
    assert_eq!(result["status"], "failed", "{result}");
    assert_eq!(
        result["stdout"], "out1\n\u{1b}]0;t\u{7}\nout2\n",
        "{result}"
    );
    // The shell says its sleep was killed between the two.
    let stderr = result["stderr"].as_str().expect("stderr");
    assert!(
        stderr.starts_with("err1\n") && stderr.ends_with("err2\n"),
        "{result}"
    );
    let followed = follower.wait_with_output().expect("wait");
    assert!(followed.status.success(), "{followed:?}");
    assert_eq!(followed.stdout, b"out1\n\x1b]0;t\x07\nout2\n");
    assert_eq!(followed.stderr, b"");
    let out = logs(&["--stderr"]);
    assert_eq!(out.stderr, stderr.as_bytes());
}

#[test]
#[ignore = "needs a Ray cluster: SANDBOX_TUI_RAY_ADDRESS (source .ci/ray-env)"]
fn a_running_jobs_output_in_its_log_stops_at_the_profiles_cap() {
    let env = TestEnv::new("[profiles.small]\nmax_output_kb = 1\n");
    let marker = format!("3600.{}{}", std::process::id(), line!());
    let script = format!("head -c 5000 /dev/zero | tr '\\0' a; sleep {marker}");
    let (submitted, code) = cluster_json(
        &env,
        &["run", "-p", "small", "--detach", "--", "sh", "-c", &script],
    );
    assert_eq!(code, 0, "{submitted}");
    let id = submitted["id"].as_str().expect("id").to_owned();
    wait_for("the job's sleep", Duration::from_secs(120), || {
        processes_with(&marker).len() == 1
    });
    let mut last = serde_json::Value::Null;
    wait_for("the capped output", Duration::from_secs(60), || {
        let (running, _) = cluster_json(&env, &["logs", &id]);
        last = running;
        last["stdout_truncated"] == true
    });
    assert_eq!(last["status"], "running", "{last}");
    assert_eq!(last["stdout"], "a".repeat(1024), "{last}");
    let (killed, code) = cluster_json(&env, &["kill", &id]);
    assert_eq!(
        (killed["status"].as_str(), code),
        (Some("killed"), 0),
        "{killed}"
    );
    wait_for("no sleep left", Duration::from_secs(30), || {
        processes_with(&marker).is_empty()
    });
}
