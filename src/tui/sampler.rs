//! The only place that reads the world for the dashboard: the shared state
//! (through its own `Manager`), the cgroups, `/proc` and log files. Runs off
//! the UI thread and returns plain data.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use super::action::{LogTail, SampleRequest, Snapshot, Subject};
use super::format::clean_line;
use crate::manager::Manager;
use crate::monitor::Monitor;
use crate::state::db::now_ms;

/// How much of the end of each log file to read per sample.
const LOG_TAIL_BYTES: u64 = 128 * 1024;
const LOG_MAX_LINES: usize = 5000;

/// The newest executions listed, of all sandboxes and of the one in view
/// (besides every active one): a long history costs nothing per second.
pub const EXECUTIONS_LISTED: u64 = 1000;

/// How often the dashboard looks for executions whose supervisor died.
const RECOVERY_INTERVAL: Duration = Duration::from_secs(5);

pub struct Sampler {
    manager: Manager,
    monitor: Monitor,
    last_recovery: Option<Instant>,
}

impl Sampler {
    pub fn new(manager: Manager, monitor: Monitor) -> Sampler {
        Sampler {
            manager,
            monitor,
            last_recovery: None,
        }
    }

    pub fn sample(&mut self, request: &SampleRequest) -> Snapshot {
        match self.try_sample(request) {
            Ok(s) => s,
            Err(e) => Snapshot {
                taken_at_ms: now_ms(),
                error: Some(format!("cannot read the state: {e}")),
                ..Snapshot::default()
            },
        }
    }

    fn try_sample(
        &mut self,
        request: &SampleRequest,
    ) -> Result<Snapshot, crate::manager::ManagerError> {
        // A supervisor that died (kill -9, reboot) leaves a `running` row;
        // every reader recovers, as the CLI verbs do, but checking every
        // supervisor every second is more than a dead one needs.
        if self
            .last_recovery
            .is_none_or(|at| at.elapsed() >= RECOVERY_INTERVAL)
        {
            let _ = self.manager.recover();
            self.last_recovery = Some(Instant::now());
        }
        let sandboxes = self.manager.sandboxes()?;
        let executions = self.manager.recent_executions(
            EXECUTIONS_LISTED,
            request.sandbox.as_deref(),
            request.detail_of.as_deref(),
        )?;
        let pids = match &request.subject {
            Subject::All => self.manager.all_sandbox_pids()?,
            Subject::Sandbox(name) => self.manager.sandbox_pids(name).unwrap_or_default(),
            Subject::Execution(id) => self.manager.execution_pids(id).unwrap_or_default(),
        };
        let processes = self.monitor.sample(&pids);
        let host = self.monitor.host();
        let logs = request.logs_of.as_ref().and_then(|id| {
            let e = executions.iter().find(|e| &e.record.id == id)?;
            let (stdout, t1) = tail_lines(&e.record.stdout_log);
            let (stderr, t2) = tail_lines(&e.record.stderr_log);
            Some(LogTail {
                id: id.clone(),
                stdout,
                stderr,
                truncated: t1 || t2,
            })
        });
        Ok(Snapshot {
            taken_at_ms: now_ms(),
            host,
            sandboxes,
            executions,
            subject: request.subject.clone(),
            processes,
            logs,
            error: None,
        })
    }
}

/// The last lines of a file (a missing file has none). Returns whether the
/// beginning was left out.
pub fn tail_lines(path: &Path) -> (Vec<String>, bool) {
    let Ok(mut file) = File::open(path) else {
        return (Vec::new(), false);
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return (Vec::new(), false);
    }
    let mut bytes = Vec::new();
    if file.take(LOG_TAIL_BYTES).read_to_end(&mut bytes).is_err() {
        return (Vec::new(), false);
    }
    let text = String::from_utf8_lossy(&bytes);
    let mut lines: Vec<String> = text.lines().map(clean_line).collect();
    let mut truncated = start > 0;
    if start > 0 && !lines.is_empty() {
        // The first line was cut in the middle.
        lines.remove(0);
    }
    if lines.len() > LOG_MAX_LINES {
        lines.drain(..lines.len() - LOG_MAX_LINES);
        truncated = true;
    }
    (lines, truncated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_files_and_cleans_control_characters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        std::fs::write(&path, "a\n\x1b[31mred\tx\n").expect("write");
        let (lines, truncated) = tail_lines(&path);
        assert_eq!(lines, vec!["a".to_string(), "�[31mred    x".to_string()]);
        assert!(!truncated);
        let big = "line\n".repeat(100_000);
        std::fs::write(&path, big).expect("write");
        let (lines, truncated) = tail_lines(&path);
        assert!(truncated);
        assert_eq!(lines.len(), LOG_MAX_LINES);
        assert_eq!(tail_lines(&dir.path().join("missing")), (Vec::new(), false));
    }
}
