//! /proc/self/mountinfo, reduced to what cgroup detection needs.

use std::path::{Path, PathBuf};

/// One line of /proc/self/mountinfo, reduced to what we need.
#[derive(Debug, Clone)]
pub(super) struct MountEntry {
    pub(super) root: String,
    pub(super) mount_point: PathBuf,
    pub(super) fstype: String,
    pub(super) super_opts: Vec<String>,
}

pub(super) fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    let mut out = Vec::new();
    for line in text.lines() {
        // id parent maj:min root mount_point opts [optional...] - fstype source super_opts
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        if left.len() < 5 || right.len() < 3 {
            continue;
        }
        out.push(MountEntry {
            root: unescape_mount(left[3]),
            mount_point: PathBuf::from(unescape_mount(left[4])),
            fstype: right[0].to_string(),
            super_opts: right[2].split(',').map(str::to_string).collect(),
        });
    }
    out
}

/// mountinfo escapes space, tab, newline and backslash as \ooo.
pub(super) fn unescape_mount(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The cgroup2 mount: the conventional path if mounted there, else the first.
pub(super) fn find_cgroup2(mounts: &[MountEntry], hybrid: bool) -> Option<&MountEntry> {
    let preferred = if hybrid {
        "/sys/fs/cgroup/unified"
    } else {
        "/sys/fs/cgroup"
    };
    let mut v2 = mounts.iter().filter(|m| m.fstype == "cgroup2");
    v2.clone()
        .find(|m| m.mount_point == Path::new(preferred))
        .or_else(|| v2.next())
}
