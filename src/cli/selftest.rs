//! `sandbox-tui selftest`: run the attack cases on this host.

use super::Global;
use crate::manager;
use crate::selftest::{self, Verdict};

#[derive(Debug, clap::Args)]
pub struct SelftestArgs {
    /// Base profile; each case tightens the limit it attacks
    #[arg(short, long, default_value = "default")]
    pub profile: String,
    /// Run only these cases (repeatable); see --list
    #[arg(long = "case", value_name = "NAME")]
    pub cases: Vec<String>,
    /// List the cases and exit
    #[arg(long)]
    pub list: bool,
}

pub fn run(global: &Global, args: SelftestArgs) -> anyhow::Result<i32> {
    if args.list {
        if global.json {
            let cases: Vec<_> = selftest::CASES
                .iter()
                .map(|c| serde_json::json!({ "case": c.name, "claim": c.claim }))
                .collect();
            outln!("{}", serde_json::to_string(&cases)?);
        } else {
            let rows: Vec<Vec<String>> = selftest::CASES
                .iter()
                .map(|c| vec![c.name.to_string(), c.claim.to_string()])
                .collect();
            super::table::print(&["CASE", "CLAIM"], &rows);
        }
        return Ok(0);
    }
    let config = super::load_config(global)?;
    let profile = config.profile(&args.profile)?.clone();
    let state_dir = manager::state_dir(&config, global.state_dir.as_deref());
    let mut cases = Vec::new();
    for name in &args.cases {
        match selftest::find(name) {
            Some(case) => cases.push(case),
            None => {
                anyhow::bail!("no selftest case named {name:?}; see `sandbox-tui selftest --list`")
            }
        }
    }
    if cases.is_empty() {
        cases = selftest::CASES.iter().collect();
    }
    // A marker in our environment that must not show up inside.
    std::env::set_var("SANDBOX_TUI_SELFTEST_SECRET", "host-only");
    let mut reports = Vec::new();
    for case in cases {
        let report = selftest::run_case(case, &config, &profile, &state_dir);
        if !global.json {
            let detail = match &report.verdict {
                Verdict::Held(_) => String::new(),
                Verdict::Broken(why) | Verdict::Skipped(why) => format!(": {why}"),
            };
            // A broken case's detail quotes what the sandbox printed.
            outln!(
                "{:<8} {:<20} {}{}",
                report.verdict.label(),
                report.case,
                report.claim,
                crate::escape::for_terminal(&detail)
            );
        }
        reports.push(report);
    }
    let broken = reports
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Broken(_)))
        .count();
    let skipped = reports
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::Skipped(_)))
        .count();
    if global.json {
        outln!("{}", serde_json::to_string(&reports)?);
    } else {
        outln!(
            "\n{} held, {} broken, {} skipped",
            reports.len() - broken - skipped,
            broken,
            skipped
        );
    }
    Ok(if broken > 0 { 1 } else { 0 })
}
