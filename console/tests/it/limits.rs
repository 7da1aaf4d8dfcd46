//! Limits: the timeout kills the child's whole process group (no
//! grandchild survives) and answers 502 `ACTION_TIMEOUT`; output is cut
//! at its caps with `truncated`; a long-running action answers 202 and is
//! polled; the cap on runs at once answers 429.

use std::time::{Duration, Instant};

use crate::support::{Console, marker_action};

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        // A zombie is dead for our purposes.
        s.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_timeout_kills_the_child_and_every_grandchild() {
    let c = Console::start(|h| {
        let pids = h.path("pids");
        marker_action(
            h,
            "hang",
            &format!("sleep 300 &\necho $! >> '{p}'\n(sleep 300; echo never) &\necho $! >> '{p}'\necho $$ >> '{p}'\nsleep 300", p = pids.display()),
            "",
        )
        .replace("timeout_sec = 10", "timeout_sec = 1")
    });
    let started = Instant::now();
    let a = c.exec(r#"{"action":"hang"}"#);
    assert_eq!((a.status, a.class()), (502, "ACTION_TIMEOUT".to_owned()));
    assert_eq!(a.json()["exitCode"], -1);
    assert_eq!(a.json()["status"], "timeout");
    assert!(started.elapsed() < Duration::from_secs(8), "took {:?}", started.elapsed());
    let pids: Vec<u32> =
        std::fs::read_to_string(c.host.path("pids")).unwrap().lines().map(|l| l.parse().unwrap()).collect();
    assert_eq!(pids.len(), 3);
    let until = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|p| alive(*p)) {
        assert!(Instant::now() < until, "survivors: {:?}", pids.iter().filter(|p| alive(**p)).collect::<Vec<_>>());
        std::thread::sleep(Duration::from_millis(20));
    }
    let rec = c.audit();
    let finish = rec.iter().find(|r| r["action"] == "console.finish").unwrap();
    assert_eq!(finish["exit_code"], -1);
}

#[test]
fn output_is_capped_and_flagged() {
    let c = Console::start(|h| {
        marker_action(
            h,
            "loud",
            "head -c 3000000 /dev/zero | tr '\\0' 'a'\nhead -c 600000 /dev/zero | tr '\\0' 'b' >&2",
            "",
        )
    });
    let a = c.exec(r#"{"action":"loud"}"#);
    assert_eq!(a.status, 200);
    let j = a.json();
    assert_eq!(j["truncated"], true);
    assert_eq!(j["stdout"].as_str().unwrap().len(), 2 * 1024 * 1024);
    assert_eq!(j["stderr"].as_str().unwrap().len(), 512 * 1024);
    let dir = c.host.path(&format!("artifacts/console/{}", j["run_id"].as_str().unwrap()));
    assert_eq!(std::fs::metadata(dir.join("stdout.txt")).unwrap().len(), 2 * 1024 * 1024);
    let result: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(result["truncated"], true);
}

#[test]
fn long_running_actions_answer_202_and_are_polled_and_the_run_cap_holds() {
    let host = Console::host_with(|h| {
        let mut r = marker_action(h, "bg", "sleep 1\necho done", "long_running = true\n");
        r.push_str(&marker_action(h, "busy", "sleep 2", "concurrent = true\n"));
        r
    });
    let c = Console::start_on(host, "[console]\nmax_running = 2\n", &[]);
    let a = c.exec(r#"{"action":"bg"}"#);
    assert_eq!(a.status, 202);
    let run_id = a.json()["run_id"].as_str().unwrap().to_owned();
    assert_eq!(c.get(&format!("/api/runs/{run_id}")).json()["status"], "running");
    // The cap: bg plus one more fill it.
    let b = std::thread::scope(|s| {
        let first = s.spawn(|| c.exec(r#"{"action":"busy"}"#));
        std::thread::sleep(Duration::from_millis(300));
        let second = c.exec(r#"{"action":"busy"}"#);
        (first.join().unwrap().status, second.status, second.class())
    });
    assert_eq!(b, (200, 429, "TOO_MANY_RUNS".to_owned()));
    let until = Instant::now() + Duration::from_secs(10);
    let done = loop {
        let r = c.get(&format!("/api/runs?id={run_id}")).json();
        if r["status"] != "running" {
            break r;
        }
        assert!(Instant::now() < until);
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(done["status"], "success");
    assert_eq!(done["stdout"], "done\n");
    let list = c.get("/api/runs?limit=10").json();
    assert_eq!(list["runs"].as_array().unwrap().len(), 2);
    assert_eq!(c.get("/api/runs/20260101_000000_00000000").status, 404);
}
