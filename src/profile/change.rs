//! What differs between two resolutions of a profile: what `update NAME`
//! applies, and what the dashboard marks a sandbox `*` for.

use std::fmt;

use serde::Serialize;

use super::keys::{Kind, KEYS};
use super::Profile;

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
    /// The keys whose values `newer` changes, in name order, each value as
    /// a stored profile has it.
    pub fn changes_to(&self, newer: &Profile) -> Vec<ProfileChange> {
        let json = |value| serde_json::to_value(value).unwrap_or(serde_json::Value::Null);
        let mut changes: Vec<ProfileChange> = KEYS
            .iter()
            // `extends` is where the settings came from, not one of them.
            .filter(|key| !matches!(key.kind, Kind::Profile))
            .filter_map(|key| {
                let (from, to) = (key.value_of(self), key.value_of(newer));
                (from != to).then(|| ProfileChange {
                    key: key.name.to_owned(),
                    from: json(from),
                    to: json(to),
                })
            })
            .collect();
        changes.sort_by(|a, b| a.key.cmp(&b.key));
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    /// Each value is the one a stored profile holds, so `update --json`
    /// shows the same figures as the state database.
    #[test]
    fn changed_values_are_shown_as_stored() {
        let old = Profile::defaults("x");
        let mut new = old.clone();
        new.cpu_quota = Some(1.5);
        new.backend = crate::profile::Backend::Docker;
        new.gpus = 2;
        for change in old.changes_to(&new) {
            let stored = serde_json::to_value(&new).expect("serializes");
            assert_eq!(change.to, stored[&change.key], "{}", change.key);
        }
        assert_eq!(old.changes_to(&new).len(), 3);
    }
}
