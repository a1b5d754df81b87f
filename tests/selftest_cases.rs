//! Every attack case of `sandbox-tui selftest`, run through the real binary.

mod common;

use common::{isolation_required, require_root, TestEnv};

fn case(name: &str) {
    if !require_root() {
        return;
    }
    let env = TestEnv::new("");
    let (value, _) = env.json(&["selftest", "--case", name]);
    let report = &value[0];
    let verdict = report["verdict"].as_str().unwrap_or_default();
    match verdict {
        "held" => {}
        "skipped" if !isolation_required() => {
            eprintln!("skipped {name}: {}", report["detail"]);
        }
        _ => panic!("case {name}: {report}"),
    }
    assert!(
        env.cgroup_dirs().iter().all(|d| !d.join("run-").exists()),
        "cgroups left behind"
    );
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            #[cfg_attr(not(sandbox_tui_root), ignore = "needs root")]
            fn $name() { case(stringify!($name)); }
        )*
    };
}

cases!(
    fork_bomb,
    memory_bomb,
    busy_loop_timeout,
    cpu_burn,
    file_size,
    open_files,
    no_network,
    host_paths,
    setsid_daemon,
    trap_term,
    output_flood,
    binary_output,
    denied_command,
    privileged_syscalls,
    hostname_and_env,
    segfault,
    no_leftovers,
    result_channel,
    own_uid,
    proc_kernel_memory,
    proc_read_only,
    deep_tree_cleanup,
    no_terminal,
);

#[test]
fn every_case_has_a_test() {
    let out = std::process::Command::new(common::BIN)
        .args(["--json", "selftest", "--list"])
        .output()
        .expect("run");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let names: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|c| c["case"].as_str())
        .collect();
    let source = include_str!("selftest_cases.rs");
    for name in names {
        assert!(
            source.contains(&format!("    {name},")),
            "no test for case {name}"
        );
    }
}
