//! The walk over a parsed `sandboxes.toml`, collecting every problem.
//!
//! The file is parsed into toml's span-carrying `DeTable` rather than through
//! serde derive, because serde stops at the first error and we want every
//! problem in the file reported at once, each pointing at its own line.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use toml::de::{DeTable, DeValue};
use toml::Spanned;

use super::diagnostic::{key_segment, line_col, suggest};
use super::extends::Overrides;
use super::keys::{self, Key, Kind, Value};
use super::{Diagnostic, Settings};

const TOP_LEVEL_KEYS: &[&str] = &["profiles", "settings"];
const MAX_PROFILE_NAME_LEN: usize = 64;

/// A value of the file with its place in it.
pub(super) type Toml<'i> = Spanned<DeValue<'i>>;

/// Walks the parsed document, collecting every problem instead of stopping.
pub(super) struct Checker<'t> {
    pub(super) text: &'t str,
    file: String,
    pub(super) diagnostics: Vec<Diagnostic>,
    /// The profile whose table or resolution is being checked: its problems
    /// make only that profile unusable.
    pub(super) profile: Option<String>,
}

impl<'t> Checker<'t> {
    pub(super) fn new(text: &'t str, file: &Path) -> Self {
        Checker {
            text,
            file: file.display().to_string(),
            diagnostics: Vec::new(),
            profile: None,
        }
    }

    pub(super) fn finish(mut self) -> Vec<Diagnostic> {
        self.diagnostics.sort_by_key(|d| (d.line, d.column));
        self.diagnostics.dedup();
        self.diagnostics
    }

    pub(super) fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
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

    /// Syntax errors are reported on their own: checking a half-recovered
    /// document produces confusing follow-on errors. `false` when there were any.
    pub(super) fn syntax(&mut self, errors: &[toml::de::Error]) -> bool {
        for error in errors {
            let span = error.span().unwrap_or(0..0);
            self.error(span, "", error.message().to_owned());
        }
        errors.is_empty()
    }

    pub(super) fn document(
        &mut self,
        root: &DeTable<'_>,
    ) -> (Settings, BTreeMap<String, Overrides>) {
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

    /// The keys one profile table sets, each checked by its kind in [`keys::KEYS`].
    pub(super) fn profile(&mut self, table: &DeTable<'_>, prefix: &str) -> Overrides {
        let mut overrides = Overrides::default();
        for (name, value) in table.iter() {
            let dotted = format!("{prefix}.{}", key_segment(name.get_ref()));
            let Some(key) = keys::find(name.get_ref()) else {
                self.unknown_key(name, &dotted, &keys::names());
                continue;
            };
            let Some(parsed) = self.value(key, value, &dotted) else {
                continue;
            };
            match (key.kind, parsed) {
                (Kind::Profile, Value::Text(parent)) => {
                    overrides.extends = Some((parent, value.span()))
                }
                (_, parsed) => overrides.set(key, parsed, dotted, value.span()),
            }
        }
        overrides
    }

    /// One value, checked against its key's kind; `None` once reported.
    fn value(&mut self, key: &Key, value: &Toml<'_>, dotted: &str) -> Option<Value> {
        match key.kind {
            Kind::Int { min, max } => self.int(value, dotted, min, max).map(Value::Int),
            Kind::Bool => self.bool(value, dotted).map(Value::Bool),
            Kind::Cores { max } => self.cores(value, dotted, max).map(Value::Number),
            Kind::Text(check) => {
                let s = self.string(value, dotted)?;
                match check(&s) {
                    Ok(()) => Some(Value::Text(s)),
                    Err(message) => {
                        self.error(value.span(), dotted, message);
                        None
                    }
                }
            }
            Kind::OneOf(names) => {
                let s = self.string(value, dotted)?;
                if names.contains(&s.as_str()) {
                    return Some(Value::Text(s));
                }
                let expected: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
                self.error(
                    value.span(),
                    dotted,
                    format!(
                        "unknown {} '{s}' (expected {})",
                        key.name,
                        expected.join(" or ")
                    ),
                );
                None
            }
            Kind::Path => {
                let s = self.string(value, dotted)?;
                self.absolute_path(&s, value.span(), dotted, false)
                    .map(Value::Path)
            }
            Kind::Paths => self.path_list(value, dotted).map(Value::Paths),
            Kind::Strings(check) => self.checked_list(value, dotted, check).map(Value::List),
            Kind::Env => self.env(value, dotted).map(Value::Table),
            Kind::Profile => {
                let parent = self.string(value, dotted)?;
                if parent.is_empty() {
                    self.error(value.span(), dotted, "must name a profile");
                    return None;
                }
                Some(Value::Text(parent))
            }
        }
    }

    pub(super) fn unknown_key(
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

    fn wrong_type(&mut self, value: &Toml<'_>, key: &str, expected: &str) {
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

    pub(super) fn table<'v, 'i>(
        &mut self,
        value: &'v Toml<'i>,
        key: &str,
    ) -> Option<&'v DeTable<'i>> {
        match value.get_ref() {
            DeValue::Table(table) => Some(table),
            _ => {
                self.wrong_type(value, key, "a table");
                None
            }
        }
    }

    fn bool(&mut self, value: &Toml<'_>, key: &str) -> Option<bool> {
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.wrong_type(value, key, "true or false");
                None
            }
        }
    }

    pub(super) fn string(&mut self, value: &Toml<'_>, key: &str) -> Option<String> {
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

    pub(super) fn int(&mut self, value: &Toml<'_>, key: &str, min: u64, max: u64) -> Option<u64> {
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

    fn cores(&mut self, value: &Toml<'_>, key: &str, max: f64) -> Option<f64> {
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
            Some(q) if q > 0.0 && q <= max => Some(q),
            _ => {
                let raw = self.text.get(value.span()).unwrap_or("?").trim();
                self.error(
                    value.span(),
                    key,
                    format!("must be more than 0 and at most {max} cores (got {raw})"),
                );
                None
            }
        }
    }

    /// Elements are returned with their spans so callers can point at the bad one.
    fn string_list(&mut self, value: &Toml<'_>, key: &str) -> Option<Vec<(String, Range<usize>)>> {
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

    /// A list whose every entry `check` accepts; each bad entry is reported
    /// as `KEY[i]`.
    fn checked_list(
        &mut self,
        value: &Toml<'_>,
        key: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let items = self.string_list(value, key)?;
        let mut list = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, (s, span)) in items.into_iter().enumerate() {
            match check(&s) {
                Ok(()) => list.push(s),
                Err(message) => {
                    self.error(span, &format!("{key}[{i}]"), message);
                    ok = false;
                }
            }
        }
        ok.then_some(list)
    }

    fn path_list(&mut self, value: &Toml<'_>, key: &str) -> Option<Vec<PathBuf>> {
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

    pub(super) fn absolute_path(
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

    fn env(&mut self, value: &Toml<'_>, key: &str) -> Option<BTreeMap<String, String>> {
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

fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
