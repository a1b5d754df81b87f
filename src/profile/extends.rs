//! Resolving profiles: `extends` chains, defaults, and the rules across keys.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use super::diagnostic::{key_segment, suggest};
use super::keys::{Key, Value};
use super::parse::Checker;
use super::{Backend, Profile, DEFAULT_PROFILE};

pub(super) const ROOT_CONFLICT: &str =
    "rootfs (an unpacked root directory) and image (an imported image) cannot be combined; pick one";
const DOCKER_NEEDS_IMAGE: &str =
    "backend = \"docker\" needs docker_image = \"NAME:TAG\" (the Docker image to run; see docs/docker.md)";
const DOCKER_IMAGE_WITHOUT_BACKEND: &str =
    "docker_image is only used with backend = \"docker\"; set backend too, or remove it";
const DOCKER_CONFLICT: &str =
    "backend = \"docker\" runs a Docker image: rootfs, image and allowed_hosts belong to the native backend and cannot be combined with it";
pub(super) const NETWORK_CONFLICT: &str = "allow_network = true (full host networking) cannot be combined with allowed_hosts (only the listed hosts, through a proxy); pick one";

/// The keys one `[profiles.NAME]` table (or one `--set`) sets; the rest
/// are inherited.
#[derive(Debug, Default)]
pub(super) struct Overrides {
    pub(super) extends: Option<(String, Range<usize>)>,
    /// In file order.
    settings: Vec<Setting>,
}

#[derive(Debug)]
struct Setting {
    key: &'static Key,
    value: Value,
    /// The dotted key and the value's place, to point at a conflict.
    dotted: String,
    span: Range<usize>,
}

impl Overrides {
    pub(super) fn set(
        &mut self,
        key: &'static Key,
        value: Value,
        dotted: String,
        span: Range<usize>,
    ) {
        self.settings.push(Setting {
            key,
            value,
            dotted,
            span,
        });
    }

    pub(super) fn apply(&self, profile: &mut Profile) {
        for setting in &self.settings {
            setting.key.apply(profile, setting.value.clone());
        }
    }

    /// The last of these keys this table sets, to point a conflict at.
    fn last_of(&self, names: &[&str]) -> Option<(String, Range<usize>)> {
        self.settings
            .iter()
            .filter(|s| names.contains(&s.key.name))
            .max_by_key(|s| s.span.start)
            .map(|s| (s.dotted.clone(), s.span.clone()))
    }
}

/// Full host networking and an allowlist exclude each other.
pub(super) fn network_conflict(profile: &Profile) -> bool {
    profile.allow_network && !profile.allowed_hosts.is_empty()
}

/// A rule across keys that a resolved profile breaks: its message and the
/// keys to point at.
fn conflict(profile: &Profile) -> Option<(&'static str, &'static [&'static str])> {
    if network_conflict(profile) {
        return Some((NETWORK_CONFLICT, &["allow_network", "allowed_hosts"]));
    }
    let docker = match (profile.backend, &profile.docker_image) {
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
    if let Some(message) = docker {
        return Some((message, &["backend", "docker_image"]));
    }
    if profile.rootfs.is_some() && profile.image.is_some() {
        return Some((ROOT_CONFLICT, &["rootfs", "image"]));
    }
    None
}

impl Checker<'_> {
    /// Applies `extends` and fills defaults. Reports unknown parents and cycles;
    /// the returned map is only meaningful when no diagnostics were recorded.
    pub(super) fn resolve(
        &mut self,
        overrides: &BTreeMap<String, Overrides>,
    ) -> BTreeMap<String, Profile> {
        self.unknown_parents(overrides);
        self.cycles(overrides);

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
            if let Some((message, keys)) = conflict(&profile) {
                // Pointed at the nearest table that set one of the keys; the
                // profile's own header when they all came from the defaults.
                let (key, span) = chain
                    .iter()
                    .find_map(|o| o.last_of(keys))
                    .unwrap_or_else(|| (format!("profiles.{}", key_segment(name)), 0..0));
                self.error(span, &key, message);
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

    fn unknown_parents(&mut self, overrides: &BTreeMap<String, Overrides>) {
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
        self.profile = None;
    }

    /// Each cycle once, at its first member.
    fn cycles(&mut self, overrides: &BTreeMap<String, Overrides>) {
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
    }
}
