//! Executions on a cluster instead of this machine (docs/ray.md): each one
//! a job whose entrypoint is `sandbox-tui run --json` on the node the
//! cluster picks, so every node isolates it as this machine would.
//! Everything the cluster sends back (job records, logs, node names) is
//! written by whoever can submit to it: sizes are capped before reading and
//! the faces escape it for a terminal.

pub mod frames;
pub mod live;
pub mod ray;

pub use frames::LiveOutput;
pub use ray::{ClusterError, JobInfo, NodeInfo, RayClient};

use serde::{Deserialize, Serialize};

use crate::execution::{ExecResult, Status};
use crate::manager::Launch;
use crate::profile::Profile;
use crate::python::PythonJob;

/// The environment variable that carries a [`JobSpec`] to the node's
/// `sandbox-tui run --job-env`, through the job's runtime environment.
pub const JOB_ENV: &str = "SANDBOX_TUI_JOB";

/// The submitter's token for the cluster (`Authorization: Bearer`): from
/// the environment only, never the command line, where `ps` shows it.
pub const TOKEN_ENV: &str = "SANDBOX_TUI_RAY_TOKEN";

/// The node's binary, when `sandbox-tui` on the node's PATH is not it.
pub const BINARY_ENV: &str = "SANDBOX_TUI_RAY_BINARY";

/// Prefix of the jobs' submission ids; the rest is an execution id.
pub const ID_PREFIX: &str = "sandbox-tui-";

/// What a node runs: the resolved profile (the node need not have the
/// submitter's sandboxes.toml) and the launch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSpec {
    pub profile: Profile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonJob>,
    /// Overrides the profile's `timeout_seconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<f64>,
}

impl JobSpec {
    pub fn new(profile: &Profile, launch: &Launch, timeout: Option<std::time::Duration>) -> Self {
        let (command, python) = match launch {
            Launch::Command(argv) => (Some(argv.clone()), None),
            Launch::Python(job) => (None, Some(job.clone())),
        };
        JobSpec {
            profile: profile.clone(),
            command,
            python,
            timeout_seconds: timeout.map(|t| t.as_secs_f64()),
        }
    }

    /// The launch it carries; exactly one of a command or a Python job.
    pub fn launch(&self) -> Result<Launch, ClusterError> {
        match (&self.command, &self.python) {
            (Some(argv), None) if !argv.is_empty() => Ok(Launch::Command(argv.clone())),
            (None, Some(job)) => Ok(Launch::Python(job.clone())),
            _ => Err(ClusterError::Job(
                "the job carries neither a command nor a Python job".into(),
            )),
        }
    }

    /// What listings show for it.
    pub fn display(&self) -> String {
        match (&self.command, &self.python) {
            (Some(argv), _) => argv.join(" "),
            _ => "python".to_owned(),
        }
    }

    /// Read from [`JOB_ENV`] on the node.
    pub fn from_env() -> Result<JobSpec, ClusterError> {
        let text = std::env::var(JOB_ENV)
            .map_err(|_| ClusterError::Job(format!("{JOB_ENV} is not set (or not UTF-8)")))?;
        serde_json::from_str(&text)
            .map_err(|e| ClusterError::Job(format!("{JOB_ENV} is not a job of this version: {e}")))
    }
}

/// Our status for a job the cluster reports, before (or without) its
/// result: Ray's own states, and for a failed job the exit code of its
/// entrypoint, which follows `run`'s conventions.
pub fn status_of(job: &JobInfo) -> Status {
    match job.status.as_str() {
        "PENDING" => Status::Queued,
        "RUNNING" => Status::Running,
        "SUCCEEDED" => Status::Completed,
        "STOPPED" => Status::Killed,
        "FAILED" => match job.driver_exit_code {
            Some(124) => Status::Timeout,
            Some(125) | None => Status::Error,
            Some(126) => Status::Denied,
            Some(137) => Status::MemoryLimit,
            Some(_) => Status::Failed,
        },
        _ => Status::Lost,
    }
}

/// Whether the job has ended.
pub fn is_terminal(job: &JobInfo) -> bool {
    matches!(job.status.as_str(), "SUCCEEDED" | "FAILED" | "STOPPED")
}

/// The result a finished job's `run --json` printed: its last line that
/// is a result object. The log is the node's, so nothing in it is trusted
/// beyond parsing as the schema.
pub fn result_from_log(log: &str) -> Option<ExecResult> {
    log.lines()
        .rev()
        .filter(|line| line.starts_with('{'))
        .find_map(|line| serde_json::from_str::<ExecResult>(line).ok())
}

/// The result of an ended job with no result of its own (the entrypoint
/// never ran, or was killed before it could print one): made from the
/// cluster's record.
pub fn result_without_log(job: &JobInfo) -> ExecResult {
    let status = status_of(job);
    let message = job
        .message
        .clone()
        .unwrap_or_else(|| format!("the cluster reports the job {}", job.status));
    let id = job.submission_id.clone().unwrap_or_default();
    let command = vec![job.metadata_field("command")];
    let mut result = ExecResult::blank(&id, &id, &job.metadata_field("profile"), &command);
    result.status = status;
    result.exit_code = job.driver_exit_code;
    result.error = Some(message.into());
    result.duration_ms = job.duration_ms();
    result
}

/// The id a user gives (`sandbox-tui-abc123` or just `abc123`) as a submission id.
pub fn submission_id(id: &str) -> String {
    if id.starts_with(ID_PREFIX) {
        id.to_owned()
    } else {
        format!("{ID_PREFIX}{id}")
    }
}

/// Submit `spec` as a job whose entrypoint is `BINARY run --json
/// --job-env` on the node the cluster picks, reserving the profile's CPUs
/// (its `cpu_quota`, rounded up; 1 without one), memory and GPUs. The
/// submission id back.
pub fn submit(client: &RayClient, spec: &JobSpec) -> Result<String, ClusterError> {
    let binary = std::env::var(BINARY_ENV).unwrap_or_else(|_| "sandbox-tui".to_owned());
    let id = format!("{ID_PREFIX}{}", crate::execution::new_id());
    let json = serde_json::to_string(spec).map_err(|e| ClusterError::Job(e.to_string()))?;
    // One environment string holds at most 128 KiB on Linux.
    if json.len() > 120 * 1024 {
        return Err(ClusterError::Job(format!(
            "the job is {} KiB with its code; a cluster job takes at most 120 KiB",
            json.len() / 1024
        )));
    }
    let profile = &spec.profile;
    let mut command = spec.display();
    if command.len() > 200 {
        let cut = (0..=200)
            .rev()
            .find(|&i| command.is_char_boundary(i))
            .unwrap_or(0);
        command.truncate(cut);
    }
    let submission = ray::Submission {
        submission_id: id,
        entrypoint: format!("{} run --json --job-env", shell_quote(&binary)),
        env: [(JOB_ENV.to_owned(), json)].into(),
        metadata: [
            (
                "sandbox_tui".to_owned(),
                env!("CARGO_PKG_VERSION").to_owned(),
            ),
            ("profile".to_owned(), profile.name.clone()),
            ("command".to_owned(), command),
        ]
        .into(),
        num_cpus: profile.cpu_quota.map_or(1.0, f64::ceil).max(1.0),
        num_gpus: profile.gpus,
        memory: profile.max_memory_mb.saturating_mul(1 << 20),
    };
    client.submit(&submission)
}

/// The result of job `id`: the one its `run --json` printed, else one made
/// from the cluster's record; `None` while it runs.
pub fn result(client: &RayClient, id: &str) -> Result<Option<ExecResult>, ClusterError> {
    let job = client.job(id)?;
    if !is_terminal(&job) {
        return Ok(None);
    }
    let log = client.logs(id)?;
    let mut result = result_from_log(&log).unwrap_or_else(|| result_without_log(&job));
    // The job's id is the one to give `wait`, `logs` and `kill`; the
    // node's own execution id stays in `sandbox` (`run-ID`).
    result.id = id.to_owned();
    Ok(Some(result))
}

/// Longest stream of a running job's output read from its log.
pub const MAX_LIVE_STREAM: usize = 64 << 20;

/// A running job's output so far (see [`frames`]), and the job's record.
pub fn live_output(client: &RayClient, id: &str) -> Result<(JobInfo, LiveOutput), ClusterError> {
    let job = client.job(id)?;
    let log = client.logs(id)?;
    Ok((job, LiveOutput::parse(&log, MAX_LIVE_STREAM)))
}

/// What `logs --json` gives for a job that has not ended: a result with
/// the status so far and the output so far.
pub fn result_so_far(job: &JobInfo, live: LiveOutput) -> ExecResult {
    let id = job.submission_id.clone().unwrap_or_default();
    let command = vec![job.metadata_field("command")];
    let mut result = ExecResult::blank(&id, &id, &job.metadata_field("profile"), &command);
    result.status = status_of(job);
    result.stdout_bytes = live.stdout.len() as u64;
    result.stderr_bytes = live.stderr.len() as u64;
    result.stdout_truncated = live.stdout_truncated;
    result.stderr_truncated = live.stderr_truncated;
    (result.stdout, result.stdout_encoding) = crate::execution::encode_stream(live.stdout);
    (result.stderr, result.stderr_encoding) = crate::execution::encode_stream(live.stderr);
    result
}

/// Poll job `id` until it ends; `interrupted` is asked between polls, and
/// when it says so the job is stopped (and still waited for).
pub fn wait(
    client: &RayClient,
    id: &str,
    interrupted: &mut dyn FnMut() -> bool,
) -> Result<ExecResult, ClusterError> {
    let mut pause = std::time::Duration::from_millis(20);
    let mut stopped = false;
    loop {
        if let Some(result) = result(client, id)? {
            return Ok(result);
        }
        if !stopped && interrupted() {
            client.stop(id)?;
            stopped = true;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(500));
    }
}

/// A word for `sh -c`: single-quoted unless plain.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(status: &str, code: Option<i32>) -> JobInfo {
        JobInfo {
            status: status.to_owned(),
            driver_exit_code: code,
            ..JobInfo::default()
        }
    }

    #[test]
    fn ray_states_map_to_our_statuses() {
        assert_eq!(status_of(&job("PENDING", None)), Status::Queued);
        assert_eq!(status_of(&job("RUNNING", None)), Status::Running);
        assert_eq!(status_of(&job("SUCCEEDED", Some(0))), Status::Completed);
        assert_eq!(status_of(&job("STOPPED", None)), Status::Killed);
        assert_eq!(status_of(&job("FAILED", Some(124))), Status::Timeout);
        assert_eq!(status_of(&job("FAILED", Some(137))), Status::MemoryLimit);
        assert_eq!(status_of(&job("FAILED", Some(3))), Status::Failed);
        assert_eq!(status_of(&job("FAILED", None)), Status::Error);
        assert_eq!(status_of(&job("SOMETHING", None)), Status::Lost);
    }

    #[test]
    fn the_result_is_the_last_result_line_and_junk_is_skipped() {
        let profile = Profile::defaults("p");
        let spec = JobSpec::new(&profile, &Launch::Command(vec!["true".into()]), None);
        let back: JobSpec = serde_json::from_str(&serde_json::to_string(&spec).unwrap()).unwrap();
        assert_eq!(back, spec);
        let mut result = result_without_log(&job("FAILED", Some(3)));
        result.id = "sandbox-tui-x".into();
        let line = serde_json::to_string(&result).unwrap();
        let log = format!("warning\n{line}\n{{\"not\": \"a result\"}}\n{{broken\n");
        assert_eq!(result_from_log(&log), Some(result));
        assert_eq!(result_from_log("no result here\n"), None);
    }

    #[test]
    fn shell_words_are_quoted() {
        assert_eq!(shell_quote("/usr/bin/sandbox-tui"), "/usr/bin/sandbox-tui");
        assert_eq!(shell_quote("a b'c"), "'a b'\\''c'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn ids_take_the_prefix_once() {
        assert_eq!(submission_id("abc"), "sandbox-tui-abc");
        assert_eq!(submission_id("sandbox-tui-abc"), "sandbox-tui-abc");
    }
}
