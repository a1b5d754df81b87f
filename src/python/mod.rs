//! Python snippets that return a value.
//!
//! The code runs under the profile's interpreter through a small runner that
//! the binary carries (`runner.py`), placed in the sandbox read-only. The
//! runner writes the value or the exception as JSON to a pipe the supervisor
//! owns (fd 3 of the runner, see [`crate::supervisor::ExecRequest::result_pipe`]),
//! never to stdout, so nothing the snippet prints can pass for its result.
//! Nothing of it is a file in the sandbox: the snippet cannot swap it for a
//! symlink, a FIFO or a device, and `max_file_size_mb` does not apply to it.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::execution::{ErrorInfo, ExecResult, ResultCapture, Status};
use crate::isolation::Bind;
use crate::profile::Profile;

pub const RUNNER: &str = include_str!("runner.py");

/// The `--call` target and its arguments, for the runner.
const CALL_FILE: &str = "call.json";

/// Where the job's files appear inside the sandbox.
const INSIDE_IN: &str = "/.sandbox-tui/in";

/// The runner's envelope around a value (`{"ok": true, ...}`), allowed on
/// top of `max_result_mb` before the supervisor stops reading.
const ENVELOPE_BYTES: u64 = 64 * 1024;

/// How deep a value may nest (lists and objects in one another). The
/// runner returns anything deeper as its repr, and the supervisor refuses
/// it: serde_json refuses 128 levels, and a result is read back inside
/// the execution's own JSON.
pub const MAX_DEPTH: usize = 100;

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

/// The job's directory on the host: `in/` (code, runner, call).
pub fn job_dir(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join("jobs").join(id)
}

/// Write the job's files; done by whoever launches the execution. `owner`:
/// the sandbox's own uid (and gid), which must read `in/`.
pub fn write_job(dir: &Path, job: &PythonJob, owner: Option<u32>) -> Result<(), PythonError> {
    if let Some(call) = &job.call {
        check_call(call)?;
    }
    let input = dir.join("in");
    fs::create_dir_all(&input).map_err(io_err("creating", &input))?;
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
    let mut written = vec![input.clone()];
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
        crate::isolation::COMMAND_RESULT_FD.to_string(),
        profile
            .max_result_mb
            .saturating_mul(1024 * 1024)
            .to_string(),
        // Present only for `--call`.
        format!("{INSIDE_IN}/{CALL_FILE}"),
    ];
    let binds = vec![Bind {
        source: dir.join("in"),
        target: PathBuf::from(INSIDE_IN),
        writable: false,
    }];
    (argv, binds)
}

/// The most bytes the supervisor reads from a job's result pipe: the
/// runner refuses a larger result itself, so only a snippet writing to the
/// pipe directly gets there.
pub fn result_cap(profile: &Profile) -> u64 {
    profile
        .max_result_mb
        .saturating_mul(1024 * 1024)
        .saturating_add(ENVELOPE_BYTES)
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

/// Fold what came through the result pipe into the execution's result.
/// Only a run that ended on its own (completed, or failed with the runner's
/// own exit code 1) has a result; limits and kills keep their status. The
/// bytes are the snippet's to write, so anything they are not is a failed
/// run, never a crash.
pub fn collect(capture: Option<ResultCapture>, result: &mut ExecResult, profile: &Profile) {
    let capture = capture.unwrap_or_default();
    // Whatever code the writer then exited with (EPIPE ends the runner).
    if capture.over_cap && matches!(result.status, Status::Completed | Status::Failed) {
        result.status = Status::Failed;
        result.error = Some(too_large(profile));
        return;
    }
    let ended_on_its_own = matches!(
        (result.status, result.exit_code),
        (Status::Completed, _) | (Status::Failed, Some(1))
    );
    if !ended_on_its_own {
        return;
    }
    if capture.bytes.is_empty() {
        // The snippet closed or replaced the runner's descriptor.
        result.status = Status::Failed;
        if result.error.is_none() {
            result.error = Some("the Python runner wrote no result".into());
        }
        return;
    }
    let parsed = serde_json::from_slice::<RunnerOutput>(&capture.bytes)
        .map_err(|e| e.to_string())
        .and_then(|out| match &out.result {
            Some(value) if nested_deeper_than(value, MAX_DEPTH) => {
                Err(format!("the value nests deeper than {MAX_DEPTH} levels"))
            }
            _ => Ok(out),
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

fn too_large(profile: &Profile) -> ErrorInfo {
    ErrorInfo::Exception {
        kind: "ResultTooLarge".into(),
        message: format!(
            "the result is over max_result_mb = {} MB",
            profile.max_result_mb
        ),
        traceback: String::new(),
        line: None,
    }
}

/// Whether lists and objects nest more than `limit` deep in `value`,
/// without recursion (whatever the depth, the stack stays flat).
fn nested_deeper_than(value: &serde_json::Value, limit: usize) -> bool {
    let mut stack = vec![(value, 0usize)];
    while let Some((value, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &serde_json::Value>> = match value {
            serde_json::Value::Array(items) => Box::new(items.iter()),
            serde_json::Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        if depth + 1 > limit {
            return true;
        }
        stack.extend(children.map(|child| (child, depth + 1)));
    }
    false
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

    fn ended(status: Status, exit_code: Option<i32>) -> ExecResult {
        let mut result = ExecResult::blank("a1b2c3", "box", "default", &[]);
        result.status = status;
        result.exit_code = exit_code;
        result
    }

    fn capture(bytes: &[u8]) -> Option<ResultCapture> {
        Some(ResultCapture {
            bytes: bytes.to_vec(),
            over_cap: false,
        })
    }

    #[test]
    fn whatever_the_pipe_holds_ends_as_a_clear_status() {
        let profile = Profile::defaults("default");
        let deep = format!(
            "{{\"ok\": true, \"result\": {}{}}}",
            "[".repeat(101),
            "]".repeat(101)
        );
        let unreadable: [&[u8]; 4] = [
            b"\xff{",
            b"{\"ok\": true",
            &[b'['; 100_000],
            deep.as_bytes(),
        ];
        for bytes in unreadable {
            let mut result = ended(Status::Completed, Some(0));
            collect(capture(bytes), &mut result, &profile);
            assert_eq!(result.status, Status::Failed);
            assert!(result.result.is_none());
            let error = result.error.map(|e| e.to_string()).unwrap_or_default();
            assert!(error.starts_with("unreadable result"), "{error}");
        }
        let mut result = ended(Status::Completed, Some(0));
        collect(
            Some(ResultCapture {
                bytes: Vec::new(),
                over_cap: true,
            }),
            &mut result,
            &profile,
        );
        assert_eq!(result.status, Status::Failed);
        assert!(
            matches!(result.error, Some(ErrorInfo::Exception { ref kind, .. }) if kind == "ResultTooLarge")
        );
        // Nothing at all: a clear error, never a success.
        let mut result = ended(Status::Completed, Some(0));
        collect(None, &mut result, &profile);
        assert_eq!(result.status, Status::Failed);
        assert!(result.error.is_some());
        // A limit keeps its status, whatever the pipe holds.
        let mut result = ended(Status::Timeout, None);
        collect(
            capture(b"{\"ok\": true, \"result\": 1}"),
            &mut result,
            &profile,
        );
        assert_eq!(result.status, Status::Timeout);
        assert!(result.result.is_none());
    }

    /// serde_json's `arbitrary_precision` keeps big integers exact. With it,
    /// a number read through serde's buffering (an untagged or internally
    /// tagged enum, a flattened struct) deserializes as an integer but never
    /// as an f64: the crate's buffered types hold integers only, and must
    /// stay so.
    #[test]
    fn big_integers_survive_the_stored_result_and_buffered_types() {
        let profile = Profile::defaults("default");
        let mut result = ended(Status::Completed, Some(0));
        let bytes = br#"{"ok": true, "result": [18446744073709551616, -1180591620717411303424, 1e+16, 0.1]}"#;
        collect(capture(bytes), &mut result, &profile);
        assert_eq!(result.status, Status::Completed);
        let stored = serde_json::to_string(&result).expect("serialize");
        let back: ExecResult = serde_json::from_str(&stored).expect("deserialize");
        assert_eq!(
            back.result.map(|v| v.to_string()).as_deref(),
            Some("[18446744073709551616,-1180591620717411303424,1e+16,0.1]")
        );
        let mut failed = ended(Status::Failed, Some(1));
        let bytes = br#"{"ok": false, "error": {"type": "SyntaxError", "message": "m", "traceback": "t", "line": 3}}"#;
        collect(capture(bytes), &mut failed, &profile);
        let back: ExecResult =
            serde_json::from_str(&serde_json::to_string(&failed).expect("ser")).expect("de");
        assert_eq!(back.error, failed.error);
        assert!(matches!(
            back.error,
            Some(ErrorInfo::Exception { line: Some(3), .. })
        ));
        // Floats of plain structs too (a stored profile's cpu_quota).
        let mut profile = Profile::defaults("default");
        profile.cpu_quota = Some(0.5);
        let text = serde_json::to_string(&profile).expect("ser");
        assert_eq!(serde_json::from_str::<Profile>(&text).expect("de"), profile);
        let message = crate::isolation::InitMessage::Exited {
            code: Some(-1),
            signal: Some(9),
        };
        let text = serde_json::to_string(&message).expect("ser");
        assert_eq!(
            serde_json::from_str::<crate::isolation::InitMessage>(&text).expect("de"),
            message
        );
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        let mut value = serde_json::json!(0);
        for _ in 0..100 {
            value = serde_json::Value::Array(vec![value]);
        }
        assert!(!nested_deeper_than(&value, MAX_DEPTH));
        let value = serde_json::json!({"k": value});
        assert!(nested_deeper_than(&value, MAX_DEPTH));
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
