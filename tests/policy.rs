//! Command policy over the real binary: `allowed_commands`, `denied_patterns`
//! and `allow_shell` deny what they should, let through what they should, and
//! a denial is recorded with its reason and never starts a process.

mod common;

use std::path::PathBuf;

use serde_json::Value;

use common::{require_root, TestEnv};

const PROFILES: &str = r#"
[profiles.cmds]
allowed_commands = ["echo", "/usr/bin/touch", "python3"]

[profiles.patterns]
denied_patterns = ['rm\s+-rf', 'shutil\.rmtree', '^touch marker$']

[profiles.noshell]
allow_shell = false
"#;

fn env() -> TestEnv {
    TestEnv::new(PROFILES)
}

fn create(env: &TestEnv, name: &str, profile: &str) {
    let out = env.run(&["create", name, "-p", profile]);
    assert!(out.status.success(), "create {name}: {out:?}");
}

/// `exec NAME -- CMD...` with `--json`: the result and the exit code.
fn exec(env: &TestEnv, name: &str, command: &[&str]) -> (Value, i32) {
    let mut args = vec!["exec", name, "--"];
    args.extend_from_slice(command);
    env.json(&args)
}

fn python(env: &TestEnv, name: &str, code: &str) -> (Value, i32) {
    env.json(&["exec", name, "--python", code])
}

fn assert_denied(v: &Value, code: i32, reason: &str) {
    assert_eq!(code, 126, "{v}");
    assert_eq!(v["status"], "denied", "{v}");
    let error = v["error"].as_str().unwrap_or_default();
    assert!(error.contains(reason), "expected {reason:?} in {v}");
}

fn assert_ran(v: &Value, code: i32, stdout: &str) {
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["stdout"], stdout, "{v}");
}

fn workspace(env: &TestEnv, name: &str) -> PathBuf {
    env.state_dir.join("sandboxes").join(name).join("workspace")
}

fn record(env: &TestEnv, id: &str) -> Value {
    let (v, code) = env.json(&["ps"]);
    assert_eq!(code, 0, "{v}");
    v.as_array()
        .and_then(|all| all.iter().find(|r| r["id"] == id).cloned())
        .unwrap_or_else(|| panic!("execution {id} not in ps --json: {v}"))
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn allowed_commands_by_name_and_by_absolute_path() {
    if !require_root() {
        return;
    }
    let env = env();
    create(&env, "cmds", "cmds");
    let (v, code) = exec(&env, "cmds", &["cat", "/etc/hostname"]);
    assert_denied(
        &v,
        code,
        r#"denied by allowed_commands: "cat" is not in [echo, /usr/bin/touch, python3]"#,
    );
    // A name allows the program wherever it lives.
    let (v, code) = exec(&env, "cmds", &["echo", "hi"]);
    assert_ran(&v, code, "hi\n");
    let (v, code) = exec(&env, "cmds", &["/usr/bin/echo", "hi"]);
    assert_ran(&v, code, "hi\n");
    // A path allows exactly that path, not the bare name.
    let (v, code) = exec(&env, "cmds", &["/usr/bin/touch", "made"]);
    assert_ran(&v, code, "");
    assert!(workspace(&env, "cmds").join("made").exists());
    let (v, code) = exec(&env, "cmds", &["touch", "marker"]);
    assert_denied(&v, code, r#""touch" is not in"#);
    assert!(!workspace(&env, "cmds").join("marker").exists());
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn denied_patterns_match_the_command_line_and_python_code() {
    if !require_root() {
        return;
    }
    let env = env();
    create(&env, "pat", "patterns");
    let (v, code) = exec(&env, "pat", &["rm", "-rf", "/tmp/x"]);
    assert_denied(
        &v,
        code,
        r#"denied by denied_patterns[0] "rm\\s+-rf": matched "rm -rf""#,
    );
    let (v, code) = exec(&env, "pat", &["sh", "-c", "cd /tmp && rm   -rf x"]);
    assert_denied(&v, code, r#"matched "rm   -rf""#);
    let (v, code) = exec(&env, "pat", &["touch", "marker"]);
    assert_denied(&v, code, r#"denied_patterns[2] "^touch marker$""#);
    assert!(!workspace(&env, "pat").join("marker").exists());

    let (v, code) = exec(&env, "pat", &["rm", "-r", "-f", "nothing"]);
    assert_ran(&v, code, "");
    let (v, code) = exec(&env, "pat", &["touch", "marker2"]);
    assert_ran(&v, code, "");

    let (v, code) = python(&env, "pat", "import shutil\nshutil.rmtree('x')\n");
    assert_denied(
        &v,
        code,
        r#"denied by denied_patterns[1] "shutil\\.rmtree": matched "shutil.rmtree" in the Python code"#,
    );
    let (v, code) = python(&env, "pat", "return 2 + 2");
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["result"], 4, "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn allow_shell_false_denies_what_needs_a_shell() {
    if !require_root() {
        return;
    }
    let env = env();
    create(&env, "nosh", "noshell");
    let (v, code) = exec(&env, "nosh", &["sh", "-c", "echo hi"]);
    assert_denied(
        &v,
        code,
        r#"denied by allow_shell = false: "sh -c" needs a shell"#,
    );
    let (v, code) = exec(&env, "nosh", &["bash", "-c", "echo hi"]);
    assert_denied(&v, code, r#""bash -c" needs a shell"#);
    let (v, code) = exec(&env, "nosh", &["echo", "a; touch marker"]);
    assert_denied(&v, code, "argument 1 \"a; touch marker\" contains ';'");
    let (v, code) = exec(&env, "nosh", &["echo", "hi"]);
    assert_ran(&v, code, "hi\n");
    // The default profile still allows shells.
    let (v, code) = env.json(&["run", "--", "sh", "-c", "echo hi"]);
    assert_ran(&v, code, "hi\n");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_denied_execution_is_recorded_and_never_starts() {
    if !require_root() {
        return;
    }
    let env = env();
    create(&env, "deny", "noshell");
    let marker = workspace(&env, "deny").join("marker");

    let (v, code) = exec(&env, "deny", &["sh", "-c", "touch marker"]);
    assert_denied(&v, code, "allow_shell = false");
    let id = v["id"].as_str().expect("id").to_string();
    let r = record(&env, &id);
    assert_eq!(r["status"], "denied", "{r}");
    assert!(
        r["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("denied by allow_shell = false")),
        "{r}"
    );
    assert_eq!(
        r["started_at"],
        Value::Null,
        "a denied command started: {r}"
    );
    assert_eq!(r["init_pid"], Value::Null, "{r}");

    // Detached: the same, and the id comes back already denied.
    let (v, code) = env.json(&["exec", "deny", "--detach", "--", "sh", "-c", "touch marker"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "denied", "{v}");
    let r = record(&env, v["id"].as_str().expect("id"));
    assert_eq!(r["started_at"], Value::Null, "{r}");

    // `run` records its denial the same way, before anything starts.
    let (v, code) = env.json(&["run", "-p", "noshell", "--", "sh", "-c", "touch marker"]);
    assert_denied(&v, code, r#""sh -c" needs a shell"#);
    let r = record(&env, v["id"].as_str().expect("id"));
    assert_eq!(r["status"], "denied", "{r}");
    assert_eq!(r["started_at"], Value::Null, "{r}");

    assert!(!marker.exists(), "a denied command ran");
    // Without --json the reason is on stderr and the code is 126.
    let out = env.run(&["exec", "deny", "--", "bash", "-c", "touch marker"]);
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("needs a shell"),
        "{out:?}"
    );
    assert!(!marker.exists(), "a denied command ran");
}

#[test]
fn a_bad_pattern_is_refused_at_load_with_its_location() {
    let env = TestEnv::new("[profiles.bad]\ndenied_patterns = ['ok', 'rm (']\n");
    let (v, code) = env.json(&["profiles", "--check"]);
    assert_eq!(code, 1, "{v}");
    let errors = v["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{v}");
    assert_eq!(errors[0]["key"], "profiles.bad.denied_patterns[1]", "{v}");
    assert_eq!(errors[0]["column"], 26, "{v}");
    assert!(
        errors[0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unclosed group")),
        "{v}"
    );
    // Nothing runs under the profile with the bad pattern.
    let out = env.run(&["run", "-p", "bad", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("profile 'bad' is invalid"), "{text}");
}
