//! `cargo xtask bench audit`: `openclaw-doctor verify-audit` against
//! `sha256sum` on the same file, time and peak memory.
//!
//! Two valid, hash-chained logs are generated with python3 (the same
//! canonical encoding as `docs/verify_audit.py`): 300,000 records (about
//! 100 MB) and 3,000,000 (about 1 GB), each with its checkpoint. For each,
//! runs alternate between the two tools (interleaved pairs, so both see the
//! same page-cache and machine state); the median wall time and the peak RSS
//! (`/usr/bin/time -f %M`) of each are printed with their ratio. Goal:
//! verify-audit at most 2x sha256sum's time, peak RSS under 16 MiB.
//! Prints figures; asserts nothing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const GEN: &str = r#"
import hashlib, json, sys
n = int(sys.argv[1]); out = sys.argv[2]
prev = "0" * 64
with open(out, "w", encoding="utf-8") as f:
    for seq in range(1, n + 1):
        rec = {"seq": seq, "ts": "2026-11-28T%02d:%02d:%02dZ" % (seq // 3600 % 24, seq // 60 % 60, seq % 60),
               "tool": "openclaw-guard", "actor": "unit:openclaw-guard.service", "action": "guard.run",
               "params_hash": hashlib.sha256(str(seq).encode()).hexdigest(), "exit_code": seq % 3,
               "duration_ms": seq % 997, "prev": prev}
        body = json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        rec["hash"] = hashlib.sha256(body.encode()).hexdigest()
        f.write(json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n")
        prev = rec["hash"]
with open(out + ".checkpoint", "w") as f:
    f.write("openclaw-audit-checkpoint/v1 seq=%d hash=%s ts=%s\n" % (n, prev, rec["ts"]))
"#;

const RUNS: usize = 5;

pub(crate) fn audit(root: &Path) -> Result<(), String> {
    let status =
        Command::new("cargo").current_dir(root).args(["build", "--release", "--locked", "-p", "doctor"]).status();
    if !status.is_ok_and(|s| s.success()) {
        return Err("cargo build --release -p doctor failed".into());
    }
    let doctor = root.join("target/release/openclaw-doctor");
    if !Path::new("/usr/bin/time").exists() {
        return Err("/usr/bin/time is missing (apt-get install time)".into());
    }
    let dir = std::env::temp_dir().join(format!("oc-bench-audit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).map_err(|e| e.to_string())?;
    let res = (|| {
        for n in [300_000usize, 3_000_000] {
            let log = dir.join(format!("audit-{n}.jsonl"));
            let ok =
                Command::new("python3").args(["-c", GEN, &n.to_string()]).arg(&log).status().is_ok_and(|s| s.success());
            if !ok {
                return Err("generating the log failed".into());
            }
            compare(&doctor, &log, n)?;
            let _ = std::fs::remove_file(&log);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    res
}

/// One run under `/usr/bin/time`: wall time, peak RSS in KiB, exit code.
fn timed(argv: &[&str]) -> Result<(Duration, u64, i32), String> {
    let started = Instant::now();
    let out = Command::new("/usr/bin/time").arg("-f").arg("%M").args(argv).output().map_err(|e| e.to_string())?;
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss = stderr.lines().last().and_then(|l| l.trim().parse().ok()).ok_or_else(|| format!("{argv:?}: {stderr}"))?;
    Ok((took, rss, out.status.code().unwrap_or(-1)))
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn compare(doctor: &Path, log: &PathBuf, n: usize) -> Result<(), String> {
    let size = std::fs::metadata(log).map_err(|e| e.to_string())?.len();
    let (log_s, cp_s) = (log.display().to_string(), format!("{}.checkpoint", log.display()));
    let doctor_s = doctor.display().to_string();
    let verify: Vec<&str> = vec![&doctor_s, "verify-audit", "--log", &log_s, "--checkpoint", &cp_s, "--format", "json"];
    let sum: Vec<&str> = vec!["sha256sum", &log_s];
    // Warm the page cache once for both.
    timed(&sum)?;
    let (mut tv, mut ts, mut rv, mut rs) = (Vec::new(), Vec::new(), 0, 0);
    for _ in 0..RUNS {
        let (t, r, code) = timed(&verify)?;
        if code != 0 {
            return Err(format!("verify-audit exited {code} on the generated log"));
        }
        tv.push(t);
        rv = rv.max(r);
        let (t, r, _) = timed(&sum)?;
        ts.push(t);
        rs = rs.max(r);
    }
    let (mv, ms) = (median(tv), median(ts));
    eprintln!(
        "bench audit: {n} records, {:.0} MB: verify-audit median {:.0} ms, peak RSS {:.1} MiB; sha256sum median {:.0} ms, peak RSS {:.1} MiB; ratio {:.2} (goal <= 2.00, RSS < 16 MiB) over {RUNS} interleaved pairs",
        size as f64 / 1e6,
        mv.as_secs_f64() * 1000.0,
        rv as f64 / 1024.0,
        ms.as_secs_f64() * 1000.0,
        rs as f64 / 1024.0,
        mv.as_secs_f64() / ms.as_secs_f64()
    );
    Ok(())
}
