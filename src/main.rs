use std::process::ExitCode;

fn main() -> ExitCode {
    // Where sandbox-tui-init is not installed beside it, the sandbox's pid 1
    // is this binary re-executed; it must not pay for argument parsing or
    // touch anything else first.
    if std::env::args_os().nth(1).as_deref() == Some(std::ffi::OsStr::new("__init")) {
        let code = sandbox_tui::isolation::init::main();
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args
        .get(1)
        .map(|a| a == sandbox_tui::isolation::container_init::ARG)
        == Some(true)
    {
        let code = sandbox_tui::isolation::container_init::main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if args
        .get(1)
        .map(|a| a == sandbox_tui::manager::SUPERVISE_ARG)
        == Some(true)
    {
        let code = sandbox_tui::manager::supervise_main(&args[2..]);
        return ExitCode::from(code.clamp(0, 255) as u8);
    }
    if args.get(1).map(|a| a == sandbox_tui::netproxy::PROXY_ARG) == Some(true) {
        return ExitCode::from(sandbox_tui::netproxy::helper_main(&args[2..]).clamp(0, 255) as u8);
    }
    let code = sandbox_tui::cli::main();
    ExitCode::from(code.clamp(0, 255) as u8)
}
