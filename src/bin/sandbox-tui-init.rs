//! The sandbox's pid 1 as an executable of its own (see
//! `sandbox_tui::isolation::init`): every launch execs it inside the new
//! namespaces, and a small binary starts in a fraction of the time of the
//! whole tool (see `isolation::namespaces::spawn_init`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let code = sandbox_tui::isolation::init::main();
    ExitCode::from(code.clamp(0, 255) as u8)
}
