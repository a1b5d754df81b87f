//! The Docker backend end to end, against a real daemon: `.ci/docker-env`
//! starts a private dockerd and imports a tiny image, and exports
//! DOCKER_HOST and SANDBOX_TUI_DOCKER_IMAGE. Without them the tests say so
//! and pass, except in CI, where they fail.
#![cfg(feature = "docker")]

mod common;

use std::time::Duration;

use common::{poll, TestEnv};
use serde_json::Value;

/// The test image, or `None` (outside CI) when no daemon was set up.
fn image() -> Option<String> {
    match std::env::var("SANDBOX_TUI_DOCKER_IMAGE") {
        Ok(image) if std::env::var_os("DOCKER_HOST").is_some() => Some(image),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run tests/docker.rs with DOCKER_HOST and SANDBOX_TUI_DOCKER_IMAGE (source .ci/docker-env)"
            );
            eprintln!("skipped: no DOCKER_HOST / SANDBOX_TUI_DOCKER_IMAGE (source .ci/docker-env)");
            None
        }
    }
}

/// An env with a `d` profile on the docker backend, `extra` keys added.
/// Room for runc's init, whose threads count against the pids limit while
/// it starts the command, unless the test sets the limit itself.
fn env(image: &str, extra: &str) -> TestEnv {
    let pids = if extra.contains("max_process_count") {
        ""
    } else {
        "max_process_count = 32\n"
    };
    TestEnv::new(&format!(
        "[profiles.d]\nbackend = \"docker\"\ndocker_image = \"{image}\"\n{pids}{extra}\n"
    ))
}

fn run(env: &TestEnv, command: &[&str]) -> (Value, i32) {
    let mut args = vec!["run", "-p", "d", "--"];
    args.extend_from_slice(command);
    env.json(&args)
}

fn status(v: &Value) -> &str {
    v["status"]
        .as_str()
        .unwrap_or_else(|| panic!("no status: {v}"))
}

/// The containers of execution `id` (none may be left after it ended).
fn containers_of(id: &str) -> Vec<String> {
    let label = format!("label=sandbox-tui.execution={id}");
    let out = std::process::Command::new("docker")
        .args(["ps", "-aq", "--filter", &label])
        .output()
        .expect("docker ps");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn run_returns_the_result_schema_with_output_and_exit_code() {
    let Some(image) = image() else { return };
    let env = env(&image, "");
    let (v, code) = run(&env, &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(status(&v), "failed", "{v}");
    assert_eq!(v["exit_code"], 3, "{v}");
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["stdout"], "out\n", "{v}");
    assert_eq!(v["stderr"], "err\n", "{v}");
    let (v, code) = run(&env, &["true"]);
    assert_eq!((status(&v), code), ("completed", 0), "{v}");
    // CPU time and peak memory come from the container's cgroup.
    let (m, _) = run(
        &env,
        &[
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/null bs=20M count=1 2>/dev/null; sleep 1",
        ],
    );
    assert_eq!(status(&m), "completed", "{m}");
    assert!(
        m["peak_memory_bytes"].as_u64().unwrap_or(0) >= 20 << 20,
        "{m}"
    );
    // The history has it like any run.
    let (h, _) = env.json(&["ps"]);
    assert!(h.as_array().is_some_and(|a| a.len() == 3), "{h}");
    let id = v["id"].as_str().expect("id");
    assert!(containers_of(id).is_empty(), "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn memory_limit_is_enforced_and_reported() {
    let Some(image) = image() else { return };
    let env = env(&image, "max_memory_mb = 64\n");
    // dd's buffer of 200 MB is touched as it reads into it.
    let (v, _) = run(
        &env,
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=200M", "count=1"],
    );
    assert_eq!(status(&v), "memory_limit", "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn process_limit_is_enforced() {
    let Some(image) = image() else { return };
    let env = env(&image, "max_process_count = 24\n");
    let (v, _) = run(
        &env,
        &[
            "sh",
            "-c",
            "i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; wait; echo all-forked",
        ],
    );
    assert_ne!(status(&v), "completed", "{v}");
    assert!(v["stderr"].as_str().unwrap_or("").contains("fork"), "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn cpu_time_limit_is_enforced() {
    let Some(image) = image() else { return };
    let env = env(&image, "max_cpu_seconds = 1\ntimeout_seconds = 120\n");
    let (v, _) = run(&env, &["sh", "-c", "while :; do :; done"]);
    assert_eq!(status(&v), "cpu_limit", "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn timeout_kills_the_container() {
    let Some(image) = image() else { return };
    let env = env(&image, "timeout_seconds = 2\n");
    let (v, code) = run(&env, &["sleep", "300"]);
    assert_eq!(status(&v), "timeout", "{v}");
    assert_ne!(code, 0);
    assert!(
        containers_of(v["id"].as_str().expect("id")).is_empty(),
        "{v}"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn root_is_read_only_network_is_off_capabilities_dropped_rlimits_set() {
    let Some(image) = image() else { return };
    let env = env(&image, "max_open_files = 77\nmax_file_size_mb = 1\n");
    let (v, _) = run(&env, &["sh", "-c", "echo x > /etc/escape"]);
    assert_eq!(status(&v), "failed", "{v}");
    assert!(
        v["stderr"].as_str().unwrap_or("").contains("Read-only"),
        "{v}"
    );
    // The workspace and /tmp are writable.
    let (v, _) = run(
        &env,
        &[
            "sh",
            "-c",
            "echo x > /tmp/a && echo y > ./b && cat /tmp/a b",
        ],
    );
    assert_eq!(
        (status(&v), v["stdout"].as_str()),
        ("completed", Some("x\ny\n")),
        "{v}"
    );
    // No interface but loopback.
    let (v, _) = run(&env, &["ls", "/sys/class/net"]);
    assert_eq!(v["stdout"], "lo\n", "{v}");
    let (v, _) = run(&env, &["cat", "/proc/self/status"]);
    let text = v["stdout"].as_str().unwrap_or("").to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapBnd:"), "0000000000000000");
    assert_eq!(field("NoNewPrivs:"), "1");
    let (v, _) = run(&env, &["sh", "-c", "ulimit -n; ulimit -f; ulimit -t"]);
    // dash reports -f in 512-byte blocks.
    assert_eq!(v["stdout"], "77\n2048\n30\n", "{v}");
    // Writing past max_file_size_mb fails.
    let (v, _) = run(&env, &["dd", "if=/dev/zero", "of=big", "bs=1M", "count=3"]);
    assert_ne!(status(&v), "completed", "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn detached_exec_is_waited_for_and_killed() {
    let Some(image) = image() else { return };
    let env = env(&image, "");
    let (v, code) = env.json(&["create", "box", "-p", "d"]);
    assert_eq!(code, 0, "{v}");
    let (v, code) = env.json(&["exec", "box", "--detach", "--", "sleep", "300"]);
    assert_eq!(code, 0, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    poll("the container runs", Duration::from_secs(60), || {
        (!containers_of(&id).is_empty()).then_some(())
    });
    // The container's processes are in the execution's cgroup, where `top`
    // and the dashboard read them, with their figures.
    let listed = poll(
        "top lists the container's sleep",
        Duration::from_secs(60),
        || {
            let (v, _) = env.json(&["top", "box", "--interval", "100"]);
            v.to_string().contains("sleep").then_some(v)
        },
    );
    assert!(listed.as_array().is_some_and(|a| !a.is_empty()), "{listed}");
    let (v, code) = env.json(&["kill", &id]);
    assert_eq!(code, 0, "{v}");
    let (v, _) = env.json(&["wait", &id]);
    assert_eq!(status(&v), "killed", "{v}");
    // Attached: the result like `run`'s.
    let (v, code) = env.json(&["exec", "box", "--", "sh", "-c", "echo hi; exit 4"]);
    assert_eq!(
        (status(&v), code, v["stdout"].as_str()),
        ("failed", 4, Some("hi\n")),
        "{v}"
    );
    assert!(containers_of(&id).is_empty());
    // `rm --force` of a sandbox with a running container ends and removes it.
    let (v, code) = env.json(&["exec", "box", "--detach", "--", "sleep", "300"]);
    assert_eq!(code, 0, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    poll("the container runs", Duration::from_secs(60), || {
        (!containers_of(&id).is_empty()).then_some(())
    });
    let out = env.run(&["rm", "--force", "box"]);
    assert!(out.status.success(), "{out:?}");
    poll("the container is removed", Duration::from_secs(60), || {
        containers_of(&id).is_empty().then_some(())
    });
}

#[test]
fn docker_profile_needs_an_image() {
    let env = TestEnv::new("[profiles.d]\nbackend = \"docker\"\n");
    let out = env.run(&["profiles"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("docker_image"), "{text}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn ctrl_c_on_run_kills_the_container() {
    let Some(image) = image() else { return };
    let env = env(&image, "");
    let child = env
        .cmd()
        .args(["--json", "run", "-p", "d", "--", "sleep", "300"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn run");
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    // The run's record names its execution, whose container is labelled.
    let running = poll("the run's container runs", Duration::from_secs(60), || {
        let (v, _) = env.json(&["ps"]);
        let id = v.as_array()?.first()?["id"].as_str()?.to_string();
        (!containers_of(&id).is_empty()).then_some(id)
    });
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let out = child.wait_with_output().expect("wait run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("result JSON");
    assert_eq!(status(&v), "killed", "{v}");
    assert_eq!(v["signal"], 2, "{v}");
    assert!(containers_of(&running).is_empty(), "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn timeout_holds_after_the_command_closes_its_output() {
    let Some(image) = image() else { return };
    let env = env(&image, "timeout_seconds = 2\n");
    let (v, _) = run(&env, &["sh", "-c", "exec >&- 2>&-; sleep 300"]);
    assert_eq!(status(&v), "timeout", "{v}");
    assert!(
        containers_of(v["id"].as_str().expect("id")).is_empty(),
        "{v}"
    );
}

/// The container's init tells a command that did `exit 130` from one a
/// signal ended (Docker reports both as 130), and an unknown command from
/// both: status, exit code and signal are those of the native backend.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn signal_deaths_and_exit_codes_read_as_on_the_native_backend() {
    let Some(image) = image() else { return };
    let env = env(&image, "");
    let cases: [&[&str]; 5] = [
        &["sh", "-c", "exit 130"],
        &["sh", "-c", "exit 137"],
        &["sh", "-c", "kill -USR1 $$"],
        &["sh", "-c", "kill -KILL $$"],
        &["no-such-command-here"],
    ];
    for command in cases {
        let (docker, docker_code) = run(&env, command);
        let mut args = vec!["run", "-p", "default", "--"];
        args.extend_from_slice(command);
        let (native, native_code) = env.json(&args);
        for key in ["status", "exit_code", "signal"] {
            assert_eq!(
                docker[key], native[key],
                "{key} of {command:?}: docker {docker} native {native}"
            );
        }
        assert_eq!(docker_code, native_code, "{command:?}: {docker}");
    }
    let (v, _) = run(&env, &["sh", "-c", "exit 130"]);
    assert_eq!(
        (status(&v), v["exit_code"].as_i64(), v["signal"].is_null()),
        ("failed", Some(130), true),
        "{v}"
    );
    let (v, _) = run(&env, &["sh", "-c", "kill -USR1 $$"]);
    assert_eq!(
        (v["exit_code"].as_i64(), v["signal"].as_i64()),
        (Some(138), Some(10)),
        "{v}"
    );
}

/// A supervisor killed with SIGKILL takes its container with it: the
/// container's init sees the report socket hang up and ends everything,
/// and the next command's recovery removes the stopped container.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_sigkilled_supervisor_leaves_no_container() {
    let Some(image) = image() else { return };
    let env = env(&image, "");
    let (v, code) = env.json(&["create", "box", "-p", "d"]);
    assert_eq!(code, 0, "{v}");
    for verb in ["prune", "kill"] {
        let (v, code) = env.json(&["exec", "box", "--detach", "--", "sleep", "300"]);
        assert_eq!(code, 0, "{v}");
        let id = v["id"].as_str().expect("id").to_string();
        poll("the container runs", Duration::from_secs(60), || {
            (!containers_of(&id).is_empty()).then_some(())
        });
        let supervisor = poll("the supervisor", Duration::from_secs(60), || {
            let supervisors = common::pids_with_cmdline("__supervise");
            common::pids_with_cmdline(&id)
                .into_iter()
                .find(|p| supervisors.contains(p))
        });
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(supervisor),
            nix::sys::signal::Signal::SIGKILL,
        )
        .expect("SIGKILL the supervisor");
        // Without any command of ours, the container stops.
        let label = format!("label=sandbox-tui.execution={id}");
        poll("the container stops", Duration::from_secs(60), || {
            let out = std::process::Command::new("docker")
                .args(["ps", "-q", "--filter", &label])
                .output()
                .expect("docker ps");
            out.stdout.is_empty().then_some(())
        });
        let out = match verb {
            "kill" => env.run(&["kill", &id]),
            _ => env.run(&["prune"]),
        };
        assert!(out.status.success(), "{verb}: {out:?}");
        assert!(
            containers_of(&id).is_empty(),
            "{verb} left the container of {id}"
        );
        if verb == "kill" {
            // (`prune` also removed its record, which had ended `lost`.)
            let (v, _) = env.json(&["wait", &id]);
            assert_eq!(status(&v), "lost", "{v}");
        }
    }
}

/// Python jobs run in the image's python3 with the native result channel:
/// the value comes from the runner's fd 3 (relayed by the container's
/// init), never from stdout, and a result past its cap is refused.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn python_jobs_return_values_through_the_result_channel() {
    let Some(image) = image() else { return };
    let env = env(&image, "max_result_mb = 1\ntimeout_seconds = 120\n");
    let (v, code) = env.json(&[
        "run",
        "-p",
        "d",
        "--python",
        "print('{\"fake\": 1}')\nreturn {'n': 2 ** 70, 's': 'é'}",
    ]);
    assert_eq!((status(&v), code), ("completed", 0), "{v}");
    assert_eq!(v["result"]["s"], "é", "{v}");
    assert_eq!(
        v["result"]["n"].to_string(),
        "1180591620717411303424",
        "{v}"
    );
    assert_eq!(v["stdout"], "{\"fake\": 1}\n", "{v}");
    // --call, with arguments.
    let file = env.dir.path().join("m.py");
    std::fs::write(&file, "def add(a, b):\n    return a + b\n").expect("write");
    let file = file.to_string_lossy().into_owned();
    let (v, _) = env.json(&[
        "run", "-p", "d", "--python", &file, "--call", "add", "--args", "[2, 3]",
    ]);
    assert_eq!(
        (status(&v), &v["result"]),
        ("completed", &serde_json::json!(5)),
        "{v}"
    );
    // An exception is a failed result with its type.
    let (v, _) = env.json(&["run", "-p", "d", "--python", "raise ValueError('no')"]);
    assert_eq!(
        (status(&v), v["error"]["type"].as_str()),
        ("failed", Some("ValueError")),
        "{v}"
    );
    // Endless bytes on the result descriptor: refused past the cap, and
    // the writer is stopped (EPIPE), not left running to the timeout.
    let (v, _) = env.json(&[
        "run",
        "-p",
        "d",
        "--python",
        "import os\nchunk = b'x' * 65536\nwhile True:\n    os.write(3, chunk)",
    ]);
    assert_eq!(status(&v), "failed", "{v}");
    assert_eq!(v["error"]["type"], "ResultTooLarge", "{v}");
    // Garbage on it is a clear failure.
    let (v, _) = env.json(&[
        "run",
        "-p",
        "d",
        "--python",
        "import os\nos.write(3, b'\\xff{[garbage')\nos._exit(0)",
    ]);
    assert_eq!(status(&v), "failed", "{v}");
}

/// Piped stdin reaches the container's command, and ends there as it ends
/// here; without one (here /dev/null) the command reads nothing.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn piped_stdin_goes_to_the_container() {
    use std::io::Write;
    let Some(image) = image() else { return };
    let env = env(&image, "");
    let mut child = env
        .cmd()
        .args([
            "--json",
            "run",
            "-p",
            "d",
            "--",
            "sh",
            "-c",
            "cat; echo end",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn run");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(b"line one\nline two\n")
        .expect("write stdin");
    drop(input);
    let out = child.wait_with_output().expect("wait run");
    let v: Value = serde_json::from_slice(&out.stdout).expect("result JSON");
    assert_eq!(status(&v), "completed", "{v}");
    assert_eq!(v["stdout"], "line one\nline two\nend\n", "{v}");
    let (v, _) = run(&env, &["sh", "-c", "cat; echo end"]);
    assert_eq!(v["stdout"], "end\n", "{v}");
}

/// A reader of the live output that takes nothing does not hold the
/// timeout back: the container is killed on time and the result recorded
/// while the reader still sleeps.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_stalled_output_reader_does_not_hold_the_timeout() {
    let Some(image) = image() else { return };
    let env = env(&image, "timeout_seconds = 3\n");
    let mut child = env
        .cmd()
        .args([
            "run",
            "-p",
            "d",
            "--",
            "sh",
            "-c",
            "while :; do echo 0123456789012345678901234567890123456789; done",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn run");
    // Nobody reads the pipe: the result is recorded regardless.
    let v = poll("the result is recorded", Duration::from_secs(120), || {
        let (v, _) = env.json(&["ps"]);
        let first = v.as_array()?.first()?.clone();
        (first["status"] != "running" && first["status"] != "queued").then_some(first)
    });
    assert_eq!(status(&v), "timeout", "{v}");
    // Then `run` gives the reader up and ends.
    let status = poll("run ends", Duration::from_secs(120), || {
        child.try_wait().expect("try_wait")
    });
    assert!(!status.success());
    assert!(
        containers_of(v["id"].as_str().expect("id")).is_empty(),
        "{v}"
    );
}
