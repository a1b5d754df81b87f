//! Files in and out of a sandbox's workspace: `cp`, `files`, and the
//! dashboard's file viewer.
//!
//! The workspace belongs to the sandbox: whatever ran there may have planted
//! symlinks or FIFOs, and may still be running while we copy. So every path is
//! resolved by the kernel beneath a descriptor of the workspace (`openat2`
//! with `RESOLVE_BENEATH`), never by string checks alone, and writes go
//! through the directory descriptor resolved that way, so a symlink swapped in
//! afterwards cannot redirect them.

use std::ffi::{CString, OsStr};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use nix::dir::Dir;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode, SFlag};
use nix::unistd::{unlinkat, UnlinkatFlags};
use serde::Serialize;

/// How much of a file the dashboard's viewer reads.
pub const VIEW_HEAD_BYTES: usize = 64 * 1024;

// From linux/openat2.h; libc does not export them on every target.
const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
const RESOLVE_BENEATH: u64 = 0x08;
const RESOLVE_IN_ROOT: u64 = 0x10;

/// `struct open_how` of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("{path:?}: absolute paths are refused; a path inside a sandbox is relative to its workspace")]
    Absolute { path: String },
    #[error("{path:?}: '..' is refused; a path inside a sandbox stays in its workspace")]
    ParentDir { path: String },
    #[error("{path:?} leads outside the workspace (through a symlink); refused")]
    Escapes { path: String },
    #[error("{path:?} goes through a symlink that cannot be followed safely; refused")]
    Symlink { path: String },
    #[error("{path:?}: no such file or directory")]
    NotFound { path: String },
    #[error("{path:?}: a part of the path is not a directory")]
    NotADirectory { path: String },
    #[error("{path:?} is a directory: only single regular files are copied or deleted (archive a directory with tar inside the sandbox, then copy the archive)")]
    IsDirectory { path: String },
    #[error("{path:?} is a {kind}, not a regular file; refused")]
    NotRegular { path: String, kind: &'static str },
    #[error(
        "{path:?} is {size} bytes, over max_file_size_mb = {limit_mb} of the sandbox's profile"
    )]
    TooLarge {
        path: String,
        size: u64,
        limit_mb: u64,
    },
    #[error("{path:?} grew past max_file_size_mb = {limit_mb} of the sandbox's profile while it was copied")]
    Grew { path: String, limit_mb: u64 },
    #[error("{what} {path:?}: {source}")]
    Io {
        what: &'static str,
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io_err(what: &'static str, path: impl Into<String>) -> impl FnOnce(io::Error) -> FilesError {
    let path = path.into();
    move |source| FilesError::Io { what, path, source }
}

fn errno_err(what: &'static str, path: impl Into<String>) -> impl FnOnce(Errno) -> FilesError {
    let path = path.into();
    move |errno| FilesError::Io {
        what,
        path,
        source: io::Error::from(errno),
    }
}

/// What resolving `path` beneath the workspace failed with, in the user's terms.
fn resolve_err(path: &str) -> impl FnOnce(Errno) -> FilesError + '_ {
    move |errno| {
        let path = path.to_owned();
        match errno {
            Errno::EXDEV => FilesError::Escapes { path },
            Errno::ELOOP => FilesError::Symlink { path },
            Errno::ENOENT => FilesError::NotFound { path },
            Errno::ENOTDIR => FilesError::NotADirectory { path },
            other => FilesError::Io {
                what: "opening",
                path,
                source: io::Error::from(other),
            },
        }
    }
}

/// One entry of a workspace listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub name: String,
    /// `file`, `dir`, `symlink`, `fifo`, `socket`, `char`, `block` or `other`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub size: u64,
    /// Milliseconds since the Unix epoch, like every other timestamp here.
    pub mtime: i64,
}

/// The first bytes of a file, for a viewer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileHead {
    pub data: Vec<u8>,
    /// The whole file's size when it was opened.
    pub size: u64,
    pub truncated: bool,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Copied {
    pub sandbox: String,
    /// `NAME:path` or a host path, as for `cp`.
    pub from: String,
    pub to: String,
    pub bytes: u64,
}

/// A path inside the workspace as relative, plain components. `..` and
/// absolute paths are refused here for a clear message; the kernel still
/// does the real confinement when the path is opened.
/// Any bytes but NUL make a name: a path need not be UTF-8.
pub fn parse_inside(path: impl AsRef<OsStr>) -> Result<PathBuf, FilesError> {
    let raw = path.as_ref();
    let path = &*raw.to_string_lossy();
    if raw.as_bytes().contains(&0) {
        return Err(FilesError::Invalid(format!(
            "{path:?}: a path must not contain NUL"
        )));
    }
    let mut rel = PathBuf::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => rel.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err(FilesError::ParentDir {
                    path: path.to_owned(),
                })
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err(FilesError::Absolute {
                    path: path.to_owned(),
                })
            }
        }
    }
    Ok(rel)
}

fn c_path(path: &Path) -> Result<CString, Errno> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)
}

/// openat2(2) confined beneath `dir`, without magic links (/proc/PID/fd/...).
fn openat2_beneath(dir: BorrowedFd<'_>, path: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    openat2(dir, path, flags, RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS)
}

/// openat2(2) with every path resolved as if `dir` were `/` (`..` and
/// absolute symlinks stay inside), without magic links: for unpacking an
/// image as it will see itself.
pub(crate) fn openat2_in_root(
    dir: BorrowedFd<'_>,
    path: &Path,
    flags: OFlag,
) -> Result<OwnedFd, Errno> {
    openat2(
        dir,
        path,
        flags | OFlag::O_CLOEXEC,
        RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    )
}

fn openat2(dir: BorrowedFd<'_>, path: &Path, flags: OFlag, resolve: u64) -> Result<OwnedFd, Errno> {
    let path = c_path(path)?;
    let how = OpenHow {
        // The flag bits are non-negative, so the widening keeps them as they are.
        flags: flags.bits() as u64,
        mode: 0,
        resolve,
    };
    // SAFETY: `path` is a NUL-terminated string and `how` a properly laid out
    // `struct open_how`; both outlive the call, which only reads them.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            dir.as_raw_fd(),
            path.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    if ret < 0 {
        return Err(Errno::last());
    }
    let fd = RawFd::try_from(ret).map_err(|_| Errno::EBADF)?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Kernels before 5.6 have no openat2: walk the path one component at a time,
/// refusing every symlink on the way (stricter than openat2, never looser).
fn open_walk(root: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let mut parts: Vec<&OsStr> = Vec::new();
    for component in rel.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            _ => return Err(Errno::EXDEV),
        }
    }
    let last = parts.pop();
    let mut dir: Option<OwnedFd> = None;
    for part in parts {
        let base = dir.as_ref().map_or(root, |d| d.as_fd());
        let next = nix::fcntl::openat(
            base,
            part,
            OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| symlink_or(base, part, e))?;
        dir = Some(next);
    }
    let base = dir.as_ref().map_or(root, |d| d.as_fd());
    let last = last.unwrap_or(OsStr::new("."));
    nix::fcntl::openat(base, last, flags | OFlag::O_NOFOLLOW, Mode::empty())
        .map_err(|e| symlink_or(base, last, e))
}

/// O_NOFOLLOW reports a symlink as ENOTDIR or ELOOP depending on the flags; say ELOOP.
fn symlink_or(dir: BorrowedFd<'_>, name: &OsStr, errno: Errno) -> Errno {
    match fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(stat) if file_kind(&stat) == "symlink" => Errno::ELOOP,
        _ => errno,
    }
}

/// Open `rel` (from `parse_inside`) beneath the workspace descriptor `root`.
fn open_beneath(root: BorrowedFd<'_>, rel: &Path, flags: OFlag) -> Result<OwnedFd, Errno> {
    let target = if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    };
    match openat2_beneath(root, target, flags | OFlag::O_CLOEXEC) {
        Err(Errno::ENOSYS) => open_walk(root, rel, flags | OFlag::O_CLOEXEC),
        other => other,
    }
}

fn open_workspace(workspace: &Path) -> Result<OwnedFd, FilesError> {
    nix::fcntl::open(
        workspace,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno_err(
        "opening the workspace",
        workspace.display().to_string(),
    ))
}

fn file_kind(stat: &FileStat) -> &'static str {
    let format = SFlag::from_bits_truncate(stat.st_mode) & SFlag::S_IFMT;
    match format {
        SFlag::S_IFREG => "file",
        SFlag::S_IFDIR => "dir",
        SFlag::S_IFLNK => "symlink",
        SFlag::S_IFIFO => "fifo",
        SFlag::S_IFSOCK => "socket",
        SFlag::S_IFCHR => "char",
        SFlag::S_IFBLK => "block",
        _ => "other",
    }
}

fn require_regular(path: &str, kind: &'static str) -> Result<(), FilesError> {
    match kind {
        "file" => Ok(()),
        "dir" => Err(FilesError::IsDirectory {
            path: path.to_owned(),
        }),
        kind => Err(FilesError::NotRegular {
            path: path.to_owned(),
            kind,
        }),
    }
}

fn limit_bytes(limit_mb: u64) -> u64 {
    limit_mb.saturating_mul(1024 * 1024)
}

fn check_size(path: &str, size: u64, limit_mb: u64) -> Result<(), FilesError> {
    if size > limit_bytes(limit_mb) {
        Err(FilesError::TooLarge {
            path: path.to_owned(),
            size,
            limit_mb,
        })
    } else {
        Ok(())
    }
}

/// Copied files keep whether they are executable, nothing else: no setuid,
/// and nothing world-writable from a sandbox's chmod.
fn copy_mode(source_mode: u32) -> u32 {
    if source_mode & 0o100 != 0 {
        0o755
    } else {
        0o644
    }
}

fn mtime_ms(stat: &FileStat) -> i64 {
    stat.st_mtime
        .saturating_mul(1000)
        .saturating_add(stat.st_mtime_nsec / 1_000_000)
}

fn temp_name(name: &OsStr) -> PathBuf {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let mut tmp = std::ffi::OsString::from(".");
    tmp.push(name);
    tmp.push(format!(
        ".sandbox-tui-{}-{n}-{nanos}.tmp",
        std::process::id()
    ));
    PathBuf::from(tmp)
}

/// Copy up to `limit_mb` from `from` into `to`; `Err(())` when there was more.
fn copy_capped(from: &mut File, to: &mut File, limit_mb: u64) -> io::Result<Result<u64, ()>> {
    let limit = limit_bytes(limit_mb);
    // One byte more than allowed tells a file that grew after the size check.
    let copied = io::copy(&mut from.take(limit.saturating_add(1)), to)?;
    Ok(if copied > limit { Err(()) } else { Ok(copied) })
}

/// Copy the regular file `inside` of the workspace to the host path `dest`
/// (into it, under the same name, when `dest` is a directory).
pub fn copy_out(
    workspace: &Path,
    inside: impl AsRef<OsStr>,
    dest: &Path,
    limit_mb: u64,
) -> Result<(u64, PathBuf), FilesError> {
    let rel = parse_inside(&inside)?;
    let inside = &*inside.as_ref().to_string_lossy();
    let root = open_workspace(workspace)?;
    // O_NONBLOCK: a FIFO planted by the sandbox must not hang us in open().
    let fd = open_beneath(
        root.as_fd(),
        &rel,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
    )
    .map_err(resolve_err(inside))?;
    let stat = fstat(&fd).map_err(errno_err("reading", inside))?;
    require_regular(inside, file_kind(&stat))?;
    check_size(inside, u64::try_from(stat.st_size).unwrap_or(0), limit_mb)?;
    let mut source = File::from(fd);

    let Some(name) = rel.file_name() else {
        return Err(FilesError::IsDirectory {
            path: inside.to_owned(),
        });
    };
    let target = if dest.is_dir() {
        dest.join(name)
    } else {
        dest.to_path_buf()
    };
    let parent = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let Some(target_name) = target.file_name() else {
        return Err(FilesError::Invalid(format!(
            "{}: not a file name",
            target.display()
        )));
    };
    let shown = target.display().to_string();
    let mut created = None;
    for _ in 0..16 {
        let tmp = parent.join(temp_name(target_name));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(copy_mode(stat.st_mode))
            .open(&tmp)
        {
            Ok(file) => {
                created = Some((tmp, file));
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("creating a file next to", shown)(e)),
        }
    }
    let Some((tmp, mut file)) = created else {
        return Err(FilesError::Invalid(format!(
            "{shown}: could not find a free temporary name"
        )));
    };
    let outcome = copy_capped(&mut source, &mut file, limit_mb)
        .map_err(io_err("copying to", shown.clone()))
        .and_then(|copied| {
            copied.map_err(|()| FilesError::Grew {
                path: inside.to_owned(),
                limit_mb,
            })
        })
        .and_then(|bytes| {
            std::fs::rename(&tmp, &target)
                .map(|()| bytes)
                .map_err(io_err("replacing", shown.clone()))
        });
    if outcome.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    Ok((outcome?, target))
}

/// Copy the host file `src` into the workspace at `inside` (into it, under
/// the same name, when `inside` is a directory), replacing atomically.
pub fn copy_in(
    workspace: &Path,
    src: &Path,
    inside: impl AsRef<OsStr>,
    limit_mb: u64,
) -> Result<(u64, String), FilesError> {
    copy_in_as(workspace, src, inside, limit_mb, None)
}

/// [`copy_in`], the new file given to `owner` (uid, and gid of the same
/// number): the sandbox's own uid, so that its commands may change it.
pub fn copy_in_as(
    workspace: &Path,
    src: &Path,
    inside: impl AsRef<OsStr>,
    limit_mb: u64,
    owner: Option<u32>,
) -> Result<(u64, String), FilesError> {
    let rel = parse_inside(&inside)?;
    let inside = &*inside.as_ref().to_string_lossy();
    let src_shown = src.display().to_string();
    let mut source = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(src)
        .map_err(io_err("opening", src_shown.clone()))?;
    let meta = source
        .metadata()
        .map_err(io_err("reading", src_shown.clone()))?;
    let kind = if meta.is_dir() {
        "dir"
    } else if meta.is_file() {
        "file"
    } else {
        "special file"
    };
    require_regular(&src_shown, kind)?;
    check_size(&src_shown, meta.len(), limit_mb)?;
    let Some(src_name) = src.file_name() else {
        return Err(FilesError::Invalid(format!("{src_shown}: not a file name")));
    };

    let root = open_workspace(workspace)?;
    let dir_flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    let (dir, name, shown) = match open_beneath(root.as_fd(), &rel, dir_flags) {
        Ok(dir) => {
            let shown = rel.join(src_name).display().to_string();
            (dir, src_name.to_owned(), shown)
        }
        // Not an existing directory: the path names the file itself.
        Err(Errno::ENOENT | Errno::ENOTDIR) if !inside.ends_with('/') => {
            let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
                return Err(FilesError::Invalid(format!("{inside:?}: not a file name")));
            };
            let dir = open_beneath(root.as_fd(), parent, dir_flags).map_err(resolve_err(inside))?;
            (dir, name.to_owned(), rel.display().to_string())
        }
        Err(e) => return Err(resolve_err(inside)(e)),
    };

    let mut created = None;
    for _ in 0..16 {
        let tmp = temp_name(&name);
        // O_EXCL | O_NOFOLLOW: the temporary name is new, never something the
        // sandbox prepared; the rename below replaces `name` itself, even
        // when it is a symlink, and never writes through it.
        match nix::fcntl::openat(
            dir.as_fd(),
            &tmp,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(copy_mode(meta_mode(&meta))),
        ) {
            Ok(fd) => {
                created = Some((tmp, File::from(fd)));
                break;
            }
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(errno_err("creating a file in", shown)(e)),
        }
    }
    let Some((tmp, mut file)) = created else {
        return Err(FilesError::Invalid(format!(
            "{shown}: could not find a free temporary name"
        )));
    };
    // Through the descriptor: the file made just now, whatever the name.
    let owned = match owner {
        Some(uid) => nix::unistd::fchown(
            &file,
            Some(nix::unistd::Uid::from_raw(uid)),
            Some(nix::unistd::Gid::from_raw(uid)),
        )
        .map_err(errno_err("giving to the sandbox's uid", shown.clone())),
        None => Ok(()),
    };
    if let Err(e) = owned {
        let _ = unlinkat(dir.as_fd(), &tmp, UnlinkatFlags::NoRemoveDir);
        return Err(e);
    }
    let outcome = copy_capped(&mut source, &mut file, limit_mb)
        .map_err(io_err("copying to", shown.clone()))
        .and_then(|copied| {
            copied.map_err(|()| FilesError::Grew {
                path: src_shown.clone(),
                limit_mb,
            })
        })
        .and_then(|bytes| {
            nix::fcntl::renameat(dir.as_fd(), &tmp, dir.as_fd(), name.as_os_str())
                .map(|()| bytes)
                .map_err(|e| match e {
                    Errno::EISDIR => FilesError::IsDirectory {
                        path: shown.clone(),
                    },
                    other => errno_err("replacing", shown.clone())(other),
                })
        });
    if outcome.is_err() {
        let _ = unlinkat(dir.as_fd(), &tmp, UnlinkatFlags::NoRemoveDir);
    }
    Ok((outcome?, shown))
}

fn meta_mode(meta: &std::fs::Metadata) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&meta.permissions())
}

/// The entries of the directory `inside` (the workspace root when empty),
/// sorted by name; for a file, that one file.
pub fn list(workspace: &Path, inside: &str) -> Result<Vec<FileEntry>, FilesError> {
    let rel = parse_inside(inside)?;
    let root = open_workspace(workspace)?;
    let fd = open_beneath(root.as_fd(), &rel, OFlag::O_PATH).map_err(resolve_err(inside))?;
    let stat = fstat(&fd).map_err(errno_err("reading", inside))?;
    if file_kind(&stat) != "dir" {
        let name = rel
            .file_name()
            .map_or_else(|| inside.to_owned(), |n| n.to_string_lossy().into_owned());
        return Ok(vec![entry(name, &stat)]);
    }
    let mut dir = Dir::openat(
        &fd,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(errno_err("listing", inside))?;
    let mut entries = Vec::new();
    for item in dir.iter() {
        let item = item.map_err(errno_err("listing", inside))?;
        let name = OsStr::from_bytes(item.file_name().to_bytes());
        if name == "." || name == ".." {
            continue;
        }
        // Never follows: a symlink is listed as a symlink, whatever it points at.
        match fstatat(&fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(stat) => entries.push(entry(name.to_string_lossy().into_owned(), &stat)),
            // Removed by the sandbox while we listed.
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(errno_err("reading", inside)(e)),
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(entries)
}

fn entry(name: String, stat: &FileStat) -> FileEntry {
    FileEntry {
        name,
        kind: file_kind(stat),
        size: u64::try_from(stat.st_size).unwrap_or(0),
        mtime: mtime_ms(stat),
    }
}

/// The first `max_bytes` of the regular file `inside`.
pub fn read_head(workspace: &Path, inside: &str, max_bytes: usize) -> Result<FileHead, FilesError> {
    let rel = parse_inside(inside)?;
    let root = open_workspace(workspace)?;
    let fd = open_beneath(
        root.as_fd(),
        &rel,
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY,
    )
    .map_err(resolve_err(inside))?;
    let stat = fstat(&fd).map_err(errno_err("reading", inside))?;
    require_regular(inside, file_kind(&stat))?;
    let size = u64::try_from(stat.st_size).unwrap_or(0);
    let mut data = Vec::new();
    let max = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    File::from(fd)
        .take(max)
        .read_to_end(&mut data)
        .map_err(io_err("reading", inside))?;
    let truncated = size > data.len() as u64;
    Ok(FileHead {
        data,
        size,
        truncated,
    })
}

/// Delete the file (or symlink, never its target) `inside`; directories are refused.
pub fn delete(workspace: &Path, inside: &str) -> Result<(), FilesError> {
    let rel = parse_inside(inside)?;
    let (Some(parent), Some(name)) = (rel.parent(), rel.file_name()) else {
        return Err(FilesError::Invalid(
            "refusing to delete the workspace itself".into(),
        ));
    };
    let root = open_workspace(workspace)?;
    let dir = open_beneath(root.as_fd(), parent, OFlag::O_PATH | OFlag::O_DIRECTORY)
        .map_err(resolve_err(inside))?;
    unlinkat(dir.as_fd(), name, UnlinkatFlags::NoRemoveDir).map_err(|e| match e {
        Errno::EISDIR => FilesError::IsDirectory {
            path: inside.to_owned(),
        },
        other => resolve_err(inside)(other),
    })
}

/// `NAME:path` as shown in messages and `cp --json`.
pub fn remote(sandbox: &str, inside: &str) -> String {
    format!("{sandbox}:{inside}")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    struct Fixture {
        _dir: tempfile::TempDir,
        workspace: PathBuf,
        outside: PathBuf,
    }

    /// A workspace with a file, a subdirectory, and symlinks in and out.
    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        let workspace = dir.path().join("workspace");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(workspace.join("sub")).expect("mkdir");
        std::fs::create_dir_all(&outside).expect("mkdir");
        std::fs::write(workspace.join("sub/inner"), "inner").expect("write");
        std::fs::write(outside.join("secret"), "secret").expect("write");
        symlink("/etc", workspace.join("etclink")).expect("symlink");
        symlink(outside.join("secret"), workspace.join("abs-out")).expect("symlink");
        symlink("../outside/secret", workspace.join("rel-out")).expect("symlink");
        symlink("sub/inner", workspace.join("rel-in")).expect("symlink");
        Fixture {
            _dir: dir,
            workspace,
            outside,
        }
    }

    #[test]
    fn parse_refuses_absolute_and_parent() {
        assert_eq!(parse_inside("a/./b/").expect("ok"), PathBuf::from("a/b"));
        assert_eq!(parse_inside("").expect("ok"), PathBuf::new());
        assert_eq!(parse_inside(".").expect("ok"), PathBuf::new());
        assert!(matches!(
            parse_inside("/etc/passwd"),
            Err(FilesError::Absolute { .. })
        ));
        assert!(matches!(
            parse_inside("../../etc/passwd"),
            Err(FilesError::ParentDir { .. })
        ));
        assert!(matches!(
            parse_inside("a/../b"),
            Err(FilesError::ParentDir { .. })
        ));
        assert!(matches!(parse_inside("a\0b"), Err(FilesError::Invalid(_))));
    }

    #[test]
    fn reads_stay_beneath_the_workspace() {
        let f = fixture();
        let head = read_head(&f.workspace, "sub/inner", 1024).expect("inner");
        assert_eq!(head.data, b"inner");
        assert!(!head.truncated);
        // A relative symlink that stays inside is fine.
        assert_eq!(
            read_head(&f.workspace, "rel-in", 1024)
                .expect("rel-in")
                .data,
            b"inner"
        );
        for (path, escapes) in [
            ("etclink/passwd", true),
            ("abs-out", true),
            ("rel-out", true),
            ("missing", false),
        ] {
            let err = read_head(&f.workspace, path, 1024).expect_err(path);
            assert_eq!(
                matches!(err, FilesError::Escapes { .. }),
                escapes,
                "{path}: {err}"
            );
        }
        let head = read_head(&f.workspace, "sub/inner", 2).expect("head");
        assert_eq!(
            (head.data.as_slice(), head.size, head.truncated),
            (&b"in"[..], 5, true)
        );
    }

    #[test]
    fn the_fallback_walk_refuses_every_symlink() {
        let f = fixture();
        let root = open_workspace(&f.workspace).expect("root");
        let fd = open_walk(root.as_fd(), Path::new("sub/inner"), OFlag::O_RDONLY).expect("inner");
        let mut text = String::new();
        File::from(fd).read_to_string(&mut text).expect("read");
        assert_eq!(text, "inner");
        for path in ["etclink/passwd", "abs-out", "rel-out", "rel-in"] {
            assert_eq!(
                open_walk(root.as_fd(), Path::new(path), OFlag::O_RDONLY).map(|_| ()),
                Err(Errno::ELOOP),
                "{path}"
            );
        }
        assert_eq!(
            open_walk(
                root.as_fd(),
                Path::new("../outside/secret"),
                OFlag::O_RDONLY
            )
            .map(|_| ()),
            Err(Errno::EXDEV)
        );
    }

    #[test]
    fn copy_in_writes_beneath_and_never_through_symlinks() {
        let f = fixture();
        let host = f.outside.join("payload.bin");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
        std::fs::write(&host, &bytes).expect("write");

        let (n, shown) = copy_in(&f.workspace, &host, "copied.bin", 1).expect("copy");
        assert_eq!((n, shown.as_str()), (70_000, "copied.bin"));
        assert_eq!(
            std::fs::read(f.workspace.join("copied.bin")).expect("read"),
            bytes
        );
        // Into a directory, under the source's name.
        let (_, shown) = copy_in(&f.workspace, &host, "sub", 1).expect("into dir");
        assert_eq!(shown, "sub/payload.bin");
        let (_, shown) = copy_in(&f.workspace, &host, "", 1).expect("into root");
        assert_eq!(shown, "payload.bin");

        for path in ["etclink/x", "abs-out", "rel-out", "/etc/x", "../x"] {
            assert!(copy_in(&f.workspace, &host, path, 1).is_err(), "{path}");
        }
        assert_eq!(
            std::fs::read_to_string(f.outside.join("secret")).expect("secret"),
            "secret"
        );
        assert!(!Path::new("/etc/x").exists());

        // A dangling symlink out is refused; one that stays inside is
        // replaced by the file, never written through.
        let target = f.outside.join("would-be-created");
        symlink(&target, f.workspace.join("dangling-out")).expect("symlink");
        assert!(matches!(
            copy_in(&f.workspace, &host, "dangling-out", 1),
            Err(FilesError::Escapes { .. })
        ));
        symlink("sub/not-yet", f.workspace.join("dangling-in")).expect("symlink");
        copy_in(&f.workspace, &host, "dangling-in", 1).expect("replace dangling");
        assert!(!target.exists());
        assert!(!f.workspace.join("sub/not-yet").exists());
        assert!(std::fs::symlink_metadata(f.workspace.join("dangling-in"))
            .expect("stat")
            .is_file());

        // No temporary files are left behind.
        let leftovers: Vec<_> = std::fs::read_dir(&f.workspace)
            .expect("read_dir")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn sizes_are_capped_both_ways() {
        let f = fixture();
        let big = f.outside.join("big");
        std::fs::write(&big, vec![0u8; 1024 * 1024 + 1]).expect("write");
        let err = copy_in(&f.workspace, &big, "big", 1).expect_err("too large");
        assert!(err.to_string().contains("max_file_size_mb = 1"), "{err}");
        assert!(!f.workspace.join("big").exists());

        std::fs::write(f.workspace.join("big"), vec![0u8; 1024 * 1024 + 1]).expect("write");
        let dest = f.outside.join("big-out");
        let err = copy_out(&f.workspace, "big", &dest, 1).expect_err("too large");
        assert!(matches!(err, FilesError::TooLarge { .. }), "{err}");
        assert!(!dest.exists());
        copy_out(&f.workspace, "big", &dest, 2).expect("within 2 MB");
    }

    #[test]
    fn copy_out_refuses_directories_and_special_files() {
        let f = fixture();
        let dest = f.outside.join("d");
        assert!(matches!(
            copy_out(&f.workspace, "sub", &dest, 1),
            Err(FilesError::IsDirectory { .. })
        ));
        nix::unistd::mkfifo(&f.workspace.join("fifo"), Mode::S_IRWXU).expect("mkfifo");
        assert!(matches!(
            copy_out(&f.workspace, "fifo", &dest, 1),
            Err(FilesError::NotRegular { .. })
        ));
        let (n, to) = copy_out(&f.workspace, "sub/inner", &f.outside, 1).expect("into dir");
        assert_eq!((n, to), (5, f.outside.join("inner")));
    }

    #[test]
    fn listing_and_deleting() {
        let f = fixture();
        let names: Vec<(String, &str)> = list(&f.workspace, "")
            .expect("list")
            .into_iter()
            .map(|e| (e.name, e.kind))
            .collect();
        assert_eq!(
            names,
            vec![
                ("abs-out".to_string(), "symlink"),
                ("etclink".to_string(), "symlink"),
                ("rel-in".to_string(), "symlink"),
                ("rel-out".to_string(), "symlink"),
                ("sub".to_string(), "dir"),
            ]
        );
        let inner = list(&f.workspace, "sub").expect("list sub");
        assert_eq!(inner.len(), 1);
        assert_eq!((inner[0].name.as_str(), inner[0].size), ("inner", 5));
        assert!(inner[0].mtime > 0);
        assert!(matches!(
            list(&f.workspace, "etclink"),
            Err(FilesError::Escapes { .. })
        ));

        delete(&f.workspace, "abs-out").expect("delete symlink");
        assert!(f.outside.join("secret").exists());
        assert!(matches!(
            delete(&f.workspace, "sub"),
            Err(FilesError::IsDirectory { .. })
        ));
        assert!(delete(&f.workspace, "etclink/passwd").is_err());
        assert!(delete(&f.workspace, "").is_err());
        delete(&f.workspace, "sub/inner").expect("delete");
        assert!(list(&f.workspace, "sub").expect("list").is_empty());
    }
}
