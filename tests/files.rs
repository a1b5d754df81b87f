//! `cp` and `files` over the real binary: bytes round-trip, paths never leave
//! the workspace (`..`, absolute paths, symlinks planted by the sandbox), and
//! sizes are capped by `max_file_size_mb`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{require_root, TestEnv};

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(env: &TestEnv, args: &[&str]) -> Output {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?} exited {:?}: stdout {:?} stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    out
}

/// A verb that must be refused (exit 125) with `message` on stderr.
fn refused(env: &TestEnv, args: &[&str], message: &str) {
    let out = env.run(args);
    assert_eq!(out.status.code(), Some(125), "{args:?}: {out:?}");
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(message),
        "{args:?}: expected {message:?} in {stderr:?}"
    );
}

fn workspace(env: &TestEnv, name: &str) -> PathBuf {
    env.state_dir.join("sandboxes").join(name).join("workspace")
}

fn host_file(env: &TestEnv, name: &str, bytes: &[u8]) -> PathBuf {
    let path = env.dir.path().join(name);
    std::fs::write(&path, bytes).expect("write host file");
    path
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn copying_in_and_out_round_trips_binary_bytes() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "fbox"]);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    let src = host_file(&env, "data.bin", &bytes);

    let (v, code) = env.json(&["cp", s(&src), "fbox:data.bin"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["bytes"], 300_000, "{v}");
    assert_eq!(v["to"], "fbox:data.bin", "{v}");
    // The sandbox sees the same bytes.
    let (v, code) = env.json(&["exec", "fbox", "--", "wc", "-c", "data.bin"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v["stdout"], "300000 data.bin\n", "{v}");

    let out_path = env.dir.path().join("back.bin");
    let (v, code) = env.json(&["cp", "fbox:data.bin", s(&out_path)]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(std::fs::read(&out_path).expect("read back"), bytes);

    // Into a directory on either side, under the same name.
    ok(&env, &["exec", "fbox", "--", "mkdir", "dir"]);
    ok(&env, &["cp", s(&src), "fbox:dir"]);
    let outdir = env.dir.path().join("outdir");
    std::fs::create_dir(&outdir).expect("mkdir");
    ok(&env, &["cp", "fbox:dir/data.bin", s(&outdir)]);
    assert_eq!(std::fs::read(outdir.join("data.bin")).expect("read"), bytes);

    // Output of a command goes out too, and replaces an existing file.
    ok(
        &env,
        &[
            "exec",
            "fbox",
            "--",
            "sh",
            "-c",
            "printf 'made inside' > note",
        ],
    );
    ok(&env, &["cp", "fbox:note", s(&out_path)]);
    assert_eq!(std::fs::read(&out_path).expect("read"), b"made inside");

    refused(
        &env,
        &["cp", s(&src), s(&out_path)],
        "neither side names a sandbox",
    );
    refused(
        &env,
        &["cp", "fbox:a", "fbox:b"],
        "both sides name a sandbox",
    );
    refused(&env, &["cp", s(&src), "nobox:x"], "nobox");
    refused(&env, &["cp", "fbox:dir", s(&out_path)], "is a directory");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn paths_never_leave_the_workspace() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "esc"]);
    let src = host_file(&env, "payload", b"payload");
    let out = env.dir.path().join("out");
    let outside = host_file(&env, "outside-target", b"keep me");

    refused(
        &env,
        &["cp", "esc:../../etc/passwd", s(&out)],
        "'..' is refused",
    );
    refused(&env, &["cp", s(&src), "esc:../../etc/x"], "'..' is refused");
    refused(
        &env,
        &["cp", "esc:/etc/passwd", s(&out)],
        "absolute paths are refused",
    );
    refused(
        &env,
        &["cp", s(&src), "esc:/etc/x"],
        "absolute paths are refused",
    );

    // Symlinks planted by the sandbox itself.
    ok(&env, &["exec", "esc", "--", "ln", "-s", "/etc", "etclink"]);
    ok(
        &env,
        &["exec", "esc", "--", "ln", "-s", "/etc/hostname", "filelink"],
    );
    ok(
        &env,
        &[
            "exec",
            "esc",
            "--",
            "ln",
            "-s",
            "../../../../../../etc",
            "rellink",
        ],
    );
    // The workspace's host path, reached from inside by a symlink to the host.
    std::os::unix::fs::symlink(&outside, workspace(&env, "esc").join("hostlink")).expect("symlink");

    for path in [
        "esc:etclink/passwd",
        "esc:filelink",
        "esc:rellink/passwd",
        "esc:hostlink",
    ] {
        refused(&env, &["cp", path, s(&out)], "leads outside the workspace");
    }
    for path in [
        "esc:etclink/x",
        "esc:filelink",
        "esc:rellink/x",
        "esc:hostlink",
    ] {
        refused(&env, &["cp", s(&src), path], "leads outside the workspace");
    }
    refused(
        &env,
        &["files", "esc", "etclink"],
        "leads outside the workspace",
    );
    assert!(!out.exists());
    assert!(!Path::new("/etc/x").exists());
    assert_eq!(std::fs::read(&outside).expect("outside"), b"keep me");
    let hostname = std::fs::read("/etc/hostname").unwrap_or_default();
    assert_ne!(hostname, b"payload");

    // The symlinks themselves are listed as symlinks, never followed.
    let (v, code) = env.json(&["files", "esc"]);
    assert_eq!(code, 0, "{v}");
    let kinds: Vec<(&str, &str)> = v
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap_or(""),
                e["type"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![
            ("etclink", "symlink"),
            ("filelink", "symlink"),
            ("hostlink", "symlink"),
            ("rellink", "symlink"),
        ]
    );
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn files_over_max_file_size_mb_are_refused_both_ways() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.small]\nmax_file_size_mb = 1\n");
    ok(&env, &["create", "small", "-p", "small"]);
    let big = host_file(&env, "big", &vec![7u8; 2 * 1024 * 1024]);
    refused(&env, &["cp", s(&big), "small:big"], "max_file_size_mb = 1");
    assert!(!workspace(&env, "small").join("big").exists());

    // The sandbox cannot write 2 MB itself (RLIMIT_FSIZE), so plant it.
    std::fs::write(
        workspace(&env, "small").join("big"),
        vec![7u8; 2 * 1024 * 1024],
    )
    .expect("plant");
    let out = env.dir.path().join("big-out");
    refused(&env, &["cp", "small:big", s(&out)], "max_file_size_mb = 1");
    assert!(!out.exists());

    // At the cap is fine.
    let fits = host_file(&env, "fits", &vec![1u8; 1024 * 1024]);
    ok(&env, &["cp", s(&fits), "small:fits"]);
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn files_lists_what_an_execution_created() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "lst"]);
    ok(
        &env,
        &[
            "exec",
            "lst",
            "--",
            "sh",
            "-c",
            "mkdir d && echo hello > d/f && echo x > top",
        ],
    );
    let (v, code) = env.json(&["files", "lst"]);
    assert_eq!(code, 0, "{v}");
    let entries = v.as_array().expect("array");
    assert_eq!(entries.len(), 2, "{v}");
    assert_eq!(entries[0]["name"], "d", "{v}");
    assert_eq!(entries[0]["type"], "dir", "{v}");
    assert_eq!(entries[1]["name"], "top", "{v}");
    assert_eq!(entries[1]["type"], "file", "{v}");
    assert_eq!(entries[1]["size"], 2, "{v}");
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let mtime = entries[1]["mtime"].as_i64().expect("mtime");
    assert!((now_ms - mtime).abs() < 600_000, "{v}");

    let (v, code) = env.json(&["files", "lst", "d"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(v[0]["name"], "f", "{v}");
    assert_eq!(v[0]["size"], 6, "{v}");

    let out = ok(&env, &["files", "lst"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("TYPE"), "{text}");
    assert!(text.contains("top"), "{text}");
    refused(&env, &["files", "lst", "missing"], "no such file");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn names_that_are_not_utf8_copy_both_ways() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    ok(&env, &["create", "rawbox"]);
    let src = env.dir.path().join(OsStr::from_bytes(b"host-\xff.bin"));
    std::fs::write(&src, b"bytes\x00\xff").expect("write");
    let mut into = OsStr::new("rawbox:in-").to_os_string();
    into.push(OsStr::from_bytes(b"\xfe.bin"));
    let out = env
        .cmd()
        .arg("cp")
        .arg(&src)
        .arg(&into)
        .output()
        .expect("cp in");
    assert!(out.status.success(), "{out:?}");
    let inside = workspace(&env, "rawbox").join(OsStr::from_bytes(b"in-\xfe.bin"));
    assert_eq!(std::fs::read(&inside).expect("copied in"), b"bytes\x00\xff");

    let back = env.dir.path().join(OsStr::from_bytes(b"back-\xfd"));
    let out = env
        .cmd()
        .args(["--json", "cp"])
        .arg(&into)
        .arg(&back)
        .output()
        .expect("cp out");
    assert!(out.status.success(), "{out:?}");
    let copied: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(copied["bytes"], 7, "{copied}");
    assert_eq!(std::fs::read(&back).expect("copied out"), b"bytes\x00\xff");
}

#[test]
fn json_errors_are_json_even_for_bad_arguments() {
    let env = TestEnv::new("");
    for args in [
        vec!["--json", "cp", "only-one"],
        vec!["cp", "a", "b", "c", "--json"],
        vec!["--json", "cp", "--no-such-flag", "a", "b"],
        vec!["--json", "no-such-verb"],
    ] {
        let out = env.run(&args);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {out:?}");
        let value: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out:?}"));
        assert!(
            value["error"].as_str().is_some_and(|m| !m.is_empty()),
            "{value}"
        );
        assert!(out.stderr.is_empty(), "{args:?}: {out:?}");
    }
    // A name that is not UTF-8 where text is needed: JSON too.
    let out = env
        .cmd()
        .args(["--json", "files"])
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"\xff"))
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(125));
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert!(value["error"].is_string(), "{value}");
    // Help and version stay text, exit 0.
    for flag in ["--help", "--version"] {
        let out = env.run(&["--json", flag]);
        assert_eq!(out.status.code(), Some(0));
        assert!(serde_json::from_slice::<serde_json::Value>(&out.stdout).is_err());
    }
    // Without --json a usage error stays clap's text on stderr.
    let out = env.run(&["cp", "only-one"]);
    assert_eq!(out.status.code(), Some(125));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("Usage"));
}
