//! State: the on-disk layout and (later) the SQLite database.

pub mod layout;
