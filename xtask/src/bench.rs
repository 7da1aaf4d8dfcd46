//! `cargo xtask bench doctor`: whole-process timings against named baselines.
//!
//! 1. Listener audit vs `ss -tulnp` (iproute2) on the same socket table:
//!    ~10,000 listening sockets held by 300 processes, in a network namespace
//!    the benchmark creates and deletes. Both run through `ip netns exec`, so
//!    that overhead is in both figures.
//! 2. A full doctor run with every check's input present (recorded tool
//!    outputs as PATH stubs, a loopback HTTP endpoint, real directories).
//! 3. The same with a `tailscale` that never answers: the run must end at the
//!    check timeout, inside its budget.
//!
//! Needs root (namespaces), python3 and iproute2. Prints medians; asserts nothing.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "oc-bench";
const PROCESSES: usize = 300;
const SOCKETS_PER_PROCESS: usize = 34;
const RUNS: usize = 21;

pub(crate) fn doctor(root: &Path) -> Result<(), String> {
    let status =
        Command::new("cargo").current_dir(root).args(["build", "--release", "--locked", "-p", "doctor"]).status();
    if !status.is_ok_and(|s| s.success()) {
        return Err("cargo build --release -p doctor failed".into());
    }
    let doctor = root.join("target/release/openclaw-doctor");
    listeners_vs_ss(&doctor)?;
    full_run(root, &doctor)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Median wall time of `runs` whole-process runs; a killed run is an error.
fn time_runs(runs: usize, mut make: impl FnMut() -> Command) -> Result<Duration, String> {
    let mut samples = Vec::new();
    for _ in 0..runs {
        let mut cmd = make();
        let started = Instant::now();
        let out = cmd.stdout(Stdio::null()).stderr(Stdio::null()).status().map_err(|e| e.to_string())?;
        samples.push(started.elapsed());
        if out.code().is_none() {
            return Err(format!("{cmd:?} was killed"));
        }
    }
    Ok(median(samples))
}

struct Namespace;

impl Drop for Namespace {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", NS]).status();
    }
}

const HOLDER: &str = r#"
import socket, sys
n = int(sys.argv[1]); base = int(sys.argv[2]); held = []
for i in range(n):
    fam, addr = (socket.AF_INET, "127.0.0.1") if i % 3 else (socket.AF_INET, "100.101.102.103")
    kind = socket.SOCK_DGRAM if i % 10 == 9 else socket.SOCK_STREAM
    s = socket.socket(fam, kind)
    s.bind((addr, base + i))
    if kind == socket.SOCK_STREAM:
        s.listen(1)
    held.append(s)
print("ready", flush=True)
sys.stdin.read()
"#;

fn listeners_vs_ss(doctor: &Path) -> Result<(), String> {
    let _ = Command::new("ip").args(["netns", "del", NS]).status();
    let ip = |args: &[&str]| Command::new("ip").args(args).status().map_err(|e| e.to_string());
    ip(&["netns", "add", NS])?;
    let _ns = Namespace;
    ip(&["-n", NS, "link", "set", "lo", "up"])?;
    ip(&["-n", NS, "addr", "add", "100.101.102.103/32", "dev", "lo"])?;
    let mut holders: Vec<Child> = Vec::new();
    for p in 0..PROCESSES {
        let base = (10_000 + p * SOCKETS_PER_PROCESS).to_string();
        let mut child = Command::new("ip")
            .args(["netns", "exec", NS, "python3", "-c", HOLDER, &SOCKETS_PER_PROCESS.to_string(), &base])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().ok_or("no stdout")?).read_line(&mut line).map_err(|e| e.to_string())?;
        if line.trim() != "ready" {
            return Err("a socket holder failed to start".into());
        }
        holders.push(child);
    }
    let count = Command::new("ip").args(["netns", "exec", NS, "ss", "-Htuln"]).output().map_err(|e| e.to_string())?;
    let n_sockets = String::from_utf8_lossy(&count.stdout).lines().count();
    eprintln!("bench: {n_sockets} listening sockets held by {PROCESSES} processes in netns {NS}");

    let doctor_ms = time_runs(RUNS, || {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", NS]).arg(doctor).args(["--only", "listeners", "--format", "json", "--no-artifacts"]);
        c
    })?;
    let ss_ms = time_runs(RUNS, || {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", NS, "ss", "-tulnp"]);
        c
    })?;
    for mut h in holders {
        let _ = h.kill();
        let _ = h.wait();
    }
    eprintln!(
        "bench listeners: openclaw-doctor --only listeners median {} vs baseline `ss -tulnp` median {} over {RUNS} runs; ratio {:.2} (goal ≤ 1.00)",
        ms(doctor_ms),
        ms(ss_ms),
        doctor_ms.as_secs_f64() / ss_ms.as_secs_f64()
    );
    Ok(())
}

fn full_run(root: &Path, doctor: &Path) -> Result<(), String> {
    let tmp = std::env::temp_dir().join(format!("oc-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let bin = tmp.join("bin");
    for d in [&bin, &tmp.join("logs"), &tmp.join("secrets"), &tmp.join("artifacts")] {
        std::fs::create_dir_all(d).map_err(|e| e.to_string())?;
    }
    let fixtures = root.join("doctor/tests/fixtures");
    let stub = |name: &str, body: &str| -> Result<(), String> {
        let p = bin.join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).map_err(|e| e.to_string())?;
        Command::new("chmod").arg("755").arg(&p).status().map_err(|e| e.to_string())?;
        Ok(())
    };
    let fx = |f: &str| fixtures.join(f).display().to_string();
    stub("tailscale", &format!("cat '{}'", fx("tailscale_status_running.json")))?;
    stub("docker", &format!("case \"$1\" in ps) cat '{}';; *) exit 1;; esac", fx("docker_ps_clean.jsonl")))?;
    stub("ufw", &format!("cat '{}'", fx("ufw_status_verbose_good.txt")))?;
    stub("sshd", &format!("cat '{}'", fx("sshd_T_tailnet.txt")))?;
    stub(
        "systemctl",
        &format!(
            "case \"$1\" in list-units) cat '{}';; is-active) echo active;; esac",
            fx("systemctl_failed_none.txt")
        ),
    )?;
    // A real HTTP endpoint on loopback.
    let server = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let port = server.local_addr().map_err(|e| e.to_string())?.port();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in server.incoming().flatten() {
            let mut buf = [0u8; 512];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    let config = tmp.join("openclaw.toml");
    std::fs::write(
        &config,
        format!(
            "[doctor]\nhttp_health = [\"http://127.0.0.1:{port}/healthz\"]\ntracked_units = [\"openclaw-doctor.timer\"]\nlog_dir = \"{}\"\n",
            tmp.join("logs").display()
        ),
    )
    .map_err(|e| e.to_string())?;
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let command = |extra: &[&str]| {
        let mut c = Command::new(doctor);
        c.args(["--format", "json", "--no-artifacts"])
            .args(extra)
            .env("PATH", &path)
            .env("OPENCLAW_CONFIG", &config)
            .env("OPENCLAW_SECRETS_DIR", tmp.join("secrets"))
            .env("OPENCLAW_ARTIFACTS_ROOT", tmp.join("artifacts"))
            .env("OPENCLAW_AUDIT_LOG", tmp.join("audit.jsonl"));
        c
    };
    let full = time_runs(RUNS, || command(&[]))?;
    eprintln!("bench full run: all checks with inputs present, median {} over {RUNS} runs (goal ≤ 150 ms)", ms(full));
    stub("tailscale", "sleep 60")?;
    let mut hung = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        command(&[]).stdout(Stdio::null()).stderr(Stdio::null()).status().map_err(|e| e.to_string())?;
        hung.push(started.elapsed());
    }
    eprintln!(
        "bench hung tailscale: run ended after {} (median of 3; check timeout 3000 ms, budget 10000 ms)",
        ms(median(hung))
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// `cargo xtask bench keyctl`: whole-process time of `openclaw-keyctl status`
/// with two keys stored as files and two missing (the common case), median
/// of 51 runs against the named baseline `/bin/true` (process start alone).
pub(crate) fn keyctl(root: &Path) -> Result<(), String> {
    let status =
        Command::new("cargo").current_dir(root).args(["build", "--release", "--locked", "-p", "keyctl"]).status();
    if !status.is_ok_and(|s| s.success()) {
        return Err("cargo build --release -p keyctl failed".into());
    }
    let keyctl = root.join("target/release/openclaw-keyctl");
    let tmp = std::env::temp_dir().join(format!("oc-bench-keyctl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    std::fs::write(tmp.join("openclaw.toml"), "").map_err(|e| e.to_string())?;
    let command = |args: &[&str]| {
        let mut c = Command::new(&keyctl);
        c.args(args)
            .env("OPENCLAW_CONFIG", tmp.join("openclaw.toml"))
            .env("OPENCLAW_SECRETS_DIR", tmp.join("secrets"))
            .env("OPENCLAW_STATE_DIR", tmp.join("state"))
            .env("OPENCLAW_AUDIT_LOG", tmp.join("audit.jsonl"));
        c
    };
    for (name, value) in [
        ("OPENAI_API_KEY", "sk-bench-0000000000000000000000"),
        ("PUSHOVER_APP_TOKEN", "azGDORePK8gMaC0QOYAMyEEuzJnyUi"),
    ] {
        let mut c = command(&["set", name]);
        let mut child = c.stdin(Stdio::piped()).stdout(Stdio::null()).spawn().map_err(|e| e.to_string())?;
        std::io::Write::write_all(child.stdin.as_mut().ok_or("stdin")?, value.as_bytes()).map_err(|e| e.to_string())?;
        drop(child.stdin.take());
        if !child.wait().map_err(|e| e.to_string())?.success() {
            return Err(format!("keyctl set {name} failed"));
        }
    }
    let status_ms = time_runs(51, || command(&["status"]))?;
    let true_ms = time_runs(51, || Command::new("/bin/true"))?;
    eprintln!(
        "bench keyctl: `openclaw-keyctl status` (4 keys, 2 stored) median {} over 51 runs; baseline `/bin/true` {}",
        ms(status_ms),
        ms(true_ms)
    );
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}
