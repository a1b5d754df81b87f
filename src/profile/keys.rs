//! The one table of profile keys.
//!
//! Each key of `[profiles.NAME]` is described here once, like a field of
//! nsjail's `config.proto`: name, kind (the TOML type and its bounds),
//! default, one-line doc, and the field of [`Profile`] that holds it. The
//! defaults, the checker, `--set`, `extends`, [`ProfileChange`] diffs, the
//! dashboard's key list and the table in docs/profiles.md are all read from
//! [`KEYS`].
//!
//! Adding a key: a field on [`Profile`] (with `#[serde(default)]`, so the
//! profiles stored before it still load), one entry in [`KEYS`] where the
//! dashboard should list it, then `UPDATE_DOCS=1 cargo test docs_table` to
//! rewrite the table in docs/profiles.md.
//!
//! [`ProfileChange`]: super::ProfileChange

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;

use super::{Backend, Profile};

// Upper bounds keep later unit conversions (MB -> bytes, seconds -> deadlines)
// from overflowing; nothing sensible comes close to them.
const MAX_MB: u64 = 1 << 30;
const MAX_KB: u64 = 1 << 40;
/// A year and a day: the longest timeout or CPU budget a profile (or `--timeout`) may ask for.
pub const MAX_SECONDS: u64 = 366 * 24 * 60 * 60;
/// Linux PID_MAX_LIMIT.
const MAX_PROCESSES: u64 = 4_194_304;
/// Linux's ceiling for fs.nr_open.
const MAX_OPEN_FILES: u64 = 1 << 30;
const MAX_CONCURRENT: u64 = 1024;
/// Warm sandboxes are started processes that wait: a few are enough.
const MAX_WARM: u64 = 64;
/// More GPUs than one machine holds is a typo.
const MAX_GPUS: u64 = 16;
const MAX_CPU_QUOTA: f64 = 1024.0;
const MAX_HOSTNAME_LEN: usize = 63;

/// One key of a profile.
pub struct Key {
    /// As written in `sandboxes.toml`.
    pub name: &'static str,
    /// The TOML type and what values it takes.
    pub kind: Kind,
    /// The default as a TOML value; `None`: unset.
    pub default: Option<&'static str>,
    /// One line of Markdown for the docs table.
    pub doc: &'static str,
    /// `--set KEY=VALUE` may override it for one run or one sandbox.
    pub settable: bool,
    /// When `update NAME` brings a sandbox's change of it into effect.
    pub applies: Applies,
    field: Field,
}

/// The TOML type of a key and the values it takes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// An integer in `min..=max`.
    Int {
        min: u64,
        max: u64,
    },
    Bool,
    /// A number of CPU cores, more than 0 and at most `max`.
    Cores {
        max: f64,
    },
    /// A string `check` accepts.
    Text(fn(&str) -> Result<(), String>),
    /// One of these strings.
    OneOf(&'static [&'static str]),
    /// An absolute path without `..`, not `/` itself.
    Path,
    /// Absolute paths without `..`; `/` is allowed.
    Paths,
    /// Strings `check` accepts, each.
    Strings(fn(&str) -> Result<(), String>),
    /// Environment variables: a table of strings, merged through `extends`.
    Env,
    /// The name of another profile (`extends`).
    Profile,
}

/// When `update NAME` brings a changed key into effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// A limit of the sandbox's cgroup: its running executions too.
    Now,
    /// From the sandbox's next execution.
    NextExecution,
}

impl Applies {
    pub fn as_str(self) -> &'static str {
        match self {
            Applies::Now => "at once",
            Applies::NextExecution => "next execution",
        }
    }
}

/// A key's value, parsed or read from a [`Profile`]. Serialized as the
/// field it comes from is, so a diff shows it as a stored profile has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Unset,
    Int(u64),
    Bool(bool),
    Number(f64),
    Text(String),
    Path(PathBuf),
    List(Vec<String>),
    Paths(Vec<PathBuf>),
    Table(BTreeMap<String, String>),
}

/// Where a key's value lives in a [`Profile`].
struct Field {
    get: fn(&Profile) -> Value,
    put: fn(&mut Profile, Value),
}

impl Key {
    /// This key's value in `profile`.
    pub fn value_of(&self, profile: &Profile) -> Value {
        (self.field.get)(profile)
    }

    /// Sets this key in `profile`; `env` merges into what is there.
    pub(super) fn apply(&self, profile: &mut Profile, value: Value) {
        (self.field.put)(profile, value)
    }

    /// The type as the docs table names it.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Int { .. } => "int",
            Kind::Bool => "bool",
            Kind::Cores { .. } => "float",
            Kind::Text(_) | Kind::OneOf(_) | Kind::Profile => "string",
            Kind::Path => "path",
            Kind::Strings(_) => "list",
            Kind::Paths => "list of paths",
            Kind::Env => "table",
        }
    }

    /// The values it takes beyond its type, for the docs table; empty when
    /// the doc says it.
    pub fn bounds(&self) -> String {
        match self.kind {
            Kind::Int { min, max } => format!("{min} to {max}"),
            Kind::Cores { max } => format!("more than 0, at most {max}"),
            Kind::OneOf(names) => names
                .iter()
                .map(|n| format!("`\"{n}\"`"))
                .collect::<Vec<_>>()
                .join(", "),
            Kind::Path | Kind::Paths => "absolute".to_owned(),
            _ => String::new(),
        }
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// The key called `name`.
pub fn find(name: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.name == name)
}

/// Every key's name, in table order.
pub fn names() -> Vec<&'static str> {
    KEYS.iter().map(|key| key.name).collect()
}

/// How a [`Profile`] field turns into a [`Value`] and back. A value of
/// another variant is ignored: the checker only makes the variant its
/// key's kind gives, and the tests check every key's kind against its field.
trait Slot {
    fn get(&self) -> Value;
    fn put(&mut self, value: Value);
}

/// A field that holds its value as one [`Value`] variant, and its
/// `Option` for keys without a default.
macro_rules! slot {
    ($type:ty, $variant:ident) => {
        impl Slot for $type {
            fn get(&self) -> Value {
                Value::$variant(<$type>::clone(self))
            }
            fn put(&mut self, value: Value) {
                if let Value::$variant(v) = value {
                    *self = v;
                }
            }
        }

        impl Slot for Option<$type> {
            fn get(&self) -> Value {
                self.clone().map_or(Value::Unset, Value::$variant)
            }
            fn put(&mut self, value: Value) {
                if let Value::$variant(v) = value {
                    *self = Some(v);
                }
            }
        }
    };
}

slot!(u64, Int);
slot!(bool, Bool);
slot!(f64, Number);
slot!(String, Text);
slot!(PathBuf, Path);
slot!(Vec<String>, List);
slot!(Vec<PathBuf>, Paths);

impl Slot for u32 {
    fn get(&self) -> Value {
        Value::Int(u64::from(*self))
    }
    fn put(&mut self, value: Value) {
        if let Value::Int(n) = value {
            if let Ok(n) = u32::try_from(n) {
                *self = n;
            }
        }
    }
}

/// `env` merges: a profile that extends another adds to its variables.
impl Slot for BTreeMap<String, String> {
    fn get(&self) -> Value {
        Value::Table(self.clone())
    }
    fn put(&mut self, value: Value) {
        if let Value::Table(table) = value {
            self.extend(table);
        }
    }
}

impl Slot for Backend {
    fn get(&self) -> Value {
        Value::Text(self.as_str().to_owned())
    }
    fn put(&mut self, value: Value) {
        if let Value::Text(s) = value {
            if let Some(backend) = Backend::ALL.into_iter().find(|b| b.as_str() == s) {
                *self = backend;
            }
        }
    }
}

/// The [`Field`] of the `Profile` field `$name`.
macro_rules! field {
    ($name:ident) => {
        Field {
            get: |p| Slot::get(&p.$name),
            put: |p, value| Slot::put(&mut p.$name, value),
        }
    };
}

/// Every key, in the order the dashboard and the docs list them: limits,
/// network, policy, filesystem, runtime.
pub const KEYS: &[Key] = &[
    Key {
        name: "max_memory_mb",
        kind: Kind::Int { min: 1, max: MAX_MB },
        default: Some("512"),
        doc: "memory (swap included) of the sandbox, cgroup-enforced",
        settable: true,
        applies: Applies::Now,
        field: field!(max_memory_mb),
    },
    Key {
        name: "max_cpu_seconds",
        kind: Kind::Int { min: 1, max: MAX_SECONDS },
        default: Some("30"),
        doc: "CPU time of an execution (cgroup accounting) and of each process (RLIMIT_CPU)",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(max_cpu_seconds),
    },
    Key {
        name: "cpu_quota",
        kind: Kind::Cores { max: MAX_CPU_QUOTA },
        default: None,
        doc: "CPU bandwidth in cores (0.5 = half a core)",
        settable: true,
        applies: Applies::Now,
        field: field!(cpu_quota),
    },
    Key {
        name: "max_process_count",
        kind: Kind::Int { min: 1, max: MAX_PROCESSES },
        default: Some("10"),
        doc: "processes and threads of an execution (cgroup pids)",
        settable: true,
        applies: Applies::Now,
        field: field!(max_process_count),
    },
    Key {
        name: "max_open_files",
        // stdin, stdout and stderr take three descriptors before the
        // program opens anything itself.
        kind: Kind::Int { min: 4, max: MAX_OPEN_FILES },
        default: Some("100"),
        doc: "file descriptors per process (RLIMIT_NOFILE)",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(max_open_files),
    },
    Key {
        name: "max_file_size_mb",
        kind: Kind::Int { min: 1, max: MAX_MB },
        default: Some("100"),
        doc: "largest file a process may write (RLIMIT_FSIZE)",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(max_file_size_mb),
    },
    Key {
        name: "max_output_kb",
        kind: Kind::Int { min: 1, max: MAX_KB },
        default: Some("1024"),
        doc: "kept per stream (head and tail; the middle is counted, not kept)",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(max_output_kb),
    },
    Key {
        name: "max_result_mb",
        kind: Kind::Int { min: 1, max: MAX_MB },
        default: Some("16"),
        doc: "largest Python result",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(max_result_mb),
    },
    Key {
        name: "timeout_seconds",
        kind: Kind::Int { min: 1, max: MAX_SECONDS },
        default: Some("60"),
        doc: "wall clock",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(timeout_seconds),
    },
    Key {
        name: "max_concurrent",
        kind: Kind::Int { min: 1, max: MAX_CONCURRENT },
        default: Some("4"),
        doc: "executions at once in one sandbox; the rest queue in order",
        settable: true,
        applies: Applies::Now,
        field: field!(max_concurrent),
    },
    Key {
        name: "allow_network",
        kind: Kind::Bool,
        default: Some("false"),
        doc: "false: an empty network namespace (own loopback only); true: **full host networking**",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(allow_network),
    },
    Key {
        name: "allowed_hosts",
        kind: Kind::Strings(check_host),
        default: Some("[]"),
        doc: "only these hosts, through a proxy (see [network.md](network.md)); needs `allow_network = false`",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(allowed_hosts),
    },
    Key {
        name: "allowed_commands",
        kind: Kind::Strings(check_command),
        default: Some("[]"),
        doc: "program names or absolute paths allowed as `argv[0]`; empty: any",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(allowed_commands),
    },
    Key {
        name: "allow_shell",
        kind: Kind::Bool,
        default: Some("true"),
        doc: "false: deny a shell started with `-c` (sh, bash, dash, zsh, ksh, fish, csh, `busybox sh`, …) and any argument containing `` ; \\| & $ > < ` ( ) ``",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(allow_shell),
    },
    Key {
        name: "denied_patterns",
        kind: Kind::Strings(check_pattern),
        default: Some("[]"),
        doc: "regexes searched in the command line (argv joined with spaces) and a Python snippet's code; a match denies",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(denied_patterns),
    },
    Key {
        name: "read_only_paths",
        kind: Kind::Paths,
        default: Some("[]"),
        doc: "extra host directories bound read-only",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(read_only_paths),
    },
    Key {
        name: "writable_paths",
        kind: Kind::Paths,
        default: Some("[]"),
        doc: "extra host directories bound read-write (as root the command writes as its sandbox's uid, which the directory must let in)",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(writable_paths),
    },
    Key {
        name: "workdir",
        kind: Kind::Path,
        default: Some("\"/workspace\""),
        doc: "where the workspace is mounted; the working directory",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(workdir),
    },
    Key {
        name: "hostname",
        kind: Kind::Text(check_hostname),
        default: Some("\"sandbox\""),
        doc: "the sandbox's host name: 1 to 63 of A-Z, a-z, 0-9 and `-`",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(hostname),
    },
    Key {
        name: "require_isolation",
        kind: Kind::Bool,
        default: Some("true"),
        doc: "refuse to run with less isolation than asked",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(require_isolation),
    },
    Key {
        name: "python",
        kind: Kind::Text(check_command),
        default: Some("\"python3\""),
        doc: "interpreter for Python snippets",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(python),
    },
    Key {
        name: "rootfs",
        kind: Kind::Path,
        default: None,
        doc: "the sandbox's read-only root: an unpacked root directory instead of the host's `/usr`, `/bin`, `/lib*` and `/etc` (see [images.md](images.md)); checked at launch",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(rootfs),
    },
    Key {
        name: "image",
        kind: Kind::Text(check_image),
        default: None,
        doc: "the same from an image: `oci:/dir[:tag]`, `docker-archive:/file.tar` (imported at the first launch), or an imported image's name or `sha256:` digest; not with `rootfs`",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(image),
    },
    Key {
        name: "backend",
        kind: Kind::OneOf(&["native", "docker"]),
        default: Some("\"native\""),
        doc: "`\"native\"` (this tool's own sandbox) or `\"docker\"` (each execution is a Docker container; needs a build with `--features docker`, see [docker.md](docker.md))",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(backend),
    },
    Key {
        name: "docker_image",
        kind: Kind::Text(check_docker_image),
        default: None,
        doc: "with `backend = \"docker\"` only, and required there: the Docker image to run, `NAME[:TAG]` (e.g. `debian:12`); distinct from `image`, which names this tool's own image roots; not with `rootfs`, `image` or `allowed_hosts`",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(docker_image),
    },
    Key {
        name: "warm",
        kind: Kind::Int { min: 0, max: MAX_WARM },
        default: Some("0"),
        doc: "Python package only: sandboxes kept started per process for `execute_code` and friends, each used once ([python.md](python.md#warm--n-warm-sandboxes))",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(warm),
    },
    Key {
        name: "gpus",
        kind: Kind::Int { min: 0, max: MAX_GPUS },
        default: Some("0"),
        doc: "GPUs a cluster job reserves (Ray num_gpus); no GPU device is given to the sandbox",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(gpus),
    },
    Key {
        name: "env",
        kind: Kind::Env,
        default: Some("{}"),
        doc: "the environment; the host's is **not** passed through; merged through `extends`",
        settable: true,
        applies: Applies::NextExecution,
        field: field!(env),
    },
    Key {
        name: "extends",
        kind: Kind::Profile,
        default: None,
        doc: "inherit another profile and override; not with `--set` (name the profile instead)",
        settable: false,
        applies: Applies::NextExecution,
        field: Field {
            get: |p| Slot::get(&p.extends),
            // Resolution follows `extends` itself; a resolved profile only
            // records the name, for display.
            put: |_, _| {},
        },
    },
];

/// Every key at its default, read from the table. serde fills the fields
/// here; the tests check that each default also passes the checker.
pub(super) fn defaults() -> Profile {
    let mut text = String::from("name = \"\"\n");
    for key in KEYS {
        if let Some(default) = key.default {
            let _ = writeln!(text, "{} = {default}", key.name);
        }
    }
    // Only a broken edit of KEYS can fail this, and the tests parse it.
    toml::from_str(&text).expect("the defaults in KEYS make a Profile")
}

/// The table of keys for docs/profiles.md.
pub fn markdown_table() -> String {
    let mut out =
        String::from("| key | type | values | default | `update` applies it | meaning |\n|---|---|---|---|---|---|\n");
    for key in KEYS {
        let default = key.default.map_or("none".to_owned(), |d| format!("`{d}`"));
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} |",
            key.name,
            key.type_name(),
            key.bounds(),
            default,
            key.applies.as_str(),
            key.doc
        );
    }
    out
}

fn check_hostname(s: &str) -> Result<(), String> {
    let valid = !s.is_empty()
        && s.len() <= MAX_HOSTNAME_LEN
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "must be 1 to {MAX_HOSTNAME_LEN} characters of A-Z, a-z, 0-9 and '-' (got \"{}\")",
            s.escape_debug()
        ))
    }
}

fn check_command(s: &str) -> Result<(), String> {
    if s.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(())
    }
}

fn check_host(s: &str) -> Result<(), String> {
    crate::netproxy::HostRule::parse(s).map(drop)
}

fn check_image(s: &str) -> Result<(), String> {
    crate::image::parse_reference(s).map(drop)
}

/// Compiled here only to be checked: a typo in a deny rule must stop the
/// load, never silently let everything through.
fn check_pattern(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty (it would match every command)".to_owned());
    }
    match regex::Regex::new(s) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("invalid regex {:?}: {}", s, super::regex_error(&e))),
    }
}

/// A Docker image reference as the Engine API takes it: `NAME[:TAG]` or
/// `NAME@sha256:...`, no spaces or control characters.
fn check_docker_image(s: &str) -> Result<(), String> {
    let valid = |c: char| c.is_ascii_alphanumeric() || "._-/:@".contains(c);
    if s.is_empty() || s.len() > 255 || !s.chars().all(valid) || s.starts_with(['-', ':', '@']) {
        return Err(format!(
            "'{}' is not a Docker image reference (NAME:TAG, e.g. \"debian:12\")",
            s.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::profile::Config;

    /// Each key's default, parsed by the checker like any value of the file,
    /// is what `Profile::defaults` holds: kinds, fields and defaults agree.
    #[test]
    fn every_default_passes_the_checker_and_matches_its_field() {
        let defaults = Profile::defaults("x");
        let mut text = String::from("[profiles.x]\n");
        for key in KEYS {
            if let Some(default) = key.default {
                text.push_str(&format!("{} = {default}\n", key.name));
            }
        }
        let config = Config::parse(&text, Path::new("defaults.toml")).expect("parses");
        assert_eq!(config.problems, vec![]);
        assert_eq!(config.profile("x").expect("valid"), &defaults);
        for key in KEYS {
            let value = key.value_of(&defaults);
            match key.default {
                None => assert_eq!(value, Value::Unset, "{}", key.name),
                Some(_) => assert_ne!(value, Value::Unset, "{}", key.name),
            }
        }
    }

    /// A value of every key goes into its field and comes back out, so a
    /// kind that does not match its field (or an upper bound the field
    /// cannot hold) fails here.
    #[test]
    fn every_key_round_trips_through_its_field() {
        for key in KEYS.iter().filter(|k| k.settable) {
            let value = match key.kind {
                Kind::Int { max, .. } => Value::Int(max),
                Kind::Bool => Value::Bool(!matches!(
                    key.value_of(&Profile::defaults("x")),
                    Value::Bool(true)
                )),
                Kind::Cores { max } => Value::Number(max),
                Kind::OneOf(names) => Value::Text(names[names.len() - 1].to_owned()),
                Kind::Text(_) => Value::Text("sample".to_owned()),
                Kind::Path => Value::Path(PathBuf::from("/sample")),
                Kind::Paths => Value::Paths(vec![PathBuf::from("/sample")]),
                Kind::Strings(_) => Value::List(vec!["sample".to_owned()]),
                Kind::Env => Value::Table(BTreeMap::from([("A".to_owned(), "b".to_owned())])),
                Kind::Profile => unreachable!("extends is not settable"),
            };
            let mut profile = Profile::defaults("x");
            key.apply(&mut profile, value.clone());
            assert_eq!(key.value_of(&profile), value, "{}", key.name);
        }
    }

    /// The keys said to apply at once are exactly those that make the
    /// sandbox's cgroup limits, which `update` rewrites on a running sandbox.
    #[test]
    fn keys_that_apply_at_once_are_the_cgroup_limits() {
        let base = Profile::defaults("x");
        let limits = crate::supervisor::sandbox_limits;
        for key in KEYS
            .iter()
            .filter(|k| matches!(k.kind, Kind::Int { .. } | Kind::Cores { .. }))
        {
            let mut changed = base.clone();
            let value = match key.kind {
                Kind::Cores { .. } => Value::Number(0.5),
                _ => Value::Int(2),
            };
            key.apply(&mut changed, value);
            let moves = limits(&changed) != limits(&base);
            assert_eq!(moves, key.applies == Applies::Now, "{}", key.name);
        }
        for key in KEYS
            .iter()
            .filter(|k| !matches!(k.kind, Kind::Int { .. } | Kind::Cores { .. }))
        {
            assert_eq!(key.applies, Applies::NextExecution, "{}", key.name);
        }
    }

    #[test]
    fn names_are_unique_and_docs_fit_a_table_cell() {
        let mut names = names();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KEYS.len());
        for key in KEYS {
            assert!(!key.doc.contains('\n'), "{}", key.name);
            let unescaped_pipe = key.doc.replace("\\|", "").contains('|');
            assert!(!unescaped_pipe, "{}: escape | as \\|", key.name);
        }
    }

    #[test]
    fn gpus_is_a_bounded_count_that_defaults_to_none() {
        let p = Profile::defaults("x");
        assert_eq!(p.gpus, 0);
        let text = "[profiles.ray]\ngpus = 16\n[profiles.many]\ngpus = 17\n";
        let config = Config::parse(text, Path::new("sandboxes.toml")).expect("parses");
        assert_eq!(config.profile("ray").expect("valid").gpus, 16);
        let err = config.profile("many").unwrap_err().to_string();
        assert!(
            err.ends_with("sandboxes.toml:4:8: profiles.many.gpus: must be at most 16 (got 17)"),
            "{err}"
        );
        let p = p.with_settings(&["gpus=2".to_owned()]).expect("settable");
        assert_eq!(p.gpus, 2);
        // A profile stored before the key existed loads without GPUs.
        let mut json = serde_json::to_value(&p).expect("serializes");
        json.as_object_mut().expect("object").remove("gpus");
        let old: Profile = serde_json::from_value(json).expect("loads");
        assert_eq!(old.gpus, 0);
    }

    /// The table in docs/profiles.md is this module's, rendered. Run with
    /// UPDATE_DOCS=1 to rewrite it.
    #[test]
    fn docs_table_is_generated_from_the_keys() {
        const BEGIN: &str = "<!-- keys: generated from src/profile/keys.rs by `UPDATE_DOCS=1 cargo test docs_table` -->\n";
        const END: &str = "<!-- end of keys -->";
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/profiles.md");
        let text = std::fs::read_to_string(&path).expect("docs/profiles.md");
        let (Some(start), Some(end)) = (text.find(BEGIN), text.find(END)) else {
            panic!("docs/profiles.md lacks the markers {BEGIN:?} and {END:?}");
        };
        let fresh = markdown_table();
        let current = &text[start + BEGIN.len()..end];
        if current == fresh {
            return;
        }
        if std::env::var_os("UPDATE_DOCS").is_some() {
            let updated = format!("{}{BEGIN}{fresh}{}", &text[..start], &text[end..]);
            std::fs::write(&path, updated).expect("write docs/profiles.md");
            return;
        }
        panic!(
            "docs/profiles.md's table of keys is stale; run `UPDATE_DOCS=1 cargo test docs_table` or paste:\n\n{fresh}"
        );
    }
}
