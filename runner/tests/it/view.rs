//! The job's filesystem is built, not inherited: no host `/run`, `/var/lib`,
//! `/home` or `/root`, so no host filesystem socket is reachable; system
//! directories are read-only, `/tmp` is private, and the root itself cannot
//! be written.

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use crate::support::{Lab, need_root, read};

/// A listening socket anyone may connect to, removed when dropped.
struct Sock(PathBuf, UnixListener);

impl Sock {
    fn at(path: PathBuf) -> Sock {
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
        l.set_nonblocking(true).unwrap();
        Sock(path, l)
    }

    fn reached(&self) -> bool {
        self.1.accept().is_ok()
    }
}

impl Drop for Sock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn connect_script(paths: &[&Path]) -> String {
    let mut s = String::new();
    for p in paths {
        s.push_str(&format!(
            "/usr/bin/python3 -c 'import socket,sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' {0} 2>/dev/null && echo {0} >> \"$ARTIFACT_DIR/reached\"\n",
            p.display()
        ));
    }
    s
}

#[test]
fn without_the_network_a_job_reaches_no_host_filesystem_socket() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    let open = lab.host.path("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let socks = [
        Sock::at(open.join("service.sock")),
        Sock::at(PathBuf::from(format!("/run/openclaw-view-test-{}.sock", std::process::id()))),
    ];
    let script = format!(
        "{}ls -A /run > \"$ARTIFACT_DIR/run\"\nfor d in /var/lib /var/run /home /root /srv /mnt {}; do test -e $d && echo $d >> \"$ARTIFACT_DIR/seen\"; done\nexit 0",
        connect_script(&[&socks[0].0, &socks[1].0]),
        open.display()
    );
    lab.job("reach", &script, "");
    lab.job("reach-root", &script, "run_as = \"root\"");
    lab.write_config();
    for job in ["reach", "reach-root"] {
        let v = lab.run(job, &[]).json();
        assert_eq!(v["status"], "success", "{v}");
        let out = lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs");
        assert_eq!(read(&out.join("reached")), "", "{job} connected to a host socket");
        for s in &socks {
            assert!(!s.reached(), "{job} reached {}", s.0.display());
        }
        assert_eq!(read(&out.join("seen")), "", "{job} saw host directories");
        assert_eq!(read(&out.join("run")), "lock\n", "{job}: /run holds more than its own lock directory");
    }
}

#[test]
fn the_view_is_read_only_but_for_the_jobs_own_directories_and_private_temporaries() {
    if !need_root() {
        return;
    }
    let mut lab = Lab::new();
    lab.job(
        "look",
        "t() { if (eval \"$1\") >/dev/null 2>&1; then echo \"yes $1\"; else echo \"no $1\"; fi >> \"$ARTIFACT_DIR/t\"; }\n\
         t 'touch /usr/x'\nt 'touch /etc/x'\nt 'touch /x'\nt 'mkdir /opt'\n\
         t 'echo a > /tmp/a'\nt 'echo a > /var/tmp/a'\nt 'echo a > /dev/shm/a'\nt 'echo a > /run/lock/a'\n\
         t 'echo a > \"$HOME/a\"'\nt 'echo a > \"$TMPDIR/a\"'\nt 'head -c 4 /dev/urandom'\nt 'echo a > /dev/null'\n\
         t 'test -e /dev/sda'\nt 'test -e /dev/fd/0'\nt 'ls \"${HOME%/home}/..\"'\n\
         ls -A / | sort > \"$ARTIFACT_DIR/root\"\nexit 0",
        "",
    );
    lab.write_config();
    let v = lab.run("look", &[]).json();
    assert_eq!(v["status"], "success", "{v}");
    let out = lab.artifacts(v["job_id"].as_str().unwrap()).join("outputs");
    let want = "no touch /usr/x\nno touch /etc/x\nno touch /x\nno mkdir /opt\n\
                yes echo a > /tmp/a\nyes echo a > /var/tmp/a\nyes echo a > /dev/shm/a\nyes echo a > /run/lock/a\n\
                yes echo a > \"$HOME/a\"\nyes echo a > \"$TMPDIR/a\"\nyes head -c 4 /dev/urandom\nyes echo a > /dev/null\n\
                no test -e /dev/sda\nyes test -e /dev/fd/0\nno ls \"${HOME%/home}/..\"\n";
    assert_eq!(read(&out.join("t")), want);
    let root = read(&out.join("root"));
    for name in root.lines() {
        assert!(
            ["bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "run", "sbin", "tmp", "usr", "var"]
                .contains(&name),
            "the job's / holds {name}: {root}"
        );
    }
}
