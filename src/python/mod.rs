//! Python snippets that return a value.
//!
//! The code runs under the profile's interpreter through a small runner that
//! the binary carries (`runner.py`), placed in the sandbox read-only. The
//! runner writes the value or the exception to a result file in a directory
//! of its own, never to stdout, so nothing the snippet prints can pass for its
//! result, and a 50 MB result travels through a file rather than a pipe.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::isolation::Bind;
use crate::profile::Profile;
use crate::supervisor::{ErrorInfo, ExecResult, Status};

pub const RUNNER: &str = include_str!("runner.py");

/// The `--call` target and its arguments, for the runner.
const CALL_FILE: &str = "call.json";

/// Where the job's files appear inside the sandbox.
const INSIDE_IN: &str = "/.sandbox-tui/in";
const INSIDE_OUT: &str = "/.sandbox-tui/out";

/// What to run: a function body, or a function or method of the code.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PythonJob {
    pub code: String,
    /// `None`: the code is a function body. `name` or `Class.method`.
    pub call: Option<String>,
    pub args: Vec<serde_json::Value>,
    pub kwargs: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("--call {0:?}: expected NAME or Class.method (Python identifiers)")]
    BadCall(String),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> PythonError + 'a {
    move |source| PythonError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

/// Validate `--call`: `name` or `Class.method`.
pub fn check_call(call: &str) -> Result<(), PythonError> {
    let parts: Vec<&str> = call.split('.').collect();
    if (1..=2).contains(&parts.len()) && parts.iter().all(|p| is_identifier(p)) {
        Ok(())
    } else {
        Err(PythonError::BadCall(call.to_string()))
    }
}

/// The job's directory on the host: `in/` (code, runner, call) and `out/` (result).
pub fn job_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("jobs").join(id)
}

/// Write the job's files; done by whoever launches the execution. `owner`:
/// the sandbox's own uid (and gid), which must read `in/` and write `out/`.
pub fn write_job(dir: &Path, job: &PythonJob, owner: Option<u32>) -> Result<(), PythonError> {
    if let Some(call) = &job.call {
        check_call(call)?;
    }
    let input = dir.join("in");
    let output = dir.join("out");
    fs::create_dir_all(&input).map_err(io_err("creating", &input))?;
    fs::create_dir_all(&output).map_err(io_err("creating", &output))?;
    let mut files = vec![
        ("runner.py", RUNNER.to_string()),
        ("code.py", job.code.clone()),
    ];
    // Only a call needs JSON on the way in; the runner then imports `json`.
    if job.call.is_some() {
        let call = serde_json::json!({
            "call": job.call,
            "args": job.args,
            "kwargs": job.kwargs,
        });
        files.push((CALL_FILE, call.to_string()));
    }
    let mut written = vec![input.clone(), output];
    for (name, contents) in files {
        let path = input.join(name);
        fs::write(&path, contents).map_err(io_err("writing", &path))?;
        written.push(path);
    }
    if let Some(uid) = owner {
        // Made just now by us, in our private state directory: nothing
        // there is the sandbox's to swap for a link.
        for path in &written {
            std::os::unix::fs::lchown(path, Some(uid), Some(uid))
                .map_err(io_err("giving to the sandbox's uid", path))?;
        }
    }
    Ok(())
}

/// The command line and binds that run the job inside the sandbox.
pub fn command(dir: &Path, profile: &Profile) -> (Vec<String>, Vec<Bind>) {
    let argv = vec![
        profile.python.clone(),
        // Isolated mode: no user site-packages, no PYTHON* variables.
        "-I".into(),
        format!("{INSIDE_IN}/runner.py"),
        format!("{INSIDE_IN}/code.py"),
        format!("{INSIDE_OUT}/result.json"),
        profile
            .max_result_mb
            .saturating_mul(1024 * 1024)
            .to_string(),
        // Present only for `--call`.
        format!("{INSIDE_IN}/{CALL_FILE}"),
    ];
    let binds = vec![
        Bind {
            source: dir.join("in"),
            target: PathBuf::from(INSIDE_IN),
            writable: false,
        },
        Bind {
            source: dir.join("out"),
            target: PathBuf::from(INSIDE_OUT),
            writable: true,
        },
    ];
    (argv, binds)
}

/// How the execution is shown in listings.
pub fn display_command(job: &PythonJob, profile: &Profile) -> Vec<String> {
    let mut argv = vec![profile.python.clone()];
    match &job.call {
        Some(call) => argv.extend(["--call".to_string(), call.clone()]),
        None => {
            let first = job
                .code
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim();
            argv.push(format!("<snippet: {first}>"));
        }
    }
    argv
}

#[derive(Deserialize)]
struct RunnerOutput {
    ok: bool,
    #[serde(default)]
    result: Option<serde_json::Value>,
    #[serde(default)]
    non_json: bool,
    #[serde(default)]
    error: Option<ErrorInfo>,
}

/// Fold the runner's result file into the execution's result. Only a run
/// that ended on its own (completed, or failed with the runner's own exit
/// code 1) has a result; limits and kills keep their status.
pub fn collect(dir: &Path, result: &mut ExecResult, profile: &Profile) {
    let path = dir.join("out").join("result.json");
    let ended_on_its_own = matches!(
        (result.status, result.exit_code),
        (Status::Completed, _) | (Status::Failed, Some(1))
    );
    if !ended_on_its_own {
        return;
    }
    // The runner refuses oversized results itself; this bound protects the
    // supervisor from a snippet that writes the file directly.
    let cap = profile
        .max_result_mb
        .saturating_mul(1024 * 1024)
        .saturating_add(64 * 1024);
    let size = match fs::metadata(&path) {
        Ok(meta) => meta.len(),
        Err(_) => {
            if result.status == Status::Completed {
                result.status = Status::Failed;
                result.error = Some("the Python runner wrote no result".into());
            }
            return;
        }
    };
    if size > cap {
        result.status = Status::Failed;
        result.error = Some(ErrorInfo::Exception {
            kind: "ResultTooLarge".into(),
            message: format!(
                "the result is {:.1} MB, over max_result_mb = {}",
                size as f64 / 1_048_576.0,
                profile.max_result_mb
            ),
            traceback: String::new(),
            line: None,
        });
        return;
    }
    let parsed = fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|bytes| {
            serde_json::from_slice::<RunnerOutput>(&bytes).map_err(|e| e.to_string())
        });
    match parsed {
        Ok(out) if out.ok => {
            result.result = Some(out.result.unwrap_or(serde_json::Value::Null));
            result.result_non_json = out.non_json;
        }
        Ok(out) => {
            result.status = Status::Failed;
            result.error = out
                .error
                .or_else(|| Some("the snippet failed without an exception".into()));
        }
        Err(e) => {
            result.status = Status::Failed;
            result.error = Some(format!("unreadable result from the Python runner: {e}").into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_names() {
        assert!(check_call("main").is_ok());
        assert!(check_call("Solver.solve").is_ok());
        assert!(check_call("a.b.c").is_err());
        assert!(check_call("1x").is_err());
        assert!(check_call("os.system('x')").is_err());
        assert!(check_call("").is_err());
    }

    #[test]
    fn display_shows_first_line() {
        let profile = Profile::defaults("default");
        let job = PythonJob {
            code: "\n  x = 1\nreturn x".into(),
            ..PythonJob::default()
        };
        assert_eq!(
            display_command(&job, &profile),
            vec!["python3".to_string(), "<snippet: x = 1>".to_string()]
        );
    }
}
