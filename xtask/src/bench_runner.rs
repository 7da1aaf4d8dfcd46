//! `cargo xtask bench runner`: the release `openclaw-runner` on a no-op job
//! (`/bin/true`) over repos of 1k, 10k and 100k files, each run 7 times
//! after a warm-up (the warm-up fetches; the timed runs fetch an unchanged
//! origin). Each round runs, side by side, the job as `nobody` (a fixed
//! user), the same job with `run_as = "dynamic"` (a uid leased per run)
//! and a plain `git worktree add --detach` of the same commit from the
//! runner's own mirror. Prints the medians of the runner's phases from
//! `timings_ms` (checkout, read-only chmod, manifest, check, cleanup), the
//! whole runs, `/bin/true` run directly, and two ratios with their
//! ceilings: the dynamic run over the fixed-user run (1.1) and the
//! runner's checkout over the plain `git worktree add` (1.2). A ratio
//! above its ceiling fails the bench. Needs root (the job switches uid).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

/// Timed runs per size (`OPENCLAW_BENCH_RUNS` overrides).
const RUNS: usize = 7;

fn runs() -> usize {
    std::env::var("OPENCLAW_BENCH_RUNS").ok().and_then(|v| v.parse().ok()).filter(|n| *n > 0).unwrap_or(RUNS)
}

/// Ceiling of the dynamic-uid whole run over the fixed-user whole run.
const DYNAMIC_CEILING: f64 = 1.1;

/// Ceiling of the runner's checkout over a plain `git worktree add`.
const CHECKOUT_CEILING: f64 = 1.2;

fn git(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "b")
        .env("GIT_AUTHOR_EMAIL", "b@example.invalid")
        .env("GIT_COMMITTER_NAME", "b")
        .env("GIT_COMMITTER_EMAIL", "b@example.invalid")
        .output()
        .map_err(|e| format!("git: {e}"))?;
    if !out.status.success() {
        return Err(format!("git {args:?}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn median(mut v: Vec<u64>) -> u64 {
    v.sort_unstable();
    v[v.len() / 2]
}

pub(crate) fn runner(root: &Path) -> Result<(), String> {
    if !std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|ids| ids.split_whitespace().nth(1)) == Some("0")
    }) {
        return Err("bench runner needs root (jobs run as nobody through setpriv)".into());
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--locked", "-p", "openclaw-runner"])
        .current_dir(root)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("cargo build --release -p openclaw-runner failed".into());
    }
    let bin = root.join("target/release/openclaw-runner");
    let tmp = std::env::temp_dir().join(format!("oc-bench-runner-{}", std::process::id()));
    std::fs::create_dir_all(tmp.join("etc")).map_err(|e| e.to_string())?;
    let chmod = |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    chmod(&tmp, 0o755).map_err(|e| e.to_string())?;
    chmod(&tmp.join("etc"), 0o700).map_err(|e| e.to_string())?;
    std::fs::write(tmp.join("openclaw.toml"), "").map_err(|e| e.to_string())?;
    let direct: Vec<u64> = (0..runs())
        .map(|_| {
            let t = Instant::now();
            let _ = Command::new("/bin/true").status();
            t.elapsed().as_micros() as u64
        })
        .collect();
    eprintln!("bench runner: /bin/true run directly: median {} µs", median(direct));
    eprintln!(
        "bench runner: files | fetch(warm-up) | checkout | read-only | manifest | check | cleanup | job | whole run (nobody) | whole run (dynamic) | plain git worktree add (ms, medians of {})",
        runs()
    );
    // OPENCLAW_BENCH_SIZES=1000,10000 measures fewer sizes (the 100k round takes minutes).
    let sizes: Vec<usize> = match std::env::var("OPENCLAW_BENCH_SIZES") {
        Ok(list) => list
            .split(',')
            .map(|n| n.trim().parse().map_err(|e| format!("OPENCLAW_BENCH_SIZES: {e}")))
            .collect::<Result<_, _>>()?,
        Err(_) => vec![1_000, 10_000, 100_000],
    };
    let mut over = Vec::new();
    for n in sizes {
        let work = tmp.join(format!("work{n}"));
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        git(&work, &["init", "-q", "-b", "main"])?;
        for i in 0..n {
            let dir = work.join(format!("d{:04}", i / 100));
            if i % 100 == 0 {
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            }
            std::fs::write(dir.join(format!("f{i}.txt")), format!("file {i}\n")).map_err(|e| e.to_string())?;
        }
        git(&work, &["add", "."])?;
        git(&work, &["commit", "-q", "-m", "files"])?;
        let sha = git(&work, &["rev-parse", "HEAD"])?;
        let origin = tmp.join(format!("origin{n}.git"));
        git(&tmp, &["clone", "-q", "--bare", &work.to_string_lossy(), &origin.to_string_lossy()])?;
        let cfg = tmp.join("etc/runner.toml");
        std::fs::write(
            &cfg,
            format!(
                "[[repo]]\nname = \"r{n}\"\nurl = \"file://{}\"\nallowed_branches = [\"main\"]\n\n\
                 [[job]]\nname = \"noop\"\nargv = [\"/bin/true\"]\ntimeout_sec = 600\nrun_as = \"nobody\"\n\n\
                 [[job]]\nname = \"noop-dynamic\"\nargv = [\"/bin/true\"]\ntimeout_sec = 600\nrun_as = \"dynamic\"\n",
                origin.display()
            ),
        )
        .map_err(|e| e.to_string())?;
        chmod(&cfg, 0o600).map_err(|e| e.to_string())?;
        let mut phases: std::collections::BTreeMap<&str, Vec<u64>> = Default::default();
        let mut warm_fetch = 0;
        let mirror = tmp.join(format!("state/runner/mirrors/r{n}.git"));
        for round in 0..=runs() {
            // Alternate which goes first, so neither always runs on a warmer cache.
            let ((wall, v), (dyn_wall, dv)) = if round % 2 == 0 {
                let fixed = run_once(&bin, &cfg, &tmp, "noop", n, &sha)?;
                (fixed, run_once(&bin, &cfg, &tmp, "noop-dynamic", n, &sha)?)
            } else {
                let dynamic = run_once(&bin, &cfg, &tmp, "noop-dynamic", n, &sha)?;
                (run_once(&bin, &cfg, &tmp, "noop", n, &sha)?, dynamic)
            };
            let t = &v["timings_ms"];
            let plain = plain_worktree_add(&mirror, &tmp.join("plain"), &sha)?;
            if round == 0 {
                warm_fetch = t["fetch"].as_u64().unwrap_or(0);
                continue;
            }
            for key in ["checkout", "read_only", "manifest", "check", "cleanup", "job"] {
                phases.entry(key).or_default().push(t[key].as_u64().unwrap_or(0));
            }
            phases.entry("checkout").or_default().push(dv["timings_ms"]["checkout"].as_u64().unwrap_or(0));
            phases.entry("uid").or_default().push(dv["timings_ms"]["uid"].as_u64().unwrap_or(0));
            phases.entry("whole").or_default().push(wall);
            phases.entry("whole_dynamic").or_default().push(dyn_wall);
            phases.entry("plain").or_default().push(plain);
        }
        let m = |k: &str| median(phases.get(k).cloned().unwrap_or_else(|| vec![0]));
        eprintln!(
            "bench runner: {n:>7} | {warm_fetch:>6} | {:>6} | {:>6} | {:>6} | {:>6} | {:>6} | {:>4} | {:>6} | {:>6} | {:>6}",
            m("checkout"),
            m("read_only"),
            m("manifest"),
            m("check"),
            m("cleanup"),
            m("job"),
            m("whole"),
            m("whole_dynamic"),
            m("plain")
        );
        let dynamic = m("whole_dynamic") as f64 / m("whole").max(1) as f64;
        let checkout = m("checkout") as f64 / m("plain").max(1) as f64;
        eprintln!(
            "bench runner: {n:>7} files: dynamic/nobody whole run {dynamic:.2} (ceiling {DYNAMIC_CEILING}; leasing the uid {} ms), checkout/plain worktree add {checkout:.2} (ceiling {CHECKOUT_CEILING})",
            m("uid")
        );
        if dynamic > DYNAMIC_CEILING || checkout > CHECKOUT_CEILING {
            over.push(format!("{n} files: dynamic {dynamic:.2}, checkout {checkout:.2}"));
        }
        let _ = std::fs::remove_dir_all(&work);
    }
    let _ = std::fs::remove_dir_all(&tmp);
    if over.is_empty() { Ok(()) } else { Err(format!("bench runner: over a ceiling: {}", over.join("; "))) }
}

/// One run of `job`; its wall time in ms and its artifact.
fn run_once(
    bin: &Path,
    cfg: &Path,
    tmp: &Path,
    job: &str,
    n: usize,
    sha: &str,
) -> Result<(u64, serde_json::Value), String> {
    let t = Instant::now();
    let out = Command::new(bin)
        .args(["--config", &cfg.to_string_lossy(), "run", "--job", job, "--repo", &format!("r{n}"), "--sha", sha])
        .args(["--format", "json"])
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("OPENCLAW_CONFIG", tmp.join("openclaw.toml"))
        .env("OPENCLAW_STATE_DIR", tmp.join("state"))
        .env("OPENCLAW_ARTIFACTS_ROOT", tmp.join("artifacts"))
        .env("OPENCLAW_AUDIT_LOG", tmp.join("audit/audit.jsonl"))
        .env("OPENCLAW_RUN_DIR", tmp.join("run"))
        .output()
        .map_err(|e| e.to_string())?;
    let wall = t.elapsed().as_millis() as u64;
    if !out.status.success() {
        return Err(format!("run of {job} failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok((wall, serde_json::from_slice(&out.stdout).map_err(|e| e.to_string())?))
}

/// A plain `git worktree add --detach` of `sha` from `mirror` into `dest`
/// (the peer the runner's checkout is measured against), in ms; the
/// worktree is removed afterwards, untimed.
fn plain_worktree_add(mirror: &Path, dest: &Path, sha: &str) -> Result<u64, String> {
    let t = Instant::now();
    let mirror_s = mirror.to_string_lossy();
    git(mirror, &["--git-dir", &mirror_s, "worktree", "add", "--detach", "--quiet", &dest.to_string_lossy(), sha])?;
    let took = t.elapsed().as_millis() as u64;
    std::fs::remove_dir_all(dest).map_err(|e| e.to_string())?;
    git(mirror, &["--git-dir", &mirror_s, "worktree", "prune"])?;
    Ok(took)
}
