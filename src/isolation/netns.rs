//! Network namespaces: the loopback, and the spare made ahead of a launch.
//!
//! Creating a network namespace is most of the cost of the clone that
//! starts a sandbox: the kernel registers a loopback device with its sysctl
//! tables, and a launch would wait for all of it. So a supervisor running
//! as root makes the *next* launch's namespace while its own command runs,
//! on a thread of its own, and leaves it bind-mounted in [`RUNTIME_DIR`].
//! The next launch claims it with one atomic rename and joins it (`setns`)
//! instead of cloning a new one.
//!
//! A claimed namespace is as fresh as a cloned one: made empty by this tool
//! with only its loopback, up, in a directory only root can enter, and
//! used by exactly one execution (the rename succeeds for one claimer; the
//! claimer then unmounts it, so nothing else can reach it). A launch that
//! finds no spare clones a new namespace as before. Without root (user
//! namespaces) nothing is made: a namespace made outside the sandbox's user
//! namespace could not be joined from inside it.
//!
//! One spare per cgroup root (`settings.cgroup_root`) is left between
//! launches: an empty namespace, a file mount in
//! `/run/sandbox-tui/ROOT/netns.spare`. `sandbox-tui prune` removes it.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{unshare, CloneFlags};

use crate::fsops::rename_no_replace;

/// Where spares live: a tmpfs on most hosts, so a reboot clears it.
pub const RUNTIME_DIR: &str = "/run/sandbox-tui";

const SPARE: &str = "netns.spare";
const MAKING_PREFIX: &str = "netns.new-";
const CLAIMED_PREFIX: &str = "netns.claimed-";
/// The mounted file inside a spare's directory.
const NS_FILE: &str = "ns";

/// A maker or claimer killed half way leaves its directory; one older than
/// this is taken for such a leftover.
const LEFTOVER_AGE: Duration = Duration::from_secs(60);

/// `NS_GET_NSTYPE` of linux/nsfs.h: `_IO(0xb7, 0x3)`.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// Tells apart the directories of the claims and makes of one process.
static SERIAL: AtomicU32 = AtomicU32::new(0);

/// A new network namespace has only a loopback interface, and it is down.
/// One that is already up (a spare's) is left as it is.
pub fn bring_up_loopback() -> Result<(), Errno> {
    // SAFETY: a socket we close below; no other memory is involved.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the descriptor was just opened and is owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(sock) };
    // SAFETY: an all-zero ifreq is a valid value of the plain C struct.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS fills the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } != 0 {
        return Err(Errno::last());
    }
    let up = (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: reading the union member SIOCGIFFLAGS just set.
    let flags = unsafe { req.ifr_ifru.ifru_flags };
    if flags & up == up {
        return Ok(());
    }
    req.ifr_ifru.ifru_flags = flags | up;
    // SAFETY: SIOCSIFFLAGS reads the ifreq we own.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } != 0 {
        return Err(Errno::last());
    }
    Ok(())
}

/// The directory of the spares of the tool's cgroup root `cgroup_root`.
pub fn spare_dir(cgroup_root: &str) -> PathBuf {
    Path::new(RUNTIME_DIR).join(cgroup_root)
}

/// A spare network namespace, claimed: joined by the child of a launch.
#[derive(Debug)]
pub struct ClaimedNamespace {
    fd: OwnedFd,
    mount: ClaimedMount,
}

impl ClaimedNamespace {
    pub fn as_raw_fd(&self) -> libc::c_int {
        self.fd.as_raw_fd()
    }

    /// What is left once the child has the namespace: its mount, which
    /// [`start_making`] removes off the launch's path.
    pub fn into_mount(self) -> ClaimedMount {
        self.mount
    }
}

/// The directory of a claimed spare, still mounted. Unmounting it waits
/// for an RCU grace period, which no launch should wait for, so it is left
/// to the thread of [`start_making`]; dropped anywhere else, it is removed
/// there and then.
#[derive(Debug)]
pub struct ClaimedMount(PathBuf);

impl Drop for ClaimedMount {
    fn drop(&mut self) {
        discard_dir(&self.0);
    }
}

/// Take the spare in `dir`, if there is one. Fails quietly: a launch
/// without a spare makes its own namespace.
pub fn claim(dir: &Path) -> Option<ClaimedNamespace> {
    let claimed = dir.join(format!(
        "{CLAIMED_PREFIX}{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    // The one step only one claimer can take; from here on the namespace
    // is this launch's alone, and unmounted by it.
    rename_no_replace(&dir.join(SPARE), &claimed).ok()?;
    let mount = ClaimedMount(claimed);
    let fd = nix::fcntl::open(
        &mount.0.join(NS_FILE),
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NOFOLLOW,
        nix::sys::stat::Mode::empty(),
    )
    .ok()
    .filter(is_network_namespace)?;
    Some(ClaimedNamespace { fd, mount })
}

fn is_network_namespace(fd: &OwnedFd) -> bool {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the descriptor.
    let kind = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    kind == libc::CLONE_NEWNET
}

/// Unmount and remove one spare's directory (claimed, half made or left
/// over); true when there was one.
fn discard_dir(dir: &Path) -> bool {
    let file = dir.join(NS_FILE);
    // Not mounted (EINVAL) or gone (ENOENT) are fine: the removals below
    // say whether anything was there.
    let _ = umount2(&file, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW);
    let _ = fs::remove_file(&file);
    fs::remove_dir(dir).is_ok()
}

/// Remove the spare of `dir` and anything left over by a maker or claimer
/// that was killed; for `prune`. Returns how many were removed.
pub fn discard_all(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let removed = entries
        .flatten()
        .filter(|entry| entry.file_name().as_bytes().starts_with(b"netns."))
        .filter(|entry| discard_dir(&entry.path()))
        .count();
    // Each only when empty: other cgroup roots may have spares of their own.
    let _ = fs::remove_dir(dir);
    let _ = fs::remove_dir(RUNTIME_DIR);
    removed
}

/// Leave a spare in `dir` for the next launch, unless one is there. It
/// changes the calling thread's network namespace, so it runs on a thread
/// of its own: see [`start_making`].
fn make(dir: &Path) -> io::Result<()> {
    if dir.join(SPARE).exists() {
        return Ok(());
    }
    make_private_dir(dir)?;
    sweep_leftovers(dir);
    let making = dir.join(format!(
        "{MAKING_PREFIX}{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    fs::DirBuilder::new().mode(0o700).create(&making)?;
    let made = fill(&making)
        .and_then(|()| rename_no_replace(&making, &dir.join(SPARE)).map_err(io::Error::from));
    if made.is_err() {
        // Another launch left its spare first, or this one failed: either
        // way this namespace is not needed.
        discard_dir(&making);
    }
    made
}

/// A new network namespace with its loopback up, bind-mounted on a file
/// in `making`.
fn fill(making: &Path) -> io::Result<()> {
    let file = making.join(NS_FILE);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&file)?;
    unshare(CloneFlags::CLONE_NEWNET)?;
    bring_up_loopback()?;
    mount(
        Some("/proc/thread-self/ns/net"),
        &file,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )?;
    Ok(())
}

/// `dir` and its parents, made 0700 where missing; an existing `dir` must
/// be ours and closed to others, or nothing is made in it.
fn make_private_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    let meta = fs::symlink_metadata(dir)?;
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() || meta.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a private directory of this user",
            dir.display()
        )));
    }
    Ok(())
}

/// Directories of makers and claimers that were killed half way.
fn sweep_leftovers(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.as_bytes();
        if !(name.starts_with(MAKING_PREFIX.as_bytes())
            || name.starts_with(CLAIMED_PREFIX.as_bytes()))
        {
            continue;
        }
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > LEFTOVER_AGE);
        if old {
            discard_dir(&entry.path());
        }
    }
}

/// On a thread of its own: make a spare in `dir` unless one is there, then
/// remove the mount of the namespace this launch claimed, if any. The
/// thread is joined when the returned value is dropped, so that the process
/// does not end half way through (the next maker would sweep that up).
pub fn start_making(dir: PathBuf, claimed: Option<ClaimedMount>) -> SpareMaker {
    if claimed.is_none() && dir.join(SPARE).exists() {
        return SpareMaker(None);
    }
    let thread = std::thread::Builder::new()
        .name("spare-netns".into())
        .spawn(move || {
            // Only ever a head start: a launch without a spare clones one.
            let _ = make(&dir);
            // Last: the unmount mostly waits for an RCU grace period, and
            // the making is better done early, while the machine is
            // otherwise waiting for the command, than after it.
            drop(claimed);
        })
        .ok();
    SpareMaker(thread)
}

/// The thread of [`start_making`]; joined on drop.
#[derive(Debug, Default)]
pub struct SpareMaker(Option<std::thread::JoinHandle<()>>);

impl SpareMaker {
    /// Whether a thread was started (no spare was there).
    pub fn started(&self) -> bool {
        self.0.is_some()
    }
}

impl Drop for SpareMaker {
    fn drop(&mut self) {
        if let Some(thread) = self.0.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Marked tests run without root only when built as root: they fail.
    fn root() -> bool {
        assert!(nix::unistd::geteuid().is_root(), "needs root");
        true
    }

    /// A spare dir of this test alone, removed on drop.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(name: &str) -> TestDir {
            TestDir(spare_dir(&format!(
                "sandbox-tui-unit-{name}-{}",
                std::process::id()
            )))
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            discard_all(&self.0);
        }
    }

    fn own_netns() -> u64 {
        fs::metadata("/proc/thread-self/ns/net").unwrap().ino()
    }

    fn netns_of(fd: &ClaimedNamespace) -> u64 {
        nix::sys::stat::fstat(&fd.fd).unwrap().st_ino
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn a_spare_is_claimed_once_and_is_a_fresh_namespace_with_its_loopback_up() {
        if !root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = TestDir::new("claim");
        assert!(claim(&dir.0).is_none(), "nothing made yet");
        assert!(start_making(dir.0.clone(), None).started());
        let mode = fs::metadata(&dir.0).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700);
        assert!(
            !start_making(dir.0.clone(), None).started(),
            "one spare is enough"
        );
        let first = claim(&dir.0).expect("the spare");
        assert!(claim(&dir.0).is_none(), "claimed once only");
        let first_ns = netns_of(&first);
        assert_ne!(first_ns, own_netns());
        // Its mount goes with the next make: then only the claimer has it.
        let ClaimedNamespace { fd, mount } = first;
        assert!(start_making(dir.0.clone(), Some(mount)).started());
        let names = |dir: &Path| -> Vec<String> {
            let mut names: Vec<String> = fs::read_dir(dir)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(names(&dir.0), [SPARE]);
        let mounted = fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert_eq!(
            mounted.matches(dir.0.to_str().unwrap()).count(),
            1,
            "{mounted}"
        );

        // Inside: only the loopback, and it is up.
        let inside = std::thread::spawn(move || {
            nix::sched::setns(&fd, CloneFlags::CLONE_NEWNET).unwrap();
            let devices = fs::read_to_string("/proc/thread-self/net/dev").unwrap();
            let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = sock.local_addr().unwrap().port();
            sock.send_to(b"ping", ("127.0.0.1", port)).unwrap();
            let mut buf = [0u8; 4];
            sock.recv(&mut buf).unwrap();
            (own_netns(), devices, buf)
        })
        .join()
        .unwrap();
        assert_eq!(inside.0, first_ns);
        let devices: Vec<&str> = inside
            .1
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect();
        assert_eq!(devices, ["lo"]);
        assert_eq!(&inside.2, b"ping");

        // The next one is another namespace.
        let second = claim(&dir.0).expect("the next spare");
        assert_ne!(netns_of(&second), first_ns);
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn leftovers_of_killed_makers_are_swept_and_prune_removes_the_spare() {
        if !root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = TestDir::new("sweep");
        assert!(start_making(dir.0.clone(), None).started());
        // A maker killed before its rename: a young one is left alone.
        let young = dir.0.join(format!("{MAKING_PREFIX}1-1"));
        fs::create_dir(&young).unwrap();
        fs::write(young.join(NS_FILE), b"").unwrap();
        let old = dir.0.join(format!("{CLAIMED_PREFIX}1-2"));
        fs::create_dir(&old).unwrap();
        let long_ago = SystemTime::now() - LEFTOVER_AGE * 2;
        fs::File::open(&old)
            .unwrap()
            .set_modified(long_ago)
            .unwrap();
        // A claim takes the spare, so the next make sweeps first.
        drop(claim(&dir.0).expect("spare"));
        assert!(start_making(dir.0.clone(), None).started());
        assert!(young.exists());
        assert!(!old.exists());
        assert!(dir.0.join(SPARE).join(NS_FILE).exists());
        assert_eq!(discard_all(&dir.0), 2, "the spare and the young leftover");
        assert!(!dir.0.exists());
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn a_directory_open_to_others_gets_no_spare() {
        if !root() {
            eprintln!("skipped: needs root");
            return;
        }
        let dir = TestDir::new("open");
        fs::create_dir_all(&dir.0).unwrap();
        fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
        let error = make(&dir.0).unwrap_err();
        assert!(
            error.to_string().contains("not a private directory"),
            "{error}"
        );
        assert!(!dir.0.join(SPARE).exists());
    }
}
