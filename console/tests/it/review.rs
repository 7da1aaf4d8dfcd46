//! The adversarial review's cases: each asserts the secure behaviour for
//! one finding (now fixed) or one attack that held up.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{CONSOLE, Console, TOKEN, build, marker_action, ran, script};

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
}

fn wait_for(path: &std::path::Path, secs: u64) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !path.exists() {
        assert!(Instant::now() < until, "{} never appeared", path.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends raw bytes, then reads everything until close or a 3 s silence.
fn raw_all(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn statuses(text: &str) -> Vec<u16> {
    text.match_indices("HTTP/1.").filter_map(|(i, _)| text.get(i + 9..i + 12)?.parse().ok()).collect()
}

// ---------------------------------------------------------------- child / lock

/// F1: a child that daemonizes with setsid leaves the process group; the
/// group kill misses it, the run ends 200, the lock is released, and a
/// second run of the same non-concurrent action overlaps with it.
#[test]
fn review_setsid_grandchild_outlives_the_run_and_its_lock() {
    let c = Console::start(|h| {
        let pid = h.path("daemon.pid");
        marker_action(
            h,
            "daemon",
            &format!(
                "setsid sh -c 'echo $$ > \"{}\"; exec sleep 30' </dev/null >/dev/null 2>&1 &\nsleep 0.3",
                pid.display()
            ),
            "",
        )
    });
    let a = c.exec(r#"{"action":"daemon"}"#);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let pid: u32 = std::fs::read_to_string(c.host.path("daemon.pid")).unwrap().trim().parse().unwrap();
    // The run ended only once its escaped daemon was gone (the console is the subreaper).
    let survivor = alive(pid);
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    assert!(!survivor, "the first run's daemon (pid {pid}) survived the run");
    let second = c.exec(r#"{"action":"daemon"}"#);
    assert_eq!(second.status, 200, "a second run may start once the first and its daemon are gone");
}

/// Issue 26 finding 3: a daemon that also forges another `OPENCLAW_RUN_ID`
/// escaped the sweep (it named "another run") and kept the action's lock,
/// so the action answered 409 for as long as it lived. An id no live run
/// has is an orphan of nobody's: it goes with the run that left it.
#[test]
fn an_orphan_that_forges_a_run_id_goes_with_its_run() {
    let c = Console::start(|h| {
        let pid = h.path("forged.pid");
        marker_action(
            h,
            "forger",
            &format!(
                "OPENCLAW_RUN_ID=forged-0000 setsid sh -c 'echo $$ > \"{}\"; exec sleep 30' </dev/null >/dev/null 2>&1 &\nsleep 0.3",
                pid.display()
            ),
            "",
        )
    });
    let a = c.exec(r#"{"action":"forger"}"#);
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.body));
    let pid: u32 = std::fs::read_to_string(c.host.path("forged.pid")).unwrap().trim().parse().unwrap();
    let survivor = alive(pid);
    let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    assert!(!survivor, "the daemon with a forged run id (pid {pid}) survived its run and kept the action's lock");
    let second = c.exec(r#"{"action":"forger"}"#);
    assert_eq!(second.status, 200, "{}", String::from_utf8_lossy(&second.body));
}

/// F2: the lock fd is O_CLOEXEC, so the child never holds the lock. If the
/// console dies hard (SIGKILL, OOM, crash) the kernel releases the lock
/// while the child (own process group, no PDEATHSIG) keeps running; a
/// restarted console must not run the same action again while it does. (A
/// restarted console now also ends a dead one's leftover children before
/// it listens.)
#[test]
fn review_console_crash_releases_the_lock_while_the_child_runs() {
    let mut c = Console::start(|h| {
        let pid = h.path("long.pid");
        marker_action(h, "long", &format!("echo $$ > '{}'\nexec sleep 20", pid.display()), "long_running = true\n")
            .replace("timeout_sec = 10", "timeout_sec = 60")
    });
    let a = c.exec(r#"{"action":"long"}"#);
    assert_eq!(a.status, 202);
    wait_for(&c.host.path("long.pid"), 5);
    let child: u32 = std::fs::read_to_string(c.host.path("long.pid")).unwrap().trim().parse().unwrap();
    let _ = Command::new("kill").args(["-KILL", &c.pid().to_string()]).status();
    std::thread::sleep(Duration::from_millis(300));
    let child_alive = alive(child);
    // A second console on the same host (what systemd's Restart= does).
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cmd = c.host.command(CONSOLE);
    cmd.args(["serve", "--listen", &addr.to_string(), "--registry"])
        .arg(c.host.path("registry.toml"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut second = cmd.spawn().unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let origin = format!("http://{addr}");
    let answer = loop {
        let req = build(
            "POST",
            "/api/exec",
            &addr.to_string(),
            &[("X-OpenClaw-Token", TOKEN), ("Origin", &origin)],
            br#"{"action":"long"}"#,
        );
        if let Ok(mut s) = TcpStream::connect(addr) {
            s.write_all(&req).unwrap();
            break crate::support::read_answer(&mut s).unwrap();
        }
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(50));
    };
    // Overlap means the first run's child still ran when the second started.
    let still_alive = alive(child);
    let _ = second.kill();
    let _ = second.wait();
    let _ = Command::new("kill").args(["-KILL", &child.to_string()]).status();
    // Mark c's child as gone so Drop does not complain.
    let _ = &mut c;
    assert!(child_alive, "the child must outlive its console for this test to prove anything");
    assert!(
        !(still_alive && answer.status == 202),
        "the first run's child (pid {child}) outlived the console and the restarted console started a second run: {} {}",
        answer.status,
        String::from_utf8_lossy(&answer.body)
    );
}

/// F3: `GET /api/exec?check=lock` takes the real lock with holder
/// "(check)"; a POST that arrives meanwhile is refused 409 naming a run
/// that does not exist.
#[test]
fn review_lock_probe_makes_a_post_fail_with_a_phantom_holder() {
    let c = Console::start(|h| marker_action(h, "quick", "true", ""));
    let stop = std::sync::atomic::AtomicBool::new(false);
    let phantom = std::thread::scope(|s| {
        for _ in 0..3 {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let _ =
                        c.try_request("GET", "/api/exec?check=lock&action=quick", &[("X-OpenClaw-Token", TOKEN)], b"");
                }
            });
        }
        let mut phantom = None;
        for _ in 0..150 {
            let a = c.exec(r#"{"action":"quick"}"#);
            if a.status == 409 {
                phantom = Some(a.json()["active_run_id"].as_str().unwrap_or("").to_owned());
                break;
            }
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        phantom
    });
    assert_eq!(phantom, None, "a POST got 409 with active_run_id {phantom:?} while no run was going");
}

/// F4: a lock I/O error (here: a symlink planted as the lock file) answers
/// 500 after action resolution with no audit record.
#[test]
fn review_lock_error_500_is_not_audited() {
    let c = Console::start(|h| marker_action(h, "quick", "true", ""));
    let locks = c.host.path("run/console/locks");
    // Find the lock dir the console made (paths.run_dir/console/locks).
    let dir = if locks.exists() {
        locks
    } else {
        let out = Command::new("find").arg(c.host.path("")).args(["-type", "d", "-name", "locks"]).output().unwrap();
        std::path::PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().next().expect("lock dir").to_owned())
    };
    std::os::unix::fs::symlink("/etc/passwd", dir.join("quick.lock")).unwrap();
    let a = c.exec(r#"{"action":"quick"}"#);
    assert_eq!(a.status, 500, "{}", String::from_utf8_lossy(&a.body));
    assert!(!ran(&c.host, "quick"));
    assert!(
        !c.audit().is_empty(),
        "a request that reached action resolution was answered 500 {} with no audit record",
        a.class()
    );
}

/// Held?: no console fd (listener, connections, audit log, lock files) is
/// inherited by a child.
#[test]
fn review_child_inherits_only_stdio() {
    let c = Console::start(|h| {
        marker_action(h, "fds", "for f in /proc/$$/fd/*; do echo \"${f##*/} $(readlink $f)\"; done", "")
    });
    // Keep another connection open so its socket exists in the console.
    let _idle = TcpStream::connect(c.addr).unwrap();
    let a = c.exec(r#"{"action":"fds"}"#);
    let out = a.json()["stdout"].as_str().unwrap().to_owned();
    let mut console_fds = String::new();
    for e in std::fs::read_dir(format!("/proc/{}/fd", c.pid())).unwrap().flatten() {
        let t = std::fs::read_link(e.path()).map(|p| p.display().to_string()).unwrap_or_default();
        let flags = std::fs::read_to_string(format!("/proc/{}/fdinfo/{}", c.pid(), e.file_name().to_string_lossy()))
            .unwrap_or_default();
        let fl = flags.lines().find(|l| l.starts_with("flags")).unwrap_or("").to_owned();
        console_fds.push_str(&format!("{} {} {}\n", e.file_name().to_string_lossy(), t, fl));
    }
    // A leak: an fd the console holds without O_CLOEXEC (other than 0-2) that the child also has.
    let leaked: Vec<String> = console_fds
        .lines()
        .filter(|l| {
            let n: u32 = l.split(' ').next().unwrap().parse().unwrap();
            let flags = u32::from_str_radix(l.rsplit('\t').next().unwrap_or("0").trim(), 8).unwrap_or(0);
            n > 2 && flags & 0o2000000 == 0
        })
        .map(|l| l.split(" flags").next().unwrap().to_owned())
        .filter(|fd| out.lines().any(|c| c == fd))
        .collect();
    // Descriptors the console opened are close-on-exec. Ones it inherited
    // open from its launcher (nextest leaves some) cannot be closed without
    // `unsafe`; the console names each at startup (docs/console.md, Limits).
    let stderr = c.stderr();
    for fd in &leaked {
        let n = fd.split(' ').next().unwrap();
        assert!(
            stderr.contains("inherited file descriptors") && stderr.contains(&format!(" {n}")),
            "fd {fd} reached the child and was not reported at startup: {stderr}\nconsole fds:\n{console_fds}\nchild fds:\n{out}"
        );
    }
}

// ---------------------------------------------------------------- HTTP layer

/// F5: a chunked body over 64 KiB on an authenticated POST is 413 but is
/// not logged as a security event (only a declared Content-Length is).
#[test]
fn review_chunked_413_is_logged_as_a_security_event() {
    let c = Console::start(|h| marker_action(h, "hello", "true", ""));
    let chunk = vec![b'a'; 100 * 1024];
    let mut body = format!("{:x}\r\n", chunk.len()).into_bytes();
    body.extend_from_slice(&chunk);
    body.extend_from_slice(b"\r\n0\r\n\r\n");
    let o = c.origin();
    let a = c.request(
        "POST",
        "/api/exec",
        &[("X-OpenClaw-Token", TOKEN), ("Origin", &o), ("Transfer-Encoding", "chunked")],
        &body,
    );
    assert_eq!(a.status, 413);
    std::thread::sleep(Duration::from_millis(200));
    assert!(c.stderr().contains("status=413"), "no security event for the chunked 413: {}", c.stderr());
}

/// F6: 512 unauthenticated keep-alive connections, each sending one
/// `GET /healthz` every 2 s (well under the 5 s header and 30 s idle
/// timeouts), hold every connection slot; a legitimate client with the
/// token waits in the backlog indefinitely.
#[test]
fn review_keepalive_refresh_starves_a_legitimate_client() {
    let c = Console::start(|h| marker_action(h, "hello", "true", ""));
    let req = format!("GET /healthz HTTP/1.1\r\nHost: {}\r\n\r\n", c.addr).into_bytes();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let verdict = std::thread::scope(|sc| {
        let mut held: Vec<TcpStream> = (0..512).map(|_| TcpStream::connect(c.addr).unwrap()).collect();
        let (stop, req) = (&stop, &req);
        sc.spawn(move || {
            let mut buf = [0u8; 512];
            for s in &mut held {
                s.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            }
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                for s in &mut held {
                    let _ = s.write_all(req);
                    let _ = s.read(&mut buf);
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        });
        std::thread::sleep(Duration::from_secs(2));
        let started = Instant::now();
        let mut s = TcpStream::connect(c.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(12))).unwrap();
        s.write_all(&build("GET", "/api/actions", &c.host_header(), &[("X-OpenClaw-Token", TOKEN)], b"")).unwrap();
        let got = crate::support::read_answer(&mut s).map(|a| a.status);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        (got.ok(), started.elapsed())
    });
    assert!(verdict.0 == Some(200) && verdict.1 < Duration::from_secs(3), "legitimate request: {verdict:?}");
}

/// Held?: a body that looks like a second request (pipelining behind a
/// refused request), CL+TE, absolute-form, odd Host forms, encoded paths.
#[test]
fn review_http_edge_cases_hold() {
    let c = Console::start(|h| marker_action(h, "hello", "true", ""));
    let host = c.host_header();
    let port = c.addr.port();
    // 1. A 401 POST whose body is a full request: only one answer, never a 200 for the inner one.
    let inner = format!("GET /api/actions HTTP/1.1\r\nHost: {host}\r\nX-OpenClaw-Token: {TOKEN}\r\n\r\n");
    let outer = format!("POST /api/exec HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\n\r\n{inner}", inner.len());
    let text = raw_all(c.addr, outer.as_bytes());
    assert_eq!(statuses(&text), vec![401], "{text}");
    // 2. CL + TE smuggling attempt.
    let smuggled = format!("0\r\n\r\nGET /api/actions HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let req = format!(
        "POST /healthz HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n{smuggled}",
        smuggled.len()
    );
    let text = raw_all(c.addr, req.as_bytes());
    assert!(!statuses(&text).contains(&200) || statuses(&text).len() <= 2, "{text}");
    // 3. Host forms.
    for (h, want) in [
        (format!("localhost.:{port}"), 403),
        (format!("LOCALHOST:{port}"), 200),
        (format!("[0:0:0:0:0:0:0:1]:{port}"), 403),
        (format!("127.1:{port}"), 403),
        (format!("2130706433:{port}"), 403),
        (format!("127.0.0.1:{port} "), 200), // OWS trimmed by hyper
        (format!("127.0.0.1:0{port}"), 403),
    ] {
        let t = raw_all(c.addr, format!("GET /healthz HTTP/1.1\r\nHost: {h}\r\nConnection: close\r\n\r\n").as_bytes());
        assert_eq!(statuses(&t), vec![want], "Host {h:?}: {t}");
    }
    // HTTP/1.0 without Host; absolute-form; two Hosts.
    let t = raw_all(c.addr, b"GET /healthz HTTP/1.0\r\n\r\n");
    assert_eq!(statuses(&t), vec![403], "{t}");
    let t = raw_all(c.addr, format!("GET http://{host}/api/actions HTTP/1.1\r\nHost: {host}\r\nX-OpenClaw-Token: {TOKEN}\r\nConnection: close\r\n\r\n").as_bytes());
    assert_eq!(statuses(&t), vec![403], "{t}");
    let t = raw_all(
        c.addr,
        format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\nConnection: close\r\n\r\n").as_bytes(),
    );
    assert!(!t.contains("HTTP/1.1 200"), "{t}");
    // 4. Encoded or odd paths never reach an /api handler without a token.
    for p in
        ["/%61pi/actions", "/api%2factions", "//api/actions", "/./api/actions", "/API/actions", "/api/../api/actions"]
    {
        let a = c.request("GET", p, &[], b"");
        assert!(
            a.status == 401 || a.status == 404 || a.status == 400,
            "{p}: {} {}",
            a.status,
            String::from_utf8_lossy(&a.body)
        );
        assert!(!String::from_utf8_lossy(&a.body).contains("\"actions\""), "{p}");
    }
    // 5. Token forms.
    for (k, v, want) in [
        ("x-openclaw-token", TOKEN.to_owned(), 200),
        ("X-OPENCLAW-TOKEN", TOKEN.to_owned(), 200),
        ("X-OpenClaw-Token", format!("{TOKEN} "), 200), // OWS trimmed
        ("X-OpenClaw-Token", TOKEN[..TOKEN.len() - 1].to_owned(), 401),
        ("X-OpenClaw-Token", format!("{TOKEN}\t"), 200),
        ("Authorization", format!("bearer {TOKEN}"), 401),
        ("Authorization", format!("Bearer  {TOKEN}"), 401),
        ("X-OpenClaw-Token", " ".to_owned(), 401),
    ] {
        let a = c.request("GET", "/api/actions", &[(k, &v)], b"");
        assert_eq!(a.status, want, "{k}: {v:?}");
    }
    // 6. Duplicate JSON keys: refused, never "the last one wins".
    let a = c.exec(r#"{"action":"nope","action":"hello"}"#);
    assert_eq!((a.status, a.class()), (400, "DUPLICATE_KEYS".to_owned()));
    assert!(!ran(&c.host, "hello"));
}

// ---------------------------------------------------------------- params

/// F7: the "always anchored" pattern is anchored by text concatenation, so
/// an unbalanced pattern such as `[a-z]+)|(.*` compiles and accepts anything.
#[test]
fn review_unbalanced_pattern_is_refused_or_stays_anchored() {
    let host = Console::host_with(|h| {
        let p = script(h, "p", "echo \"$OPENCLAW_PARAM_NAME\"");
        format!(
            "[[action]]\nid = \"p\"\nlabel = \"p\"\ndescription = \"p\"\nargv = [\"{}\"]\ntimeout_sec = 5\n\
             [action.params.name]\ntype = \"string\"\nmax_len = 64\npattern = \"[a-z]+)|(.*\"\n",
            p.display()
        )
    });
    let out =
        host.command(CONSOLE).args(["check-registry", "--registry"]).arg(host.path("registry.toml")).output().unwrap();
    if !out.status.success() {
        return; // refused: fine
    }
    let c = Console::start_on(host, "", &[]);
    let a = c.exec(r#"{"action":"p","params":{"name":"--x; $(id) ../../etc"}}"#);
    assert_eq!(a.status, 400, "value outside [a-z]+ accepted: {}", String::from_utf8_lossy(&a.body));
}

/// F8: only argv[0] is judged. An interpreter with a world-writable script
/// as its argument (`argv = ["/bin/sh", "/tmp/x.sh"]`) is accepted, so any
/// local user can change what the console runs.
#[test]
fn review_interpreter_argument_that_anyone_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let evil = std::env::temp_dir().join(format!("review-evil-{}.sh", std::process::id()));
    std::fs::write(&evil, "echo pwned\n").unwrap();
    std::fs::set_permissions(&evil, std::fs::Permissions::from_mode(0o666)).unwrap();
    let host = Console::host_with(|_| {
        format!(
            "[[action]]\nid = \"i\"\nlabel = \"i\"\ndescription = \"i\"\nargv = [\"/bin/sh\", \"{}\"]\ntimeout_sec = 5\n",
            evil.display()
        )
    });
    let out =
        host.command(CONSOLE).args(["check-registry", "--registry"]).arg(host.path("registry.toml")).output().unwrap();
    let _ = std::fs::remove_file(&evil);
    assert!(!out.status.success(), "accepted: {}", String::from_utf8_lossy(&out.stdout));
}
