//! The on-disk layout of the state directory, and removing a workspace safely.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::dir::Dir;
use nix::fcntl::{openat, OFlag};
use nix::sys::stat::{fchmod, fchmodat, fstatat, FchmodatFlags, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};

use crate::fsops::rename_no_replace;

/// Make the state directory, private (0700), if it is not there yet.
pub fn make_state_dir(state_dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(state_dir)
}

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
///
/// A tree of any depth takes two descriptors at a time, not one per level
/// (a sandbox can nest directories far deeper than `RLIMIT_NOFILE`): the
/// walk descends with `openat` and comes back up through `..`, checking
/// that `..` is the directory it came from (device and inode), so a
/// directory moved meanwhile stops the removal instead of leading it
/// elsewhere.
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
    remove_entry(&parent_fd, name, &stat, &mut skipped).map_err(err)?;
    Ok(skipped)
}

/// A directory on the way down: who it is, its name in its parent, and
/// the subdirectories still to remove.
struct Level {
    id: (u64, u64),
    name: std::ffi::OsString,
    subdirs: Vec<std::ffi::OsString>,
}

fn id_of(stat: &FileStat) -> (u64, u64) {
    (stat.st_dev, stat.st_ino)
}

const DIR_FLAGS: OFlag = OFlag::O_RDONLY
    .union(OFlag::O_DIRECTORY)
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_CLOEXEC);

/// Open the directory `name` of `parent` if it is still the one `stat`
/// describes, and list it: everything but directories is unlinked at
/// once, directories are returned for later. None when it was swapped
/// after the stat (left alone).
fn enter(
    parent: &OwnedFd,
    name: &OsStr,
    stat: &FileStat,
) -> nix::Result<Option<(OwnedFd, Vec<std::ffi::OsString>)>> {
    let dir_fd = match openat(parent, name, DIR_FLAGS, Mode::empty()) {
        // Made unreadable by the sandbox: without root it opens only once
        // readable again. NoFollowSymlink: a symlink swapped in is refused.
        Err(nix::Error::EACCES) => {
            fchmodat(parent, name, Mode::S_IRWXU, FchmodatFlags::NoFollowSymlink)?;
            openat(parent, name, DIR_FLAGS, Mode::empty())?
        }
        opened => opened?,
    };
    if id_of(&nix::sys::stat::fstat(&dir_fd)?) != id_of(stat) {
        return Ok(None);
    }
    // The sandbox may have made its directories unwritable or unreadable.
    let _ = fchmod(&dir_fd, Mode::S_IRWXU);
    let mut subdirs = Vec::new();
    for child in entry_names(&dir_fd)? {
        let child_stat = match fstatat(
            &dir_fd,
            child.as_os_str(),
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        ) {
            Ok(s) => s,
            Err(nix::Error::ENOENT) => continue,
            Err(e) => return Err(e),
        };
        if is_dir(&child_stat) {
            subdirs.push(child);
        } else {
            unlinkat(&dir_fd, child.as_os_str(), UnlinkatFlags::NoRemoveDir)?;
        }
    }
    Ok(Some((dir_fd, subdirs)))
}

/// rmdir that tolerates what skipped mount points below leave behind.
fn remove_dir(parent: &OwnedFd, name: &OsStr, skipped: u64) -> nix::Result<()> {
    match unlinkat(parent, name, UnlinkatFlags::RemoveDir) {
        // A skipped mount point below keeps this directory non-empty.
        Err(nix::Error::ENOTEMPTY) | Err(nix::Error::EBUSY) if skipped > 0 => Ok(()),
        other => other,
    }
}

fn remove_entry(
    parent: &OwnedFd,
    name: &OsStr,
    stat: &FileStat,
    skipped: &mut u64,
) -> nix::Result<()> {
    if !is_dir(stat) {
        return unlinkat(parent, name, UnlinkatFlags::NoRemoveDir);
    }
    let root_dev = stat.st_dev;
    let Some((mut current, subdirs)) = enter(parent, name, stat)? else {
        // Swapped between the stat and the open: do not touch it.
        *skipped += 1;
        return Ok(());
    };
    let mut levels = vec![Level {
        id: id_of(stat),
        name: name.to_os_string(),
        subdirs,
    }];
    loop {
        let Some(top) = levels.last_mut() else {
            return Ok(());
        };
        if let Some(child) = top.subdirs.pop() {
            let child_stat = match fstatat(
                &current,
                child.as_os_str(),
                nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
            ) {
                Ok(s) => s,
                Err(nix::Error::ENOENT) => continue,
                Err(e) => return Err(e),
            };
            if !is_dir(&child_stat) {
                unlinkat(&current, child.as_os_str(), UnlinkatFlags::NoRemoveDir)?;
                continue;
            }
            if child_stat.st_dev != root_dev {
                // A mount point inside the workspace: leave it and everything on it.
                *skipped += 1;
                continue;
            }
            match enter(&current, &child, &child_stat)? {
                Some((fd, subdirs)) => {
                    current = fd;
                    levels.push(Level {
                        id: id_of(&child_stat),
                        name: child,
                        subdirs,
                    });
                }
                None => *skipped += 1,
            }
            continue;
        }
        // Everything below `top` is gone: up to its parent, and remove it.
        let done = levels.pop();
        let Some(done) = done else { return Ok(()) };
        let Some(up) = levels.last() else {
            drop(current);
            return remove_dir(parent, &done.name, *skipped);
        };
        let up_fd = openat(&current, "..", DIR_FLAGS, Mode::empty())?;
        if id_of(&nix::sys::stat::fstat(&up_fd)?) != up.id {
            // Moved while we were below it: `..` is no longer the
            // directory we came from, and nothing outside is ours to touch.
            return Err(nix::Error::ESTALE);
        }
        current = up_fd;
        remove_dir(&current, &done.name, *skipped)?;
    }
}

/// Empty sandbox directories kept between ephemeral sandboxes (`run`).
/// Making and deleting a sandbox directory and its workspace costs ext4 a
/// block and a journal update each way and, on a file system mounted with
/// `discard`, a synchronous discard of the freed blocks on every rmdir.
/// A rename costs neither.
const SPARE_SLOTS: u32 = 4;

/// The mode of a workspace handed out again.
const SPARE_WORKSPACE_MODE: u32 = 0o755;

fn spare_path(sandboxes: &Path, slot: u32) -> PathBuf {
    // Sandbox names cannot start with a dot: no sandbox is ever called this.
    sandboxes.join(format!(".spare-{slot}"))
}

/// Move a kept sandbox directory into place as `dir`, whose `workspace` is
/// then ready and empty. False when none is kept (or `dir` exists): the
/// caller makes one.
pub fn take_spare(dir: &Path) -> bool {
    let Some(sandboxes) = dir.parent() else {
        return false;
    };
    (0..SPARE_SLOTS).any(|slot| rename_no_replace(&spare_path(sandboxes, slot), dir).is_ok())
}

/// Keep `dir`, the directory of an ephemeral sandbox whose command has
/// ended, for the next one, if it is exactly what a fresh one would be:
/// nothing in it but an empty `workspace` directory of ours (or, as root,
/// of its sandbox's uid), without extended attributes, with the inode flags
/// (`chattr`: sync, dirsync, noatime, nodump...) a fresh directory gets,
/// which are those of `dir` itself, out of the sandbox's reach; its owner,
/// mode and group are reset (its times are when it is taken, see the caller
/// of [`take_spare`]), so that nothing of one run reaches the next. False
/// when it is not, or every slot is taken: the caller deletes it.
pub fn give_back_spare(dir: &Path) -> bool {
    let Some(sandboxes) = dir.parent() else {
        return false;
    };
    let clean = || -> nix::Result<bool> {
        let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        let outer = nix::fcntl::open(dir, flags, Mode::empty())?;
        if entry_names(&outer)? != [OsStr::new("workspace")] {
            return Ok(false);
        }
        let workspace = openat(&outer, "workspace", flags, Mode::empty())?;
        let stat = nix::sys::stat::fstat(&workspace)?;
        let euid = nix::unistd::geteuid();
        // As root, a sandbox's workspace is its own uid's (see `Manager::create`).
        if (stat.st_uid != euid.as_raw() && !euid.is_root())
            || stat.st_nlink != 2
            || !entry_names(&workspace)?.is_empty()
            || has_xattrs(&workspace)?
            || inode_flags(&workspace)? != inode_flags(&outer)?
        {
            return Ok(false);
        }
        if stat.st_uid != euid.as_raw() || stat.st_gid != nix::unistd::getegid().as_raw() {
            // Ours again, until the next run's uid takes it.
            nix::unistd::fchown(&workspace, Some(euid), Some(nix::unistd::getegid()))?;
        }
        fchmod(&workspace, Mode::from_bits_truncate(SPARE_WORKSPACE_MODE))?;
        let outer_stat = nix::sys::stat::fstat(&outer)?;
        if stat.st_gid != outer_stat.st_gid {
            nix::unistd::fchown(
                &workspace,
                None,
                Some(nix::unistd::Gid::from_raw(outer_stat.st_gid)),
            )?;
        }
        Ok(true)
    };
    if !clean().unwrap_or(false) {
        return false;
    }
    (0..SPARE_SLOTS).any(|slot| rename_no_replace(dir, &spare_path(sandboxes, slot)).is_ok())
}

/// Names in the directory `fd`, without `.` and `..`.
fn entry_names(fd: &OwnedFd) -> nix::Result<Vec<std::ffi::OsString>> {
    let dup = fd.try_clone().map_err(|_| nix::Error::EMFILE)?;
    let mut dir = Dir::from_fd(dup)?;
    let mut names = Vec::new();
    for entry in dir.iter() {
        let name = entry?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(OsStr::from_bytes(&name).to_os_string());
        }
    }
    Ok(names)
}

/// The inode flags of `fd` (`lsattr`, FS_IOC_GETFLAGS); a file system
/// without them has none.
fn inode_flags(fd: &OwnedFd) -> nix::Result<libc::c_long> {
    use std::os::fd::AsRawFd;
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`, which outlives the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) };
    if ret == 0 {
        return Ok(flags);
    }
    match nix::Error::last() {
        nix::Error::ENOTTY | nix::Error::EOPNOTSUPP | nix::Error::EINVAL => Ok(0),
        e => Err(e),
    }
}

/// Whether `fd` carries any extended attribute (user.*, an ACL, ...). A
/// file system without them has none.
fn has_xattrs(fd: &OwnedFd) -> nix::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: a size query (null buffer, length 0) on a descriptor we own.
    let len = unsafe { libc::flistxattr(fd.as_raw_fd(), std::ptr::null_mut(), 0) };
    match len {
        0 => Ok(false),
        n if n > 0 => Ok(true),
        _ => match nix::Error::last() {
            nix::Error::ENOTSUP => Ok(false),
            e => Err(e),
        },
    }
}

fn is_dir(stat: &FileStat) -> bool {
    SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR
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
    fn deep_trees_go_without_a_descriptor_per_level() {
        let host = tempfile::tempdir().expect("tempdir");
        std::fs::write(host.path().join("keep"), "x").expect("write");
        let ws = tempfile::tempdir().expect("tempdir");
        let root = ws.path().join("workspace");
        std::fs::create_dir(&root).expect("mkdir");
        // 3000 levels, each with a file and a symlink out, built through
        // descriptors (the path is far longer than PATH_MAX).
        let mut dir = nix::fcntl::open(&root, DIR_FLAGS, Mode::empty()).expect("open");
        for _ in 0..3000 {
            nix::sys::stat::mkdirat(&dir, "d", Mode::S_IRWXU).expect("mkdirat");
            let file = openat(
                &dir,
                "f",
                OFlag::O_CREAT | OFlag::O_WRONLY | OFlag::O_CLOEXEC,
                Mode::S_IRUSR,
            )
            .expect("file");
            drop(file);
            nix::unistd::symlinkat(host.path(), &dir, "out").expect("symlink");
            dir = openat(&dir, "d", DIR_FLAGS, Mode::empty()).expect("descend");
        }
        drop(dir);
        assert_eq!(remove_tree(&root).expect("remove"), 0);
        assert!(!root.exists());
        assert!(host.path().join("keep").exists());
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

    fn fresh_sandbox_dir(sandboxes: &Path, name: &str) -> PathBuf {
        let dir = sandboxes.join(name);
        std::fs::create_dir_all(dir.join("workspace")).expect("mkdir");
        dir
    }

    #[test]
    fn spare_sandbox_dirs_are_reused_only_when_untouched() {
        let state = tempfile::tempdir().expect("tempdir");
        let sandboxes = state.path();
        assert!(!take_spare(&sandboxes.join("run-1")), "no spare yet");

        let dir = fresh_sandbox_dir(sandboxes, "run-1");
        std::fs::set_permissions(
            dir.join("workspace"),
            std::os::unix::fs::PermissionsExt::from_mode(0o777),
        )
        .expect("chmod");
        assert!(give_back_spare(&dir));
        assert!(!dir.exists());
        let again = sandboxes.join("run-2");
        assert!(take_spare(&again));
        let meta = std::fs::metadata(again.join("workspace")).expect("workspace");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777,
            SPARE_WORKSPACE_MODE
        );
        assert!(!take_spare(&sandboxes.join("run-3")), "only one was kept");

        // A file, a second entry, or an extended attribute: not reused.
        std::fs::write(again.join("workspace/left"), "x").expect("write");
        assert!(!give_back_spare(&again));
        let other = fresh_sandbox_dir(sandboxes, "run-4");
        std::fs::write(other.join("extra"), "x").expect("write");
        assert!(!give_back_spare(&other));
        let tagged = fresh_sandbox_dir(sandboxes, "run-5");
        let ws =
            std::ffi::CString::new(tagged.join("workspace").as_os_str().as_bytes()).expect("path");
        // SAFETY: a NUL-terminated path and a value buffer that outlive the call.
        let set = unsafe {
            libc::setxattr(
                ws.as_ptr(),
                c"user.note".as_ptr(),
                b"from the last run".as_ptr().cast(),
                17,
                0,
            )
        };
        if set == 0 {
            assert!(!give_back_spare(&tagged));
        }
        // An inode flag (chattr +S) a fresh directory does not have: not reused.
        let synced = fresh_sandbox_dir(sandboxes, "run-7");
        let ws = nix::fcntl::open(
            &synced.join("workspace"),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )
        .expect("open");
        let flags = inode_flags(&ws).expect("flags") | 0x8;
        // SAFETY: FS_IOC_SETFLAGS reads one long from `flags`, which outlives the call.
        let set = unsafe {
            libc::ioctl(
                std::os::fd::AsRawFd::as_raw_fd(&ws),
                libc::FS_IOC_SETFLAGS,
                &flags,
            )
        };
        if set == 0 {
            assert!(!give_back_spare(&synced));
        }
        // A workspace replaced by a symlink is not followed.
        let linked = sandboxes.join("run-6");
        std::fs::create_dir(&linked).expect("mkdir");
        symlink(state.path(), linked.join("workspace")).expect("symlink");
        assert!(!give_back_spare(&linked));

        // At most SPARE_SLOTS are kept.
        for i in 0..SPARE_SLOTS + 2 {
            let dir = fresh_sandbox_dir(sandboxes, &format!("many-{i}"));
            assert_eq!(give_back_spare(&dir), i < SPARE_SLOTS, "slot {i}");
        }
    }

    #[test]
    fn missing_path_is_fine() {
        assert_eq!(
            remove_tree(Path::new("/nonexistent/sandbox-tui/x")).expect("ok"),
            0
        );
    }
}
