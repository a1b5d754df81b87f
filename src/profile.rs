//! `sandboxes.toml`: profile types, defaults, `extends`, validation with line:column errors.
//!
//! INTERFACE STUB: the types below are the contract other modules build on.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
}

/// The `[settings]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub cgroup_root: String,
    pub state_dir: Option<PathBuf>,
    pub theme: Option<String>,
}

/// A loaded configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// `None` for the built-in defaults.
    pub path: Option<PathBuf>,
    pub settings: Settings,
    pub profiles: BTreeMap<String, Profile>,
}
// TEMP STUB
#[derive(Debug, thiserror::Error)]
#[error("no such profile")]
pub struct ConfigError;
impl Config {
    pub fn discover(_p: Option<&std::path::Path>) -> Result<Config, ConfigError> {
        let p = Profile {
            name: "default".into(),
            max_memory_mb: 512,
            max_cpu_seconds: 30,
            max_file_size_mb: 100,
            max_process_count: 10,
            max_open_files: 100,
            allow_network: false,
            allowed_hosts: vec![],
            timeout_seconds: 60,
            allowed_commands: vec![],
            cpu_quota: None,
            max_output_kb: 1024,
            env: BTreeMap::new(),
            read_only_paths: vec![],
            writable_paths: vec![],
            workdir: "/workspace".into(),
            hostname: "sandbox".into(),
            require_isolation: false,
            max_concurrent: 4,
            python: "python3".into(),
            max_result_mb: 16,
        };
        Ok(Config {
            path: None,
            settings: Settings {
                cgroup_root: "sandbox-tui".into(),
                state_dir: None,
                theme: None,
            },
            profiles: [("default".to_string(), p)].into(),
        })
    }
    pub fn profile(&self, name: &str) -> Result<&Profile, ConfigError> {
        self.profiles.get(name).ok_or(ConfigError)
    }
}
