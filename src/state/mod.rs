//! State: the on-disk layout and the SQLite database shared by the CLI, the
//! dashboard and the supervisors.

pub mod db;
pub mod layout;

pub use db::{
    now_ms, process_alive, process_start_time, validate_name, ExecutionRecord, NewExecution,
    SandboxRecord, StateError, Store,
};
