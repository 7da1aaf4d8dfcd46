//! The action lock: two POSTs at once run the action once and the other
//! gets 409 naming the first's run; a client that disconnects does not
//! release the lock, which lasts exactly as long as the child.

use std::time::{Duration, Instant};

use crate::support::{Console, TOKEN, build, marker_action};

fn slow_console() -> Console {
    Console::start(|h| {
        let done = h.path("slow.done");
        let mut r = marker_action(h, "slow", &format!("sleep 2\ntouch '{}'", done.display()), "");
        r.push_str(&marker_action(h, "free", "sleep 1", "concurrent = true\n"));
        r
    })
}

#[test]
fn two_posts_at_once_run_once_and_the_other_is_told_the_first_run_id() {
    let c = slow_console();
    let answers: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2).map(|_| s.spawn(|| c.exec(r#"{"action":"slow"}"#))).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    statuses.sort_unstable();
    assert_eq!(statuses, vec![200, 409]);
    let ok = answers.iter().find(|a| a.status == 200).unwrap().json();
    let busy = answers.iter().find(|a| a.status == 409).unwrap().json();
    assert_eq!(busy["error_class"], "ALREADY_RUNNING");
    assert_eq!(busy["active_run_id"], ok["run_id"]);
    assert_eq!(busy["active_run_status"], "running");
    assert!(busy["started_at"].as_str().unwrap().ends_with('Z'));
    let kinds: Vec<String> = c.audit().iter().map(|r| r["action"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "console.busy").count(), 1, "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "console.start").count(), 1, "{kinds:?}");
    // Concurrent actions take no lock.
    let answers: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3).map(|_| s.spawn(|| c.exec(r#"{"action":"free"}"#))).collect();
        hs.into_iter().map(|h| h.join().unwrap().status).collect()
    });
    assert_eq!(answers, vec![200, 200, 200]);
}

#[test]
fn a_client_that_disconnects_does_not_release_the_lock_until_the_child_ends() {
    let c = slow_console();
    let started = Instant::now();
    {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(c.addr).unwrap();
        let o = c.origin();
        s.write_all(&build(
            "POST",
            "/api/exec",
            &c.host_header(),
            &[("X-OpenClaw-Token", TOKEN), ("Origin", &o)],
            br#"{"action":"slow"}"#,
        ))
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        // Dropped here: the client goes away mid-run.
    }
    let a = c.exec(r#"{"action":"slow"}"#);
    assert_eq!(a.status, 409, "{}", String::from_utf8_lossy(&a.body));
    let check = c.get("/api/exec?check=lock&action=slow").json();
    assert_eq!(check["locked"], true);
    assert_eq!(check["active_run_id"], a.json()["active_run_id"]);
    while !c.host.path("slow.done").exists() {
        assert!(started.elapsed() < Duration::from_secs(10), "the child never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Released once the child and its supervisor are done.
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let check = c.get("/api/exec?check=lock&action=slow").json();
        if check["locked"] == false {
            break;
        }
        assert!(Instant::now() < until, "lock still held after the child ended");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(started.elapsed() >= Duration::from_secs(2), "the lock lasted the child's whole life");
    let run_id = a.json()["active_run_id"].as_str().unwrap().to_owned();
    let run = c.get(&format!("/api/runs/{run_id}")).json();
    assert_eq!(run["status"], "success", "the abandoned run still completed and was recorded: {run}");
    let finished = c.audit().iter().filter(|r| r["action"] == "console.finish").count();
    assert_eq!(finished, 1);
}
