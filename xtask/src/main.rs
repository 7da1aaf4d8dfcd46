//! Project automation, so CI is a Rust program anyone can run locally.
//!
//! - `cargo xtask ci`: every check CI runs, in order, each step named and timed.
//! - `cargo xtask docs [--check]`: generate docs/OPS_INDEX.md from the CLIs (or check it).
//! - `cargo xtask coverage`: check docs/CONTRACT_COVERAGE.md against the tests that exist.
//! - `cargo xtask dist [--install-test]`: the Debian package, a tarball and SHA256SUMS under target/dist/
//!   (reproducible); with `--install-test`, CI's package step alone (as root: installs it here).
//! - `cargo xtask systemd-test`: the .deb installed into a Debian root booted under a real systemd, every unit checked.
//! - `cargo xtask check-deps [--manifest-path PATH]`: the dependency-direction invariant alone.
//! - `cargo xtask bench [NAME]`: benchmarks (whole-process timings against named baselines).
//! - `cargo xtask fuzz [--seconds N] [TARGET]`: run the cargo-fuzz targets (needs nightly).
//! - `cargo xtask console-screenshots`: refresh docs/img/console-*.png from the browser tests.
#![allow(clippy::print_stdout, clippy::print_stderr, reason = "xtask's main module owns its output")]

mod bench;
mod bench_audit;
mod bench_console;
mod bench_runner;
mod ci;
mod coverage;
mod deps;
mod dist;
mod dist_stage;
mod docs;
mod systemd_boot;
mod systemd_test;
mod tools;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = project_root();
    let res = match args.first().map(String::as_str) {
        Some("ci") => ci::ci(&root),
        Some("check-deps") => {
            let manifest = flag_value(&args, "--manifest-path").map_or_else(|| root.join("Cargo.toml"), PathBuf::from);
            deps::check_manifest(&manifest).map(|n| eprintln!("dependency invariant holds for {n} workspace crates"))
        }
        Some("docs") => docs::docs(&root, args.iter().any(|a| a == "--check")),
        Some("coverage") => coverage::coverage(&root),
        Some("dist") if args.iter().any(|a| a == "--install-test") => dist::check(&root),
        Some("dist") => dist::dist(&root).map(|_| ()),
        Some("systemd-test") => systemd_test::systemd_test(&root),
        Some("bench") => ci::bench(&root, args.get(1).map(String::as_str)),
        Some("fuzz") => ci::fuzz(&root, &args[1..]),
        Some("console-screenshots") => ci::console_screenshots(&root),
        Some("help" | "--help" | "-h") | None => {
            println!("{}", USAGE);
            Ok(())
        }
        Some(other) => Err(format!("unknown task `{other}`\n{USAGE}")),
    };
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <ci | docs [--check] | coverage | dist [--install-test] | systemd-test | check-deps [--manifest-path PATH] | bench [NAME] | fuzz [--seconds N] [TARGET] | console-screenshots>";

fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}
