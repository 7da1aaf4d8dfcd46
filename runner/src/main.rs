//! `openclaw-runner`: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    runner::main_with_args(std::env::args_os()).into()
}
