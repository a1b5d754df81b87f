//! cgroups: one trait, two implementations (v2 unified, v1 hybrid).
//!
//! Everything this module creates lives under one root group (the tool's
//! `cgroup_root` setting) in each hierarchy it uses; every path it writes or
//! removes is built from validated names below that root, so other users of
//! the cgroup filesystem are never touched.
//!
//! `v1` and `v2` never import each other: what both need lives in `types`
//! (limits, usage, errors), `fs` (cgroupfs reads, writes, walks, signals,
//! the cgroup2 freezer), `group` (the flavour-independent `Cgroup`) and
//! `mountinfo`. This file only detects which flavour the host has.

mod fs;
mod group;
mod mountinfo;
mod types;
mod v1;
mod v2;

pub use group::{Cgroup, Placement};
pub use types::{CgroupError, Flavor, Limits, Reading, Report, Usage};

use std::path::{Path, PathBuf};

use fs::{read_string, remove_tree, subdirs};
use mountinfo::parse_mountinfo;
use types::Result;

/// Detected cgroup mounts plus the tool's root group name.
#[derive(Debug, Clone)]
pub struct Hierarchy {
    root: String,
    mounts: Mounts,
}

#[derive(Debug, Clone)]
enum Mounts {
    V1(v1::Mounts),
    V2(v2::Mount),
}

impl Hierarchy {
    /// Detect mounts at run time from /proc/self/mountinfo. `root` is the
    /// tool's root group name (settings.cgroup_root), e.g. "sandbox-tui".
    pub fn detect(root: &str) -> Result<Hierarchy> {
        validate_rel(root)?;
        let path = Path::new("/proc/self/mountinfo");
        let text = read_string(path)?;
        let mounts = parse_mountinfo(&text);
        let mounts = if let Some(m) = v1::Mounts::detect(&mounts, root)? {
            Mounts::V1(m)
        } else if let Some(m) = v2::Mount::detect(&mounts, root)? {
            Mounts::V2(m)
        } else {
            return Err(CgroupError::Unavailable(
                "no usable cgroup filesystem in /proc/self/mountinfo".into(),
            ));
        };
        Ok(Hierarchy {
            root: root.to_string(),
            mounts,
        })
    }

    /// The tool's root group name (`settings.cgroup_root`).
    pub fn root(&self) -> &str {
        &self.root
    }

    pub fn flavor(&self) -> Flavor {
        match self.mounts {
            Mounts::V1(_) => Flavor::V1Hybrid,
            Mounts::V2(_) => Flavor::V2,
        }
    }

    pub fn report(&self) -> Report {
        match &self.mounts {
            Mounts::V1(m) => m.report(&self.root),
            Mounts::V2(m) => m.report(&self.root),
        }
    }

    /// Create (mkdir -p, idempotent) the group `rel` (e.g. "mybox" or
    /// "mybox/a3f9c2") under the root in every hierarchy we use and apply
    /// `limits`. On v2 the needed controllers are enabled in every ancestor
    /// from the delegation base down to the parent of `rel`.
    pub fn create(&self, rel: &str, limits: &Limits) -> Result<Cgroup> {
        self.create_group(rel, limits, false)
    }

    /// As [`Hierarchy::create`], but only the last component is made: a
    /// missing parent is `NotFound`, so the caller can make the parent with
    /// its own limits (an execution's group under its sandbox's, which a
    /// reboot may have taken away).
    pub fn create_child(&self, rel: &str, limits: &Limits) -> Result<Cgroup> {
        self.create_group(rel, limits, true)
    }

    fn create_group(&self, rel: &str, limits: &Limits, leaf_only: bool) -> Result<Cgroup> {
        validate_rel(rel)?;
        let cg = match &self.mounts {
            Mounts::V1(m) => {
                m.create(&self.root, rel, leaf_only, limits.cpu_quota_cores.is_some())?
            }
            Mounts::V2(m) => m.create(&self.root, rel, leaf_only)?,
        };
        cg.set_limits(limits)?;
        Ok(cg)
    }

    /// Open an existing group. It counts as existing if its directory is
    /// present in at least one hierarchy, so half-created groups can still be
    /// opened for cleanup.
    pub fn open(&self, rel: &str) -> Result<Cgroup> {
        validate_rel(rel)?;
        let cg = self.group(rel);
        if cg.places.iter().any(|p| p.dir.is_dir()) {
            Ok(cg)
        } else {
            Err(CgroupError::NotFound(rel.to_string()))
        }
    }

    /// A group for reading, whether or not it exists (yet): a missing one
    /// has no pids. Spares the existence check of [`Hierarchy::open`] when
    /// a dashboard asks for many groups every second.
    pub fn for_reading(&self, rel: &str) -> Result<Cgroup> {
        validate_rel(rel)?;
        Ok(self.group(rel))
    }

    /// Names of child groups directly under `rel` ("" = root), for
    /// listing/recovery. Union over all hierarchies, sorted.
    pub fn children(&self, rel: &str) -> Result<Vec<String>> {
        if !rel.is_empty() {
            validate_rel(rel)?;
        }
        let mut names = Vec::new();
        for top in self.tops() {
            let dir = if rel.is_empty() { top } else { top.join(rel) };
            for sub in subdirs(&dir)? {
                if let Some(name) = sub.file_name().and_then(|n| n.to_str()) {
                    names.push(name.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    /// Remove the tool's root group in every hierarchy (bottom-up rmdir).
    /// Fails if any group below it still has processes.
    pub fn remove_root(&self) -> Result<()> {
        for top in self.tops() {
            remove_tree(&top, &top)?;
        }
        Ok(())
    }

    fn group(&self, rel: &str) -> Cgroup {
        match &self.mounts {
            Mounts::V1(m) => m.group(&self.root, rel),
            Mounts::V2(m) => m.group(&self.root, rel),
        }
    }

    /// The tool's root group directory in every hierarchy we use.
    fn tops(&self) -> Vec<PathBuf> {
        match &self.mounts {
            Mounts::V1(m) => m.tops(&self.root),
            Mounts::V2(m) => vec![m.top(&self.root)],
        }
    }
}

/// Components of [A-Za-z0-9_.-]+, no "." or "..", no empty components.
fn validate_rel(rel: &str) -> Result<()> {
    let ok = !rel.is_empty()
        && rel.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        });
    if ok {
        Ok(())
    } else {
        Err(CgroupError::InvalidName(rel.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::fs::{kernel_at_least, POLL_INTERVAL};
    use super::types::cpu_quota_us;
    use super::*;
    use nix::sys::signal::Signal;
    use nix::unistd;
    use std::time::{Duration, Instant};
    use std::{fs, io, thread};

    #[test]
    fn the_running_kernel_is_read_by_its_release() {
        assert!(kernel_at_least(3, 0));
        assert!(!kernel_at_least(999, 0));
    }
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Child, Command, ExitStatus, Stdio};
    use std::sync::atomic::{AtomicUsize, Ordering};

    static COUNTER: AtomicUsize = AtomicUsize::new(0);

    /// A unique root per test, torn down even when the test panics.
    struct TestRoot {
        h: Hierarchy,
    }

    impl TestRoot {
        /// These tests write to the real cgroup filesystem: without root
        /// they are ignored (cfg sandbox_tui_root), or fail if built to run.
        fn new() -> Option<TestRoot> {
            assert!(unistd::geteuid().is_root(), "cgroup tests need root");
            let name = format!(
                "sandbox-tui-test-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            Some(TestRoot {
                h: Hierarchy::detect(&name).expect("detect cgroups"),
            })
        }
    }

    impl Drop for TestRoot {
        fn drop(&mut self) {
            if let Ok(names) = self.h.children("") {
                for name in names {
                    if let Ok(cg) = self.h.open(&name) {
                        let _ = cg.kill_all();
                        let _ = cg.remove();
                    }
                }
            }
            if let Err(e) = self.h.remove_root() {
                eprintln!("cleanup of test cgroup root failed: {e}");
            }
        }
    }

    /// Kills and reaps a spawned child whatever happens in the test.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn spawn(cg: &Cgroup, script: &str) -> Reaped {
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh");
        let pid = child.id() as i32;
        let child = Reaped(child);
        cg.add_process(pid).expect("add_process");
        child
    }

    fn wait_exit(child: &mut Reaped, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = child.0.try_wait().expect("try_wait") {
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "child did not exit in {timeout:?}"
            );
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn alive(pid: i32) -> bool {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            // State follows the parenthesised comm, which may contain spaces.
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| !rest.trim_start().starts_with('Z')),
            Err(_) => false,
        }
    }

    /// The group's directory (in whichever hierarchy) that has `file`.
    fn file_of(cg: &Cgroup, file: &str) -> PathBuf {
        cg.places
            .iter()
            .map(|p| p.dir.join(file))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("no {file} in {:?}", cg.places))
    }

    fn read(cg: &Cgroup, file: &str) -> String {
        read_string(&file_of(cg, file))
            .expect("read cgroup file")
            .trim()
            .to_string()
    }

    fn v1_memory_mounted() -> bool {
        let text = fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        parse_mountinfo(&text)
            .iter()
            .any(|m| m.fstype == "cgroup" && m.super_opts.iter().any(|o| o == "memory"))
    }

    const MIB: u64 = 1024 * 1024;

    #[test]
    fn rel_validation() {
        for ok in ["a", "my-box", "box/a3f9c2", "A_b.c/d-1"] {
            assert!(validate_rel(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "a/../b", "a/./b", "a b", "ä", "a\\b",
        ] {
            assert!(
                matches!(validate_rel(bad), Err(CgroupError::InvalidName(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn mountinfo_parsing() {
        let text = "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                    41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n\
                    50 31 0:40 /x /mnt/with\\040space rw - cgroup cgroup rw,cpu,cpuacct\n\
                    garbage\n";
        let m = parse_mountinfo(text);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].mount_point, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(m[0].super_opts, ["rw", "memory"]);
        assert_eq!(m[1].fstype, "cgroup2");
        assert_eq!(m[2].mount_point, Path::new("/mnt/with space"));
        assert_eq!(m[2].root, "/x");
        assert_eq!(cpu_quota_us(0.5), 50_000);
        assert_eq!(cpu_quota_us(0.001), 1000);
        assert_eq!(cpu_quota_us(2.0), 200_000);
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn detect_and_report() {
        let Some(t) = TestRoot::new() else { return };
        let r = t.h.report();
        eprintln!("{r:#?}");
        if v1_memory_mounted() {
            assert_eq!(t.h.flavor(), Flavor::V1Hybrid);
            assert_eq!(r.flavor, Some(Flavor::V1Hybrid));
            assert!(r.freezer);
            assert!(r.cpuacct);
        } else {
            assert_eq!(t.h.flavor(), Flavor::V2);
        }
        assert!(r.memory && r.pids && r.cpu && r.kill, "{r:?}");
        assert!(Hierarchy::detect("../etc").is_err());
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn create_nested_with_limits_and_remove() {
        let Some(t) = TestRoot::new() else { return };
        let h = &t.h;
        let outer = h.create("box", &Limits::default()).expect("create box");
        let limits = Limits {
            memory_bytes: Some(64 * MIB),
            pids_max: Some(7),
            cpu_quota_cores: Some(0.5),
        };
        let cg = h.create("box/exec", &limits).expect("create box/exec");
        assert_eq!(cg.rel(), "box/exec");
        // Idempotent.
        h.create("box/exec", &limits).expect("create again");

        match h.flavor() {
            Flavor::V1Hybrid => {
                assert_eq!(read(&cg, "memory.limit_in_bytes"), (64 * MIB).to_string());
                assert_eq!(
                    read(&cg, "memory.memsw.limit_in_bytes"),
                    (64 * MIB).to_string()
                );
                assert_eq!(read(&cg, "cpu.cfs_period_us"), "100000");
                assert_eq!(read(&cg, "cpu.cfs_quota_us"), "50000");
                assert_eq!(read(&cg, "memory.use_hierarchy"), "1");
                // Raising and lowering both need the memsw/memory order right.
                for mib in [256, 16, 128] {
                    let l = Limits {
                        memory_bytes: Some(mib * MIB),
                        ..Limits::default()
                    };
                    cg.set_limits(&l).expect("change memory limit");
                    assert_eq!(read(&cg, "memory.limit_in_bytes"), (mib * MIB).to_string());
                    assert_eq!(
                        read(&cg, "memory.memsw.limit_in_bytes"),
                        (mib * MIB).to_string()
                    );
                }
                // Never create anything in cpuset.
                let cpuset_top = Path::new("/sys/fs/cgroup/cpuset").join(&h.root);
                assert!(!cpuset_top.exists());
            }
            Flavor::V2 => {
                assert_eq!(read(&cg, "memory.max"), (64 * MIB).to_string());
                assert_eq!(read(&cg, "memory.oom.group"), "1");
                assert_eq!(read(&cg, "cpu.max"), "50000 100000");
                let sub = read(&outer, "cgroup.subtree_control");
                assert!(sub.contains("memory") && sub.contains("pids"), "{sub}");
            }
        }
        assert_eq!(read(&cg, "pids.max"), "7");
        assert_eq!(read(&outer, "pids.max"), "max");

        assert_eq!(h.children("").expect("children"), ["box"]);
        assert_eq!(h.children("box").expect("children"), ["exec"]);
        assert!(h.children("box/exec").expect("children").is_empty());
        assert!(h.open("box/exec").is_ok());
        assert!(matches!(h.open("nope"), Err(CgroupError::NotFound(_))));
        assert!(matches!(
            h.create("box/../x", &Limits::default()),
            Err(CgroupError::InvalidName(_))
        ));

        outer.remove().expect("remove");
        outer.remove().expect("remove is idempotent");
        for p in cg.places.iter().chain(&outer.places) {
            assert!(!p.dir.exists(), "{} still exists", p.dir.display());
        }
    }

    /// A group without a CPU quota is made and joined without the cpu
    /// hierarchy (v1), yet removed from every hierarchy, including a child
    /// made with a quota; an empty group goes with one rmdir per hierarchy.
    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn groups_without_cpu_quota_skip_the_cpu_hierarchy() {
        let Some(t) = TestRoot::new() else { return };
        let h = &t.h;
        let outer = h.create("box", &Limits::default()).expect("create box");
        let Mounts::V1(m) = &h.mounts else { return };
        let Some(cpu) = m.cpu_mount() else { return };
        let cpu_dir = cpu.join(&h.root).join("box");
        assert!(!cpu_dir.exists(), "{} was made", cpu_dir.display());
        assert!(outer
            .placement()
            .self_join
            .iter()
            .all(|tasks| !tasks.starts_with(&cpu)));
        let quota = Limits {
            cpu_quota_cores: Some(0.5),
            ..Limits::default()
        };
        // Only the leaf is made: box has no group in cpu to hold it.
        assert!(matches!(
            h.create_child("box/exec", &quota),
            Err(CgroupError::NotFound(_))
        ));
        let inner = h.create("box/exec", &quota).expect("create with parents");
        assert!(cpu_dir.join("exec").is_dir());
        assert!(inner
            .placement()
            .self_join
            .iter()
            .any(|tasks| tasks.starts_with(&cpu)));
        assert!(matches!(
            h.create_child("nobox/exec", &Limits::default()),
            Err(CgroupError::NotFound(_))
        ));
        inner.kill_and_remove().expect("remove the empty child");
        assert!(!cpu_dir.join("exec").exists());
        h.create_child("box/exec", &Limits::default())
            .expect("create child");
        // The parent has a child group: rmdir refuses, the walk removes both.
        outer.kill_and_remove().expect("remove box and its child");
        for p in &outer.places {
            assert!(!p.dir.exists(), "{} still exists", p.dir.display());
        }
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn kill_all_and_remove_a_real_process() {
        let Some(t) = TestRoot::new() else { return };
        let cg = t.h.create("box/run", &Limits::default()).expect("create");
        let mut child = spawn(&cg, "exec sleep 30");
        let pid = child.0.id() as i32;
        assert_eq!(cg.pids().expect("pids"), [pid]);
        assert!(cg.is_populated().expect("populated"));
        assert!(cg.usage(Reading::Live).expect("usage").pids_current >= 1);
        let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("proc cgroup");
        let want = format!("{}/box/run", t.h.root);
        // In every hierarchy we use, including unified (0::) if present.
        let hits = own.lines().filter(|l| l.ends_with(&want)).count();
        assert!(hits >= 3, "{own}");

        cg.kill_all().expect("kill_all");
        assert!(cg.pids().expect("pids").is_empty());
        assert!(!cg.is_populated().expect("populated"));
        let st = wait_exit(&mut child, Duration::from_secs(2));
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        cg.kill_all().expect("kill_all on an empty group");

        cg.remove().expect("remove");
        for p in &cg.places {
            assert!(!p.dir.exists(), "{} still exists", p.dir.display());
        }
        // The parent stays (v1 without a CPU quota has none in cpu).
        let parents = cg.places.iter().filter(|p| p.top.join("box").exists());
        assert!(parents.count() >= 3);
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn kill_all_reaches_setsid_grandchildren() {
        let Some(t) = TestRoot::new() else { return };
        let cg = t.h.create("box", &Limits::default()).expect("create");
        // The delay makes sure the forks happen after add_process.
        let mut child = spawn(&cg, "sleep 0.3; setsid sleep 60 & sleep 60");
        let deadline = Instant::now() + Duration::from_secs(5);
        let pids = loop {
            let pids = cg.pids().expect("pids");
            if pids.len() >= 3 {
                break pids;
            }
            assert!(Instant::now() < deadline, "only {pids:?} appeared");
            thread::sleep(POLL_INTERVAL);
        };
        let start = Instant::now();
        cg.kill_all().expect("kill_all");
        eprintln!("kill_all of {} pids took {:?}", pids.len(), start.elapsed());
        assert!(!cg.is_populated().expect("populated"));
        wait_exit(&mut child, Duration::from_secs(2));
        for pid in pids {
            assert!(!alive(pid), "pid {pid} survived");
        }
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn v1_freezer_fallback_kills_a_fork_loop() {
        let Some(mut t) = TestRoot::new() else { return };
        let Mounts::V1(m) = &mut t.h.mounts else {
            return;
        };
        m.drop_unified();
        let limits = Limits {
            pids_max: Some(64),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        assert!(cg
            .places
            .iter()
            .all(|p| !p.dir.starts_with("/sys/fs/cgroup/unified")));
        let mut child = spawn(
            &cg,
            "sleep 0.2; setsid sleep 60 & while :; do sleep 5 & sh -c 'sleep 5 &'; done",
        );
        thread::sleep(Duration::from_millis(500));
        let before = cg.pids().expect("pids");
        assert!(before.len() > 3, "{before:?}");
        let start = Instant::now();
        cg.kill_all().expect("kill_all");
        eprintln!(
            "freezer kill_all of {} pids took {:?}",
            before.len(),
            start.elapsed()
        );
        assert!(cg.pids().expect("pids").is_empty());
        wait_exit(&mut child, Duration::from_secs(2));
        for pid in before {
            assert!(!alive(pid), "pid {pid} survived");
        }
        cg.remove().expect("remove");
    }

    /// The v2 backend on this hybrid machine's controller-less cgroup2
    /// mount: no limits, but groups, cgroup.kill, cgroup.freeze and cpu.stat.
    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn v2_backend_without_controllers() {
        let Some(mut t) = TestRoot::new() else { return };
        let Some(base) = v2::Mount::unified_for_test() else {
            return;
        };
        t.h.mounts = Mounts::V2(base);
        assert_eq!(t.h.flavor(), Flavor::V2);
        eprintln!("{:#?}", t.h.report());
        let cg = t.h.create("box/run", &Limits::default()).expect("create");
        let limits = Limits {
            memory_bytes: Some(64 * MIB),
            ..Limits::default()
        };
        assert!(matches!(
            cg.set_limits(&limits),
            Err(CgroupError::Unavailable(_))
        ));
        let mut child = spawn(&cg, "exec sleep 30");
        let pid = child.0.id() as i32;
        assert_eq!(cg.pids().expect("pids"), [pid]);
        assert!(cg.is_populated().expect("populated"));
        assert_eq!(t.h.children("box").expect("children"), ["run"]);
        cg.signal_all(Signal::SIGSTOP).expect("signal_all");
        assert_eq!(read(&cg, "cgroup.freeze"), "0");
        cg.kill_all().expect("kill_all");
        assert!(!cg.is_populated().expect("populated"));
        let st = wait_exit(&mut child, Duration::from_secs(2));
        assert_eq!(st.signal(), Some(libc::SIGKILL));
        t.h.open("box").expect("open").remove().expect("remove");
        assert!(t.h.children("").expect("children").is_empty());
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn memory_limit_triggers_oom() {
        let Some(t) = TestRoot::new() else { return };
        let limits = Limits {
            memory_bytes: Some(50 * MIB),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        let mut child = spawn(
            &cg,
            r#"sleep 0.3; x=$(head -c 300000000 /dev/zero | tr "\0" a); echo survived"#,
        );
        let st = wait_exit(&mut child, Duration::from_secs(30));
        let u = cg.usage(Reading::Outcome).expect("usage");
        eprintln!("exit {st:?}, {u:?}");
        assert!(u.oom_kills >= 1, "{u:?}");
        assert!(u.peak_memory_bytes > 0, "{u:?}");
        assert!(u.peak_memory_bytes <= 51 * MIB, "{u:?}");
        assert!(!st.success());
        cg.kill_all().expect("kill_all");
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn pids_limit_makes_fork_fail() {
        let Some(t) = TestRoot::new() else { return };
        let limits = Limits {
            pids_max: Some(5),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        let child = spawn(
            &cg,
            "sleep 0.3; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 30 & done; sleep 30",
        );
        thread::sleep(Duration::from_millis(1000));
        let u = cg.usage(Reading::Live).expect("usage");
        assert!(u.pids_current <= 5, "{u:?}");
        assert!(cg.pids().expect("pids").len() <= 5);
        cg.kill_all().expect("kill_all");
        let mut child = child;
        let mut stderr = String::new();
        if let Some(mut e) = child.0.stderr.take() {
            io::Read::read_to_string(&mut e, &mut stderr).expect("read stderr");
        }
        eprintln!("stderr: {stderr}");
        assert!(stderr.to_lowercase().contains("fork"), "{stderr}");
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn cpu_usage_grows_and_quota_holds() {
        let Some(t) = TestRoot::new() else { return };
        let limits = Limits {
            cpu_quota_cores: Some(0.5),
            ..Limits::default()
        };
        let cg = t.h.create("box", &limits).expect("create");
        let _child = spawn(&cg, "while :; do :; done");
        let before = cg.usage(Reading::Limits).expect("usage").cpu_ns;
        thread::sleep(Duration::from_secs(1));
        let after = cg.usage(Reading::Limits).expect("usage").cpu_ns;
        let used = after - before;
        eprintln!("busy loop used {used} ns in 1 s at 0.5 cores");
        assert!(used > 50_000_000, "{used}");
        assert!(used < 750_000_000, "{used}");
        cg.kill_all().expect("kill_all");
        cg.remove().expect("remove");
    }

    #[test]
    #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
    fn signal_all_delivers_and_thaws() {
        let Some(t) = TestRoot::new() else { return };
        let cg = t.h.create("box", &Limits::default()).expect("create");
        let mut child = spawn(&cg, "exec sleep 30");
        cg.signal_all(Signal::SIGTERM).expect("signal_all");
        let st = wait_exit(&mut child, Duration::from_secs(2));
        assert_eq!(st.signal(), Some(libc::SIGTERM));
        if let Some(p) = cg
            .places
            .iter()
            .find(|p| p.dir.join("freezer.state").exists())
        {
            let state = read_string(&p.dir.join("freezer.state")).expect("state");
            assert_eq!(state.trim(), "THAWED");
        }
        cg.remove().expect("remove");
    }
}
