//! `--set KEY=VALUE`: a key of the profile overridden for one run or one
//! sandbox, checked by the same rules as the file.

use std::path::Path;

use toml::de::DeTable;

use super::diagnostic::key_segment;
use super::extends::{network_conflict, NETWORK_CONFLICT};
use super::keys;
use super::parse::Checker;
use super::{ConfigError, Diagnostic, Profile};

impl Profile {
    /// This profile with `KEY=VALUE` settings applied in order (`run --set`),
    /// each VALUE a TOML value checked by the same rules as the file. A
    /// problem is reported as `--set:N:COLUMN: KEY: message`, N counting the
    /// settings from 1 and COLUMN within that setting. A key that is not
    /// [`keys::Key::settable`] (`extends`) cannot be set.
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
                Some((key, _)) if keys::find(key.trim()).is_some_and(|k| !k.settable) => {
                    let key = format!("{prefix}.{}", key.trim());
                    checker.error(
                        0..0,
                        &key,
                        "cannot be set per call; name the profile instead",
                    )
                }
                Some(_) => {
                    let (root, syntax_errors) = DeTable::parse_recoverable(setting);
                    if checker.syntax(&syntax_errors) {
                        checker.profile(root.get_ref(), &prefix).apply(&mut profile);
                    }
                }
            }
            diagnostics.extend(checker.finish().into_iter().map(|mut d| {
                d.line = index + 1;
                d
            }));
        }
        if diagnostics.is_empty() && network_conflict(&profile) {
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
}
