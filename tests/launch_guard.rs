//! A launch that fails part way, after the sandbox's init is cloned, leaves
//! no process and no execution cgroup behind; signalling one process of a
//! sandbox (the dashboard's process list) reaches it only while it is in
//! the sandbox; and the dashboard's kill ends what escaped its session.
//! Real binary, real sandboxes; the manager API in-process where the
//! dashboard uses it.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use common::{
    host_pids, output_of_a_fresh_copy, pids_with_cmdline, poll, require_root, unique_marker,
    TestEnv,
};
use sandbox_tui::manager::{Manager, ManagerError};
use sandbox_tui::profile::Config;

/// Generous: waiting for a condition, never timing it.
const DEADLINE: Duration = Duration::from_secs(30);

fn text_of(out: &Output) -> String {
    format!(
        "stdout {:?} stderr {:?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Pids whose /proc/PID/cgroup names this env's cgroup root (in any
/// hierarchy): every process of its sandboxes, wherever it was moved
/// below that root.
fn pids_under_cgroup_root(env: &TestEnv) -> Vec<i32> {
    let needle = format!("/{}", env.cgroup_root);
    host_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
                .is_ok_and(|groups| groups.lines().any(|line| line.contains(&needle)))
        })
        .collect()
}

/// Execution groups left under the sandbox `name`'s group (or, for a
/// `run`, any group at all) in every hierarchy of this env.
fn leftover_groups(env: &TestEnv, below: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for dir in env.cgroup_dirs() {
        let Ok(entries) = std::fs::read_dir(dir.join(below)) else {
            continue;
        };
        left.extend(
            entries
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path()),
        );
    }
    left
}

/// Nothing of this env runs and no execution group is left: `below` is
/// the sandbox's group for an `exec`, "" for a `run`.
fn assert_nothing_left(env: &TestEnv, below: &str) {
    let pids = pids_under_cgroup_root(env);
    assert!(
        pids.is_empty(),
        "processes left in the cgroup root: {pids:?}"
    );
    let pids = env.cgroup_pids("");
    assert!(pids.is_empty(), "processes left in cgroup.procs: {pids:?}");
    let groups = leftover_groups(env, below);
    assert!(groups.is_empty(), "execution groups left: {groups:?}");
}

/// An image root whose `/workspace` is a symlink: the init refuses the
/// mount point while it builds the sandbox, after the clone. Through
/// `run` (its one execution's group is the sandbox's) and `exec` (the
/// sandbox's group stays for its next execution; the execution's goes).
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_launch_whose_init_fails_to_build_the_sandbox_leaves_no_process_and_no_cgroup() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).expect("root");
    std::os::unix::fs::symlink("/etc", root.join("workspace")).expect("symlink");
    let env = TestEnv::new(&format!(
        "[profiles.img]\nrootfs = \"{}\"\n",
        root.display()
    ));
    for (verb, below) in [
        (&["run", "-p", "img", "--"][..], ""),
        (&["exec", "bad", "--"][..], "bad"),
    ] {
        // The run's group is the one below the root: no sandbox before it.
        if verb[0] == "exec" {
            create(&env, &["bad", "-p", "img"]);
        }
        let mut args = verb.to_vec();
        args.extend(["/bin/sh", "-c", "true"]);
        let (v, code) = env.json(&args);
        assert_eq!(code, 125, "{verb:?}: {v}");
        assert_eq!(v["status"], "error", "{verb:?}: {v}");
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("symlink") && e.contains("/workspace")),
            "{verb:?}: {v}"
        );
        assert_nothing_left(&env, below);
    }
}

/// A copy of the tool whose init (the `sandbox-tui-init` beside it) is
/// `false`: it ends before it reads its spec, so the launch fails sending
/// the spec or the go-ahead, or the watch finds an init that reported
/// nothing.
fn tool_with_a_dead_init(env: &TestEnv) -> PathBuf {
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let tool = bin.join("sandbox-tui");
    std::fs::copy(common::BIN, &tool).expect("copy the tool");
    let false_bin = ["/bin/false", "/usr/bin/false"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .expect("false");
    std::fs::copy(false_bin, bin.join("sandbox-tui-init")).expect("copy false");
    tool
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn an_init_that_dies_before_its_spec_leaves_an_error_and_nothing_behind() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let tool = tool_with_a_dead_init(&env);
    let marker = unique_marker("deadinit");
    for verb in [&["run", "--"][..], &["exec", "dead", "--"][..]] {
        if verb[0] == "exec" {
            create(&env, &["dead"]);
        }
        let mut cmd = std::process::Command::new(&tool);
        cmd.arg("--config")
            .arg(&env.config)
            .arg("--json")
            .args(verb)
            .args(["sleep", "300", &marker])
            .stdin(std::process::Stdio::null());
        let out = output_of_a_fresh_copy(&mut cmd);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", text_of(&out)));
        assert_eq!(v["status"], "error", "{verb:?}: {v}");
        assert_eq!(out.status.code(), Some(125), "{verb:?}: {v}");
        // Said in so many words, whichever step noticed the dead init.
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.contains("the sandbox's init exited with code 1")
                    || e.contains("sending the sandbox spec")),
            "{verb:?}: {v}"
        );
        assert!(pids_with_cmdline(&marker).is_empty(), "{verb:?}: {v}");
        assert_nothing_left(&env, if verb[0] == "exec" { "dead" } else { "" });
    }
}

fn manager(env: &TestEnv) -> Manager {
    let config = Config::load(&env.config).expect("the test config");
    Manager::open(config, None).expect("open the state")
}

/// `exec NAME --detach -- CMD...`; returns the execution id.
fn detach(env: &TestEnv, name: &str, command: &[&str]) -> String {
    let mut args = vec!["exec", name, "--detach", "--"];
    args.extend_from_slice(command);
    let (v, code) = env.json(&args);
    assert_eq!(code, 0, "{v}");
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {v}"))
        .to_string()
}

/// The pid (as the host sees it) of the one process whose command line
/// carries `marker`, once it runs.
fn marked_pid(marker: &str) -> i32 {
    poll(
        &format!("a process marked {marker}"),
        DEADLINE,
        || match pids_with_cmdline(marker).as_slice() {
            [pid] => Some(*pid),
            _ => None,
        },
    )
}

/// `create ARGS...`, which must succeed.
fn create(env: &TestEnv, args: &[&str]) {
    let mut full = vec!["create"];
    full.extend_from_slice(args);
    let out = env.run(&full);
    assert!(out.status.success(), "{}", text_of(&out));
}

/// A new sandbox `name` running a detached `sleep`: its execution id, the
/// sleep's host pid and the marker its command line carries (`exec -a`,
/// so the pid found is the sleep's, not the shell's).
fn sleeping_execution(env: &TestEnv, name: &str) -> (String, i32, String) {
    create(env, &[name]);
    let marker = unique_marker(name);
    let script = format!("exec -a {marker} sleep 300");
    let id = detach(env, name, &["bash", "-c", &script]);
    let pid = marked_pid(&marker);
    (id, pid, marker)
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn signal_process_reaches_a_process_inside_its_sandbox() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (id, pid, marker) = sleeping_execution(&env, "sig");
    let m = manager(&env);
    assert!(
        m.execution_pids(&id).expect("pids").contains(&pid),
        "{pid} is not in execution {id}"
    );
    m.signal_process(Some("sig"), pid, Signal::SIGTERM)
        .expect("signal a process of the sandbox");
    let (v, _) = env.json(&["wait", &id]);
    // The command itself died of the signal: its execution says so.
    assert_eq!(v["status"], "killed", "{v}");
    assert_eq!(v["signal"], 15, "{v}");
    assert_eq!(v["exit_code"], 143, "{v}");
    assert!(pids_with_cmdline(&marker).is_empty(), "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn signal_process_refuses_a_pid_whose_execution_has_ended() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (id, pid, _) = sleeping_execution(&env, "gone");
    let m = manager(&env);
    let ended = m.kill_execution(&id, None).expect("kill");
    assert_eq!(ended.status.to_string(), "killed", "{ended:?}");
    // The pid left the sandbox with its execution: refused, for this
    // sandbox and for any.
    for sandbox in [Some("gone"), None] {
        let refused = m.signal_process(sandbox, pid, Signal::SIGKILL);
        assert!(
            matches!(&refused, Err(ManagerError::Invalid(msg)) if msg.contains("no longer in the sandbox")),
            "{sandbox:?}: {refused:?}"
        );
    }
}

/// The dashboard's kill (the Kill effect: `Manager::kill_execution`) ends
/// a daemon that left the command's session and was re-parented.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn the_dashboards_kill_ends_a_setsid_double_forked_daemon() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    create(&env, &["daemon"]);
    let marker = unique_marker("daemon");
    // The daemon: a new session, its parent gone; the command itself then
    // waits, so the execution is still running when it is killed.
    let script = format!(
        "setsid bash -c '(exec -a {marker} sleep 300 &) ; exit 0' </dev/null >/dev/null 2>&1; \
         exec sleep 300"
    );
    let id = detach(&env, "daemon", &["bash", "-c", &script]);
    marked_pid(&marker);
    let m = manager(&env);
    let ended = m.kill_execution(&id, None).expect("kill");
    assert_eq!(ended.status.to_string(), "killed", "{ended:?}");
    poll("the daemon to be gone", DEADLINE, || {
        pids_with_cmdline(&marker).is_empty().then_some(())
    });
    assert_nothing_left(&env, "daemon");
}
