//! What this host can give a sandbox, per mechanism: available, degraded or
//! missing, and why. `sandbox-tui doctor` prints it; the dashboard shows the
//! degraded ones.

use serde::Serialize;

use crate::cgroup::Hierarchy;
use crate::isolation::{landlock, seccomp};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Available,
    Degraded,
    Missing,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Available => "available",
            State::Degraded => "degraded",
            State::Missing => "missing",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    pub mechanism: String,
    pub state: State,
    pub detail: String,
}

fn check(mechanism: &str, state: State, detail: impl Into<String>) -> Check {
    Check {
        mechanism: mechanism.to_string(),
        state,
        detail: detail.into(),
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Inspect the host. Cheap: reads procfs and sysfs, creates nothing.
pub fn inspect(cgroup_root: &str) -> Vec<Check> {
    let mut checks = Vec::new();
    let root = nix::unistd::geteuid().is_root();
    if root {
        checks.push(check(
            "user_namespace",
            State::Available,
            "running as root: a user namespace is not needed; each sandbox's commands run as a host uid of its own (sandbox_uid_base of [settings]) with every capability dropped",
        ));
    } else {
        let max = read_trimmed("/proc/sys/user/max_user_namespaces")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
        let clone_ok = read_trimmed("/proc/sys/kernel/unprivileged_userns_clone")
            .map(|s| s != "0")
            .unwrap_or(true);
        if max > 0 && clone_ok {
            checks.push(check(
                "user_namespace",
                State::Available,
                format!("max_user_namespaces = {max}"),
            ));
        } else {
            checks.push(check(
                "user_namespace",
                State::Missing,
                "unprivileged user namespaces are disabled; run as root",
            ));
        }
    }
    for ns in ["pid", "mnt", "net", "ipc", "uts", "cgroup"] {
        let present = std::path::Path::new("/proc/self/ns").join(ns).exists();
        checks.push(check(
            &format!("{ns}_namespace"),
            if present {
                State::Available
            } else {
                State::Missing
            },
            if present {
                "supported by the kernel"
            } else {
                "not in /proc/self/ns"
            },
        ));
    }
    match Hierarchy::detect(cgroup_root) {
        Ok(hierarchy) => {
            let report = hierarchy.report();
            let flavor = format!("{:?}", hierarchy.flavor());
            let mut add = |name: &str, ok: bool, what: &str| {
                checks.push(check(
                    name,
                    if ok { State::Available } else { State::Missing },
                    if ok {
                        format!("{what} ({flavor})")
                    } else {
                        format!("{what}: not available ({flavor})")
                    },
                ));
            };
            add(
                "cgroup_memory",
                report.memory,
                "memory limit and OOM detection",
            );
            add(
                "cgroup_memory_swap",
                report.memory_swap,
                "swap counted in the memory limit",
            );
            add("cgroup_pids", report.pids, "process count limit");
            add("cgroup_cpu", report.cpu, "CPU quota");
            add("cgroup_cpuacct", report.cpuacct, "CPU time accounting");
            add(
                "cgroup_kill",
                report.kill || report.freezer,
                if report.kill {
                    "atomic cgroup.kill"
                } else {
                    "freeze, kill, thaw"
                },
            );
            for note in report.notes {
                checks.push(check("cgroup_note", State::Available, note));
            }
        }
        Err(e) => checks.push(check(
            "cgroup",
            State::Missing,
            format!("{e}; limits fall back to rlimits and kills to the pid namespace"),
        )),
    }
    let abi = landlock::kernel_abi();
    checks.push(match abi {
        a if a >= 4 => check(
            "landlock",
            State::Available,
            format!("ABI {a}: file system and TCP rules"),
        ),
        a if a >= 1 => check(
            "landlock",
            State::Degraded,
            format!("ABI {a}: file system rules only"),
        ),
        _ => check(
            "landlock",
            State::Missing,
            "not enabled in this kernel (CONFIG_SECURITY_LANDLOCK, lsm=)",
        ),
    });
    let seccomp_kernel = read_trimmed("/proc/self/status")
        .map(|s| s.contains("Seccomp:"))
        .unwrap_or(false);
    checks.push(match (seccomp_kernel, seccomp::build_filter()) {
        (true, Ok(_)) => check(
            "seccomp",
            State::Available,
            format!(
                "{} syscalls denied, namespace clone flags denied, clone3 -> ENOSYS",
                seccomp::denied_syscalls().count()
            ),
        ),
        (false, _) => check("seccomp", State::Missing, "the kernel has no seccomp"),
        (true, Err(e)) => check(
            "seccomp",
            State::Missing,
            format!("building the filter failed: {e}"),
        ),
    });
    checks.push(check(
        "no_new_privs",
        State::Available,
        "set before exec; setuid binaries cannot raise privileges",
    ));
    let nofile = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(_, hard)| hard)
        .unwrap_or(0);
    checks.push(check(
        "rlimits",
        State::Available,
        format!("FSIZE, NOFILE, CPU, CORE; they can only be lowered (hard NOFILE here: {nofile})"),
    ));
    checks
}

/// How each profile reaches the network. `allow_network = true` is full host
/// networking, shown as degraded so that it is never missed.
pub fn network_checks(config: &crate::profile::Config) -> Vec<Check> {
    let mut checks = vec![check(
        "network",
        State::Available,
        "allow_network = false: an empty network namespace; allowed_hosts: only the listed hosts, through the HTTP/SOCKS5 proxy; allow_network = true: FULL host networking",
    )];
    for profile in config.profiles.values() {
        let mechanism = format!("network:{}", profile.name);
        if profile.allow_network {
            checks.push(check(
                &mechanism,
                State::Degraded,
                "allow_network = true: FULL host networking, every host and port the host can reach (use allowed_hosts to list hosts instead)",
            ));
        } else if !profile.allowed_hosts.is_empty() {
            checks.push(check(
                &mechanism,
                State::Available,
                format!(
                    "proxied: only {} (HTTP and SOCKS5 proxy; clients that ignore *_PROXY have no network)",
                    profile.allowed_hosts.join(", ")
                ),
            ));
        }
    }
    checks
}

/// Mechanisms that are not fully available, for a header or a warning line.
pub fn degraded(checks: &[Check]) -> Vec<&Check> {
    checks
        .iter()
        .filter(|c| c.state != State::Available)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_host_networking_is_flagged_per_profile() {
        let config = crate::profile::Config::parse(
            "[profiles.open]\nallow_network = true\n[profiles.web]\nallowed_hosts = [\"pypi.org\"]\n",
            std::path::Path::new("sandboxes.toml"),
        )
        .expect("valid config");
        let checks = network_checks(&config);
        let find = |m: &str| checks.iter().find(|c| c.mechanism == m);
        assert_eq!(find("network").map(|c| c.state), Some(State::Available));
        let open = find("network:open").expect("open profile listed");
        assert_eq!(open.state, State::Degraded);
        assert!(open.detail.contains("FULL host networking"));
        assert!(find("network:web").is_some_and(|c| c.detail.contains("pypi.org")));
        assert!(find("network:default").is_none());
    }
}
