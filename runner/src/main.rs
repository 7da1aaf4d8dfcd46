//! `openclaw-runner`: parse arguments, run, map the outcome to an exit code.
//! (`__job-init` is the job's namespace init, which the runner starts.)

fn main() -> std::process::ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == runner::init::ARG) {
        return runner::init::main(&args[2..]);
    }
    runner::main_with_args(args).into()
}
