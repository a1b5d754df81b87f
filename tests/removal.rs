//! Removing what a sandbox leaves: trees of any depth go with a handful of
//! descriptors, and `rm` and `prune` go past a sandbox they cannot remove
//! (reported, exit 125) instead of stopping at it.

mod common;

use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{poll, require_root, TestEnv};

/// Lower the soft RLIMIT_NOFILE of a command to `n`: a removal that takes
/// a descriptor per level fails far above it.
fn with_few_descriptors(cmd: &mut Command, n: u64) {
    // SAFETY: getrlimit and setrlimit are async-signal-safe, and this closure
    // does nothing else between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            limit.rlim_cur = n.min(limit.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

fn run_ok(mut cmd: Command, what: &str) -> Output {
    let out = cmd.output().expect("run sandbox-tui");
    assert!(
        out.status.success(),
        "{what} exited {:?}: stdout {:?} stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A Python script that nests `depth` directories under `top`, with a file
/// at the bottom.
fn nest(top: &str, depth: u32) -> String {
    format!(
        "import os\nos.mkdir({top:?}); os.chdir({top:?})\nfor _ in range({depth}):\n    os.mkdir('d'); os.chdir('d')\nopen('bottom', 'w').write('x')\n"
    )
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn trees_deeper_than_the_descriptor_limit_are_removed() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    run_ok(
        {
            let mut c = env.cmd();
            c.args(["create", "deep"]);
            c
        },
        "create",
    );
    let script = format!("{}{}", nest("a", 1100), nest("/workspace/b", 5000));
    let out = run_ok(
        {
            let mut c = env.cmd();
            c.args(["--json", "exec", "deep", "--", "python3", "-c", &script]);
            c
        },
        "exec",
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result["status"], "completed", "{result}");
    let workspace = env.state_dir.join("sandboxes/deep/workspace");
    assert!(workspace.join("b/d/d/d").is_dir());

    let mut rm = env.cmd();
    rm.args(["rm", "deep"]);
    with_few_descriptors(&mut rm, 64);
    run_ok(rm, "rm of a 5000-deep tree with 64 descriptors");
    assert!(!env.state_dir.join("sandboxes/deep").exists());

    // A `run` cleans up after a command that nests 5000 deep, and leaves
    // nothing for prune.
    let mut run = env.cmd();
    run.args(["--json", "run", "--", "python3", "-c", &nest("c", 5000)]);
    with_few_descriptors(&mut run, 64);
    let out = run_ok(run, "run");
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result["degraded"], serde_json::json!([]), "{result}");
    let left: Vec<PathBuf> = std::fs::read_dir(env.state_dir.join("sandboxes"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|p| p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".spare-"))),
        "{left:?}"
    );
    let mut prune = env.cmd();
    prune.args(["--json", "prune"]);
    let out = run_ok(prune, "prune");
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(report["failed"], serde_json::json!([]), "{report}");
}

// linux/fs.h
const FS_IMMUTABLE_FL: libc::c_long = 0x10;

/// A file made immutable (`chattr +i`) for as long as this lives: nothing,
/// root included, can unlink it, so neither can the directory around it go.
struct Immutable(PathBuf);

fn set_flags(path: &Path, set: libc::c_long, clear: libc::c_long) -> std::io::Result<()> {
    let file = std::fs::File::open(path)?;
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`, which outlives the call.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    flags = (flags | set) & !clear;
    // SAFETY: FS_IOC_SETFLAGS reads one long from `flags`, which outlives the call.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

impl Immutable {
    fn new(path: &Path) -> Option<Immutable> {
        match set_flags(path, FS_IMMUTABLE_FL, 0) {
            Ok(()) => Some(Immutable(path.to_path_buf())),
            Err(e) => {
                eprintln!("skipped: cannot make {} immutable: {e}", path.display());
                None
            }
        }
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = set_flags(&self.0, 0, FS_IMMUTABLE_FL);
    }
}

/// A `run` that leaves its ephemeral sandbox behind: its workspace holds a
/// file made immutable while the command waits on stdin.
fn leftover_run(env: &TestEnv) -> Option<(String, Immutable)> {
    let before: Vec<PathBuf> = std::fs::read_dir(env.state_dir.join("sandboxes"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    let mut child = env
        .cmd()
        .args([
            "--json",
            "run",
            "--",
            "sh",
            "-c",
            "echo x > pinned; read line",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn run");
    let pinned = poll("the run's file", std::time::Duration::from_secs(60), || {
        std::fs::read_dir(env.state_dir.join("sandboxes"))
            .ok()?
            .flatten()
            .map(|e| e.path())
            .filter(|p| !before.contains(p))
            .map(|p| p.join("workspace/pinned"))
            .find(|p| std::fs::read(p).is_ok_and(|d| d == b"x\n"))
    });
    let guard = Immutable::new(&pinned);
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"go\n");
    }
    let out = child.wait_with_output().expect("wait run");
    let guard = guard?;
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(result["status"], "completed", "{result}");
    let name = result["sandbox"].as_str().expect("sandbox").to_string();
    Some((name, guard))
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn prune_goes_past_a_sandbox_it_cannot_remove() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let mut left = Vec::new();
    for _ in 0..3 {
        let Some(one) = leftover_run(&env) else {
            return;
        };
        left.push(one);
    }
    // The first by name stays pinned (prune takes them in name order, so
    // the others come after the failure); the others become removable.
    left.sort_by(|a, b| a.0.cmp(&b.0));
    let mut left = left.into_iter();
    let (stuck, pin) = left.next().expect("three");
    let others: Vec<String> = left.map(|(name, _guard)| name).collect();

    let (ls, _) = env.json(&["ls"]);
    assert_eq!(ls.as_array().map(Vec::len), Some(3), "{ls}");

    let (report, code) = env.json(&["prune"]);
    assert_eq!(code, 125, "{report}");
    let mut removed: Vec<String> = report["sandboxes"]
        .as_array()
        .expect("sandboxes")
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    removed.sort();
    assert_eq!(removed, others, "{report}");
    assert_eq!(report["failed"][0]["name"], stuck.as_str(), "{report}");
    assert!(report["failed"][0]["error"].is_string(), "{report}");
    assert!(report["error"].is_string(), "{report}");

    // Without --json: the same, on stderr, exit 125.
    let out = env.run(&["prune"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&stuck));

    drop(pin);
    let (report, code) = env.json(&["prune"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["sandboxes"], serde_json::json!([stuck]), "{report}");
    let (ls, _) = env.json(&["ls"]);
    assert_eq!(ls, serde_json::json!([]));
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn rm_goes_past_a_sandbox_it_cannot_remove() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    for name in ["pinned", "free"] {
        let (_, code) = env.json(&["create", name]);
        assert_eq!(code, 0);
    }
    let (_, code) = env.json(&["exec", "pinned", "--", "sh", "-c", "echo x > f"]);
    assert_eq!(code, 0);
    let Some(pin) = Immutable::new(&env.state_dir.join("sandboxes/pinned/workspace/f")) else {
        return;
    };
    let (report, code) = env.json(&["rm", "pinned", "free"]);
    assert_eq!(code, 125, "{report}");
    assert_eq!(report["removed"], serde_json::json!(["free"]), "{report}");
    assert_eq!(report["failed"][0]["name"], "pinned", "{report}");
    assert!(report["error"].is_string(), "{report}");
    drop(pin);
    let (report, code) = env.json(&["rm", "pinned"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["removed"], serde_json::json!(["pinned"]));
    let (ls, _) = env.json(&["ls"]);
    assert_eq!(ls, serde_json::json!([]));
}
