//! Turning what the supervisor observed of an execution ([`Outcome`]) into
//! its status, exit code, signal and error, the same for both backends.

use std::time::Duration;

use nix::sys::signal::Signal;

use crate::execution::{ErrorInfo, ExecResult, Status};
use crate::profile::Profile;

/// What the supervisor saw of an execution while it ran.
#[derive(Default)]
pub(super) struct Outcome {
    pub setup_error: Option<String>,
    pub exec_error: Option<(String, i32)>,
    pub exited: Option<(Option<i32>, Option<i32>)>,
    /// The init's own exit code, when it exited rather than being killed.
    pub init_exit_code: Option<i32>,
    pub timed_out: bool,
    pub cpu_exceeded: bool,
    pub oom: bool,
    pub external_signal: Option<i32>,
    /// The live output's reader went away (`run ... | head`).
    pub output_reader_gone: bool,
    pub degraded: Vec<String>,
    /// The cgroup's figures once everything in it is dead.
    pub final_usage: Option<crate::cgroup::Usage>,
}

pub(super) fn classify(
    result: &mut ExecResult,
    outcome: &Outcome,
    profile: &Profile,
    timeout: Duration,
) {
    let signal_exit = |sig: i32| Some(128 + sig);
    if let Some(message) = &outcome.setup_error {
        result.status = Status::Error;
        result.error = error_text(format!("sandbox setup failed: {message}"));
        return;
    }
    if let Some((code, signal)) = outcome.exited {
        result.exit_code = code.or(signal.and_then(signal_exit));
        result.signal = signal;
    }
    if outcome.timed_out {
        result.status = Status::Timeout;
        result.error = error_text(format!(
            "wall-clock timeout after {:.1} s",
            timeout.as_secs_f64()
        ));
        return;
    }
    if outcome.oom {
        result.status = Status::MemoryLimit;
        result.error = error_text(format!(
            "out of memory: the sandbox exceeded max_memory_mb = {}",
            profile.max_memory_mb
        ));
        return;
    }
    let cpu_signal = matches!(result.signal, Some(s) if s == libc::SIGXCPU)
        || (result.signal == Some(libc::SIGKILL)
            && result.cpu_ms >= profile.max_cpu_seconds.saturating_mul(1000));
    if outcome.cpu_exceeded || cpu_signal {
        result.status = Status::CpuLimit;
        result.error = error_text(format!(
            "CPU time limit of {} s exceeded",
            profile.max_cpu_seconds
        ));
        return;
    }
    if outcome.output_reader_gone {
        result.status = Status::Killed;
        result.signal = Some(libc::SIGPIPE);
        result.exit_code = signal_exit(libc::SIGPIPE);
        result.error = error_text(
            "killed: the reader of its live output went away (as SIGPIPE ends a pipeline)".into(),
        );
        return;
    }
    if let Some(sig) = outcome.external_signal {
        result.status = Status::Killed;
        result.signal = Some(sig);
        result.exit_code = signal_exit(sig);
        let name =
            Signal::try_from(sig).map_or_else(|_| format!("signal {sig}"), |s| s.to_string());
        result.error = error_text(format!(
            "killed: {name} from outside (Ctrl-C, `kill`, or a signal to its supervisor)"
        ));
        return;
    }
    if let Some((message, code)) = &outcome.exec_error {
        result.status = Status::Failed;
        result.exit_code = Some(*code);
        result.error = Some(message.clone().into());
        return;
    }
    match outcome.exited {
        Some((Some(0), _)) => result.status = Status::Completed,
        Some((Some(_), _)) => result.status = Status::Failed,
        Some((None, Some(sig))) => {
            let from_outside = [libc::SIGKILL, libc::SIGTERM, libc::SIGINT, libc::SIGHUP];
            result.status = if from_outside.contains(&sig) {
                Status::Killed
            } else {
                Status::Failed
            };
        }
        // The init reports the command's end before it exits: one that
        // exited without doing so failed (it never ran the command).
        _ => match outcome.init_exit_code {
            Some(code) => {
                result.status = Status::Error;
                result.error = error_text(format!(
                    "the sandbox's init exited with code {code} without reporting the command's end"
                ));
            }
            None => {
                result.status = Status::Killed;
                result.error =
                    Some("the sandbox's init ended without reporting the command's end".into());
            }
        },
    }
}

fn error_text(text: String) -> Option<ErrorInfo> {
    Some(ErrorInfo::Message(text))
}
