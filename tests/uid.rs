//! As root, every sandbox's commands run as a host uid (and gid) of its own:
//! the kernel's per-uid quotas (inotify instances, queued signals, message
//! queues) are then the sandbox's, never host root's, and one sandbox cannot
//! starve another. Its rlimits for those are set, never inherited.

mod common;

use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Output;
use std::time::Duration;

use common::{poll, require_root, TestEnv, UID_BLOCK};
use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn ok(env: &TestEnv, args: &[&str]) -> Output {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?} exited {:?}: stdout {:?} stderr {:?}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn stdout(env: &TestEnv, args: &[&str]) -> String {
    text(&ok(env, args).stdout)
}

/// The number on the line of `out` that starts with `label`.
fn number(out: &str, label: &str) -> u64 {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {label:?} in {out:?}"))
}

fn ls_uid(env: &TestEnv, name: &str) -> u64 {
    let (list, code) = env.json(&["ls"]);
    assert_eq!(code, 0, "{list}");
    list.as_array()
        .and_then(|all| all.iter().find(|s| s["name"] == name))
        .and_then(|s| s["uid"].as_u64())
        .unwrap_or_else(|| panic!("no uid for {name} in {list}"))
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn commands_run_as_a_uid_of_their_own_sandbox_never_host_root() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "a"]);
    ok(&env, &["create", "b"]);
    let script = "echo uid $(id -u); echo gid $(id -g); echo groups $(id -G); \
                  echo name $(id -un) $(whoami); echo home $HOME; \
                  touch \"$HOME/h\" /tmp/t /dev/shm/s && echo writable";
    let a = stdout(&env, &["exec", "a", "--", "sh", "-c", script]);
    let uid_a = number(&a, "uid ");
    assert_ne!(uid_a, 0, "{a}");
    assert_eq!(number(&a, "gid "), uid_a, "{a}");
    assert!(
        a.contains(&format!("groups {uid_a}\n")),
        "no other group: {a}"
    );
    assert!(a.contains("name sandbox sandbox\n"), "{a}");
    assert!(
        a.contains("home /workspace\n") && a.contains("writable"),
        "{a}"
    );
    let range = u64::from(env.uid_base)..u64::from(env.uid_base) + u64::from(UID_BLOCK);
    assert!(range.contains(&uid_a), "{uid_a} outside {range:?}");
    // Recorded: `ls` shows it, and it does not change between executions.
    assert_eq!(ls_uid(&env, "a"), uid_a);
    assert_eq!(
        number(&stdout(&env, &["exec", "a", "--", "id", "-u"]), ""),
        uid_a
    );

    let uid_b = number(&stdout(&env, &["exec", "b", "--", "id", "-u"]), "");
    assert!(range.contains(&uid_b), "{uid_b} outside {range:?}");
    assert_ne!(uid_b, uid_a, "two sandboxes share a uid");
    assert_eq!(ls_uid(&env, "b"), uid_b);

    // `run`'s ephemeral sandbox has one of its own too.
    let ran = number(&stdout(&env, &["run", "--", "id", "-u"]), "");
    assert!(
        range.contains(&ran) && ran != uid_a && ran != uid_b,
        "{ran}"
    );

    // A Python job reads its code and writes its result as that uid.
    let (result, code) = env.json(&[
        "exec",
        "a",
        "--python",
        "import getpass, os\nreturn [getpass.getuser(), os.getuid(), os.getgid()]",
    ]);
    assert_eq!(code, 0, "{result}");
    assert_eq!(
        result["result"],
        serde_json::json!(["sandbox", uid_a, uid_a]),
        "{result}"
    );
}

/// A named sandbox of `profile` running `python3 -c script` detached, once
/// its stdout has a line starting with `ready`: that line.
fn start_holding(env: &TestEnv, name: &str, script: &str) -> (String, String) {
    ok(env, &["create", name, "-p", "quota"]);
    let (v, code) = env.json(&["exec", name, "--detach", "--", "python3", "-c", script]);
    assert_eq!(code, 0, "{v}");
    let id = v["id"].as_str().expect("id").to_string();
    let line = poll("the sandbox to report", DEADLINE, || {
        let logs = text(&env.run(&["logs", &id]).stdout);
        if let Some(line) = logs.lines().find(|l| l.starts_with("ready")) {
            return Some(line.to_string());
        }
        let (record, _) = env.json(&["ps"]);
        let done = record
            .as_array()
            .and_then(|all| all.iter().find(|e| e["id"] == id.as_str()))
            .is_some_and(|e| e["status"] != "running" && e["status"] != "queued");
        assert!(!done, "the execution ended early: {record} {logs}");
        None
    });
    (id, line)
}

fn stop(env: &TestEnv, name: &str) {
    ok(env, &["rm", "--force", name]);
}

/// An inotify instance of this test process, host root's.
fn host_inotify() -> Result<std::os::fd::OwnedFd, nix::errno::Errno> {
    // SAFETY: inotify_init1 takes flags and returns a new descriptor or -1.
    let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(nix::errno::Errno::last());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) })
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn inotify_instances_are_charged_to_the_sandbox_uid_not_to_host_root() {
    if !require_root() {
        return;
    }
    let max: u64 = std::fs::read_to_string("/proc/sys/fs/inotify/max_user_instances")
        .expect("max_user_instances")
        .trim()
        .parse()
        .expect("a number");
    if max > 4000 {
        eprintln!("skipped: max_user_instances is {max}; exhausting it would take too long");
        return;
    }
    // Host root can open one to begin with, or this proves nothing.
    drop(host_inotify().expect(
        "host root cannot open an inotify instance before the test: its quota is already used",
    ));
    // Descriptors to spare: the per-uid quota, not RLIMIT_NOFILE, must stop it.
    let env = TestEnv::new(&format!(
        "[profiles.quota]\nextends = \"default\"\nmax_open_files = {}\n",
        max + 64
    ));
    let script = "import ctypes, os, time\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  n = 0\n\
                  while libc.inotify_init1(0) >= 0:\n    n += 1\n\
                  print('ready', n, ctypes.get_errno(), flush=True)\n\
                  time.sleep(300)\n";
    let (_, line) = start_holding(&env, "inotify", script);
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().expect("number"))
        .collect();
    // A fresh uid: the whole quota, then EMFILE (24) for the user limit.
    assert_eq!(fields, [max, 24], "{line}");
    // While the sandbox holds all of its uid's instances, host root's are untouched.
    let host = host_inotify();
    stop(&env, "inotify");
    assert!(
        host.is_ok(),
        "host root could not open an inotify instance while a sandbox held {max}: {host:?}"
    );
}

/// The first number of `SigQ:` in a status file: signals queued for its uid.
fn queued_for(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigQ:"))
        .and_then(|q| q.trim().split('/').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no SigQ in {status}"))
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn queued_signals_are_charged_to_the_sandbox_uid_and_capped_by_its_rlimit() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.quota]\nextends = \"default\"\n");
    // Blocked, so that every one stays queued until the limit refuses one.
    let script = "import ctypes, os, signal, time\n\
                  libc = ctypes.CDLL(None, use_errno=True)\n\
                  sig = signal.SIGRTMIN\n\
                  signal.pthread_sigmask(signal.SIG_BLOCK, [sig])\n\
                  n = 0\n\
                  while libc.sigqueue(os.getpid(), sig, ctypes.c_void_p(0)) == 0:\n    n += 1\n\
                  err = ctypes.get_errno()\n\
                  q = [l for l in open('/proc/self/status') if l.startswith('SigQ:')][0]\n\
                  print('ready', n, err, q.split()[1], flush=True)\n\
                  time.sleep(300)\n";
    let (_, line) = start_holding(&env, "signals", script);
    let host = std::fs::read_to_string("/proc/self/status").expect("status");
    stop(&env, "signals");
    let fields: Vec<&str> = line.split_whitespace().collect();
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_SIGPENDING)
        .expect("getrlimit");
    let limit = sandbox_tui::isolation::rlimits::SIGPENDING.min(hard);
    // Exactly RLIMIT_SIGPENDING, then EAGAIN (11), all on the sandbox uid's count.
    assert_eq!(
        fields[1..],
        [limit.to_string(), "11".into(), format!("{limit}/{limit}")],
        "{line}"
    );
    // Host root could still queue: its own count was never near that.
    assert!(queued_for(&host) < limit, "host root's SigQ: {host}");
}

/// Soft limits below their hard ones in the launcher: inherited, they would show.
fn lower_soft(resource: nix::sys::resource::Resource, soft: u64) -> std::io::Result<()> {
    let (_, hard) = nix::sys::resource::getrlimit(resource)?;
    nix::sys::resource::setrlimit(resource, soft.min(hard), hard)?;
    Ok(())
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn signal_priority_and_message_queue_rlimits_are_set_not_inherited() {
    if !require_root() {
        return;
    }
    use nix::sys::resource::Resource;
    use sandbox_tui::isolation::rlimits::{MSGQUEUE_BYTES, SIGPENDING};
    let env = TestEnv::new("");
    let mut cmd = env.cmd();
    cmd.args(["run", "--", "cat", "/proc/self/limits"]);
    // SAFETY: setrlimit and getrlimit are async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            lower_soft(Resource::RLIMIT_SIGPENDING, 7)?;
            lower_soft(Resource::RLIMIT_MSGQUEUE, 4096)
        });
    }
    let out = cmd.output().expect("run");
    let limits = text(&out.stdout);
    assert!(out.status.success(), "{limits} {}", text(&out.stderr));
    let both = |name: &str| -> Vec<String> {
        limits
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in {limits}"))
            .split_whitespace()
            .take(2)
            .map(str::to_string)
            .collect()
    };
    let (_, sig_hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_SIGPENDING).expect("get");
    let (_, mq_hard) = nix::sys::resource::getrlimit(Resource::RLIMIT_MSGQUEUE).expect("get");
    let sig = SIGPENDING.min(sig_hard).to_string();
    let mq = MSGQUEUE_BYTES.min(mq_hard).to_string();
    assert_eq!(both("Max pending signals"), [sig.clone(), sig]);
    assert_eq!(both("Max msgqueue size"), [mq.clone(), mq]);
    assert_eq!(both("Max nice priority"), ["0", "0"]);
    assert_eq!(both("Max realtime priority"), ["0", "0"]);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn files_copied_in_are_the_sandboxes_to_change_and_its_files_go_with_rm() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "box"]);
    let uid = ls_uid(&env, "box");
    let host_in = env.dir.path().join("in.txt");
    std::fs::write(&host_in, "from the host\n").expect("write");
    ok(
        &env,
        &["cp", host_in.to_str().expect("utf-8"), "box:data.txt"],
    );
    let workspace = env.state_dir.join("sandboxes/box/workspace");
    let meta = std::fs::metadata(workspace.join("data.txt")).expect("copied");
    assert_eq!((u64::from(meta.uid()), u64::from(meta.gid())), (uid, uid));
    assert_eq!(
        u64::from(std::fs::metadata(&workspace).expect("ws").uid()),
        uid
    );

    // Changed inside (in place, and replaced), hidden behind modes root ignores.
    let script = "echo from the sandbox >> data.txt && chmod 600 data.txt && \
                  mkdir -p deep/er && echo x > deep/er/f && chmod 0 deep/er deep && \
                  cp data.txt copy.txt && mv copy.txt data.txt";
    ok(&env, &["exec", "box", "--", "sh", "-c", script]);
    let host_out = env.dir.path().join("out.txt");
    ok(
        &env,
        &["cp", "box:data.txt", host_out.to_str().expect("utf-8")],
    );
    assert_eq!(
        std::fs::read_to_string(&host_out).expect("read"),
        "from the host\nfrom the sandbox\n"
    );
    let (files, code) = env.json(&["files", "box"]);
    assert_eq!(code, 0, "{files}");
    let names: Vec<&Value> = files
        .as_array()
        .expect("array")
        .iter()
        .map(|f| &f["name"])
        .collect();
    assert_eq!(names, ["data.txt", "deep"], "{files}");

    ok(&env, &["rm", "box"]);
    assert!(!env.state_dir.join("sandboxes/box").exists());
    // The uid is free again: the next sandbox may have it, with nothing of the last.
    ok(&env, &["create", "next"]);
    let out = stdout(
        &env,
        &["exec", "next", "--", "sh", "-c", "ls -A; echo done"],
    );
    assert_eq!(out, "done\n");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_runs_spare_workspace_is_reset_to_ours_and_given_to_the_next_uid() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    for _ in 0..3 {
        // Writable each time, by whichever uid the run drew.
        let out = stdout(&env, &["run", "--", "sh", "-c", "touch f && rm f && id -u"]);
        assert!(number(&out, "") >= u64::from(env.uid_base), "{out}");
    }
    let sandboxes = env.state_dir.join("sandboxes");
    let spares: Vec<_> = std::fs::read_dir(&sandboxes)
        .expect("sandboxes")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(".spare-"))
        .collect();
    assert!(!spares.is_empty(), "no spare kept");
    for spare in spares {
        let meta = std::fs::metadata(spare.path().join("workspace")).expect("spare");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{:?}", spare.path());
    }

    // A killed run leaves its sandbox to the next command's recovery, which
    // removes the files its uid made, behind modes that stop all but root.
    let mut cli = env
        .cmd()
        .args(["run", "--", "sh", "-c"])
        .arg("mkdir -p d/e && echo x > d/e/f && chmod 0 d/e d && exec sleep 300")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("spawn the run");
    let workspace = poll("the run to write its files", DEADLINE, || {
        std::fs::read_dir(&sandboxes)
            .ok()?
            .flatten()
            .map(|e| e.path().join("workspace"))
            .find(|w| std::fs::symlink_metadata(w.join("d")).is_ok_and(|m| m.mode() & 0o777 == 0))
    });
    cli.kill().expect("SIGKILL the run");
    cli.wait().expect("reap the run");
    let (list, code) = env.json(&["ls"]);
    assert_eq!((list, code), (serde_json::json!([]), 0));
    assert!(!workspace.exists(), "{} is left", workspace.display());
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_full_uid_range_refuses_new_sandboxes_and_runs_naming_the_setting() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let config = std::fs::read_to_string(&env.config).expect("config");
    let one = config.replace(
        &format!("sandbox_uid_count = {UID_BLOCK}\n"),
        "sandbox_uid_count = 1\n",
    );
    assert_ne!(one, config);
    std::fs::write(&env.config, one).expect("write config");
    ok(&env, &["create", "only"]);
    assert_eq!(ls_uid(&env, "only"), u64::from(env.uid_base));
    for args in [&["create", "more"][..], &["run", "--", "true"]] {
        let out = env.run(args);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = text(&out.stderr);
        assert!(err.contains("sandbox_uid_count"), "{args:?}: {err}");
    }
    // Nothing of the refused ones is left; the one there still works.
    let (list, _) = env.json(&["ls"]);
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(
        number(&stdout(&env, &["exec", "only", "--", "id", "-u"]), ""),
        u64::from(env.uid_base)
    );
}
