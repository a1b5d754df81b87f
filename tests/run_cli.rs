//! `sandbox-tui run`: the result schema, exit codes, stdin, and errors.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{require_root, TestEnv};

const RESULT_KEYS: &[&str] = &[
    "id",
    "sandbox",
    "profile",
    "command",
    "status",
    "exit_code",
    "signal",
    "duration_ms",
    "cpu_ms",
    "peak_memory_bytes",
    "stdout",
    "stderr",
    "stdout_truncated",
    "stderr_truncated",
    "error",
];

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn json_result_has_the_documented_schema() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, code) = env.json(&["run", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(code, 3);
    for key in RESULT_KEYS {
        assert!(v.get(key).is_some(), "missing {key} in {v}");
    }
    assert_eq!(v["status"], "failed");
    assert_eq!(v["exit_code"], 3);
    assert_eq!(v["stdout"], "out\n");
    assert_eq!(v["stderr"], "err\n");
    assert_eq!(v["profile"], "default");
    assert_eq!(
        v["degraded"],
        serde_json::json!([]),
        "isolation degraded: {v}"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn exit_codes_follow_the_conventions() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.only_echo]\nallowed_commands = [\"echo\"]\n");
    let code = |args: &[&str]| env.run(args).status.code().unwrap_or(-1);
    assert_eq!(code(&["run", "--", "true"]), 0);
    assert_eq!(code(&["run", "--", "sh", "-c", "exit 7"]), 7);
    assert_eq!(code(&["run", "--timeout", "0.5", "--", "sleep", "30"]), 124);
    assert_eq!(
        code(&["run", "-p", "only_echo", "--", "cat", "/etc/hostname"]),
        126
    );
    assert_eq!(code(&["run", "--", "no-such-command-here"]), 127);
    assert_eq!(code(&["run", "--", "sh", "-c", "kill -TERM $$"]), 143);
    assert_eq!(code(&["run", "-p", "no-such-profile", "--", "true"]), 125);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn stdin_is_passed_through_and_output_streams_live() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let mut child = env
        .cmd()
        .args(["run", "--", "tr", "a-z", "A-Z"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"hello sandbox\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "HELLO SANDBOX\n");
    assert!(out.status.success());
}

#[test]
fn unknown_profile_is_a_clear_error() {
    let env = TestEnv::new("");
    let out = env.run(&["run", "-p", "nope", "--", "true"]);
    assert_eq!(out.status.code(), Some(125));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nope"), "{stderr}");
    assert!(
        stderr.contains("strict"),
        "should list the profiles: {stderr}"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn strict_profile_limits_apply() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // strict: 2 s of CPU. The wall clock is raised from strict's 5 s, so a
    // loaded machine, where 2 s of CPU take longer than 5 s, still ends it
    // by the CPU budget.
    let (v, code) = env.json(&[
        "run",
        "-p",
        "strict",
        "--timeout",
        "120",
        "--",
        "sh",
        "-c",
        "while :; do :; done",
    ]);
    assert_eq!(v["status"], "cpu_limit", "{v}");
    assert_ne!(code, 0);
    // RLIMIT_CPU counts in scheduler ticks, the cgroup in nanoseconds: close, not equal.
    assert!(v["cpu_ms"].as_u64().unwrap_or(0) >= 1500, "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn workspace_is_the_working_directory_and_writable() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, code) = env.json(&[
        "run",
        "--",
        "sh",
        "-c",
        "pwd; echo hi > f && cat f; touch /x 2>/dev/null || echo ro",
    ]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stdout"], "/workspace\nhi\nro\n", "{v}");
}

/// The root's own files are readable whatever the caller's umask, and the
/// command still gets that umask.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn the_root_ignores_the_callers_umask_and_the_command_keeps_it() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let mut cmd = env.cmd();
    cmd.args([
        "--json",
        "run",
        "--",
        "sh",
        "-c",
        "umask; stat -c '%a %n' /etc /etc/passwd /etc/ld.so.cache /dev",
    ]);
    // SAFETY: umask is async-signal-safe and touches only the child.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
            libc::umask(0o077);
            Ok(())
        });
    }
    let out = cmd.output().expect("run sandbox-tui");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(
        v["stdout"], "0077\n755 /etc\n644 /etc/passwd\n644 /etc/ld.so.cache\n755 /dev\n",
        "{v}"
    );
}

/// The first `run` on a machine makes the state directory private, like
/// every other verb.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_first_run_makes_a_private_state_directory() {
    use std::os::unix::fs::PermissionsExt;
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    assert!(!env.state_dir.exists());
    let (v, code) = env.json(&["run", "--", "true"]);
    assert_eq!(code, 0, "{v}");
    let mode = std::fs::metadata(&env.state_dir)
        .expect("state dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
}

/// The device nodes work, and no other can be made anywhere in the sandbox
/// (a raw disk node would bypass every file-level rule).
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn devices_work_and_none_can_be_made() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let script = "echo x > /dev/null && echo null; \
        head -c 2 /dev/zero | od -An -tx1; \
        head -c 4 /dev/urandom | wc -c; \
        echo x 2>/dev/null > /dev/full || echo full; \
        for d in /dev /tmp /dev/shm .; do mknod $d/disk b 8 0 2>/dev/null && echo made $d; done; \
        echo done";
    let (v, code) = env.json(&["run", "--", "sh", "-c", script]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stdout"], "null\n 00 00\n4\nfull\ndone\n", "{v}");
}

/// `run` reuses the directories of earlier ephemeral sandboxes, but only
/// clean ones: nothing a run leaves in (or on) its workspace reaches the next.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn nothing_of_one_run_reaches_the_next_through_its_workspace() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let leave_traces = "import os\n\
        open('left-behind', 'w').write('secret')\n\
        os.chmod('.', 0o777)\n\
        try:\n    os.setxattr('.', 'user.note', b'secret')\nexcept OSError:\n    pass\n";
    let look = "import os\n\
        print(sorted(os.listdir('.')), oct(os.stat('.').st_mode & 0o7777))\n\
        try:\n    print(os.listxattr('.'))\nexcept OSError:\n    print([])\n";
    let spares = || {
        std::fs::read_dir(env.state_dir.join("sandboxes"))
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().starts_with(".spare-"))
                    .count()
            })
            .unwrap_or(0)
    };
    // A run that leaves nothing behind leaves its directory as a spare.
    let (v, code) = env.json(&["run", "--", "true"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(spares(), 1);
    for _ in 0..2 {
        let (v, code) = env.json(&["run", "--", "python3", "-c", leave_traces]);
        assert_eq!(code, 0, "{v}");
        let (v, code) = env.json(&["run", "--", "python3", "-c", look]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(v["stdout"], "[] 0o755\n[]\n", "{v}");
    }
    let sandboxes: Vec<String> = std::fs::read_dir(env.state_dir.join("sandboxes"))
        .expect("sandboxes dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        sandboxes.iter().all(|name| name.starts_with(".spare-")),
        "{sandboxes:?}"
    );
}

/// Each run as root leaves an empty network namespace, loopback up, for the
/// next, which takes it instead of cloning one: it must be as fresh and as
/// closed as a cloned one, and used once only.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_run_takes_the_network_namespace_left_for_it_and_leaves_a_fresh_one() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // UDP: landlock governs TCP only, so what keeps the datagram from the
    // host's port is the namespace alone.
    let host = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    host.set_nonblocking(true).expect("nonblocking");
    let port = host.local_addr().expect("addr").port();
    let probe = format!(
        "import os, socket\n\
         print(os.readlink('/proc/self/ns/net'))\n\
         print(sorted(l.split(':')[0].strip() for l in open('/proc/net/dev').readlines()[2:]))\n\
         s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))\n\
         s.sendto(b'self', s.getsockname()); s.settimeout(5)\n\
         print('loopback works' if s.recv(4) == b'self' else 'loopback broken')\n\
         s.sendto(b'escaped', ('127.0.0.1', {port}))\n"
    );
    let run = || {
        let (v, code) = env.json(&["run", "--", "python3", "-c", &probe]);
        assert_eq!(code, 0, "{v}");
        let out = v["stdout"].as_str().expect("stdout").to_owned();
        let lines: Vec<String> = out.lines().map(str::to_owned).collect();
        assert_eq!(lines[1..], ["['lo']", "loopback works"], "{v}");
        lines[0]
            .trim_start_matches("net:[")
            .trim_end_matches(']')
            .parse::<u64>()
            .unwrap_or_else(|_| panic!("{v}"))
    };
    let host_ns = std::fs::metadata("/proc/self/ns/net")
        .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        .expect("own netns");
    assert_eq!(env.spare_network(), (None, 0));
    let first = run();
    let (spare, mounts) = env.spare_network();
    let spare = spare.expect("a spare after the first run");
    assert_eq!(mounts, 1);
    assert!(![first, host_ns].contains(&spare), "{spare}");
    let second = run();
    assert_eq!(second, spare, "the second run took the spare");
    let mut buf = [0u8; 16];
    assert!(host.recv(&mut buf).is_err(), "a datagram reached the host");
    // The one it took is unmounted; the one it left is another again.
    let (next, mounts) = env.spare_network();
    assert_eq!(mounts, 1);
    assert!(![first, second, host_ns].contains(&next.expect("spare")));
    // `prune` removes it.
    let (v, code) = env.json(&["prune"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["spare_network_namespaces"], 1, "{v}");
    assert_eq!(env.spare_network(), (None, 0));
    assert!(!env.spare_dir().exists());
}

/// Launches racing for the one spare network namespace: one takes it, the
/// others clone their own, and no two ever share one.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn concurrent_runs_never_share_a_network_namespace() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (v, code) = env.json(&["run", "--", "true"]);
    assert_eq!(code, 0, "{v}");
    let spare = env.spare_network().0.expect("a spare after the first run");
    let mut rounds = Vec::new();
    for _ in 0..3 {
        // Alive together: each holds its namespace for the others' lifetime.
        let children: Vec<_> = (0..6)
            .map(|_| {
                env.cmd()
                    .args(["--json", "run", "--", "sh", "-c"])
                    .arg("readlink /proc/self/ns/net; sleep 0.5")
                    .stdout(Stdio::piped())
                    .spawn()
                    .expect("spawn run")
            })
            .collect();
        let mut round: Vec<String> = children
            .into_iter()
            .map(|child| {
                let out = child.wait_with_output().expect("wait run");
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("run's JSON");
                assert_eq!(v["status"], "completed", "{v}");
                v["stdout"].as_str().expect("stdout").trim().to_owned()
            })
            .collect();
        round.sort();
        let before = round.len();
        round.dedup();
        assert_eq!(round.len(), before, "a namespace shared: {round:?}");
        rounds.push(round);
    }
    // The spare went to one launch of the first round (later rounds may be
    // given its number again once it is freed).
    let spare = format!("net:[{spare}]");
    assert_eq!(
        rounds[0].iter().filter(|ns| **ns == spare).count(),
        1,
        "{rounds:?}"
    );
}

/// The init is a small executable of its own; a copy of the tool without
/// it (only `sandbox-tui` installed) runs itself as the init instead.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn run_works_with_and_without_the_separate_init_binary() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // The kernel names a process after the file it executes (15 bytes).
    let (v, code) = env.json(&["run", "--", "cat", "/proc/1/comm"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stdout"], "sandbox-tui-ini\n", "{v}");
    let installed = std::path::Path::new(common::BIN).with_file_name("sandbox-tui-init");
    assert!(installed.is_file(), "{} is missing", installed.display());

    let alone = env.dir.path().join("bin");
    std::fs::create_dir_all(&alone).expect("mkdir");
    let copy = alone.join("sandbox-tui");
    std::fs::copy(common::BIN, &copy).expect("copy the binary");
    let out = common::output_of_a_fresh_copy(
        std::process::Command::new(&copy)
            .arg("--config")
            .arg(&env.config)
            .args(["--json", "run", "--", "cat", "/proc/1/comm"]),
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["status"], "completed", "{v}");
    // Run as /proc/self/exe __init.
    assert_eq!(v["stdout"], "exe\n", "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_run_whose_output_reader_goes_away_ends_like_a_pipeline() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // `sandbox-tui run -- yes | head -c 4`: without its reader, `yes` would
    // otherwise run until the 60 s timeout.
    let status = common::exit_after_reader_leaves(&env, &["run", "--", "yes"]);
    assert_eq!(status.code(), Some(141), "128 + SIGPIPE");
    let (records, code) = env.json(&["ps"]);
    assert_eq!(code, 0, "{records}");
    let record = &records[0];
    assert_eq!(record["command"], serde_json::json!(["yes"]), "{record}");
    assert_eq!(record["status"], "killed", "{record}");
    assert_eq!(record["signal"], 13, "{record}");
    let error = record["error"].as_str().unwrap_or_default();
    assert!(error.contains("reader"), "{record}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn set_overrides_a_limit_for_one_run_and_is_checked() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let grab = "import sys; b = [bytearray(16 << 20) for _ in range(16)]";
    let (v, code) = env.json(&["run", "--", "python3", "-c", grab]);
    assert_eq!((code, v["status"].as_str()), (0, Some("completed")), "{v}");
    let (v, code) = env.json(&[
        "run",
        "--set",
        "max_memory_mb=64",
        "--",
        "python3",
        "-c",
        grab,
    ]);
    assert_eq!(
        (code, v["status"].as_str()),
        (137, Some("memory_limit")),
        "{v}"
    );
    let (v, code) = env.json(&["run", "--set", "max_memory_mb=-1", "--", "true"]);
    assert_eq!(code, 125);
    let message = v["error"].as_str().unwrap_or_default();
    assert!(message.contains("profiles.default.max_memory_mb"), "{v}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn python_integers_come_back_exact_in_json() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let out = env.run(&["--json", "run", "--python", "return [2**100, -2**64 - 1]"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(r#""result":[1267650600228229401496703205376,-18446744073709551617]"#),
        "{text}"
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn create_set_overrides_the_sandbox_limits() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let grab = "b = [bytearray(16 << 20) for _ in range(16)]";
    let (_, code) = env.json(&["create", "tight", "--set", "max_memory_mb=64"]);
    assert_eq!(code, 0);
    let (v, code) = env.json(&["exec", "tight", "--", "python3", "-c", grab]);
    assert_eq!(
        (code, v["status"].as_str()),
        (137, Some("memory_limit")),
        "{v}"
    );
    let (v, code) = env.json(&["create", "bad", "--set", "max_process_count=0"]);
    assert_eq!(code, 125);
    let message = v["error"].as_str().unwrap_or_default();
    assert!(
        message.contains("profiles.default.max_process_count"),
        "{v}"
    );
    let (v, _) = env.json(&["ls"]);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
}
