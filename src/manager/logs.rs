//! An execution's logs, read through the one reader (`output::logfile`)
//! that the CLI's `logs` and the dashboard's Logs tab share.

use std::path::{Path, PathBuf};

use crate::output::logfile::LogFiles;
use crate::state::db::ExecutionRecord;

/// The logs of `exec`, as far as it has run (a gap without a tail is
/// final once it has ended).
pub fn log_files(exec: &ExecutionRecord) -> LogFiles {
    LogFiles::new(&exec.stdout_log, &exec.stderr_log).ended(exec.status.is_final())
}

/// An execution's logs and the files that go with them.
pub(super) fn remove_logs(stdout_log: &Path, stderr_log: &Path) {
    let companions = crate::output::logfile::companion_paths(stdout_log, stderr_log);
    for path in [stdout_log, stderr_log]
        .into_iter()
        .chain(companions.iter().map(PathBuf::as_path))
    {
        let _ = std::fs::remove_file(path);
    }
}
