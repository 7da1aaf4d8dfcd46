//! A minimal W3C WebDriver client over loopback HTTP, enough to drive
//! Debian's headless Chromium through `chromedriver`: sessions, navigation,
//! script execution, elements, keys, clicks, window size, screenshots and
//! the browser log. The driver and the browser are real; nothing is mocked.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{build, read_answer};

pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Whether the browser and its driver are installed.
pub(crate) fn available() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// A chromedriver process and one browser session.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.call("DELETE", &format!("/session/{}", self.session), None);
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn call_port(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    let bytes = body.map(|b| b.to_string()).unwrap_or_default();
    let headers: &[(&str, &str)] = if body.is_some() { &[("Content-Type", "application/json")] } else { &[] };
    use std::io::Write;
    s.write_all(&build(method, path, &format!("127.0.0.1:{port}"), headers, bytes.as_bytes()))
        .map_err(|e| e.to_string())?;
    let a = read_answer(&mut s).map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_slice(&a.body).map_err(|e| format!("{e}: {}", String::from_utf8_lossy(&a.body)))?;
    if a.status != 200 {
        return Err(format!("webdriver {method} {path}: {} {v}", a.status));
    }
    Ok(v["value"].clone())
}

impl Browser {
    /// Starts chromedriver and a headless Chromium at `width`×`height`.
    pub(crate) fn start(width: u32, height: u32) -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while call_port(port, "GET", "/status", None).is_err() {
            assert!(Instant::now() < until, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-dev-shm-usage".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--hide-scrollbars".into(),
            format!("--window-size={width},{height}"),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
            "goog:loggingPrefs": {"browser": "ALL"},
        }}});
        let v = call_port(port, "POST", "/session", Some(&caps)).unwrap();
        let session = v["sessionId"].as_str().unwrap().to_owned();
        let b = Browser { driver, port, session, _profile: profile };
        b.resize(width, height);
        b
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
        call_port(self.port, method, path, body)
    }

    fn s(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Sets the viewport's outer size.
    pub(crate) fn resize(&self, width: u32, height: u32) {
        self.call("POST", &self.s("/window/rect"), Some(&json!({"width": width, "height": height}))).unwrap();
    }

    /// Navigates and waits for the load.
    pub(crate) fn goto(&self, url: &str) {
        self.call("POST", &self.s("/url"), Some(&json!({"url": url}))).unwrap();
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub(crate) fn js(&self, script: &str, args: Value) -> Value {
        self.call("POST", &self.s("/execute/sync"), Some(&json!({"script": script, "args": args}))).unwrap()
    }

    /// Waits until `script` returns a truthy value; returns it.
    pub(crate) fn wait_for(&self, what: &str, script: &str) -> Value {
        let until = Instant::now() + Duration::from_secs(20);
        loop {
            let v = self.js(script, json!([]));
            if !(v.is_null() || v == false || v == "" || v == 0) {
                return v;
            }
            assert!(Instant::now() < until, "timed out waiting for {what}; page text: {}", self.text("body"));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn element(&self, css: &str) -> String {
        let v = self.call("POST", &self.s("/element"), Some(&json!({"using": "css selector", "value": css}))).unwrap();
        v[ELEMENT].as_str().unwrap().to_owned()
    }

    /// Types `text` into the element `css` (real key events).
    pub(crate) fn type_into(&self, css: &str, text: &str) {
        let e = self.element(css);
        self.call("POST", &self.s(&format!("/element/{e}/clear")), Some(&json!({}))).unwrap();
        self.call("POST", &self.s(&format!("/element/{e}/value")), Some(&json!({"text": text}))).unwrap();
    }

    /// Clicks the element `css`.
    pub(crate) fn click(&self, css: &str) {
        let e = self.element(css);
        self.call("POST", &self.s(&format!("/element/{e}/click")), Some(&json!({}))).unwrap();
    }

    /// The text content of the first element matching `css`.
    pub(crate) fn text(&self, css: &str) -> String {
        self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : '';", json!([css]))
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    /// The browser console's entries since the last call.
    pub(crate) fn console_log(&self) -> Vec<String> {
        let v = self.call("POST", &self.s("/se/log"), Some(&json!({"type": "browser"}))).unwrap_or(Value::Null);
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {}", e["level"].as_str().unwrap_or(""), e["message"].as_str().unwrap_or("")))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let v = self.call("GET", &self.s("/screenshot"), None).unwrap();
        let png = decode_base64(v.as_str().unwrap());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, png).unwrap();
    }
}

/// Standard base64 (the screenshot encoding), decoded without a dependency.
fn decode_base64(text: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in text.bytes().filter_map(val) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

/// Where screenshots go: `OPENCLAW_SCREENSHOTS_TO` (the xtask that refreshes
/// docs/console.md sets it), else the test's own directory under `target/`.
pub(crate) fn screenshot_dir() -> PathBuf {
    std::env::var_os("OPENCLAW_SCREENSHOTS_TO")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"))
}
