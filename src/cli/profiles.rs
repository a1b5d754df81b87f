//! `sandbox-tui profiles [--check]`: the resolved profiles, or a validation of the file.

use super::format::bytes;
use super::{table, Global};
use crate::profile::{Config, ConfigError};

#[derive(Debug, clap::Args)]
pub struct ProfilesArgs {
    /// Only validate the file: print every error with its line and column, exit 1 if any
    #[arg(long)]
    pub check: bool,
}

pub fn run(global: &Global, args: ProfilesArgs) -> anyhow::Result<i32> {
    let config = match Config::discover(global.config.as_deref()) {
        Ok(config) => config,
        Err(ConfigError::Invalid(diagnostics)) => {
            let file = diagnostics.first().map(|d| d.file.clone());
            return Ok(report_invalid(global, file, &[], &diagnostics));
        }
        Err(e) => return Err(e.into()),
    };
    if args.check && !config.problems.is_empty() {
        let file = config.path.as_ref().map(|p| p.display().to_string());
        return Ok(report_invalid(
            global,
            file,
            &config.profile_names(),
            &config.problems,
        ));
    }
    if !args.check && !global.json {
        // The listing shows the usable profiles; the others are named here.
        for d in &config.problems {
            eprintln!("invalid, left out: {d}");
        }
    }
    let file = config
        .path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "built-in defaults".into());
    if args.check {
        if global.json {
            outln!(
                "{}",
                serde_json::json!({ "ok": true, "file": file, "errors": [], "profiles": config.profile_names() })
            );
        } else {
            outln!("{file}: ok ({} profiles)", config.profiles.len());
        }
        return Ok(0);
    }
    if global.json {
        let list: Vec<_> = config.profiles.values().collect();
        outln!("{}", serde_json::to_string(&list)?);
        return Ok(0);
    }
    outln!("# {file}");
    let rows: Vec<Vec<String>> = config
        .profiles
        .values()
        .map(|p| {
            vec![
                p.name.clone(),
                bytes(p.max_memory_mb * 1024 * 1024),
                format!("{}s", p.max_cpu_seconds),
                format!("{}s", p.timeout_seconds),
                p.max_process_count.to_string(),
                p.max_open_files.to_string(),
                bytes(p.max_file_size_mb * 1024 * 1024),
                p.cpu_quota
                    .map(|q| format!("{q}"))
                    .unwrap_or_else(|| "-".into()),
                if p.allow_network {
                    "host".into()
                } else if !p.allowed_hosts.is_empty() {
                    "proxy".into()
                } else {
                    "none".into()
                },
                p.max_concurrent.to_string(),
                if p.allowed_commands.is_empty() {
                    "any".into()
                } else {
                    p.allowed_commands.join(",")
                },
            ]
        })
        .collect();
    table::print(
        &[
            "PROFILE",
            "MEMORY",
            "CPU",
            "TIMEOUT",
            "PROCS",
            "FILES",
            "FILESIZE",
            "CORES",
            "NETWORK",
            "CONCURRENT",
            "COMMANDS",
        ],
        &rows,
    );
    Ok(0)
}

/// Every problem, on stderr (or as JSON, with the file and the profiles
/// still usable, as a valid file's answer has them); exit code 1.
fn report_invalid(
    global: &Global,
    file: Option<String>,
    usable: &[&str],
    diagnostics: &[crate::profile::Diagnostic],
) -> i32 {
    if global.json {
        outln!(
            "{}",
            serde_json::json!({ "ok": false, "file": file, "errors": diagnostics, "profiles": usable })
        );
    } else {
        for d in diagnostics {
            eprintln!("{d}");
        }
        eprintln!("{} error(s)", diagnostics.len());
    }
    1
}
