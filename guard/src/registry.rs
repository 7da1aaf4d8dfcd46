//! The remediation registry: the one table from a doctor finding to what
//! the guard may do about it. A finding matches an entry by the doctor's
//! check id and the structured facts of its JSON (each violating socket's
//! owner executable path and port), never by a substring of human text.
//! Anything that matches no entry is notify-only and is never fixed.

use serde::Serialize;
use serde_json::Value;

use crate::doctor::{CheckResult, DoctorReport};

/// A registered remediation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RemediationId {
    /// sshd listens on the tailnet address only.
    SshTailnetOnly,
    /// cupsd listens on loopback only, or not at all.
    CupsLocalhost,
}

impl RemediationId {
    /// The id operators type (`openclaw-guard fix <id>`).
    pub fn as_str(self) -> &'static str {
        match self {
            RemediationId::SshTailnetOnly => "ssh-tailnet-only",
            RemediationId::CupsLocalhost => "cups-localhost",
        }
    }
}

/// A precondition a remediation needs before it may touch the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Interlock {
    /// Tailscale Running and Online with a 100.64/10 address configured
    /// locally (see [`crate::interlock`]).
    TailnetUp,
}

/// How an owner's executable path is matched.
#[derive(Debug, Clone, Copy)]
pub enum ExeMatch {
    /// Exactly one of these paths.
    Exact(&'static [&'static str]),
    /// Under this directory, ending with this path (snap revisions).
    Under(&'static str, &'static str),
}

impl ExeMatch {
    fn matches(&self, exe: &str) -> bool {
        match self {
            ExeMatch::Exact(paths) => paths.contains(&exe),
            ExeMatch::Under(dir, tail) => {
                exe.starts_with(dir) && exe.ends_with(tail) && !exe.split('/').any(|c| c == "..")
            }
        }
    }
}

/// One row of the registry.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// The remediation.
    pub id: RemediationId,
    /// The doctor check whose violations it fixes.
    pub check_id: &'static str,
    /// Who must own the violating socket (every owner must match).
    pub exe: &'static [ExeMatch],
    /// The port it must be on; `None`: any (sshd's port is kept, never assumed 22).
    pub port: Option<u16>,
    /// What must hold before it may run.
    pub interlocks: &'static [Interlock],
    /// Whether it arms the dead-man rollback before it restarts anything.
    pub rollback: Rollback,
}

/// How a remediation is undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rollback {
    /// Dead-man: armed before the restart, confirmed only after verification;
    /// restores the backed-up files and the previous listener.
    DeadMan,
    /// None needed: the fix only closes access (its backup stays for an operator).
    KeepClosed,
}

/// The registry.
pub const REGISTRY: &[Entry] = &[
    Entry {
        id: RemediationId::SshTailnetOnly,
        check_id: "listeners",
        exe: &[ExeMatch::Exact(&["/usr/sbin/sshd", "/usr/bin/sshd", "/usr/local/sbin/sshd"])],
        port: None,
        interlocks: &[Interlock::TailnetUp],
        rollback: Rollback::DeadMan,
    },
    Entry {
        id: RemediationId::CupsLocalhost,
        check_id: "listeners",
        exe: &[ExeMatch::Exact(&["/usr/sbin/cupsd"]), ExeMatch::Under("/snap/cups/", "/sbin/cupsd")],
        port: Some(631),
        interlocks: &[],
        rollback: Rollback::KeepClosed,
    },
];

/// The registry entry of a remediation.
pub fn entry(id: RemediationId) -> &'static Entry {
    REGISTRY.iter().find(|e| e.id == id).expect("every remediation id has a registry entry")
}

/// Something the doctor reported that the guard tracks across ticks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable key: the check id, or `<check id>/<remediation id>` for the
    /// violations a remediation covers.
    pub key: String,
    /// The doctor check.
    pub check_id: String,
    /// The remediation that matches it, if any.
    pub remediation: Option<RemediationId>,
    /// The check's summary or the matched sockets (untrusted: escape to show).
    pub summary: String,
}

/// The violating sockets of a `listeners` result, as (exe of every owner, addr, port).
fn violating_sockets(details: &Value) -> Vec<(Vec<String>, String, u16)> {
    let Some(sockets) = details.get("sockets").and_then(Value::as_array) else { return Vec::new() };
    sockets
        .iter()
        .filter(|s| s.get("verdict").and_then(Value::as_str) == Some("violation"))
        .filter_map(|s| {
            let port = u16::try_from(s.get("port")?.as_u64()?).ok()?;
            let addr = s.get("addr").and_then(Value::as_str).unwrap_or("?").to_owned();
            let exes = s
                .get("owners")
                .and_then(Value::as_array)
                .map(|o| o.iter().map(|o| o.get("exe").and_then(Value::as_str).unwrap_or("").to_owned()).collect())
                .unwrap_or_default();
            Some((exes, addr, port))
        })
        .collect()
}

fn matches(entry: &Entry, exes: &[String], port: u16) -> bool {
    !exes.is_empty()
        && exes.iter().all(|exe| entry.exe.iter().any(|m| m.matches(exe)))
        && entry.port.is_none_or(|p| p == port)
}

/// The findings of one failing check. Pure.
fn check_findings(c: &CheckResult) -> Vec<Finding> {
    let mut res: Vec<Finding> = Vec::new();
    let sockets = violating_sockets(&c.details);
    let mut matched = 0;
    for entry in REGISTRY.iter().filter(|e| e.check_id == c.id) {
        let hits: Vec<String> = sockets
            .iter()
            .filter(|(exes, _, port)| matches(entry, exes, *port))
            .map(|(exes, addr, port)| format!("{addr}:{port} ({})", exes.join(", ")))
            .collect();
        if hits.is_empty() {
            continue;
        }
        matched += hits.len();
        res.push(Finding {
            key: format!("{}/{}", c.id, entry.id.as_str()),
            check_id: c.id.clone(),
            remediation: Some(entry.id),
            summary: hits.join(", "),
        });
    }
    // Violations the registry does not cover (other owners, route_localnet,
    // a shape it cannot read) stay a notify-only finding of the check.
    let listed = c.details.get("violations").and_then(Value::as_array).map_or(0, Vec::len);
    if res.is_empty() || listed > matched {
        res.push(Finding { key: c.id.clone(), check_id: c.id.clone(), remediation: None, summary: c.summary.clone() });
    }
    res
}

/// Every finding of a report, in the doctor's check order. Pure.
pub fn findings(report: &DoctorReport) -> Vec<Finding> {
    report.checks.iter().filter(|c| c.is_failing()).flat_map(check_findings).collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::doctor::DoctorResult;

    fn sock(addr: &str, port: u16, exe: &str, verdict: &str) -> Value {
        json!({"proto": "tcp", "addr": addr, "port": port, "classification": "wildcard", "verdict": verdict,
               "reason": "r", "owners": [{"pid": 1, "exe": exe, "unit": null, "initial_root": true}]})
    }

    fn report(status: &str, sockets: Vec<Value>, violations: usize) -> DoctorReport {
        DoctorReport {
            schema_version: 1,
            tool: "openclaw-doctor".into(),
            result: DoctorResult::Fail,
            checks: vec![
                CheckResult {
                    id: "listeners".into(),
                    status: status.into(),
                    summary: "s".into(),
                    details: json!({"sockets": sockets, "violations": vec!["v"; violations]}),
                },
                CheckResult { id: "disk".into(), status: "pass".into(), summary: String::new(), details: Value::Null },
            ],
        }
    }

    fn keys(r: &DoctorReport) -> Vec<(String, Option<RemediationId>)> {
        findings(r).into_iter().map(|f| (f.key, f.remediation)).collect()
    }

    #[test]
    fn sshd_on_any_port_and_cupsd_on_631_match_by_exe_path() {
        let r = report(
            "fail",
            vec![
                sock("0.0.0.0", 2222, "/usr/sbin/sshd", "violation"),
                sock("::", 631, "/snap/cups/1100/sbin/cupsd", "violation"),
                sock("127.0.0.1", 8000, "/usr/bin/python3", "allowed"),
            ],
            2,
        );
        assert_eq!(
            keys(&r),
            [
                ("listeners/ssh-tailnet-only".into(), Some(RemediationId::SshTailnetOnly)),
                ("listeners/cups-localhost".into(), Some(RemediationId::CupsLocalhost)),
            ]
        );
        assert_eq!(findings(&r)[0].summary, "0.0.0.0:2222 (/usr/sbin/sshd)");
    }

    #[test]
    fn names_alone_ports_elsewhere_and_other_owners_are_notify_only() {
        for (exe, port) in [
            ("/tmp/sshd", 22),          // a copy elsewhere is not sshd
            ("/home/u/bin/cupsd", 631), // nor is a cupsd outside the packages
            ("/usr/sbin/cupsd", 8631),  // cupsd off its port
            ("/snap/cups/../evil/sbin/cupsd", 631),
            ("/usr/bin/python3", 22), // port 22 alone proves nothing
        ] {
            let r = report("fail", vec![sock("0.0.0.0", port, exe, "violation")], 1);
            assert_eq!(keys(&r), [("listeners".into(), None)], "{exe}:{port}");
        }
    }

    #[test]
    fn uncovered_violations_keep_a_notify_only_finding_beside_the_fix() {
        let r = report(
            "fail",
            vec![
                sock("0.0.0.0", 22, "/usr/sbin/sshd", "violation"),
                sock("0.0.0.0", 80, "/usr/sbin/nginx", "violation"),
            ],
            2,
        );
        assert_eq!(
            keys(&r),
            [("listeners/ssh-tailnet-only".into(), Some(RemediationId::SshTailnetOnly)), ("listeners".into(), None)]
        );
        // route_localnet adds a violation line with no socket.
        let r = report("fail", vec![sock("0.0.0.0", 22, "/usr/sbin/sshd", "violation")], 2);
        assert_eq!(keys(&r).len(), 2);
        // An errored check is a finding too; passing checks are not.
        let r = report("error", vec![], 0);
        assert_eq!(keys(&r), [("listeners".into(), None)]);
    }
}
