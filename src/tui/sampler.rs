//! The only place that reads the world for the dashboard: the shared state
//! (through its own `Manager`), the cgroups, `/proc` and log files. Runs off
//! the UI thread and returns plain data.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use super::action::{LogTail, SampleRequest, Snapshot, Subject};
use super::format::clean_line;
use crate::manager::{ExecutionView, Manager};
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

/// The most of a stored result the detail keeps: it shows the first lines
/// of the value and of each stream, and a Python value may be 50 MB.
const DETAIL_TEXT_BYTES: usize = 8 * 1024;
const DETAIL_VALUE_BYTES: usize = 8 * 1024;
const DETAIL_ITEMS: usize = 50;

pub struct Sampler {
    manager: Manager,
    monitor: Monitor,
    last_recovery: Option<Instant>,
    /// The execution in the detail, once final, trimmed: a final record
    /// never changes, so it is read from the state once, not every second.
    final_detail: Option<ExecutionView>,
}

impl Sampler {
    pub fn new(manager: Manager, monitor: Monitor) -> Sampler {
        Sampler {
            manager,
            monitor,
            last_recovery: None,
            final_detail: None,
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
        let detail_of = request.detail_of.as_deref();
        let cached = self
            .final_detail
            .take()
            .filter(|d| Some(d.record.id.as_str()) == detail_of);
        let mut executions = self.manager.recent_executions(
            EXECUTIONS_LISTED,
            request.sandbox.as_deref(),
            if cached.is_some() { None } else { detail_of },
        )?;
        // Pruned or removed in between: the listing no longer has it.
        if let Some(slot) = executions
            .iter_mut()
            .find(|e| Some(e.record.id.as_str()) == detail_of && e.record.status.is_final())
        {
            match cached {
                Some(detail) => *slot = detail,
                None => trim_for_detail(slot),
            }
            self.final_detail = Some(slot.clone());
        }
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

/// Cut a stored result down to what the detail can show: the beginning of
/// each stream and of the value (containers keep their first items, long
/// strings their first bytes, each cut marked with "…").
fn trim_for_detail(view: &mut ExecutionView) {
    let Some(result) = view.record.result.as_mut() else {
        return;
    };
    for text in [&mut result.stdout, &mut result.stderr] {
        cut_string(text, DETAIL_TEXT_BYTES);
    }
    if let Some(value) = result.result.as_mut() {
        let mut budget = DETAIL_VALUE_BYTES;
        trim_value(value, &mut budget);
    }
}

fn trim_value(value: &mut serde_json::Value, budget: &mut usize) {
    use serde_json::Value;
    match value {
        Value::String(text) => {
            cut_string(text, (*budget).max(64));
            *budget = budget.saturating_sub(text.len());
        }
        Value::Array(items) => {
            let keep = items.len().min(DETAIL_ITEMS);
            let mut kept = 0;
            for item in items.iter_mut().take(keep) {
                if *budget == 0 {
                    break;
                }
                trim_value(item, budget);
                kept += 1;
            }
            if kept < items.len() {
                items.truncate(kept);
                items.push(Value::String("…".into()));
            }
        }
        Value::Object(map) => {
            let total = map.len();
            let mut kept = serde_json::Map::new();
            for (key, mut item) in std::mem::take(map) {
                if kept.len() >= DETAIL_ITEMS || *budget == 0 {
                    break;
                }
                *budget = budget.saturating_sub(key.len());
                trim_value(&mut item, budget);
                kept.insert(key, item);
            }
            if kept.len() < total {
                kept.insert("…".into(), Value::String("…".into()));
            }
            *map = kept;
        }
        _ => *budget = budget.saturating_sub(16),
    }
}

/// Keep at most `max` bytes of `text` (on a character boundary), marking a cut.
fn cut_string(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    text.push('…');
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
    fn a_large_value_is_cut_to_its_beginning_for_the_detail() {
        use serde_json::{json, Value};
        // A 50 MB string: its first bytes, marked.
        let mut big = Value::String("x".repeat(50 << 20));
        let mut budget = DETAIL_VALUE_BYTES;
        trim_value(&mut big, &mut budget);
        let text = big.as_str().unwrap_or_default();
        assert!(text.len() <= DETAIL_VALUE_BYTES + '…'.len_utf8());
        assert!(text.starts_with("xxx") && text.ends_with('…'));
        // A long list keeps its first items, then "…".
        let mut list = json!((0..10_000).collect::<Vec<u32>>());
        let mut budget = DETAIL_VALUE_BYTES;
        trim_value(&mut list, &mut budget);
        let items = list.as_array().cloned().unwrap_or_default();
        assert_eq!(items.len(), DETAIL_ITEMS + 1);
        assert_eq!(items[0], 0);
        assert_eq!(items[DETAIL_ITEMS], "…");
        // A small value is untouched.
        let small = json!({"a": [1, 2, {"b": "c"}], "d": null});
        let mut same = small.clone();
        let mut budget = DETAIL_VALUE_BYTES;
        trim_value(&mut same, &mut budget);
        assert_eq!(same, small);
        // Cuts fall on character boundaries.
        let mut text = "é".repeat(10);
        cut_string(&mut text, 5);
        assert_eq!(text, "éé…");
    }

    #[test]
    fn tails_files_and_cleans_control_characters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("out");
        std::fs::write(&path, "a\n\x1b[31mred\tx\n").expect("write");
        let (lines, truncated) = tail_lines(&path);
        assert_eq!(
            lines,
            vec!["a".to_string(), "\\x1b[31mred    x".to_string()]
        );
        assert!(!truncated);
        let big = "line\n".repeat(100_000);
        std::fs::write(&path, big).expect("write");
        let (lines, truncated) = tail_lines(&path);
        assert!(truncated);
        assert_eq!(lines.len(), LOG_MAX_LINES);
        assert_eq!(tail_lines(&dir.path().join("missing")), (Vec::new(), false));
    }
}
