//! The on-disk layout of the state directory, and removing a workspace safely.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, fstatat, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

/// Where state lives: `--state-dir`, else `$SANDBOX_TUI_STATE_DIR`, else
/// `state_dir` from `sandboxes.toml`, else `/var/lib/sandbox-tui` as root and
/// `$XDG_STATE_HOME/sandbox-tui` (default `~/.local/state/sandbox-tui`) otherwise.
pub fn resolve_state_dir(flag: Option<&Path>, from_config: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("SANDBOX_TUI_STATE_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = from_config {
        return dir.to_path_buf();
    }
    if nix::unistd::geteuid().is_root() {
        return PathBuf::from("/var/lib/sandbox-tui");
    }
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("sandbox-tui")
}

#[derive(Debug, thiserror::Error)]
#[error("removing {}: {source}", path.display())]
pub struct RemoveError {
    pub path: PathBuf,
    #[source]
    pub source: nix::Error,
}

/// Delete `path` and everything below it without following symlinks and
/// without crossing into other file systems: a workspace that holds a symlink
/// to a host directory, or a bind mount, loses the link, never the host's files.
/// Returns the number of entries left behind because they sit on another mount.
pub fn remove_tree(path: &Path) -> Result<u64, RemoveError> {
    let err = |source| RemoveError {
        path: path.to_path_buf(),
        source,
    };
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = match path.file_name() {
        Some(n) => n,
        None => return Err(err(nix::Error::EINVAL)),
    };
    let parent_fd = match nix::fcntl::open(
        parent,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(nix::Error::ENOENT) => return Ok(0),
        Err(e) => return Err(err(e)),
    };
    let stat = match fstatat(&parent_fd, name, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(s) => s,
        Err(nix::Error::ENOENT) => return Ok(0),
        Err(e) => return Err(err(e)),
    };
    let mut skipped = 0;
    remove_entry(&parent_fd, name, &stat, stat.st_dev, &mut skipped).map_err(err)?;
    Ok(skipped)
}

fn is_dir(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
}

fn remove_entry(
    parent: &OwnedFd,
    name: &OsStr,
    stat: &FileStat,
    root_dev: u64,
    skipped: &mut u64,
) -> nix::Result<()> {
    if !is_dir(stat) {
        return unlinkat(parent, name, UnlinkatFlags::NoRemoveDir);
    }
    if stat.st_dev != root_dev {
        // A mount point inside the workspace: leave it and everything on it.
        *skipped += 1;
        return Ok(());
    }
    let dir_fd = openat(
        parent,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let check = nix::sys::stat::fstat(&dir_fd)?;
    if check.st_dev != stat.st_dev || check.st_ino != stat.st_ino {
        // Swapped between the stat and the open: do not touch it.
        *skipped += 1;
        return Ok(());
    }
    // The sandbox may have made its directories unwritable or unreadable.
    let _ = fchmod(&dir_fd, Mode::S_IRWXU);
    let mut names = Vec::new();
    {
        let dup = dir_fd.try_clone().map_err(|_| nix::Error::EMFILE)?;
        let mut dir = Dir::from_fd(dup)?;
        for entry in dir.iter() {
            let entry = entry?;
            let entry_name = entry.file_name().to_bytes();
            if entry_name == b"." || entry_name == b".." {
                continue;
            }
            names.push(OsStr::from_bytes(entry_name).to_os_string());
        }
    }
    for child in names {
        let child_stat = match fstatat(
            &dir_fd,
            child.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(s) => s,
            Err(nix::Error::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        remove_entry(&dir_fd, &child, &child_stat, root_dev, skipped)?;
    }
    drop(dir_fd);
    match unlinkat(parent, name, UnlinkatFlags::RemoveDir) {
        // A skipped mount point below keeps this directory non-empty.
        Err(nix::Error::ENOTEMPTY) | Err(nix::Error::EBUSY) if *skipped > 0 => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn removes_tree_but_not_symlink_targets() {
        let host = tempfile::tempdir().expect("tempdir");
        let precious = host.path().join("precious.txt");
        std::fs::write(&precious, "keep me").expect("write");
        let ws = tempfile::tempdir().expect("tempdir");
        let root = ws.path().join("workspace");
        std::fs::create_dir_all(root.join("a/b/c")).expect("mkdir");
        std::fs::write(root.join("a/b/c/file"), "x").expect("write");
        symlink(host.path(), root.join("a/link-to-host")).expect("symlink");
        symlink(&precious, root.join("file-link")).expect("symlink");
        std::fs::set_permissions(
            root.join("a/b"),
            std::os::unix::fs::PermissionsExt::from_mode(0o000),
        )
        .expect("chmod");
        let skipped = remove_tree(&root).expect("remove");
        assert_eq!(skipped, 0);
        assert!(!root.exists());
        assert_eq!(std::fs::read_to_string(&precious).expect("read"), "keep me");
    }

    #[test]
    fn top_level_symlink_is_unlinked_not_followed() {
        let host = tempfile::tempdir().expect("tempdir");
        std::fs::write(host.path().join("f"), "x").expect("write");
        let ws = tempfile::tempdir().expect("tempdir");
        let link = ws.path().join("workspace");
        symlink(host.path(), &link).expect("symlink");
        remove_tree(&link).expect("remove");
        assert!(host.path().join("f").exists());
        assert!(std::fs::symlink_metadata(&link).is_err());
    }

    #[test]
    fn missing_path_is_fine() {
        assert_eq!(
            remove_tree(Path::new("/nonexistent/sandbox-tui/x")).expect("ok"),
            0
        );
    }
}
