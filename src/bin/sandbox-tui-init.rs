//! The sandbox's pid 1 as an executable of its own (see
//! `sandbox_tui::isolation::init`): every launch execs it inside the new
//! namespaces, and a small binary starts in a fraction of the time of the
//! whole tool (see `isolation::namespaces::spawn_init`).

use std::process::ExitCode;

fn main() -> ExitCode {
    // A Docker backend container's pid 1 (`isolation::container_init`).
    let arg1 = std::env::args_os().nth(1);
    if arg1.as_deref()
        == Some(std::ffi::OsStr::new(
            sandbox_tui::isolation::container_init::ARG,
        ))
    {
        let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let code = sandbox_tui::isolation::container_init::main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let code = sandbox_tui::isolation::init::main();
    ExitCode::from(code.clamp(0, 255) as u8)
}
