//! Building the sandbox's root: read-only binds of an allowlist of host paths,
//! a fresh `/proc`, a minimal `/dev`, private tmpfs `/tmp`, the workspace, then
//! `pivot_root`. Runs in the init process, inside the new mount namespace.
//!
//! The approach is bubblewrap's: mount a tmpfs over `/tmp`, `pivot_root` into it
//! so the host's root sits at `/oldroot` (which keeps host paths under `/tmp`
//! reachable), assemble `/newroot`, then pivot again and detach the host.

use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, umask, Mode, SFlag};
use nix::unistd::{chdir, pivot_root};

use super::SandboxSpec;

/// Host directories that make up the read-only system part of the root.
pub const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

/// Host files and directories under `/etc` that programs need (dynamic loader,
/// time zone, alternatives symlinks, TLS roots); everything else in `/etc` stays hidden.
pub const ETC_ALLOWLIST: &[&str] = &[
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "ssl",
    "ca-certificates",
    "ca-certificates.conf",
    "protocols",
    "services",
    "mime.types",
];

/// The sandbox's device nodes.
pub const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom", "tty"];

/// Their numbers (linux/Documentation/admin-guide/devices.txt), in the
/// order of [`DEVICES`].
const DEVICE_NUMBERS: [(u64, u64); 6] = [(1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0)];

/// procfs files hidden behind `/dev/null`: kernel memory (the kpage*
/// files map every physical page: flags, share counts, owning cgroup),
/// keys, timing leaks and the sysrq trigger. Docker's, bubblewrap's and
/// nsjail's lists, plus the kpage* files that uid 0 without capabilities
/// can still read (they are mode 0400 root).
const PROC_MASKED: &[&str] = &[
    "kcore",
    "kpageflags",
    "kpagecount",
    "kpagecgroup",
    "keys",
    "timer_list",
    "timer_stats",
    "latency_stats",
    "sysrq-trigger",
    "sched_debug",
];

/// procfs directories hidden under an empty read-only tmpfs: hardware
/// controls (ACPI, SCSI, sound) that Docker masks too.
const PROC_MASKED_DIRS: &[&str] = &["acpi", "scsi", "asound"];

/// procfs directories bound read-only: their files are root-writable by
/// mode (an IRQ's CPU affinity takes no capability), so uid 0 without
/// capabilities could still change the host through them.
const PROC_READ_ONLY: &[&str] = &["sys", "irq", "bus", "fs"];

const OLD: &str = "/oldroot";
const NEW: &str = "/newroot";

#[derive(Debug, thiserror::Error)]
#[error("{step} {}: {source}", path.display())]
pub struct MountError {
    pub step: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

fn fail<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> MountError + 'a {
    move |e| MountError {
        step,
        path: path.to_path_buf(),
        source: io::Error::from(e),
    }
}

fn fail_io<'a>(step: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> MountError + 'a {
    move |source| MountError {
        step,
        path: path.to_path_buf(),
        source,
    }
}

/// `/newroot` + an absolute in-sandbox path.
fn under(base: &str, path: &Path) -> PathBuf {
    let mut out = PathBuf::from(base);
    for component in path.components() {
        if let Component::Normal(part) = component {
            out.push(part);
        }
    }
    out
}

/// Build the root described by `spec` and pivot into it. On return the process's
/// root is the sandbox root and its working directory is `spec.workdir`.
pub fn build_root(spec: &SandboxSpec) -> Result<(), MountError> {
    // Files and directories of the root get 0644 and 0755 whatever the
    // supervisor's umask, without a chmod each; the command gets the
    // supervisor's umask back.
    let previous = umask(Mode::from_bits_truncate(0o022));
    let built = assemble_root(spec);
    umask(previous);
    built
}

fn assemble_root(spec: &SandboxSpec) -> Result<(), MountError> {
    let root = Path::new("/");
    // Nothing we mount may propagate back to the host.
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(fail("make / private", root))?;

    let base = Path::new("/tmp");
    mount_tmpfs(base, "mode=0755,size=1m", MsFlags::MS_NODEV)?;
    chdir(base).map_err(fail("chdir", base))?;
    for dir in ["oldroot", "newroot"] {
        fs::create_dir(dir).map_err(fail_io("mkdir", Path::new(dir)))?;
    }
    pivot_root(".", "oldroot").map_err(fail("pivot_root", base))?;
    chdir("/").map_err(fail("chdir", root))?;

    let new = Path::new(NEW);
    mount_tmpfs(new, "mode=0755,size=4m", MsFlags::MS_NODEV)?;

    match &spec.root {
        None => {
            for dir in SYSTEM_DIRS {
                mirror_host_path(Path::new(dir), true)?;
            }
            build_etc(spec)?;
        }
        Some(root) => {
            mirror_image_root(root)?;
            build_image_etc(spec, root)?;
        }
    }
    build_dev(spec)?;
    build_proc()?;

    let tmp = under(NEW, Path::new("/tmp"));
    make_dir(&tmp)?;
    mount_tmpfs(
        &tmp,
        &format!("mode=1777,size={}", spec.tmp_size_bytes.max(4096)),
        MsFlags::MS_NODEV,
    )?;

    if spec.root.is_some() {
        let targets = std::iter::once(&spec.workdir)
            .chain(&spec.read_only_paths)
            .chain(&spec.writable_paths)
            .chain(spec.binds.iter().map(|b| &b.target));
        for target in targets {
            refuse_image_symlinks(target)?;
        }
    }
    let workdir = under(NEW, &spec.workdir);
    make_dir(&workdir)?;
    bind(&under(OLD, &spec.workspace), &workdir, false)?;
    for path in &spec.read_only_paths {
        bind_extra(path, true)?;
    }
    for path in &spec.writable_paths {
        bind_extra(path, false)?;
    }
    for b in &spec.binds {
        bind_pair(&b.source, &b.target, !b.writable)?;
    }

    // The root tmpfs itself becomes read-only: only the workspace, /tmp and
    // writable_paths accept writes.
    remount_read_only(new, MsFlags::MS_NODEV)?;
    // Without nodev: its nodes must work.
    remount_read_only(&under(NEW, Path::new("/dev")), MsFlags::MS_NOEXEC)?;

    chdir(new).map_err(fail("chdir", new))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; detaching
    // "." then removes every host mount from this namespace.
    pivot_root(".", ".").map_err(fail("pivot_root", new))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(fail("detach host root", root))?;
    chdir("/").map_err(fail("chdir", root))?;
    chdir(&spec.workdir).map_err(fail("chdir", &spec.workdir))?;
    Ok(())
}

/// A tmpfs, always nosuid; `flags` adds the rest (nodev on all but /dev).
fn mount_tmpfs(target: &Path, options: &str, flags: MsFlags) -> Result<(), MountError> {
    mount(
        Some("tmpfs"),
        target,
        Some("tmpfs"),
        MsFlags::MS_NOSUID | flags,
        Some(options),
    )
    .map_err(fail("mount tmpfs", target))
}

fn make_dir(path: &Path) -> Result<(), MountError> {
    fs::create_dir_all(path).map_err(fail_io("mkdir", path))
}

/// An empty file to bind over; its directory exists.
fn make_file(path: &Path) -> Result<(), MountError> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map(drop)
        .map_err(fail_io("create mount point", path))
}

/// The top-level entries of an unpacked root, each bound read-only (a
/// symlink such as `bin -> usr/bin` stays one), except those the sandbox
/// gets of its own: /etc (see [`build_image_etc`]), /dev, /proc and /tmp.
fn mirror_image_root(root: &Path) -> Result<(), MountError> {
    let source = under(OLD, root);
    let entries = fs::read_dir(&source).map_err(fail_io("read root", root))?;
    for entry in entries {
        let entry = entry.map_err(fail_io("read root", root))?;
        let name = entry.file_name();
        if ["etc", "dev", "proc", "tmp"].iter().any(|n| name == *n) {
            continue;
        }
        mirror(&source.join(&name), &Path::new(NEW).join(&name), true)?;
    }
    Ok(())
}

/// A mount point the sandbox's own mounts need must not lead through a
/// symlink of an image: resolved now, before the pivot, an absolute one
/// would reach the host's root under `/oldroot`, and the directories and
/// files made as mount points would land there.
fn refuse_image_symlinks(inside: &Path) -> Result<(), MountError> {
    let mut path = PathBuf::from(NEW);
    for component in inside.components() {
        let Component::Normal(part) = component else {
            continue;
        };
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                return Err(MountError {
                    step: "mount point is a symlink of the image",
                    path: inside.to_path_buf(),
                    source: io::Error::from(io::ErrorKind::InvalidInput),
                })
            }
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(fail_io("stat", inside)(e)),
        }
    }
    Ok(())
}

/// Reproduce the host path `path` inside the new root: a symlink stays a symlink
/// (merged-/usr systems link /bin to usr/bin), a directory or file is bound.
/// A missing optional path is skipped. The parent of `path` exists inside.
fn mirror_host_path(path: &Path, read_only: bool) -> Result<(), MountError> {
    mirror(&under(OLD, path), &under(NEW, path), read_only)
}

/// [`mirror_host_path`] from any `source` to any `target`.
fn mirror(source: &Path, target: &Path, read_only: bool) -> Result<(), MountError> {
    let meta = match fs::symlink_metadata(source) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(fail_io("stat", source)(e)),
    };
    if meta.file_type().is_symlink() {
        let link = fs::read_link(source).map_err(fail_io("readlink", source))?;
        return symlink(&link, target).map_err(fail_io("symlink", target));
    }
    // Only directories and regular files: a device node or a socket an
    // unpacked root might hold is left out.
    if !meta.is_dir() && !meta.is_file() {
        return Ok(());
    }
    if meta.is_dir() {
        make_dir(target)?;
    } else {
        make_file(target)?;
    }
    bind(source, target, read_only)
}

/// An operator-requested bind at the same path inside: the source must exist.
fn bind_extra(path: &Path, read_only: bool) -> Result<(), MountError> {
    bind_pair(path, path, read_only)
}

fn bind_pair(host: &Path, inside: &Path, read_only: bool) -> Result<(), MountError> {
    let source = under(OLD, host);
    let meta = fs::metadata(&source).map_err(fail_io("bind source", host))?;
    let target = under(NEW, inside);
    if meta.is_dir() {
        make_dir(&target)?;
    } else {
        if let Some(parent) = target.parent() {
            make_dir(parent)?;
        }
        make_file(&target)?;
    }
    bind(&source, &target, read_only)
}

fn bind(source: &Path, target: &Path, read_only: bool) -> Result<(), MountError> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(fail("bind", target))?;
    let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    if read_only {
        attrs |= MOUNT_ATTR_RDONLY;
    }
    set_attrs_recursive(target, attrs)
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;
const MOUNT_ATTR_NOSUID: u64 = 0x2;
const MOUNT_ATTR_NODEV: u64 = 0x4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Apply mount attributes to a bind and every mount below it (`mount_setattr`,
/// Linux 5.12+), so a host submount under /usr cannot stay writable. Older
/// kernels fall back to a remount of the top mount only.
fn set_attrs_recursive(target: &Path, attrs: u64) -> Result<(), MountError> {
    let c_target = match std::ffi::CString::new(target.as_os_str().as_encoded_bytes()) {
        Ok(c) => c,
        Err(_) => {
            return Err(MountError {
                step: "mount_setattr",
                path: target.to_path_buf(),
                source: io::Error::from(io::ErrorKind::InvalidInput),
            })
        }
    };
    let attr = MountAttr {
        attr_set: attrs,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: c_target is a valid NUL-terminated string and attr a valid
    // mount_attr of the size passed; the kernel only reads them.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            c_target.as_ptr(),
            libc::AT_RECURSIVE as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(fail_io("mount_setattr", target)(err));
    }
    let mut flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    if attrs & MOUNT_ATTR_RDONLY != 0 {
        flags |= MsFlags::MS_RDONLY;
    }
    mount(None::<&str>, target, None::<&str>, flags, None::<&str>)
        .map_err(fail("remount read-only", target))
}

/// A remount replaces the mount's flags: `flags` are the ones it keeps
/// besides read-only and nosuid.
fn remount_read_only(target: &Path, flags: MsFlags) -> Result<(), MountError> {
    mount(
        None::<&str>,
        target,
        None::<&str>,
        MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | flags,
        None::<&str>,
    )
    .map_err(fail("remount read-only", target))
}

fn write_file(path: &Path, contents: &str) -> Result<(), MountError> {
    fs::write(path, contents).map_err(fail_io("write", path))
}

/// A minimal `/etc`: generated identity files (nothing about the host's users
/// leaks in) plus the allowlisted host files programs need.
fn build_etc(spec: &SandboxSpec) -> Result<(), MountError> {
    let etc = under(NEW, Path::new("/etc"));
    make_dir(&etc)?;
    write_identity(spec, &etc)?;
    if spec.allow_network {
        // With the host's network the host's resolver configuration is the right one.
        mirror_host_path(Path::new("/etc/resolv.conf"), true)?;
        mirror_host_path(Path::new("/etc/hosts"), true)?;
    } else {
        write_offline_names(spec, &etc)?;
    }
    for name in ETC_ALLOWLIST {
        mirror_host_path(&Path::new("/etc").join(name), true)?;
    }
    Ok(())
}

/// Where an image's generated /etc files are written, on the tmpfs that
/// holds `/oldroot` and `/newroot`.
const ETC_GENERATED: &str = "/etcgen";

/// An unpacked root's own /etc (ld.so.cache, os-release, its Python's
/// config) with the generated identity and name files on top: one
/// read-only overlay of the two, or, where overlayfs is missing, the
/// image's entries bound one by one beside the generated files.
fn build_image_etc(spec: &SandboxSpec, root: &Path) -> Result<(), MountError> {
    let generated = Path::new(ETC_GENERATED);
    make_dir(generated)?;
    write_identity(spec, generated)?;
    if spec.allow_network {
        // Copies: a bind needs a mount point the overlay cannot offer.
        for name in ["resolv.conf", "hosts"] {
            let host = Path::new(OLD).join("etc").join(name);
            let contents = read_host_file(&host, 64 * 1024);
            write_file(&generated.join(name), &contents)?;
        }
    } else {
        write_offline_names(spec, generated)?;
    }
    let etc = under(NEW, Path::new("/etc"));
    make_dir(&etc)?;
    let image_etc = under(OLD, root).join("etc");
    let has_etc = fs::symlink_metadata(&image_etc).is_ok_and(|m| m.is_dir());
    if !has_etc {
        return bind(generated, &etc, true);
    }
    let options = format!("lowerdir={}:{}", generated.display(), image_etc.display());
    let overlay = mount(
        Some("overlay"),
        &etc,
        Some("overlay"),
        MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some(options.as_str()),
    );
    if overlay.is_ok() {
        return Ok(());
    }
    let generated_names: Vec<std::ffi::OsString> = fs::read_dir(generated)
        .map_err(fail_io("read", generated))?
        .filter_map(|e| e.ok().map(|e| e.file_name()))
        .collect();
    for name in &generated_names {
        let path = generated.join(name);
        let target = etc.join(name);
        make_file(&target)?;
        bind(&path, &target, true)?;
    }
    for entry in fs::read_dir(&image_etc).map_err(fail_io("read", &image_etc))? {
        let entry = entry.map_err(fail_io("read", &image_etc))?;
        let name = entry.file_name();
        if !generated_names.contains(&name) {
            mirror(&image_etc.join(&name), &etc.join(&name), true)?;
        }
    }
    Ok(())
}

/// A host file's text, at most `cap` bytes; empty when unreadable.
fn read_host_file(path: &Path, cap: u64) -> String {
    use std::io::Read;
    let mut text = String::new();
    if let Ok(file) = fs::File::open(path) {
        let _ = file.take(cap).read_to_string(&mut text);
    }
    text
}

/// passwd, group, hostname and nsswitch.conf, written into `etc`.
fn write_identity(spec: &SandboxSpec, etc: &Path) -> Result<(), MountError> {
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/sh\n");
    let mut group = String::from("root:x:0:\n");
    // The command's own uid has a name, for whoami, getpass, ssh and the like.
    if let Some(uid) = spec.uid {
        let user = super::SANDBOX_USER;
        passwd.push_str(&format!(
            "{user}:x:{uid}:{uid}:{user}:{}:/bin/sh\n",
            spec.workdir.display()
        ));
        group.push_str(&format!("{user}:x:{uid}:\n"));
    }
    passwd.push_str("nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
    group.push_str("nogroup:x:65534:\n");
    write_file(&etc.join("passwd"), &passwd)?;
    write_file(&etc.join("group"), &group)?;
    write_file(&etc.join("hostname"), &format!("{}\n", spec.hostname))?;
    write_file(
        &etc.join("nsswitch.conf"),
        "passwd: files\ngroup: files\nhosts: files dns\n",
    )
}

/// resolv.conf and hosts without a network: localhost and the hostname.
fn write_offline_names(spec: &SandboxSpec, etc: &Path) -> Result<(), MountError> {
    write_file(&etc.join("resolv.conf"), "")?;
    write_file(
        &etc.join("hosts"),
        &format!(
            "127.0.0.1 localhost\n::1 localhost\n127.0.1.1 {}\n",
            spec.hostname
        ),
    )
}

fn build_dev(spec: &SandboxSpec) -> Result<(), MountError> {
    let dev = under(NEW, Path::new("/dev"));
    make_dir(&dev)?;
    // Without nodev, for the nodes made here. Nothing else can make one: the
    // command has no CAP_MKNOD, and /dev is read-only before it runs.
    mount_tmpfs(&dev, "mode=0755,size=64k", MsFlags::MS_NOEXEC)?;
    if !make_device_nodes(&dev)? {
        bind_host_devices(&dev)?;
    }
    for (link, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let path = dev.join(link);
        symlink(target, &path).map_err(fail_io("symlink", &path))?;
    }
    let shm = dev.join("shm");
    make_dir(&shm)?;
    mount_tmpfs(
        &shm,
        &format!("mode=1777,size={}", spec.tmp_size_bytes.max(4096)),
        MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
    )
}

/// The device nodes, made with `mknod` (one call each, where a bind of the
/// host's node takes three and a mount). False when this process may not
/// (in a user namespace, or where a device cgroup forbids one): then none
/// is left.
fn make_device_nodes(dev: &Path) -> Result<bool, MountError> {
    // 0666 whatever the umask.
    let previous = umask(Mode::empty());
    let made = DEVICES
        .iter()
        .zip(DEVICE_NUMBERS)
        .try_for_each(|(name, (major, minor))| {
            let target = dev.join(name);
            mknod(
                &target,
                SFlag::S_IFCHR,
                Mode::from_bits_truncate(0o666),
                makedev(major, minor),
            )
            .map_err(|e| (e, target))
        });
    umask(previous);
    match made {
        Ok(()) => Ok(true),
        Err((Errno::EPERM, _)) => {
            for name in DEVICES {
                let _ = fs::remove_file(dev.join(name));
            }
            Ok(false)
        }
        Err((e, target)) => Err(fail("mknod", &target)(e)),
    }
}

/// The host's device nodes bound over empty files: what a user namespace,
/// which may not make nodes, can do.
fn bind_host_devices(dev: &Path) -> Result<(), MountError> {
    for name in DEVICES {
        let source = Path::new(OLD).join("dev").join(name);
        if fs::symlink_metadata(&source).is_err() {
            continue;
        }
        let target = dev.join(name);
        make_file(&target)?;
        mount(
            Some(&source),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(fail("bind device", &target))?;
        set_attrs_recursive(&target, MOUNT_ATTR_NOSUID)?;
    }
    Ok(())
}

fn build_proc() -> Result<(), MountError> {
    let proc_dir = under(NEW, Path::new("/proc"));
    make_dir(&proc_dir)?;
    mount(
        Some("proc"),
        &proc_dir,
        Some("proc"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
        None::<&str>,
    )
    .map_err(fail("mount proc", &proc_dir))?;
    // Sysctls are root-writable by mode: uid 0 without capabilities could still
    // change some, so the whole tree is read-only.
    for name in PROC_READ_ONLY {
        let target = proc_dir.join(name);
        if fs::symlink_metadata(&target).is_ok() {
            bind(&target, &target, true)?;
        }
    }
    for name in PROC_MASKED_DIRS {
        let target = proc_dir.join(name);
        if fs::symlink_metadata(&target).is_ok_and(|m| m.is_dir()) {
            mount(
                Some("tmpfs"),
                &target,
                Some("tmpfs"),
                MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
                Some("size=4k,nr_inodes=1,mode=555"),
            )
            .map_err(fail("mask", &target))?;
        }
    }
    let null = under(NEW, Path::new("/dev/null"));
    for name in PROC_MASKED {
        let target = proc_dir.join(name);
        if fs::symlink_metadata(&target).is_ok() {
            mount(
                Some(&null),
                &target,
                None::<&str>,
                MsFlags::MS_BIND,
                None::<&str>,
            )
            .map_err(fail("mask", &target))?;
        }
    }
    Ok(())
}
