//! The guard's side of the hermetic host: a `test_support::TempHost` whose
//! PATH holds only stubs (plus `cat` and `sleep` for them), a stub doctor
//! named by `OPENCLAW_DOCTOR_BIN`, and a stub notifier named by
//! `OPENCLAW_NOTIFY_BIN` that appends each argv to `notify.argv`.

use std::path::{Path, PathBuf};
use std::process::Command;

pub(crate) use test_support::Run;

pub(crate) const GUARD: &str = env!("CARGO_BIN_EXE_openclaw-guard");

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

pub(crate) struct Host {
    host: test_support::TempHost,
}

impl std::ops::Deref for Host {
    type Target = test_support::TempHost;
    fn deref(&self) -> &test_support::TempHost {
        &self.host
    }
}

impl Host {
    /// A host with a short lock wait and the notifier stub in place.
    pub(crate) fn new() -> Host {
        let host = test_support::TempHost::with_stub_path(&["cat", "sleep", "touch"]);
        host.write_config("[guard]\nlock_wait_secs = 1\ndoctor_timeout_secs = 2\ntailscale_timeout_secs = 2\n");
        let argv = host.path("notify.argv");
        host.stub(
            "notify-stub",
            &format!(
                "for a in \"$@\"; do printf '%s\\n' \"$a\" >> '{}'; done\necho --- >> '{}'",
                argv.display(),
                argv.display()
            ),
        );
        Host { host }
    }

    /// The doctor stub replays `fixture` with exit `code`, after touching `doctor.ran`.
    pub(crate) fn doctor(&self, fixture_name: &str, code: i32) {
        let ran = self.path("doctor.ran");
        self.stub(
            "doctor-stub",
            &format!("touch '{}'\ncat '{}'\nexit {code}", ran.display(), fixture(fixture_name).display()),
        );
    }

    /// A doctor stub with any script.
    pub(crate) fn doctor_script(&self, script: &str) {
        self.stub("doctor-stub", script);
    }

    /// `tailscale` on PATH replays a recorded status with exit `code` for
    /// `status --json`, and for `debug prefs` and `debug netmap` the files
    /// `ts-prefs.json` and `ts-netmap.json` in the temp dir (the recorded
    /// `prefs.json` and `netmap.json` unless a test puts others there).
    pub(crate) fn tailscale(&self, fixture_name: &str, code: i32) {
        for (name, default) in [("ts-prefs.json", "prefs.json"), ("ts-netmap.json", "netmap.json")] {
            if !self.path(name).exists() {
                std::fs::copy(fixture(&format!("tailscale/{default}")), self.path(name)).unwrap();
            }
        }
        let script = format!(
            "case \"$1 $2\" in\n  'debug prefs') cat '{prefs}' ;;\n  'debug netmap') cat '{netmap}' ;;\n  *) cat '{status}'; exit {code} ;;\nesac\n",
            prefs = self.path("ts-prefs.json").display(),
            netmap = self.path("ts-netmap.json").display(),
            status = fixture(&format!("tailscale/{fixture_name}")).display(),
        );
        self.stub("tailscale", &script);
    }

    /// What `tailscale debug prefs` / `debug netmap` print from now on.
    pub(crate) fn tailscale_debug(&self, prefs: &str, netmap: &str) {
        std::fs::copy(fixture(&format!("tailscale/{prefs}")), self.path("ts-prefs.json")).unwrap();
        std::fs::copy(fixture(&format!("tailscale/{netmap}")), self.path("ts-netmap.json")).unwrap();
    }

    pub(crate) fn command(&self) -> Command {
        let mut cmd = self.host.command(GUARD);
        cmd.env("OPENCLAW_DOCTOR_BIN", self.bin_dir().join("doctor-stub"))
            .env("OPENCLAW_NOTIFY_BIN", self.bin_dir().join("notify-stub"));
        cmd
    }

    pub(crate) fn run(&self, args: &[&str]) -> Run {
        test_support::run(self.command().args(args))
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.path("guard.log")).unwrap_or_default()
    }

    /// Each notifier call's argv, one list per call.
    pub(crate) fn notify_calls(&self) -> Vec<Vec<String>> {
        let text = std::fs::read_to_string(self.path("notify.argv")).unwrap_or_default();
        text.split("---\n").filter(|c| !c.is_empty()).map(|c| c.lines().map(str::to_owned).collect()).collect()
    }

    pub(crate) fn state(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.path("state/guard/state.json")).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    pub(crate) fn doctor_ran(&self) -> bool {
        self.path("doctor.ran").exists()
    }
}

/// Polls `f` for up to 10 s.
pub(crate) fn wait_for(f: impl FnMut() -> bool) -> bool {
    test_support::wait_until(std::time::Duration::from_secs(10), f)
}
