//! `cp` and `files`: files in and out of a sandbox's workspace.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::format::{age, bytes};
use super::verbs::open_manager;
use super::{table, Global};
use crate::escape::for_terminal;
use crate::state::db::now_ms;

#[derive(Debug, clap::Args)]
pub struct CpArgs {
    /// Source: a host path, or NAME:path inside a sandbox's workspace
    pub src: OsString,
    /// Destination: a host path, or NAME:path; exactly one side is NAME:path
    pub dest: OsString,
}

#[derive(Debug, clap::Args)]
pub struct FilesArgs {
    /// Sandbox name
    pub name: String,
    /// Directory (or file) inside the workspace, relative to it
    #[arg(default_value = "")]
    pub path: String,
}

/// `NAME:path` -> (NAME, path). Like `docker cp`, a colon before any '/'
/// means a sandbox; write `./a:b` for a host file whose name has a colon.
/// Paths are bytes, UTF-8 or not, on both sides; a sandbox's name is text.
fn split_remote(arg: &OsStr) -> Option<(&str, &OsStr)> {
    let bytes = arg.as_bytes();
    let colon = bytes.iter().position(|&b| b == b':')?;
    let name = std::str::from_utf8(&bytes[..colon]).ok()?;
    if name.is_empty() || name.contains('/') {
        return None;
    }
    Some((name, OsStr::from_bytes(&bytes[colon + 1..])))
}

pub fn cp(global: &Global, args: CpArgs) -> anyhow::Result<i32> {
    let copied = match (split_remote(&args.src), split_remote(&args.dest)) {
        (Some(_), Some(_)) => {
            anyhow::bail!("both sides name a sandbox; one side of cp must be a host path")
        }
        (None, None) => anyhow::bail!(
            "neither side names a sandbox; write one side as NAME:path (e.g. box1:notes.txt)"
        ),
        (Some((name, inside)), None) => {
            open_manager(global)?.copy_out(name, inside, Path::new(&args.dest))?
        }
        (None, Some((name, inside))) => {
            open_manager(global)?.copy_in(name, Path::new(&args.src), inside)?
        }
    };
    if global.json {
        outln!("{}", serde_json::to_string(&copied)?);
    } else {
        outln!(
            "copied {} ({}) to {}",
            for_terminal(&copied.from),
            bytes(copied.bytes),
            for_terminal(&copied.to)
        );
    }
    Ok(0)
}

pub fn files(global: &Global, args: FilesArgs) -> anyhow::Result<i32> {
    let manager = open_manager(global)?;
    let entries = manager.list_files(&args.name, &args.path)?;
    if global.json {
        outln!("{}", serde_json::to_string(&entries)?);
        return Ok(0);
    }
    let now = now_ms();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            vec![
                e.kind.to_string(),
                bytes(e.size),
                age(e.mtime, now),
                e.name.clone(),
            ]
        })
        .collect();
    table::print(&["TYPE", "SIZE", "MODIFIED", "NAME"], &rows);
    Ok(0)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    fn split_remote(arg: &str) -> Option<(&str, &str)> {
        super::split_remote(OsStr::new(arg)).map(|(n, p)| (n, p.to_str().expect("utf-8")))
    }

    #[test]
    fn non_utf8_paths_split_too() {
        let arg = OsStr::from_bytes(b"box:dir/\xffname");
        assert_eq!(
            super::split_remote(arg),
            Some(("box", OsStr::from_bytes(b"dir/\xffname")))
        );
        assert_eq!(super::split_remote(OsStr::from_bytes(b"\xff:x")), None);
    }

    #[test]
    fn remote_syntax() {
        assert_eq!(split_remote("box:a/b"), Some(("box", "a/b")));
        assert_eq!(split_remote("box:"), Some(("box", "")));
        assert_eq!(
            split_remote("box:/etc/passwd"),
            Some(("box", "/etc/passwd"))
        );
        assert_eq!(split_remote("./a:b"), None);
        assert_eq!(split_remote("/tmp/x:y"), None);
        assert_eq!(split_remote(":x"), None);
        assert_eq!(split_remote("plain"), None);
    }
}
