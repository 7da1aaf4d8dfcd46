//! The fourth outside review: attacks on the third review's fixes (the uid
//! lease in systemd's registry, the 0710 job directory, removal that moves
//! deep directories up, the init's own session). Each test leases from a
//! range of one uid of its own (70300-70399), so tests never collide.
//! (One test adds a line to /etc/subuid for its life.)
//! Tests named `*_holds` document a defence that held.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Lab, lease_held, need_root, processes_of, read};

fn lock_file(uid: u32) -> PathBuf {
    Path::new(runner::identity::REGISTRY).join(uid.to_string())
}

// ---------------------------------------------------------------------------
// 1. A uid the host's user database names is leased anyway: the runner reads
//    /etc/passwd and /etc/group only, while getpwuid() (nsswitch `files
//    systemd`, and LDAP/SSSD where configured) names more users. systemd's
//    own pick_uid() skips a uid getpwuid()/getgrgid() know; the runner
//    shares systemd's registry but not that check. A user whose record lives
//    in /run/userdb (or LDAP) who logs in during the run shares the job's
//    uid: signal, ptrace, /proc/<pid>/root into its HOME and ARTIFACT_DIR.
// ---------------------------------------------------------------------------

/// A userdb drop-in record (read by nss-systemd) for `uid`, removed on drop.
struct UserdbUser {
    files: Vec<PathBuf>,
    made_dir: bool,
}

impl UserdbUser {
    fn new(name: &str, uid: u32) -> UserdbUser {
        let dir = Path::new("/run/userdb");
        let made_dir = !dir.exists();
        std::fs::create_dir_all(dir).unwrap();
        let user = dir.join(format!("{name}.user"));
        std::fs::write(
            &user,
            format!(
                "{{\"userName\":\"{name}\",\"uid\":{uid},\"gid\":{uid},\"disposition\":\"regular\",\"homeDirectory\":\"/nonexistent\",\"shell\":\"/usr/sbin/nologin\"}}\n"
            ),
        )
        .unwrap();
        std::fs::set_permissions(&user, std::fs::Permissions::from_mode(0o644)).unwrap();
        let link = dir.join(format!("{uid}.user"));
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(format!("{name}.user"), &link).unwrap();
        UserdbUser { files: vec![link, user], made_dir }
    }
}

impl Drop for UserdbUser {
    fn drop(&mut self) {
        for f in &self.files {
            let _ = std::fs::remove_file(f);
        }
        if self.made_dir {
            let _ = std::fs::remove_dir("/run/userdb");
        }
    }
}

#[test]
fn a_uid_the_user_database_names_is_never_leased() {
    if !need_root() {
        return;
    }
    let uid = 70305;
    let _user = UserdbUser::new("oc-attack2-user", uid);
    let getent = Command::new("/usr/bin/getent").args(["passwd", &uid.to_string()]).output().unwrap();
    let named = String::from_utf8_lossy(&getent.stdout).into_owned();
    if !named.starts_with("oc-attack2-user:") {
        test_support::skip("nss-systemd does not read /run/userdb on this host");
        return;
    }
    let mut lab = Lab::new();
    lab.uid_range(uid);
    lab.job("who", "id -u > \"$ARTIFACT_DIR/uid\"\nexit 0", "requires_repo = false\n");
    lab.write_config();
    let run = test_support::run(&mut lab.command(&["run", "--job", "who", "--format", "json"]));
    let v = run.json();
    assert_eq!(
        v["run_as"]["uid"],
        serde_json::Value::Null,
        "uid {uid} is a user of this host (`getent passwd {uid}`: {}), yet a job ran as it: {v}",
        named.trim()
    );
    assert_eq!(run.code, 2, "{}\n{}", run.stdout, run.stderr);
    assert!(v["reason"].as_str().unwrap_or("").contains("no free uid"), "{v}");
}

// ---------------------------------------------------------------------------
// 2. The registry the runner makes when missing is not 0755: DirBuilder's
//    mode goes through the umask (the units' UMask=0077, a root shell's 077
//    or 027). systemd later finds the directory and keeps it; nss-systemd's
//    direct lookup (`direct:<uid>` links, used by dbus-daemon with
//    SYSTEMD_NSS_DYNAMIC_BYPASS) then fails for every unprivileged process.
// ---------------------------------------------------------------------------

#[test]
fn the_registry_the_runner_makes_is_0755_whatever_the_umask() {
    if !need_root() {
        return;
    }
    let uid = 70306;
    let mut lab = Lab::new();
    lab.uid_range(uid);
    lab.job("ok", "exit 0", "requires_repo = false\n");
    lab.write_config();
    // A private mount namespace with an empty /run/systemd: the registry is
    // missing there, as on a host where no DynamicUser= service ran yet.
    let inner = lab.command(&["run", "--job", "ok", "--format", "json"]);
    let script = "mount -t tmpfs -o mode=0755 tmpfs /run/systemd || exit 97\numask 077\n\"$@\" > \"$OUT/run.json\"\nstat -c %a /run/systemd/dynamic-uid > \"$OUT/mode\"\n";
    let mut cmd = lab.host.command("/usr/bin/unshare");
    cmd.args(["--mount", "--propagation", "private", "/bin/sh", "-c", script, "sh"])
        .arg(inner.get_program())
        .args(inner.get_args())
        .env("OUT", lab.host.root());
    let run = test_support::run(&mut cmd);
    assert_ne!(run.code, 97, "{}", run.stderr);
    let v: serde_json::Value = serde_json::from_str(&read(&lab.host.path("run.json"))).unwrap_or_default();
    // The uid was leased (what the job then did is the next test's matter).
    assert_eq!(v["run_as"]["uid"], uid, "{v}\n{}", run.stderr);
    assert_eq!(
        read(&lab.host.path("mode")).trim(),
        "755",
        "the runner made systemd's registry with the umask's mode, not 0755 as systemd makes it"
    );
}

// ---------------------------------------------------------------------------
// Held: every ending of a run lets its lease go (the lock file unlinked,
// no lock held): success, a refusal after the lease, a deadline.
// ---------------------------------------------------------------------------

#[test]
fn every_ending_lets_the_lease_go_holds() {
    if !need_root() {
        return;
    }
    let uid = 70307;
    let mut lab = Lab::new();
    lab.uid_range(uid);
    lab.job("ok", "exit 0", "");
    lab.job("slow", "sleep 30", "timeout_sec = 2\n");
    lab.write_config();
    let _ = std::fs::remove_file(lock_file(uid));
    let ok = lab.run("ok", &[]);
    assert_eq!(ok.code, 0, "{}\n{}", ok.stdout, ok.stderr);
    assert_eq!(ok.json()["run_as"]["uid"], uid);
    assert!(!lock_file(uid).exists(), "a finished run left its lock file");
    // Not on an allowed branch: refused after the uid was leased.
    let mut refused = lab.command(&["run", "--job", "ok", "--repo", "app", "--sha", &lab.side, "--format", "json"]);
    let refused = test_support::run(&mut refused);
    assert_eq!(refused.code, 2, "{}\n{}", refused.stdout, refused.stderr);
    assert!(!lock_file(uid).exists(), "a refused run left its lock file");
    let slow = lab.run("slow", &[]);
    assert_eq!(slow.json()["status"], "timeout", "{}", slow.stdout);
    assert!(!lock_file(uid).exists(), "a timed-out run left its lock file");
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
}

// ---------------------------------------------------------------------------
// Held: a runner killed with SIGKILL mid-run leaves a stale, unlocked lock
// file (systemd's protocol allows it) but nothing of the uid runs on, and
// the next run leases the same uid and removes the orphan.
// ---------------------------------------------------------------------------

#[test]
fn a_runner_killed_mid_run_leaves_no_uid_behind_holds() {
    if !need_root() {
        return;
    }
    let uid = 70308;
    let mut lab = Lab::new();
    lab.uid_range(uid);
    lab.job(
        "linger",
        "echo started > \"$ARTIFACT_DIR/started\"\n(setsid sleep 300 </dev/null >/dev/null 2>&1 &)\nsleep 300",
        "requires_repo = false\ntimeout_sec = 600\n",
    );
    lab.job("ok", "id -u > \"$ARTIFACT_DIR/uid\"\nexit 0", "requires_repo = false\n");
    lab.write_config();
    let mut runner = lab
        .command(&["run", "--job", "linger", "--format", "json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        test_support::wait_until(Duration::from_secs(15), || processes_of(uid).len() >= 2),
        "the job never started"
    );
    assert!(lease_held(uid), "a running job's uid is not locked in the registry");
    runner.kill().unwrap();
    runner.wait().unwrap();
    assert!(
        test_support::wait_until(Duration::from_secs(10), || processes_of(uid).is_empty()),
        "processes of the dead runner's uid live on: {:?}",
        processes_of(uid)
    );
    assert!(!lease_held(uid), "the dead runner's lock is still held");
    let next = test_support::run(&mut lab.command(&["run", "--job", "ok", "--format", "json"]));
    assert_eq!(next.code, 0, "{}\n{}", next.stdout, next.stderr);
    assert_eq!(next.json()["run_as"]["uid"], uid);
    assert!(lab.job_dirs().is_empty(), "the orphan was not removed: {:?}", lab.job_dirs());
    assert!(!lock_file(uid).exists());
}

// ---------------------------------------------------------------------------
// Held: a very deep tree (4000 levels, a 0000 directory every 97 levels, a
// link at the hoisting depth) is removed in full, quickly, following no
// link and leaving nothing of the uid.
// ---------------------------------------------------------------------------

const DEEP: &str = r#"
import os
fd = os.open(os.environ["HOME"], os.O_RDONLY | os.O_DIRECTORY)
for i in range(4000):
    os.mkdir("d", dir_fd=fd)
    if i == 62:
        os.symlink("/etc", "etc", dir_fd=fd)
        os.mkdir("x", dir_fd=fd)
    child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    if i % 97 == 0:
        os.fchmod(fd, 0)
    os.close(fd)
    fd = child
print("built")
"#;

#[test]
fn a_very_deep_tree_is_removed_in_full_holds() {
    if !need_root() {
        return;
    }
    let uid = 70309;
    let mut lab = Lab::new();
    lab.uid_range(uid);
    lab.job(
        "deep",
        &format!("/usr/bin/python3 -c '{DEEP}' > \"$ARTIFACT_DIR/built\" 2>&1\nexit 0"),
        "requires_repo = false\ntimeout_sec = 60\n",
    );
    lab.write_config();
    let started = Instant::now();
    let run = test_support::run(&mut lab.command(&["run", "--job", "deep", "--format", "json"]));
    let v = run.json();
    let job_id = v["job_id"].as_str().unwrap_or("");
    assert_eq!(read(&lab.artifacts(job_id).join("outputs/built")), "built\n", "{v}");
    assert_eq!(v["invariants"]["cleanup_ok"], true, "{v}");
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    assert!(lab.job_dirs().is_empty(), "{:?}", lab.job_dirs());
    assert!(started.elapsed() < Duration::from_secs(60), "removal took {:?}", started.elapsed());
    // /etc was never touched through the planted link.
    assert!(Path::new("/etc/passwd").exists());
    assert_eq!(std::fs::metadata("/etc").unwrap().mode() & 0o7777, 0o755);
}

// ---------------------------------------------------------------------------
// 3. The view's directories are made through the umask too: under the
//    units' own UMask=0077 the passage to the job directory (`/run/openclaw`,
//    `/run/openclaw/runner` in the view, made "0711") and `/var` come out
//    0700 root, so an unprivileged job cannot reach its HOME, TMPDIR,
//    ARTIFACT_DIR (by the absolute paths it is given) or /var/tmp, nor a
//    program outside the system directories. The booted test's dynamic job
//    only runs `id` and `ls /run`, so it never noticed.
// ---------------------------------------------------------------------------

#[test]
fn a_job_under_the_units_umask_reaches_its_own_directories() {
    if !need_root() {
        return;
    }
    let uid = 70310;
    let lab = Lab::new();
    lab.uid_range(uid);
    lab.write_config();
    let mut cfg = std::fs::OpenOptions::new().append(true).open(lab.config_path()).unwrap();
    std::io::Write::write_all(
        &mut cfg,
        b"\n[[job]]\nname = \"outputs\"\nargv = [\"/bin/sh\", \"-c\", \"echo out > $ARTIFACT_DIR/x && echo home > $HOME/y && echo tmp > $TMPDIR/z && echo vt > /var/tmp/w\"]\ntimeout_sec = 20\nrequires_repo = false\n",
    )
    .unwrap();
    drop(cfg);
    // UMask=0077, as openclaw-runner@.service and the bridge set it.
    let inner = lab.command(&["run", "--job", "outputs", "--format", "json"]);
    let mut cmd = lab.host.command("/bin/sh");
    cmd.args(["-c", "umask 077 && exec \"$@\"", "sh"]).arg(inner.get_program()).args(inner.get_args());
    let run = test_support::run(&mut cmd);
    let v = run.json();
    let stderr = read(&lab.artifacts(v["job_id"].as_str().unwrap_or("")).join("stderr.log"));
    assert_eq!(v["run_as"]["uid"], uid, "{v}");
    assert_eq!(v["status"], "success", "job stderr: {stderr}");
    assert_eq!(read(&lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs/x")), "out\n");
}

/// A line added to `/etc/subuid` for the test's life, the file restored on
/// drop; each version is renamed into place whole, so a concurrent run
/// never reads half a file.
struct Subuid(Option<String>);

fn replace_subuid(text: &str) {
    let tmp = "/etc/.subuid.openclaw-test";
    std::fs::write(tmp, text).unwrap();
    std::fs::rename(tmp, "/etc/subuid").unwrap();
}

impl Subuid {
    fn add(line: &str) -> Subuid {
        let old = std::fs::read_to_string("/etc/subuid").ok();
        replace_subuid(&format!("{}{line}\n", old.clone().unwrap_or_default()));
        Subuid(old)
    }
}

impl Drop for Subuid {
    fn drop(&mut self) {
        match &self.0 {
            Some(text) => replace_subuid(text),
            None => std::fs::remove_file("/etc/subuid").unwrap(),
        }
    }
}

/// A uid `/etc/subuid` gives someone's user namespaces is theirs to become
/// at will: never leased.
#[test]
fn a_uid_a_user_may_map_into_a_user_namespace_is_never_leased() {
    if !need_root() {
        return;
    }
    let uid = 70322;
    let _sub = Subuid::add("oc-attack2-sub:70320:5");
    let mut lab = Lab::new();
    lab.uid_range(uid);
    lab.job("who", "exit 0", "requires_repo = false\n");
    lab.write_config();
    let run = test_support::run(&mut lab.command(&["run", "--job", "who", "--format", "json"]));
    let v = run.json();
    assert_eq!(run.code, 2, "{v}");
    assert!(v["reason"].as_str().unwrap_or("").contains("no free uid"), "{v}");
}
