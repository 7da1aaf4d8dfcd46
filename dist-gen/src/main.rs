//! Writes every tool's man pages and shell completions from its clap
//! definition, for the Debian package and tarball that `cargo xtask dist`
//! builds.
//!
//! `dist-gen OUTDIR` writes:
//! - `OUTDIR/man1/<tool>.1` and `OUTDIR/man1/<tool>-<subcommand>.1` for every
//!   subcommand that is not hidden (nested ones too);
//! - `OUTDIR/bash/<tool>`, `OUTDIR/zsh/_<tool>` and `OUTDIR/fish/<tool>.fish`.
//!
//! The files are plain (not compressed) and carry no date, so two runs give
//! the same bytes; xtask compresses the man pages with `gzip -n`.
#![allow(clippy::print_stderr, reason = "dist-gen's main owns its output")]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap_complete::Shell;

/// Every tool binary and its command-line definition.
fn tools() -> Vec<clap::Command> {
    vec![
        doctor::command(),
        guard::command(),
        notifier::command(),
        keyctl::command(),
        reviewgate::command(),
        console::command(),
        runner::command(),
    ]
}

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let (Some(out), None) = (args.next(), args.next()) else {
        eprintln!("usage: dist-gen OUTDIR");
        return ExitCode::from(2);
    };
    match generate(Path::new(&out)) {
        Ok(n) => {
            eprintln!("dist-gen: wrote {n} files under {}", Path::new(&out).display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dist-gen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes all man pages and completions under `out`; returns how many files.
fn generate(out: &Path) -> Result<usize, String> {
    let man = out.join("man1");
    let dirs = [man.clone(), out.join("bash"), out.join("zsh"), out.join("fish")];
    for d in &dirs {
        std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
    }
    for cmd in tools() {
        let name = cmd.get_name().to_owned();
        clap_mangen::generate_to(cmd.clone(), &man).map_err(|e| format!("man pages of {name}: {e}"))?;
        for (shell, file) in [
            (Shell::Bash, out.join("bash").join(&name)),
            (Shell::Zsh, out.join("zsh").join(format!("_{name}"))),
            (Shell::Fish, out.join("fish").join(format!("{name}.fish"))),
        ] {
            completion(&cmd, &name, shell, &file)?;
        }
    }
    dirs.iter().try_fold(0, |n, d| Ok(n + std::fs::read_dir(d).map_err(|e| format!("{}: {e}", d.display()))?.count()))
}

fn completion(cmd: &clap::Command, name: &str, shell: Shell, file: &PathBuf) -> Result<(), String> {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd.clone(), name, &mut buf);
    std::fs::write(file, buf).map_err(|e| format!("{}: {e}", file.display()))
}
