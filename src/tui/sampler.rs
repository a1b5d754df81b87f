//! The only place that reads the world for the dashboard: the shared state
//! (through its own `Manager`), the cgroups, `/proc` and log files. Runs off
//! the UI thread and returns plain data.

use std::path::Path;
use std::time::{Duration, Instant};

use super::action::{LineKind, LogLine, LogTail, SampleRequest, Snapshot, Subject};
use crate::manager::{ExecutionView, Manager};
use crate::monitor::Monitor;
use crate::output::logfile::{LogFiles, LogStream, Piece};
use crate::state::db::now_ms;

/// How much of the beginning and of the end of the logs to read per sample.
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
            Some(log_tail(id, crate::manager::log_files(&e.record)))
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
        cut_middle(text, DETAIL_TEXT_BYTES);
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

/// Keep the first and the last `max / 2` bytes of `text` (on character
/// boundaries and, where there is one near, line boundaries), with a line
/// "…" between: the detail shows a stream's head and tail.
fn cut_middle(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut head = max / 2;
    while !text.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = text.len() - max / 2;
    while !text.is_char_boundary(tail) {
        tail += 1;
    }
    let head = text[..head].rfind('\n').unwrap_or(head);
    let tail = text[tail..].find('\n').map_or(tail, |i| tail + i + 1);
    *text = format!("{}\n…\n{}", &text[..head], &text[tail..]);
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

/// An execution's logs as the Logs tab shows them, read through the one
/// log reader `logs` uses too: the beginning and the end of long ones.
/// `ended`: the execution has ended (a gap without a tail is final).
pub fn read_log_tail(id: &str, stdout_log: &Path, stderr_log: &Path, ended: bool) -> LogTail {
    log_tail(id, LogFiles::new(stdout_log, stderr_log).ended(ended))
}

/// [`read_log_tail`] of the files the manager gives for an execution.
fn log_tail(id: &str, files: LogFiles) -> LogTail {
    let pieces = files.read(Some(LOG_TAIL_BYTES)).unwrap_or_default();
    let mut lines: Vec<LogLine> = Vec::new();
    let mut truncated = false;
    // The last line is unfinished: the next bytes of its stream continue it.
    let mut open = false;
    for piece in pieces {
        let Piece::Data { stream, bytes, .. } = &piece else {
            truncated = true;
            lines.push(LogLine::new(
                LineKind::Note,
                piece.marker().unwrap_or_default(),
            ));
            open = false;
            continue;
        };
        let kind = match stream {
            LogStream::Stdout => LineKind::Stdout,
            LogStream::Stderr => LineKind::Stderr,
        };
        let text = String::from_utf8_lossy(bytes);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        for (i, part) in body.split('\n').enumerate() {
            match lines.last_mut() {
                Some(last) if i == 0 && open && last.kind == kind => last.text.push_str(part),
                _ => lines.push(LogLine::new(kind, part)),
            }
        }
        open = !text.ends_with('\n');
    }
    if lines.len() > LOG_MAX_LINES {
        // The first and the last lines, as of the bytes.
        let half = LOG_MAX_LINES / 2;
        let dropped = lines.len() - 2 * half;
        lines.drain(half..lines.len() - half);
        lines.insert(
            half,
            LogLine::new(
                LineKind::Note,
                format!("[… {dropped} lines not shown here …]"),
            ),
        );
        truncated = true;
    }
    LogTail {
        id: id.to_string(),
        lines,
        truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_stream_keeps_its_head_and_tail_for_the_detail() {
        let mut text: String = (1..=5000).map(|i| format!("line {i}\n")).collect();
        cut_middle(&mut text, 1000);
        assert!(text.len() <= 1010, "{}", text.len());
        assert!(text.starts_with("line 1\nline 2\n"), "{text}");
        assert!(text.contains("\n…\n"), "{text}");
        assert!(text.ends_with("line 4999\nline 5000\n"), "{text}");
    }

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
    fn reads_both_streams_in_order_with_head_and_tail() {
        use crate::output::logfile::{order_path, write_tail};
        let dir = tempfile::tempdir().expect("tempdir");
        let (out, err) = (dir.path().join("e.stdout"), dir.path().join("e.stderr"));
        std::fs::write(&out, "a\npart").expect("write");
        std::fs::write(&err, "b\n").expect("write");
        std::fs::write(order_path(&out), "1 2\n2 2\n1 100\n").expect("write");
        write_tail(&out, 98, b"end\nz\n").expect("write");
        let tail = read_log_tail("e", &out, &err, true);
        let shown: Vec<(LineKind, &str)> = tail
            .lines
            .iter()
            .map(|l| (l.kind, l.text.as_str()))
            .collect();
        assert_eq!(
            shown,
            vec![
                (LineKind::Stdout, "a"),
                (LineKind::Stderr, "b"),
                (LineKind::Stdout, "part"),
                (LineKind::Note, "[… 92 bytes of stdout not kept …]"),
                (LineKind::Stdout, "end"),
                (LineKind::Stdout, "z"),
            ]
        );
        assert!(tail.truncated);
        // Many lines: the first and the last.
        std::fs::remove_file(order_path(&out)).expect("rm");
        std::fs::remove_file(crate::output::logfile::tail_path(&out)).expect("rm");
        let big: String = (0..100_000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&out, big).expect("write");
        let tail = read_log_tail("e", &out, &dir.path().join("missing"), true);
        assert!(tail.truncated);
        assert_eq!(tail.lines.len(), LOG_MAX_LINES + 1);
        assert_eq!(tail.lines[0].text, "0");
        assert_eq!(tail.lines.last().map(|l| l.text.as_str()), Some("99999"));
        let empty = read_log_tail(
            "e",
            &dir.path().join("none"),
            &dir.path().join("missing"),
            false,
        );
        assert!(empty.lines.is_empty() && !empty.truncated);
    }
}
