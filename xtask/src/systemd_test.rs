//! `cargo xtask systemd-test`: the package, booted. Installs the just-built
//! .deb into a Debian root and boots a real systemd in it, then runs
//! ops/tests/systemd_boot_test.sh inside (every unit started, upgrade,
//! remove, purge).
//!
//! The container (`systemd_boot`) has its own PID, mount, UTS, IPC,
//! cgroup and network namespaces and its own cgroups: nothing of the host is
//! started, mounted, written or reached, and it ends with the `unshare`
//! that made it.
//!
//! The root is built once with `mmdebstrap` from the host's apt sources and
//! cached under /var/cache/openclaw-xtask/, keyed by the suite, the package
//! list and the sources file.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::dist::{self, run, stdout_of};
use crate::systemd_boot::Container;
use crate::tools;

/// The packages the root gets beyond minbase: systemd itself, what the
/// package depends on and recommends, and what the checks use (curl for the
/// console, openssh-server for the guard's "sshd untouched", git for the
/// runner's bare repository).
const INCLUDE: &[&str] = &[
    "systemd",
    "systemd-sysv",
    "dbus",
    "adduser",
    "curl",
    "git",
    "openssh-server",
    "iproute2",
    "procps",
    "logrotate",
    "ca-certificates",
    "keyutils",
];
const SUITE: &str = "bookworm";
const CACHE_DIR: &str = "/var/cache/openclaw-xtask";

/// Runs the whole step. Skips with a reason when not root or without
/// namespaces, except under `CI=true`, where that is a failure.
pub(crate) fn systemd_test(root: &Path) -> Result<(), String> {
    let started = Instant::now();
    if let Err(why) = preflight() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            return Err(format!("systemd-test cannot run under CI=true: {why}"));
        }
        eprintln!("systemd-test: SKIPPED: {why}");
        return Ok(());
    }
    tools::ensure(&[tools::MMDEBSTRAP])?;
    let dist_started = Instant::now();
    let built = dist::dist(root)?;
    eprintln!("systemd-test: package built in {:.1}s", dist_started.elapsed().as_secs_f64());
    // One run at a time: a second would remove this one's cgroups and root.
    let _one = one_run_at_a_time()?;
    let work = root.join("target/systemd-test");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    }
    // The unpacked root holds setuid binaries: nobody else may reach them.
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    std::fs::set_permissions(&work, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", work.display()))?;
    let assets = work.join("assets");
    std::fs::create_dir_all(&assets).map_err(|e| format!("{}: {e}", assets.display()))?;
    let next = bumped(&built.deb, &assets)?;
    let tarball = root_tarball()?;
    let rootfs = work.join("root");
    std::fs::create_dir_all(&rootfs).map_err(|e| format!("{}: {e}", rootfs.display()))?;
    let unpack = Instant::now();
    run(Command::new("tar").args(["-x", "-p", "--numeric-owner", "-f"]).arg(&tarball).arg("-C").arg(&rootfs))?;
    eprintln!("systemd-test: root unpacked in {:.1}s", unpack.elapsed().as_secs_f64());
    let inside = rootfs.join("srv/openclaw-test");
    std::fs::create_dir_all(&inside).map_err(|e| format!("{}: {e}", inside.display()))?;
    for (from, name) in [
        (built.deb.clone(), "openclaw_N.deb".to_owned()),
        (next, "openclaw_N1.deb".to_owned()),
        (root.join("ops/tests/systemd_boot_test.sh"), "systemd_boot_test.sh".to_owned()),
        (root.join("ops/tests/lib.sh"), "lib.sh".to_owned()),
    ] {
        std::fs::copy(&from, inside.join(&name)).map_err(|e| format!("{}: {e}", from.display()))?;
    }
    let keep = std::env::var("OPENCLAW_SYSTEMD_TEST_KEEP").is_ok_and(|v| v == "1")
        && !std::env::var("CI").is_ok_and(|v| v == "true");
    // The container ends when `c` is dropped, on every path out of here.
    let result = Container::boot(&rootfs, &work.join("console.log")).and_then(|c| {
        let res = c.wait_booted().and_then(|()| c.run_checks());
        if keep {
            eprintln!("systemd-test: checks: {res:?}");
            c.keep();
        }
        res
    });
    if result.is_err() {
        let log = work.join("console.log");
        if let Ok(text) = std::fs::read_to_string(&log) {
            let tail: Vec<&str> = text.lines().rev().take(40).collect();
            eprintln!("systemd-test: last lines of {}:", log.display());
            for l in tail.iter().rev() {
                eprintln!("  {l}");
            }
        }
    }
    // The namespace is gone with its PID 1, and with it every mount: the
    // tree is plain files again.
    let _ = std::fs::remove_dir_all(&rootfs);
    eprintln!("systemd-test: {:.1}s in all", started.elapsed().as_secs_f64());
    result
}

/// Root, and namespaces that can be made.
fn preflight() -> Result<(), String> {
    if stdout_of(Command::new("id").arg("-u"))? != "0" {
        return Err("needs root (it makes namespaces, mounts and boots a systemd)".into());
    }
    for tool in ["unshare", "nsenter", "pivot_root", "setpriv", "dpkg-deb"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool} || test -x /usr/sbin/{tool} || test -x /sbin/{tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Err(format!("`{tool}` is missing (util-linux, dpkg)"));
        }
    }
    let ns = Command::new("unshare")
        .args(["--pid", "--fork", "--mount", "--uts", "--ipc", "--cgroup", "--net", "--propagation", "private", "true"])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !ns.status.success() {
        return Err(format!("namespaces are unavailable: {}", String::from_utf8_lossy(&ns.stderr).trim()));
    }
    Ok(())
}

/// An exclusive lock on `<cache>/systemd-test.lock` for the whole run
/// (released when this process ends, however it ends).
fn one_run_at_a_time() -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    trusted_cache()?;
    let path = Path::new(CACHE_DIR).join("systemd-test.lock");
    // The cache directory is root's and writable by no one else (checked
    // above), so nobody else can have put a link here.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => {
            Err(format!("another systemd-test is running (it holds {})", path.display()))
        }
        Err(std::fs::TryLockError::Error(e)) => Err(format!("{}: {e}", path.display())),
    }
}

/// The cached root tarball, built when missing.
fn root_tarball() -> Result<PathBuf, String> {
    let sources = Path::new("/etc/apt/sources.list.d/debian.sources");
    let sources = if sources.exists() { sources.to_path_buf() } else { PathBuf::from("/etc/apt/sources.list") };
    let sources_text = std::fs::read(&sources).map_err(|e| format!("{}: {e}", sources.display()))?;
    let key = {
        let mut material = format!("{SUITE}\n{}\n", INCLUDE.join(",")).into_bytes();
        material.extend_from_slice(&sources_text);
        let mut child = Command::new("sha256sum")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run sha256sum: {e}"))?;
        use std::io::Write;
        child.stdin.take().ok_or("no stdin")?.write_all(&material).map_err(|e| e.to_string())?;
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        String::from_utf8_lossy(&out.stdout).chars().take(16).collect::<String>()
    };
    trusted_cache()?;
    let tarball = Path::new(CACHE_DIR).join(format!("root-{SUITE}-{key}.tar"));
    if tarball.exists() {
        trusted(&tarball, false)?;
        eprintln!("systemd-test: reusing the root {}", tarball.display());
        return Ok(tarball);
    }
    // mmdebstrap picks the format from the name: it must end in `.tar`.
    let partial = Path::new(CACHE_DIR).join(format!("partial-{SUITE}-{key}.tar"));
    let built = Instant::now();
    eprintln!("systemd-test: building the root with mmdebstrap (cached as {})", tarball.display());
    run(Command::new("mmdebstrap")
        .args(["--variant=minbase", "--quiet", &format!("--include={}", INCLUDE.join(",")), SUITE])
        .arg(&partial)
        .arg(&sources))?;
    std::fs::rename(&partial, &tarball).map_err(|e| format!("{}: {e}", tarball.display()))?;
    eprintln!("systemd-test: root built in {:.1}s", built.elapsed().as_secs_f64());
    Ok(tarball)
}

/// The cache directory, made 0755 root when missing; an existing one must be
/// root's and writable by no one else, since the root booted from it runs
/// as real root on this host.
fn trusted_cache() -> Result<(), String> {
    let dir = Path::new(CACHE_DIR);
    if std::fs::symlink_metadata(dir).is_err() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{CACHE_DIR}: {e}"))?;
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| format!("{CACHE_DIR}: {e}"))?;
    }
    trusted(dir, true)
}

/// `path` is root's, of the expected kind (not a link), and writable by no
/// one else.
fn trusted(path: &Path, dir: bool) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let kind_ok = if dir { m.file_type().is_dir() } else { m.file_type().is_file() };
    if !kind_ok || m.uid() != 0 || m.mode() & 0o022 != 0 {
        return Err(format!(
            "{} must be a {} owned by root and writable by no one else; remove it",
            path.display(),
            if dir { "directory" } else { "regular file" }
        ));
    }
    Ok(())
}

/// The same package with its version bumped (`<v>+systemdtest1`): what an
/// upgrade to N+1 installs.
fn bumped(deb: &Path, dir: &Path) -> Result<PathBuf, String> {
    let tree = dir.join("n1");
    run(Command::new("dpkg-deb").arg("-R").arg(deb).arg(&tree))?;
    let control = tree.join("DEBIAN/control");
    let text = std::fs::read_to_string(&control).map_err(|e| format!("{}: {e}", control.display()))?;
    let bumped: String = text
        .lines()
        .map(|l| match l.strip_prefix("Version: ") {
            Some(v) => format!("Version: {v}+systemdtest1\n"),
            None => format!("{l}\n"),
        })
        .collect();
    std::fs::write(&control, bumped).map_err(|e| format!("{}: {e}", control.display()))?;
    let out = dir.join("openclaw_N1.deb");
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-Zxz", "--build"])
        .arg(&tree)
        .arg(&out)
        .stdout(Stdio::null()))?;
    Ok(out)
}
