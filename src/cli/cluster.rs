//! The verbs against a cluster (`--cluster ray://HOST:8265`, docs/ray.md):
//! `run` submits and waits, `ps`, `logs`, `wait` and `kill` read and stop
//! its jobs.

use anyhow::Context;

use super::{run::RunArgs, verbs, Global};
use crate::cluster::{self, JobSpec, RayClient};
use crate::execution::ExecResult;
use crate::manager::RunOptions;

pub fn client(address: &str) -> anyhow::Result<RayClient> {
    Ok(RayClient::new(
        address,
        std::env::var(cluster::TOKEN_ENV).ok(),
    )?)
}

/// The stop signals blocked from here on, so that one that comes while a
/// job is waited for stops the job (asked between polls) instead of
/// leaving it running behind us.
fn block_stop_signals() {
    use nix::sys::signal::{SigSet, Signal};
    let mut set = SigSet::empty();
    for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
        set.add(signal);
    }
    let _ = set.thread_block();
}

fn stop_signal_pending() -> bool {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigpending fills the set it is given; it is read only when it did.
    if unsafe { libc::sigpending(set.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: initialised by the successful sigpending above.
    let set = unsafe { set.assume_init() };
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .iter()
        // SAFETY: a valid set and a valid signal number.
        .any(|&s| unsafe { libc::sigismember(&set, s) } == 1)
}

pub fn run(global: &Global, address: &str, args: RunArgs) -> anyhow::Result<i32> {
    let client = client(address)?;
    let config = super::load_config(global)?;
    let profile = config.profile(&args.profile)?.with_settings(&args.set)?;
    let timeout = args.launch.timeout()?;
    let detach = args.detach;
    let launch = args.launch.launch()?;
    let spec = JobSpec::new(&profile, &launch, timeout);
    block_stop_signals();
    let id = cluster::submit(&client, &spec)?;
    if detach {
        if global.json {
            outln!("{}", serde_json::json!({ "id": id }));
        } else {
            outln!("{id}");
        }
        return Ok(0);
    }
    let result = cluster::wait(&client, &id, &mut stop_signal_pending)?;
    finish(global, &result)
}

/// Where the node runs the job: `run --job-env`, the profile and the
/// launch from the job's environment.
pub fn run_on_node(global: &Global, args: RunArgs) -> anyhow::Result<i32> {
    let spec = JobSpec::from_env()?;
    let launch = spec.launch()?;
    let timeout = match spec.timeout_seconds {
        Some(s) if s.is_finite() && s > 0.0 && s <= crate::profile::MAX_SECONDS as f64 => {
            Some(std::time::Duration::from_secs_f64(s))
        }
        Some(s) => anyhow::bail!("the job's timeout {s} is out of range"),
        None => args.launch.timeout()?,
    };
    // The profile came with the job; the node's own file gives only its
    // settings (state directory, cgroup root, uids).
    let config = crate::profile::Config::discover_for_node(global.config.as_deref())?;
    // The output goes to the job's log as it comes, framed, for `logs` of
    // the running job; the supervisor streams it live as to any reader.
    let frames = cluster::live::LiveFrames::start(spec.profile.max_output_kb.saturating_mul(1024))
        .context("the job's live output")?;
    let options = RunOptions {
        timeout,
        live_output: true,
        pass_stdin: false,
    };
    let result = crate::manager::run(
        config,
        global.state_dir.as_deref(),
        &spec.profile,
        launch,
        &options,
    );
    frames.finish();
    let result = result?;
    super::run::print_result(global, &result)?;
    Ok(result.exit_code_for_cli())
}

/// The end of `run` and `wait`: the result, and `run`'s exit code.
fn finish(global: &Global, result: &ExecResult) -> anyhow::Result<i32> {
    if !global.json {
        let out = result.stdout_bytes_decoded();
        let err = result.stderr_bytes_decoded();
        print_stream(&out, false);
        print_stream(&err, true);
    }
    super::run::print_result(global, result)?;
    Ok(result.exit_code_for_cli())
}

/// An execution's output from the cluster, escaped for a terminal.
fn print_stream(bytes: &[u8], stderr: bool) {
    use std::io::Write;
    if bytes.is_empty() {
        return;
    }
    let terminal = if stderr {
        super::stderr_is_terminal()
    } else {
        super::stdout_is_terminal()
    };
    let text = String::from_utf8_lossy(bytes);
    let text = super::shown(&text, terminal);
    if stderr {
        let _ = std::io::stderr().write_all(text.as_bytes());
    } else {
        super::write_out(format_args!("{text}"));
    }
}

pub fn ps(global: &Global, address: &str, args: verbs::PsArgs) -> anyhow::Result<i32> {
    let client = client(address)?;
    let mut jobs: Vec<_> = client.jobs()?.into_iter().filter(|j| j.is_ours()).collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.start_time));
    if let Some(name) = &args.name {
        jobs.retain(|j| &j.metadata_field("profile") == name);
    }
    if let Some(n) = args.last {
        jobs.truncate(usize::try_from(n).unwrap_or(usize::MAX));
    }
    if global.json {
        let rows: Vec<_> = jobs
            .iter()
            .map(|j| {
                serde_json::json!({
                    "id": j.submission_id,
                    "status": cluster::status_of(j),
                    "ray_status": j.status,
                    "profile": j.metadata_field("profile"),
                    "command": j.metadata_field("command"),
                    "node": j.driver_node_id,
                    "exit_code": j.driver_exit_code,
                    "start_ms": j.start_time,
                    "end_ms": j.end_time,
                })
            })
            .collect();
        outln!("{}", serde_json::Value::Array(rows));
        return Ok(0);
    }
    let terminal = super::stdout_is_terminal();
    outln!(
        "{:<22} {:<12} {:<10} {:<14} COMMAND",
        "ID",
        "STATUS",
        "PROFILE",
        "NODE"
    );
    for j in &jobs {
        let node: String = j
            .driver_node_id
            .as_deref()
            .unwrap_or("-")
            .chars()
            .take(12)
            .collect();
        let line = format!(
            "{:<22} {:<12} {:<10} {:<14} {}",
            j.submission_id.as_deref().unwrap_or("-"),
            cluster::status_of(j).as_str(),
            j.metadata_field("profile"),
            node,
            j.metadata_field("command"),
        );
        outln!("{}", super::shown(&line, terminal));
    }
    Ok(0)
}

pub fn logs(global: &Global, address: &str, args: verbs::LogsArgs) -> anyhow::Result<i32> {
    let client = client(address)?;
    let id = cluster::submission_id(&args.id);
    if args.follow && !global.json {
        return follow(&client, &id, &args);
    }
    let result = if args.follow {
        cluster::wait(&client, &id, &mut || false)?
    } else if let Some(result) = cluster::result(&client, &id)? {
        result
    } else {
        // Still running: its output so far, from the frames of its log.
        let (job, live) = cluster::live_output(&client, &id)?;
        cluster::result_so_far(&job, live)
    };
    if global.json {
        outln!("{}", serde_json::to_string(&result)?);
        return Ok(0);
    }
    if !args.stderr {
        print_stream(&result.stdout_bytes_decoded(), false);
    }
    if !args.stdout {
        print_stream(&result.stderr_bytes_decoded(), true);
    }
    Ok(0)
}

/// `logs -f`: the output so far, then what comes, until the job ends; the
/// rest from its result.
fn follow(client: &RayClient, id: &str, args: &verbs::LogsArgs) -> anyhow::Result<i32> {
    let mut shown = [0usize; 2];
    let mut show = |stdout: &[u8], stderr: &[u8], ended: bool| {
        for (i, bytes) in [stdout, stderr].into_iter().enumerate() {
            let wanted = if i == 0 { !args.stderr } else { !args.stdout };
            let Some(new) = bytes.get(shown[i]..) else {
                continue;
            };
            // While it runs, a character cut between two reads waits for its end.
            let upto = match std::str::from_utf8(new) {
                Err(e) if !ended && e.error_len().is_none() => e.valid_up_to(),
                _ => new.len(),
            };
            if wanted {
                print_stream(&new[..upto], i == 1);
            }
            shown[i] += upto;
        }
    };
    let mut pause = std::time::Duration::from_millis(200);
    loop {
        if let Some(result) = cluster::result(client, id)? {
            show(
                &result.stdout_bytes_decoded(),
                &result.stderr_bytes_decoded(),
                true,
            );
            return Ok(0);
        }
        let (_, live) = cluster::live_output(client, id)?;
        show(&live.stdout, &live.stderr, false);
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_secs(2));
    }
}

pub fn wait(global: &Global, address: &str, args: verbs::WaitArgs) -> anyhow::Result<i32> {
    let client = client(address)?;
    let id = cluster::submission_id(&args.id);
    let result = cluster::wait(&client, &id, &mut || false)?;
    super::run::print_result(global, &result)?;
    Ok(result.exit_code_for_cli())
}

pub fn kill(global: &Global, address: &str, args: verbs::KillArgs) -> anyhow::Result<i32> {
    if args.signal.is_some() {
        anyhow::bail!("--signal is not available with --cluster: the cluster stops a job with SIGTERM, then SIGKILL");
    }
    let client = client(address)?;
    let id = cluster::submission_id(&args.target);
    let was_running = client.stop(&id)?;
    // The stop is done when the job has ended: its sandbox is gone then.
    let result = cluster::wait(&client, &id, &mut || false)?;
    if global.json {
        outln!(
            "{}",
            serde_json::json!({ "id": id, "stopped": was_running, "status": result.status })
        );
    } else if was_running {
        outln!("{id}: {}", result.status);
    } else {
        outln!("{id}: had already ended ({})", result.status);
    }
    Ok(0)
}
