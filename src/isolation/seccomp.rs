//! Seccomp-BPF deny-list installed in the sandboxed child just before `execve`.
//!
//! The default action is allow: namespaces, pivot_root, landlock and the
//! cgroup already confine the child, and this filter removes kernel attack
//! surface and escape hatches that those layers do not cover (new namespaces,
//! ptrace, keyrings, bpf, io_uring, terminal injection, ...).
//!
//! Syscall names are data and are resolved by seccompiler's JSON frontend,
//! which fails on names the target architecture does not know. That makes the
//! filter fail closed: a typo in [`DENIED_SYSCALLS`] is a build error, never a
//! silently missing rule. Names an architecture genuinely lacks are listed in
//! [`arch_exclusions`], and a test checks that each exclusion really is absent.
//!
//! seccompiler gives one match action per filter, so the result is a small
//! stack of filters (EPERM deny-list, ENOSYS for `clone3`, and on x86_64 an
//! x32 guard). The kernel evaluates every installed filter and the most
//! restrictive verdict wins, so the stack behaves like one program.

use std::collections::HashMap;

use seccompiler::{sock_filter, BpfProgram, TargetArch};
use serde_json::{json, Value};

/// Syscalls that always fail with EPERM inside the sandbox.
const DENIED_SYSCALLS: &[&str] = &[
    // Process inspection / injection across the sandbox boundary.
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    // Mount table and namespace manipulation.
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "unshare",
    "setns",
    "fsopen",
    "fsmount",
    "fsconfig",
    "move_mount",
    "open_tree",
    "fspick",
    "mount_setattr",
    // Handle-based opens bypass path-based confinement.
    "open_by_handle_at",
    "name_to_handle_at",
    // Kernel code loading, rebooting, kernel-global state.
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "quotactl",
    "syslog",
    "vhangup",
    "nfsservctl",
    "lookup_dcookie",
    "uselib",
    "iopl",
    "ioperm",
    // Large, frequently exploited kernel surfaces.
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    // Kernel keyrings are not namespaced.
    "keyctl",
    "add_key",
    "request_key",
    // The system clock is global.
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
];

/// Names from [`DENIED_SYSCALLS`] that do not exist on `arch`. Keep this to
/// syscalls the architecture truly lacks: anything listed here is skipped, so
/// a misplaced entry would weaken the filter (the `exclusions_are_honest`
/// test guards against that).
fn arch_exclusions(arch: TargetArch) -> &'static [&'static str] {
    match arch {
        // arm64 uses the asm-generic table: no x86 port I/O, no a.out uselib.
        TargetArch::aarch64 => &["uselib", "iopl", "ioperm"],
        _ => &[],
    }
}

/// Human-readable list of the argument-dependent rules, for `doctor` and docs.
const CONDITIONAL_RULES: &[&str] = &[
    "personality: EPERM unless the argument is 0 (PER_LINUX) or 0xffffffff (query)",
    "ioctl: EPERM for TIOCSTI (0x5412) and TIOCLINUX (0x541c)",
    "clone: EPERM when flags contain any CLONE_NEW* namespace bit",
    "clone3: ENOSYS (flags live in memory seccomp cannot read; libc falls back to clone)",
    "x86_64: ENOSYS for x32-ABI syscall numbers (they would bypass the number-based rules)",
];

const TIOCSTI: u64 = 0x5412;
const TIOCLINUX: u64 = 0x541C;

/// Namespace-creating clone flags. All fit in the low 32 bits, so a dword
/// compare sees them. CLONE_NEWTIME shares a bit with CSIGNAL in clone(2),
/// but no valid exit signal has bit 0x80 set, so checking it costs nothing.
const CLONE_NS_FLAGS: &[(&str, libc::c_int)] = &[
    ("CLONE_NEWUSER", libc::CLONE_NEWUSER),
    ("CLONE_NEWNS", libc::CLONE_NEWNS),
    ("CLONE_NEWPID", libc::CLONE_NEWPID),
    ("CLONE_NEWNET", libc::CLONE_NEWNET),
    ("CLONE_NEWIPC", libc::CLONE_NEWIPC),
    ("CLONE_NEWUTS", libc::CLONE_NEWUTS),
    ("CLONE_NEWCGROUP", libc::CLONE_NEWCGROUP),
    ("CLONE_NEWTIME", libc::CLONE_NEWTIME),
];

/// Kernel limit on instructions in one classic BPF program.
const BPF_MAXINSNS: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp filter: unsupported architecture {0:?} (supported: x86_64, aarch64)")]
    UnsupportedArch(String),
    /// Includes unknown syscall names, which is what makes the filter fail closed.
    #[error("seccomp filter compilation failed: {0}")]
    Compile(#[from] seccompiler::Error),
    #[error("seccomp filter compilation produced no program for {0:?}")]
    MissingProgram(&'static str),
    #[error("seccomp filter {name:?} has {len} instructions (kernel limit {BPF_MAXINSNS})")]
    TooLong { name: &'static str, len: usize },
}

/// Prebuilt filters, compiled in the supervisor before fork so that the
/// child only has to hand pointers to the kernel.
#[derive(Debug, Clone)]
pub struct SeccompProgram {
    filters: Vec<BpfProgram>,
}

/// Mirrors `struct sock_fprog`; seccompiler's own is private.
#[repr(C)]
struct SockFprog {
    len: libc::c_ushort,
    filter: *const sock_filter,
}

impl SeccompProgram {
    /// Install every filter on the calling thread.
    ///
    /// Runs in the forked child after `PR_SET_NO_NEW_PRIVS`, as the last step
    /// before `execve`: it does not allocate and only makes raw syscalls, so
    /// it is async-signal-safe. On `Err` some filters may already be in
    /// place; the caller must not exec and should `_exit`.
    pub fn install(&self) -> Result<(), nix::errno::Errno> {
        for filter in &self.filters {
            install_one(filter)?;
        }
        Ok(())
    }

    /// Number of stacked filters (for diagnostics).
    pub fn filter_count(&self) -> usize {
        self.filters.len()
    }

    /// Total BPF instructions across all filters (for diagnostics).
    pub fn instruction_count(&self) -> usize {
        self.filters.iter().map(Vec::len).sum()
    }

    /// The filters as plain words (`code << 48 | jt << 40 | jf << 32 | k`), so
    /// the supervisor can compile them while the sandbox's init is still being
    /// exec'd and hand them over with the rest of the spec.
    pub fn to_words(&self) -> Vec<Vec<u64>> {
        self.filters
            .iter()
            .map(|filter| {
                filter
                    .iter()
                    .map(|i| {
                        (u64::from(i.code) << 48)
                            | (u64::from(i.jt) << 40)
                            | (u64::from(i.jf) << 32)
                            | u64::from(i.k)
                    })
                    .collect()
            })
            .collect()
    }

    pub fn from_words(words: &[Vec<u64>]) -> Result<SeccompProgram, SeccompError> {
        let mut filters = Vec::with_capacity(words.len());
        for filter in words {
            if filter.is_empty() || filter.len() > BPF_MAXINSNS {
                return Err(SeccompError::TooLong {
                    name: "handed-over filter",
                    len: filter.len(),
                });
            }
            filters.push(
                filter
                    .iter()
                    .map(|w| sock_filter {
                        code: (w >> 48) as u16,
                        jt: (w >> 40) as u8,
                        jf: (w >> 32) as u8,
                        k: *w as u32,
                    })
                    .collect(),
            );
        }
        Ok(SeccompProgram { filters })
    }
}

fn install_one(filter: &[sock_filter]) -> Result<(), nix::errno::Errno> {
    // Lengths are checked against BPF_MAXINSNS at build time, so this cannot
    // truncate.
    let prog = SockFprog {
        len: filter.len() as libc::c_ushort,
        filter: filter.as_ptr(),
    };
    // SAFETY: `prog` points at a live, correctly sized instruction array that
    // outlives the call; the kernel copies it and keeps no reference.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
            0 as libc::c_ulong,
            &prog as *const SockFprog,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(nix::errno::Errno::last())
    }
}

/// Names of the unconditionally denied syscalls (including ones that a given
/// architecture lacks), for `doctor` and docs.
pub fn denied_syscalls() -> &'static [&'static str] {
    DENIED_SYSCALLS
}

/// Descriptions of the argument-dependent rules, for `doctor` and docs.
pub fn conditional_rules() -> &'static [&'static str] {
    CONDITIONAL_RULES
}

/// Build the sandbox filter for the running architecture.
pub fn build_filter() -> Result<SeccompProgram, SeccompError> {
    build_filter_from(DENIED_SYSCALLS)
}

/// Build a filter denying `names` (minus this architecture's exclusions)
/// plus the fixed conditional rules. Any name unknown to the architecture is
/// an error.
pub fn build_filter_from(names: &[&str]) -> Result<SeccompProgram, SeccompError> {
    build_for_arch(host_arch()?, names)
}

fn host_arch() -> Result<TargetArch, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(TargetArch::x86_64),
        "aarch64" => Ok(TargetArch::aarch64),
        other => Err(SeccompError::UnsupportedArch(other.to_string())),
    }
}

const EPERM_FILTER: &str = "deny_eperm";
const ENOSYS_FILTER: &str = "deny_enosys";

fn build_for_arch(arch: TargetArch, names: &[&str]) -> Result<SeccompProgram, SeccompError> {
    let excluded = arch_exclusions(arch);
    let mut eperm_rules: Vec<Value> = names
        .iter()
        .filter(|n| !excluded.contains(n))
        .map(|n| json!({ "syscall": n }))
        .collect();
    eperm_rules.extend(conditional_eperm_rules());

    let doc = json!({
        EPERM_FILTER: {
            "mismatch_action": "allow",
            "match_action": { "errno": libc::EPERM },
            "filter": eperm_rules,
        },
        ENOSYS_FILTER: {
            "mismatch_action": "allow",
            "match_action": { "errno": libc::ENOSYS },
            "filter": [ { "syscall": "clone3", "comment": "force libc fallback to clone(2)" } ],
        },
    });
    let text = doc.to_string();
    let mut map: HashMap<String, BpfProgram> =
        seccompiler::compile_from_json(text.as_bytes(), arch)?;

    let mut filters = Vec::with_capacity(3);
    for name in [EPERM_FILTER, ENOSYS_FILTER] {
        let prog = map.remove(name).ok_or(SeccompError::MissingProgram(name))?;
        if prog.len() > BPF_MAXINSNS {
            return Err(SeccompError::TooLong {
                name,
                len: prog.len(),
            });
        }
        filters.push(prog);
    }
    if arch == TargetArch::x86_64 {
        filters.push(x32_guard());
    }
    Ok(SeccompProgram { filters })
}

fn conditional_eperm_rules() -> Vec<Value> {
    let mut rules = vec![
        json!({
            "syscall": "personality",
            "comment": "allow only PER_LINUX and the 0xffffffff query",
            "args": [
                { "index": 0, "type": "dword", "op": "ne", "val": 0 },
                { "index": 0, "type": "dword", "op": "ne", "val": 0xffff_ffffu32 },
            ],
        }),
        // The kernel takes the ioctl request as unsigned int, so comparing the
        // low 32 bits also catches values with junk in the upper half.
        json!({
            "syscall": "ioctl",
            "comment": "TIOCSTI: inject input into the controlling terminal",
            "args": [ { "index": 1, "type": "dword", "op": "eq", "val": TIOCSTI } ],
        }),
        json!({
            "syscall": "ioctl",
            "comment": "TIOCLINUX: console selection paste can inject input",
            "args": [ { "index": 1, "type": "dword", "op": "eq", "val": TIOCLINUX } ],
        }),
    ];
    // masked_eq is "(arg & mask) == val", so one rule per bit expresses
    // "any of these bits set". Flags are arg0 of clone on x86_64 and aarch64.
    for (name, flag) in CLONE_NS_FLAGS {
        let bit = *flag as u32 as u64;
        rules.push(json!({
            "syscall": "clone",
            "comment": name,
            "args": [ { "index": 0, "type": "dword", "op": { "masked_eq": bit }, "val": bit } ],
        }));
    }
    rules
}

// Classic BPF opcodes and seccomp_data offsets (linux/filter.h, linux/seccomp.h).
/// BPF_LD (0) | BPF_W (0) | BPF_ABS (0x20).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JSET_K: u16 = 0x05 | 0x40;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// x32 syscalls arrive with AUDIT_ARCH_X86_64 and `nr | 0x40000000`, so they
/// match none of seccompiler's exact-number rules and would slip past the
/// deny-list on kernels built with x32 support. Refuse them all.
fn x32_guard() -> BpfProgram {
    let ins = |code, jt, jf, k| sock_filter { code, jt, jf, k };
    vec![
        ins(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_ARCH),
        ins(BPF_JMP_JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        ins(BPF_LD_W_ABS, 0, 0, SECCOMP_DATA_NR),
        ins(BPF_JMP_JSET_K, 0, 1, X32_SYSCALL_BIT),
        ins(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA),
        ),
        ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};

    #[test]
    fn builds_for_host() {
        let prog = build_filter().expect("filter builds");
        assert!(prog.filter_count() >= 2);
        assert!(prog.instruction_count() > DENIED_SYSCALLS.len());
    }

    #[test]
    fn builds_for_all_supported_arches() {
        for arch in [TargetArch::x86_64, TargetArch::aarch64] {
            build_for_arch(arch, DENIED_SYSCALLS).unwrap_or_else(|e| panic!("{arch:?}: {e}"));
        }
    }

    #[test]
    fn unknown_name_fails_closed() {
        let mut names = DENIED_SYSCALLS.to_vec();
        names.push("not_a_syscall");
        let err = build_filter_from(&names).expect_err("must fail");
        assert!(err.to_string().contains("not_a_syscall"), "{err}");
    }

    #[test]
    fn exclusions_are_honest() {
        for arch in [TargetArch::x86_64, TargetArch::aarch64] {
            for name in arch_exclusions(arch) {
                assert!(DENIED_SYSCALLS.contains(name), "{name} not in deny list");
                // Bypass the exclusion by compiling the bare name: it must be
                // unknown, otherwise the exclusion hides a real syscall.
                let doc = json!({ "f": {
                    "mismatch_action": "allow",
                    "match_action": { "errno": 1 },
                    "filter": [ { "syscall": name } ],
                }});
                let res = seccompiler::compile_from_json(doc.to_string().as_bytes(), arch);
                assert!(
                    res.is_err(),
                    "{name} exists on {arch:?}; drop the exclusion"
                );
            }
        }
    }

    #[test]
    fn no_duplicates_in_deny_list() {
        let mut v = DENIED_SYSCALLS.to_vec();
        v.sort_unstable();
        v.dedup();
        assert_eq!(v.len(), DENIED_SYSCALLS.len());
    }

    // Child exit codes.
    const OK: i32 = 0;
    const SETUP_FAILED: i32 = 100;

    /// Fork, install the filter in the child, run `probe` there and return
    /// its exit code. The probe must stay async-signal-safe: raw libc calls
    /// only, no allocation, no printing.
    fn in_filtered_child(prog: &SeccompProgram, probe: fn() -> i32) -> i32 {
        // SAFETY: the child only calls async-signal-safe functions (prctl,
        // raw syscalls, _exit) before exiting.
        match unsafe { fork() }.expect("fork") {
            ForkResult::Child => {
                // SAFETY: plain prctl/_exit calls with constant arguments.
                unsafe {
                    if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                        libc::_exit(SETUP_FAILED);
                    }
                    if prog.install().is_err() {
                        libc::_exit(SETUP_FAILED + 1);
                    }
                    libc::_exit(probe());
                }
            }
            ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
                WaitStatus::Exited(_, code) => code,
                other => panic!("child did not exit normally: {other:?}"),
            },
        }
    }

    fn errno() -> i32 {
        nix::errno::Errno::last_raw()
    }

    /// 0 if `rc` is -1 with `want`, else the observed errno (or 99 on success).
    fn expect_errno(rc: libc::c_long, want: i32) -> i32 {
        if rc != -1 {
            return 99;
        }
        let e = errno();
        if e == want {
            OK
        } else {
            e
        }
    }

    fn check(probe: fn() -> i32) {
        let prog = build_filter().expect("filter builds");
        assert_eq!(in_filtered_child(&prog, probe), OK);
    }

    #[test]
    fn unshare_newns_is_eperm() {
        check(|| {
            // SAFETY: raw syscall, no memory arguments.
            let rc = unsafe { libc::unshare(libc::CLONE_NEWNS) };
            expect_errno(rc as libc::c_long, libc::EPERM)
        });
    }

    #[test]
    fn ptrace_traceme_is_eperm() {
        check(|| {
            // SAFETY: PTRACE_TRACEME ignores the pointer arguments.
            let rc = unsafe {
                libc::ptrace(
                    libc::PTRACE_TRACEME,
                    0,
                    std::ptr::null_mut::<libc::c_void>(),
                    std::ptr::null_mut::<libc::c_void>(),
                )
            };
            expect_errno(rc, libc::EPERM)
        });
    }

    #[test]
    fn mount_is_eperm() {
        check(|| {
            // Unfiltered this would be ENOENT (missing target), so EPERM proves the filter.
            // SAFETY: all pointers are NUL-terminated static strings.
            let rc = unsafe {
                libc::mount(
                    c"none".as_ptr(),
                    c"/nonexistent-sandbox-tui-test".as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    std::ptr::null(),
                )
            };
            expect_errno(rc as libc::c_long, libc::EPERM)
        });
    }

    #[test]
    fn clone3_is_enosys() {
        check(|| {
            // Unfiltered, a NULL/0-sized clone_args is EINVAL, so ENOSYS proves the filter.
            // SAFETY: the kernel never dereferences the NULL pointer (filter or size check first).
            let rc = unsafe {
                libc::syscall(libc::SYS_clone3, std::ptr::null::<libc::c_void>(), 0usize)
            };
            expect_errno(rc, libc::ENOSYS)
        });
    }

    #[test]
    fn plain_fork_still_works() {
        check(|| {
            // SAFETY: the grandchild only calls _exit; the child only waitpid.
            unsafe {
                let pid = libc::fork();
                if pid < 0 {
                    return errno();
                }
                if pid == 0 {
                    libc::_exit(42);
                }
                let mut status = 0;
                if libc::waitpid(pid, &mut status, 0) != pid {
                    return 98;
                }
                if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 42 {
                    OK
                } else {
                    97
                }
            }
        });
    }

    #[test]
    fn clone_with_namespace_flags_is_eperm() {
        check(|| {
            let flags = [
                libc::CLONE_NEWUSER,
                libc::CLONE_NEWNS,
                libc::CLONE_NEWPID,
                libc::CLONE_NEWNET,
                libc::CLONE_NEWIPC,
                libc::CLONE_NEWUTS,
                libc::CLONE_NEWCGROUP,
            ];
            for (i, f) in flags.iter().enumerate() {
                // Mixed with other bits, as real callers pass them.
                let all = (*f | libc::SIGCHLD) as libc::c_ulong;
                // SAFETY: fork-like clone (no new stack); a child that slips
                // through exits at once.
                let rc =
                    unsafe { libc::syscall(libc::SYS_clone, all, 0usize, 0usize, 0usize, 0usize) };
                if rc == 0 {
                    // SAFETY: _exit is async-signal-safe.
                    unsafe { libc::_exit(0) };
                }
                let r = expect_errno(rc, libc::EPERM);
                if r != OK {
                    return 10 + i as i32;
                }
            }
            OK
        });
    }

    #[test]
    fn tiocsti_and_tioclinux_are_eperm() {
        check(|| {
            let c: u8 = b'x';
            for (i, req) in [TIOCSTI, TIOCLINUX].into_iter().enumerate() {
                // Unfiltered this would be ENOTTY/EBADF/EIO, never EPERM-by-filter for a non-tty.
                // SAFETY: the argument points at a live byte.
                let rc = unsafe { libc::ioctl(0, req as libc::Ioctl, &c as *const u8) };
                if expect_errno(rc as libc::c_long, libc::EPERM) != OK {
                    return 20 + i as i32;
                }
                // Upper bits are ignored by the kernel, so they must not dodge the rule.
                let wide = (req | 0xdead_0000_0000) as libc::c_ulong;
                // SAFETY: as above.
                let rc = unsafe { libc::syscall(libc::SYS_ioctl, 0, wide, &c as *const u8) };
                if expect_errno(rc, libc::EPERM) != OK {
                    return 30 + i as i32;
                }
            }
            OK
        });
    }

    #[test]
    fn personality_only_query_and_linux() {
        check(|| {
            // SAFETY: personality has no memory arguments.
            unsafe {
                let cur = libc::personality(0xffff_ffff);
                if cur == -1 {
                    return 40;
                }
                if libc::personality(0) == -1 {
                    return 41;
                }
                if expect_errno(libc::personality(0x0008) as libc::c_long, libc::EPERM) != OK {
                    return 42;
                }
                // ADDR_NO_RANDOMIZE would weaken ASLR for everything exec'd later.
                if expect_errno(libc::personality(0x0040000) as libc::c_long, libc::EPERM) != OK {
                    return 43;
                }
            }
            OK
        });
    }

    #[test]
    fn ordinary_syscalls_work() {
        check(|| {
            // SAFETY: getpid/getppid have no arguments.
            let pid = unsafe { libc::getpid() };
            if pid <= 0 {
                return 50;
            }
            // SAFETY: raw getpid, no arguments.
            if unsafe { libc::syscall(libc::SYS_getpid) } != pid as libc::c_long {
                return 51;
            }
            OK
        });
    }

    /// glibc tries clone3 first for threads; ENOSYS must make it fall back to
    /// clone with thread flags, which the namespace rules must not catch.
    #[test]
    fn threads_still_start() {
        extern "C" fn thread_main(_: *mut libc::c_void) -> *mut libc::c_void {
            std::ptr::null_mut()
        }
        check(|| {
            // SAFETY: pthread_t is plain data; the thread runs a no-op
            // function and is joined before returning.
            unsafe {
                let mut tid: libc::pthread_t = std::mem::zeroed();
                if libc::pthread_create(
                    &mut tid,
                    std::ptr::null(),
                    thread_main,
                    std::ptr::null_mut(),
                ) != 0
                {
                    return 60;
                }
                if libc::pthread_join(tid, std::ptr::null_mut()) != 0 {
                    return 61;
                }
            }
            OK
        });
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x32_numbers_are_refused() {
        check(|| {
            // SAFETY: getpid with the x32 bit; no arguments.
            let rc = unsafe { libc::syscall(X32_SYSCALL_BIT as libc::c_long | libc::SYS_getpid) };
            expect_errno(rc, libc::ENOSYS)
        });
    }

    #[test]
    fn words_round_trip() {
        let program = build_filter().expect("filter");
        let back = SeccompProgram::from_words(&program.to_words()).expect("from words");
        assert_eq!(back.to_words(), program.to_words());
        assert!(SeccompProgram::from_words(&[vec![]]).is_err());
    }
}
