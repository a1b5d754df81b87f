//! Image roots: a profile's `rootfs` (an unpacked root) and `image` (an OCI
//! layout or a docker-archive imported into the state directory) replace the
//! host's system directories and /etc; archives are untrusted and nothing of
//! theirs lands outside the image's root.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{require_root, TestEnv};
use sha2::{Digest, Sha256};

const OS_RELEASE: &str = "PRETTY_NAME=\"sandbox-tui test image\"\nID=sbtest\n";

fn stderr_of(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(env: &TestEnv, args: &[&str]) -> String {
    let out = env.run(args);
    assert!(
        out.status.success(),
        "{args:?} exited {:?}: stdout {:?} stderr {:?}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A host file placed at `inside` in `root`: a hard link where the file
/// system allows (fast, no bytes copied), else a copy.
fn place(root: &Path, host: &Path, inside: &Path) {
    let target = root.join(inside.strip_prefix("/").unwrap_or(inside));
    std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
    if target.exists() {
        return;
    }
    let real = host.canonicalize().expect("canonical host file");
    if std::fs::hard_link(&real, &target).is_err() {
        std::fs::copy(&real, &target).expect("copy host file");
    }
}

/// Where a host path lands in a merged-/usr root: /lib/x -> /usr/lib/x.
fn in_usr(path: &Path) -> PathBuf {
    for top in ["/lib64/", "/lib/", "/bin/", "/sbin/"] {
        if let Ok(rest) = path.strip_prefix(top) {
            return Path::new("/usr").join(top.trim_matches('/')).join(rest);
        }
    }
    path.to_path_buf()
}

fn libraries_of(binary: &Path) -> Vec<PathBuf> {
    let out = Command::new("ldd").arg(binary).output().expect("ldd");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            line.split_whitespace()
                .find(|w| w.starts_with('/'))
                .map(PathBuf::from)
        })
        .collect()
}

/// A host program and the libraries it needs, placed in `root`.
fn add_program(root: &Path, binary: &Path) {
    place(root, binary, &in_usr(binary));
    for lib in libraries_of(binary) {
        place(root, &lib, &in_usr(&lib));
    }
}

/// A small root from host files: sh, cat, true, python3 and its standard
/// library, the libraries they need, and an /etc of its own.
fn assemble_root(root: &Path) {
    std::fs::create_dir_all(root.join("usr/bin")).expect("mkdir");
    for (link, to) in [
        ("bin", "usr/bin"),
        ("lib", "usr/lib"),
        ("lib64", "usr/lib64"),
    ] {
        std::os::unix::fs::symlink(to, root.join(link)).expect("symlink");
    }
    let python = Path::new("/usr/bin/python3")
        .canonicalize()
        .expect("host python3");
    let mut binaries = vec![
        PathBuf::from("/bin/sh"),
        PathBuf::from("/bin/cat"),
        PathBuf::from("/bin/true"),
        python.clone(),
    ];
    binaries.retain(|b| b.exists());
    for binary in &binaries {
        add_program(root, binary);
    }
    let py_name = python.file_name().expect("name").to_owned();
    std::os::unix::fs::symlink(&py_name, root.join("usr/bin/python3")).expect("symlink");
    // The standard library, hard-linked.
    let stdlib = Path::new("/usr/lib").join(&py_name);
    let status = Command::new("cp")
        .arg("-al")
        .arg(&stdlib)
        .arg(root.join("usr/lib"))
        .status()
        .expect("cp");
    if !status.success() {
        let status = Command::new("cp")
            .arg("-a")
            .arg(&stdlib)
            .arg(root.join("usr/lib"))
            .status()
            .expect("cp");
        assert!(status.success());
    }
    let etc = root.join("etc");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(etc.join("os-release"), OS_RELEASE).expect("os-release");
    if Path::new("/etc/ld.so.cache").exists() {
        std::fs::copy("/etc/ld.so.cache", etc.join("ld.so.cache")).expect("ld.so.cache");
    }
    std::fs::write(etc.join("image-only"), "from the image\n").expect("marker");
    for dir in ["tmp", "proc", "dev", "root"] {
        std::fs::create_dir_all(root.join(dir)).expect("mkdir");
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn rootfs_replaces_the_host_root() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    assemble_root(&root);
    let env = TestEnv::new(&format!(
        "[profiles.img]\nrootfs = \"{0}\"\nmax_process_count = 20\n\
         [profiles.imgnet]\nrootfs = \"{0}\"\nallow_network = true\nrequire_isolation = false\n",
        root.display()
    ));
    let out = ok(&env, &["run", "-p", "img", "--", "cat", "/etc/os-release"]);
    assert_eq!(out, OS_RELEASE);
    assert_eq!(
        ok(&env, &["run", "-p", "img", "--", "cat", "/etc/image-only"]),
        "from the image\n"
    );
    // The host's files are not there: its /usr/bin/env, its own os-release
    // marker, its /etc/debian_version.
    for host_only in ["/usr/bin/env", "/etc/debian_version", "/usr/bin/ls"] {
        let out = env.run(&[
            "run",
            "-p",
            "img",
            "--",
            "sh",
            "-c",
            &format!("test -e {host_only}"),
        ]);
        assert_eq!(out.status.code(), Some(1), "{host_only} visible: {out:?}");
    }
    // Generated identity files sit over the image's /etc.
    let passwd = ok(&env, &["run", "-p", "img", "--", "cat", "/etc/passwd"]);
    assert!(passwd.contains("sandbox:x:"), "{passwd}");
    let hosts = ok(&env, &["run", "-p", "img", "--", "cat", "/etc/hosts"]);
    assert!(hosts.contains("127.0.0.1 localhost"), "{hosts}");
    // With the host's network, the host's resolver files over the image's.
    let host_hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
    assert_eq!(
        ok(&env, &["run", "-p", "imgnet", "--", "cat", "/etc/hosts"]),
        host_hosts
    );
    // The root is read-only; the workspace is not.
    let out = env.run(&["run", "-p", "img", "--", "sh", "-c", "echo x > /usr/x"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(!root.join("usr/x").exists());
    ok(
        &env,
        &[
            "run",
            "-p",
            "img",
            "--",
            "sh",
            "-c",
            "echo x > out && cat out",
        ],
    );
    // A Python snippet runs on the image's python3.
    let (value, code) = env.json(&[
        "run",
        "-p",
        "img",
        "--python",
        "import sys; return sys.prefix",
    ]);
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["result"], "/usr", "{value}");
    let (value, code) = env.json(&["run", "-p", "img", "--python", "return 6 * 7"]);
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["result"], 42, "{value}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn a_missing_rootfs_is_a_setup_error_at_launch() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("[profiles.img]\nrootfs = \"/nonexistent-sandbox-tui-root\"\n");
    // The profile loads; the launch reports the root.
    ok(&env, &["profiles", "--check"]);
    let out = env.run(&["run", "-p", "img", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr_of(&out)
    );
    assert!(text.contains("nonexistent-sandbox-tui-root"), "{text}");
}

/// A tar layer from (path, kind) entries, built with the tar crate.
enum Item<'a> {
    Dir(&'a str),
    DirMode(&'a str, u32),
    File(&'a str, &'a [u8], u32),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    CharDev(&'a str),
}

fn layer(items: &[Item<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for item in items {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        // Names are written raw, so unsafe ones reach the archive as they are.
        let (name, data): (&str, &[u8]) = match item {
            Item::Dir(name) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                (name, &[])
            }
            Item::DirMode(name, mode) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(*mode);
                header.set_size(0);
                (name, &[])
            }
            Item::File(name, data, mode) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                (name, data)
            }
            Item::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                header.set_link_name_literal(target).expect("link name");
                (name, &[])
            }
            Item::Hardlink(name, target) => {
                header.set_entry_type(tar::EntryType::Link);
                header.set_mode(0o644);
                header.set_size(0);
                header.set_link_name_literal(target).expect("link name");
                (name, &[])
            }
            Item::CharDev(name) => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_mode(0o666);
                header.set_size(0);
                header.set_device_major(1).expect("major");
                header.set_device_minor(3).expect("minor");
                (name, &[])
            }
        };
        let bytes = name.as_bytes();
        let gnu = header.as_gnu_mut().expect("gnu header");
        gnu.name[..bytes.len()].copy_from_slice(bytes);
        header.set_cksum();
        builder.append(&header, data).expect("append");
    }
    builder.into_inner().expect("finish tar")
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// An OCI image layout at `dir` with the given layers (gzip when asked).
fn oci_layout(dir: &Path, tag: &str, layers: &[(Vec<u8>, bool)]) {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).expect("blobs");
    let mut descriptors = Vec::new();
    for (bytes, compressed) in layers {
        let data = if *compressed {
            gzip(bytes)
        } else {
            bytes.clone()
        };
        let digest = sha(&data);
        std::fs::write(blobs.join(&digest), &data).expect("blob");
        descriptors.push(serde_json::json!({
            "mediaType": if *compressed {
                "application/vnd.oci.image.layer.v1.tar+gzip"
            } else {
                "application/vnd.oci.image.layer.v1.tar"
            },
            "digest": format!("sha256:{digest}"),
            "size": data.len(),
        }));
    }
    let config = b"{}".to_vec();
    std::fs::write(blobs.join(sha(&config)), &config).expect("config");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": format!("sha256:{}", sha(&config)), "size": config.len()},
        "layers": descriptors,
    }))
    .expect("manifest");
    std::fs::write(blobs.join(sha(&manifest)), &manifest).expect("manifest");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": format!("sha256:{}", sha(&manifest)),
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).expect("index");
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("layout");
}

/// A docker-archive (`docker save`) at `file`.
fn docker_archive(file: &Path, repo_tag: &str, layers: &[Vec<u8>]) {
    let mut builder = tar::Builder::new(Vec::new());
    let mut names = Vec::new();
    for (i, bytes) in layers.iter().enumerate() {
        let name = format!("layer{i}/layer.tar");
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder
            .append_data(&mut header, &name, bytes.as_slice())
            .expect("layer");
        names.push(name);
    }
    let manifest = serde_json::to_vec(&serde_json::json!([{
        "Config": "config.json", "RepoTags": [repo_tag], "Layers": names,
    }]))
    .expect("manifest");
    let mut header = tar::Header::new_gnu();
    header.set_size(manifest.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    builder
        .append_data(&mut header, "manifest.json", manifest.as_slice())
        .expect("manifest");
    std::fs::write(file, builder.into_inner().expect("tar")).expect("write archive");
}

/// The assembled root as one tar layer (symlinks kept, hard links as files).
fn root_layer(root: &Path) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", root).expect("tar root");
    builder.into_inner().expect("tar")
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn oci_and_docker_archives_import_list_run_and_remove() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    assemble_root(&root);
    let base = root_layer(&root);
    // A second layer: a whiteout removes a file of the first, a new file
    // lands, an opaque directory hides the first layer's contents.
    let top = layer(&[
        Item::File("etc/.wh.image-only", b"", 0o644),
        Item::File("etc/layer2", b"second layer\n", 0o4755),
        Item::Dir("root"),
        Item::File("root/.wh..wh..opq", b"", 0o644),
    ]);
    let oci = dir.path().join("oci");
    oci_layout(&oci, "v1", &[(base.clone(), true), (top.clone(), false)]);
    let archive = dir.path().join("img.tar");
    docker_archive(&archive, "testimg:2", &[base, top]);

    let env = TestEnv::new(&format!(
        "[profiles.oci]\nimage = \"oci:{}:v1\"\nmax_process_count = 20\n\
         [profiles.dock]\nimage = \"testimg:2\"\n",
        oci.display()
    ));
    let (info, code) = env.json(&[
        "image",
        "import",
        &format!("docker-archive:{}", s(&archive)),
    ]);
    assert_eq!(code, 0, "{info}");
    assert_eq!(info["name"], "testimg:2");
    let docker_digest = info["digest"].as_str().expect("digest").to_owned();
    assert!(docker_digest.starts_with("sha256:"));

    // The OCI one is imported by its first launch.
    let out = ok(
        &env,
        &[
            "run",
            "-p",
            "oci",
            "--",
            "cat",
            "/etc/os-release",
            "/etc/layer2",
        ],
    );
    assert_eq!(out, format!("{OS_RELEASE}second layer\n"));
    let gone = env.run(&["run", "-p", "oci", "--", "cat", "/etc/image-only"]);
    assert_ne!(gone.status.code(), Some(0), "whiteout not applied");
    let (listed, code) = env.json(&["image", "ls"]);
    assert_eq!(code, 0);
    let listed = listed.as_array().expect("array").clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    let oci_info = listed
        .iter()
        .find(|i| i["name"] == "oci:v1")
        .expect("oci image listed");
    let oci_digest = oci_info["digest"].as_str().expect("digest").to_owned();
    for key in ["digest", "name", "size", "created", "source"] {
        assert!(!oci_info[key].is_null(), "{key} in {oci_info}");
    }
    let unpacked = env
        .state_dir
        .join("images")
        .join(oci_digest.trim_start_matches("sha256:"))
        .join("rootfs");
    // setuid stripped; the opaque directory emptied.
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(unpacked.join("etc/layer2"))
            .expect("layer2")
            .permissions(),
    );
    assert_eq!(mode & 0o7777, 0o755);
    assert_eq!(
        std::fs::read_dir(unpacked.join("root"))
            .expect("root")
            .count(),
        0
    );

    // The docker one by name, with a Python snippet.
    let (value, code) = env.json(&["run", "-p", "dock", "--python", "return 6 * 7"]);
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["result"], 42);

    // In use by a named sandbox: refused, then removed with the sandbox gone.
    ok(&env, &["create", "holder", "-p", "oci"]);
    let (value, code) = env.json(&["image", "rm", &oci_digest]);
    assert_eq!(code, 125, "{value}");
    assert!(
        value["failed"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("holder")),
        "{value}"
    );
    ok(&env, &["rm", "holder"]);
    let (value, code) = env.json(&["image", "rm", &oci_digest, "testimg:2"]);
    assert_eq!(code, 0, "{value}");
    assert_eq!(
        value["removed"].as_array().map(Vec::len),
        Some(2),
        "{value}"
    );
    assert!(!unpacked.exists());
    let (listed, _) = env.json(&["image", "ls"]);
    assert_eq!(listed, serde_json::json!([]));
}

/// Import one malicious layer; it must fail or neutralise, and nothing may
/// appear outside the image's root.
fn import_layer(
    env: &TestEnv,
    dir: &Path,
    name: &str,
    items: &[Item<'_>],
) -> (serde_json::Value, i32) {
    let oci = dir.join(name);
    oci_layout(&oci, "evil", &[(layer(items), false)]);
    env.json(&["image", "import", &format!("oci:{}", s(&oci))])
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn malicious_archives_write_nothing_outside_the_root() {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("outside");
    let victim = format!("{}/victim", s(&outside));
    let escape_rel = format!("../../../../../../../../..{}", victim);

    // `..` and absolute names: refused.
    let (value, code) = import_layer(
        &env,
        dir.path(),
        "dotdot",
        &[Item::File(&escape_rel, b"x", 0o644)],
    );
    assert_eq!(code, 125, "{value}");
    assert!(
        value["error"].as_str().is_some_and(|e| e.contains("..")),
        "{value}"
    );
    let (value, code) = import_layer(&env, dir.path(), "abs", &[Item::File(&victim, b"x", 0o644)]);
    assert_eq!(code, 125, "{value}");
    assert!(
        value["error"]
            .as_str()
            .is_some_and(|e| e.contains("absolute")),
        "{value}"
    );

    // A symlink to the outside, then a write through it: its target is
    // looked up inside the root, where it does not exist: refused.
    let (value, code) = import_layer(
        &env,
        dir.path(),
        "symlink",
        &[
            Item::Symlink("link", s(&outside)),
            Item::File("link/victim", b"x", 0o644),
        ],
    );
    assert_eq!(code, 125, "{value}");
    assert!(
        value["error"]
            .as_str()
            .is_some_and(|e| e.contains("link/victim")),
        "{value}"
    );
    // A hard link to a file outside: refused.
    let (value, code) = import_layer(
        &env,
        dir.path(),
        "hard",
        &[Item::Hardlink("hard", &escape_rel)],
    );
    assert_eq!(code, 125, "{value}");
    // A symlink up and out, then a write through it: it lands inside.
    let (value, code) = import_layer(
        &env,
        dir.path(),
        "symlink2",
        &[
            Item::Symlink("up", "../../../../../../../../.."),
            Item::File(&format!("up{}", victim), b"y", 0o644),
            Item::CharDev("dev/mem"),
            // An absolute symlink below the top means what it will inside.
            Item::Dir("srv"),
            Item::Dir("opt"),
            Item::Symlink("opt/abs", "/srv"),
            Item::File("opt/abs/f", b"z", 0o644),
            Item::File("suid", b"#!/bin/sh\n", 0o6755),
        ],
    );
    assert_eq!(code, 0, "{value}");
    assert_eq!(value["skipped"], 1, "the device node: {value}");
    let digest = value["digest"].as_str().expect("digest");
    let unpacked = env
        .state_dir
        .join("images")
        .join(digest.trim_start_matches("sha256:"))
        .join("rootfs");
    // Resolved as if the root were `/`: the writes are inside it.
    assert!(unpacked
        .join(outside.strip_prefix("/").expect("abs"))
        .join("victim")
        .exists());
    assert!(!unpacked.join("dev/mem").exists());
    assert_eq!(std::fs::read(unpacked.join("srv/f")).expect("srv/f"), b"z");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(unpacked.join("suid"))
            .expect("suid")
            .permissions(),
    );
    assert_eq!(mode & 0o7000, 0);

    // Over the size cap: refused from the header, before any data is read.
    let oci = dir.path().join("huge");
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_path("big").expect("path");
    header.set_mode(0o644);
    header.set_size(5 << 30);
    header.set_cksum();
    let mut tar_bytes = header.as_bytes().to_vec();
    tar_bytes.extend_from_slice(&[0u8; 4096]);
    oci_layout(&oci, "huge", &[(tar_bytes, false)]);
    let (value, code) = env.json(&["image", "import", &format!("oci:{}", s(&oci))]);
    assert_eq!(code, 125, "{value}");
    assert!(
        value["error"]
            .as_str()
            .is_some_and(|e| e.contains("too large")),
        "{value}"
    );

    // Nothing outside, and no half-made image left behind.
    assert_eq!(std::fs::read_dir(&outside).expect("outside").count(), 0);
    let (listed, _) = env.json(&["image", "ls"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    let leftovers: Vec<_> = std::fs::read_dir(env.state_dir.join("images"))
        .expect("images")
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn an_image_symlink_never_places_mount_points_on_the_host() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).expect("outside");
    let root = dir.path().join("root");
    std::fs::create_dir(&root).expect("root");
    // While the root is built the host's root sits at /oldroot: a link
    // there, taken as the workdir's or the runner's mount point, would make
    // directories and files on the host.
    for name in ["workspace", ".sandbox-tui"] {
        std::os::unix::fs::symlink(
            format!("/oldroot{}/{name}", outside.display()),
            root.join(name),
        )
        .expect("symlink");
    }
    let env = TestEnv::new(&format!(
        "[profiles.img]\nrootfs = \"{}\"\n",
        root.display()
    ));
    let out = env.run(&["run", "-p", "img", "--", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(stderr_of(&out).contains("symlink"), "{out:?}");
    let (value, code) = env.json(&["run", "-p", "img", "--python", "return 1"]);
    assert_eq!(code, 125, "{value}");
    assert_eq!(std::fs::read_dir(&outside).expect("outside").count(), 0);
}

/// `selftest -p` of an image root judges the root the sandbox will have: a
/// case whose programs the image lacks (bash here) is skipped, not "broken"
/// (its probe found no bash) nor "held" (nothing ran, so nothing escaped).
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn selftest_of_an_image_root_skips_what_the_image_cannot_run() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    assemble_root(&root);
    assert!(!root.join("usr/bin/bash").exists());
    let env = TestEnv::new(&format!(
        "[profiles.img]\nrootfs = \"{}\"\n",
        root.display()
    ));
    let (value, _) = env.json(&["selftest", "-p", "img"]);
    let cases = value.as_array().expect("an array of cases");
    assert!(!cases.is_empty());
    let verdict = |name: &str| {
        cases
            .iter()
            .find(|c| c["case"] == name)
            .unwrap_or_else(|| panic!("no case {name}: {value}"))
    };
    for name in ["no_network", "setsid_daemon", "fork_bomb", "host_paths"] {
        let case = verdict(name);
        assert_eq!(case["verdict"], "skipped", "{case}");
        let detail = case["detail"].as_str().unwrap_or_default();
        assert!(
            detail.contains("bash is not installed in the profile's root"),
            "{case}"
        );
    }
    // A Python case runs on the image's python3.
    assert_eq!(verdict("result_channel")["verdict"], "held", "{value}");
    for case in cases {
        assert_ne!(case["verdict"], "broken", "{case}");
    }
}

/// Unpacked files and directories are root's with no setuid/setgid bit
/// and nothing group- or world-writable; what an interrupted `image rm` or
/// import left behind goes with the next `image ls`, `image rm` or `prune`.
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn unpacked_modes_are_safe_and_interrupted_removals_are_swept() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let dir = tempfile::tempdir().expect("tempdir");
    let (v, code) = import_layer(
        &env,
        dir.path(),
        "modes",
        &[
            Item::DirMode("open", 0o777),
            Item::DirMode("shared", 0o3777),
            Item::File("open/file", b"x", 0o6777),
            Item::File("group", b"x", 0o664),
        ],
    );
    assert_eq!(code, 0, "{v}");
    let root = env
        .state_dir
        .join("images")
        .join(
            v["digest"]
                .as_str()
                .expect("digest")
                .trim_start_matches("sha256:"),
        )
        .join("rootfs");
    for (path, want) in [
        ("open", 0o755),
        ("shared", 0o1755),
        ("open/file", 0o755),
        ("group", 0o644),
    ] {
        let meta = std::fs::symlink_metadata(root.join(path)).expect(path);
        assert_eq!(meta.permissions().mode() & 0o7777, want, "{path}");
        assert_eq!((meta.uid(), meta.gid()), (0, 0), "{path}");
    }
    // Leftovers of a process that is gone; one of a live process stays.
    let images = env.state_dir.join("images");
    let hex = "ab".repeat(32);
    let dead = 0x3fff_fff0;
    let leftovers = [
        images.join(format!(".rm-{hex}-{dead}")),
        images.join(format!(".import-{hex}-{dead}")),
    ];
    let live = images.join(format!(".rm-{hex}-1"));
    for (i, path) in leftovers.iter().chain([&live]).enumerate() {
        std::fs::create_dir_all(path.join("rootfs/usr")).expect("mkdir");
        std::fs::write(path.join("rootfs/usr/f"), b"x").expect("write");
        // The first by `image ls`, the second by `prune`.
        if i == 0 {
            ok(&env, &["image", "ls"]);
            assert!(!path.exists(), "image ls left {}", path.display());
        }
    }
    ok(&env, &["prune"]);
    assert!(
        !leftovers[1].exists(),
        "prune left {}",
        leftovers[1].display()
    );
    assert!(live.exists(), "a live process's removal was swept");
    std::fs::remove_dir_all(&live).expect("cleanup");
}

/// The privileged-syscalls probe calls libc through Python's ctypes: in a
/// root whose python3 lacks it the case is skipped and says why, neither
/// "broken" (its probe could not run) nor "held" (nothing was tried).
#[test]
#[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
fn selftest_without_ctypes_skips_the_privileged_syscalls_probe() {
    if !require_root() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    assemble_root(&root);
    let bash = Path::new("/bin/bash").canonicalize().expect("host bash");
    add_program(&root, &bash);
    if !root.join("usr/bin/bash").exists() {
        std::os::unix::fs::symlink(bash.file_name().expect("name"), root.join("usr/bin/bash"))
            .expect("symlink");
    }
    // The image's copy of the standard library, less ctypes (hard links
    // of the host's files: removing them leaves the host's own).
    let python = Path::new("/usr/bin/python3")
        .canonicalize()
        .expect("host python3");
    let py_name = python.file_name().expect("name");
    let ctypes = root.join("usr/lib").join(py_name).join("ctypes");
    std::fs::remove_dir_all(&ctypes).expect("remove the root's ctypes");
    let env = TestEnv::new(&format!(
        "[profiles.img]\nrootfs = \"{}\"\n",
        root.display()
    ));
    let (value, _) = env.json(&["selftest", "-p", "img", "--case", "privileged_syscalls"]);
    let case = value
        .as_array()
        .and_then(|cases| cases.iter().find(|c| c["case"] == "privileged_syscalls"))
        .unwrap_or_else(|| panic!("no privileged_syscalls case: {value}"));
    assert_eq!(case["verdict"], "skipped", "{case}");
    let detail = case["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("ctypes"), "{case}");
}
