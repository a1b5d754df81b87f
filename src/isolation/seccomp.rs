//! Seccomp-BPF deny-list installed by the sandbox's init just before it
//! starts the command.
//!
//! The default action is allow: namespaces, pivot_root, landlock and the
//! cgroup already confine the child, and this filter removes kernel attack
//! surface and escape hatches that those layers do not cover (new namespaces,
//! ptrace, keyrings, bpf, io_uring, terminal injection, ...).
//!
//! Syscalls are named by libc's `SYS_*` constants for the target
//! architecture, so a name the architecture does not know is a build error:
//! the filter fails closed, never silently missing a rule. The few syscalls
//! an architecture genuinely lacks are in [`ARCH_DENIED_SYSCALLS`] under a
//! `cfg`, and a test checks with seccompiler that they really are absent
//! elsewhere.
//!
//! The program is one filter: the architecture check, the x32 guard, then a
//! binary search over the sorted numbers of the syscalls that have a rule.
//! When a filter is installed (Linux 5.11 and later) the kernel runs it once
//! for every syscall number of every architecture it knows, to cache the
//! syscalls it always allows, and it runs it again for every syscall the
//! sandbox makes that is not cached: a search costs about a dozen
//! instructions where a linear chain (what seccompiler emits, one compare
//! per rule) costs up to a hundred. Built from static tables, the program
//! takes microseconds to make, so the init makes it itself. The tests hold
//! it against the programs seccompiler compiles from the same rules,
//! syscall number by syscall number, argument by argument.

use libc::sock_filter;

/// Syscalls that always fail with EPERM inside the sandbox, on every
/// supported architecture.
const DENIED_SYSCALLS: &[(&str, libc::c_long)] = &[
    // Process inspection / injection across the sandbox boundary.
    ("ptrace", libc::SYS_ptrace),
    ("process_vm_readv", libc::SYS_process_vm_readv),
    ("process_vm_writev", libc::SYS_process_vm_writev),
    // Mount table and namespace manipulation.
    ("mount", libc::SYS_mount),
    ("umount2", libc::SYS_umount2),
    ("pivot_root", libc::SYS_pivot_root),
    ("chroot", libc::SYS_chroot),
    ("unshare", libc::SYS_unshare),
    ("setns", libc::SYS_setns),
    ("fsopen", libc::SYS_fsopen),
    ("fsmount", libc::SYS_fsmount),
    ("fsconfig", libc::SYS_fsconfig),
    ("move_mount", libc::SYS_move_mount),
    ("open_tree", libc::SYS_open_tree),
    ("fspick", libc::SYS_fspick),
    ("mount_setattr", libc::SYS_mount_setattr),
    // Handle-based opens bypass path-based confinement.
    ("open_by_handle_at", libc::SYS_open_by_handle_at),
    ("name_to_handle_at", libc::SYS_name_to_handle_at),
    // Kernel code loading, rebooting, kernel-global state.
    ("kexec_load", libc::SYS_kexec_load),
    ("kexec_file_load", libc::SYS_kexec_file_load),
    ("init_module", libc::SYS_init_module),
    ("finit_module", libc::SYS_finit_module),
    ("delete_module", libc::SYS_delete_module),
    ("reboot", libc::SYS_reboot),
    ("swapon", libc::SYS_swapon),
    ("swapoff", libc::SYS_swapoff),
    ("acct", libc::SYS_acct),
    ("quotactl", libc::SYS_quotactl),
    ("syslog", libc::SYS_syslog),
    ("vhangup", libc::SYS_vhangup),
    ("nfsservctl", libc::SYS_nfsservctl),
    ("lookup_dcookie", libc::SYS_lookup_dcookie),
    // Large, frequently exploited kernel surfaces.
    ("bpf", libc::SYS_bpf),
    ("perf_event_open", libc::SYS_perf_event_open),
    ("userfaultfd", libc::SYS_userfaultfd),
    ("io_uring_setup", libc::SYS_io_uring_setup),
    ("io_uring_enter", libc::SYS_io_uring_enter),
    ("io_uring_register", libc::SYS_io_uring_register),
    // Kernel keyrings are not namespaced.
    ("keyctl", libc::SYS_keyctl),
    ("add_key", libc::SYS_add_key),
    ("request_key", libc::SYS_request_key),
    // The system clock is global.
    ("settimeofday", libc::SYS_settimeofday),
    ("clock_settime", libc::SYS_clock_settime),
    ("clock_adjtime", libc::SYS_clock_adjtime),
    ("adjtimex", libc::SYS_adjtimex),
];

/// Denied syscalls that only some architectures have: x86 port I/O and the
/// a.out `uselib`; arm64's asm-generic table has none of them.
#[cfg(target_arch = "x86_64")]
const ARCH_DENIED_SYSCALLS: &[(&str, libc::c_long)] = &[
    ("uselib", libc::SYS_uselib),
    ("iopl", libc::SYS_iopl),
    ("ioperm", libc::SYS_ioperm),
];
#[cfg(not(target_arch = "x86_64"))]
const ARCH_DENIED_SYSCALLS: &[(&str, libc::c_long)] = &[];

/// Human-readable list of the argument-dependent rules, for `doctor` and docs.
const CONDITIONAL_RULES: &[&str] = &[
    "personality: EPERM unless the argument is 0 (PER_LINUX) or 0xffffffff (query)",
    "ioctl: EPERM for TIOCSTI (0x5412) and TIOCLINUX (0x541c)",
    "clone: EPERM when flags contain any CLONE_NEW* namespace bit",
    "clone3: ENOSYS (flags live in memory seccomp cannot read; libc falls back to clone)",
    "x86_64: ENOSYS for x32-ABI syscall numbers (they would bypass the number-based rules)",
];

const TIOCSTI: u32 = 0x5412;
const TIOCLINUX: u32 = 0x541C;

/// Namespace-creating clone flags. All fit in the low 32 bits, so a dword
/// test sees them. CLONE_NEWTIME shares a bit with CSIGNAL in clone(2), but
/// no valid exit signal has bit 0x80 set, so checking it costs nothing.
const CLONE_NS_FLAGS: u32 = (libc::CLONE_NEWUSER
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP
    | libc::CLONE_NEWTIME) as u32;

/// Kernel limit on instructions in one classic BPF program.
const BPF_MAXINSNS: usize = 4096;

/// Rules per leaf of the search: compared one after the other.
const LEAF_RULES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp filter: unsupported architecture {0:?} (supported: x86_64, aarch64)")]
    UnsupportedArch(&'static str),
    #[error("seccomp filter has {0} instructions (kernel limit {BPF_MAXINSNS})")]
    TooLong(usize),
    #[error("seccomp filter: a jump of {0} instructions does not fit classic BPF")]
    JumpTooFar(usize),
    #[error("seccomp filter: syscall {0} has two rules")]
    DuplicateRule(libc::c_long),
}

/// The sandbox's filter, ready for the kernel.
#[derive(Debug, Clone)]
pub struct SeccompProgram {
    filter: Vec<sock_filter>,
}

impl SeccompProgram {
    /// Install the filter on the calling thread, after `PR_SET_NO_NEW_PRIVS`.
    /// It does not allocate and makes one raw syscall.
    pub fn install(&self) -> Result<(), nix::errno::Errno> {
        // Lengths are checked against BPF_MAXINSNS when it is built, so
        // this cannot truncate.
        let prog = libc::sock_fprog {
            len: self.filter.len() as libc::c_ushort,
            filter: self.filter.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at a live, correctly sized instruction array
        // that outlives the call; the kernel copies it and keeps no reference.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                0 as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(nix::errno::Errno::last())
        }
    }

    /// BPF instructions in the filter (for diagnostics).
    pub fn instruction_count(&self) -> usize {
        self.filter.len()
    }
}

/// Names of the unconditionally denied syscalls on this architecture, for
/// `doctor` and docs.
pub fn denied_syscalls() -> impl Iterator<Item = &'static str> {
    DENIED_SYSCALLS
        .iter()
        .chain(ARCH_DENIED_SYSCALLS)
        .map(|(name, _)| *name)
}

/// Descriptions of the argument-dependent rules, for `doctor` and docs.
pub fn conditional_rules() -> &'static [&'static str] {
    CONDITIONAL_RULES
}

/// What the filter does with one syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    Eperm,
    Enosys,
    /// EPERM unless arg0 is PER_LINUX (0) or the 0xffffffff query.
    Personality,
    /// EPERM for the TIOCSTI and TIOCLINUX requests (arg1).
    Ioctl,
    /// EPERM when the flags (arg0) ask for a new namespace.
    Clone,
}

// Classic BPF opcodes, seccomp_data offsets and audit architectures
// (linux/filter.h, linux/seccomp.h, linux/audit.h).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x15;
const BPF_JMP_JGE_K: u16 = 0x35;
const BPF_JMP_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;
const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_003E);
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: Option<u32> = Some(0xC000_00B7);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const AUDIT_ARCH: Option<u32> = None;

/// The low 32 bits of syscall argument `index` in `struct seccomp_data`.
const fn arg_low_word(index: u32) -> u32 {
    let offset = 16 + 8 * index;
    if cfg!(target_endian = "little") {
        offset
    } else {
        offset + 4
    }
}

const RET_ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
const RET_KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
const RET_EPERM: u32 = libc::SECCOMP_RET_ERRNO | (libc::EPERM as u32 & libc::SECCOMP_RET_DATA);
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | (libc::ENOSYS as u32 & libc::SECCOMP_RET_DATA);

fn stmt(code: u16, k: u32) -> sock_filter {
    sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

impl Rule {
    /// The instructions that return this rule's verdict, entered with the
    /// syscall number in A.
    fn verdict(self) -> Vec<sock_filter> {
        match self {
            Rule::Eperm => vec![stmt(BPF_RET_K, RET_EPERM)],
            Rule::Enosys => vec![stmt(BPF_RET_K, RET_ENOSYS)],
            Rule::Personality => vec![
                stmt(BPF_LD_W_ABS, arg_low_word(0)),
                jump(BPF_JMP_JEQ_K, 0, 2, 0),
                jump(BPF_JMP_JEQ_K, 0xffff_ffff, 1, 0),
                stmt(BPF_RET_K, RET_EPERM),
                stmt(BPF_RET_K, RET_ALLOW),
            ],
            // The kernel takes the request as unsigned int, so comparing the
            // low 32 bits also catches values with junk in the upper half.
            Rule::Ioctl => vec![
                stmt(BPF_LD_W_ABS, arg_low_word(1)),
                jump(BPF_JMP_JEQ_K, TIOCSTI, 2, 0),
                jump(BPF_JMP_JEQ_K, TIOCLINUX, 1, 0),
                stmt(BPF_RET_K, RET_ALLOW),
                stmt(BPF_RET_K, RET_EPERM),
            ],
            // Flags are arg0 of clone on x86_64 and aarch64.
            Rule::Clone => vec![
                stmt(BPF_LD_W_ABS, arg_low_word(0)),
                jump(BPF_JMP_JSET_K, CLONE_NS_FLAGS, 1, 0),
                stmt(BPF_RET_K, RET_ALLOW),
                stmt(BPF_RET_K, RET_EPERM),
            ],
        }
    }
}

/// Every syscall with a rule, sorted by number.
fn rules() -> Result<Vec<(u32, Rule)>, SeccompError> {
    let mut rules: Vec<(libc::c_long, Rule)> = DENIED_SYSCALLS
        .iter()
        .chain(ARCH_DENIED_SYSCALLS)
        .map(|(_, nr)| (*nr, Rule::Eperm))
        .collect();
    rules.extend([
        (libc::SYS_personality, Rule::Personality),
        (libc::SYS_ioctl, Rule::Ioctl),
        (libc::SYS_clone, Rule::Clone),
        // Its flags live in memory that seccomp cannot read: ENOSYS makes
        // libc fall back to clone(2), whose flags it can.
        (libc::SYS_clone3, Rule::Enosys),
    ]);
    rules.sort_unstable_by_key(|(nr, _)| *nr);
    if let Some(pair) = rules.windows(2).find(|pair| pair[0].0 == pair[1].0) {
        return Err(SeccompError::DuplicateRule(pair[0].0));
    }
    Ok(rules
        .into_iter()
        .map(|(nr, rule)| (nr as u32, rule))
        .collect())
}

fn jump_offset(len: usize) -> Result<u8, SeccompError> {
    u8::try_from(len).map_err(|_| SeccompError::JumpTooFar(len))
}

/// The verdict for the syscall number in A, given `rules` sorted by number:
/// a binary search whose leaves compare a few numbers each; a number without
/// a rule is allowed.
fn search(rules: &[(u32, Rule)]) -> Result<Vec<sock_filter>, SeccompError> {
    if rules.len() <= LEAF_RULES {
        // The compares, `ret allow`, then each rule's verdict.
        let verdicts: Vec<Vec<sock_filter>> = rules.iter().map(|(_, r)| r.verdict()).collect();
        let mut code = Vec::new();
        let mut before = 0;
        for (i, (nr, _)) in rules.iter().enumerate() {
            let to_verdict = rules.len() - i - 1 + 1 + before;
            code.push(jump(BPF_JMP_JEQ_K, *nr, jump_offset(to_verdict)?, 0));
            before += verdicts[i].len();
        }
        code.push(stmt(BPF_RET_K, RET_ALLOW));
        code.extend(verdicts.into_iter().flatten());
        return Ok(code);
    }
    let (below, from) = rules.split_at(rules.len() / 2);
    let below = search(below)?;
    let from_code = search(from)?;
    let mut code = vec![jump(BPF_JMP_JGE_K, from[0].0, jump_offset(below.len())?, 0)];
    code.extend(below);
    code.extend(from_code);
    Ok(code)
}

/// Build the sandbox filter for the architecture this binary was built for.
pub fn build_filter() -> Result<SeccompProgram, SeccompError> {
    let arch = AUDIT_ARCH.ok_or(SeccompError::UnsupportedArch(std::env::consts::ARCH))?;
    let mut filter = vec![
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH),
        jump(BPF_JMP_JEQ_K, arch, 1, 0),
        stmt(BPF_RET_K, RET_KILL),
        stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
    ];
    if cfg!(target_arch = "x86_64") {
        // x32 syscalls arrive with AUDIT_ARCH_X86_64 and `nr | 0x40000000`,
        // so they would match none of the rules below on kernels built with
        // x32 support. Refuse them all.
        filter.push(jump(BPF_JMP_JSET_K, X32_SYSCALL_BIT, 0, 1));
        filter.push(stmt(BPF_RET_K, RET_ENOSYS));
    }
    filter.extend(search(&rules()?)?);
    if filter.len() > BPF_MAXINSNS {
        return Err(SeccompError::TooLong(filter.len()));
    }
    Ok(SeccompProgram { filter })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, ForkResult};
    use seccompiler::TargetArch;
    use serde_json::{json, Value};

    #[cfg(target_arch = "x86_64")]
    const TARGET: TargetArch = TargetArch::x86_64;
    #[cfg(target_arch = "aarch64")]
    const TARGET: TargetArch = TargetArch::aarch64;

    /// The rules as seccompiler compiles them from syscall names: a stack of
    /// linear filters (EPERM deny-list, ENOSYS for clone3, the x32 guard),
    /// which the kernel would run together, the most restrictive verdict
    /// winning. This was the filter until it became one search.
    fn reference_filters(arch: TargetArch) -> Vec<Vec<sock_filter>> {
        let mut eperm_rules: Vec<Value> = denied_syscalls()
            .map(|name| json!({ "syscall": name }))
            .collect();
        eperm_rules.push(json!({
            "syscall": "personality",
            "args": [
                { "index": 0, "type": "dword", "op": "ne", "val": 0 },
                { "index": 0, "type": "dword", "op": "ne", "val": 0xffff_ffffu32 },
            ],
        }));
        for request in [TIOCSTI, TIOCLINUX] {
            eperm_rules.push(json!({
                "syscall": "ioctl",
                "args": [ { "index": 1, "type": "dword", "op": "eq", "val": request } ],
            }));
        }
        for bit in (0..32)
            .map(|b| 1u32 << b)
            .filter(|b| CLONE_NS_FLAGS & b != 0)
        {
            eperm_rules.push(json!({
                "syscall": "clone",
                "args": [ { "index": 0, "type": "dword", "op": { "masked_eq": bit }, "val": bit } ],
            }));
        }
        let doc = json!({
            "eperm": {
                "mismatch_action": "allow",
                "match_action": { "errno": libc::EPERM },
                "filter": eperm_rules,
            },
            "enosys": {
                "mismatch_action": "allow",
                "match_action": { "errno": libc::ENOSYS },
                "filter": [ { "syscall": "clone3" } ],
            },
        });
        let mut map = seccompiler::compile_from_json(doc.to_string().as_bytes(), arch)
            .expect("seccompiler compiles the reference");
        let mut filters: Vec<Vec<sock_filter>> = ["eperm", "enosys"]
            .iter()
            .map(|name| {
                map.remove(*name)
                    .expect("compiled")
                    .iter()
                    .map(|i| jump(i.code, i.k, i.jt, i.jf))
                    .collect()
            })
            .collect();
        if arch == TargetArch::x86_64 {
            filters.push(vec![
                stmt(BPF_LD_W_ABS, SECCOMP_DATA_ARCH),
                jump(BPF_JMP_JEQ_K, 0xC000_003E, 1, 0),
                stmt(BPF_RET_K, RET_KILL),
                stmt(BPF_LD_W_ABS, SECCOMP_DATA_NR),
                jump(BPF_JMP_JSET_K, X32_SYSCALL_BIT, 0, 1),
                stmt(BPF_RET_K, RET_ENOSYS),
                stmt(BPF_RET_K, RET_ALLOW),
            ]);
        }
        filters
    }

    /// `struct seccomp_data`: nr, arch, instruction pointer, six arguments.
    fn seccomp_data(nr: u32, arch: u32, args: [u64; 6]) -> [u8; 64] {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_ne_bytes());
        data[4..8].copy_from_slice(&arch.to_ne_bytes());
        for (i, arg) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&arg.to_ne_bytes());
        }
        data
    }

    /// A classic BPF interpreter for what seccomp filters use here.
    fn run_bpf(program: &[sock_filter], data: &[u8; 64]) -> u32 {
        let mut a: u32 = 0;
        let mut pc = 0;
        loop {
            let ins = program[pc];
            pc += 1;
            let skip = |taken: bool| usize::from(if taken { ins.jt } else { ins.jf });
            match ins.code {
                BPF_LD_W_ABS => {
                    let at = ins.k as usize;
                    let mut word = [0u8; 4];
                    word.copy_from_slice(&data[at..at + 4]);
                    a = u32::from_ne_bytes(word);
                }
                BPF_JMP_JEQ_K => pc += skip(a == ins.k),
                BPF_JMP_JGE_K => pc += skip(a >= ins.k),
                0x25 => pc += skip(a > ins.k),
                BPF_JMP_JSET_K => pc += skip(a & ins.k != 0),
                0x05 => pc += ins.k as usize,
                0x54 => a &= ins.k,
                BPF_RET_K => return ins.k,
                0x16 => return a,
                other => panic!("opcode {other:#x} at {}", pc - 1),
            }
        }
    }

    /// The verdict of stacked filters, as the kernel combines them: the
    /// most restrictive action, the newest filter's among equals.
    fn run_stack(filters: &[Vec<sock_filter>], data: &[u8; 64]) -> u32 {
        let rank = |ret: u32| (ret & libc::SECCOMP_RET_ACTION_FULL) as i32;
        let mut verdict: Option<u32> = None;
        for filter in filters.iter().rev() {
            let ret = run_bpf(filter, data);
            if verdict.is_none_or(|v| rank(ret) < rank(v)) {
                verdict = Some(ret);
            }
        }
        verdict.unwrap_or(RET_ALLOW)
    }

    #[test]
    fn the_search_gives_the_verdicts_of_seccompilers_filters() {
        let ours = build_filter().expect("filter builds");
        let reference = reference_filters(TARGET);
        let native = AUDIT_ARCH.expect("a supported architecture");
        let ns = u64::from(CLONE_NS_FLAGS);
        let args_of_interest: Vec<[u64; 6]> = [
            0,
            0xffff_ffff,
            8,
            0x4_0000,
            libc::SIGCHLD as u64,
            (libc::CLONE_VM
                | libc::CLONE_FS
                | libc::CLONE_FILES
                | libc::CLONE_SIGHAND
                | libc::CLONE_THREAD
                | libc::CLONE_SYSVSEM
                | libc::CLONE_SETTLS
                | libc::CLONE_PARENT_SETTID
                | libc::CLONE_CHILD_CLEARTID) as u64,
            0xffff_ffff_0000_0000,
        ]
        .into_iter()
        .chain(
            (0..32)
                .map(|b| 1u64 << b)
                .filter(|b| ns & b != 0)
                .map(|b| b | 17),
        )
        .flat_map(|a0| {
            [
                0,
                u64::from(TIOCSTI),
                u64::from(TIOCLINUX),
                u64::from(TIOCSTI) | 0xdead_0000_0000,
                0x5413,
            ]
            .map(|a1| [a0, a1, 0, 0, 0, 0])
        })
        .collect();
        let conditional = [
            libc::SYS_personality,
            libc::SYS_ioctl,
            libc::SYS_clone,
            libc::SYS_clone3,
        ]
        .map(|nr| nr as u32);
        let numbers = (0..1100u32)
            .chain((0..600).map(|n| n | X32_SYSCALL_BIT))
            .chain([0x3fff_ffff, 0x7fff_ffff, u32::MAX]);
        let mut checked = 0;
        for nr in numbers {
            for arch in [native, 0x4000_0003, 0] {
                let args: &[[u64; 6]] = if conditional.contains(&(nr & !X32_SYSCALL_BIT)) {
                    &args_of_interest
                } else {
                    &args_of_interest[..2]
                };
                for args in args {
                    let data = seccomp_data(nr, arch, *args);
                    let want = run_stack(&reference, &data);
                    let got = run_bpf(&ours.filter, &data);
                    assert_eq!(
                        got, want,
                        "nr {nr:#x} arch {arch:#x} args {args:x?}: {got:#x}, seccompiler {want:#x}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    #[test]
    fn the_filter_is_a_short_search() {
        let program = build_filter().expect("filter builds");
        let rules = rules().expect("rules");
        assert!(rules.len() > 40, "{}", rules.len());
        // Far below the linear chain's length of two or more per rule.
        assert!(program.instruction_count() < 4 * rules.len());
        // The longest path for an allowed syscall: arch, x32, then the
        // search's depth and one leaf.
        let data = seccomp_data(libc::SYS_getpid as u32, AUDIT_ARCH.unwrap_or(0), [0; 6]);
        assert_eq!(run_bpf(&program.filter, &data), RET_ALLOW);
    }

    #[test]
    fn arch_only_syscalls_are_absent_elsewhere() {
        // Compiling the bare name for arm64 must fail, otherwise leaving it
        // out of arm64's rules would hide a real syscall.
        for (name, _) in [("uselib", 0), ("iopl", 0), ("ioperm", 0)] {
            let doc = json!({ "f": {
                "mismatch_action": "allow",
                "match_action": { "errno": 1 },
                "filter": [ { "syscall": name } ],
            }});
            let res =
                seccompiler::compile_from_json(doc.to_string().as_bytes(), TargetArch::aarch64);
            assert!(res.is_err(), "{name} exists on aarch64; deny it there too");
        }
        #[cfg(target_arch = "x86_64")]
        assert_eq!(ARCH_DENIED_SYSCALLS.len(), 3);
    }

    #[test]
    fn no_duplicates_in_deny_list() {
        let mut names: Vec<&str> = denied_syscalls().collect();
        let all = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all);
        assert!(rules().is_ok());
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
                let wide = (u64::from(req) | 0xdead_0000_0000) as libc::c_ulong;
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
}
