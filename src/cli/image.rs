//! `image import|ls|rm`: the images profiles name with `image`.

use anyhow::bail;

use super::format::{age, bytes};
use super::{table, Global};
use crate::escape::for_terminal;
use crate::image::{self, ImageInfo};
use crate::state::db::now_ms;

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Unpack an image into the state directory: oci:/dir[:tag] or docker-archive:/file.tar
    Import(ImportArgs),
    /// List imported images: digest, name, size, created
    Ls,
    /// Remove imported images (refused while a sandbox uses one, unless --force)
    Rm(RmArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// oci:/dir[:tag] or docker-archive:/file.tar (absolute paths)
    pub source: String,
    /// The name `image ls` shows and a profile's `image` may use (default: the archive's own)
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RmArgs {
    /// Digest (sha256:HEX, or at least 6 of its hex digits), name or source
    #[arg(required = true)]
    pub images: Vec<String>,
    /// Remove even while sandboxes use it (their next launch fails)
    #[arg(short, long)]
    pub force: bool,
}

pub fn run(global: &Global, args: ImageArgs) -> anyhow::Result<i32> {
    let config = super::load_config(global)?;
    let state_dir = crate::manager::state_dir(&config, global.state_dir.as_deref());
    match args.command {
        ImageCommand::Import(a) => {
            crate::state::layout::make_state_dir(&state_dir)?;
            let info = image::import(&state_dir, &a.source, a.name.as_deref())?;
            if global.json {
                outln!("{}", serde_json::to_string(&info)?);
            } else {
                outln!(
                    "imported {} {} ({}{})",
                    for_terminal(&info.name),
                    info.digest,
                    bytes(info.size),
                    if info.skipped > 0 {
                        format!(", {} entries skipped", info.skipped)
                    } else {
                        String::new()
                    }
                );
            }
            Ok(0)
        }
        ImageCommand::Ls => {
            image::sweep_leftovers(&state_dir);
            let images = image::list(&state_dir)?;
            if global.json {
                outln!("{}", serde_json::to_string(&images)?);
            } else {
                let now = now_ms();
                let rows: Vec<Vec<String>> = images
                    .iter()
                    .map(|i: &ImageInfo| {
                        vec![
                            short(&i.digest),
                            for_terminal(&i.name).into_owned(),
                            bytes(i.size),
                            age(i.created as i64 * 1000, now),
                        ]
                    })
                    .collect();
                table::print(&["DIGEST", "NAME", "SIZE", "CREATED"], &rows);
            }
            Ok(0)
        }
        ImageCommand::Rm(a) => rm(global, &state_dir, a),
    }
}

fn short(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    hex.chars().take(12).collect()
}

fn rm(global: &Global, state_dir: &std::path::Path, args: RmArgs) -> anyhow::Result<i32> {
    let manager = super::verbs::open_manager(global)?;
    let sandboxes = manager.sandboxes()?;
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for reference in &args.images {
        let outcome = (|| {
            let info = image::find(state_dir, reference)?;
            let users: Vec<&str> = sandboxes
                .iter()
                .filter(|s| s.limits.image.as_deref() == Some(info.digest.as_str()))
                .map(|s| s.name.as_str())
                .collect();
            if !users.is_empty() && !args.force {
                bail!(
                    "in use by sandbox(es) {} (remove them first, or --force)",
                    users.join(", ")
                );
            }
            image::remove(state_dir, &info.digest)?;
            Ok(info.digest)
        })();
        match outcome {
            Ok(digest) => removed.push(digest),
            Err(e) => failed.push(serde_json::json!({
                "image": reference,
                "error": format!("{e:#}"),
            })),
        }
    }
    if global.json {
        let mut value = serde_json::json!({ "removed": removed, "failed": failed });
        if !failed.is_empty() {
            value["error"] = format!("could not remove {} image(s)", failed.len()).into();
        }
        outln!("{value}");
    } else {
        for digest in &removed {
            outln!("removed {digest}");
        }
        for f in &failed {
            eprintln!(
                "sandbox-tui: could not remove {}: {}",
                for_terminal(f["image"].as_str().unwrap_or_default()),
                for_terminal(f["error"].as_str().unwrap_or_default())
            );
        }
    }
    Ok(if failed.is_empty() {
        0
    } else {
        super::EXIT_USAGE
    })
}
