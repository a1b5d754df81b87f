//! A `run` reuses an emptied sandbox directory of an earlier run only when
//! nothing of that run is left on it: inode flags (`chattr`) refuse the
//! reuse, and times are those of the new run.

mod common;

use common::{require_root, TestEnv};

/// Prints the workspace's inode flags and mtime; with an argument, first
/// sets FS_SYNC_FL | FS_DIRSYNC_FL (as `chattr +S +D` would), or with
/// "utime" puts its times back to 1970.
const PROBE: &str = r#"
import fcntl, os, struct, sys
fd = os.open('.', os.O_RDONLY | os.O_DIRECTORY)
def flags():
    return struct.unpack('l', fcntl.ioctl(fd, 0x80086601, struct.pack('l', 0)))[0]
arg = sys.argv[1] if len(sys.argv) > 1 else ''
if arg == 'flags':
    try:
        fcntl.ioctl(fd, 0x40086602, struct.pack('l', flags() | 0x8 | 0x10000))
        print('set', hex(flags()))
    except OSError as e:
        print('refused', e)
elif arg == 'utime':
    os.utime('.', (0, 0))
    print('set', os.stat('.').st_mtime)
print('flags', flags() & (0x8 | 0x10000))
print('mtime', int(os.stat('.').st_mtime))
"#;

fn probe(env: &TestEnv, arg: &str) -> (String, serde_json::Value) {
    let mut args = vec!["run", "--", "python3", "-c", PROBE];
    if !arg.is_empty() {
        args.push(arg);
    }
    let (result, code) = env.json(&args);
    assert_eq!(code, 0, "{result}");
    (
        result["stdout"].as_str().unwrap_or_default().to_string(),
        result,
    )
}

fn value<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
        .unwrap_or_else(|| panic!("no {key} in {out:?}"))
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_run_leaves_neither_inode_flags_nor_times_to_the_next() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    // A first clean run leaves a spare, so the next runs take one.
    probe(&env, "");
    let (out, _) = probe(&env, "flags");
    if out.contains("refused") {
        eprintln!("the file system refuses inode flags here: {out}");
    } else {
        assert_ne!(value(&out, "flags"), "0", "{out}");
    }
    let (out, result) = probe(&env, "");
    assert_eq!(
        value(&out, "flags"),
        "0",
        "flags reached the next run: {result}"
    );

    let (out, _) = probe(&env, "utime");
    assert_eq!(value(&out, "mtime"), "0", "{out}");
    let (out, result) = probe(&env, "");
    let mtime: i64 = value(&out, "mtime").parse().expect("mtime");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    // Not a timing bound: 1970 against "today, give or take a day".
    assert!(
        (now - mtime).abs() < 86_400,
        "times reached the next run: {result}"
    );
}
