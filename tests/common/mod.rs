//! Shared set-up for the integration tests: a private state directory, a
//! private cgroup root (removed at the end), and the real binary.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sandbox-tui");

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// How many uids each test environment's sandboxes draw from.
pub const UID_BLOCK: u32 = 1024;

/// Whether isolation must be real (CI): then a missing mechanism fails the test.
pub fn isolation_required() -> bool {
    std::env::var("SANDBOX_TUI_REQUIRE_ISOLATION").is_ok_and(|v| v == "1" || v == "true")
}

// Tests that need root (cgroups, namespaces as root, dropping to another
// uid) are marked, right under `#[test]`, with
//
//     #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
//
// and begin with `if !require_root() { return; }` (or call a helper that
// does). build.rs sets `sandbox_tui_root` when the tests are built as root
// or with SANDBOX_TUI_REQUIRE_ISOLATION=1, so a run without root lists them
// as ignored instead of counting them as passed. A marked test that runs
// without root anyway (built as root, run as another user) fails, and so
// does an unmarked one: none passes without having run.

/// Whether the process is root; panics, with why, when it is not: a test
/// that needs root reaches this only when it was built to run.
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(
        !isolation_required(),
        "SANDBOX_TUI_REQUIRE_ISOLATION=1 but the tests are not running as root"
    );
    if cfg!(sandbox_tui_root) {
        panic!(
            "needs root: these tests were built as root but run as uid {}; \
             build them as this user (or with SANDBOX_TUI_TEST_AS=user) to have them ignored",
            nix::unistd::geteuid()
        );
    }
    panic!(
        "needs root: mark this test #[cfg_attr(not(sandbox_tui_root), ignore = \"needs root\")]"
    );
}

/// In every test binary: where isolation is required, no test may have been
/// built to be ignored for want of root (a binary built without
/// SANDBOX_TUI_REQUIRE_ISOLATION and run with it).
#[test]
fn isolation_required_means_no_test_is_ignored_for_want_of_root() {
    assert!(
        !isolation_required() || cfg!(sandbox_tui_root),
        "SANDBOX_TUI_REQUIRE_ISOLATION=1 but the tests needing root were built ignored: \
         build them with it set"
    );
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
    pub state_dir: PathBuf,
    pub cgroup_root: String,
    /// The first of the [`UID_BLOCK`] uids this env's sandboxes run as (as root).
    pub uid_base: u32,
}

impl TestEnv {
    /// A config with the shipped profiles plus `extra` TOML appended, a
    /// private state dir and a private cgroup root.
    pub fn new(extra: &str) -> TestEnv {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let cgroup_root = format!("sandbox-tui-test-{}-{n}", std::process::id());
        let state_dir = dir.path().join("state");
        // A block of uids of its own, so that tests running at once never
        // share a uid, and with it a per-uid quota, between their sandboxes:
        // consecutive within this process, from a start its pid scatters.
        let start = u64::from(std::process::id()).wrapping_mul(2_654_435_761) >> 8;
        let block = (start + u64::from(n)) % 16_000;
        let uid_base = 0x7F00_0000 + block * u64::from(UID_BLOCK);
        let shipped =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("sandboxes.toml"))
                .expect("shipped sandboxes.toml");
        let shipped = strip_settings(&shipped);
        let config = dir.path().join("sandboxes.toml");
        std::fs::write(
            &config,
            format!(
                "[settings]\ncgroup_root = \"{cgroup_root}\"\nstate_dir = \"{}\"\n\
                 sandbox_uid_base = {uid_base}\nsandbox_uid_count = {UID_BLOCK}\n\n{shipped}\n{extra}\n",
                state_dir.display()
            ),
        )
        .expect("write config");
        TestEnv {
            dir,
            config,
            state_dir,
            cgroup_root,
            uid_base: uid_base as u32,
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

    /// Where this env's runs leave a network namespace for the next one.
    pub fn spare_dir(&self) -> PathBuf {
        sandbox_tui::isolation::netns::spare_dir(&self.cgroup_root)
    }

    /// The inode of the network namespace waiting in [`TestEnv::spare_dir`]
    /// (from the host's mount table), and how many of its mounts there are.
    pub fn spare_network(&self) -> (Option<u64>, usize) {
        let dir = self.spare_dir();
        let table = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let mounts: Vec<&str> = table
            .lines()
            .filter(|line| line.contains(&format!(" {}/", dir.display())))
            .collect();
        let spare = mounts
            .iter()
            .find(|line| line.contains("/netns.spare/ns "))
            .and_then(|line| line.split(' ').nth(3))
            .and_then(|root| root.strip_prefix("net:["))
            .and_then(|rest| rest.trim_end_matches(']').parse().ok());
        (spare, mounts.len())
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

impl TestEnv {
    /// Every pid in `rel` (relative to this env's cgroup root) and below, over
    /// every mounted hierarchy; empty when the group does not exist.
    pub fn cgroup_pids(&self, rel: &str) -> Vec<i32> {
        let mut pids = Vec::new();
        for dir in self.cgroup_dirs() {
            collect_pids(&dir.join(rel), &mut pids);
        }
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// SIGKILL whatever is still in this env's cgroup root (only its own
    /// groups), a few rounds, so that the groups can be removed.
    pub fn kill_cgroup_processes(&self) {
        for _ in 0..50 {
            let pids = self.cgroup_pids("");
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn collect_pids(dir: &Path, out: &mut Vec<i32>) {
    if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                collect_pids(&entry.path(), out);
            }
        }
    }
}

/// Runs a binary the test has just copied. Another test thread that forks
/// while the copy is open for writing holds that descriptor until its own
/// exec, and the kernel refuses to execute a file open for writing
/// (ETXTBSY): so the exec is tried again until that child has exec'd.
pub fn output_of_a_fresh_copy(cmd: &mut Command) -> Output {
    poll(
        "the fresh copy to be executable",
        Duration::from_secs(60),
        || match cmd.output() {
            Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy => None,
            other => Some(other.expect("run the fresh copy")),
        },
    )
}

/// Poll `check` (every 20 ms) until it gives a value; panic with `what`
/// after `timeout`. For waiting on conditions, never for timing them.
pub fn poll<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A string unlikely to appear in any other process's command line.
pub fn unique_marker(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("stui-{tag}-{}-{n}-{nanos}", std::process::id())
}

/// Every pid in /proc.
pub fn host_pids() -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .collect()
}

/// Host pids (not zombies) whose /proc/PID/cmdline contains `needle`.
pub fn pids_with_cmdline(needle: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mut found = Vec::new();
    for pid in host_pids() {
        if pid == me {
            continue;
        }
        let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        if cmdline
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
        {
            found.push(pid);
        }
    }
    found
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
        // A failed test may leave sandboxed processes behind: only this env's
        // own cgroup root is touched.
        self.kill_cgroup_processes();
        for dir in self.cgroup_dirs() {
            rmdir_tree(&dir);
        }
        // The network namespace its last run made for the next one.
        sandbox_tui::isolation::netns::discard_all(&self.spare_dir());
    }
}

/// An HTTP server on 127.0.0.1 that answers every request with `body`.
/// Its thread is left to the end of the test process.
pub fn http_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind test server");
    let port = listener.local_addr().expect("local addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match conn.read(&mut byte) {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let _ = conn.write_all(format!("HTTP/1.0 200 OK\r\n\r\n{body}").as_bytes());
            });
        }
    });
    port
}

/// `sandbox-tui ARGS | head -c 4` for a command that prints `y` lines
/// forever: read the first four bytes, close the pipe, and return how the
/// CLI ended.
pub fn exit_after_reader_leaves(env: &TestEnv, args: &[&str]) -> std::process::ExitStatus {
    let mut cli = env
        .cmd()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sandbox-tui");
    let mut stdout = cli.stdout.take().expect("stdout");
    let mut head = [0u8; 4];
    stdout.read_exact(&mut head).expect("the first output");
    assert_eq!(&head, b"y\ny\n");
    drop(stdout);
    poll("sandbox-tui to end", Duration::from_secs(20), || {
        cli.try_wait().expect("try_wait")
    })
}
