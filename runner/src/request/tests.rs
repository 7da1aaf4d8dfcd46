//! Unit tests of request validation: each refusal, and that no refusal
//! echoes the caller's rejected value.

use std::path::Path;

use common::config::Document;

use super::*;
use crate::config::Host;
use crate::passwd::User;

fn cfg() -> RunnerConfig {
    let text = r#"
[[repo]]
name = "app"
url = "file:///srv/git/app.git"
allowed_branches = ["main"]

[[job]]
name = "selftest"
argv = ["/usr/bin/make", "test"]
timeout_sec = 600

[job.params.target]
type = "enum"
values = ["unit", "e2e"]

[[job]]
name = "noop"
argv = ["/bin/true"]
timeout_sec = 5
requires_repo = false
"#;
    let user = |n: &str| (n == "nobody").then(|| User { name: "nobody".into(), uid: 65534, gid: 65534 });
    let ok = |_: &Path| Ok(());
    RunnerConfig::parse(
        &Document::from_text(Path::new("r.toml"), text),
        &Host { user: &user, program_ok: &ok, euid: 0 },
    )
    .unwrap()
}

fn req(job: &str, repo: Option<&str>, sha: Option<&str>, params: &[&str]) -> Request {
    Request {
        job: job.into(),
        repo: repo.map(Into::into),
        sha: sha.map(Into::into),
        params: params.iter().map(|p| (*p).to_owned()).collect(),
    }
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

#[test]
fn a_good_request_passes() {
    let cfg = cfg();
    let v = check(&cfg, &req("selftest", Some("app"), Some(SHA), &["target=unit"])).unwrap();
    assert_eq!(v.job.name, "selftest");
    assert_eq!(v.target.as_ref().unwrap().1, SHA);
    assert_eq!(v.params.get("target").map(String::as_str), Some("unit"));
    assert!(check(&cfg, &req("noop", None, None, &[])).unwrap().target.is_none());
}

#[test]
fn each_bad_request_is_refused_without_echoing_it() {
    let cfg = cfg();
    for (r, needle, hostile) in [
        (req("ghost", Some("app"), Some(SHA), &[]), "unknown job", "ghost"),
        (req("../selftest", Some("app"), Some(SHA), &[]), "unknown job", "../"),
        (req("selftest", Some("../x"), Some(SHA), &[]), "unknown repo", "../x"),
        (req("selftest", Some("other"), Some(SHA), &[]), "unknown repo", "other"),
        (req("selftest", Some("app"), Some("--upload-pack=x"), &[]), "--sha must be", "upload-pack"),
        (req("selftest", Some("app"), Some(&SHA.to_uppercase()), &[]), "--sha must be", "ABCDEF"),
        (req("selftest", None, None, &[]), "give --repo and --sha", "\u{0}"),
        (req("noop", Some("app"), Some(SHA), &[]), "does not run on a repo", "\u{0}"),
        (req("selftest", Some("app"), Some(SHA), &["evil=1"]), "unknown parameter", "evil"),
        (req("selftest", Some("app"), Some(SHA), &["target=prod"]), "must be one of unit, e2e", "prod"),
        (req("selftest", Some("app"), Some(SHA), &["target"]), "KEY=VALUE", "\u{0}"),
        (req("selftest", Some("app"), Some(SHA), &["target=unit", "target=e2e"]), "more than once", "\u{0}"),
    ] {
        let e = check(&cfg, &r).unwrap_err().to_string();
        assert!(e.contains(needle), "{needle:?} not in {e}");
        assert!(!e.contains(hostile), "{e} echoes {hostile:?}");
    }
}
