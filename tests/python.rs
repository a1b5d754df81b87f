//! Python snippets that return a value, through the real binary and a real
//! interpreter inside real sandboxes.

mod common;

use common::{require_root, TestEnv};
use serde_json::json;

fn python(env: &TestEnv, code: &str, extra: &[&str]) -> (serde_json::Value, i32) {
    let mut args = vec!["run", "--python", code];
    args.extend_from_slice(extra);
    env.json(&args)
}

#[test]
fn return_gives_the_value() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, code) = python(&env, "return 2 + 2", &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result"], 4);
    assert_eq!(v["result_non_json"], false);
    // Plain values are written without the json module: the same JSON.
    let (v, _) = python(&env, "return 'q\"b\\\\ \\n\\t\\x01\\x7f é 😀'", &[]);
    assert_eq!(v["result"], "q\"b\\ \n\t\u{1}\u{7f} é 😀", "{v}");
    for (code, want) in [
        ("return True", json!(true)),
        ("return None", json!(null)),
        ("return -0.5", json!(-0.5)),
        ("return 2 ** 62", json!(4_611_686_018_427_387_904_u64)),
        ("return ''", json!("")),
    ] {
        let (v, _) = python(&env, code, &[]);
        assert_eq!(v["result"], want, "{code}: {v}");
        assert_eq!(v["result_non_json"], false, "{code}: {v}");
    }
    let (v, _) = python(&env, "x = [1, 'a', {'k': None}]", &[]);
    assert_eq!(
        v["result"],
        serde_json::Value::Null,
        "no return gives null: {v}"
    );
}

#[test]
fn exception_names_the_users_line() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, code) = python(&env, "a = 1\nb = 2\nreturn 1 / 0\n", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["type"], "ZeroDivisionError");
    assert_eq!(v["error"]["message"], "division by zero");
    let tb = v["error"]["traceback"].as_str().unwrap_or_default();
    assert!(tb.contains("line 3"), "{tb}");
    assert!(tb.contains("return 1 / 0"), "{tb}");
    assert!(!tb.contains("runner.py"), "runner frames leak: {tb}");
}

#[test]
fn values_json_cannot_hold_come_back_as_repr() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, _) = python(&env, "return {1, 2}", &[]);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result_non_json"], true);
    assert_eq!(v["result"], json!({"repr": "{1, 2}", "type": "set"}));
    let (v, _) = python(&env, "return float('nan')", &[]);
    assert_eq!(v["result"]["type"], "float");
    let (v, _) = python(&env, "class P:\n    pass\nreturn P()", &[]);
    assert_eq!(v["result"]["type"], "P", "{v}");
    let (v, _) = python(&env, "return b'\\x00\\xff'", &[]);
    assert_eq!(v["result"]["type"], "bytes");
    // A lone surrogate is a Python str but not UTF-8, so not JSON either.
    let (v, _) = python(&env, "return 'a\\ud800b'", &[]);
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["result"], json!({"repr": "'a\\ud800b'", "type": "str"}));
    let (v, _) = python(&env, "raise ValueError('x\\ud800')", &[]);
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["type"], "ValueError");
    assert_eq!(v["error"]["message"], "x\\ud800");
}

#[test]
fn printing_cannot_spoof_the_result() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let code = "import sys\nprint('{\"result\": 5}')\nsys.stdout.write('{\"ok\": true, \"result\": 5}')\nreturn 1";
    let (v, code) = python(&env, code, &[]);
    assert_eq!(code, 0);
    assert_eq!(v["result"], 1);
    assert!(v["stdout"]
        .as_str()
        .unwrap_or_default()
        .contains("\"result\": 5"));
}

#[test]
fn call_a_function_and_a_method_with_args_and_kwargs() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let file = env.dir.path().join("solution.py");
    std::fs::write(
        &file,
        "def add(a, b, scale=1):\n    return (a + b) * scale\n\nclass Solver:\n    def __init__(self):\n        self.base = 100\n    def solve(self, x, *, bonus=0):\n        return self.base + x + bonus\n",
    )
    .expect("write");
    let file = file.to_string_lossy().into_owned();
    let (v, code) = env.json(&[
        "run",
        "--python",
        &file,
        "--call",
        "add",
        "--args",
        "[2, 3]",
        "--kwargs",
        "{\"scale\": 10}",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["result"], 50);
    let (v, _) = env.json(&[
        "run",
        "--python",
        &file,
        "--call",
        "Solver.solve",
        "--args",
        "[5]",
        "--kwargs",
        "{\"bonus\": 1}",
    ]);
    assert_eq!(v["result"], 106, "{v}");
    let (v, _) = env.json(&["run", "--python", &file, "--call", "missing"]);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["type"], "NameError");
}

#[test]
fn fifty_megabyte_result_arrives_intact_and_over_the_cap_is_refused() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.big]\nmax_memory_mb = 1024\nmax_result_mb = 64\n[profiles.small]\nmax_result_mb = 1\n");
    // About 50 MB of JSON: a list of 5 million short strings... kept simpler: 50 strings of 1 MB.
    let (v, code) = env.json(&[
        "run",
        "-p",
        "big",
        "--python",
        "return ['x' * 1048576 for _ in range(50)]",
    ]);
    assert_eq!(code, 0, "{}", v["error"]);
    let list = v["result"].as_array().expect("a list");
    assert_eq!(list.len(), 50);
    assert!(list
        .iter()
        .all(|s| s.as_str().map(str::len) == Some(1_048_576)));
    let (v, code) = env.json(&["run", "-p", "small", "--python", "return 'y' * 2000000"]);
    assert_eq!(code, 1);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["type"], "ResultTooLarge", "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("max_result_mb"));
}

#[test]
fn limits_apply_to_snippets() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.tight]\nmax_memory_mb = 64\ntimeout_seconds = 2\n");
    let (v, code) = env.json(&["run", "-p", "tight", "--python", "while True:\n    pass"]);
    assert_eq!(v["status"], "timeout", "{v}");
    assert_eq!(code, 124);
    let (v, code) = env.json(&[
        "run",
        "-p",
        "tight",
        "--python",
        "b = []\nwhile True:\n    b.append(bytearray(10 * 1024 * 1024))",
    ]);
    assert_eq!(v["status"], "memory_limit", "{v}");
    assert_eq!(code, 137);
    let (v, _) = env.json(&[
        "run", "-p", "tight", "--python",
        "import socket\ns = socket.socket()\ns.settimeout(2)\ntry:\n    s.connect(('1.1.1.1', 80))\n    return 'connected'\nexcept OSError as e:\n    return 'refused'",
    ]);
    assert_eq!(v["result"], "refused", "{v}");
}

#[test]
fn syntax_error_is_a_failed_result_with_its_line() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, code) = python(&env, "x = 1\ny = (\nreturn x", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["status"], "failed");
    assert_eq!(v["error"]["type"], "SyntaxError");
    assert!(v["error"]["line"].as_u64().is_some(), "{v}");
}

#[test]
fn exec_python_in_a_named_sandbox() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    assert!(env.run(&["create", "py1"]).status.success());
    // The workspace persists between executions, Python or not.
    let (v, code) = env.json(&[
        "exec",
        "py1",
        "--python",
        "open('state.txt', 'w').write('42')\nreturn 'saved'",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["result"], "saved");
    let (v, _) = env.json(&[
        "exec",
        "py1",
        "--python",
        "return int(open('state.txt').read()) + 1",
    ]);
    assert_eq!(v["result"], 43, "{v}");
    let out = env.run(&["exec", "py1", "--detach", "--python", "return 7"]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (v, code) = env.json(&["wait", &id]);
    assert_eq!(code, 0);
    assert_eq!(v["result"], 7, "{v}");
}

#[test]
fn stdout_and_stderr_are_captured_separately_from_the_result() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, _) = python(
        &env,
        "import sys\nprint('to out')\nprint('to err', file=sys.stderr)\nreturn 'value'",
        &[],
    );
    assert_eq!(v["stdout"], "to out\n");
    assert_eq!(v["stderr"], "to err\n");
    assert_eq!(v["result"], "value");
}
