//! `doctor`, `profiles` and help: the documented JSON shapes and exit codes.

mod common;

use common::TestEnv;

#[test]
fn doctor_reports_every_mechanism() {
    let env = TestEnv::new("");
    let (v, code) = env.json(&["doctor"]);
    let checks = v.as_array().expect("an array");
    for mechanism in [
        "user_namespace",
        "pid_namespace",
        "mnt_namespace",
        "net_namespace",
        "ipc_namespace",
        "uts_namespace",
        "cgroup_namespace",
        "landlock",
        "seccomp",
        "no_new_privs",
        "rlimits",
    ] {
        assert!(
            checks.iter().any(|c| c["mechanism"] == mechanism),
            "{mechanism} missing from {v}"
        );
    }
    for c in checks {
        let state = c["state"].as_str().unwrap_or_default();
        assert!(["available", "degraded", "missing"].contains(&state), "{c}");
        assert!(c["detail"].as_str().is_some_and(|d| !d.is_empty()), "{c}");
    }
    if common::isolation_required() {
        assert_eq!(
            code, 0,
            "a mechanism is missing on a host that must isolate: {v}"
        );
    }
}

#[test]
fn profiles_lists_the_shipped_profiles() {
    let env = TestEnv::new("");
    let (v, code) = env.json(&["profiles"]);
    assert_eq!(code, 0);
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for name in ["default", "strict", "build"] {
        assert!(names.contains(&name), "{names:?}");
    }
    let strict = v
        .as_array()
        .and_then(|a| a.iter().find(|p| p["name"] == "strict"))
        .expect("strict");
    assert_eq!(strict["max_memory_mb"], 64);
    assert_eq!(strict["max_cpu_seconds"], 2);
    assert_eq!(strict["timeout_seconds"], 5);
    assert_eq!(strict["max_file_size_mb"], 1);
    assert_eq!(strict["allow_network"], false);
}

#[test]
fn profiles_check_names_file_line_column_and_key() {
    let env = TestEnv::new("[profiles.bad]\nmax_memory_mb = 0\nmax_memroy_mb = 5\n");
    let (v, code) = env.json(&["profiles", "--check"]);
    assert_eq!(code, 1);
    assert_eq!(v["ok"], false);
    // The documented schema, as for a valid file: the file and the profiles still usable.
    assert_eq!(v["file"], env.config.display().to_string(), "{v}");
    let usable = v["profiles"].as_array().expect("profiles");
    assert!(usable.iter().any(|p| p == "strict"), "{v}");
    assert!(!usable.iter().any(|p| p == "bad"), "{v}");
    let errors = v["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{v}");
    let zero = errors
        .iter()
        .find(|e| e["key"] == "profiles.bad.max_memory_mb")
        .expect("the zero memory error");
    assert!(zero["file"]
        .as_str()
        .unwrap_or_default()
        .ends_with("sandboxes.toml"));
    assert!(zero["line"].as_u64().unwrap_or(0) > 0);
    assert!(zero["column"].as_u64().unwrap_or(0) > 0);
    let typo = errors
        .iter()
        .find(|e| e["key"] == "profiles.bad.max_memroy_mb")
        .expect("the unknown key");
    assert!(typo["message"]
        .as_str()
        .unwrap_or_default()
        .contains("max_memory_mb"));
    // Text mode: one line per error, file:line:column: key: message.
    let out = env.run(&["profiles", "--check"]);
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(":17: profiles.bad.max_memory_mb: must be at least 1"),
        "{text}"
    );
}

#[test]
fn a_bad_profile_stops_its_own_runs_with_the_line() {
    let env = TestEnv::new("[profiles.bad]\nmax_memory_mb = 0\n");
    let out = env.run(&["run", "-p", "bad", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains(":17: profiles.bad.max_memory_mb: must be at least 1"),
        "{text}"
    );
    if nix::unistd::geteuid().is_root() {
        let out = env.run(&["run", "-p", "default", "--", "true"]);
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(text.contains("invalid profile(s) left out: bad"), "{text}");
    }
}

#[test]
fn bare_command_and_help_work() {
    let out = std::process::Command::new(common::BIN)
        .arg("--help")
        .output()
        .expect("run");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for verb in [
        "run", "create", "exec", "ls", "ps", "top", "logs", "wait", "kill", "rm", "prune",
        "profiles", "doctor", "selftest",
    ] {
        assert!(text.contains(verb), "help lacks {verb}: {text}");
    }
    // Every exit code README.md's table lists, and where --cluster applies.
    for code in ["124", "125", "126", "127", "137", "141"] {
        assert!(text.contains(code), "help lacks exit code {code}: {text}");
    }
    let out = std::process::Command::new(common::BIN)
        .args(["ls", "--help"])
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("run, ps, logs, wait, kill and the dashboard only"),
        "{text}"
    );
    let out = std::process::Command::new(common::BIN)
        .args(["ls", "--bogus"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn a_reader_that_goes_away_ends_a_verb_quietly() {
    use std::os::unix::process::CommandExt;
    let env = TestEnv::new("");
    for args in [&["profiles"][..], &["doctor", "--json"], &["ps"]] {
        // The read end is gone before the verb starts: its first write
        // meets EPIPE, as under `sandbox-tui ps | head` once head has exited.
        // The pipe is made in the child between fork and exec, so no other
        // process (another test's child forked meanwhile) can inherit the
        // read end and keep the pipe readable.
        let mut cmd = env.cmd();
        cmd.args(args).stdout(std::process::Stdio::null());
        // SAFETY: pipe, close and dup2 are async-signal-safe, on descriptors
        // this child alone holds.
        unsafe {
            cmd.pre_exec(|| {
                let mut fds = [0; 2];
                if libc::pipe(fds.as_mut_ptr()) != 0
                    || libc::close(fds[0]) != 0
                    || libc::dup2(fds[1], 1) != 1
                    || libc::close(fds[1]) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = cmd.output().expect("run sandbox-tui");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}

#[test]
fn a_bad_timeout_is_refused_before_anything_runs() {
    let env = TestEnv::new("");
    for bad in ["0", "-1", "nan", "inf", "1e100", "31622401"] {
        for verb in [
            &["run", "--timeout", bad, "--", "true"][..],
            &["exec", "nobox", "--timeout", bad, "--", "true"],
        ] {
            let out = env.run(verb);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(125), "{verb:?}: {stderr}");
            assert!(!stderr.contains("panicked"), "{verb:?}: {stderr}");
            if verb[0] == "run" {
                assert!(stderr.contains("--timeout"), "{verb:?}: {stderr}");
            }
        }
    }
}

/// One bad profile leaves the verbs that do not need it working; a verb
/// that needs it refuses with the key and the line.
#[test]
fn an_invalid_profile_blocks_only_itself() {
    let env = TestEnv::new("[profiles.broken]\nmax_memory_mb = \"lots\"\n");
    let out = env.run(&["ps"]);
    assert!(out.status.success(), "ps: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid profile(s) left out: broken"),
        "{stderr}"
    );

    let out = env.run(&["create", "box", "-p", "broken"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("profile 'broken' is invalid"), "{stderr}");
    assert!(
        stderr.contains("profiles.broken.max_memory_mb: expected an integer"),
        "{stderr}"
    );

    let (value, code) = env.json(&["profiles", "--check"]);
    assert_eq!(code, 1);
    assert_eq!(value["ok"], false);
    assert_eq!(value["errors"][0]["profile"], "broken");
    assert_eq!(value["errors"][0]["key"], "profiles.broken.max_memory_mb");

    let (value, code) = env.json(&["profiles"]);
    assert_eq!(code, 0);
    let names: Vec<&str> = value
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert!(
        names.contains(&"strict") && !names.contains(&"broken"),
        "{names:?}"
    );
}

/// A build without the `docker` feature refuses a docker profile's run with
/// status `error` and says why, starting nothing.
#[cfg(not(feature = "docker"))]
#[test]
fn docker_backend_without_the_feature_is_an_error() {
    let env = TestEnv::new("[profiles.d]\nbackend = \"docker\"\ndocker_image = \"debian:12\"\n");
    let (v, code) = env.json(&["run", "-p", "d", "--", "true"]);
    assert_eq!(v["status"], "error", "{v}");
    assert_ne!(code, 0, "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or("")
            .contains("--features docker"),
        "{v}"
    );
}
