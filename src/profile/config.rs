//! A loaded configuration: finding, reading and looking up profiles.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;
use toml::de::DeTable;

use super::parse::Checker;
use super::{ConfigError, Diagnostic, Profile, Settings, CONFIG_FILE_NAME, DEFAULT_PROFILE};

/// Embedded so `Config::builtin()` cannot drift from the file we ship.
const BUILTIN_TOML: &str = include_str!("../../sandboxes.toml");

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
        if !checker.syntax(&syntax_errors) {
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

    /// Discovery for a cluster job on its node: as [`Config::discover`] but
    /// without the working directory, which is the cluster's choice (Ray
    /// starts entrypoints where the node was started), not the node's
    /// operator's: a `sandboxes.toml` there must not decide where the node
    /// keeps its state or its cgroups.
    pub fn discover_for_node(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let candidates = search_paths(
            None,
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
