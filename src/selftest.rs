//! The attack cases, as data: `sandbox-tui selftest` runs them on the user's
//! own host and the integration tests run the very same cases.
//!
//! Every case is bounded in its own right (at most 200 processes, 1 GB of
//! memory, 50 MB of disk, network only to the host's loopback) so that a
//! broken engine fails the case without taking the machine down.

use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::execution::{ExecResult, Status};
use crate::manager::{Launch, RunOptions};
use crate::profile::{Config, Profile};

/// What the case found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    Held(String),
    Broken(String),
    Skipped(String),
}

impl Verdict {
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Held(_) => "held",
            Verdict::Broken(_) => "broken",
            Verdict::Skipped(_) => "skipped",
        }
    }
}

/// Host-side facts a case may use in its script or check.
pub struct Context {
    /// A listener on the host's 127.0.0.1 that no sandbox should reach.
    pub port: u16,
    /// A unique string: names processes that must not survive, and host files that must stay unseen.
    pub marker: String,
    pub host_hostname: String,
    /// A file on the host's /tmp that must be invisible inside.
    pub host_tmp_file: PathBuf,
    pub state_dir: PathBuf,
    pub cgroup_root: String,
}

pub struct Case {
    pub name: &'static str,
    /// The guarantee the case attacks.
    pub claim: &'static str,
    /// Programs the script needs inside the sandbox (looked up in the host's /usr/bin and /bin).
    pub needs: &'static [&'static str],
    /// Tighten the profile so the limit is reached quickly.
    pub tune: fn(&mut Profile),
    pub timeout_secs: Option<f64>,
    /// The mechanism the guarantee rests on: when the run reports it degraded
    /// (only possible with require_isolation = false), the case is skipped.
    pub mechanism: Option<&'static str>,
    /// A bash script, or a Python snippet (the body of a function, see
    /// `run --python`) after a first line [`PYTHON_SNIPPET`]; `@PORT@`,
    /// `@MARKER@` and `@HOSTFILE@` are replaced.
    pub script: &'static str,
    pub check: fn(&ExecResult, &Context) -> Result<(), String>,
}

/// The first line of a [`Case::script`] that is a Python snippet.
pub const PYTHON_SNIPPET: &str = "#!python-snippet\n";

fn keep(_: &mut Profile) {}

/// How a check says the sandbox gave it nothing to test with (a program's
/// module missing, say): the case is skipped with the reason, since it can
/// claim neither that the guarantee held nor that it broke.
const NOT_APPLICABLE: &str = "not applicable: ";

fn not_applicable(why: &str) -> String {
    format!("{NOT_APPLICABLE}{why}")
}

fn status_is(result: &ExecResult, want: Status) -> Result<(), String> {
    if result.status == want {
        Ok(())
    } else {
        Err(format!(
            "expected status {want}, got {} (exit {:?}, error {:?}, stderr {:?})",
            result.status,
            result.exit_code,
            result.error,
            tail(&result.stderr)
        ))
    }
}

fn tail(text: &str) -> &str {
    let start = text.len().saturating_sub(300);
    let mut start = start;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

fn ran(result: &ExecResult) -> Result<(), String> {
    match result.status {
        Status::Error | Status::Denied => Err(format!(
            "the sandbox did not run: {}: {}",
            result.status,
            result
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default()
        )),
        _ => Ok(()),
    }
}

/// Host process table: is any process's command line carrying the marker?
pub fn host_processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let mut cmdline = Vec::new();
        if std::fs::File::open(entry.path().join("cmdline"))
            .and_then(|mut f| f.read_to_end(&mut cmdline))
            .is_ok()
            && String::from_utf8_lossy(&cmdline).contains(marker)
        {
            found.push(pid);
        }
    }
    found
}

fn no_survivors(ctx: &Context) -> Result<(), String> {
    // The kill is synchronous, but give the kernel a moment to finish reaping.
    for _ in 0..20 {
        if host_processes_with(&ctx.marker).is_empty() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err(format!(
        "processes carrying the marker survived on the host: {:?}",
        host_processes_with(&ctx.marker)
    ))
}

pub const CASES: &[Case] = &[
    Case {
        name: "fork_bomb",
        claim: "max_process_count caps the number of processes",
        needs: &["bash", "python3"],
        tune: |p| p.max_process_count = 20,
        timeout_secs: Some(20.0),
        mechanism: Some("cgroup"),
        // Python rather than a shell: bash retries a failed fork for half a minute.
        script: r#"exec python3 -c '
import os, time
for i in range(200):
    try:
        pid = os.fork()
    except OSError:
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
print("procs=%d" % len([p for p in os.listdir("/proc") if p.isdigit()]))
'"#,
        check: |r, _| {
            ran(r)?;
            let count: u64 = r
                .stdout
                .trim()
                .strip_prefix("procs=")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("no process count in output {:?}", r.stdout))?;
            // The shell, its init and up to 20 processes in all.
            if count <= 21 {
                Ok(())
            } else {
                Err(format!("{count} processes ran with max_process_count = 20"))
            }
        },
    },
    Case {
        name: "memory_bomb",
        claim: "max_memory_mb is enforced by the cgroup and reported as memory_limit",
        needs: &["bash", "head", "tail"],
        tune: |p| p.max_memory_mb = 64,
        timeout_secs: Some(30.0),
        mechanism: Some("cgroup"),
        // tail keeps a whole line in memory, and this line is 1 GB of zero bytes.
        script: "head -c 1000000000 /dev/zero | tail >/dev/null; echo survived",
        check: |r, _| status_is(r, Status::MemoryLimit),
    },
    Case {
        name: "busy_loop_timeout",
        claim: "the wall-clock timeout ends a busy loop",
        needs: &["bash"],
        tune: keep,
        timeout_secs: Some(1.0),
        mechanism: None,
        script: "while :; do :; done",
        check: |r, _| {
            status_is(r, Status::Timeout)?;
            if r.duration_ms < 5000 {
                Ok(())
            } else {
                Err(format!("took {} ms to end a 1 s timeout", r.duration_ms))
            }
        },
    },
    Case {
        name: "cpu_burn",
        claim: "max_cpu_seconds ends a CPU burn as cpu_limit",
        needs: &["bash"],
        tune: |p| p.max_cpu_seconds = 1,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "while :; do :; done",
        check: |r, _| status_is(r, Status::CpuLimit),
    },
    Case {
        name: "file_size",
        claim: "a file larger than max_file_size_mb cannot be written",
        needs: &["bash", "head", "wc"],
        tune: |p| p.max_file_size_mb = 1,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "head -c 3000000 /dev/zero > big 2>/dev/null; echo \"size=$(wc -c < big)\"",
        check: |r, _| {
            ran(r)?;
            let size: u64 = r
                .stdout
                .trim()
                .strip_prefix("size=")
                .and_then(|n| n.trim().parse().ok())
                .ok_or_else(|| format!("no size in output {:?}", r.stdout))?;
            if size <= 1024 * 1024 {
                Ok(())
            } else {
                Err(format!("wrote {size} bytes with max_file_size_mb = 1"))
            }
        },
    },
    Case {
        name: "open_files",
        claim: "no more than max_open_files descriptors can be opened",
        needs: &["bash"],
        tune: |p| p.max_open_files = 16,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "n=0; for i in $(seq 64); do exec {fd}</dev/null 2>/dev/null || break; n=$((n+1)); done; echo \"opened=$n\"",
        check: |r, _| {
            ran(r)?;
            let opened: u64 = r
                .stdout
                .trim()
                .strip_prefix("opened=")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| format!("no count in output {:?}", r.stdout))?;
            if opened < 16 {
                Ok(())
            } else {
                Err(format!("opened {opened} more files with max_open_files = 16"))
            }
        },
    },
    Case {
        name: "no_network",
        claim: "without allow_network nothing on the host's network is reachable",
        needs: &["bash"],
        tune: |p| p.allow_network = false,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "if exec 3<>/dev/tcp/127.0.0.1/@PORT@; then echo connected; else echo refused; fi",
        check: |r, _| {
            ran(r)?;
            if r.stdout.contains("connected") {
                Err("connected to a listener on the host's loopback".into())
            } else {
                Ok(())
            }
        },
    },
    Case {
        name: "host_paths",
        claim: "host paths outside the allowlist are invisible and the root is read-only",
        needs: &["bash", "ls", "touch", "cat"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "for p in /home /root /var /run /srv /opt /mnt @HOSTFILE@ /etc/shadow /etc/ssh; do \
                   [ -e \"$p\" ] && echo \"visible $p\"; done; \
                 for p in /evil /usr/evil /etc/evil /bin/evil /lib/evil; do \
                   touch \"$p\" 2>/dev/null && echo \"wrote $p\"; done; \
                 ls /tmp | grep -q . && echo \"host tmp visible\"; \
                 grep -v -e '^root:' -e '^nobody:' -e '^sandbox:' /etc/passwd | grep -q . && echo \"host users visible\"; \
                 echo done",
        check: |r, _| {
            ran(r)?;
            let leaks: Vec<&str> = r.stdout.lines().filter(|l| *l != "done").collect();
            if !r.stdout.contains("done") {
                return Err(format!("the probe did not finish: {:?}", r.stderr));
            }
            if leaks.is_empty() {
                Ok(())
            } else {
                Err(leaks.join("; "))
            }
        },
    },
    Case {
        name: "setsid_daemon",
        claim: "a setsid + double-fork daemon does not survive its execution",
        needs: &["bash", "setsid", "sleep"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "setsid bash -c '(exec -a @MARKER@ sleep 300 &) ; exit 0' </dev/null >/dev/null 2>&1; \
                 sleep 0.2; echo started",
        check: |r, ctx| {
            ran(r)?;
            no_survivors(ctx)
        },
    },
    Case {
        name: "trap_term",
        claim: "a process that ignores SIGTERM does not survive a kill",
        needs: &["bash", "sleep"],
        tune: keep,
        timeout_secs: Some(1.0),
        mechanism: None,
        script: "trap '' TERM INT HUP; (trap '' TERM INT HUP; exec -a @MARKER@ sleep 300) & wait",
        check: |r, ctx| {
            status_is(r, Status::Timeout)?;
            no_survivors(ctx)
        },
    },
    Case {
        name: "output_flood",
        claim: "an output flood is capped (head and tail kept) without blocking the child",
        needs: &["bash", "yes", "head"],
        tune: |p| p.max_output_kb = 64,
        timeout_secs: Some(60.0),
        mechanism: None,
        script: "yes sandbox | head -c 200000000; echo; echo the-end",
        check: |r, _| {
            status_is(r, Status::Completed)?;
            if !r.stdout_truncated {
                return Err("200 MB of output was not marked truncated".into());
            }
            if r.stdout_bytes < 200_000_000 {
                return Err(format!("only {} bytes were drained", r.stdout_bytes));
            }
            if r.stdout.len() > 64 * 1024 + 256 {
                return Err(format!("kept {} bytes with max_output_kb = 64", r.stdout.len()));
            }
            if !r.stdout.trim_end().ends_with("the-end") {
                return Err("the tail of the output was not kept".into());
            }
            Ok(())
        },
    },
    Case {
        name: "binary_output",
        claim: "binary and non-UTF-8 output survives byte for byte",
        needs: &["bash"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "printf '\\377\\376\\000\\001abc\\200'",
        check: |r, _| {
            status_is(r, Status::Completed)?;
            let bytes = r.stdout_bytes_decoded();
            if bytes == b"\xff\xfe\x00\x01abc\x80" {
                Ok(())
            } else {
                Err(format!("got {bytes:?}"))
            }
        },
    },
    Case {
        name: "denied_command",
        claim: "a command not in allowed_commands is denied and never starts",
        needs: &["bash"],
        tune: |p| p.allowed_commands = vec!["echo".into()],
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "echo ran > /dev/null",
        check: |r, _| status_is(r, Status::Denied),
    },
    Case {
        name: "privileged_syscalls",
        claim: "ptrace, mount and unshare fail inside",
        needs: &["bash", "python3"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: Some("seccomp"),
        script: "python3 - <<'EOF'\n\
try: import ctypes; libc = ctypes.CDLL(None, use_errno=True)\n\
except (ImportError, OSError) as e: print('no-ctypes=' + repr(e)); raise SystemExit(0)\n\
ok = []\n\
if libc.ptrace(0, 0, 0, 0) == 0: ok.append('ptrace')\n\
if libc.mount(b'none', b'/tmp', b'tmpfs', 0, None) == 0: ok.append('mount')\n\
if libc.unshare(0x00020000) == 0: ok.append('unshare(NEWNS)')\n\
if libc.unshare(0x10000000) == 0: ok.append('unshare(NEWUSER)')\n\
if libc.syscall(435, 0, 0) >= 0: ok.append('clone3')\n\
print('allowed=' + ','.join(ok))\n\
EOF",
        check: |r, _| {
            ran(r)?;
            if let Some(why) = r.stdout.lines().find_map(|l| l.strip_prefix("no-ctypes=")) {
                return Err(not_applicable(&format!(
                    "the sandbox's python3 cannot make raw calls without ctypes: {why}"
                )));
            }
            match r.stdout.trim().strip_prefix("allowed=") {
                Some("") => Ok(()),
                Some(list) => Err(format!("these succeeded: {list}")),
                None => Err(format!("probe failed: {:?}", tail(&r.stderr))),
            }
        },
    },
    Case {
        name: "hostname_and_env",
        claim: "the host's hostname and environment are untouched and unseen",
        needs: &["bash", "hostname", "env"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "echo \"name=$(hostname)\"; hostname evil-host 2>/dev/null && echo renamed; \
                 env | grep -q SANDBOX_TUI_SELFTEST_SECRET && echo env-leaked; echo done",
        check: |r, ctx| {
            ran(r)?;
            let inside = r
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("name="))
                .unwrap_or_default();
            if inside == ctx.host_hostname {
                return Err("the sandbox sees the host's hostname".into());
            }
            if r.stdout.contains("env-leaked") {
                return Err("the host's environment leaked in".into());
            }
            if r.stdout.contains("renamed") {
                return Err("the sandbox could set a hostname".into());
            }
            let now = nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            if now != ctx.host_hostname {
                return Err(format!("the host's hostname changed to {now}"));
            }
            Ok(())
        },
    },
    Case {
        name: "segfault",
        claim: "a segfaulting command ends as failed with signal 11 (exit 139)",
        needs: &["bash"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "kill -SEGV $$",
        check: |r, _| {
            status_is(r, Status::Failed)?;
            if r.signal == Some(11) && r.exit_code_for_cli() == 139 {
                Ok(())
            } else {
                Err(format!("signal {:?}, exit {}", r.signal, r.exit_code_for_cli()))
            }
        },
    },
    Case {
        name: "no_leftovers",
        claim: "no cgroup or workspace is left after run",
        needs: &["bash"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "echo data > file; mkdir -p a/b; echo more > a/b/c",
        check: |r, ctx| {
            status_is(r, Status::Completed)?;
            let workspace = ctx.state_dir.join("sandboxes").join(&r.sandbox);
            if workspace.exists() {
                return Err(format!("{} is still there", workspace.display()));
            }
            if let Ok(hierarchy) = crate::cgroup::Hierarchy::detect(&ctx.cgroup_root) {
                if hierarchy.open(&r.sandbox).is_ok() {
                    return Err(format!("the cgroup of {} is still there", r.sandbox));
                }
            }
            Ok(())
        },
    },
    Case {
        name: "result_channel",
        claim: "a Python snippet cannot swap its result for a host file, a FIFO or a device",
        needs: &["python3"],
        tune: keep,
        timeout_secs: Some(30.0),
        mechanism: None,
        // A result file in the workspace would let a snippet make the host
        // read a host file (a symlink), hang the supervisor (a FIFO) or fill
        // its memory (/dev/zero). The value travels through a pipe the
        // supervisor owns instead, and nothing there is writable.
        script: r#"#!python-snippet
import os
made = []
for path in ('/.sandbox-tui/out/result.json', '/.sandbox-tui/in/result.json'):
    for target in ('/etc/shadow', '@HOSTFILE@', '/dev/zero', None):
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            if os.path.lexists(path):
                os.unlink(path)
            if target is None:
                os.mkfifo(path)
            else:
                os.symlink(target, path)
            made.append(path)
        except OSError:
            pass
return '@MARKER@ %d' % len(made)
"#,
        check: |r, ctx| {
            status_is(r, Status::Completed)?;
            let want = serde_json::Value::String(format!("{} 0", ctx.marker));
            if r.result.as_ref() == Some(&want) {
                Ok(())
            } else {
                Err(format!("expected the result {want}, got {:?}", r.result))
            }
        },
    },
    Case {
        name: "own_uid",
        claim: "the command never runs as host root (as root: a uid and gid of its own, no groups) \
                and its rlimits for queued signals, real-time and nice priority and message queues are set",
        needs: &["bash", "id", "cat"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "echo \"ids $(id -u) $(id -g) $(id -G)\"; cat /proc/self/limits",
        check: |r, _| {
            status_is(r, Status::Completed)?;
            let ids: Vec<u64> = r
                .stdout
                .lines()
                .find_map(|l| l.strip_prefix("ids "))
                .ok_or("no ids printed")?
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect();
            // Without root, uid 0 inside is the caller's own uid outside.
            if nix::unistd::geteuid().is_root() {
                match ids.as_slice() {
                    [uid, gid, groups @ ..] if *uid != 0 && gid == uid && groups == [*uid] => {}
                    _ => return Err(format!("ran as uid, gid, groups {ids:?}")),
                }
            }
            let limit = |name: &str| -> Result<(u64, u64), String> {
                let line = r
                    .stdout
                    .lines()
                    .find(|l| l.starts_with(name))
                    .ok_or(format!("no {name:?} in /proc/self/limits"))?;
                let mut fields = line[name.len()..].split_whitespace();
                let mut value = || -> Result<u64, String> {
                    fields
                        .next()
                        .and_then(|v| v.parse().ok())
                        .ok_or(format!("{name} is unlimited: {line}"))
                };
                Ok((value()?, value()?))
            };
            use crate::isolation::rlimits::{MSGQUEUE_BYTES, SIGPENDING};
            for (name, most) in [
                ("Max pending signals", SIGPENDING),
                ("Max msgqueue size", MSGQUEUE_BYTES),
                ("Max realtime priority", 0),
                ("Max nice priority", 0),
            ] {
                let (soft, hard) = limit(name)?;
                if soft > most || hard > most {
                    return Err(format!("{name}: {soft} {hard}, above {most}"));
                }
            }
            Ok(())
        },
    },
    Case {
        name: "proc_kernel_memory",
        claim: "kernel memory, keys and timing files in /proc read empty or not at all",
        needs: &["bash", "head", "wc", "ls"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "for f in kcore kpageflags kpagecount kpagecgroup keys timer_list timer_stats \
                   latency_stats sched_debug sysrq-trigger; do \
                   n=$(head -c 4096 \"/proc/$f\" 2>/dev/null | wc -c); \
                   [ \"$n\" != 0 ] && echo \"readable /proc/$f\"; done; \
                 for d in acpi scsi asound; do \
                   [ -n \"$(ls -A \"/proc/$d\" 2>/dev/null)\" ] && echo \"listed /proc/$d\"; done; \
                 echo done",
        check: |r, _| {
            ran(r)?;
            if !r.stdout.contains("done") {
                return Err(format!("the probe did not finish: {:?}", tail(&r.stderr)));
            }
            let leaks: Vec<&str> = r.stdout.lines().filter(|l| *l != "done").collect();
            if leaks.is_empty() {
                Ok(())
            } else {
                Err(leaks.join("; "))
            }
        },
    },
    Case {
        name: "proc_read_only",
        claim: "root-writable /proc knobs (sysctls, IRQ affinity) cannot be written",
        needs: &["bash", "cat"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        // Each file gets back the value it holds: a write that wrongly
        // succeeds changes nothing on the host.
        script: "for f in /proc/sys/kernel/hostname /proc/sys/vm/overcommit_memory \
                   /proc/irq/*/smp_affinity; do \
                   [ -e \"$f\" ] || continue; v=$(cat \"$f\" 2>/dev/null) || continue; \
                   (printf '%s\\n' \"$v\" > \"$f\") 2>/dev/null && echo \"wrote $f\"; done; \
                 echo done",
        check: |r, _| {
            ran(r)?;
            if !r.stdout.contains("done") {
                return Err(format!("the probe did not finish: {:?}", tail(&r.stderr)));
            }
            let wrote: Vec<&str> = r.stdout.lines().filter(|l| *l != "done").collect();
            if wrote.is_empty() {
                Ok(())
            } else {
                Err(wrote.join("; "))
            }
        },
    },
    Case {
        name: "deep_tree_cleanup",
        claim: "a workspace nested deeper than the open-file limit is still removed after run",
        needs: &["bash", "python3"],
        tune: keep,
        timeout_secs: Some(60.0),
        mechanism: None,
        script: "exec python3 -c '
import os
for _ in range(5000):
    os.mkdir(\"d\"); os.chdir(\"d\")
print(\"nested\")
'",
        check: |r, ctx| {
            status_is(r, Status::Completed)?;
            if let Some(note) = r.degraded.iter().find(|d| d.starts_with("cleanup")) {
                return Err(note.clone());
            }
            let dir = ctx.state_dir.join("sandboxes").join(&r.sandbox);
            if dir.exists() {
                return Err(format!("{} is still there", dir.display()));
            }
            Ok(())
        },
    },
    Case {
        name: "no_terminal",
        claim: "the operator's terminal is out of reach: no descriptor is a terminal, /dev/tty does not open, stty changes nothing",
        needs: &["bash", "stty"],
        tune: keep,
        timeout_secs: Some(20.0),
        mechanism: None,
        script: "for fd in 0 1 2 3 4 5 6 7 8 9 10 11 12; do [ -t $fd ] && echo \"terminal on fd $fd\"; done; \
                 (exec 3<>/dev/tty) 2>/dev/null && echo '/dev/tty opened'; \
                 stty -echo 2>/dev/null && echo 'stty changed the modes'; echo done",
        check: |r, _| {
            status_is(r, Status::Completed)?;
            match r.stdout.as_str() {
                "done\n" => Ok(()),
                other => Err(other.trim_end().replace('\n', "; ")),
            }
        },
    },
];

pub fn find(name: &str) -> Option<&'static Case> {
    CASES.iter().find(|c| c.name == name)
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    pub case: &'static str,
    pub claim: &'static str,
    #[serde(flatten)]
    pub verdict: Verdict,
    pub status: Option<Status>,
    pub duration_ms: u64,
}

/// Whether `name` is in the bin directories of `root` (the host's `/`, or
/// the profile's image root, where the sandbox will look for it). An entry,
/// a symlink included, is enough: this only tells "skipped" from a run.
fn program_present(root: &Path, name: &str) -> bool {
    ["usr/bin", "bin", "usr/sbin", "sbin"]
        .iter()
        .any(|dir| root.join(dir).join(name).symlink_metadata().is_ok())
}

/// Where the sandbox's programs come from: the profile's `rootfs`, its
/// image's unpacked root, or the host's `/` (an image that cannot be found
/// makes the run itself fail, and say why).
fn programs_root(profile: &Profile, state_dir: &Path) -> PathBuf {
    if let Some(reference) = &profile.image {
        if let Ok(info) = crate::image::find(state_dir, reference) {
            return crate::image::root_dir(state_dir, &info.digest);
        }
    }
    profile.rootfs.clone().unwrap_or_else(|| PathBuf::from("/"))
}

fn random_marker() -> String {
    format!("sandbox-tui-selftest-{}", crate::execution::new_id())
}

/// Run one case against `base` (a profile from the user's config).
pub fn run_case(case: &Case, config: &Config, base: &Profile, state_dir: &Path) -> CaseReport {
    let report = |verdict, status, duration_ms| CaseReport {
        case: case.name,
        claim: case.claim,
        verdict,
        status,
        duration_ms,
    };
    let root = programs_root(base, state_dir);
    if let Some(missing) = case.needs.iter().find(|n| !program_present(&root, n)) {
        let place = if root == Path::new("/") {
            "on this host".to_string()
        } else {
            format!("in the profile's root {}", root.display())
        };
        return report(
            Verdict::Skipped(format!("{missing} is not installed {place}")),
            None,
            0,
        );
    }
    let listener = match TcpListener::bind("127.0.0.1:0") {
        Ok(l) => l,
        Err(e) => {
            return report(
                Verdict::Skipped(format!("no loopback listener: {e}")),
                None,
                0,
            )
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let marker = random_marker();
    let host_tmp_file = std::env::temp_dir().join(format!("{marker}.host"));
    let _ = std::fs::write(&host_tmp_file, "host secret");
    let ctx = Context {
        port,
        marker: marker.clone(),
        host_hostname: nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        host_tmp_file: host_tmp_file.clone(),
        state_dir: state_dir.to_path_buf(),
        cgroup_root: config.settings.cgroup_root.clone(),
    };
    let mut profile = base.clone();
    (case.tune)(&mut profile);
    let script = case
        .script
        .replace("@PORT@", &port.to_string())
        .replace("@MARKER@", &marker)
        .replace("@HOSTFILE@", &host_tmp_file.display().to_string());
    let options = RunOptions {
        timeout: case.timeout_secs.map(Duration::from_secs_f64),
        live_output: false,
        pass_stdin: false,
    };
    let launch = match script.strip_prefix(PYTHON_SNIPPET) {
        Some(code) => Launch::Python(crate::python::PythonJob {
            code: code.to_string(),
            ..crate::python::PythonJob::default()
        }),
        None => Launch::Command(vec!["bash".to_string(), "-c".to_string(), script]),
    };
    let outcome = crate::manager::run(config.clone(), Some(state_dir), &profile, launch, &options);
    let result = match outcome {
        Ok(result) => result,
        Err(e) => {
            let _ = std::fs::remove_file(&host_tmp_file);
            return report(Verdict::Broken(format!("could not run: {e}")), None, 0);
        }
    };
    let degraded_mechanism = case
        .mechanism
        .and_then(|m| result.degraded.iter().find(|d| d.starts_with(m)).cloned());
    let verdict = match (case.check)(&result, &ctx) {
        Ok(()) => Verdict::Held(case.claim.to_string()),
        Err(reason) if reason.starts_with(NOT_APPLICABLE) => Verdict::Skipped(reason),
        Err(_) if degraded_mechanism.is_some() => Verdict::Skipped(format!(
            "missing mechanism: {}",
            degraded_mechanism.unwrap_or_default()
        )),
        Err(reason) if result.status == Status::Error => Verdict::Skipped(format!(
            "missing mechanism: {}",
            result
                .error
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or(reason)
        )),
        Err(reason) => Verdict::Broken(reason),
    };
    let _ = std::fs::remove_file(&host_tmp_file);
    // Whatever the verdict, nothing of the case stays behind.
    for pid in host_processes_with(&marker) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    drop(listener);
    report(verdict, Some(result.status), result.duration_ms)
}
