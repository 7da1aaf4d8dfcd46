//! Unit tests of the allowlist loader: the binding shape parses; bad
//! entries are refused with their location; run_as never names the
//! worktree owner except through the per-job root override.

use std::path::Path;

use super::*;
use crate::passwd::User;

const EUID: u32 = 0;

fn user(name: &str) -> Option<User> {
    match name {
        "root" => Some(User { name: "root".into(), uid: 0, gid: 0 }),
        "nobody" => Some(User { name: "nobody".into(), uid: 65534, gid: 65534 }),
        "toor" => Some(User { name: "toor".into(), uid: 0, gid: 0 }),
        _ => None,
    }
}

fn parse(text: &str) -> Result<RunnerConfig, ConfigError> {
    let doc = Document::from_text(Path::new("/etc/openclaw/runner.toml"), text);
    let program_ok = |p: &Path| if p == Path::new("/untrusted") { Err("mode 0777".to_owned()) } else { Ok(()) };
    RunnerConfig::parse(&doc, &Host { user: &user, program_ok: &program_ok, euid: EUID })
}

const GOOD: &str = r#"
run_as = "nobody"              # default uid for jobs; never the worktree's owner

[[repo]]
name = "app"                   # [a-z0-9._-]{1,64}
url = "file:///srv/git/app.git"
allowed_branches = ["main"]

[[job]]
name = "selftest"
argv = ["/usr/bin/make", "test"]   # exact; the caller cannot change it
timeout_sec = 600
requires_repo = true
run_as = "root"                # optional per-job override

[job.params.target]
type = "enum"
values = ["unit", "e2e"]
"#;

#[test]
fn the_binding_shape_parses() {
    let cfg = parse(GOOD).unwrap();
    assert_eq!(cfg.run_as, RunAs::User(User { name: "nobody".into(), uid: 65534, gid: 65534 }));
    let job = cfg.job("selftest").unwrap();
    assert_eq!(job.argv, ["/usr/bin/make", "test"]);
    assert_eq!(job.timeout, Duration::from_secs(600));
    assert!(job.run_as.is_root());
    assert_eq!(job.params.len(), 1);
    assert_eq!(cfg.repo("app").unwrap().allowed_branches, ["main"]);
    assert!(cfg.repo("App").is_none() && cfg.job("selftest ").is_none());
    assert_eq!(cfg.hash.len(), 64);
    assert!(!job.network, "a job is off the host's network unless it asks");
}

#[test]
fn network_is_a_per_job_boolean() {
    let job = "[[job]]\nname = \"j\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\n";
    assert!(parse(&format!("{job}network = true\n")).unwrap().job("j").unwrap().network);
    assert!(!parse(&format!("{job}network = false\n")).unwrap().job("j").unwrap().network);
    assert!(err(&format!("{job}network = \"yes\"\n")).contains("invalid type"));
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn bad_entries_are_refused_with_file_line_and_reason() {
    let job = "[[job]]\nname = \"j\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\n";
    let repo = |fields: &str| format!("[[repo]]\n{fields}\n{job}");
    for (text, needle) in [
        (format!("run_as = \"root\"\n{job}"), ":1:10: run_as `root` has uid 0"),
        (format!("run_as = \"ghost\"\n{job}"), "no user `ghost`"),
        (format!("{job}run_as = \"toor\"\n"), "run_as `toor` has uid 0"),
        (repo("name = \"../x\"\nurl = \"file:///a\"\nallowed_branches = [\"main\"]"), "repo name must be"),
        (repo("name = \"x\"\nurl = \"ext::sh\"\nallowed_branches = [\"main\"]"), "must start with file://"),
        (repo("name = \"x\"\nurl = \"file:///a\"\nallowed_branches = [\"-x\"]"), "plain branch names"),
        (repo("name = \"x\"\nurl = \"file:///a\"\nallowed_branches = []"), "plain branch names"),
        (
            repo("name = \"x\"\nurl = \"file:///a\"\nallowed_branches = [\"main\"]\nmirror = \"/tmp\""),
            "unknown field `mirror`",
        ),
        ("[[job]]\nname = \"j\"\nargv = [\"make\"]\ntimeout_sec = 5\n".into(), "absolute path"),
        ("[[job]]\nname = \"j\"\nargv = [\"/untrusted\"]\ntimeout_sec = 5\n".into(), "cannot be trusted: mode 0777"),
        ("[[job]]\nname = \"j\"\nargv = [\"/bin/true\"]\ntimeout_sec = 0\n".into(), "timeout_sec must be"),
        ("[[job]]\nname = \"J\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\n".into(), "job name must be"),
        (format!("{job}{job}"), "defined twice"),
        (format!("{job}shell = true\n"), "unknown field `shell`"),
        (format!("{job}[job.params.p]\ntype = \"string\"\nmax_len = 5\n"), "needs `pattern`"),
        ("".into(), "holds no [[job]]"),
        ("[[jobs]]\n".into(), "unknown field `jobs`"),
    ] {
        let e = err(&text);
        assert!(e.contains(needle), "{needle:?} not in {e}\n{text}");
        assert!(e.starts_with("/etc/openclaw/runner.toml:"), "{e}");
    }
}

#[test]
fn only_root_by_that_name_overrides_per_job() {
    let cfg = parse("[[job]]\nname = \"j\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\nrun_as = \"root\"\n").unwrap();
    assert!(cfg.job("j").unwrap().run_as.is_root());
    assert_eq!(cfg.run_as, RunAs::Dynamic, "a file that names no run_as gets a uid per run");
}

#[test]
fn dynamic_is_a_keyword_at_both_levels() {
    let job = "[[job]]\nname = \"j\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5\n";
    let cfg = parse(&format!("run_as = \"nobody\"\n{job}run_as = \"dynamic\"\n")).unwrap();
    assert_eq!(cfg.job("j").unwrap().run_as, RunAs::Dynamic);
    assert_eq!(cfg.run_as.label(), "nobody");
    let cfg = parse(&format!("run_as = \"dynamic\"\n{job}")).unwrap();
    assert_eq!(cfg.job("j").unwrap().run_as.label(), "dynamic");
}
