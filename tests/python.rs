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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
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

/// The newest execution as `ps --json` reads it back from the state.
fn stored_result(env: &TestEnv) -> serde_json::Value {
    let (records, code) = env.json(&["ps", "-n", "1"]);
    assert_eq!(code, 0, "{records}");
    records[0]["result"].clone()
}

/// No runner frame or runner traceback anywhere in what the user sees.
fn assert_no_runner_frames(v: &serde_json::Value) {
    let shown = [
        &v["error"]["traceback"],
        &v["error"]["message"],
        &v["stderr"],
        &v["stdout"],
    ];
    for text in shown {
        let text = text.as_str().unwrap_or_default();
        assert!(
            !text.contains("runner.py") && !text.contains("Traceback"),
            "runner frames leak: {v}"
        );
    }
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn replacing_the_old_result_file_has_no_effect() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // Where a result file would be, and beside it: each replacement a
    // snippet could make there (a symlink to a host secret, a FIFO, a link
    // to an endless device) is refused, and the value still comes back.
    let code = "import os\n\
        made = []\n\
        for path in ['/.sandbox-tui/out/result.json', '/.sandbox-tui/out/result.json.tmp', '/.sandbox-tui/in/result.json']:\n\
        \x20   for attack in ('symlink', 'fifo', 'zero'):\n\
        \x20       try:\n\
        \x20           os.makedirs(os.path.dirname(path), exist_ok=True)\n\
        \x20           if os.path.lexists(path):\n\
        \x20               os.unlink(path)\n\
        \x20           if attack == 'symlink':\n\
        \x20               os.symlink('/etc/shadow', path)\n\
        \x20           elif attack == 'fifo':\n\
        \x20               os.mkfifo(path)\n\
        \x20           else:\n\
        \x20               os.symlink('/dev/zero', path)\n\
        \x20           made.append(attack + ' ' + path)\n\
        \x20       except OSError:\n\
        \x20           pass\n\
        return {'mine': 42, 'made': made, 'out_dir': os.path.exists('/.sandbox-tui/out')}";
    let (v, code) = python(&env, code, &["--timeout", "60"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(
        v["result"],
        json!({"mine": 42, "made": [], "out_dir": false}),
        "{v}"
    );
    assert_eq!(stored_result(&env)["result"], v["result"]);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn replacing_the_result_descriptor_gives_a_clear_error_within_the_timeout() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.short]\ntimeout_seconds = 5\n");
    // The value goes to /dev/zero instead of the supervisor: nothing came.
    let (v, code) = env.json(&[
        "run",
        "-p",
        "short",
        "--python",
        "import os\nos.dup2(os.open('/dev/zero', os.O_WRONLY), 3)\nreturn 1",
    ]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no result"),
        "{v}"
    );
    // A FIFO that nobody reads in its place blocks only the runner: the
    // supervisor still enforces the timeout.
    let (v, code) = env.json(&[
        "run",
        "-p",
        "short",
        "--python",
        "import os\nos.mkfifo('/tmp/f')\nos.dup2(os.open('/tmp/f', os.O_RDWR), 3)\nreturn 'x' * 1000000",
    ]);
    assert_eq!(code, 124, "{v}");
    assert_eq!(v["status"], "timeout", "{v}");
    // Closed: the same clear error, and no runner frames.
    let (v, _) = env.json(&[
        "run",
        "-p",
        "short",
        "--python",
        "import os\nos.close(3)\nreturn 1",
    ]);
    assert_eq!(v["status"], "failed", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no result"),
        "{v}"
    );
    assert_no_runner_frames(&v);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn endless_bytes_on_the_result_pipe_end_as_result_too_large_in_bounded_memory() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.small]\nmax_result_mb = 1\ntimeout_seconds = 120\n");
    // The peak memory of `run` (the supervisor) and all it waited for,
    // measured by a host Python that waits for it.
    let mut args = vec![
        "--config".to_string(),
        env.config.display().to_string(),
        "--json".into(),
        "run".into(),
        "-p".into(),
        "small".into(),
        "--python".into(),
        "import os\nchunk = b'x' * 65536\nwhile True:\n    os.write(3, chunk)".into(),
    ];
    args.insert(0, common::BIN.to_string());
    let measure = "import json, resource, subprocess, sys\n\
        out = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)\n\
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n\
        print(json.dumps({'peak_kb': peak, 'code': out.returncode, 'out': out.stdout.decode()}))";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(measure)
        .args(&args)
        .env_remove("SANDBOX_TUI_STATE_DIR")
        .output()
        .expect("python3 on the host");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the measurement");
    let v: serde_json::Value =
        serde_json::from_str(report["out"].as_str().unwrap_or_default()).expect("run's JSON");
    assert_eq!(report["code"], 1, "{v}");
    assert_eq!(v["status"], "failed", "{v}");
    assert_eq!(v["error"]["type"], "ResultTooLarge", "{v}");
    assert_no_runner_frames(&v);
    // The writer had gone on for ever; the supervisor kept at most the cap
    // (1 MB and a little): the interpreter and the binary are the rest.
    let peak_kb = report["peak_kb"].as_u64().expect("ru_maxrss");
    assert!(peak_kb < 64 * 1024, "peak {peak_kb} KB");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn garbage_on_the_result_pipe_is_a_clear_failure() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    for (what, code) in [
        (
            "not JSON",
            "import os\nos.write(3, b'\\xff{garbage')\nos._exit(0)",
        ),
        (
            "too deep for the reader",
            "import os\nos.write(3, b'{\"ok\": true, \"result\": ' + b'[' * 5000)\nos._exit(0)",
        ),
        (
            "deeper than the limit",
            "import os\nos.write(3, b'{\"ok\": true, \"result\": ' + b'[' * 120 + b']' * 120 + b'}')\nos._exit(0)",
        ),
    ] {
        let (v, exit) = python(&env, code, &[]);
        assert_eq!(exit, 1, "{what}: {v}");
        assert_eq!(v["status"], "failed", "{what}: {v}");
        let error = v["error"].as_str().unwrap_or_default();
        assert!(error.contains("unreadable result"), "{what}: {v}");
        assert_eq!(v["result"], serde_json::Value::Null, "{what}: {v}");
    }
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn integers_beyond_64_bits_stay_exact() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    for (code, want) in [
        ("return 2**64", "18446744073709551616"),
        ("return -2**70", "-1180591620717411303424"),
        (
            "return [2**64, {'k': -2**70}, 2**63 - 1]",
            "[18446744073709551616,{\"k\":-1180591620717411303424},9223372036854775807]",
        ),
    ] {
        let (v, exit) = python(&env, code, &[]);
        assert_eq!(exit, 0, "{code}: {v}");
        assert_eq!(v["result_non_json"], false, "{code}: {v}");
        assert_eq!(v["result"].to_string(), want, "{code}: {v}");
        // As the state gives it back.
        let stored = stored_result(&env);
        assert_eq!(stored["result"].to_string(), want, "{code}: {stored}");
    }
    // `wait` reads the same stored result.
    assert!(env.run(&["create", "big"]).status.success());
    let out = env.run(&["exec", "big", "--detach", "--python", "return -2**70"]);
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let (v, code) = env.json(&["wait", &id]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["result"].to_string(), "-1180591620717411303424");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn deeply_nested_values_come_back_without_error() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // 100 levels travel as JSON; 200 (and a cycle) as the repr.
    let (v, code) = python(
        &env,
        "x = 0\nfor _ in range(100):\n    x = [x]\nreturn x",
        &[],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["result_non_json"], false, "{v}");
    let text = v["result"].to_string();
    assert_eq!(text, format!("{}0{}", "[".repeat(100), "]".repeat(100)));
    assert_eq!(stored_result(&env)["result"].to_string(), text);
    let (v, code) = python(
        &env,
        "x = 0\nfor _ in range(200):\n    x = [x]\nreturn x",
        &[],
    );
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["result_non_json"], true, "{v}");
    assert_eq!(v["result"]["type"], "list", "{v}");
    assert_eq!(
        v["result"]["repr"],
        format!("{}0{}", "[".repeat(200), "]".repeat(200))
    );
    assert_eq!(stored_result(&env)["result"], v["result"]);
    let (v, _) = python(&env, "x = {}\nx['self'] = x\nreturn x", &[]);
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["result"]["repr"], "{'self': {...}}", "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn call_code_is_main_so_multiprocessing_can_pickle_it() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.procs]\nmax_process_count = 64\ntimeout_seconds = 120\n");
    let file = env.dir.path().join("pool.py");
    std::fs::write(
        &file,
        "import multiprocessing\n\ndef square(x):\n    return x * x\n\nclass Point:\n    def __init__(self, x):\n        self.x = x\n\ndef main():\n    with multiprocessing.Pool(2) as pool:\n        squares = pool.map(square, range(10))\n    import pickle\n    point = pickle.loads(pickle.dumps(Point(3)))\n    return {'squares': squares, 'point': point.x, 'name': __name__}\n",
    )
    .expect("write");
    let file = file.to_string_lossy().into_owned();
    let (v, code) = env.json(&["run", "-p", "procs", "--python", &file, "--call", "main"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["result"],
        json!({"squares": [0, 1, 4, 9, 16, 25, 36, 49, 64, 81], "point": 3, "name": "__main__"}),
        "{v}"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_result_over_the_file_size_limit_travels_and_over_its_own_cap_is_refused() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new(
        "[profiles.files]\nmax_file_size_mb = 1\nmax_result_mb = 16\nmax_memory_mb = 512\n[profiles.small]\nmax_result_mb = 1\n",
    );
    // 8 MB of value, 1 MB of file: the result is not a file.
    let (v, code) = env.json(&[
        "run",
        "-p",
        "files",
        "--python",
        "return 'z' * (8 * 1024 * 1024)",
    ]);
    assert_eq!(code, 0, "{}", v["error"]);
    assert_eq!(v["status"], "completed");
    assert_eq!(v["result"].as_str().map(str::len), Some(8 * 1024 * 1024));
    // The file limit itself still holds for files.
    let (v, _) = env.json(&[
        "run",
        "-p",
        "files",
        "--python",
        "open('big', 'wb').write(b'z' * (2 * 1024 * 1024))",
    ]);
    assert_eq!(v["status"], "failed", "{v}");
    // Over max_result_mb: the runner's own refusal, without its frames.
    let (v, code) = env.json(&["run", "-p", "small", "--python", "return 'y' * 2000000"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(v["error"]["type"], "ResultTooLarge", "{v}");
    assert_eq!(v["error"]["traceback"], "", "{v}");
    assert_no_runner_frames(&v);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn only_the_runner_holds_the_result_pipe() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let probe = "import os, stat\ntry:\n    print(stat.S_ISFIFO(os.fstat(3).st_mode))\nexcept OSError:\n    print('closed')";
    // A plain command gets no fourth descriptor.
    let (v, code) = env.json(&["run", "--", "python3", "-c", probe]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stdout"], "closed\n", "{v}");
    // The runner has it; a program the snippet starts does not, even when
    // asked to keep its descriptors.
    let code = format!(
        "import os, stat, subprocess, sys\n\
         mine = stat.S_ISFIFO(os.fstat(3).st_mode)\n\
         child = subprocess.run([sys.executable, '-c', {probe:?}], close_fds=False, capture_output=True, text=True)\n\
         return [mine, child.stdout]"
    );
    let (v, exit) = python(&env, &code, &[]);
    assert_eq!(exit, 0, "{v}");
    assert_eq!(v["result"], json!([true, "closed\n"]), "{v}");
}

/// An int of any size comes back exact, not as `<unrepresentable:
/// ValueError>` (Python 3.11+ refuses to write an int over 4300 digits
/// unless told), and over max_result_mb it is refused as any value is.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn integers_of_any_size_stay_exact() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let want = format!("1{}", "0".repeat(5000));
    let (v, exit) = python(&env, "return 10**5000", &[]);
    assert_eq!(exit, 0, "{v}");
    assert_eq!(v["result_non_json"], false, "{v}");
    assert_eq!(v["result"].to_string(), want);
    let (v, exit) = python(&env, "return [-(10**5000)]", &[]);
    assert_eq!(exit, 0, "{v}");
    assert_eq!(v["result"].to_string(), format!("[-{want}]"));
    // Plain output too.
    let out = env.run(&["run", "--python", "return 10**5000"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), want);
    // As --call's arguments too; the snippet keeps Python's own guard.
    let dir = tempfile::tempdir().expect("tempdir");
    let code = dir.path().join("code.py");
    std::fs::write(
        &code,
        "import sys\ndef f(n):\n    guard = getattr(sys, 'get_int_max_str_digits', lambda: 4300)()\n    return [n + 1, guard]\n",
    )
    .expect("code");
    let (v, exit) = env.json(&[
        "run",
        "--python",
        code.to_str().expect("utf-8"),
        "--call",
        "f",
        "--args",
        &format!("[{want}]"),
    ]);
    assert_eq!(exit, 0, "{v}");
    assert_eq!(
        v["result"][0].to_string(),
        format!("1{}1", "0".repeat(4999))
    );
    assert_eq!(v["result"][1], 4300, "{v}");
    // Over the cap: refused, not sent.
    let (v, exit) = python(
        &env,
        "return [10**4400] * 300",
        &["--set", "max_result_mb=1", "--timeout", "300"],
    );
    assert_eq!(exit, 1, "{v}");
    assert_eq!(v["error"]["type"], "ResultTooLarge", "{v}");
}

/// A failure without a traceback (the runner's own ResultTooLarge) still
/// says why on stderr: the exit code alone said nothing.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_result_too_large_says_so_on_stderr() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let out = env.run(&[
        "run",
        "--set",
        "max_result_mb=1",
        "--python",
        "return 'x' * 3000000",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ResultTooLarge") && stderr.contains("max_result_mb = 1 MB"),
        "{stderr:?}"
    );
    assert!(out.stdout.is_empty(), "{:?}", out.stdout);
}
