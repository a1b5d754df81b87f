//! Without root: user namespaces instead, limits degrade loudly, and a
//! profile that requires isolation refuses to run and says why.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::TestEnv;

/// The uid the binary runs as: `nobody` when the tests run as root, else the
/// caller's own, so that these tests run without root too.
fn outside_uid() -> u32 {
    let euid = nix::unistd::geteuid();
    if euid.is_root() {
        65534
    } else {
        euid.as_raw()
    }
}

/// Run the binary unprivileged: as the caller when it is not root, else as
/// `nobody` (root drops to it with setpriv).
fn as_nobody(env: &TestEnv, args: &[&str]) -> Option<std::process::Output> {
    if !nix::unistd::geteuid().is_root() {
        let out = env
            .cmd()
            .args(args)
            .env_remove("SANDBOX_TUI_REQUIRE_ISOLATION")
            .output()
            .expect("run sandbox-tui");
        return Some(out);
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        assert!(
            !common::isolation_required(),
            "setpriv (util-linux) is missing"
        );
        eprintln!("skipped: setpriv is not installed");
        return None;
    }
    for dir in [env.dir.path(), env.state_dir.as_path()] {
        std::fs::create_dir_all(dir).expect("dir");
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    }
    std::fs::set_permissions(&env.config, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(common::BIN)
        .arg("--config")
        .arg(&env.config)
        .args(args)
        .env_remove("SANDBOX_TUI_REQUIRE_ISOLATION")
        // The config names the test's state dir; the caller's must not win.
        .env_remove("SANDBOX_TUI_STATE_DIR")
        .output()
        .expect("setpriv");
    Some(out)
}

/// The `--json` result of a `run`, which must have completed.
fn completed_result(out: &std::process::Output) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["status"], "completed", "{v}");
    v
}

#[test]
fn unprivileged_run_uses_a_user_namespace_and_says_what_degraded() {
    let env = TestEnv::new("[profiles.loose]\nrequire_isolation = false\n");
    let Some(out) = as_nobody(
        &env,
        &[
            "--json",
            "run",
            "-p",
            "loose",
            "--",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map; hostname; \
             echo x > /dev/null && head -c 2 /dev/zero | od -An -tx1",
        ],
    ) else {
        return;
    };
    let v = completed_result(&out);
    let stdout = v["stdout"].as_str().unwrap_or_default();
    let mut lines = stdout.lines();
    assert_eq!(
        lines.next(),
        Some("0"),
        "root inside its own user namespace: {stdout}"
    );
    let map: Vec<&str> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(map, ["0", &outside_uid().to_string(), "1"], "{stdout}");
    assert_eq!(lines.next(), Some("sandbox"));
    // A user namespace may not make device nodes: the host's are bound.
    assert_eq!(lines.next(), Some(" 00 00"), "{stdout}");
    let degraded = v["degraded"].as_array().expect("degraded");
    assert!(
        degraded
            .iter()
            .any(|d| d.as_str().unwrap_or_default().starts_with("cgroup")),
        "the missing cgroup must be reported: {v}"
    );
}

#[test]
fn unprivileged_run_of_a_strict_profile_refuses_and_names_the_mechanism() {
    let env = TestEnv::new("");
    let Some(out) = as_nobody(&env, &["run", "-p", "strict", "--", "true"]) else {
        return;
    };
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cgroup"), "{err}");
    assert!(err.contains("requires full isolation"), "{err}");
}

#[test]
fn unprivileged_allowed_hosts_go_through_the_proxy_and_nothing_else() {
    if !std::path::Path::new("/usr/bin/curl").exists() {
        assert!(!common::isolation_required(), "curl is missing");
        eprintln!("skipped: curl is missing");
        return;
    }
    let listed = common::http_server("listed-ok");
    let unlisted = common::http_server("unlisted-body");
    let env = TestEnv::new(&format!(
        "[profiles.net]\nrequire_isolation = false\nallowed_hosts = [\"127.0.0.1:{listed}\"]\n"
    ));
    let script = format!(
        "curl -sS -m 10 http://127.0.0.1:{listed}/; echo; \
         curl -sS -m 10 http://127.0.0.1:{unlisted}/ || echo refused; \
         curl -sS -m 5 --noproxy '*' http://127.0.0.1:{listed}/ || echo no-direct"
    );
    let Some(out) = as_nobody(
        &env,
        &["--json", "run", "-p", "net", "--", "sh", "-c", &script],
    ) else {
        return;
    };
    let v = completed_result(&out);
    let stdout = v["stdout"].as_str().unwrap_or_default();
    assert!(stdout.contains("listed-ok"), "{v}");
    assert!(!stdout.contains("unlisted-body"), "{v}");
    assert!(stdout.contains("refused"), "{v}");
    assert!(
        stdout.contains("no-direct"),
        "without the proxy, no network: {v}"
    );
    let refusals = v["network_refusals"].as_array().expect("network_refusals");
    assert!(
        refusals.iter().any(|r| r["port"] == unlisted),
        "the refusal is recorded: {v}"
    );
}
