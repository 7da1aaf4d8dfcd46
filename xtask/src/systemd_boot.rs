//! The container `xtask systemd-test` boots: a Debian root under its own
//! systemd as PID 1, made without a host systemd (none runs here).
//!
//! - A cgroup of its own in every hierarchy, a child of this process's
//!   cgroup (so the CI job's limits still apply), entered before a cgroup
//!   namespace is made: inside, fresh cgroup mounts show only that subtree,
//!   and the container's slices and scopes can never land in the host's.
//! - New PID, mount, UTS, IPC, cgroup and network (loopback only)
//!   namespaces (`unshare --kill-child`, itself killed when xtask dies by
//!   `setpriv --pdeathsig`), and a bounding set without the capabilities a
//!   container must not use on the host's kernel (modules, raw I/O, clock,
//!   kernel log).
//! - `proc` with `/proc/sys` read-only but `/proc/sys/net` (its own
//!   namespace's) and `/proc/sysrq-trigger` read-only, so the container's
//!   `systemd-sysctl` never writes a kernel-wide setting; read-only sysfs; a
//!   private `/dev` (a few device nodes and its own devpts: never the host's
//!   console); tmpfs on `/run` and `/tmp`.
//! - `pivot_root` (not chroot: the kernel refuses user namespaces to a
//!   chrooted process, and `PrivateUsers=` fails with 217/USER), then
//!   `mount --make-rshared /` (without it `LoadCredential=` leaves an empty
//!   credentials directory), then systemd with `container=other`.
//!
//! It ends when `unshare`, our own child (its pid cannot be reused before we
//! reap it), is killed: `--kill-child` takes the container's PID 1 and so
//! the whole PID namespace with it. Its cgroups are then removed.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Boot and every check together; each wait inside has its own timeout too.
const CHECKS_TIMEOUT: Duration = Duration::from_secs(20 * 60);
const BOOT_TIMEOUT_SECS: u64 = 120;
/// The cgroup made for the container in each hierarchy.
const CGROUP_NAME: &str = "openclaw-systemd-test";
/// Capabilities the container's processes never get.
/// (`sys_boot`: no kexec; `dac_read_search`: no `open_by_handle_at` into
/// the host's filesystems.) What stays (`sys_admin`, `mknod`) systemd needs
/// for its sandboxes: this isolation guards the host against accidents of
/// the code under test, which CI runs as root anyway, not against a hostile
/// one.
const DROPPED_CAPS: &str = "-sys_module,-sys_rawio,-sys_time,-syslog,-wake_alarm,-mac_admin,-mac_override,-block_suspend,-sys_boot,-dac_read_search";
/// Under `CGROUP_NAME` in each hierarchy: the container's own cgroup (its
/// systemd's root, which it manages and prunes) and, beside it, the cgroup
/// of every process `nsenter` starts in it.
const CONTAINER_CGROUP: &str = "ct";
const ENTER_CGROUP: &str = "enter";

/// Moves itself into the container's `xtask-enter` cgroups, then enters:
/// `sh -c ENTER enter N CGDIR… nsenter …`.
const ENTER: &str = r#"
set -eu
n=$1; shift
while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs"; shift; n=$((n - 1)); done
exec "$@"
"#;

/// Moves itself into the container's cgroups, then makes the namespaces.
/// `sh -c LAUNCH launch ROOT N CGDIR… MOUNT…`.
const LAUNCH: &str = r#"
set -eu
root=$1; n=$2; shift 2
while [ "$n" -gt 0 ]; do echo $$ > "$1/cgroup.procs"; shift; n=$((n - 1)); done
exec setpriv --pdeathsig=KILL -- unshare --pid --fork --kill-child --mount --uts --ipc --cgroup --net \
    --propagation private -- setpriv --bounding-set="$OPENCLAW_DROP_CAPS" -- \
    sh -c "$OPENCLAW_BOOT" boot "$root" "$@"
"#;

/// Boots the root: `sh -c BOOT boot ROOT MOUNT…`, each MOUNT
/// `cgroup|cgroup2:OPTIONS:DIR` for a fresh cgroup mount under
/// /sys/fs/cgroup.
const BOOT: &str = r#"
set -eu
r=$1; shift
mount --bind "$r" "$r"
mount -t proc proc "$r/proc"
mount --bind "$r/proc/sys" "$r/proc/sys"
mount --bind "$r/proc/sys/net" "$r/proc/sys/net"
mount -o remount,bind,ro "$r/proc/sys"
if [ -e "$r/proc/sysrq-trigger" ]; then
    mount --bind "$r/proc/sysrq-trigger" "$r/proc/sysrq-trigger"
    mount -o remount,bind,ro "$r/proc/sysrq-trigger"
fi
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$r/sys"
mount -t tmpfs -o mode=0755,nosuid,nodev,noexec cgroup "$r/sys/fs/cgroup"
for m in "$@"; do
    type=${m%%:*}; rest=${m#*:}; opts=${rest%%:*}; dir=${rest#*:}
    mkdir -p "$r/sys/fs/cgroup/$dir"
    if [ "$type" = cgroup2 ]; then
        mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$r/sys/fs/cgroup/$dir"
    else
        mount -t cgroup -o "nosuid,nodev,noexec,$opts" cgroup "$r/sys/fs/cgroup/$dir"
    fi
done
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

/// One cgroup hierarchy mounted under /sys/fs/cgroup.
struct Hierarchy {
    /// `cgroup` or `cgroup2`.
    kind: String,
    /// The v1 mount options naming it (`cpu`, `name=systemd`); empty for v2.
    options: String,
    /// Its directory under /sys/fs/cgroup (`cpu`, `unified`, or `` for a pure v2 host).
    dir: String,
    /// The container's cgroup in it.
    ours: PathBuf,
}

/// The host's cgroup hierarchies, with the container's cgroup in each, a
/// child of this process's own.
fn hierarchies() -> Result<Vec<Hierarchy>, String> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| format!("mountinfo: {e}"))?;
    let own = std::fs::read_to_string("/proc/self/cgroup").map_err(|e| format!("/proc/self/cgroup: {e}"))?;
    let mut found = Vec::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else { continue };
        let mountpoint = left.split(' ').nth(4).unwrap_or_default();
        let mut r = right.split(' ');
        let (kind, super_opts) = (r.next().unwrap_or_default(), r.nth(1).unwrap_or_default());
        let Some(dir) = mountpoint.strip_prefix("/sys/fs/cgroup").map(|d| d.trim_start_matches('/')) else {
            continue;
        };
        let options: Vec<&str> = super_opts.split(',').filter(|o| *o != "rw" && *o != "ro").collect();
        let (wanted, options) = match kind {
            "cgroup2" => (String::new(), String::new()),
            "cgroup" => {
                let named: Vec<&str> = options
                    .iter()
                    .copied()
                    .filter(|o| {
                        o.starts_with("name=")
                            || !o.contains('=') && !["noprefix", "clone_children", "xattr"].contains(o)
                    })
                    .collect();
                (named.join(","), named.join(","))
            }
            _ => continue,
        };
        // This process's path in that hierarchy (`ID:CONTROLLERS:PATH`).
        let path = own
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, ':');
                f.next();
                f.next().zip(f.next())
            })
            .find(|(ctrl, _)| *ctrl == wanted)
            .map(|(_, p)| p.to_owned())
            .ok_or_else(|| format!("no line for `{wanted}` in /proc/self/cgroup"))?;
        let ours = Path::new(mountpoint).join(path.trim_start_matches('/')).join(CGROUP_NAME);
        found.push(Hierarchy { kind: kind.to_owned(), options, dir: dir.to_owned(), ours });
    }
    if found.is_empty() {
        return Err("no cgroup hierarchy is mounted under /sys/fs/cgroup".into());
    }
    Ok(found)
}

/// Makes the container's cgroup in each hierarchy (removing what a killed
/// run left there); a new cpuset gets its parent's CPUs and memory nodes.
fn make_cgroups(hs: &[Hierarchy]) -> Result<(), String> {
    remove_cgroups(hs);
    for h in hs {
        for dir in [h.ours.clone(), h.ours.join(CONTAINER_CGROUP), h.ours.join(ENTER_CGROUP)] {
            std::fs::create_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            copy_cpuset(h, &dir)?;
        }
    }
    Ok(())
}

/// A new v1 cpuset cgroup `dir` gets its parent's CPUs and memory nodes.
fn copy_cpuset(h: &Hierarchy, dir: &Path) -> Result<(), String> {
    if h.options.split(',').any(|o| o == "cpuset") {
        let parent = dir.parent().ok_or("cpuset has no parent")?;
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let v = std::fs::read(parent.join(f)).map_err(|e| format!("{f}: {e}"))?;
            std::fs::write(dir.join(f), v).map_err(|e| format!("{}: {e}", dir.join(f).display()))?;
        }
    }
    Ok(())
}

/// Removes the container's cgroups, deepest first; only what lies under
/// the cgroup this run made is ever touched. Waits for their processes to
/// be gone (a killed namespace takes a moment to empty).
fn remove_cgroups(hs: &[Hierarchy]) {
    let deadline = Instant::now() + Duration::from_secs(10);
    for h in hs {
        loop {
            let mut dirs = Vec::new();
            let mut stack = vec![h.ours.clone()];
            while let Some(d) = stack.pop() {
                let Ok(entries) = std::fs::read_dir(&d) else { continue };
                for e in entries.flatten() {
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        stack.push(e.path());
                    }
                }
                dirs.push(d);
            }
            dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
            let mut left = 0;
            for d in &dirs {
                if std::fs::remove_dir(d).is_err() && d.exists() {
                    left += 1;
                }
            }
            if left == 0 {
                break;
            }
            if Instant::now() > deadline {
                eprintln!("systemd-test: {left} cgroup(s) under {} could not be removed", h.ours.display());
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Every pid in the cgroup `dir` and below (systemd moves itself into
/// `init.scope` early).
fn pids_under(dir: &Path) -> Vec<String> {
    let mut pids = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        pids.extend(
            std::fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().split_whitespace().map(str::to_owned),
        );
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    pids
}

/// A booted root: `unshare` (our child) and the host pid of its PID 1.
pub(crate) struct Container {
    unshare: Child,
    pub(crate) pid1: u32,
    cgroups: Vec<Hierarchy>,
}

impl Container {
    pub(crate) fn boot(rootfs: &Path, log: &Path) -> Result<Container, String> {
        let cgroups = hierarchies()?;
        make_cgroups(&cgroups)?;
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let err_file = log_file.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", LAUNCH, "launch"]).arg(rootfs).arg(cgroups.len().to_string());
        cmd.args(cgroups.iter().map(|h| h.ours.join(CONTAINER_CGROUP)));
        cmd.args(cgroups.iter().map(|h| format!("{}:{}:{}", h.kind, h.options, h.dir)));
        let spawned = cmd
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .env("OPENCLAW_BOOT", BOOT)
            .env("OPENCLAW_DROP_CAPS", DROPPED_CAPS)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err_file)
            .spawn();
        let unshare = match spawned {
            Ok(c) => c,
            Err(e) => {
                remove_cgroups(&cgroups);
                return Err(format!("cannot start the container: {e}"));
            }
        };
        // From here on, Drop ends the container whatever happens.
        let mut c = Container { unshare, pid1: 0, cgroups };
        c.pid1 = c.find_pid1()?;
        eprintln!("systemd-test: container PID 1 is host pid {}", c.pid1);
        Ok(c)
    }

    /// The namespace's PID 1, once it is systemd: until the boot script
    /// execs it, PID 1 is a shell still in the host's root, and entering it
    /// then would reach the host.
    fn find_pid1(&mut self) -> Result<u32, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let tree = self.cgroups.first().map(|h| h.ours.clone()).ok_or("no cgroup to find PID 1 in")?;
        loop {
            for pid in pids_under(&tree) {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                // NSpid: <host pid> <pid in the namespace>: we want the one that is 1 inside.
                let inner = status.lines().find_map(|l| l.strip_prefix("NSpid:")).map(|v| v.split_whitespace().last());
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if inner == Some(Some("1")) && comm.trim() == "systemd" {
                    return pid.parse().map_err(|e| format!("pid `{pid}`: {e}"));
                }
            }
            if Instant::now() > deadline || self.unshare.try_wait().is_ok_and(|s| s.is_some()) {
                return Err("the container's systemd never started (see console.log)".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nsenter` into every namespace of the container, in its cgroups, with
    /// the container's bounding set and a clean environment.
    fn enter(&self) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", ENTER, "enter"]).arg(self.cgroups.len().to_string());
        cmd.args(self.cgroups.iter().map(|h| h.ours.join(ENTER_CGROUP)));
        cmd.args(["nsenter", "-t", &self.pid1.to_string(), "-a", "-r", "-w", "--"]);
        cmd.args(["setpriv", &format!("--bounding-set={DROPPED_CAPS}"), "--"]).args([
            "/usr/bin/env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG=C.UTF-8",
            "TERM=dumb",
        ]);
        cmd
    }

    pub(crate) fn wait_booted(&self) -> Result<(), String> {
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

    /// Runs ops/tests/systemd_boot_test.sh (copied in as /srv/openclaw-test)
    /// inside, its output streamed to stderr.
    pub(crate) fn run_checks(&self) -> Result<(), String> {
        let started = Instant::now();
        let mut child = self
            .enter()
            .args(["bash", "/srv/openclaw-test/systemd_boot_test.sh"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run nsenter: {e}"))?;
        let mut out = child.stdout.take().ok_or("no stdout")?;
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = out.read(&mut buf) {
                if n == 0 {
                    break;
                }
                eprint!("{}", String::from_utf8_lossy(&buf[..n]));
            }
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
        eprintln!("systemd-test: checks ran in {:.1}s", started.elapsed().as_secs_f64());
        if status.success() { Ok(()) } else { Err(format!("the checks inside the container failed ({status})")) }
    }

    /// Leaves the container running (`OPENCLAW_SYSTEMD_TEST_KEEP=1`, for a
    /// look inside; never under CI): xtask exits without killing it, and
    /// `unshare`'s parent-death signal is what would end it, so this waits
    /// for the operator instead.
    pub(crate) fn keep(self) -> ! {
        eprintln!("systemd-test: kept running: nsenter -t {} -a -r -w bash; Ctrl-C here ends it", self.pid1);
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

impl Drop for Container {
    /// SIGKILL to `unshare` (our unreaped child, so its pid is still its
    /// own): `--kill-child` ends the container's PID 1, and the kernel every
    /// other process of its namespace. Then its cgroups go.
    fn drop(&mut self) {
        let _ = self.unshare.kill();
        let _ = self.unshare.wait();
        remove_cgroups(&self.cgroups);
    }
}
