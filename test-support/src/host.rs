//! The temp host: a temp dir holding every path an OpenClaw tool touches,
//! and commands started with a cleared environment that points there.

use std::ffi::{OsStr, OsString};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::canary::{files_containing, text_of_files};

/// A temp dir standing in for the host's filesystem. Nothing is created in
/// it but the config file (empty) and, with [`TempHost::with_stub_path`],
/// `bin/`; the tools create the rest where the environment tells them.
pub struct TempHost {
    tmp: tempfile::TempDir,
    path_var: OsString,
}

/// The OpenClaw locations redirected under the temp dir, each with its
/// place relative to it (HOME and the config file are set on their own).
const REDIRECTED: [(&str, &str); 6] = [
    ("OPENCLAW_SECRETS_DIR", "secrets"),
    ("OPENCLAW_STATE_DIR", "state"),
    ("OPENCLAW_ARTIFACTS_ROOT", "artifacts"),
    ("OPENCLAW_AUDIT_LOG", "audit/audit.jsonl"),
    ("OPENCLAW_RUN_DIR", "run"),
    ("OPENCLAW_GUARD_LOG", "guard.log"),
];

impl TempHost {
    /// A host whose commands get `PATH=/usr/bin:/bin` and an empty config file.
    pub fn new() -> TempHost {
        TempHost::new_in(&std::env::temp_dir())
    }

    /// [`TempHost::new`] in a fresh directory under `parent` (a small disk).
    pub fn new_in(parent: &Path) -> TempHost {
        let tmp = tempfile::tempdir_in(parent).unwrap();
        std::fs::write(tmp.path().join("openclaw.toml"), "").unwrap();
        TempHost { tmp, path_var: OsString::from("/usr/bin:/bin") }
    }

    /// A host whose PATH is `<tmp>/bin` alone, holding links to these real
    /// utilities (what the stubs themselves need), so that a tool that is
    /// not stubbed is genuinely not installed.
    pub fn with_stub_path(real_tools: &[&str]) -> TempHost {
        let mut host = TempHost::new();
        let bin = host.bin_dir();
        std::fs::create_dir(&bin).unwrap();
        for tool in real_tools {
            let real = ["/bin", "/usr/bin"]
                .iter()
                .map(|d| Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap_or_else(|| panic!("{tool} is not installed in /bin or /usr/bin"));
            std::os::unix::fs::symlink(real, bin.join(tool)).unwrap();
        }
        host.path_var = bin.into_os_string();
        host
    }

    /// The temp dir itself.
    pub fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// `rel` under the temp dir.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.tmp.path().join(rel)
    }

    /// The config file every command is pointed at (`OPENCLAW_CONFIG`).
    pub fn config_path(&self) -> PathBuf {
        self.path("openclaw.toml")
    }

    /// Replaces the config file's text.
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }

    /// `program` with the hermetic environment and the temp dir as its
    /// working directory.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        self.hermetic(&mut cmd);
        cmd
    }

    /// Gives an existing command the hermetic environment: `env_clear()`,
    /// then PATH, HOME, `OPENCLAW_CONFIG` and every OpenClaw location under
    /// the temp dir, and the temp dir as the working directory.
    pub fn hermetic<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        cmd.env_clear()
            .env("PATH", &self.path_var)
            .env("HOME", self.tmp.path())
            .env("OPENCLAW_CONFIG", self.config_path());
        for (var, rel) in REDIRECTED {
            cmd.env(var, self.path(rel));
        }
        cmd.current_dir(self.tmp.path())
    }

    /// Where stubs go: `<tmp>/bin`.
    pub fn bin_dir(&self) -> PathBuf {
        self.path("bin")
    }

    /// Writes an executable `#!/bin/sh` stub named `name` into `<tmp>/bin`
    /// (`$@` are its arguments) and returns its path. Commands only find it
    /// on a host made by [`TempHost::with_stub_path`].
    pub fn stub(&self, name: &str, script: &str) -> PathBuf {
        let bin = self.bin_dir();
        std::fs::create_dir_all(&bin).unwrap();
        let path = bin.join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    /// A stub that prints a recorded fixture file and exits with `code`.
    pub fn stub_fixture(&self, name: &str, fixture: &Path, code: i32) -> PathBuf {
        self.stub(name, &format!("cat '{}'\nexit {code}", fixture.display()))
    }

    /// Every file under these places in the temp dir, as one text.
    pub fn text_under(&self, rels: &[&str]) -> String {
        rels.iter().map(|rel| text_of_files(&self.path(rel), &[])).collect()
    }

    /// Every file under the temp dir except below these places, as one text.
    pub fn text_except(&self, skip: &[&str]) -> String {
        let skip: Vec<PathBuf> = skip.iter().map(|rel| self.path(rel)).collect();
        text_of_files(self.tmp.path(), &skip)
    }

    /// Asserts that `canary` is in no file under the temp dir except below
    /// `skip` (where the test itself put it, e.g. `secrets`), naming the
    /// files it is in.
    pub fn assert_not_persisted(&self, canary: &str, skip: &[&str]) {
        let skip: Vec<PathBuf> = skip.iter().map(|rel| self.path(rel)).collect();
        let found = files_containing(self.tmp.path(), &skip, canary);
        assert!(found.is_empty(), "the canary was persisted in {found:?}");
    }
}

impl Default for TempHost {
    fn default() -> TempHost {
        TempHost::new()
    }
}
