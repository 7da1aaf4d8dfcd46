//! Rotation without a restart: after `openclaw-keyctl rotate`, the old
//! token is refused and the new one accepted by the same console process.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{CONSOLE, Console, TOKEN, marker_action};

#[test]
fn a_rotated_token_takes_effect_without_a_restart() {
    let c = Console::start(|h| marker_action(h, "hello", "echo hi", ""));
    let pid = c.pid();
    assert_eq!(c.get("/api/actions").status, 200);
    let keyctl = Path::new(CONSOLE).with_file_name("openclaw-keyctl");
    assert!(keyctl.exists(), "build the workspace: {} is missing", keyctl.display());
    let out = c.host.command(&keyctl).args(["rotate", "OPENCLAW_CONSOLE_TOKEN"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new = std::fs::read_to_string(c.host.path("secrets/openclaw_console_token")).unwrap().trim().to_owned();
    assert_ne!(new, TOKEN);
    let until = Instant::now() + Duration::from_secs(5);
    loop {
        let a = c.request("GET", "/api/actions", &[("X-OpenClaw-Token", &new)], b"");
        if a.status == 200 {
            break;
        }
        assert!(Instant::now() < until, "the new token was never accepted: {}", a.status);
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(c.request("GET", "/api/actions", &[("X-OpenClaw-Token", TOKEN)], b"").status, 401);
    assert_eq!(c.pid(), pid, "same process");
    // A token that disappears refuses everything (503), never opens up.
    std::fs::remove_file(c.host.path("secrets/openclaw_console_token")).unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let a = c.request("GET", "/api/actions", &[("X-OpenClaw-Token", &new)], b"");
    assert_eq!((a.status, a.class()), (503, "TOKEN_UNAVAILABLE".to_owned()));
    assert_eq!(c.request("GET", "/api/actions", &[], b"").status, 401);
}
