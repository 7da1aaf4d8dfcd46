//! Attacks on the job's namespaces from an adversarial review: leftovers
//! in `/run/lock` and System V IPC, a host abstract socket, the init made
//! PID 1 by an unprivileged user, a forged or blocked status file, `kill
//! -1`, descriptors, an inflated artifact, a root job unmounting `/proc`,
//! stopped and traced stragglers, and an init binary swapped on disk.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Lab, RUNNER, need_root, read};

fn outputs(lab: &Lab, v: &serde_json::Value) -> std::path::PathBuf {
    lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs")
}

/// `/run/lock` is world-writable and sticky like `/tmp`: a file a `nobody`
/// job leaves there dies with its private copy.
#[test]
fn files_left_in_run_lock_die_with_the_job() {
    if !need_root() {
        return;
    }
    let dir = std::path::Path::new("/run/lock");
    if !dir.is_dir() {
        return test_support::skip("no /run/lock on this host");
    }
    let name = format!("openclaw-nsreview-{}", std::process::id());
    let mut lab = Lab::new();
    lab.job("litter", &format!("echo planted > /run/lock/{name} || exit 3\nexit 0"), "");
    lab.write_config();
    let run = lab.run("litter", &[]);
    let v = run.json();
    let left = dir.join(&name);
    let survived = left.exists();
    let _ = std::fs::remove_file(&left);
    assert!(!survived, "a nobody job left {} behind after its run ({})", left.display(), v["status"]);
}

/// A System V message queue a job makes lives in its own IPC namespace
/// and never reaches a later job of the same uid.
#[test]
fn sysv_ipc_a_job_makes_dies_with_it_and_never_reaches_a_later_job() {
    if !need_root() {
        return;
    }
    let key = 0x0c1a_0000_u32 | (std::process::id() & 0xffff);
    let mut lab = Lab::new();
    lab.job(
        "plant",
        &format!(
            "perl -MIPC::SysV=IPC_CREAT -e 'my $id = msgget({key}, IPC_CREAT|0600) // die \"msgget $!\"; \
             msgsnd($id, pack(\"l! a*\", 1, \"secret-from-an-earlier-run\"), 0) or die \"msgsnd $!\"' || exit 3\nexit 0"
        ),
        "",
    );
    lab.job(
        "harvest",
        &format!(
            "perl -MIPC::SysV=IPC_NOWAIT -e 'my $id = msgget({key}, 0) // exit 0; my $b; \
             msgrcv($id, $b, 200, 0, IPC_NOWAIT) or exit 0; my ($t, $m) = unpack(\"l! a*\", $b); \
             open(my $f, \">\", \"$ENV{{ARTIFACT_DIR}}/got\") or die; print $f $m'\nexit 0"
        ),
        "",
    );
    lab.write_config();
    let planted = lab.run("plant", &[]).json();
    let left = read(std::path::Path::new("/proc/sysvipc/msg"))
        .lines()
        .skip(1)
        .any(|l| l.split_whitespace().next() == Some(&key.to_string()));
    let harvested = lab.run("harvest", &[]).json();
    let got = read(&outputs(&lab, &harvested).join("got"));
    let _ = Command::new("ipcrm").args(["-Q", &key.to_string()]).status();
    let err = read(&lab.artifacts(planted["job_id"].as_str().unwrap()).join("stderr.log"));
    assert_eq!(planted["status"], "success", "{planted}\n{err}");
    assert!(!left, "the job's message queue (key {key:#x}) outlived its run; a later job read {got:?} from it");
    assert_eq!(got, "", "a later job read what an earlier one left in SysV IPC");
}

/// Abstract Unix sockets have no permission check at all; a job in its own
/// network namespace cannot reach one a host service listens on.
#[test]
fn a_job_cannot_reach_a_host_abstract_unix_socket() {
    if !need_root() {
        return;
    }
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::net::{SocketAddr, UnixListener};
    let name = format!("openclaw-nsreview-{}", std::process::id());
    let listener = UnixListener::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap()).unwrap();
    listener.set_nonblocking(true).unwrap();
    let mut lab = Lab::new();
    lab.job(
        "reach",
        &format!(
            "grep -c '@{name}' /proc/net/unix > \"$ARTIFACT_DIR/listed\"\n\
             /usr/bin/python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"\\0{name}\"); s.sendall(b\"hello from a job\")' \
             && echo connected > \"$ARTIFACT_DIR/connected\"\nexit 0"
        ),
        "",
    );
    lab.write_config();
    let v = lab.run("reach", &[]).json();
    let got = match listener.accept() {
        Ok((mut s, _)) => {
            let mut b = String::new();
            s.set_nonblocking(false).unwrap();
            let _ = std::io::Read::read_to_string(&mut s, &mut b);
            Some(b)
        }
        Err(_) => None,
    };
    let listed = read(&outputs(&lab, &v).join("listed"));
    assert_eq!(
        got, None,
        "a nobody job reached the host's abstract socket @{name} (listed in its /proc/net/unix: {listed:?})"
    );
}

/// `__job-init` made PID 1 by an unprivileged user through a user
/// namespace gives nothing the user did not have: its "root" is the
/// caller's uid outside, so it cannot write its status (or anything) into
/// a root-only directory, nor read root's files.
#[test]
fn job_init_in_an_unprivileged_user_namespace_gains_nothing() {
    if !need_root() {
        return;
    }
    let lab = Lab::new();
    let secret = lab.host.path("rootonly");
    std::fs::create_dir(&secret).unwrap();
    std::fs::write(secret.join("key"), "TOPSECRET\n").unwrap();
    let status = secret.join("status");
    let view = lab.host.path("view");
    std::fs::create_dir(&view).unwrap();
    std::fs::create_dir(lab.host.path("run")).unwrap();
    let script = format!("cat {0}/key; touch {0}/pwned; id -u; cat /proc/self/status | grep CapEff", secret.display());
    let out = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .args(["/usr/bin/unshare", "--user", "--map-root-user", "--pid", "--fork", "--mount", "--mount-proc", "--"])
        .arg(RUNNER)
        .args(["__job-init", "--status"])
        .arg(&status)
        .args(["--uid", "0", "--gid", "0", "--root"])
        .arg(&view)
        .args(["--cwd", "/", "--rw"])
        .arg(lab.host.path("run"))
        .args(["--", "/bin/sh", "-c", &script])
        .output()
        .unwrap();
    let all = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!all.contains("TOPSECRET"), "{all}");
    assert!(!secret.join("pwned").exists(), "{all}");
    assert!(!status.exists(), "{all}");
    // And the init did run as PID 1 (so the refusals above are the
    // kernel's): it went on to build the job's view, which a user
    // namespace without its own IPC namespace cannot finish (its mqueue),
    // or to start the job.
    assert!(!all.contains("runs only as PID 1"), "{all}");
    assert!(out.status.code() == Some(125) || all.contains("setpriv"), "{:?} {all}", out.status);
}

/// The status file lives in the runner's 0711 job directory; a job cannot
/// plant a file, link or FIFO there to forge or block it, and its own exit
/// code is what the run reports.
#[test]
fn a_job_cannot_forge_or_block_its_status() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "forger",
        "s=\"$HOME/../status\"\n\
         echo 'exited 0' > \"$s\"; ln -s /dev/null \"$s\"; mkfifo \"$s\"\n\
         echo 'exited 0' > \"$TMPDIR/../status\"\n\
         exit 3",
        "",
    );
    lab.write_config();
    let started = Instant::now();
    let run = lab.run("forger", &[]);
    let v = run.json();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!((v["status"].as_str(), v["exit_code"].as_i64()), (Some("failure"), Some(3)), "{v}");
}

/// `kill -KILL -1` from a `nobody` job reaches only its own namespace, not
/// a `nobody` process of the host.
#[test]
fn kill_minus_one_from_a_job_spares_the_hosts_processes_of_its_uid() {
    if !need_root() {
        return;
    }
    let mut bystander = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/sleep", "60"])
        .spawn()
        .unwrap();
    let mut lab = Lab::new();
    lab.job("massacre", "kill -KILL -1\nexit 0", "");
    lab.write_config();
    let _ = lab.run("massacre", &[]);
    let alive = bystander.try_wait().unwrap().is_none();
    let _ = bystander.kill();
    let _ = bystander.wait();
    assert!(alive, "a job's kill -1 killed a host process of its uid");
}

/// The runner itself hands the job no descriptor beyond 0, 1 and 2 (a
/// clean caller: python's `close_fds`; what a caller leaks on purpose is a
/// documented limit).
#[test]
fn the_runner_leaks_no_descriptor_to_the_job() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("fds", "ls /proc/self/fd > \"$ARTIFACT_DIR/fds\"\nexit 0", "");
    lab.write_config();
    let config = lab.config_path();
    let args = [
        "--config",
        config.to_str().unwrap(),
        "run",
        "--job",
        "fds",
        "--repo",
        "app",
        "--sha",
        &lab.sha,
        "--format",
        "json",
    ];
    let out = lab
        .host
        .command("/usr/bin/python3")
        .arg("-c")
        .arg("import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:], close_fds=True).returncode)")
        .arg(RUNNER)
        .args(args)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // ls's own directory descriptor is the only extra one.
    let fds: Vec<String> = read(&outputs(&lab, &v).join("fds")).lines().map(str::to_owned).collect();
    assert!(fds.len() <= 4 && fds.iter().take(3).eq(["0", "1", "2"].iter()), "{fds:?}");
}

/// A job that leaves thousands of long control-character names in
/// `ARTIFACT_DIR` does not get them all echoed into artifact.json (and the
/// bridge's answer).
#[test]
fn a_job_cannot_inflate_its_artifact_with_endless_output_names() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "inflate",
        "/usr/bin/python3 -c '\nimport os\nd = os.environ[\"ARTIFACT_DIR\"].encode()\n\
         for i in range(3000):\n    open(d + b\"/\" + b\"\\x1b\" * 190 + b\"%09d\" % i, \"w\").close()\n' || exit 3\nexit 0",
        "",
    );
    lab.write_config();
    let run = lab.run("inflate", &[]);
    let v = run.json();
    let listed = v["outputs"].as_array().map_or(0, Vec::len);
    assert!(
        listed <= runner::store::MAX_OUTPUTS + 1,
        "the artifact lists {listed} outputs; its JSON is {} bytes",
        run.stdout.len()
    );
}

/// The init detaches the inherited `/proc` before mounting its own, so a
/// `run_as = "root"` job that unmounts `/proc` finds an empty directory,
/// not the host's processes (its runner among them).
#[test]
fn a_root_job_cannot_uncover_the_hosts_proc_and_reach_its_runner() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "uncover",
        "umount /proc 2>\"$ARTIFACT_DIR/umount\"; ls /proc | grep -c [0-9] > \"$ARTIFACT_DIR/count\"\n\
         for c in /proc/[0-9]*/cmdline; do\n\
           if tr '\\0' ' ' < $c 2>/dev/null | grep -q 'openclaw-runner --config .* run --job uncover'; then\n\
             p=${c#/proc/}; p=${p%/cmdline}; head -c 1 /proc/$p/environ >/dev/null && [ -w /proc/$p/mem ] && echo $p >> \"$ARTIFACT_DIR/runner\"\n\
           fi\n\
         done\nexit 0",
        "run_as = \"root\"",
    );
    lab.write_config();
    let v = lab.run("uncover", &[]).json();
    let found = read(&outputs(&lab, &v).join("runner"));
    let seen = (read(&outputs(&lab, &v).join("umount")), read(&outputs(&lab, &v).join("count")));
    assert_eq!(
        found, "",
        "a root job read its own runner's environment and may open its memory for writing: pid {found} ({seen:?})"
    );
}

/// Stragglers that are stopped (SIGSTOP), traced by a sibling, or forking
/// in a loop when the deadline comes are all gone with the run, and the run
/// is a timeout.
#[test]
fn stopped_traced_and_forking_stragglers_die_at_the_deadline() {
    if !need_root() {
        return;
    }
    let marker = format!("{}", 5000 + std::process::id() % 1000);
    let mut lab = Lab::new();
    lab.job(
        "stragglers",
        &format!(
            "setsid sh -c 'exec sleep {marker}' </dev/null >/dev/null 2>&1 &\n\
             s=$!; sleep 0.2; kill -STOP $s\n\
             setsid sh -c 'while :; do sleep {marker} & sleep 0.05; done' </dev/null >/dev/null 2>&1 &\n\
             /usr/bin/python3 -c 'import ctypes, os, time\n\
             pid = os.fork()\n\
             if pid == 0:\n    os.execv(\"/bin/sleep\", [\"sleep\", \"{marker}\"])\n\
             libc = ctypes.CDLL(None)\n\
             libc.ptrace(16, pid, 0, 0)\n\
             time.sleep(1000)' </dev/null >/dev/null 2>&1 &\n\
             exit 0"
        ),
        "timeout_sec = 3",
    );
    lab.write_config();
    let started = Instant::now();
    let run = lab.run("stragglers", &[]);
    let v = run.json();
    assert!(started.elapsed() < Duration::from_secs(30), "{:?}", started.elapsed());
    assert_eq!(v["status"], "timeout", "{v}");
    let left = test_support::argv_containing(&[&format!("sleep {marker}")]);
    assert!(left.is_empty(), "survivors: {left:?}");
}

/// The runner re-executes itself as the job's init, as root: a runner
/// binary unlinked while a run waits, with `openclaw-runner (deleted)`
/// planted beside it (the name `/proc/self/exe` then reads), is refused,
/// and so is a runner in a directory others can write.
#[test]
fn the_jobs_init_is_not_taken_from_a_path_others_can_rewrite() {
    if !need_root() {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let mut lab = Lab::new();
    lab.job("noop", "exit 0", "");
    lab.write_config();
    assert_eq!(lab.run("noop", &[]).json()["status"], "success");
    // A directory the attacker (nobody) owns, holding a genuine copy.
    let userbin = lab.host.path("userbin");
    std::fs::create_dir(&userbin).unwrap();
    std::fs::set_permissions(&userbin, std::fs::Permissions::from_mode(0o755)).unwrap();
    rustix::fs::chown(&userbin, Some(rustix::fs::Uid::from_raw(65534)), Some(rustix::fs::Gid::from_raw(65534)))
        .unwrap();
    let runner = userbin.join("openclaw-runner");
    std::fs::copy(RUNNER, &runner).unwrap();
    // Another run's fetch holds the repo lock.
    let lock = std::fs::File::open(lab.host.path("state/runner/locks/app.lock")).unwrap();
    lock.lock().unwrap();
    let config = lab.config_path();
    let child = lab
        .host
        .command(&runner)
        .args(["--config", config.to_str().unwrap(), "run", "--job", "noop", "--repo", "app", "--sha", &lab.sha])
        .args(["--format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    let pwned = lab.host.path("pwned");
    let swap = format!(
        "printf '#!/bin/sh\\nid -u > {}\\n' > '{1}/openclaw-runner (deleted)' && chmod 755 '{1}/openclaw-runner (deleted)' && rm -f {1}/openclaw-runner",
        pwned.display(),
        userbin.display()
    );
    let ok = Command::new("/usr/bin/setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--", "/bin/sh", "-c", &swap])
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::set_permissions(lab.host.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let _ = std::fs::OpenOptions::new().create(true).append(true).open(&pwned);
    std::fs::remove_file(&pwned).unwrap();
    // pwned must be creatable by the swapped program: the host root is
    // root's; a root init can write it, a nobody one cannot.
    drop(lock);
    let out = child.wait_with_output().unwrap();
    let got = read(&pwned);
    assert_eq!(
        got,
        "",
        "a program swapped in by a user who owns the runner's directory ran as the job's init, as uid {}\n{}",
        got.trim(),
        String::from_utf8_lossy(&out.stdout)
    );
}

/// `--no-new-privs` and an empty bounding set do not stop a `nobody` job
/// from making a user namespace and holding every capability inside it
/// (kernel attack surface); the init's system-call filter does, while
/// threads (`clone3`, which the C library then retries as `clone`) and
/// plain forks still work.
#[test]
fn an_unprivileged_job_cannot_make_a_user_namespace_but_can_still_thread_and_fork() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "userns",
        "unshare --user --map-root-user --net --mount sh -c 'grep CapEff /proc/self/status; mount -t tmpfs none /mnt && echo mounted' \
         > \"$ARTIFACT_DIR/inside\" 2>&1\n\
         /usr/bin/python3 -c 'import threading, os; t = threading.Thread(target=print, args=(\"thread\",)); t.start(); t.join(); print(\"fork\" if os.fork() else \"\", end=\"\")' \
         > \"$ARTIFACT_DIR/threads\" 2>&1\nexit 0",
        "",
    );
    lab.write_config();
    let v = lab.run("userns", &[]).json();
    assert_eq!(v["status"], "success", "{v}");
    let inside = read(&outputs(&lab, &v).join("inside"));
    assert!(!inside.contains("mounted") && !inside.contains("CapEff"), "a nobody job made a user namespace:\n{inside}");
    assert!(inside.contains("Operation not permitted"), "{inside}");
    let threads = read(&outputs(&lab, &v).join("threads"));
    assert!(threads.contains("thread") && threads.contains("fork"), "{threads}");
}

/// Kernel keyrings are not namespaced: a `nobody` job reached the runner's
/// session keyring (and, under the bridge, one root session keyring shared
/// by every run) and its uid's user keyring. Every keyring call now fails
/// with EPERM, as in Docker's default profile.
#[test]
fn an_unprivileged_job_has_no_keyring_at_all() {
    if !need_root() {
        return;
    }
    let probe = "import ctypes, os\n\
        libc = ctypes.CDLL(None, use_errno=True)\n\
        out = []\n\
        r = libc.syscall(250, 0, -3, 0)\n\
        out.append('keyctl %d %d' % (r, ctypes.get_errno()))\n\
        r = libc.syscall(248, b'user', b'openclaw-probe', b'v', 1, -4)\n\
        out.append('add_key %d %d' % (r, ctypes.get_errno()))\n\
        r = libc.syscall(249, b'user', b'openclaw-probe', None, 0)\n\
        out.append('request_key %d %d' % (r, ctypes.get_errno()))\n\
        open(os.path.join(os.environ['ARTIFACT_DIR'], 'keys'), 'w').write(' | '.join(out))\n";
    let mut lab = Lab::new();
    lab.job("keys", &format!("/usr/bin/python3 -c \"{}\"", probe.replace('"', "\\\"")), "");
    lab.write_config();
    let run = lab.run("keys", &[]);
    let v = run.json();
    assert_eq!(v["status"], "success", "{}", run.stderr);
    let seen = read(&outputs(&lab, &v).join("keys"));
    assert_eq!(seen, "keyctl -1 1 | add_key -1 1 | request_key -1 1", "every keyring call must fail with EPERM");
}

/// A descriptor the caller leaves open without close-on-exec never reaches
/// the job: the runner marks every descriptor above 2 close-on-exec at
/// start (the job saw it before).
#[test]
fn a_descriptor_left_open_by_the_caller_never_reaches_the_job() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job("fds", "ls /proc/self/fd > \"$ARTIFACT_DIR/fds\"\nexit 0", "");
    lab.write_config();
    let config = lab.config_path();
    let script = format!(
        "exec 7</etc/hostname; exec '{RUNNER}' --config '{}' run --job fds --repo app --sha {} --format json",
        config.display(),
        lab.sha
    );
    let out = lab.host.command("/bin/bash").arg("-c").arg(&script).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fds: Vec<String> = read(&outputs(&lab, &v).join("fds")).lines().map(str::to_owned).collect();
    assert!(!fds.contains(&"7".to_owned()), "the caller's descriptor 7 reached the job: {fds:?}");
    // ls's own directory descriptor is the only extra one.
    assert!(fds.len() <= 4 && fds.iter().take(3).eq(["0", "1", "2"].iter()), "{fds:?}");
}
