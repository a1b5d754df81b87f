//! The `[settings]` table: where the state and the cgroups live, and the
//! host uids sandboxes run as.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use toml::de::DeTable;

use super::diagnostic::key_segment;
use super::parse::Checker;

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

impl Checker<'_> {
    pub(super) fn settings(&mut self, table: &DeTable<'_>) -> Settings {
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
