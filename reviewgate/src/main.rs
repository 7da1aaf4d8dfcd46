//! `openclaw-reviewgate`: parse arguments, run, map the outcome to an exit code.

fn main() -> std::process::ExitCode {
    reviewgate::main_with_args(std::env::args_os()).into()
}
