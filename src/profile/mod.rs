//! `sandboxes.toml`: profile types, defaults, `extends`, validation with line:column errors.
//!
//! Every key of a profile is described once, in [`keys::KEYS`]: its name,
//! type, bounds, default and one-line doc. The defaults, the checker, `--set`,
//! `extends`, [`ProfileChange`] diffs, the dashboard's list of keys and the
//! table in docs/profiles.md all come from that table.
//!
//! - [`keys`]: the table, and how a key's value is read from a [`Profile`];
//! - `parse`: the walk over the file, collecting every problem with its line;
//! - `extends`: resolving `extends` chains and the rules across keys;
//! - `settings`: the `[settings]` table;
//! - `set`: `--set KEY=VALUE`;
//! - `change`: what differs between two resolutions of a profile;
//! - `config`: [`Config`], loading and discovery;
//! - `diagnostic`: located problems and [`ConfigError`].

mod change;
mod config;
mod diagnostic;
mod extends;
pub mod keys;
mod parse;
mod set;
mod settings;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

pub use change::ProfileChange;
pub use config::{discover_from, search_paths, Config};
pub(crate) use diagnostic::{line_col, regex_error};
pub use diagnostic::{ConfigError, Diagnostic};
pub use keys::{Applies, Key, Kind, Value, KEYS, MAX_SECONDS};
pub use settings::{Settings, DEFAULT_SANDBOX_UID_BASE, DEFAULT_SANDBOX_UID_COUNT};

/// The file name looked for during discovery.
pub const CONFIG_FILE_NAME: &str = "sandboxes.toml";

/// The profile that exists in every configuration.
pub const DEFAULT_PROFILE: &str = "default";

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
    /// Every backend, by the name a profile gives it.
    pub const ALL: [Backend; 2] = [Backend::Native, Backend::Docker];

    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Docker => "docker",
        }
    }
}

/// A fully resolved profile: every key has a value, `extends` is applied.
///
/// Each key's name, bounds, default and doc live in [`KEYS`]; the serde
/// attributes here only say how a profile stored in the state database
/// before a key existed still loads.
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
    /// GPUs a cluster backend reserves for a job; nothing local uses it.
    #[serde(default)]
    pub gpus: u32,
}

fn default_allow_shell() -> bool {
    true
}

/// How executions under a profile reach the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkAccess {
    /// An empty network namespace.
    None,
    /// Only the `allowed_hosts` (this many entries), through the proxy.
    Allowlist(usize),
    /// `allow_network = true`: the host's own network, every host and port.
    Host,
}

/// Every key at its default, read once from [`KEYS`].
static DEFAULTS: LazyLock<Profile> = LazyLock::new(keys::defaults);

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

    /// A profile named `name` with every key at its documented default.
    pub fn defaults(name: &str) -> Profile {
        Profile {
            name: name.to_owned(),
            ..DEFAULTS.clone()
        }
    }
}
