//! `openclaw-keyctl`: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    keyctl::main_with_args(std::env::args_os()).into()
}
