//! `cargo xtask ci`, `bench` and `fuzz`.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::{coverage, deps, dist, docs, systemd_test, tools};

/// Every check CI runs. The nextest run is last, so its `Summary … tests run`
/// line is the final line of test output.
pub(crate) fn ci(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    step("system tools", || tools::ensure(tools::REQUIRED))?;
    step("fmt", || cargo(root, &["fmt", "--all", "--", "--check"]))?;
    step("clippy", || cargo(root, &["clippy", "--workspace", "--all-targets", "--locked", "--", "-D", "warnings"]))?;
    step("doc", || {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        run(Command::new(cargo).current_dir(root).env("RUSTDOCFLAGS", "-D warnings").args([
            "doc",
            "--workspace",
            "--no-deps",
            "--locked",
        ]))
    })?;
    // The fuzz crate needs nightly to run, but must keep compiling on stable so its targets cannot rot.
    step("fuzz targets compile", || cargo(root, &["check", "--manifest-path", "fuzz/Cargo.toml", "--locked"]))?;
    step("dependency invariant", || deps::check_manifest(&root.join("Cargo.toml")).map(|_| ()))?;
    step("shellcheck", || shellcheck(root))?;
    step("ops self-tests", || run(Command::new("bash").arg(root.join("ops/tests/run_all.sh")).current_dir(root)))?;
    step("build tests", || cargo(root, &["nextest", "run", "--workspace", "--locked", "--no-run"]))?;
    // After `build tests`, so listing the tests builds nothing.
    step("contract coverage", || coverage::coverage(root))?;
    step("docs drift", || docs::docs(root, true))?;
    // Here rather than after the test run: nextest's summary must stay the last line.
    step("package install", || dist::check(root))?;
    step("systemd boot", || systemd_test::systemd_test(root))?;
    eprintln!(
        "==> ci: all steps before the test run passed in {:.1}s; running tests last",
        started.elapsed().as_secs_f64()
    );
    // Nothing may print after nextest's closing `Summary` line on success.
    eprintln!("==> test");
    // The real Codex CLI (.ci/run installs it from npm) checks how the gate calls it.
    let codex = root.join("target/codex-cli/node_modules/.bin/codex");
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut test = Command::new(cargo_bin);
    test.current_dir(root).args(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]);
    if codex.exists() {
        test.env("OPENCLAW_TEST_CODEX", &codex);
    }
    run(&mut test).map_err(|e| format!("step `test` failed: {e}"))
}

/// shellcheck over every shell script under ops/ and .ci/, and the package's
/// maintainer scripts in ops/debian/.
fn shellcheck(root: &Path) -> Result<(), String> {
    let mut scripts = Vec::new();
    let mut stack = vec![root.join("ops"), root.join(".ci")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))? {
            let path = entry.map_err(|e| e.to_string())?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "sh") || path.file_name().is_some_and(|n| n == "run") {
                scripts.push(path);
            }
        }
    }
    scripts.sort();
    eprintln!("shellcheck: {} scripts", scripts.len());
    run(Command::new("shellcheck").args(["--shell=bash", "--severity=style"]).args(&scripts))?;
    // The package's maintainer scripts are POSIX sh (dpkg runs them with /bin/sh).
    let maintainer: Vec<_> = ["postinst", "prerm", "postrm"].iter().map(|s| root.join("ops/debian").join(s)).collect();
    eprintln!("shellcheck: {} maintainer scripts (sh)", maintainer.len());
    run(Command::new("shellcheck").args(["--shell=sh", "--severity=style"]).args(&maintainer))
}

/// Runs a named benchmark, or lists them.
pub(crate) fn bench(root: &Path, name: Option<&str>) -> Result<(), String> {
    match name {
        Some("doctor") => crate::bench::doctor(root),
        Some("keyctl") => crate::bench::keyctl(root),
        Some("audit") => crate::bench_audit::audit(root),
        Some("console") => crate::bench_console::console(root),
        Some("runner") => crate::bench_runner::runner(root),
        None => {
            eprintln!(
                "benchmarks: doctor (listener audit vs `ss -tulnp`, full run, hung tailscale); keyctl (status startup); audit (verify-audit vs sha256sum, time and peak RSS); console (refusals and runs under wrk, RSS); runner (phases of a no-op job on 1k/10k/100k-file repos)"
            );
            Ok(())
        }
        Some(other) => Err(format!("unknown benchmark `{other}`; known: doctor, keyctl, audit, console, runner")),
    }
}

/// Runs the console's browser tests with their screenshots going to
/// `docs/img/`, then prints the page's figures (the same tests CI runs;
/// screenshots are otherwise written under `target/`).
pub(crate) fn console_screenshots(root: &Path) -> Result<(), String> {
    tools::ensure(&[
        tools::Tool { program: "chromium", package: "chromium", why: "the console page's browser tests" },
        tools::Tool { program: "chromedriver", package: "chromium-driver", why: "drives chromium for those tests" },
    ])?;
    let dir = root.join("docs/img");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).current_dir(root).env("OPENCLAW_SCREENSHOTS_TO", &dir).args([
        "nextest",
        "run",
        "-p",
        "openclaw-console",
        "--locked",
        "browser::",
    ]))?;
    let figures = dir.join("figures.json");
    let text = std::fs::read_to_string(&figures).map_err(|e| format!("{}: {e}", figures.display()))?;
    let _ = std::fs::remove_file(&figures);
    eprintln!("console page figures: {text}");
    eprintln!("screenshots: docs/img/console-1280x800.png, docs/img/console-360x780.png");
    Ok(())
}

/// Runs each fuzz target for `--seconds N` (default 60) with cargo-fuzz on nightly.
pub(crate) fn fuzz(root: &Path, args: &[String]) -> Result<(), String> {
    let seconds = crate::flag_value(args, "--seconds").unwrap_or("60");
    seconds.parse::<u64>().map_err(|_| format!("--seconds takes a number, got `{seconds}`"))?;
    let only = args.iter().enumerate().find(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--seconds"));
    let fuzz_dir = root.join("fuzz");
    let targets: Vec<String> = std::fs::read_dir(fuzz_dir.join("fuzz_targets"))
        .map_err(|e| format!("fuzz/fuzz_targets: {e}"))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".rs").map(str::to_owned))
        .filter(|t| only.is_none_or(|(_, o)| o == t))
        .collect();
    if targets.is_empty() {
        return Err("no matching fuzz target".into());
    }
    for target in targets {
        step(&format!("fuzz {target} for {seconds}s"), || {
            run(Command::new("cargo").current_dir(&fuzz_dir).args([
                "+nightly",
                "fuzz",
                "run",
                &target,
                "--",
                &format!("-max_total_time={seconds}"),
            ]))
        })?;
    }
    Ok(())
}

fn step(name: &str, f: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
    eprintln!("==> {name}");
    let started = Instant::now();
    let res = f();
    let secs = started.elapsed().as_secs_f64();
    match &res {
        Ok(()) => eprintln!("<== {name}: ok ({secs:.1}s)"),
        Err(_) => eprintln!("<== {name}: FAILED ({secs:.1}s)"),
    }
    res.map_err(|e| format!("step `{name}` failed: {e}"))
}

fn cargo(root: &Path, args: &[&str]) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).current_dir(root).args(args))
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("cannot start {:?}: {e}", cmd.get_program()))?;
    if status.success() { Ok(()) } else { Err(format!("{:?} exited with {status}", cmd.get_program())) }
}
