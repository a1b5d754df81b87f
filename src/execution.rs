//! What an execution is, as every layer sees it: its [`Status`], its
//! [`ExecResult`] (the documented JSON schema) and the exit code the CLI
//! gives for it. The supervisor's backends write these, the state stores
//! them, the CLI, the dashboard and the Python runner read them.

use std::fs::File;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::netproxy::NetworkRefusal;

/// How an execution ended (or where it is, for the state layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Queued,
    Running,
    Completed,
    Failed,
    Timeout,
    CpuLimit,
    MemoryLimit,
    Killed,
    Denied,
    Error,
    Lost,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Timeout => "timeout",
            Status::CpuLimit => "cpu_limit",
            Status::MemoryLimit => "memory_limit",
            Status::Killed => "killed",
            Status::Denied => "denied",
            Status::Error => "error",
            Status::Lost => "lost",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, Status::Queued | Status::Running)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an execution did not simply exit: a message, or for Python snippets
/// the exception the snippet raised.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ErrorInfo {
    Exception {
        #[serde(rename = "type")]
        kind: String,
        message: String,
        traceback: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        line: Option<u64>,
    },
    Message(String),
}

impl std::fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorInfo::Message(text) => f.write_str(text),
            ErrorInfo::Exception { kind, message, .. } => write!(f, "{kind}: {message}"),
        }
    }
}

impl From<String> for ErrorInfo {
    fn from(text: String) -> Self {
        ErrorInfo::Message(text)
    }
}

impl From<&str> for ErrorInfo {
    fn from(text: &str) -> Self {
        ErrorInfo::Message(text.to_string())
    }
}

/// The result object of an execution; its JSON form is the documented schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecResult {
    pub id: String,
    pub sandbox: String,
    pub profile: String,
    pub command: Vec<String>,
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub duration_ms: u64,
    pub cpu_ms: u64,
    /// CPU time the supervisor spent on the execution while it ran,
    /// mostly draining its output.
    #[serde(default)]
    pub supervisor_cpu_ms: u64,
    pub peak_memory_bytes: u64,
    pub stdout: String,
    pub stderr: String,
    /// "utf-8", or "base64" when the stream was not valid UTF-8.
    pub stdout_encoding: String,
    pub stderr_encoding: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub stdout_bytes: u64,
    pub stderr_bytes: u64,
    pub error: Option<ErrorInfo>,
    /// The value a Python snippet returned (JSON), or `{"repr", "type"}` when
    /// JSON cannot hold it (then `result_non_json` is true).
    #[serde(default)]
    pub result: Option<serde_json::Value>,
    #[serde(default)]
    pub result_non_json: bool,
    /// Mechanisms that ran with less than asked (only when the profile allows it).
    pub degraded: Vec<String>,
    /// Connections the `allowed_hosts` proxy refused (the first 1000).
    #[serde(default)]
    pub network_refusals: Vec<NetworkRefusal>,
}

impl ExecResult {
    /// The process exit code of `run`/`exec`/`wait` for this result.
    pub fn exit_code_for_cli(&self) -> i32 {
        match self.status {
            Status::Completed => 0,
            Status::Timeout => 124,
            Status::Error | Status::Lost => 125,
            Status::Denied => 126,
            Status::MemoryLimit => 137,
            // A failure is never 0, even when the process exited 0 (a
            // snippet whose result could not be read).
            _ => match self.exit_code.or(self.signal.map(|s| 128 + s)) {
                Some(0) | None => 1,
                Some(code) => code,
            },
        }
    }

    pub fn stdout_bytes_decoded(&self) -> Vec<u8> {
        decode_stream(&self.stdout, &self.stdout_encoding)
    }

    pub fn stderr_bytes_decoded(&self) -> Vec<u8> {
        decode_stream(&self.stderr, &self.stderr_encoding)
    }
}

impl ExecResult {
    /// A result with nothing measured yet (status `error` until classified).
    pub fn blank(id: &str, sandbox: &str, profile: &str, argv: &[String]) -> ExecResult {
        ExecResult {
            id: id.to_string(),
            sandbox: sandbox.to_string(),
            profile: profile.to_string(),
            command: argv.to_vec(),
            status: Status::Error,
            exit_code: None,
            signal: None,
            duration_ms: 0,
            cpu_ms: 0,
            supervisor_cpu_ms: 0,
            peak_memory_bytes: 0,
            stdout: String::new(),
            stderr: String::new(),
            stdout_encoding: "utf-8".into(),
            stderr_encoding: "utf-8".into(),
            stdout_truncated: false,
            stderr_truncated: false,
            stdout_bytes: 0,
            stderr_bytes: 0,
            error: None,
            result: None,
            result_non_json: false,
            degraded: Vec::new(),
            network_refusals: Vec::new(),
        }
    }
}

pub(crate) fn encode_stream(bytes: Vec<u8>) -> (String, String) {
    match String::from_utf8(bytes) {
        Ok(text) => (text, "utf-8".into()),
        Err(e) => {
            use base64::Engine;
            (
                base64::engine::general_purpose::STANDARD.encode(e.as_bytes()),
                "base64".into(),
            )
        }
    }
}

fn decode_stream(text: &str, encoding: &str) -> Vec<u8> {
    if encoding == "base64" {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    }
}

/// What came through a Python job's result pipe: read by the supervisor,
/// turned into the result's value by `crate::python`.
#[derive(Debug, Default, PartialEq)]
pub struct ResultCapture {
    /// Everything read, unless more than the cap came.
    pub bytes: Vec<u8>,
    /// More than the cap came: reading stopped, the bytes were dropped and
    /// the pipe closed (the writer gets EPIPE).
    pub over_cap: bool,
}

/// A short random id like `a3f9c2`.
pub fn new_id() -> String {
    let mut bytes = [0u8; 3];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_err()
    {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            ^ std::process::id();
        bytes.copy_from_slice(&nanos.to_le_bytes()[..3]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
