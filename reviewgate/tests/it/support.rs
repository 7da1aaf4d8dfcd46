//! A temp host with a real git repository, an Ed25519 reviewer key, a
//! second key that is not allowed, and an `allowed_signers` outside the
//! repository.

use std::path::PathBuf;

pub(crate) const GATE: &str = env!("CARGO_BIN_EXE_openclaw-reviewgate");

pub(crate) struct Lab {
    pub(crate) host: test_support::TempHost,
    pub(crate) repo: PathBuf,
}

pub(crate) use test_support::run_ok as sh;

impl Lab {
    pub(crate) fn new() -> Lab {
        Lab::on(test_support::TempHost::new())
    }

    /// A lab outside `/tmp` (under cargo's target directory), where the
    /// engine's jail must hide the host's home and secrets by their own
    /// covers, not by the one over `/tmp`.
    pub(crate) fn outside_tmp() -> Lab {
        Lab::on(test_support::TempHost::new_in(std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))))
    }

    fn on(host: test_support::TempHost) -> Lab {
        let repo = host.path("repo");
        std::fs::create_dir(&repo).unwrap();
        sh(&repo, "git", &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("app.py"), "print('hello')\n").unwrap();
        sh(&repo, "git", &["add", "."]);
        sh(&repo, "git", &["commit", "-q", "-m", "genesis"]);
        for key in ["reviewer", "intruder"] {
            let path = host.path(key);
            sh(host.root(), "ssh-keygen", &["-q", "-t", "ed25519", "-N", "", "-C", key, "-f", &path.to_string_lossy()]);
        }
        let public = std::fs::read_to_string(host.path("reviewer.pub")).unwrap();
        let key = public.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        std::fs::write(
            host.path("allowed_signers"),
            format!("reviewer@openclaw namespaces=\"openclaw-review-verdict\" {key}\n"),
        )
        .unwrap();
        Lab { host, repo }
    }

    pub(crate) fn git(&self, args: &[&str]) -> String {
        sh(&self.repo, "git", args)
    }

    /// Commits a code change and returns the new head and its tree.
    pub(crate) fn change(&self, file: &str, text: &str) -> (String, String) {
        std::fs::write(self.repo.join(file), text).unwrap();
        self.git(&["add", "."]);
        self.git(&["commit", "-q", "-m", &format!("change {file}")]);
        (self.git(&["rev-parse", "HEAD"]), self.git(&["rev-parse", "HEAD^{tree}"]))
    }

    /// A canonical verdict for `head`/`tree` with `edit` applied to its JSON value.
    pub(crate) fn verdict(&self, head: &str, tree: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let base = self.git(&["rev-parse", "HEAD~1"]);
        let mut v = serde_json::json!({
            "schema": "openclaw-review-verdict/v1", "repo": "origin", "base": base, "head": head, "tree": tree,
            "verdict": "APPROVED",
            "policy": {"id": "openclaw-default/v1", "min_confidence": 0.6, "max_priority_allowed": 2},
            "engine": {"name": "codex", "version": "0.63.0", "model": "gpt-5-codex"},
            "bundle_sha256": "d".repeat(64), "findings_summary": "0 findings",
            "created_at": common::time_fmt::rfc3339(common::time_fmt::now_utc()), "simulated": false,
        });
        edit(&mut v);
        common::audit::canonical_json(&v).into_bytes()
    }

    /// Writes the verdict into the working tree and signs it with `key` (real ssh-keygen).
    pub(crate) fn write_signed(&self, verdict: &[u8], key: &str) {
        let docs = self.repo.join("docs");
        std::fs::create_dir_all(&docs).unwrap();
        let file = docs.join("LAST_APPROVED_VERDICT.json");
        std::fs::write(&file, verdict).unwrap();
        let _ = std::fs::remove_file(docs.join("LAST_APPROVED_VERDICT.json.sig"));
        let keyfile = self.host.path(key);
        sh(
            &docs,
            "ssh-keygen",
            &["-Y", "sign", "-f", &keyfile.to_string_lossy(), "-n", "openclaw-review-verdict", &file.to_string_lossy()],
        );
    }

    /// Commits the verdict files alone.
    pub(crate) fn commit_verdict(&self) -> String {
        self.git(&["add", "docs"]);
        self.git(&["commit", "-q", "-m", "review verdict"]);
        self.git(&["rev-parse", "HEAD"])
    }

    /// `openclaw-reviewgate verify --rev REV` with the lab's allowed_signers.
    pub(crate) fn verify(&self, rev: &str, extra: &[&str]) -> test_support::Run {
        let mut cmd = self.host.command(GATE);
        cmd.current_dir(&self.repo).env("OPENCLAW_ALLOWED_SIGNERS", self.host.path("allowed_signers"));
        cmd.args(["verify", "--rev", rev]).args(extra);
        test_support::run(&mut cmd)
    }
}
