//! Fuzzes the runner's readers of untrusted input: the allowlist loader
//! (operator TOML), a `run` request (caller arguments), `/etc/passwd`,
//! `/etc/group`, `/etc/subuid`, a task's `/proc` status (its name is the
//! job's), the job's stderr (keyctl's line taken off) and the path
//! escaping of the mutation report. No input may panic; an
//! allowlist that loads holds only valid names, safe URLs, plain branches,
//! absolute programs, bounded timeouts and never a default `run_as` with
//! the runner's uid; an accepted request names an allowlisted job and a
//! well-formed SHA; an escaped path is printable ASCII without a raw
//! backslash escape being forgeable.
#![no_main]

use std::path::Path;

use common::config::Document;
use libfuzzer_sys::fuzz_target;
use runner::config::{Host, RunnerConfig};
use runner::passwd::User;
use runner::request::{Request, check};
use runner::validate::{check_url, valid_branch, valid_name, valid_sha};

fuzz_target!(|data: &[u8]| {
    // A job's stderr: only keyctl's own first line may go, nothing else.
    let kept = runner::job::strip_keyctl_line(data);
    assert!(data.ends_with(kept) && (kept.len() == data.len() || data.starts_with(b"Joined session keyring: ")));
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = runner::passwd::parse("passwd", text);
    let _ = runner::passwd::parse_groups(text);
    let _ = runner::identity::parse_subordinate(text);
    // A task's status, whose Name line the job chooses.
    let _ = runner::identity::ids_in_status(text).count();
    let escaped = runner::manifest::escape(data);
    assert!(escaped.bytes().all(|b| (0x20..0x7f).contains(&b)));
    let user = |n: &str| match n {
        "root" => Some(User { name: "root".into(), uid: 0, gid: 0 }),
        "nobody" => Some(User { name: "nobody".into(), uid: 65534, gid: 65534 }),
        _ => None,
    };
    let ok = |_: &Path| Ok(());
    let host = Host { user: &user, program_ok: &ok, euid: 0 };
    let (toml_part, req_part) = text.split_once("\n---\n").unwrap_or((text, ""));
    let doc = Document::from_text(Path::new("runner.toml"), toml_part);
    let Ok(cfg) = RunnerConfig::parse(&doc, &host) else { return };
    assert!(!cfg.run_as.is_root());
    for r in &cfg.repos {
        assert!(valid_name(&r.name) && check_url(&r.url).is_ok());
        assert!(r.allowed_branches.iter().all(|b| valid_branch(b)));
    }
    for j in &cfg.jobs {
        assert!(valid_name(&j.name) && Path::new(&j.argv[0]).is_absolute());
        assert!(j.timeout.as_secs() >= 1 && j.timeout.as_secs() <= 86_400);
    }
    let mut fields = req_part.split('\n');
    let req = Request {
        job: fields.next().unwrap_or("").to_owned(),
        repo: fields.next().map(str::to_owned),
        sha: fields.next().map(str::to_owned),
        params: fields.map(str::to_owned).collect(),
    };
    if let Ok(v) = check(&cfg, &req) {
        assert!(cfg.job(&v.job.name).is_some());
        if let Some((repo, sha)) = &v.target {
            assert!(valid_sha(sha) && cfg.repo(&repo.name).is_some());
        }
    }
});
