//! `openclaw-guard`: the regression loop of contract §1 and §6.
//!
//! One `run` is one tick: under the run-dir lock it runs the doctor
//! (`openclaw-doctor --format json`, its documented JSON), turns the report
//! into findings through the remediation [`registry`], gathers the Tailscale
//! [`interlock`] when a finding could need sshd touched, decides with the
//! pure [`plan`] over the report, the guard's [`state`], the interlock, the
//! time and the [`budget`] rules, then notifies through `openclaw-notify`,
//! writes the guard log, the state and one audit record. `status` reads the
//! state back.
//!
//! Allowed remediations (`ssh-tailnet-only` behind the interlock with a
//! dead-man rollback, `cups-localhost`) run in the tick, then the doctor
//! runs again and [`plan::conclude`] judges each attempt. `fix`, `confirm`
//! and `rollback` run the same code for an operator and for the dead-man.
//!
//! Shape: `cli` (arguments, settings) → `tick`/`fixcmd` (flows, exit codes)
//! → `doctor`/`interlock`/`notify`/`fix::host` gather facts and act through
//! `common::process` → the pure `plan`, `budget`, `registry`,
//! `interlock::judge` and `fix::sshd_config` decide → `log`, `state` and
//! `render` (the only output) write.

pub mod budget;
mod cli;
pub mod doctor;
pub mod fix;
mod fixcmd;
pub mod interlock;
mod log;
pub mod notify;
pub mod plan;
pub mod registry;
mod render;
pub mod report;
mod settings;
pub mod state;
pub mod tailnet_path;
mod tick;

pub use cli::{Cli, main_with_args};

pub(crate) const TOOL: &str = "openclaw-guard";
pub(crate) const SCHEMA_VERSION: u32 = 1;
pub(crate) const INFO: common::cli::ToolInfo =
    common::cli::ToolInfo { name: TOOL, version: env!("CARGO_PKG_VERSION"), schema_version: SCHEMA_VERSION };

/// Entry points for `cargo fuzz` (see `fuzz/`): the guard's readers of the
/// doctor's report (its firewall's tailnet verdicts too), `tailscale status
/// --json`, `tailscale debug prefs` and `debug netmap`, `sshd -T` and
/// `systemctl list-unit-files`, and the fixes' planners of sshd (both
/// phases) and CUPS edits, with the invariants that keep them fail-closed.
pub mod fuzzing {
    use std::collections::BTreeSet;
    use std::net::Ipv4Addr;

    use crate::interlock::{Facts, TailscaleAnswer, Verdict, judge};

    /// Feeds `data` to every reader; panics only if an invariant breaks.
    pub fn inputs(data: &[u8]) {
        let Some((&selector, rest)) = data.split_first() else { return };
        // The doctor's report: a readable one always has a failing check when it fails.
        let code = [Some(0), Some(1), Some(2), None][usize::from(selector % 4)];
        let report = crate::doctor::parse(code, rest, "").ok();
        if let Some(report) = &report {
            assert_eq!(report.tool, "openclaw-doctor");
            assert!(matches!(code, Some(0) | Some(1)));
            let findings = crate::registry::findings(report);
            assert_eq!(findings.is_empty(), report.checks.iter().all(|c| !c.is_failing()));
            assert!(findings.iter().all(|f| !f.key.is_empty()));
        }
        tailnet_path(report.as_ref(), rest, selector);
        // The interlock opens only for a 100.64/10 address that is local.
        let local: BTreeSet<Ipv4Addr> = if selector & 4 != 0 {
            [Ipv4Addr::LOCALHOST, Ipv4Addr::new(100, 101, 102, 103)].into()
        } else {
            [Ipv4Addr::LOCALHOST].into()
        };
        let facts = Facts { tailscale: TailscaleAnswer::Output(rest.to_vec()), local_v4: Ok(local.clone()) };
        if let Verdict::Open { tailnet_ip } = judge(&facts) {
            let [a, b, ..] = tailnet_ip.octets();
            assert!(a == 100 && (64..=127).contains(&b) && local.contains(&tailnet_ip));
        }
        fixes(&String::from_utf8_lossy(rest));
    }

    /// The tailnet path is proven only with a login on it, the firewall
    /// certainly admitting it on every interface it judged, and the shields
    /// down.
    fn tailnet_path(report: Option<&crate::doctor::DoctorReport>, rest: &[u8], selector: u8) {
        use crate::tailnet_path::{Evidence, PathFacts, firewall_rows, judge, parse_netmap, parse_prefs};
        let ip = Ipv4Addr::new(100, 101, 102, 103);
        let facts = PathFacts {
            established: Ok(Vec::new()),
            locals: Ok(Vec::new()),
            firewall: firewall_rows(report),
            shields_up: parse_prefs(rest),
            packet_filter: parse_netmap(rest),
        };
        let login = (selector & 8 != 0).then(|| Evidence {
            local: (ip, 22).into(),
            remote: (Ipv4Addr::new(100, 64, 0, 5), 50000).into(),
            seen_at: 0,
            session: "sshd: op@pts/0".into(),
        });
        if let Ok(proof) = judge(&facts, login.as_ref(), ip, &[22, 2222], 60) {
            assert_eq!(facts.shields_up, Ok(false));
            let port = proof.login.local.port();
            let rows: Vec<_> = facts.firewall.iter().flatten().filter(|r| r.address == ip && r.port == port).collect();
            assert!(!rows.is_empty() && rows.iter().all(|r| r.verdict == "accepted"));
        }
    }

    /// The fixes' pure parts: planning is idempotent (the planned text
    /// plans nothing more) and leaves no conflicting directive active.
    fn fixes(text: &str) {
        use std::path::{Path, PathBuf};

        use crate::fix::sshd_config::{ConfigFile, DROPIN_NAME, parse_effective, plan_edits};
        if let Ok(e) = parse_effective(text) {
            assert!(!e.listen.is_empty());
        }
        let ip = Ipv4Addr::new(100, 101, 102, 103);
        let dir = Path::new("/s/sshd_config.d");
        let main = ConfigFile { path: PathBuf::from("/s/sshd_config"), text: Some(text.to_owned()) };
        let other = ConfigFile { path: dir.join("10-x.conf"), text: Some(text.to_owned()) };
        let edits = plan_edits(&main, std::slice::from_ref(&other), dir, ip, &[22, 2222], "T");
        let after =
            |f: &ConfigFile| edits.iter().find(|e| e.path == f.path).map_or(f.text.clone(), |e| Some(e.text.clone()));
        let main2 = ConfigFile { path: main.path.clone(), text: after(&main) };
        let mut others2 = vec![ConfigFile { path: other.path.clone(), text: after(&other) }];
        if let Some(d) = edits.iter().find(|e| e.path == dir.join(DROPIN_NAME)) {
            others2.push(ConfigFile { path: d.path.clone(), text: Some(d.text.clone()) });
        }
        assert!(plan_edits(&main2, &others2, dir, ip, &[22, 2222], "T2").is_empty(), "planning is idempotent");
        // Phase 1 only adds: every active line stays, and it is idempotent too.
        let add = crate::fix::sshd_config::plan_add_tailnet(&main, std::slice::from_ref(&other), dir, ip, &[22], "T");
        for e in &add {
            let before = if e.path == main.path { text } else { "" };
            let kept = before.lines().filter(|l| crate::fix::sshd_config::is_active(l)).all(|l| e.text.contains(l));
            assert!(kept, "phase 1 removed a line");
        }
        let main3 = ConfigFile {
            path: main.path.clone(),
            text: add.iter().find(|e| e.path == main.path).map_or(main.text.clone(), |e| Some(e.text.clone())),
        };
        let mut others3 = vec![other.clone()];
        if let Some(d) = add.iter().find(|e| e.path == dir.join(DROPIN_NAME)) {
            others3.push(ConfigFile { path: d.path.clone(), text: Some(d.text.clone()) });
        }
        let again = crate::fix::sshd_config::plan_add_tailnet(&main3, &others3, dir, ip, &[22], "T2");
        assert!(again.is_empty(), "phase 1 planning is idempotent");
        if let Some(conf) = crate::fix::cups::plan_conf(text, "T") {
            assert_eq!(crate::fix::cups::plan_conf(&conf, "T2"), None, "cups planning is idempotent");
        }
        let _ = crate::fix::host::parse_unit_files(text);
    }

    #[cfg(test)]
    mod tests {
        /// The recorded fixtures pass through every reader under every selector.
        #[test]
        fn fixtures_hold_the_invariants() {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
            let mut files: Vec<_> =
                std::fs::read_dir(dir.join("tailscale")).unwrap().map(|e| e.unwrap().path()).collect();
            files.extend(["doctor_pass.json", "doctor_fail_sshd.json"].map(|f| dir.join(f)));
            for f in files {
                let bytes = std::fs::read(&f).unwrap();
                for selector in 0..16u8 {
                    super::inputs(&[&[selector], bytes.as_slice()].concat());
                }
            }
        }
    }
}

/// The command-line definition, for generating man pages and shell
/// completions (the package build); parsing goes through `main_with_args`.
pub fn command() -> clap::Command {
    <Cli as clap::CommandFactory>::command()
}
