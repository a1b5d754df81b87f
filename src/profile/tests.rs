//! The checker, `extends` and discovery, through `Config::parse` as users meet them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::diagnostic::{edit_distance, suggest};
use super::extends::{NETWORK_CONFLICT, ROOT_CONFLICT};
use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("sandboxes.toml"))
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match parse(text) {
        Err(ConfigError::Invalid(diagnostics)) => diagnostics,
        Ok(config) if !config.problems.is_empty() => config.problems,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

/// The single diagnostic as `line:column key: message` for compact asserts.
fn one_error(text: &str) -> (usize, usize, String, String) {
    let diagnostics = errors(text);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    let d = &diagnostics[0];
    (d.line, d.column, d.key.clone(), d.message.clone())
}

#[test]
fn empty_file_gives_defaults() {
    let config = parse("").unwrap();
    assert_eq!(config.settings, Settings::default());
    assert_eq!(config.profile_names(), vec!["default"]);
    assert_eq!(
        config.profile("default").unwrap(),
        &Profile::defaults("default")
    );
    assert_eq!(config.path.as_deref(), Some(Path::new("sandboxes.toml")));
}

#[test]
fn defaults_match_documentation() {
    let p = Profile::defaults("x");
    assert_eq!(p.name, "x");
    assert_eq!(p.max_memory_mb, 512);
    assert_eq!(p.max_cpu_seconds, 30);
    assert_eq!(p.max_file_size_mb, 100);
    assert_eq!(p.max_process_count, 10);
    assert_eq!(p.max_open_files, 100);
    assert!(!p.allow_network);
    assert!(p.allowed_hosts.is_empty());
    assert_eq!(p.timeout_seconds, 60);
    assert!(p.allowed_commands.is_empty());
    assert_eq!(p.cpu_quota, None);
    assert_eq!(p.max_output_kb, 1024);
    assert!(p.env.is_empty());
    assert_eq!(p.workdir, PathBuf::from("/workspace"));
    assert_eq!(p.hostname, "sandbox");
    assert!(p.require_isolation);
    assert_eq!(p.max_concurrent, 4);
    assert_eq!(p.python, "python3");
    assert_eq!(p.max_result_mb, 16);
    assert_eq!(p.warm, 0);
    let s = Settings::default();
    assert_eq!(s.cgroup_root, "sandbox-tui");
    assert_eq!(s.state_dir, None);
    assert_eq!(s.theme, None);
}

#[test]
fn every_key_is_accepted() {
    let config = parse(
        r#"
[settings]
cgroup_root = "sandbox-tui/jobs"
state_dir = "/var/lib/sandbox-tui"
theme = "dark"

[profiles.all]
max_memory_mb = 1_024
max_cpu_seconds = 0x10
max_file_size_mb = 5
max_process_count = 7
max_open_files = 4
allow_network = true
allowed_hosts = []
timeout_seconds = 9
allowed_commands = ["python3", "sh"]
cpu_quota = 1
max_output_kb = 2
env = { PATH = "/usr/bin", _X1 = "" }
read_only_paths = ["/data", "/"]
writable_paths = ["/tmp/out"]
workdir = "/work"
hostname = "box-1"
require_isolation = false
max_concurrent = 3
python = "/usr/bin/python3.12"
max_result_mb = 8
warm = 64
"#,
    )
    .unwrap();
    assert_eq!(config.settings.cgroup_root, "sandbox-tui/jobs");
    assert_eq!(
        config.settings.state_dir,
        Some(PathBuf::from("/var/lib/sandbox-tui"))
    );
    assert_eq!(config.settings.theme.as_deref(), Some("dark"));
    let p = config.profile("all").unwrap();
    assert_eq!(p.max_memory_mb, 1024);
    assert_eq!(p.max_cpu_seconds, 16);
    assert_eq!(p.max_open_files, 4);
    assert_eq!(p.warm, 64);
    assert!(p.allow_network);
    assert_eq!(p.allowed_commands, vec!["python3", "sh"]);
    assert_eq!(p.cpu_quota, Some(1.0));
    assert_eq!(p.env.get("PATH").map(String::as_str), Some("/usr/bin"));
    assert_eq!(
        p.read_only_paths,
        vec![PathBuf::from("/data"), PathBuf::from("/")]
    );
    assert_eq!(p.workdir, PathBuf::from("/work"));
    assert_eq!(p.hostname, "box-1");
    assert!(!p.require_isolation);
    assert_eq!(p.python, "/usr/bin/python3.12");
    assert_eq!(p.max_result_mb, 8);
    // `default` is still there even though the file doesn't define it.
    assert_eq!(
        config.profile("default").unwrap(),
        &Profile::defaults("default")
    );
}

#[test]
fn extends_chain_overrides_and_merges_env() {
    let config = parse(
        r#"
[profiles.base]
max_memory_mb = 100
allowed_commands = ["a", "b"]
env = { A = "base", B = "base" }
cpu_quota = 0.5

[profiles.mid]
extends = "base"
max_cpu_seconds = 7
env = { B = "mid", C = "mid" }

[profiles.leaf]
extends = "mid"
max_memory_mb = 300
allowed_commands = ["c"]

[profiles.leaf.env]
C = "leaf"
"#,
    )
    .unwrap();
    let leaf = config.profile("leaf").unwrap();
    assert_eq!(leaf.name, "leaf");
    assert_eq!(leaf.max_memory_mb, 300);
    assert_eq!(leaf.max_cpu_seconds, 7);
    assert_eq!(leaf.cpu_quota, Some(0.5));
    assert_eq!(leaf.timeout_seconds, 60);
    // Lists replace rather than append.
    assert_eq!(leaf.allowed_commands, vec!["c"]);
    let env: Vec<(&str, &str)> = leaf
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(env, vec![("A", "base"), ("B", "mid"), ("C", "leaf")]);
    let mid = config.profile("mid").unwrap();
    assert_eq!(mid.max_memory_mb, 100);
    assert_eq!(mid.allowed_commands, vec!["a", "b"]);
}

#[test]
fn file_can_override_default_and_extend_it() {
    let config =
        parse("[profiles.default]\nmax_memory_mb = 10\n[profiles.x]\nextends = \"default\"\n")
            .unwrap();
    assert_eq!(config.profile("default").unwrap().max_memory_mb, 10);
    assert_eq!(config.profile("x").unwrap().max_memory_mb, 10);

    let config = parse("[profiles.x]\nextends = \"default\"\ntimeout_seconds = 3\n").unwrap();
    assert_eq!(config.profile("x").unwrap().max_memory_mb, 512);
    assert_eq!(config.profile("x").unwrap().timeout_seconds, 3);
}

#[test]
fn unknown_key_with_suggestion() {
    let (line, col, key, msg) = one_error("\n\n[profiles.x]\nmax_memroy_mb = 5\n");
    assert_eq!((line, col), (4, 1));
    assert_eq!(key, "profiles.x.max_memroy_mb");
    assert_eq!(msg, "unknown key (did you mean max_memory_mb?)");

    let (line, col, key, msg) = one_error("[setings]\n");
    assert_eq!((line, col, key.as_str()), (1, 2, "setings"));
    assert!(msg.contains("did you mean settings?"), "{msg}");

    let (_, _, key, msg) = one_error("[settings]\ncolour = 1\n");
    assert_eq!(key, "settings.colour");
    assert!(msg.starts_with("unknown key (expected one of"), "{msg}");
}

#[test]
fn display_format() {
    let diagnostics = errors("[profiles.strict]\nmax_memory_mb = 0\n");
    assert_eq!(
        diagnostics[0].to_string(),
        "sandboxes.toml:2:17: profiles.strict.max_memory_mb: must be at least 1 (got 0)"
    );
}

#[test]
fn wrong_type() {
    let (line, col, key, msg) = one_error("[profiles.x]\nallow_network = \"yes\"\n");
    assert_eq!((line, col), (2, 17));
    assert_eq!(key, "profiles.x.allow_network");
    assert_eq!(msg, "expected true or false, found a string");

    let (line, col, key, msg) = one_error("[profiles.x]\nmax_memory_mb = 1.5\n");
    assert_eq!(
        (line, col, key.as_str()),
        (2, 17, "profiles.x.max_memory_mb")
    );
    assert_eq!(msg, "expected an integer, found a float");

    let (_, _, key, msg) = one_error("profiles = 3\n");
    assert_eq!(key, "profiles");
    assert_eq!(msg, "expected a table, found an integer");

    let (line, col, key, _) = one_error("[profiles.x]\nallowed_commands = [\"a\", 2]\n");
    assert_eq!(
        (line, col, key.as_str()),
        (2, 26, "profiles.x.allowed_commands[1]")
    );
}

#[test]
fn impossible_numbers() {
    let (line, col, key, msg) = one_error("[profiles.x]\n  max_cpu_seconds = -5\n");
    assert_eq!(
        (line, col, key.as_str()),
        (2, 21, "profiles.x.max_cpu_seconds")
    );
    assert_eq!(msg, "must be at least 1 (got -5)");

    let (_, _, _, msg) = one_error("[profiles.x]\nmax_open_files = 3\n");
    assert_eq!(msg, "must be at least 4 (got 3)");

    let (_, _, key, msg) = one_error("[profiles.x]\nwarm = 65\n");
    assert_eq!(key, "profiles.x.warm");
    assert_eq!(msg, "must be at most 64 (got 65)");
    let (_, _, _, msg) = one_error("[profiles.x]\nwarm = -1\n");
    assert_eq!(msg, "must be at least 0 (got -1)");

    let (_, _, _, msg) = one_error("[profiles.x]\ntimeout_seconds = 99999999999999999999\n");
    assert_eq!(msg, "must be at most 31622400 (got 99999999999999999999)");

    let huge = "9".repeat(45);
    let (_, _, _, msg) = one_error(&format!("[profiles.x]\ntimeout_seconds = {huge}\n"));
    assert!(msg.contains("out of range"), "{msg}");

    let (_, _, _, msg) = one_error("[profiles.x]\nmax_memory_mb = 9223372036854775807\n");
    assert!(msg.starts_with("must be at most"), "{msg}");

    for bad in ["0", "0.0", "-1", "1025", "nan", "inf"] {
        let (_, _, key, _) = one_error(&format!("[profiles.x]\ncpu_quota = {bad}\n"));
        assert_eq!(key, "profiles.x.cpu_quota", "{bad}");
    }
}

#[test]
fn cycle_in_extends() {
    // The cycle is reported once, at its first member; the other members
    // (and a profile leading into it) are invalid through it.
    let cycle = |text: &str| {
        let diagnostics = errors(text);
        let (cycles, through): (Vec<_>, Vec<_>) = diagnostics
            .iter()
            .partition(|d| d.message.starts_with("cycle in extends"));
        assert_eq!(cycles.len(), 1, "{diagnostics:#?}");
        assert!(
            through
                .iter()
                .all(|d| d.message.starts_with("extends the invalid profile")),
            "{diagnostics:#?}"
        );
        let d = cycles[0].clone();
        (d.line, d.column, d.key, d.message, diagnostics.len())
    };
    let text = "[profiles.a]\nextends = \"b\"\n[profiles.b]\nextends = \"a\"\n";
    let (line, col, key, msg, all) = cycle(text);
    assert_eq!((line, col), (2, 11));
    assert_eq!(key, "profiles.a.extends");
    assert_eq!(msg, "cycle in extends: a -> b -> a");
    assert_eq!(all, 2);

    let (_, _, key, msg) = one_error("[profiles.s]\nextends = \"s\"\n");
    assert_eq!(key, "profiles.s.extends");
    assert_eq!(msg, "cycle in extends: s -> s");

    let text = "[profiles.z]\nextends = \"a\"\n[profiles.a]\nextends = \"b\"\n[profiles.b]\nextends = \"a\"\n[profiles.ok]\n";
    let (_, _, _, msg, all) = cycle(text);
    assert_eq!(msg, "cycle in extends: a -> b -> a");
    assert_eq!(all, 3);
    let config = parse(text).unwrap();
    assert_eq!(config.profile_names(), vec!["default", "ok"]);
    assert_eq!(config.invalid_profiles(), vec!["a", "b", "z"]);
}

#[test]
fn one_bad_profile_leaves_the_others_usable() {
    let text = "[profiles.good]\nmax_memory_mb = 64\n\
                [profiles.bad]\nmax_memory_mb = \"lots\"\n\
                [profiles.child]\nextends = \"bad\"\n\
                [profiles.default]\ntimeout_seconds = 0\n";
    let config = parse(text).unwrap();
    assert_eq!(config.profile_names(), vec!["good"]);
    assert_eq!(config.invalid_profiles(), vec!["bad", "child", "default"]);
    assert_eq!(config.profile("good").unwrap().max_memory_mb, 64);
    // A broken `default` is not silently replaced by the built-in one.
    let err = config.profile("default").unwrap_err().to_string();
    assert!(err.contains("sandboxes.toml:8:"), "{err}");
    let err = config.profile("child").unwrap_err().to_string();
    assert!(
        err.ends_with("profiles.child.extends: extends the invalid profile 'bad'"),
        "{err}"
    );
    assert!(config.check().is_err());
    assert!(matches!(
        config.profile("nosuch"),
        Err(ConfigError::UnknownProfile { .. })
    ));
    // A problem of the whole file still refuses it.
    assert!(matches!(
        parse("[settings]\nstate_dir = \"relative\"\n[profiles.x]\n"),
        Err(ConfigError::Invalid(_))
    ));
}

#[test]
fn unknown_parent() {
    let (line, col, key, msg) = one_error("[profiles.base]\n[profiles.x]\nextends = \"bsae\"\n");
    assert_eq!((line, col, key.as_str()), (3, 11, "profiles.x.extends"));
    assert_eq!(msg, "unknown profile 'bsae' (did you mean base?)");

    let (_, _, _, msg) = one_error("[profiles.x]\nextends = \"zzzzzz\"\n");
    assert_eq!(msg, "unknown profile 'zzzzzz' (available: default, x)");
}

#[test]
fn allowed_hosts_entries_are_validated() {
    let config = parse(
        "[profiles.x]\nallowed_hosts = [\"pypi.org\", \"api.example.com:443\", \"*.files.io\", \"127.0.0.1:8080\", \"[::1]:80\"]\n",
    )
    .unwrap();
    assert_eq!(config.profile("x").unwrap().allowed_hosts.len(), 5);

    let (line, col, key, msg) =
        one_error("[profiles.x]\nallowed_hosts = [\"ok.com\", \"https://bad.com\"]\n");
    assert_eq!(
        (line, col, key.as_str()),
        (2, 28, "profiles.x.allowed_hosts[1]")
    );
    assert!(msg.contains("not a URL"), "{msg}");
    for bad in ["a.*.com", "h:0", "[::1", "", "bad host"] {
        let (_, _, key, _) = one_error(&format!("[profiles.x]\nallowed_hosts = [\"{bad}\"]\n"));
        assert_eq!(key, "profiles.x.allowed_hosts[0]", "{bad:?}");
    }
}

#[test]
fn sandbox_uid_range_defaults_and_limits() {
    let config = parse("").unwrap();
    assert_eq!(config.settings.sandbox_uid_base, 0x7F00_0000);
    assert_eq!(config.settings.sandbox_uid_count, 65536);
    let config = parse("[settings]\nsandbox_uid_base = 200000\nsandbox_uid_count = 10\n").unwrap();
    assert_eq!(
        (
            config.settings.sandbox_uid_base,
            config.settings.sandbox_uid_count
        ),
        (200000, 10)
    );
    // Never root, never empty, never at or past 2^31.
    for (text, key) in [
        ("sandbox_uid_base = 0", "settings.sandbox_uid_base"),
        ("sandbox_uid_count = 0", "settings.sandbox_uid_count"),
        ("sandbox_uid_base = 2147483648", "settings.sandbox_uid_base"),
        (
            "sandbox_uid_base = 2147483000\nsandbox_uid_count = 1000",
            "settings.sandbox_uid_count",
        ),
    ] {
        let (_, _, found, _) = one_error(&format!("[settings]\n{text}\n"));
        assert_eq!(found, key, "{text}");
    }
}

#[test]
fn network_access_names_the_three_ways_out() {
    let mut p = Profile::defaults("x");
    assert_eq!(p.network_access(), NetworkAccess::None);
    p.allowed_hosts = vec!["pypi.org".into(), "*.example.com:443".into()];
    assert_eq!(p.network_access(), NetworkAccess::Allowlist(2));
    p.allowed_hosts.clear();
    p.allow_network = true;
    assert_eq!(p.network_access(), NetworkAccess::Host);
}

#[test]
fn docker_backend_keys() {
    let config =
        parse("[profiles.d]\nbackend = \"docker\"\ndocker_image = \"debian:12\"\n").unwrap();
    let d = config.profile("d").unwrap();
    assert_eq!(d.backend, Backend::Docker);
    assert_eq!(d.docker_image.as_deref(), Some("debian:12"));
    assert_eq!(config.profile("default").unwrap().backend, Backend::Native);
    // A profile stored before the keys existed loads as native.
    let mut object = serde_json::to_value(d).unwrap();
    let map = object.as_object_mut().unwrap();
    map.remove("backend");
    map.remove("docker_image");
    let old: Profile = serde_json::from_value(object).unwrap();
    assert_eq!((old.backend, old.docker_image), (Backend::Native, None));
}

#[test]
fn docker_backend_is_validated_with_its_position() {
    let (line, col, key, msg) = one_error("[profiles.x]\nbackend = \"podman\"\n");
    assert_eq!((line, col, key.as_str()), (2, 11, "profiles.x.backend"));
    assert!(msg.contains("\"native\" or \"docker\""), "{msg}");
    let (line, col, key, msg) = one_error("[profiles.x]\nbackend = \"docker\"\n");
    assert_eq!((line, col, key.as_str()), (2, 11, "profiles.x.backend"));
    assert!(msg.contains("needs docker_image"), "{msg}");
    let (line, _, key, msg) = one_error("[profiles.x]\ndocker_image = \"debian:12\"\n");
    assert_eq!((line, key.as_str()), (2, "profiles.x.docker_image"));
    assert!(msg.contains("only used with backend"), "{msg}");
    let (_, _, key, msg) = one_error("[profiles.x]\ndocker_image = \"a b\"\n");
    assert_eq!(key, "profiles.x.docker_image");
    assert!(msg.contains("not a Docker image reference"), "{msg}");
    let (line, _, key, msg) = one_error(
        "[profiles.x]\nimage = \"debian:12\"\nbackend = \"docker\"\ndocker_image = \"debian:12\"\n",
    );
    assert_eq!((line, key.as_str()), (4, "profiles.x.docker_image"));
    assert!(msg.contains("cannot be combined"), "{msg}");
}

#[test]
fn rootfs_and_image_keys() {
    let config =
        parse("[profiles.a]\nrootfs = \"/srv/root\"\n[profiles.b]\nimage = \"oci:/srv/img:v1\"\n")
            .unwrap();
    let a = config.profile("a").unwrap();
    assert_eq!(a.rootfs.as_deref(), Some(Path::new("/srv/root")));
    assert_eq!(a.image, None);
    let b = config.profile("b").unwrap();
    assert_eq!(b.image.as_deref(), Some("oci:/srv/img:v1"));
    let (line, col, key, msg) = one_error("[profiles.x]\nrootfs = \"srv\"\n");
    assert_eq!((line, col, key.as_str()), (2, 10, "profiles.x.rootfs"));
    assert!(msg.contains("absolute"), "{msg}");
    let (line, col, key, msg) = one_error("[profiles.x]\nimage = \"oci:img\"\n");
    assert_eq!((line, col, key.as_str()), (2, 9, "profiles.x.image"));
    assert!(msg.contains("absolute"), "{msg}");
}

#[test]
fn rootfs_conflicts_with_image() {
    let (line, col, key, msg) = one_error("[profiles.x]\nrootfs = \"/r\"\nimage = \"debian:12\"\n");
    assert_eq!((line, col, key.as_str()), (3, 9, "profiles.x.image"));
    assert_eq!(msg, ROOT_CONFLICT);
    // Through extends too.
    let (_, _, key, msg) = one_error(
        "[profiles.p]\nrootfs = \"/r\"\n[profiles.x]\nextends = \"p\"\nimage = \"debian:12\"\n",
    );
    assert_eq!(key, "profiles.x.image");
    assert_eq!(msg, ROOT_CONFLICT);
}

#[test]
fn allowed_hosts_conflicts_with_allow_network() {
    let (line, col, key, msg) =
        one_error("[profiles.x]\nallow_network = true\nallowed_hosts = [\"pypi.org\"]\n");
    assert_eq!(
        (line, col, key.as_str()),
        (3, 17, "profiles.x.allowed_hosts")
    );
    assert_eq!(msg, NETWORK_CONFLICT);
    // Through extends too, pointed at the child that made the mix.
    let (line, _, key, _) = one_error(
        "[profiles.base]\nallowed_hosts = [\"pypi.org\"]\n[profiles.x]\nextends = \"base\"\nallow_network = true\n",
    );
    assert_eq!((line, key.as_str()), (5, "profiles.x.allow_network"));
    // Clearing the list in the child is the way to switch to full networking.
    parse("[profiles.base]\nallowed_hosts = [\"pypi.org\"]\n[profiles.x]\nextends = \"base\"\nallow_network = true\nallowed_hosts = []\n").unwrap();

    let config = parse("[settings]\nhosts_file = \"/etc/extra-hosts\"\n").unwrap();
    assert_eq!(
        config.settings.hosts_file.as_deref(),
        Some(Path::new("/etc/extra-hosts"))
    );
    let (_, _, key, _) = one_error("[settings]\nhosts_file = \"hosts\"\n");
    assert_eq!(key, "settings.hosts_file");
}

#[test]
fn bad_paths() {
    let (line, col, key, msg) = one_error("[profiles.x]\nread_only_paths = [\"/ok\", \"data\"]\n");
    assert_eq!((line, col), (2, 27));
    assert_eq!(key, "profiles.x.read_only_paths[1]");
    assert!(msg.contains("absolute"), "{msg}");

    let (_, _, key, msg) = one_error("[profiles.x]\nwritable_paths = [\"/a/../etc\"]\n");
    assert_eq!(key, "profiles.x.writable_paths[0]");
    assert!(msg.contains(".."), "{msg}");

    let (_, _, key, _) = one_error("[profiles.x]\nworkdir = \"/\"\n");
    assert_eq!(key, "profiles.x.workdir");
    let (_, _, _, _) = one_error("[profiles.x]\nworkdir = \"//.\"\n");
    let (_, _, _, _) = one_error("[profiles.x]\nworkdir = \"work\"\n");

    let (_, _, key, _) = one_error("[settings]\nstate_dir = \"state\"\n");
    assert_eq!(key, "settings.state_dir");
}

#[test]
fn bad_hostname() {
    let (line, col, key, msg) = one_error("[profiles.x]\nhostname = \"my_box\"\n");
    assert_eq!((line, col, key.as_str()), (2, 12, "profiles.x.hostname"));
    assert!(msg.starts_with("must be 1 to 63 characters"), "{msg}");
    one_error("[profiles.x]\nhostname = \"\"\n");
    one_error(&format!(
        "[profiles.x]\nhostname = \"{}\"\n",
        "a".repeat(64)
    ));
}

#[test]
fn bad_env() {
    let (line, col, key, msg) = one_error("[profiles.x]\nenv = { 1BAD = \"v\" }\n");
    assert_eq!((line, col, key.as_str()), (2, 9, "profiles.x.env.1BAD"));
    assert!(msg.contains("environment variable name"), "{msg}");

    let (line, col, key, msg) = one_error("[profiles.x.env]\n\"A.B\" = \"v\"\n");
    assert_eq!((line, col, key.as_str()), (2, 1, "profiles.x.env.\"A.B\""));
    assert!(msg.contains("environment variable name"), "{msg}");

    let (_, _, key, msg) = one_error("[profiles.x]\nenv = { A = \"a\\u0000b\" }\n");
    assert_eq!(key, "profiles.x.env.A");
    assert!(msg.contains("NUL"), "{msg}");

    let (_, _, key, _) = one_error("[profiles.x]\nenv = { A = 1 }\n");
    assert_eq!(key, "profiles.x.env.A");
}

#[test]
fn bad_settings_and_names() {
    for bad in ["", "/abs", "a/../b", "a//b", "a/", "sp ace", "."] {
        let (_, _, key, _) = one_error(&format!("[settings]\ncgroup_root = \"{bad}\"\n"));
        assert_eq!(key, "settings.cgroup_root", "{bad:?}");
    }
    let (line, col, key, _) = one_error("[profiles.\"a/b\"]\n");
    assert_eq!((line, col, key.as_str()), (1, 11, "profiles.\"a/b\""));
    one_error("[profiles.x]\npython = \"\"\n");
    one_error("[profiles.x]\nallowed_commands = [\"\"]\n");
    one_error("[profiles.x]\nextends = \"\"\n");
}

#[test]
fn syntax_errors() {
    let diagnostics = errors("[profiles.x]\nmax_memory_mb = = 3\n");
    assert!(!diagnostics.is_empty());
    assert_eq!(diagnostics[0].line, 2);
    assert_eq!(diagnostics[0].key, "");
    assert!(diagnostics[0].to_string().starts_with("sandboxes.toml:2:"));

    let diagnostics = errors("a = 1\na = 2\n");
    assert_eq!((diagnostics[0].line, diagnostics[0].column), (2, 1));
    assert!(diagnostics[0].message.contains("duplicate"));
}

#[test]
fn all_errors_are_collected_in_file_order() {
    let text = "\
[settings]
cgroup_root = \"/x\"
thme = \"dark\"

[profiles.b]
max_memory_mb = 0
hostname = \"a b\"

[profiles.a]
allowed_hosts = [\"h:0\"]
timeout_seconds = \"10\"
";
    let diagnostics = errors(text);
    let got: Vec<(usize, usize, &str)> = diagnostics
        .iter()
        .map(|d| (d.line, d.column, d.key.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            (2, 15, "settings.cgroup_root"),
            (3, 1, "settings.thme"),
            (6, 17, "profiles.b.max_memory_mb"),
            (7, 12, "profiles.b.hostname"),
            (10, 18, "profiles.a.allowed_hosts[0]"),
            (11, 19, "profiles.a.timeout_seconds"),
        ]
    );
    let rendered = ConfigError::Invalid(diagnostics).to_string();
    assert_eq!(rendered.lines().count(), 6);
}

#[test]
fn edit_distance_counts_transpositions() {
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("bsae", "base"), 1);
    assert_eq!(edit_distance("max_memroy_mb", "max_memory_mb"), 1);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
    assert_eq!(suggest("x", &keys::names()), None);
}

#[test]
fn columns_count_characters() {
    assert_eq!(line_col("", 0), (1, 1));
    assert_eq!(line_col("é = 1", 5), (1, 5));
    assert_eq!(line_col("a\nbc", 3), (2, 2));
    assert_eq!(line_col("ab", 99), (1, 3));
    // Mid-character offsets are clamped instead of panicking.
    assert_eq!(line_col("é", 1), (1, 1));
}

#[test]
fn profile_lookup_lists_available() {
    let config = Config::builtin();
    match config.profile("nope") {
        Err(ConfigError::UnknownProfile { name, available }) => {
            assert_eq!(name, "nope");
            assert_eq!(available, vec!["build", "default", "strict"]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn builtin_matches_shipped_file() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(CONFIG_FILE_NAME);
    let mut shipped = Config::load(&path).unwrap();
    assert_eq!(shipped.path.as_deref(), Some(path.as_path()));
    shipped.path = None;
    let builtin = Config::builtin();
    assert_eq!(builtin, shipped);
    assert_eq!(builtin.path, None);
    assert_eq!(builtin.settings, Settings::default());

    assert_eq!(
        builtin.profile("default").unwrap(),
        &Profile::defaults("default")
    );

    let strict = builtin.profile("strict").unwrap();
    assert_eq!(strict.max_memory_mb, 64);
    assert_eq!(strict.max_cpu_seconds, 2);
    assert_eq!(strict.timeout_seconds, 5);
    assert_eq!(strict.max_file_size_mb, 1);
    assert_eq!(strict.max_process_count, 10);
    assert!(!strict.allow_network);
    assert_eq!(strict.max_output_kb, 256);

    let build = builtin.profile("build").unwrap();
    assert_eq!(build.max_memory_mb, 4096);
    assert_eq!(build.max_cpu_seconds, 600);
    assert_eq!(build.timeout_seconds, 1800);
    assert_eq!(build.max_file_size_mb, 1024);
    assert_eq!(build.max_process_count, 256);
    assert_eq!(build.max_open_files, 4096);
    assert_eq!(build.cpu_quota, Some(2.0));
    assert!(!build.allow_network);
    assert_eq!(build.max_concurrent, 2);
}

#[test]
fn search_path_order() {
    let paths = search_paths(
        Some(Path::new("/cwd")),
        Some(OsStr::new("/xdg")),
        Some(OsStr::new("/home/u")),
    );
    assert_eq!(
        paths,
        vec![
            PathBuf::from("/cwd/sandboxes.toml"),
            PathBuf::from("/xdg/sandbox-tui/sandboxes.toml"),
        ]
    );
    for xdg in [None, Some(OsStr::new("")), Some(OsStr::new("relative"))] {
        let paths = search_paths(None, xdg, Some(OsStr::new("/home/u")));
        assert_eq!(
            paths,
            vec![PathBuf::from("/home/u/.config/sandbox-tui/sandboxes.toml")]
        );
    }
    assert!(search_paths(None, None, None).is_empty());
}

#[test]
fn discovery_prefers_explicit_then_candidates_then_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("cwd");
    let xdg = dir.path().join("xdg");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::create_dir_all(xdg.join("sandbox-tui")).unwrap();
    let candidates = search_paths(Some(&cwd), Some(xdg.as_os_str()), None);

    assert_eq!(discover_from(None, &candidates).unwrap(), Config::builtin());

    let xdg_file = xdg.join("sandbox-tui").join(CONFIG_FILE_NAME);
    std::fs::write(&xdg_file, "[profiles.fromxdg]\n").unwrap();
    let config = discover_from(None, &candidates).unwrap();
    assert_eq!(config.path.as_deref(), Some(xdg_file.as_path()));

    let cwd_file = cwd.join(CONFIG_FILE_NAME);
    std::fs::write(&cwd_file, "[profiles.fromcwd]\n").unwrap();
    let config = discover_from(None, &candidates).unwrap();
    assert_eq!(config.path.as_deref(), Some(cwd_file.as_path()));
    assert!(config.profile("fromcwd").is_ok());

    let explicit = dir.path().join("explicit.toml");
    std::fs::write(&explicit, "[profiles.fromexplicit]\n").unwrap();
    let config = discover_from(Some(&explicit), &candidates).unwrap();
    assert!(config.profile("fromexplicit").is_ok());

    let missing = dir.path().join("missing.toml");
    match discover_from(Some(&missing), &candidates) {
        Err(ConfigError::Io { path, .. }) => assert_eq!(path, missing),
        other => panic!("unexpected {other:?}"),
    }

    // An invalid discovered file is reported, never skipped: a bad
    // profile is left out with its problems, a bad file is an error.
    std::fs::write(&cwd_file, "[profiles.x]\nmax_memory_mb = 0\n").unwrap();
    let config = discover_from(None, &candidates).unwrap();
    assert_eq!(config.path.as_deref(), Some(cwd_file.as_path()));
    let err = config.profile("x").unwrap_err();
    assert_eq!(err.diagnostics().len(), 1);
    assert!(err
        .to_string()
        .starts_with(&format!("profile 'x' is invalid:\n{}", cwd_file.display())));
    std::fs::write(&cwd_file, "[settings]\ncgroup_root = 3\n").unwrap();
    let err = discover_from(None, &candidates).unwrap_err();
    assert_eq!(err.diagnostics().len(), 1);
    assert!(err.to_string().starts_with(&cwd_file.display().to_string()));
}

#[test]
fn policy_keys() {
    let p = Profile::defaults("x");
    assert!(p.denied_patterns.is_empty());
    assert!(p.allow_shell);

    let config = parse(
        "[profiles.base]\nallow_shell = false\ndenied_patterns = ['rm\\s+-rf', '^curl ']\n\
         [profiles.child]\nextends = \"base\"\ndenied_patterns = []\n",
    )
    .unwrap();
    let base = config.profile("base").unwrap();
    assert!(!base.allow_shell);
    assert_eq!(base.denied_patterns, vec![r"rm\s+-rf", "^curl "]);
    let child = config.profile("child").unwrap();
    assert!(!child.allow_shell);
    assert!(child.denied_patterns.is_empty());

    let (line, col, key, msg) = one_error("[profiles.x]\ndenied_patterns = [\"ok\", \"rm (\"]\n");
    assert_eq!((line, col), (2, 26));
    assert_eq!(key, "profiles.x.denied_patterns[1]");
    assert_eq!(msg, "invalid regex \"rm (\": unclosed group");

    let (_, _, key, msg) = one_error("[profiles.x]\ndenied_patterns = [\"\"]\n");
    assert_eq!(key, "profiles.x.denied_patterns[0]");
    assert!(msg.contains("empty"), "{msg}");
    let (_, _, key, _) = one_error("[profiles.x]\ndenied_patterns = \"rm\"\n");
    assert_eq!(key, "profiles.x.denied_patterns");
    let (_, _, key, msg) = one_error("[profiles.x]\nallow_shell = 0\n");
    assert_eq!(key, "profiles.x.allow_shell");
    assert_eq!(msg, "expected true or false, found an integer");
}

#[test]
fn snapshots_without_policy_keys_still_load() {
    let mut json = serde_json::to_value(Profile::defaults("old")).unwrap();
    let object = json.as_object_mut().unwrap();
    object.remove("denied_patterns");
    object.remove("allow_shell");
    let profile: Profile = serde_json::from_value(json).unwrap();
    assert_eq!(profile, Profile::defaults("old"));
}

#[test]
fn odd_input_does_not_panic() {
    for text in [
        "\u{0}",
        "[[profiles]]\n",
        "[profiles]\nx = 1\n",
        "[profiles.x]\nenv = []\n",
        "[profiles.x]\nmax_memory_mb = 1979-05-27\n",
        "[profiles.x]\ncpu_quota = 1e400\n",
        "[profiles.x]\nmax_memory_mb = -0x1\n",
        "\u{feff}[profiles.é]\n",
        "[profiles.x\n",
        "=",
    ] {
        let _ = parse(text);
    }
}
