//! Sets `cfg(sandbox_tui_root)` when the tests are built to run as root, so
//! that tests needing root show as ignored, not passed, in a run without it
//! (tests/common/mod.rs says how a test is marked). Nothing outside the tests
//! reads the cfg.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(sandbox_tui_root)");
    println!("cargo::rerun-if-env-changed=SANDBOX_TUI_REQUIRE_ISOLATION");
    println!("cargo::rerun-if-env-changed=SANDBOX_TUI_TEST_AS");
    // Where isolation is required, no test may be ignored for want of root:
    // they are built to run, and fail when not root.
    let required = env::var("SANDBOX_TUI_REQUIRE_ISOLATION").is_ok_and(|v| v == "1" || v == "true");
    // SANDBOX_TUI_TEST_AS=user builds them for a user other than the builder.
    let as_user = env::var("SANDBOX_TUI_TEST_AS").is_ok_and(|v| v == "user");
    if required || (effective_uid() == Some(0) && !as_user) {
        println!("cargo::rustc-cfg=sandbox_tui_root");
    }
}

/// The builder's effective uid, from the second field of the `Uid:` line of
/// /proc/self/status (real, effective, saved, filesystem).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
