//! `cargo xtask systemd-test`: the package, booted. Installs the just-built
//! .deb into a Debian root and boots a real systemd in it, then runs
//! ops/tests/systemd_boot_test.sh inside (every unit started, upgrade,
//! remove, purge).
//!
//! The container, as systemd-nspawn would make it but without a host
//! systemd (none runs here): new PID, mount, UTS, IPC and network
//! namespaces (`unshare`), `proc`, a read-only `sysfs`, the host's cgroup
//! tree, a private `/dev` (a few device nodes and its own devpts: never the
//! host's console), tmpfs on `/run` and `/tmp`; `pivot_root` (not chroot:
//! the kernel refuses user namespaces to a chrooted process, and
//! `PrivateUsers=` fails with 217/USER), `mount --make-rshared /` (without it
//! `LoadCredential=` leaves an empty credentials directory), then
//! `/lib/systemd/systemd --system` with `container=other`. Every mount lives
//! in the private mount namespace; the network namespace has loopback only;
//! no host unit is touched. The container ends when its PID 1 is killed by
//! pid from here.
//!
//! The root is built once with `mmdebstrap` from the host's apt sources and
//! cached under /var/cache/openclaw-xtask/, keyed by the suite, the package
//! list and the sources file.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::dist::{self, run, stdout_of};
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
];
const SUITE: &str = "bookworm";
const CACHE_DIR: &str = "/var/cache/openclaw-xtask";
/// Boot and every check together; each wait inside has its own timeout too.
const CHECKS_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const BOOT_TIMEOUT_SECS: u64 = 120;

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
    let built = dist::dist(root)?;
    let work = root.join("target/systemd-test");
    if work.exists() {
        std::fs::remove_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    }
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
    let keep = std::env::var("OPENCLAW_SYSTEMD_TEST_KEEP").is_ok_and(|v| v == "1");
    let result = Container::boot(&rootfs, &work.join("console.log")).and_then(|c| {
        let res = c.wait_booted().and_then(|()| c.run_checks());
        if keep {
            // For a look inside after a failure; never under CI.
            eprintln!(
                "systemd-test: kept running: nsenter -t {} -a -r -w bash; end it with kill -KILL {}",
                c.pid1, c.pid1
            );
            std::mem::forget(c);
            return res;
        }
        c.kill();
        res
    });
    if keep {
        return result;
    }
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
    for tool in ["unshare", "nsenter", "pivot_root", "dpkg-deb"] {
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
        .args(["--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "--propagation", "private", "true"])
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if !ns.status.success() {
        return Err(format!("namespaces are unavailable: {}", String::from_utf8_lossy(&ns.stderr).trim()));
    }
    Ok(())
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
    let tarball = Path::new(CACHE_DIR).join(format!("root-{SUITE}-{key}.tar"));
    if tarball.exists() {
        eprintln!("systemd-test: reusing the root {}", tarball.display());
        return Ok(tarball);
    }
    std::fs::create_dir_all(CACHE_DIR).map_err(|e| format!("{CACHE_DIR}: {e}"))?;
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

/// What boots the root: runs as `sh -s ROOT` inside the new namespaces.
const BOOT: &str = r#"
set -eu
r=$1
mount --bind "$r" "$r"
mount -t proc proc "$r/proc"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
mount --rbind /sys/fs/cgroup "$r/sys/fs/cgroup"
mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$r/run"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$r/tmp"
mount -t tmpfs -o mode=0755,nosuid dev "$r/dev"
for n in null zero full random urandom tty; do
    : > "$r/dev/$n"
    mount --bind "/dev/$n" "$r/dev/$n"
done
mkdir -p "$r/dev/pts" "$r/dev/shm" "$r/dev/mqueue"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$r/dev/pts"
ln -s pts/ptmx "$r/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$r/dev/shm"
mount -t mqueue mqueue "$r/dev/mqueue"
ln -s /proc/self/fd "$r/dev/fd"
ln -s /proc/self/fd/0 "$r/dev/stdin"
ln -s /proc/self/fd/1 "$r/dev/stdout"
ln -s /proc/self/fd/2 "$r/dev/stderr"
cd "$r"
mkdir -p .oldroot
pivot_root . .oldroot
umount -l /.oldroot
rmdir /.oldroot
mount --make-rshared /
exec /usr/bin/env -i container=other PATH=/usr/sbin:/usr/bin:/sbin:/bin /lib/systemd/systemd --system
"#;

/// A booted root: the `unshare` process and the host pid of its PID 1.
struct Container {
    unshare: Child,
    pid1: u32,
}

impl Container {
    fn boot(rootfs: &Path, log: &Path) -> Result<Container, String> {
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
        let mut unshare = Command::new("unshare")
            .args(["--pid", "--fork", "--mount", "--uts", "--ipc", "--net", "--propagation", "private", "--"])
            .args(["sh", "-c", BOOT, "boot"])
            .arg(rootfs)
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn()
            .map_err(|e| format!("cannot run unshare: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(10);
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        loop {
            let text = std::fs::read_to_string(&children).unwrap_or_default();
            // Until the boot script execs systemd, PID 1 is a shell still in
            // the host's root: entering it then would reach the host.
            let pid = text.split_whitespace().next().and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid
                && std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == "systemd")
            {
                eprintln!("systemd-test: container PID 1 is host pid {pid}");
                return Ok(Container { unshare, pid1: pid });
            }
            if Instant::now() > deadline || unshare.try_wait().is_ok_and(|s| s.is_some()) {
                let _ = unshare.kill();
                return Err("the container's PID 1 never appeared (see console.log)".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nsenter` into every namespace of the container, with a clean environment.
    fn enter(&self) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.args(["-t", &self.pid1.to_string(), "-a", "-r", "-w", "--"]).args([
            "/usr/bin/env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
            "TERM=dumb",
        ]);
        cmd
    }

    fn wait_booted(&self) -> Result<(), String> {
        let t = Instant::now();
        // Nothing, or `offline`: systemd's socket is not there yet; ask again.
        let state = loop {
            let out = self
                .enter()
                .args(["timeout", &BOOT_TIMEOUT_SECS.to_string(), "systemctl", "is-system-running", "--wait"])
                .output()
                .map_err(|e| format!("cannot run nsenter: {e}"))?;
            let state = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            if !state.is_empty() && state != "offline" {
                break state;
            }
            if t.elapsed() > Duration::from_secs(BOOT_TIMEOUT_SECS) {
                let why = String::from_utf8_lossy(&out.stderr);
                return Err(format!("systemd did not answer within {BOOT_TIMEOUT_SECS}s: {state} {}", why.trim()));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        eprintln!("systemd-test: booted in {:.1}s, system state `{state}`", t.elapsed().as_secs_f64());
        if state == "running" {
            return Ok(());
        }
        let failed = self.enter().args(["systemctl", "--failed", "--no-pager"]).output().map_err(|e| e.to_string())?;
        Err(format!(
            "the container did not reach `running` (state `{state}`):\n{}",
            String::from_utf8_lossy(&failed.stdout)
        ))
    }

    fn run_checks(&self) -> Result<(), String> {
        let mut child = self
            .enter()
            .args(["bash", "/srv/openclaw-test/systemd_boot_test.sh"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run nsenter: {e}"))?;
        let mut out = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                eprint!("{}", String::from_utf8_lossy(&buf[..n]));
                all.extend_from_slice(&buf[..n]);
            }
            all
        });
        let deadline = Instant::now() + CHECKS_TIMEOUT;
        let status = loop {
            if let Some(s) = child.try_wait().map_err(|e| e.to_string())? {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return Err(format!("the checks did not finish within {}s", CHECKS_TIMEOUT.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(200));
        };
        let _ = reader.join();
        if status.success() { Ok(()) } else { Err(format!("the checks inside the container failed ({status})")) }
    }

    /// SIGKILL to the container's PID 1 (by pid): the kernel ends every
    /// process of the namespace with it, and the mounts go with the last one.
    fn kill(mut self) {
        // While `unshare` has not exited, its child (our PID 1) is not reaped,
        // so the pid still names it.
        if self.unshare.try_wait().is_ok_and(|s| s.is_none()) {
            let _ = Command::new("kill").args(["-KILL", &self.pid1.to_string()]).status();
        }
        let _ = self.unshare.wait();
    }
}
