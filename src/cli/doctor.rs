//! `sandbox-tui doctor`: per mechanism, available / degraded / missing and why.

use super::Global;
use crate::doctor::{self, State};

pub fn run(global: &Global) -> anyhow::Result<i32> {
    let config = super::load_config(global)?;
    let mut checks = doctor::inspect(&config.settings.cgroup_root);
    checks.extend(doctor::network_checks(&config));
    let missing = checks.iter().any(|c| c.state == State::Missing);
    if global.json {
        outln!("{}", serde_json::to_string(&checks)?);
    } else {
        let rows: Vec<Vec<String>> = checks
            .iter()
            .map(|c| {
                vec![
                    c.mechanism.clone(),
                    c.state.as_str().to_string(),
                    c.detail.clone(),
                ]
            })
            .collect();
        super::table::print(&["MECHANISM", "STATE", "DETAIL"], &rows);
        if missing {
            outln!("\nSome mechanisms are missing: profiles with require_isolation = true will refuse to run.");
        }
    }
    Ok(if missing { 1 } else { 0 })
}
