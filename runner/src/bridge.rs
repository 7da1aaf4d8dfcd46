//! The privilege bridge between an unprivileged caller (the console's
//! dynamic user) and the root runner: `serve` listens on a Unix socket that
//! only root and one group may connect to (mode 0660, and a directory only
//! root can write), takes one JSON request per connection, checks it exactly
//! as `run` checks its flags, runs it, and answers with the artifact and the
//! exit code; `submit` is the caller's side. The socket's file permissions
//! are the access control; the peer's uid and pid (`SO_PEERCRED`) are logged
//! with each request. Nothing on the wire is a secret.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::request::Request;

/// Where `serve` listens and `submit` connects by default.
pub const DEFAULT_SOCKET: &str = "/run/openclaw-runner/runner.sock";

/// Largest request accepted.
pub const MAX_REQUEST: u64 = 64 * 1024;

/// Most requests served at once; more wait in the socket's backlog.
pub const MAX_CONCURRENT: usize = 8;

/// How long a client has to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// One request on the wire (one JSON line).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireRequest {
    /// The job's name.
    pub job: String,
    /// The repo's name, for a job that runs on one.
    #[serde(default)]
    pub repo: Option<String>,
    /// The commit id.
    #[serde(default)]
    pub sha: Option<String>,
    /// `KEY=VALUE` parameters, in order.
    #[serde(default)]
    pub params: Vec<String>,
}

/// One answer on the wire (one JSON document, then the server closes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WireAnswer {
    /// The exit code `run` would have had: 0, 1 or 2.
    pub exit_code: u8,
    /// The run's artifact.json, when the run got that far.
    pub artifact: Option<Value>,
    /// Why there is no artifact (a refusal before the run, or a bad request).
    pub error: Option<String>,
}

impl From<WireRequest> for Request {
    fn from(w: WireRequest) -> Request {
        Request { job: w.job, repo: w.repo, sha: w.sha, params: w.params }
    }
}

/// Parses one request line; the text of a bad one is never repeated.
pub fn parse_request(bytes: &[u8]) -> Result<WireRequest, String> {
    serde_json::from_slice(bytes)
        .map_err(|_| "the request is not one JSON object of {job, repo, sha, params}".to_owned())
}

/// Binds the socket at `path` for root and `gid`: the directory must exist,
/// be owned by root and writable by no one else; a stale socket is replaced.
pub fn bind(path: &Path, gid: Option<u32>) -> Result<UnixListener, String> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).ok_or("the socket needs a directory")?;
    let meta = std::fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    use std::os::unix::fs::MetadataExt;
    if !meta.is_dir() || meta.uid() != 0 || meta.mode() & 0o022 != 0 {
        return Err(format!(
            "{}: the socket's directory must be a directory owned by root and writable by no one else (chown root {0}; chmod 0750 {0})",
            dir.display()
        ));
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?
        }
        Ok(_) => return Err(format!("{}: exists and is not a socket; refusing to replace it", path.display())),
        Err(_) => {}
    }
    // Bound under a private name, given its owner and mode, then renamed
    // into place: the socket never exists at `path` with the umask's mode,
    // and it is listening by the time it appears there.
    let staging = dir.join(format!(
        ".{}.{}.new",
        path.file_name().map_or("socket".into(), |n| n.to_string_lossy()),
        std::process::id()
    ));
    let _ = std::fs::remove_file(&staging);
    let listener = UnixListener::bind(&staging).map_err(|e| format!("{}: {e}", staging.display()))?;
    let placed = (|| -> std::io::Result<()> {
        if let Some(gid) = gid {
            rustix::fs::chown(&staging, None, Some(rustix::fs::Gid::from_raw(gid)))?;
        }
        let mode = if gid.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(mode))?;
        std::fs::rename(&staging, path)
    })();
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&staging);
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(listener)
}

use std::os::unix::fs::FileTypeExt;

/// The gid of group `name` in `/etc/group`-shaped `text`, read strictly:
/// four fields per line, a numeric gid, the name exactly once.
pub fn group_gid(text: &str, name: &str) -> Result<u32, String> {
    let groups = crate::passwd::parse_groups(text)?;
    let mut found = groups.iter().filter(|(g, _)| g == name).map(|(_, gid)| *gid);
    match (found.next(), found.next()) {
        (Some(gid), None) => Ok(gid),
        (Some(_), Some(_)) => Err(format!("group `{name}` is defined twice in /etc/group")),
        (None, _) => Err(format!("no group `{name}` in /etc/group (create it: groupadd --system {name})")),
    }
}

/// Reads one request from a connection (bounded in size and time).
pub fn read_request(stream: &UnixStream) -> Result<WireRequest, String> {
    stream.set_read_timeout(Some(READ_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut line = Vec::new();
    BufReader::new(stream.take(MAX_REQUEST + 1))
        .read_until(b'\n', &mut line)
        .map_err(|e| format!("reading the request: {e}"))?;
    if line.len() as u64 > MAX_REQUEST {
        return Err(format!("the request is larger than {MAX_REQUEST} bytes"));
    }
    parse_request(&line)
}

/// Writes the answer and closes.
pub fn write_answer(mut stream: &UnixStream, answer: &WireAnswer) {
    let mut text = serde_json::to_vec(answer).unwrap_or_default();
    text.push(b'\n');
    let _ = stream.write_all(&text);
}

/// The peer's uid and pid, for the log.
pub fn peer(stream: &UnixStream) -> String {
    match rustix::net::sockopt::socket_peercred(stream) {
        Ok(c) => format!("uid {} pid {}", c.uid.as_raw(), c.pid.as_raw_nonzero()),
        Err(_) => "an unknown peer".to_owned(),
    }
}

/// Turns one request (and a description of its peer) into an answer.
pub type Handler = dyn Fn(WireRequest, &str) -> WireAnswer + Send + Sync;

/// Serves until the listener fails: each connection on its own thread, at
/// most [`MAX_CONCURRENT`] at once; `handle` turns a request into an answer.
pub fn serve(listener: UnixListener, handle: Arc<Handler>) -> Result<(), String> {
    let busy = Arc::new(AtomicUsize::new(0));
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            Err(e) => return Err(format!("accept: {e}")),
        };
        while busy.load(Ordering::SeqCst) >= MAX_CONCURRENT {
            std::thread::sleep(Duration::from_millis(20));
        }
        busy.fetch_add(1, Ordering::SeqCst);
        let (busy, handle) = (Arc::clone(&busy), Arc::clone(&handle));
        std::thread::spawn(move || {
            let who = peer(&stream);
            let answer = match read_request(&stream) {
                Ok(req) => handle(req, &who),
                Err(error) => WireAnswer { exit_code: 2, artifact: None, error: Some(error) },
            };
            write_answer(&stream, &answer);
            busy.fetch_sub(1, Ordering::SeqCst);
        });
    }
    Ok(())
}

/// Runs one request as its own `openclaw-runner run --format json` process
/// (this program, with this process's environment, `--config` and the path
/// flags `serve` was given in `paths`), each value as one `--flag=VALUE`
/// argument so none can be read as a flag.
pub fn run_child(program: &Path, config: Option<&Path>, paths: &[String], req: &WireRequest) -> WireAnswer {
    let mut cmd = std::process::Command::new(program);
    if let Some(c) = config {
        cmd.arg(format!("--config={}", c.display()));
    }
    cmd.args(paths);
    cmd.arg("run").arg(format!("--job={}", req.job)).arg("--format=json");
    if let Some(r) = &req.repo {
        cmd.arg(format!("--repo={r}"));
    }
    if let Some(sha) = &req.sha {
        cmd.arg(format!("--sha={sha}"));
    }
    for p in &req.params {
        cmd.arg(format!("--param={p}"));
    }
    let out = match cmd.stdin(std::process::Stdio::null()).output() {
        Ok(o) => o,
        Err(e) => return WireAnswer { exit_code: 2, artifact: None, error: Some(format!("cannot start a run: {e}")) },
    };
    let exit_code = match out.status.code() {
        Some(c @ 0..=2) => c as u8,
        _ => 2,
    };
    let artifact = serde_json::from_slice::<Value>(&out.stdout).ok();
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    WireAnswer { exit_code, artifact, error: (!stderr.is_empty()).then_some(stderr) }
}

/// The caller's side: sends `req` to the socket at `path` and waits for the answer.
pub fn submit(path: &Path, req: &WireRequest) -> Result<WireAnswer, String> {
    let mut stream = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot reach the runner at {}: {e} (is openclaw-runner-bridge running, and is this user in its group?)",
            path.display()
        )
    })?;
    let mut line = serde_json::to_vec(req).map_err(|e| e.to_string())?;
    line.push(b'\n');
    stream.write_all(&line).map_err(|e| format!("sending the request: {e}"))?;
    let mut text = Vec::new();
    stream.take(64 * 1024 * 1024).read_to_end(&mut text).map_err(|e| format!("reading the answer: {e}"))?;
    serde_json::from_slice(&text).map_err(|_| "the runner's answer is not the documented JSON".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_read_strictly() {
        let text = "root:x:0:\nopenclaw-runner:x:998:\n";
        assert_eq!(group_gid(text, "openclaw-runner"), Ok(998));
        assert!(group_gid(text, "nope").unwrap_err().contains("groupadd"));
        assert!(group_gid("a:x:1:\na:x:2:\n", "a").is_err(), "twice");
        assert!(group_gid("a:x:one:\n", "a").is_err());
        assert!(group_gid("a:x:1\n", "a").is_err());
    }

    #[test]
    fn requests_are_strict_json() {
        let r = parse_request(br#"{"job":"selftest","repo":"app","sha":"ab","params":["k=v"]}"#).unwrap();
        assert_eq!((r.job.as_str(), r.repo.as_deref(), r.params.len()), ("selftest", Some("app"), 1));
        assert!(parse_request(br#"{"job":"x"}"#).is_ok());
        for bad in [&b""[..], b"[]", br#"{"job":1}"#, br#"{"job":"x","argv":["/bin/sh"]}"#, br#"{"repo":"app"}"#] {
            let e = parse_request(bad).unwrap_err();
            assert!(!e.contains("/bin/sh"), "{e}");
        }
    }
}
