//! `openclaw-doctor evidence`: a bundle written whether the run passed or failed.

use std::path::{Path, PathBuf};

use common::artifacts::{new_run_dir, write_atomic};
use common::audit::AuditLog;
use common::private_path::{self, Class, OpenSpec};
use serde_json::json;

use crate::report::Report;

const README: &str = "OpenClaw evidence bundle, written by `openclaw-doctor evidence` whether the run passed or failed.

doctor.json         the full doctor report (docs/doctor.md describes the schema)
summary.json        result, exit code and each check's status
listeners.json      every listening socket with classification, verdict and owner
sshd_effective.json the security-relevant subset of `sshd -T`
firewall.txt        `ufw status verbose`, `nft -j list ruleset` and legacy iptables-save output, as read by the doctor
docker_ports.json   every Docker published binding and whether it is allowed
audit.jsonl         a copy of the shared audit log (hashes only, no parameters)
audit.jsonl.checkpoint  a copy of its checkpoint

No secret is ever written here. The secret-files check reads metadata only;
the keys check resolves each key in memory to report its source and a masked
fingerprint, and no value reaches a report, this bundle or a log.
";

/// Writes the bundle under `<root>/evidence/<stamp>_<host>/` and returns its path.
pub(crate) fn write(
    root: &Path,
    report: &Report,
    exit_code: u8,
    now: time::OffsetDateTime,
    audit: &AuditLog,
) -> std::io::Result<PathBuf> {
    let dir = new_run_dir(root, "evidence", Some(&report.host), now)?;
    let details = |id: &str| {
        report.checks.iter().find(|c| c.id == id).map(|c| c.details.to_value()).unwrap_or(serde_json::Value::Null)
    };
    let pretty = |v: &serde_json::Value| format!("{}\n", serde_json::to_string_pretty(v).unwrap_or_default());
    write_atomic(&dir.join("doctor.json"), report.to_json().as_bytes())?;
    write_atomic(&dir.join("listeners.json"), pretty(&details("listeners")).as_bytes())?;
    write_atomic(&dir.join("sshd_effective.json"), pretty(&details("sshd")["settings"]).as_bytes())?;
    let firewall = details("firewall");
    let firewall_text = firewall["raw"]
        .as_str()
        .map_or_else(|| "firewall state not read (see doctor.json)\n".to_owned(), str::to_owned);
    write_atomic(&dir.join("firewall.txt"), firewall_text.as_bytes())?;
    write_atomic(&dir.join("docker_ports.json"), pretty(&details("docker-ports")).as_bytes())?;
    let checks: serde_json::Map<String, serde_json::Value> =
        report.checks.iter().map(|c| (c.id.to_owned(), json!(c.status))).collect();
    let summary = json!({
        "schema_version": 1, "timestamp": report.started_at, "hostname": report.host, "result": report.result,
        "doctor_exit": exit_code, "checks": checks, "artifact_path": dir.display().to_string(),
    });
    write_atomic(&dir.join("summary.json"), pretty(&summary).as_bytes())?;
    // The audit log and checkpoint as they are now (they hold hashes, never
    // parameters or secrets): the copy to keep before any recovery.
    for (name, path) in [("audit.jsonl", audit.path()), ("audit.jsonl.checkpoint", audit.checkpoint_path())] {
        let copy = match private_path::open_file(path, OpenSpec::read(Class::Private)) {
            Ok(Some(mut f)) => {
                let mut bytes = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut bytes)?;
                bytes
            }
            Ok(None) => format!("(no file at {})\n", path.display()).into_bytes(),
            Err(e) => format!("(not copied: {e})\n").into_bytes(),
        };
        write_atomic(&dir.join(name), &copy)?;
    }
    write_atomic(&dir.join("README.txt"), README.as_bytes())?;
    Ok(dir)
}
