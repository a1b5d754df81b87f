//! sandbox-tui: run untrusted code in real Linux sandboxes.
//!
//! Layers, lowest first (see DESIGN.md): `profile`, `isolation`, `cgroup`,
//! `execution` (shared types), `supervisor`, `state`, `manager`, `monitor`, `cli`, `tui`.

pub mod cgroup;
pub mod cli;
pub mod cluster;
pub mod doctor;
pub mod escape;
pub mod execution;
pub mod files;
pub mod fsops;
pub mod image;
pub mod isolation;
pub mod manager;
pub mod monitor;
pub mod netproxy;
pub mod output;
pub mod policy;
pub mod profile;
pub mod pseudofs;
pub mod python;
pub mod selftest;
pub mod state;
pub mod supervisor;
pub mod tui;
