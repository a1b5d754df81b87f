//! Shared set-up for the integration tests: a private state directory, a
//! private cgroup root (removed at the end), and the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

pub const BIN: &str = env!("CARGO_BIN_EXE_sandbox-tui");

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether isolation must be real (CI): then a missing mechanism fails the test.
pub fn isolation_required() -> bool {
    std::env::var("SANDBOX_TUI_REQUIRE_ISOLATION").is_ok_and(|v| v == "1" || v == "true")
}

/// Tests that need root (cgroups, namespaces as root) return early when not root,
/// unless isolation is required, in which case they fail.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        !isolation_required(),
        "SANDBOX_TUI_REQUIRE_ISOLATION=1 but the tests are not running as root"
    );
    eprintln!("skipped: needs root");
    false
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub cgroup_root: String,
}

impl TestEnv {
    /// A config with the shipped profiles plus `extra` TOML appended, a
    /// private state dir and a private cgroup root.
    pub fn new(extra: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let cgroup_root = format!("sandbox-tui-test-{}-{n}", std::process::id());
        let state_dir = dir.path().join("state");
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sandboxes.toml"))
                .expect("shipped sandboxes.toml");
        let shipped = strip_settings(&shipped);
        let config = dir.path().join("sandboxes.toml");
        std::fs::write(
            &config,
            format!(
                "[settings]\ncgroup_root = \"{cgroup_root}\"\nstate_dir = \"{}\"\n\n{shipped}\n{extra}\n",
                state_dir.display()
            ),
        )
        .expect("write config");
        TestEnv {
            dir,
            config,
            state_dir,
            cgroup_root,
        }
    }

    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.arg("--config").arg(&self.config);
        cmd.env_remove("SANDBOX_TUI_STATE_DIR");
        cmd.stdin(Stdio::null());
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().expect("run sandbox-tui")
    }

    pub fn json(&self, args: &[&str]) -> (serde_json::Value, i32) {
        let mut full = vec!["--json"];
        full.extend_from_slice(args);
        let out = self.run(&full);
        let code = out.status.code().unwrap_or(-1);
        let text = String::from_utf8_lossy(&out.stdout);
        let value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): stdout {text:?} stderr {:?}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (value, code)
    }

    /// Directories of this env's cgroup root in every mounted hierarchy.
    pub fn cgroup_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") {
            for entry in entries.flatten() {
                let candidate = entry.path().join(&self.cgroup_root);
                if candidate.exists() {
                    dirs.push(candidate);
                }
            }
        }
        let unified = Path::new("/sys/fs/cgroup").join(&self.cgroup_root);
        if unified.exists() && !dirs.contains(&unified) {
            dirs.push(unified);
        }
        dirs
    }
}

fn strip_settings(text: &str) -> String {
    // The shipped file may carry its own [settings]; the test's own comes first.
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            skipping = trimmed.starts_with("[settings]");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Remove a cgroup directory tree bottom-up (rmdir only: cgroupfs needs nothing else).
fn rmdir_tree(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_tree(&entry.path());
            }
        }
    }
    let _ = std::fs::remove_dir(dir);
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        for dir in self.cgroup_dirs() {
            rmdir_tree(&dir);
        }
    }
}
