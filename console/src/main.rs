//! `openclaw-console`: parse arguments, serve, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    console::main_with_args(std::env::args_os()).into()
}
