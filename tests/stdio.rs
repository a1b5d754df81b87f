//! How the caller's stdin, stdout and stderr meet a sandbox: a terminal
//! never reaches it, piped input goes through a pipe of the supervisor's,
//! and a reader that stops reading never holds up the execution's end.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::{Child, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{poll, require_root, TestEnv};

/// Far longer than any of these runs needs, even on a loaded machine.
const DEADLINE: Duration = Duration::from_secs(120);

fn wait_for_exit(child: &mut Child) -> ExitStatus {
    poll("sandbox-tui to end", DEADLINE, || {
        child.try_wait().expect("try_wait")
    })
}

/// Everything the pty's master reads, collected by a thread.
fn collect(master: OwnedFd) -> Arc<Mutex<Vec<u8>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    std::thread::spawn(move || {
        let mut master = std::fs::File::from(master);
        let mut buf = [0u8; 4096];
        // EIO once no slave is open any more.
        while let Ok(n @ 1..) = master.read(&mut buf) {
            sink.lock().expect("lock").extend_from_slice(&buf[..n]);
        }
    });
    seen
}

/// What `args` did under a terminal: exit status, what reached the
/// terminal, and its modes before and after.
struct OnATerminal {
    status: ExitStatus,
    text: String,
    before: nix::sys::termios::Termios,
    after: nix::sys::termios::Termios,
}

/// `sandbox-tui ARGS` as an operator types it: stdin, stdout and stderr on
/// a terminal that is its controlling terminal, the terminal once more on
/// descriptor 5, and a line typed ahead. `done` is the last thing it
/// shows; `during` runs meanwhile, with the terminal's path.
fn on_a_terminal(
    env: &TestEnv,
    args: &[&str],
    done: &str,
    during: impl FnOnce(&std::path::Path),
) -> OnATerminal {
    let pty = nix::pty::openpty(None, None).expect("openpty");
    let before = nix::sys::termios::tcgetattr(pty.slave.as_fd()).expect("tcgetattr");
    assert!(before
        .local_flags
        .contains(nix::sys::termios::LocalFlags::ECHO));
    // Typed before the run starts: a sandbox holding the terminal would read it.
    nix::unistd::write(pty.master.as_fd(), b"keystroke\n").expect("type");
    let slave = pty.slave.as_raw_fd();
    let mut cmd = env.cmd();
    cmd.args(args)
        .stdin(Stdio::from(pty.slave.try_clone().expect("dup")))
        .stdout(Stdio::from(pty.slave.try_clone().expect("dup")))
        .stderr(Stdio::from(pty.slave.try_clone().expect("dup")));
    // SAFETY: setsid, ioctl and dup2 are async-signal-safe, on descriptors
    // that stay open until the exec.
    unsafe {
        cmd.pre_exec(move || {
            nix::unistd::setsid()?;
            if libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 || libc::dup2(slave, 5) != 5 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn sandbox-tui");
    let seen = collect(pty.master);
    during(&nix::unistd::ttyname(pty.slave.as_fd()).expect("ttyname"));
    let status = wait_for_exit(&mut child);
    let text = poll("the last line", DEADLINE, || {
        let text = String::from_utf8_lossy(&seen.lock().expect("lock")).into_owned();
        text.contains(done).then_some(text)
    });
    let after = nix::sys::termios::tcgetattr(pty.slave.as_fd()).expect("tcgetattr");
    OnATerminal {
        status,
        text,
        before,
        after,
    }
}

/// The command tries to reach the operator's terminal every way it can;
/// it finds none, and the terminal's modes are as they were.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn the_callers_terminal_never_reaches_the_sandbox() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let script = "for fd in 0 1 2 3 4 5 6 7 8 9; do test -t $fd && echo tty:$fd; done; \
        stty -echo 2>/dev/null && echo stty:changed; \
        (echo x >&0) 2>/dev/null && echo wrote:0; \
        (exec 3<>/dev/tty) 2>/dev/null && echo devtty:opened; \
        read -r line && echo got:$line; \
        echo stdin:$(stat -L -c %F /proc/self/fd/0); \
        echo end";
    let seen = on_a_terminal(&env, &["run", "--", "sh", "-c", script], "end\r\n", |_| {});
    let text = &seen.text;
    assert_eq!(seen.status.code(), Some(0), "{text}");
    for escape in ["tty:", "stty:changed", "wrote:0", "devtty:opened", "got:"] {
        assert!(!text.contains(escape), "{escape} in {text:?}");
    }
    assert!(text.contains("stdin:character special file"), "{text:?}");
    assert_eq!(seen.after, seen.before, "the terminal's modes changed");
}

/// Likewise an attached `exec`, whose detached supervisor holds no
/// descriptor of the terminal either while the command runs.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn the_callers_terminal_never_reaches_an_attached_exec() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let out = env.run(&["create", "box", "-p", "default"]);
    assert!(out.status.success(), "{out:?}");
    let script = "for fd in 0 1 2 3 4 5 6 7 8 9; do test -t $fd && echo tty:$fd; done; \
        stty -echo 2>/dev/null && echo stty:changed; \
        read -r line && echo got:$line; \
        while [ ! -e go ]; do sleep 0.05; done; echo end";
    let seen = on_a_terminal(
        &env,
        &["exec", "box", "--", "sh", "-c", script],
        "end\r\n",
        |tty| {
            let (records, _) = env.json(&["ps"]);
            let supervisor = poll("the supervisor", DEADLINE, || {
                let (records, _) = env.json(&["ps"]);
                records[0]["supervisor_pid"].as_i64()
            });
            let fds = std::fs::read_dir(format!("/proc/{supervisor}/fd")).expect("fds");
            for fd in fds.flatten() {
                let target = std::fs::read_link(fd.path()).unwrap_or_default();
                assert_ne!(target, tty, "the supervisor holds the terminal: {records}");
            }
            let (boxes, _) = env.json(&["ls"]);
            let workspace = boxes[0]["workspace"].as_str().expect("workspace");
            std::fs::write(std::path::Path::new(workspace).join("go"), "").expect("go");
        },
    );
    let text = &seen.text;
    assert_eq!(seen.status.code(), Some(0), "{text}");
    for escape in ["tty:", "stty:changed", "got:"] {
        assert!(!text.contains(escape), "{escape} in {text:?}");
    }
    assert_eq!(seen.after, seen.before, "the terminal's modes changed");
}

/// Should anything change the terminal's modes meanwhile (here the test
/// itself, as nothing in the sandbox can), an attached execution puts them
/// back when it ends.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn an_attached_execution_puts_the_terminals_modes_back() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let out = env.run(&["create", "modes", "-p", "default"]);
    assert!(out.status.success(), "{out:?}");
    let script = "while [ ! -e go ]; do sleep 0.05; done; echo end";
    let seen = on_a_terminal(
        &env,
        &["exec", "modes", "--", "sh", "-c", script],
        "end\r\n",
        |tty| {
            poll("the command to run", DEADLINE, || {
                let (records, _) = env.json(&["ps"]);
                (records[0]["status"] == "running").then_some(())
            });
            let terminal = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(tty)
                .expect("open the terminal");
            let mut modes = nix::sys::termios::tcgetattr(terminal.as_fd()).expect("tcgetattr");
            modes
                .local_flags
                .remove(nix::sys::termios::LocalFlags::ECHO);
            nix::sys::termios::tcsetattr(
                terminal.as_fd(),
                nix::sys::termios::SetArg::TCSANOW,
                &modes,
            )
            .expect("tcsetattr");
            let (boxes, _) = env.json(&["ls"]);
            let workspace = boxes[0]["workspace"].as_str().expect("workspace");
            std::fs::write(std::path::Path::new(workspace).join("go"), "").expect("go");
        },
    );
    assert_eq!(seen.status.code(), Some(0), "{}", seen.text);
    assert_eq!(
        seen.after, seen.before,
        "the terminal's modes were not put back"
    );
}

/// The selftest's case holds when the selftest itself runs on a terminal.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn the_no_terminal_case_holds_on_a_terminal() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let seen = on_a_terminal(&env, &["selftest", "--case", "no_terminal"], "held", |_| {});
    assert_eq!(seen.status.code(), Some(0), "{}", seen.text);
    assert_eq!(seen.after, seen.before, "the terminal's modes changed");
}

/// Piped input reaches the command, through a pipe that is not the
/// caller's (another inode), so the sandbox cannot fstat, seek or write
/// into what the caller gave.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn piped_stdin_goes_through_a_pipe_of_the_supervisor() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (read, mut write) = std::io::pipe().expect("pipe");
    let callers = nix::sys::stat::fstat(read.as_fd()).expect("fstat").st_ino;
    let child = env
        .cmd()
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "cat; stat -L -c '%F %i' /proc/self/fd/0; (echo x >&0) 2>/dev/null || echo read-only",
        ])
        .stdin(Stdio::from(read))
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    write.write_all(b"data\n").expect("write");
    drop(write);
    let out = child.wait_with_output().expect("wait");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("data"), "{text}");
    let (kind, inode) = lines
        .next()
        .and_then(|l| l.rsplit_once(' '))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(kind, "fifo", "{text}");
    assert_ne!(inode.parse::<u64>().ok(), Some(callers), "{text}");
    assert_eq!(lines.next(), Some("read-only"), "{text}");

    // A file: the sandbox reads it through a pipe too, and cannot seek it.
    let file = env.dir.path().join("input.txt");
    std::fs::write(&file, "from a file\n").expect("write");
    let out = env
        .cmd()
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "cat; stat -L -c %F /proc/self/fd/0",
        ])
        .stdin(std::fs::File::open(&file).expect("open"))
        .output()
        .expect("run");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert_eq!(text, "from a file\nfifo\n");
    assert_eq!(std::fs::metadata(&file).expect("stat").size(), 12);
}

/// `exec NAME --python` still reads the code from stdin.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn python_code_for_exec_comes_from_stdin() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let out = env.run(&["create", "py", "-p", "default"]);
    assert!(out.status.success(), "{out:?}");
    let mut child = env
        .cmd()
        .args(["--json", "exec", "py", "--python"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"return 6 * 7\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["status"], "completed", "{v}");
    assert_eq!(v["result"], 42, "{v}");
}

/// `args` with a stdout pipe whose reader is there but never reads: the
/// end comes anyway. Returns the exit status and stderr.
fn with_a_reader_that_never_reads(env: &TestEnv, args: &[&str]) -> (ExitStatus, String) {
    let (read, write) = std::io::pipe().expect("pipe");
    let mut child = env
        .cmd()
        .args(args)
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stderr = child.stderr.take().expect("stderr");
    let status = wait_for_exit(&mut child);
    // Held open, unread, until the end.
    drop(read);
    let mut text = String::new();
    stderr.read_to_string(&mut text).expect("stderr");
    (status, text)
}

/// `sandbox-tui run --timeout 2 -- yes | sleep 300`: the timeout is
/// enforced although nobody takes the output, and the note says what the
/// reader missed.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_reader_that_stops_reading_does_not_hold_up_the_timeout() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (status, stderr) =
        with_a_reader_that_never_reads(&env, &["run", "--timeout", "2", "--", "sh", "-c", "yes"]);
    assert_eq!(status.code(), Some(124), "{stderr}");
    assert!(stderr.contains("timeout"), "{stderr}");
    assert!(stderr.contains("the live stdout stopped"), "{stderr}");
}

/// Likewise the CPU budget.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_reader_that_stops_reading_does_not_hold_up_the_cpu_budget() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.one_second]\nmax_cpu_seconds = 1\ntimeout_seconds = 300\n");
    // `yes` itself, not under a shell: a shell whose child RLIMIT_CPU ends
    // reports it as its own exit 152, which is `failed` unless the budget's
    // watch saw the CPU time first.
    let (status, stderr) =
        with_a_reader_that_never_reads(&env, &["run", "-p", "one_second", "--", "yes"]);
    assert_ne!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("cpu_limit"), "{stderr}");
    let (records, _) = env.json(&["ps"]);
    assert_eq!(records[0]["status"], "cpu_limit", "{records}");
}

/// And an attached `exec`.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_reader_that_stops_reading_does_not_hold_up_an_attached_exec() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let out = env.run(&["create", "box", "-p", "default"]);
    assert!(out.status.success(), "{out:?}");
    let (status, stderr) = with_a_reader_that_never_reads(
        &env,
        &["exec", "box", "--timeout", "2", "--", "sh", "-c", "yes"],
    );
    assert_eq!(status.code(), Some(124), "{stderr}");
    assert!(stderr.contains("the live stdout stopped"), "{stderr}");
}

/// A reader that is slow but keeps reading gets every byte: the sandbox
/// waits for it, as in any pipeline, instead of losing output.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_slow_reader_gets_every_byte() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let mut child = env
        .cmd()
        .args(["run", "--", "head", "-c", "3000000", "/dev/zero"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut total = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = stdout.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        total += n;
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(wait_for_exit(&mut child).success());
    assert_eq!(total, 3_000_000);
}
