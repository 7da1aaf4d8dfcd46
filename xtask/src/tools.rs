//! The system tools the test suite needs, and how to get them.
//!
//! As root on Debian a missing tool is installed with apt-get (the command
//! is printed first); anywhere else we stop and print the command to run.

use std::process::{Command, Stdio};

/// A program the suite runs, and the Debian package that provides it.
pub(crate) struct Tool {
    pub(crate) program: &'static str,
    pub(crate) package: &'static str,
    pub(crate) why: &'static str,
}

/// Builds the Debian root that `xtask systemd-test` boots.
pub(crate) const MMDEBSTRAP: Tool =
    Tool { program: "mmdebstrap", package: "mmdebstrap", why: "`xtask systemd-test` builds the Debian root it boots" };

/// Everything `cargo xtask ci` needs beyond the Rust toolchain.
pub(crate) const REQUIRED: &[Tool] = &[
    Tool { program: "git", package: "git", why: "tests build real git repositories" },
    Tool {
        program: "python3",
        package: "python3",
        why: "docs/verify_audit.py is the independent audit-log verifier; netns socket binder",
    },
    Tool { program: "ip", package: "iproute2", why: "doctor's listener tests create network namespaces" },
    Tool {
        program: "sshd",
        package: "openssh-server",
        why: "the doctor's sshd check is tested against the real sshd -T",
    },
    Tool { program: "ssh-keygen", package: "openssh-client", why: "sshd tests make a throwaway host key" },
    Tool {
        program: "bwrap",
        package: "bubblewrap",
        why: "the review gate runs its codex engine in a bubblewrap sandbox",
    },
    Tool {
        program: "nft",
        package: "nftables",
        why: "doctor's firewall tests load real rulesets into network namespaces",
    },
    Tool { program: "iptables", package: "iptables", why: "doctor's firewall tests add iptables-nft and legacy rules" },
    Tool { program: "ufw", package: "ufw", why: "doctor's firewall tests run a real ufw in a namespace" },
    Tool { program: "setpriv", package: "util-linux", why: "tests drop to uid 65534 to prove non-root behaviour" },
    Tool {
        program: "keyctl",
        package: "keyutils",
        why: "the runner starts every job in a fresh session keyring (keyctl session)",
    },
    Tool { program: "shellcheck", package: "shellcheck", why: "ops/ scripts must be shellcheck-clean" },
    Tool {
        program: "logrotate",
        package: "logrotate",
        why: "the guard's logrotate snippet is checked with logrotate -d",
    },
    Tool { program: "chromium", package: "chromium", why: "the console page is tested in a real headless browser" },
    Tool {
        program: "chromedriver",
        package: "chromium-driver",
        why: "the browser tests drive chromium over WebDriver",
    },
    Tool {
        program: "promtool",
        package: "prometheus",
        why: "the Prometheus alert rules are unit-tested and the doctor's metrics linted with promtool",
    },
    Tool {
        program: "dpkg-shlibdeps",
        package: "dpkg-dev",
        why: "`xtask dist` computes the package's shared-library Depends with dpkg-shlibdeps",
    },
    Tool {
        program: "lintian",
        package: "lintian",
        why: "the .deb that `xtask dist` builds must have no lintian errors",
    },
    Tool { program: "man", package: "man-db", why: "the install test finds every installed man page with man -w" },
    MMDEBSTRAP,
    Tool {
        program: "systemd-analyze",
        package: "systemd",
        why: "unit files are verified and their exposure scored offline",
    },
];

fn on_path(program: &str) -> bool {
    Command::new("sh")
        // sbin is not on every user's PATH (sshd lives in /usr/sbin).
        .args(["-c", &format!("command -v {program} || test -x /usr/sbin/{program} || test -x /sbin/{program}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Makes sure every tool is present, installing with apt-get when allowed.
pub(crate) fn ensure(tools: &[Tool]) -> Result<(), String> {
    let missing: Vec<&Tool> = tools.iter().filter(|t| !on_path(t.program)).collect();
    let nextest_ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["nextest", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if missing.is_empty() && nextest_ok {
        return Ok(());
    }
    let is_root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let debian = std::path::Path::new("/etc/debian_version").exists();
    if !missing.is_empty() {
        let mut packages: Vec<&str> = missing.iter().map(|t| t.package).collect();
        packages.dedup();
        let line = format!("apt-get install -y --no-install-recommends {}", packages.join(" "));
        for t in &missing {
            eprintln!("xtask: missing `{}` ({}), from Debian package {}", t.program, t.why, t.package);
        }
        if !(is_root && debian) {
            return Err(format!("install the missing tools first:\n  sudo apt-get update && sudo {line}"));
        }
        run_logged("apt-get update", &["apt-get", "update"])?;
        let mut argv = vec!["apt-get", "install", "-y", "--no-install-recommends"];
        argv.extend(&packages);
        run_logged(&line, &argv)?;
    }
    if !nextest_ok {
        let line = "cargo install cargo-nextest --locked";
        eprintln!("xtask: cargo-nextest is missing");
        run_logged(line, &["cargo", "install", "cargo-nextest", "--locked"])?;
    }
    Ok(())
}

fn run_logged(line: &str, argv: &[&str]) -> Result<(), String> {
    eprintln!("xtask: running: {line}");
    let status = Command::new(argv[0])
        .args(&argv[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("cannot run {}: {e}", argv[0]))?;
    if status.success() { Ok(()) } else { Err(format!("`{line}` failed with {status}")) }
}
