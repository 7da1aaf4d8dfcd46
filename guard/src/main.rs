//! `openclaw-guard`: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    guard::main_with_args(std::env::args_os()).into()
}
