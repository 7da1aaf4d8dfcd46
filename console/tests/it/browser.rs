//! The console page in a real headless Chromium (Debian's, through
//! chromedriver) against the real console on loopback: the CSP holds and is
//! never violated, the token lists the actions, runs show their output and
//! exit code, a bad int is refused before sending (and by the server), a
//! locked action shows the 409 text, a wrong token brings the prompt back,
//! hostile output stays text, the doctor's report becomes a table, the page
//! fits a phone, and it asks nothing of any other origin. Screenshots and
//! figures are written under `target/` (or `OPENCLAW_SCREENSHOTS_TO`).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::{Console, TOKEN, marker_action, script};
use crate::webdriver::{Browser, available, screenshot_dir};

const XSS: &str = r#"<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script>"#;

fn console() -> Console {
    Console::start(|h| {
        let doctor = json!({
            "tool": "openclaw-doctor", "result": "FAIL",
            "checks": [
                {"id": "listeners", "title": "No public listeners", "status": "fail", "summary": "0.0.0.0:8080 is public", "remediation": "bind 127.0.0.1:8080 instead"},
                {"id": "tailscale", "title": "Tailscale up", "status": "pass", "summary": "Running", "remediation": null},
                {"id": "disk", "title": "Disk space", "status": "warn", "summary": "91% used", "remediation": "free space on /"},
            ]
        });
        let doctor_path = h.path("doctor.json");
        std::fs::write(&doctor_path, doctor.to_string()).unwrap();
        let mut r = marker_action(h, "hello", "echo \"hello from the console\"", "concurrent = true\n");
        r.push_str(&marker_action(h, "xss", &format!("cat <<'EOF'\n{XSS}\nEOF"), "concurrent = true\n"));
        r.push_str(&marker_action(h, "slow", "sleep 4\necho slept", ""));
        r.push_str(&marker_action(
            h,
            "count",
            "echo \"count=$OPENCLAW_PARAM_N\"",
            "concurrent = true\n[action.params.n]\ntype = \"int\"\nmin = 1\nmax = 5\nrequired = true\n",
        ));
        let fake = script(h, "fake-doctor", &format!("cat '{}'\nexit 1", doctor_path.display()));
        r.push_str(&format!(
            "[[action]]\nid = \"doctor\"\nlabel = \"Run the doctor\"\ndescription = \"Full posture audit\"\nargv = [\"{}\"]\ntimeout_sec = 10\n",
            fake.display()
        ));
        r
    })
}

fn skip_without_browser() -> bool {
    if available() {
        return false;
    }
    test_support::skip("chromium and chromium-driver are not installed (cargo xtask ci installs them)");
    true
}

/// Logs in through the prompt and waits for the actions.
fn login(b: &Browser, c: &Console, token: &str) {
    b.goto(&format!("{}/", c.origin()));
    b.wait_for("the token prompt", "return !document.getElementById('login').hidden");
    b.type_into("#token", token);
    b.click("#login-form button[type=submit]");
}

fn run_action(b: &Browser, id: &str) {
    b.click(&format!("form[data-action='{id}'] button[type=submit]"));
}

#[test]
fn the_page_runs_actions_safely_in_a_real_browser() {
    if skip_without_browser() {
        return;
    }
    let suite = Instant::now();
    let c = console();
    let page = c.request("GET", "/", &[], b"");
    assert_eq!(page.status, 200);
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'none'")
            && csp.contains("script-src 'self'")
            && csp.contains("frame-ancestors 'none'")
    );
    assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
    assert_eq!(page.header("x-content-type-options").as_deref(), Some("nosniff"));
    let b = Browser::start(1280, 800);
    login(&b, &c, TOKEN);
    b.wait_for("the actions", "return document.querySelectorAll('form.action').length === 5");
    let marks =
        b.js("const m = performance.getEntriesByName('actions-listed')[0]; return m ? m.startTime : null;", json!([]));
    assert!(marks.as_f64().is_some(), "the page marks when its actions are listed");
    // First load (nothing cached): the document and its two assets.
    let first_load = b.js(
        "const nav = performance.getEntriesByType('navigation')[0];
         const res = performance.getEntriesByType('resource').filter(e => e.initiatorType === 'script' || e.initiatorType === 'link');
         return {first_load_bytes: nav.transferSize + res.reduce((a, e) => a + e.transferSize, 0),
                 first_load_body_bytes: nav.decodedBodySize + res.reduce((a, e) => a + e.decodedBodySize, 0),
                 first_load_dom_content_loaded_ms: nav.domContentLoadedEventEnd};",
        json!([]),
    );
    assert!(
        b.js("return sessionStorage.length === 1 && localStorage.length === 0 && document.cookie === ''", json!([]))
            == true
    );
    assert!(!b.js("return location.href", json!([])).as_str().unwrap().contains(TOKEN), "never in the URL");

    // A run shows its output and exit code.
    run_action(&b, "hello");
    b.wait_for(
        "hello's output",
        "return document.querySelector('#result pre.stdout')?.textContent.includes('hello from the console')",
    );
    assert!(b.text("#result").contains("Exit code0"), "{}", b.text("#result"));

    // Hostile output is text.
    run_action(&b, "xss");
    b.wait_for(
        "the xss output",
        "return document.querySelector('#result pre.stdout')?.textContent.includes('onerror')",
    );
    assert_eq!(b.text("#result pre.stdout").trim(), XSS);
    std::thread::sleep(Duration::from_millis(300));
    assert!(b.js("return typeof window.__pwned", json!([])) == "undefined");
    assert!(b.js("return document.querySelectorAll('#result img, #result script').length", json!([])) == 0);

    // The doctor's report becomes a table with the failing check's remediation.
    run_action(&b, "doctor");
    b.wait_for("the doctor table", "return document.querySelector(\"#result tr[data-check='listeners']\")");
    let row = b.text("#result tr[data-check='listeners']");
    assert!(row.contains("fail") && row.contains("bind 127.0.0.1:8080 instead"), "{row}");
    assert!(b.text("#result tr[data-check='disk']").contains("warn"));

    // An out-of-range int is refused before anything is sent, and by the server too.
    let audited = c.audit().len();
    b.type_into("#p-count-n", "9");
    run_action(&b, "count");
    b.wait_for(
        "the form's refusal",
        "return document.querySelector(\"form[data-action='count'] .notice:not([hidden])\")?.textContent",
    );
    assert!(b.text("form[data-action='count'] .notice").contains("from 1 to 5"));
    assert_eq!(c.audit().len(), audited, "nothing reached the server");
    let direct = c.exec(r#"{"action":"count","params":{"n":9}}"#);
    assert_eq!((direct.status, direct.class()), (400, "INVALID_PARAMS".to_owned()));
    b.type_into("#p-count-n", "3");
    run_action(&b, "count");
    b.wait_for(
        "count's output",
        "return document.querySelector('#result pre.stdout')?.textContent.includes('count=3')",
    );

    // A second run of a locked action shows the 409 text.
    let first = std::thread::scope(|s| {
        let h = s.spawn(|| c.exec(r#"{"action":"slow"}"#));
        let until = Instant::now() + Duration::from_secs(5);
        while c.get("/api/exec?check=lock&action=slow").json()["locked"] != true {
            assert!(Instant::now() < until);
            std::thread::sleep(Duration::from_millis(20));
        }
        run_action(&b, "slow");
        b.wait_for(
            "the 409 text",
            "return document.querySelector(\"#result [data-error='ALREADY_RUNNING']\")?.textContent",
        );
        h.join().unwrap()
    });
    let text = b.text("#result [data-error='ALREADY_RUNNING']");
    let run_id = first.json()["run_id"].as_str().unwrap().to_owned();
    assert!(text.starts_with("Already running since 20") && text.contains(&run_id), "{text}");

    // No CSP violation, no request to any other origin.
    let log = b.console_log();
    assert!(!log.iter().any(|l| l.contains("Content Security Policy") || l.contains("Refused to")), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("favicon")), "{log:?}");
    let foreign = b.js(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith(location.origin + '/'))",
        json!([]),
    );
    assert_eq!(foreign, json!([]), "requests to other origins");
    run_action(&b, "doctor");
    b.wait_for("the doctor table again", "return document.querySelector(\"#result tr[data-check='listeners']\")");
    b.js("window.scrollTo(0, 0); document.activeElement.blur();", json!([]));
    b.screenshot(&screenshot_dir().join("console-1280x800.png"));

    // Figures for docs/console.md: transfer size and time to interactive (fresh load, token in the tab).
    b.goto(&format!("{}/", c.origin()));
    b.wait_for("the actions again", "return document.querySelectorAll('form.action').length === 5");
    let repeat = b.js(
        "const nav = performance.getEntriesByType('navigation')[0];
         const listed = performance.getEntriesByName('actions-listed')[0];
         return {repeat_load_dom_interactive_ms: nav.domInteractive, repeat_load_actions_listed_ms: listed ? listed.startTime : null};",
        json!([]),
    );
    let mut figures = first_load;
    for (k, v) in repeat.as_object().unwrap() {
        figures[k] = v.clone();
    }
    figures["suite_ms"] = (suite.elapsed().as_millis() as u64).into();
    std::fs::write(screenshot_dir().join("figures.json"), figures.to_string()).unwrap();
}

#[test]
fn a_wrong_token_brings_the_prompt_back_and_the_page_fits_a_phone() {
    if skip_without_browser() {
        return;
    }
    let c = console();
    let b = Browser::start(360, 780);
    login(&b, &c, "not-the-console-token-at-all");
    b.wait_for("the refusal", "return !document.getElementById('login-reason').hidden");
    assert_eq!(b.text("#login-reason"), "That token was refused.");
    assert!(b.js("return document.getElementById('app').hidden", json!([])) == true);
    assert!(b.js("return sessionStorage.length", json!([])) == 0, "a refused token is not kept");
    login(&b, &c, TOKEN);
    b.wait_for("the actions", "return document.querySelectorAll('form.action').length === 5");
    let overflow =
        b.js("return document.documentElement.scrollWidth - document.documentElement.clientWidth", json!([]));
    assert!(overflow.as_i64().unwrap() <= 0, "horizontal overflow at 360 px: {overflow}");
    // Keyboard: every control can take focus, and each has a visible label.
    let unlabeled = b.js(
        "return [...document.querySelectorAll('input, select')].filter(i => !i.id || !document.querySelector(`label[for='${i.id}']`)).length",
        json!([]),
    );
    assert_eq!(unlabeled, 0);
    b.screenshot(&screenshot_dir().join("console-360x780.png"));
    // Forgetting the token brings the prompt back too.
    b.click("#forget");
    b.wait_for("the prompt", "return !document.getElementById('login').hidden");
    assert!(b.js("return sessionStorage.length", json!([])) == 0);
}
