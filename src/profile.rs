//! `sandboxes.toml`: profile types, defaults, `extends`, validation with line:column errors.
//!
//! The file is parsed into toml's span-carrying `DeTable` rather than through
//! serde derive, because serde stops at the first error and we want every
//! problem in the file reported at once, each pointing at its own line.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// The file name looked for during discovery.
pub const CONFIG_FILE_NAME: &str = "sandboxes.toml";

/// The profile that exists in every configuration.
pub const DEFAULT_PROFILE: &str = "default";

/// Embedded so `Config::builtin()` cannot drift from the file we ship.
const BUILTIN_TOML: &str = include_str!("../sandboxes.toml");

const ROOT_CONFLICT: &str =
    "rootfs (an unpacked root directory) and image (an imported image) cannot be combined; pick one";
const DOCKER_NEEDS_IMAGE: &str =
    "backend = \"docker\" needs docker_image = \"NAME:TAG\" (the Docker image to run; see docs/docker.md)";
const DOCKER_IMAGE_WITHOUT_BACKEND: &str =
    "docker_image is only used with backend = \"docker\"; set backend too, or remove it";
const DOCKER_CONFLICT: &str =
    "backend = \"docker\" runs a Docker image: rootfs, image and allowed_hosts belong to the native backend and cannot be combined with it";
const NETWORK_CONFLICT: &str = "allow_network = true (full host networking) cannot be combined with allowed_hosts (only the listed hosts, through a proxy); pick one";

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
const MAX_CPU_QUOTA: f64 = 1024.0;
const MAX_PROFILE_NAME_LEN: usize = 64;
const MAX_HOSTNAME_LEN: usize = 63;

const TOP_LEVEL_KEYS: &[&str] = &["profiles", "settings"];
const SETTINGS_KEYS: &[&str] = &[
    "cgroup_root",
    "state_dir",
    "theme",
    "hosts_file",
    "sandbox_uid_base",
    "sandbox_uid_count",
];

/// First host uid (and gid) of the sandboxes' own, when run as root: in the
/// range systemd's UIDS-GIDS.md leaves unused (1879048192…2147483647, between
/// the container ranges that end at 0x6FFFFFFF and the foreign range at
/// 0x7FFF0000), below 2^31 where signed-integer bugs begin, and far from
/// the host's users, `DynamicUser=` and `nobody`.
pub const DEFAULT_SANDBOX_UID_BASE: u32 = 0x7F00_0000;
/// How many uids sandboxes may hold at once: one each, so as many sandboxes.
pub const DEFAULT_SANDBOX_UID_COUNT: u32 = 65536;
/// Sandbox uids stay below 2^31 (see [`DEFAULT_SANDBOX_UID_BASE`]).
const SANDBOX_UID_END: u64 = 1 << 31;
const PROFILE_KEYS: &[&str] = &[
    "max_memory_mb",
    "max_cpu_seconds",
    "max_file_size_mb",
    "max_process_count",
    "max_open_files",
    "allow_network",
    "allowed_hosts",
    "timeout_seconds",
    "allowed_commands",
    "extends",
    "cpu_quota",
    "max_output_kb",
    "env",
    "read_only_paths",
    "writable_paths",
    "workdir",
    "hostname",
    "require_isolation",
    "max_concurrent",
    "python",
    "max_result_mb",
    "denied_patterns",
    "allow_shell",
    "rootfs",
    "image",
    "warm",
    "gpus",
    "backend",
    "docker_image",
];

/// What runs an execution: this tool's own sandbox, or a Docker container
/// (docs/docker.md; needs a build with `--features docker`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    #[default]
    Native,
    Docker,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Docker => "docker",
        }
    }
}

/// A fully resolved profile: every key has a value, `extends` is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub max_memory_mb: u64,
    pub max_cpu_seconds: u64,
    pub max_file_size_mb: u64,
    pub max_process_count: u64,
    pub max_open_files: u64,
    pub allow_network: bool,
    pub allowed_hosts: Vec<String>,
    pub timeout_seconds: u64,
    pub allowed_commands: Vec<String>,
    /// CPU cores, e.g. 0.5; `None` means no quota.
    pub cpu_quota: Option<f64>,
    /// Per stream.
    pub max_output_kb: u64,
    pub env: BTreeMap<String, String>,
    pub read_only_paths: Vec<PathBuf>,
    pub writable_paths: Vec<PathBuf>,
    pub workdir: PathBuf,
    pub hostname: String,
    pub require_isolation: bool,
    pub max_concurrent: u64,
    pub python: String,
    pub max_result_mb: u64,
    /// Regexes over the command line (and a Python job's code); validated at load.
    /// Defaulted so profile snapshots stored before the key existed still load.
    #[serde(default)]
    pub denied_patterns: Vec<String>,
    #[serde(default = "default_allow_shell")]
    pub allow_shell: bool,
    /// The sandbox's read-only root: an unpacked root directory on the host
    /// instead of the host's /usr, /bin, /lib and /etc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<PathBuf>,
    /// The sandbox's read-only root from an imported image (see
    /// `crate::image`); a sandbox's stored profile has it as `sha256:HEX`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Defaulted so profiles stored before the key existed still load.
    #[serde(default)]
    pub backend: Backend,
    /// With `backend = "docker"`: the Docker image (`NAME:TAG`) to run.
    /// Not `image`, which names this tool's own imported images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_image: Option<String>,
    /// The `--set KEY=VALUE` overrides applied on top of the file's profile
    /// (`create --set`), kept so that `update` applies them again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub settings: Vec<String>,
    /// The profile this one extends, as the file says (for display).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extends: Option<String>,
    /// Sandboxes the Python package keeps started ahead for this profile
    /// (each used for one call). The CLI itself does not use it.
    #[serde(default)]
    pub warm: u64,
    /// GPUs a cluster job reserves (Ray `num_gpus`); no GPU device is given to the sandbox.
    #[serde(default)]
    pub gpus: u32,
}

fn default_allow_shell() -> bool {
    true
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

/// One key whose value differs between two resolutions of a profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileChange {
    pub key: String,
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

impl fmt::Display for ProfileChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.key, self.from, self.to)
    }
}

impl Profile {
    /// The keys whose values `newer` changes, in key order. Taken from the
    /// serialized form, so a key added to [`Profile`] is compared without
    /// a line here.
    pub fn changes_to(&self, newer: &Profile) -> Vec<ProfileChange> {
        let as_map = |p: &Profile| match serde_json::to_value(p) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let (old, new) = (as_map(self), as_map(newer));
        let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
        keys.into_iter()
            // Neither is a setting of the sandbox: a name, and where the
            // settings came from.
            .filter(|key| !matches!(key.as_str(), "name" | "extends"))
            .filter_map(|key| {
                let from = old.get(key).cloned().unwrap_or(serde_json::Value::Null);
                let to = new.get(key).cloned().unwrap_or(serde_json::Value::Null);
                (from != to).then(|| ProfileChange {
                    key: key.clone(),
                    from,
                    to,
                })
            })
            .collect()
    }
}

/// How executions under a profile reach the network./// How executions under a profile reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkAccess {
    /// An empty network namespace.
    None,
    /// Only the `allowed_hosts` (this many entries), through the proxy.
    Allowlist(usize),
    /// `allow_network = true`: the host's own network, every host and port.
    Host,
}

impl Profile {
    /// `allow_network` wins: validation refuses it together with `allowed_hosts`,
    /// and the supervisor skips the network namespace whenever it is set.
    pub fn network_access(&self) -> NetworkAccess {
        if self.allow_network {
            NetworkAccess::Host
        } else if self.allowed_hosts.is_empty() {
            NetworkAccess::None
        } else {
            NetworkAccess::Allowlist(self.allowed_hosts.len())
        }
    }

    /// This profile with `KEY=VALUE` settings applied in order (`run --set`),
    /// each VALUE a TOML value checked by the same rules as the file. A
    /// problem is reported as `--set:N:COLUMN: KEY: message`, N counting the
    /// settings from 1 and COLUMN within that setting. `extends` cannot be set.
    pub fn with_settings(&self, settings: &[String]) -> Result<Profile, ConfigError> {
        let mut profile = self.clone();
        profile.settings.extend(settings.iter().cloned());
        let prefix = format!("profiles.{}", key_segment(&self.name));
        let mut diagnostics = Vec::new();
        for (index, setting) in settings.iter().enumerate() {
            let mut checker = Checker::new(setting, Path::new("--set"));
            match setting.split_once('=') {
                None => checker.error(0..0, "", "expected KEY=VALUE, e.g. max_memory_mb=256"),
                Some(_) if setting.contains(['\n', '\r']) => {
                    checker.error(0..0, "", "one KEY=VALUE per --set, on one line")
                }
                Some((key, _)) if key.trim() == "extends" => {
                    let key = format!("{prefix}.extends");
                    checker.error(
                        0..0,
                        &key,
                        "cannot be set per call; name the profile instead",
                    )
                }
                Some(_) => {
                    let (root, syntax_errors) = DeTable::parse_recoverable(setting);
                    for error in &syntax_errors {
                        let span = error.span().unwrap_or(0..0);
                        checker.error(span, "", error.message().to_owned());
                    }
                    if syntax_errors.is_empty() {
                        checker.profile(root.get_ref(), &prefix).apply(&mut profile);
                    }
                }
            }
            diagnostics.extend(checker.finish().into_iter().map(|mut d| {
                d.line = index + 1;
                d
            }));
        }
        if diagnostics.is_empty() && profile.allow_network && !profile.allowed_hosts.is_empty() {
            diagnostics.push(Diagnostic {
                file: "--set".to_owned(),
                line: 1,
                column: 1,
                key: prefix,
                message: NETWORK_CONFLICT.to_owned(),
                profile: None,
            });
        }
        if diagnostics.is_empty() {
            Ok(profile)
        } else {
            Err(ConfigError::Invalid(diagnostics))
        }
    }

    /// A profile named `name` with every key at its documented default.
    pub fn defaults(name: &str) -> Profile {
        Profile {
            name: name.to_owned(),
            max_memory_mb: 512,
            max_cpu_seconds: 30,
            max_file_size_mb: 100,
            max_process_count: 10,
            max_open_files: 100,
            allow_network: false,
            allowed_hosts: Vec::new(),
            timeout_seconds: 60,
            allowed_commands: Vec::new(),
            cpu_quota: None,
            max_output_kb: 1024,
            env: BTreeMap::new(),
            read_only_paths: Vec::new(),
            writable_paths: Vec::new(),
            workdir: PathBuf::from("/workspace"),
            hostname: "sandbox".to_owned(),
            require_isolation: true,
            max_concurrent: 4,
            python: "python3".to_owned(),
            max_result_mb: 16,
            denied_patterns: Vec::new(),
            allow_shell: true,
            rootfs: None,
            image: None,
            backend: Backend::Native,
            docker_image: None,
            settings: Vec::new(),
            extends: None,
            warm: 0,
            gpus: 0,
        }
    }
}

/// The `[settings]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub cgroup_root: String,
    pub state_dir: Option<PathBuf>,
    pub theme: Option<String>,
    /// Extra name -> address entries (/etc/hosts format) the `allowed_hosts`
    /// proxy consults before DNS.
    #[serde(default)]
    pub hosts_file: Option<PathBuf>,
    /// As root, each sandbox's commands run as a host uid (and gid) of its
    /// own from `sandbox_uid_base .. sandbox_uid_base + sandbox_uid_count`.
    #[serde(default = "default_uid_base")]
    pub sandbox_uid_base: u32,
    #[serde(default = "default_uid_count")]
    pub sandbox_uid_count: u32,
}

fn default_uid_base() -> u32 {
    DEFAULT_SANDBOX_UID_BASE
}

fn default_uid_count() -> u32 {
    DEFAULT_SANDBOX_UID_COUNT
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            cgroup_root: "sandbox-tui".to_owned(),
            state_dir: None,
            theme: None,
            hosts_file: None,
            sandbox_uid_base: DEFAULT_SANDBOX_UID_BASE,
            sandbox_uid_count: DEFAULT_SANDBOX_UID_COUNT,
        }
    }
}

/// One problem in a configuration file, located at the offending key or value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    /// Dotted key, e.g. `profiles.strict.max_memory_mb`; empty for syntax errors.
    pub key: String,
    pub message: String,
    /// The profile this problem makes unusable; `None` for a problem of the
    /// whole file (syntax, `[settings]`), which makes the file unusable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}", render_diagnostics(.0))]
    Invalid(Vec<Diagnostic>),
    #[error("unknown profile '{name}' (available: {})", available.join(", "))]
    UnknownProfile {
        name: String,
        available: Vec<String>,
    },
    #[error("profile '{name}' is invalid:\n{}", render_diagnostics(.diagnostics))]
    InvalidProfile {
        name: String,
        diagnostics: Vec<Diagnostic>,
    },
}

impl ConfigError {
    /// The located problems, for JSON output; empty for the other variants.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(diagnostics) => diagnostics,
            ConfigError::InvalidProfile { diagnostics, .. } => diagnostics,
            _ => &[],
        }
    }
}

fn render_diagnostics(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A loaded configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `None` for the built-in defaults.
    pub path: Option<PathBuf>,
    pub settings: Settings,
    /// The usable profiles: those without problems.
    pub profiles: BTreeMap<String, Profile>,
    /// The problems of the profiles left out of `profiles`, in file order.
    /// One bad profile must not lock the operator out of the others, nor out
    /// of the sandboxes and executions that exist already.
    pub problems: Vec<Diagnostic>,
}

impl Config {
    /// Parse text; `file` is used in messages (e.g. "sandboxes.toml" or the full path).
    ///
    /// A syntax error or a problem of `[settings]` (where the state and the
    /// cgroups live) makes the whole file unusable: `Err`. A problem inside a
    /// profile leaves that profile, and every profile that extends it, out of
    /// `profiles`, with its diagnostics in `problems`.
    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let mut checker = Checker::new(text, file);
        let (root, syntax_errors) = DeTable::parse_recoverable(text);
        if !syntax_errors.is_empty() {
            // Checking a half-recovered document produces confusing follow-on
            // errors, so syntax errors are reported on their own.
            for error in &syntax_errors {
                let span = error.span().unwrap_or(0..0);
                checker.error(span, "", error.message().to_owned());
            }
            return Err(ConfigError::Invalid(checker.finish()));
        }

        let (settings, overrides) = checker.document(root.get_ref());
        let profiles = checker.resolve(&overrides);
        let diagnostics = checker.finish();
        if diagnostics.iter().any(|d| d.profile.is_none()) {
            return Err(ConfigError::Invalid(diagnostics));
        }
        Ok(Config {
            path: Some(file.to_path_buf()),
            settings,
            profiles,
            problems: diagnostics,
        })
    }

    /// The profiles left out for their problems, in name order.
    pub fn invalid_profiles(&self) -> Vec<&str> {
        let names: BTreeSet<&str> = self
            .problems
            .iter()
            .filter_map(|d| d.profile.as_deref())
            .collect();
        names.into_iter().collect()
    }

    /// The problems of one profile (empty for a valid or unknown one).
    pub fn problems_of(&self, name: &str) -> Vec<Diagnostic> {
        self.problems
            .iter()
            .filter(|d| d.profile.as_deref() == Some(name))
            .cloned()
            .collect()
    }

    /// Every problem of the file, as `profiles --check` reports them: `Err`
    /// when there is any.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Invalid(self.problems.clone()))
        }
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path)
    }

    /// Built-in: profiles `default`, `strict`, `build` with the same values as the shipped sandboxes.toml; path None.
    pub fn builtin() -> Config {
        match Config::parse(BUILTIN_TOML, Path::new(CONFIG_FILE_NAME)) {
            Ok(mut config) => {
                config.path = None;
                config
            }
            // The tests parse the embedded file, so this arm only keeps a broken
            // edit of it from becoming a panic for users.
            Err(_) => Config {
                path: None,
                settings: Settings::default(),
                profiles: BTreeMap::from([(
                    DEFAULT_PROFILE.to_owned(),
                    Profile::defaults(DEFAULT_PROFILE),
                )]),
                problems: Vec::new(),
            },
        }
    }

    /// Discovery: explicit path if given (must exist, else Io error), else ./sandboxes.toml, else
    /// $XDG_CONFIG_HOME/sandbox-tui/sandboxes.toml (XDG_CONFIG_HOME defaulting to $HOME/.config), else builtin().
    pub fn discover(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let cwd = std::env::current_dir().ok();
        let candidates = search_paths(
            cwd.as_deref(),
            std::env::var_os("XDG_CONFIG_HOME").as_deref(),
            std::env::var_os("HOME").as_deref(),
        );
        discover_from(explicit, &candidates)
    }

    /// Look up a profile; an invalid one gives its problems, an unknown one
    /// the available names.
    pub fn profile(&self, name: &str) -> Result<&Profile, ConfigError> {
        if let Some(profile) = self.profiles.get(name) {
            return Ok(profile);
        }
        let diagnostics = self.problems_of(name);
        if diagnostics.is_empty() {
            Err(ConfigError::UnknownProfile {
                name: name.to_owned(),
                available: self.profiles.keys().cloned().collect(),
            })
        } else {
            Err(ConfigError::InvalidProfile {
                name: name.to_owned(),
                diagnostics,
            })
        }
    }

    /// Profile names in sorted order.
    pub fn profile_names(&self) -> Vec<&str> {
        self.profiles.keys().map(String::as_str).collect()
    }
}

/// Where discovery looks when no explicit path is given, in order.
///
/// Takes the environment as parameters so it can be tested without touching
/// process-global state. A relative `XDG_CONFIG_HOME` is ignored, as the XDG
/// base directory spec requires.
pub fn search_paths(
    cwd: Option<&Path>,
    xdg_config_home: Option<&OsStr>,
    home: Option<&OsStr>,
) -> Vec<PathBuf> {
    let mut paths = Vec::new();
    if let Some(cwd) = cwd {
        paths.push(cwd.join(CONFIG_FILE_NAME));
    }
    let config_home = match xdg_config_home.map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Some(dir),
        _ => home
            .filter(|home| !home.is_empty())
            .map(|home| Path::new(home).join(".config")),
    };
    if let Some(dir) = config_home {
        paths.push(dir.join("sandbox-tui").join(CONFIG_FILE_NAME));
    }
    paths
}

/// Loads the explicit path, else the first candidate that exists, else the built-in config.
///
/// A candidate that exists but cannot be read is an error rather than being
/// skipped, so a permissions problem never silently selects other limits.
pub fn discover_from(
    explicit: Option<&Path>,
    candidates: &[PathBuf],
) -> Result<Config, ConfigError> {
    if let Some(path) = explicit {
        return Config::load(path);
    }
    for path in candidates {
        match std::fs::metadata(path) {
            Ok(_) => return Config::load(path),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                ) => {}
            Err(source) => {
                return Err(ConfigError::Io {
                    path: path.clone(),
                    source,
                })
            }
        }
    }
    Ok(Config::builtin())
}

/// The keys one `[profiles.NAME]` table sets; `None` means inherited.
#[derive(Debug, Default)]
struct Overrides {
    extends: Option<(String, Range<usize>)>,
    max_memory_mb: Option<u64>,
    max_cpu_seconds: Option<u64>,
    max_file_size_mb: Option<u64>,
    max_process_count: Option<u64>,
    max_open_files: Option<u64>,
    allow_network: Option<bool>,
    allowed_hosts: Option<Vec<String>>,
    timeout_seconds: Option<u64>,
    allowed_commands: Option<Vec<String>>,
    cpu_quota: Option<f64>,
    max_output_kb: Option<u64>,
    env: Option<BTreeMap<String, String>>,
    read_only_paths: Option<Vec<PathBuf>>,
    writable_paths: Option<Vec<PathBuf>>,
    workdir: Option<PathBuf>,
    hostname: Option<String>,
    require_isolation: Option<bool>,
    max_concurrent: Option<u64>,
    python: Option<String>,
    max_result_mb: Option<u64>,
    denied_patterns: Option<Vec<String>>,
    allow_shell: Option<bool>,
    rootfs: Option<PathBuf>,
    image: Option<String>,
    backend: Option<Backend>,
    docker_image: Option<String>,
    /// Where `backend` and `docker_image` were set, to point at a conflict.
    docker_spans: Vec<(String, Range<usize>)>,
    /// Where `rootfs` and `image` were set, to point at a conflict.
    root_spans: Vec<(String, Range<usize>)>,
    warm: Option<u64>,
    gpus: Option<u32>,
    /// Where `allow_network` and `allowed_hosts` were set, to point at a conflict.
    network_spans: Vec<(String, Range<usize>)>,
}

impl Overrides {
    fn apply(&self, profile: &mut Profile) {
        macro_rules! replace {
            ($($field:ident),* $(,)?) => {
                $(if let Some(value) = &self.$field {
                    profile.$field = value.clone();
                })*
            };
        }
        replace!(
            max_memory_mb,
            max_cpu_seconds,
            max_file_size_mb,
            max_process_count,
            max_open_files,
            allow_network,
            allowed_hosts,
            timeout_seconds,
            allowed_commands,
            max_output_kb,
            read_only_paths,
            writable_paths,
            workdir,
            hostname,
            require_isolation,
            max_concurrent,
            python,
            max_result_mb,
            denied_patterns,
            allow_shell,
            warm,
            gpus,
        );
        if let Some(quota) = self.cpu_quota {
            profile.cpu_quota = Some(quota);
        }
        if let Some(rootfs) = &self.rootfs {
            profile.rootfs = Some(rootfs.clone());
        }
        if let Some(image) = &self.image {
            profile.image = Some(image.clone());
        }
        if let Some(backend) = self.backend {
            profile.backend = backend;
        }
        if let Some(image) = &self.docker_image {
            profile.docker_image = Some(image.clone());
        }
        if let Some(env) = &self.env {
            profile
                .env
                .extend(env.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
}

type Value<'i> = Spanned<DeValue<'i>>;

/// Walks the parsed document, collecting every problem instead of stopping.
struct Checker<'t> {
    text: &'t str,
    file: String,
    diagnostics: Vec<Diagnostic>,
    /// The profile whose table or resolution is being checked: its problems
    /// make only that profile unusable.
    profile: Option<String>,
}

impl<'t> Checker<'t> {
    fn new(text: &'t str, file: &Path) -> Self {
        Checker {
            text,
            file: file.display().to_string(),
            diagnostics: Vec::new(),
            profile: None,
        }
    }

    fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        self.diagnostics.dedup();
        self.diagnostics
    }

    fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        let (line, column) = line_col(self.text, span.start);
        self.diagnostics.push(Diagnostic {
            file: self.file.clone(),
            line,
            column,
            key: key.to_owned(),
            message: message.into(),
            profile: self.profile.clone(),
        });
    }

    fn document(&mut self, root: &DeTable<'_>) -> (Settings, BTreeMap<String, Overrides>) {
        let mut settings = Settings::default();
        let mut profiles = BTreeMap::new();
        for (key, value) in root.iter() {
            let name = key.get_ref().as_ref();
            match name {
                "settings" => {
                    if let Some(table) = self.table(value, "settings") {
                        settings = self.settings(table);
                    }
                }
                "profiles" => {
                    if let Some(table) = self.table(value, "profiles") {
                        profiles = self.profiles(table);
                    }
                }
                _ => self.unknown_key(key, &key_segment(name), TOP_LEVEL_KEYS),
            }
        }
        (settings, profiles)
    }

    fn settings(&mut self, table: &DeTable<'_>) -> Settings {
        let mut settings = Settings::default();
        let mut uid_span = None;
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let dotted = format!("settings.{}", key_segment(name));
            match name {
                "cgroup_root" => {
                    if let Some(root) = self.string(value, &dotted) {
                        match check_cgroup_root(&root) {
                            Ok(()) => settings.cgroup_root = root,
                            Err(message) => self.error(value.span(), &dotted, message),
                        }
                    }
                }
                "state_dir" => {
                    if let Some(s) = self.string(value, &dotted) {
                        settings.state_dir = self.absolute_path(&s, value.span(), &dotted, true);
                    }
                }
                "theme" => settings.theme = self.string(value, &dotted),
                "hosts_file" => {
                    if let Some(s) = self.string(value, &dotted) {
                        settings.hosts_file = self.absolute_path(&s, value.span(), &dotted, false);
                    }
                }
                // Never 0 (root) and below 2^31; the sum is checked below.
                "sandbox_uid_base" => {
                    if let Some(n) = self.int(value, &dotted, 1, SANDBOX_UID_END - 1) {
                        settings.sandbox_uid_base = n as u32;
                        uid_span = Some((dotted.clone(), value.span()));
                    }
                }
                "sandbox_uid_count" => {
                    if let Some(n) = self.int(value, &dotted, 1, SANDBOX_UID_END - 1) {
                        settings.sandbox_uid_count = n as u32;
                        uid_span = Some((dotted.clone(), value.span()));
                    }
                }
                _ => self.unknown_key(key, &dotted, SETTINGS_KEYS),
            }
        }
        let end = u64::from(settings.sandbox_uid_base) + u64::from(settings.sandbox_uid_count);
        if let Some((dotted, span)) = uid_span.filter(|_| end > SANDBOX_UID_END) {
            self.error(
                span,
                &dotted,
                format!(
                    "sandbox_uid_base + sandbox_uid_count must be at most {SANDBOX_UID_END} (got {end})"
                ),
            );
        }
        settings
    }

    fn profiles(&mut self, table: &DeTable<'_>) -> BTreeMap<String, Overrides> {
        let mut profiles = BTreeMap::new();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let dotted = format!("profiles.{}", key_segment(name));
            self.profile = Some(name.to_owned());
            if let Err(message) = check_profile_name(name) {
                self.error(key.span(), &dotted, message);
            } else if let Some(table) = self.table(value, &dotted) {
                let overrides = self.profile(table, &dotted);
                profiles.insert(name.to_owned(), overrides);
            }
            self.profile = None;
        }
        profiles
    }

    fn profile(&mut self, table: &DeTable<'_>, prefix: &str) -> Overrides {
        let mut o = Overrides::default();
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            let dotted = format!("{prefix}.{}", key_segment(name));
            let key_ref = dotted.as_str();
            match name {
                "max_memory_mb" => o.max_memory_mb = self.int(value, key_ref, 1, MAX_MB),
                "max_cpu_seconds" => o.max_cpu_seconds = self.int(value, key_ref, 1, MAX_SECONDS),
                "max_file_size_mb" => o.max_file_size_mb = self.int(value, key_ref, 1, MAX_MB),
                "max_process_count" => {
                    o.max_process_count = self.int(value, key_ref, 1, MAX_PROCESSES)
                }
                // stdin, stdout and stderr take three descriptors before the
                // program opens anything itself.
                "max_open_files" => o.max_open_files = self.int(value, key_ref, 4, MAX_OPEN_FILES),
                "allow_network" => {
                    o.allow_network = self.bool(value, key_ref);
                    o.network_spans.push((dotted.clone(), value.span()));
                }
                "allowed_hosts" => {
                    o.allowed_hosts = self.hosts(value, key_ref);
                    o.network_spans.push((dotted.clone(), value.span()));
                }
                "timeout_seconds" => o.timeout_seconds = self.int(value, key_ref, 1, MAX_SECONDS),
                "allowed_commands" => o.allowed_commands = self.commands(value, key_ref),
                "extends" => {
                    if let Some(parent) = self.string(value, key_ref) {
                        if parent.is_empty() {
                            self.error(value.span(), key_ref, "must name a profile");
                        } else {
                            o.extends = Some((parent, value.span()));
                        }
                    }
                }
                "cpu_quota" => o.cpu_quota = self.cpu_quota(value, key_ref),
                "max_output_kb" => o.max_output_kb = self.int(value, key_ref, 1, MAX_KB),
                "env" => o.env = self.env(value, key_ref),
                "read_only_paths" => o.read_only_paths = self.path_list(value, key_ref),
                "writable_paths" => o.writable_paths = self.path_list(value, key_ref),
                "workdir" => {
                    if let Some(s) = self.string(value, key_ref) {
                        o.workdir = self.absolute_path(&s, value.span(), key_ref, false);
                    }
                }
                "hostname" => {
                    if let Some(s) = self.string(value, key_ref) {
                        match check_hostname(&s) {
                            Ok(()) => o.hostname = Some(s),
                            Err(message) => self.error(value.span(), key_ref, message),
                        }
                    }
                }
                "require_isolation" => o.require_isolation = self.bool(value, key_ref),
                "max_concurrent" => o.max_concurrent = self.int(value, key_ref, 1, MAX_CONCURRENT),
                "python" => {
                    if let Some(s) = self.string(value, key_ref) {
                        match check_command(&s) {
                            Ok(()) => o.python = Some(s),
                            Err(message) => self.error(value.span(), key_ref, message),
                        }
                    }
                }
                "max_result_mb" => o.max_result_mb = self.int(value, key_ref, 1, MAX_MB),
                "denied_patterns" => o.denied_patterns = self.patterns(value, key_ref),
                "allow_shell" => o.allow_shell = self.bool(value, key_ref),
                "rootfs" => {
                    if let Some(s) = self.string(value, key_ref) {
                        o.rootfs = self.absolute_path(&s, value.span(), key_ref, false);
                        o.root_spans.push((dotted.clone(), value.span()));
                    }
                }
                "image" => {
                    if let Some(s) = self.string(value, key_ref) {
                        match crate::image::parse_reference(&s) {
                            Ok(_) => o.image = Some(s),
                            Err(message) => self.error(value.span(), key_ref, message),
                        }
                        o.root_spans.push((dotted.clone(), value.span()));
                    }
                }
                "warm" => o.warm = self.int(value, key_ref, 0, MAX_WARM),
                "gpus" => o.gpus = self.int(value, key_ref, 0, 16).map(|n| n as u32),
                "backend" => {
                    if let Some(s) = self.string(value, key_ref) {
                        match s.as_str() {
                            "native" => o.backend = Some(Backend::Native),
                            "docker" => o.backend = Some(Backend::Docker),
                            _ => self.error(
                                value.span(),
                                key_ref,
                                format!(
                                    "unknown backend '{s}' (expected \"native\" or \"docker\")"
                                ),
                            ),
                        }
                        o.docker_spans.push((dotted.clone(), value.span()));
                    }
                }
                "docker_image" => {
                    if let Some(s) = self.string(value, key_ref) {
                        match check_docker_image(&s) {
                            Ok(()) => o.docker_image = Some(s),
                            Err(message) => self.error(value.span(), key_ref, message),
                        }
                        o.docker_spans.push((dotted.clone(), value.span()));
                    }
                }
                _ => self.unknown_key(key, key_ref, PROFILE_KEYS),
            }
        }
        o
    }

    /// Applies `extends` and fills defaults. Reports unknown parents and cycles;
    /// the returned map is only meaningful when no diagnostics were recorded.
    fn resolve(&mut self, overrides: &BTreeMap<String, Overrides>) -> BTreeMap<String, Profile> {
        for (name, o) in overrides {
            let Some((parent, span)) = &o.extends else {
                continue;
            };
            if parent != DEFAULT_PROFILE && !overrides.contains_key(parent) {
                let mut available: Vec<&str> = overrides.keys().map(String::as_str).collect();
                if !overrides.contains_key(DEFAULT_PROFILE) {
                    available.push(DEFAULT_PROFILE);
                    available.sort_unstable();
                }
                let hint = match suggest(parent, &available) {
                    Some(s) => format!("did you mean {s}?"),
                    None => format!("available: {}", available.join(", ")),
                };
                let key = format!("profiles.{}.extends", key_segment(name));
                self.profile = Some(name.clone());
                self.error(
                    span.clone(),
                    &key,
                    format!("unknown profile '{parent}' ({hint})"),
                );
            }
        }

        let mut in_reported_cycle = BTreeSet::new();
        for start in overrides.keys() {
            let mut chain = vec![start.as_str()];
            let mut current = start.as_str();
            while let Some((parent, _)) = overrides.get(current).and_then(|o| o.extends.as_ref()) {
                if let Some(pos) = chain.iter().position(|n| n == parent) {
                    let cycle = &chain[pos..];
                    let first = cycle[0];
                    if !in_reported_cycle.contains(first) {
                        in_reported_cycle.extend(cycle.iter().copied());
                        let mut path = cycle.join(" -> ");
                        path.push_str(" -> ");
                        path.push_str(first);
                        let span = overrides
                            .get(first)
                            .and_then(|o| o.extends.as_ref())
                            .map_or(0..0, |(_, span)| span.clone());
                        let key = format!("profiles.{}.extends", key_segment(first));
                        self.profile = Some(first.to_owned());
                        self.error(span, &key, format!("cycle in extends: {path}"));
                    }
                    break;
                }
                chain.push(parent);
                current = parent;
            }
        }
        self.profile = None;

        // A profile with a problem of its own, and so every profile that
        // extends it, is left out; the others resolve as usual.
        let broken: BTreeSet<String> = self
            .diagnostics
            .iter()
            .filter_map(|d| d.profile.clone())
            .collect();
        let mut profiles = BTreeMap::new();
        for name in overrides.keys().filter(|name| !broken.contains(*name)) {
            let mut chain = Vec::new();
            let mut invalid_ancestor = None;
            let mut current = overrides.get(name);
            while let Some(o) = current {
                chain.push(o);
                // Bounded anyway, in case the cycle check above ever misses one.
                if chain.len() > overrides.len() {
                    break;
                }
                let parent = o.extends.as_ref().map(|(parent, _)| parent);
                if let Some(parent) = parent.filter(|p| broken.contains(*p)) {
                    invalid_ancestor = Some(parent.clone());
                    break;
                }
                current = parent.and_then(|parent| overrides.get(parent));
            }
            self.profile = Some(name.clone());
            if let Some(ancestor) = invalid_ancestor {
                let span = overrides[name]
                    .extends
                    .as_ref()
                    .map_or(0..0, |(_, span)| span.clone());
                let key = format!("profiles.{}.extends", key_segment(name));
                self.error(
                    span,
                    &key,
                    format!("extends the invalid profile '{ancestor}'"),
                );
                continue;
            }
            let mut profile = Profile::defaults(name);
            for o in chain.iter().rev() {
                o.apply(&mut profile);
            }
            profile.extends = overrides[name].extends.as_ref().map(|(p, _)| p.clone());
            if profile.allow_network && !profile.allowed_hosts.is_empty() {
                // Pointed at the nearest table that set either key; the
                // profile's own header when both came from the defaults.
                let (key, span) = chain
                    .iter()
                    .find_map(|o| o.network_spans.last().cloned())
                    .unwrap_or_else(|| (format!("profiles.{}", key_segment(name)), 0..0));
                self.error(span, &key, NETWORK_CONFLICT);
                continue;
            }
            let docker_problem = match (profile.backend, &profile.docker_image) {
                (Backend::Docker, None) => Some(DOCKER_NEEDS_IMAGE),
                (Backend::Native, Some(_)) => Some(DOCKER_IMAGE_WITHOUT_BACKEND),
                (Backend::Docker, Some(_))
                    if profile.rootfs.is_some()
                        || profile.image.is_some()
                        || !profile.allowed_hosts.is_empty() =>
                {
                    Some(DOCKER_CONFLICT)
                }
                _ => None,
            };
            if let Some(message) = docker_problem {
                let (key, span) = chain
                    .iter()
                    .find_map(|o| o.docker_spans.iter().max_by_key(|(_, s)| s.start).cloned())
                    .unwrap_or_else(|| (format!("profiles.{}", key_segment(name)), 0..0));
                self.error(span, &key, message);
                continue;
            }
            if profile.rootfs.is_some() && profile.image.is_some() {
                let (key, span) = chain
                    .iter()
                    .find_map(|o| o.root_spans.iter().max_by_key(|(_, s)| s.start).cloned())
                    .unwrap_or_else(|| (format!("profiles.{}", key_segment(name)), 0..0));
                self.error(span, &key, ROOT_CONFLICT);
                continue;
            }
            profiles.insert(name.clone(), profile);
        }
        self.profile = None;
        if !broken.contains(DEFAULT_PROFILE) && !overrides.contains_key(DEFAULT_PROFILE) {
            profiles.insert(
                DEFAULT_PROFILE.to_owned(),
                Profile::defaults(DEFAULT_PROFILE),
            );
        }
        profiles
    }

    fn unknown_key(
        &mut self,
        key: &Spanned<std::borrow::Cow<'_, str>>,
        dotted: &str,
        known: &[&str],
    ) {
        let message = match suggest(key.get_ref(), known) {
            Some(s) => format!("unknown key (did you mean {s}?)"),
            None => format!("unknown key (expected one of: {})", known.join(", ")),
        };
        self.error(key.span(), dotted, message);
    }

    fn wrong_type(&mut self, value: &Value<'_>, key: &str, expected: &str) {
        let found = value.get_ref().type_str();
        let article = if found.starts_with(['a', 'e', 'i', 'o', 'u']) {
            "an"
        } else {
            "a"
        };
        self.error(
            value.span(),
            key,
            format!("expected {expected}, found {article} {found}"),
        );
    }

    fn table<'v, 'i>(&mut self, value: &'v Value<'i>, key: &str) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, key, "a table");
                None
            }
        }
    }

    fn bool(&mut self, value: &Value<'_>, key: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(value, key, "true or false");
                None
            }
        }
    }

    fn string(&mut self, value: &Value<'_>, key: &str) -> Option<String> {
        match value.get_ref() {
            DeValue::String(s) if s.contains('\0') => {
                self.error(value.span(), key, "must not contain a NUL character");
                None
            }
            DeValue::String(s) => Some(s.to_string()),
            _ => {
                self.wrong_type(value, key, "a string");
                None
            }
        }
    }

    fn int(&mut self, value: &Value<'_>, key: &str, min: u64, max: u64) -> Option<u64> {
        let DeValue::Integer(int) = value.get_ref() else {
            self.wrong_type(value, key, "an integer");
            return None;
        };
        let Ok(n) = i128::from_str_radix(int.as_str(), int.radix()) else {
            self.error(value.span(), key, format!("integer {int} is out of range"));
            return None;
        };
        if n < i128::from(min) {
            self.error(
                value.span(),
                key,
                format!("must be at least {min} (got {n})"),
            );
            return None;
        }
        if n > i128::from(max) {
            self.error(
                value.span(),
                key,
                format!("must be at most {max} (got {n})"),
            );
            return None;
        }
        u64::try_from(n).ok()
    }

    fn cpu_quota(&mut self, value: &Value<'_>, key: &str) -> Option<f64> {
        let quota = match value.get_ref() {
            DeValue::Integer(int) => i128::from_str_radix(int.as_str(), int.radix())
                .ok()
                // Precision loss is irrelevant: anything that large is refused below.
                .map(|n| n as f64),
            DeValue::Float(float) => float.as_str().parse::<f64>().ok(),
            _ => {
                self.wrong_type(value, key, "a number of CPU cores");
                return None;
            }
        };
        match quota {
            Some(q) if q > 0.0 && q <= MAX_CPU_QUOTA => Some(q),
            _ => {
                let raw = self.text.get(value.span()).unwrap_or("?").trim();
                self.error(
                    value.span(),
                    key,
                    format!("must be more than 0 and at most {MAX_CPU_QUOTA} cores (got {raw})"),
                );
                None
            }
        }
    }

    /// Elements are returned with their spans so callers can point at the bad one.
    fn string_list(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let DeValue::Array(array) = value.get_ref() else {
            self.wrong_type(value, key, "an array of strings");
            return None;
        };
        let mut items = Vec::with_capacity(array.len());
        let mut ok = true;
        for (i, item) in array.iter().enumerate() {
            match self.string(item, &format!("{key}[{i}]")) {
                Some(s) => items.push((s, item.span())),
                None => ok = false,
            }
        }
        ok.then_some(items)
    }

    fn commands(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<String>> {
        let items = self.string_list(value, key)?;
        let mut commands = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, (s, span)) in items.into_iter().enumerate() {
            match check_command(&s) {
                Ok(()) => commands.push(s),
                Err(message) => {
                    self.error(span, &format!("{key}[{i}]"), message);
                    ok = false;
                }
            }
        }
        ok.then_some(commands)
    }

    /// Compiled here only to be checked: a typo in a deny rule must stop the
    /// load, never silently let everything through.
    fn patterns(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<String>> {
        let items = self.string_list(value, key)?;
        let mut patterns = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, (s, span)) in items.into_iter().enumerate() {
            let problem = if s.is_empty() {
                Some("must not be empty (it would match every command)".to_owned())
            } else {
                regex::Regex::new(&s)
                    .err()
                    .map(|e| format!("invalid regex {:?}: {}", s, regex_error(&e)))
            };
            match problem {
                Some(message) => {
                    self.error(span, &format!("{key}[{i}]"), message);
                    ok = false;
                }
                None => patterns.push(s),
            }
        }
        ok.then_some(patterns)
    }

    /// `allowed_hosts`: every entry must parse as a host rule.
    fn hosts(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<String>> {
        let items = self.string_list(value, key)?;
        let mut hosts = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, (s, span)) in items.into_iter().enumerate() {
            match crate::netproxy::HostRule::parse(&s) {
                Ok(_) => hosts.push(s),
                Err(message) => {
                    self.error(span, &format!("{key}[{i}]"), message);
                    ok = false;
                }
            }
        }
        ok.then_some(hosts)
    }

    fn path_list(&mut self, value: &Value<'_>, key: &str) -> Option<Vec<PathBuf>> {
        let items = self.string_list(value, key)?;
        let mut paths = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, (s, span)) in items.into_iter().enumerate() {
            match self.absolute_path(&s, span, &format!("{key}[{i}]"), true) {
                Some(path) => paths.push(path),
                None => ok = false,
            }
        }
        ok.then_some(paths)
    }

    fn absolute_path(
        &mut self,
        s: &str,
        span: Range<usize>,
        key: &str,
        root_allowed: bool,
    ) -> Option<PathBuf> {
        let path = PathBuf::from(s);
        let problem = if s.is_empty() {
            Some("must not be empty".to_owned())
        } else if !path.is_absolute() {
            Some(format!("must be an absolute path (got \"{s}\")"))
        } else if path.components().any(|c| c == Component::ParentDir) {
            Some(format!("must not contain '..' (got \"{s}\")"))
        } else if !root_allowed && path.components().all(|c| c == Component::RootDir) {
            Some("must not be \"/\"".to_owned())
        } else {
            None
        };
        match problem {
            Some(message) => {
                self.error(span, key, message);
                None
            }
            None => Some(path),
        }
    }

    fn env(&mut self, value: &Value<'_>, key: &str) -> Option<BTreeMap<String, String>> {
        let table = self.table(value, key)?;
        let mut env = BTreeMap::new();
        let mut ok = true;
        for (name, value) in table.iter() {
            let name_str = name.get_ref().as_ref();
            let dotted = format!("{key}.{}", key_segment(name_str));
            if !is_env_name(name_str) {
                self.error(
                    name.span(),
                    &dotted,
                    "not a valid environment variable name (letters, digits and '_', not starting with a digit)",
                );
                ok = false;
                continue;
            }
            match self.string(value, &dotted) {
                Some(v) => {
                    env.insert(name_str.to_owned(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(env)
    }
}

/// 1-based line and character column of a byte offset.
/// 1-based line and column (in characters) of a byte offset of `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Renders a key as it would be written in TOML, quoting when needed.
fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_owned()
    } else {
        format!("{key:?}")
    }
}

/// The closest candidate by edit distance, if it is close enough to be a likely typo.
fn suggest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let limit = (input.chars().count() / 3).max(1);
    candidates
        .iter()
        .map(|c| (edit_distance(input, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Optimal string alignment distance: Levenshtein plus adjacent transpositions,
/// since swapped letters are the most common typo in key names.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

/// Profile names end up in cgroup and state paths, so they are kept plain.
fn check_profile_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= MAX_PROFILE_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "profile names must be 1 to {MAX_PROFILE_NAME_LEN} characters of A-Z, a-z, 0-9, '_' and '-'"
        ))
    }
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

fn check_cgroup_root(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if s.starts_with('/') {
        return Err(format!(
            "must be relative to the delegated cgroup (got \"{s}\")"
        ));
    }
    for component in s.split('/') {
        let valid = !component.is_empty()
            && component != "."
            && component != ".."
            && component
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
        if !valid {
            return Err(format!(
                "each '/'-separated part must be A-Z, a-z, 0-9, '_', '.' or '-' and not '.' or '..' (got \"{}\")",
                s.escape_debug()
            ));
        }
    }
    Ok(())
}

/// The one-line cause of a regex error: its `Display` spans several lines
/// (the pattern, a caret, the cause), which does not fit a diagnostic.
pub(crate) fn regex_error(error: &regex::Error) -> String {
    let text = error.to_string();
    text.lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .map(str::to_owned)
        .unwrap_or_else(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(profile: &Profile, settings: &[&str]) -> Result<Profile, ConfigError> {
        let settings: Vec<String> = settings.iter().map(|s| (*s).to_owned()).collect();
        profile.with_settings(&settings)
    }

    #[test]
    fn settings_override_keys_of_the_profile() {
        let base = Profile::defaults("default");
        let p = set(
            &base,
            &["max_memory_mb=64", "python=\"python3.11\"", "env.A = \"b\""],
        )
        .expect("valid settings");
        assert_eq!(p.max_memory_mb, 64);
        assert_eq!(p.python, "python3.11");
        assert_eq!(p.env.get("A").map(String::as_str), Some("b"));
        assert_eq!(p.max_cpu_seconds, base.max_cpu_seconds);
        assert_eq!(set(&base, &[]).expect("nothing to set"), base);
    }

    #[test]
    fn settings_are_checked_like_the_file_and_name_the_key() {
        let base = Profile::defaults("strict");
        let err = set(&base, &["max_cpu_seconds=1", "max_memory_mb=0"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--set:2:15: profiles.strict.max_memory_mb: must be at least 1 (got 0)"
        );
        let err = set(&base, &["max_memory=5"]).unwrap_err().to_string();
        assert!(
            err.contains("profiles.strict.max_memory: unknown key (did you mean max_memory_mb?)"),
            "{err}"
        );
        for bad in [
            "max_memory_mb",
            "extends=\"build\"",
            "a=1\n[settings]",
            "python=python3",
            "denied_patterns=[\"(\"]",
        ] {
            assert!(set(&base, &[bad]).is_err(), "{bad:?} was accepted");
        }
        let err = set(
            &base,
            &["allow_network=true", "allowed_hosts=[\"pypi.org\"]"],
        )
        .unwrap_err();
        assert!(err.to_string().contains("pick one"), "{err}");
    }

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
    fn changes_between_two_resolutions_name_each_key() {
        let old = Profile::defaults("x");
        let mut new = old.clone();
        new.max_memory_mb = 256;
        new.denied_patterns = vec!["rm".into()];
        let changes = old.changes_to(&new);
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "denied_patterns [] → [\"rm\"]".to_string(),
                "max_memory_mb 512 → 256".to_string()
            ]
        );
        assert!(old.changes_to(&old.clone()).is_empty());
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
        let (line, col, key, msg) =
            one_error("[profiles.base]\n[profiles.x]\nextends = \"bsae\"\n");
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
        let config =
            parse("[settings]\nsandbox_uid_base = 200000\nsandbox_uid_count = 10\n").unwrap();
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
        let config = parse(
            "[profiles.a]\nrootfs = \"/srv/root\"\n[profiles.b]\nimage = \"oci:/srv/img:v1\"\n",
        )
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
        let (line, col, key, msg) =
            one_error("[profiles.x]\nrootfs = \"/r\"\nimage = \"debian:12\"\n");
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
        let (line, col, key, msg) =
            one_error("[profiles.x]\nread_only_paths = [\"/ok\", \"data\"]\n");
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
        assert_eq!(suggest("x", PROFILE_KEYS), None);
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

        let (line, col, key, msg) =
            one_error("[profiles.x]\ndenied_patterns = [\"ok\", \"rm (\"]\n");
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
}
