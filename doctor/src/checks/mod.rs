//! The check registry and what every check returns.
//!
//! A check is a function from the shared [`Ctx`] to an [`Outcome`]. Checks
//! gather their own facts through `Ctx` (so every external command shares the
//! run's deadline) and judge them with pure functions that the unit tests
//! call directly.

mod audit_log;
pub(crate) mod console_auth;
mod disk;
pub(crate) mod docker;
pub(crate) mod expected_owners;
pub(crate) mod firewall;
mod guard;
pub(crate) mod http;
pub(crate) mod http_health;
mod keys;
mod listeners;
mod review_gate;
mod secret_files;
pub(crate) mod sshd;
mod sshd_match;
pub(crate) mod systemd;
pub(crate) mod tailscale;
mod token_age;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use common::config::Config;

use crate::settings::DoctorSettings;
use common::paths::Paths;
use common::process::{self, CmdError, CmdOutput};
use serde::Serialize;
use serde_json::Value;

use crate::sockets::{self, SocketTable};

/// The result of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Pass,
    Skip,
    Warn,
    Fail,
    Error,
}

impl Status {
    pub(crate) const ALL: [Status; 5] = [Status::Pass, Status::Warn, Status::Fail, Status::Error, Status::Skip];

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Warn => "warn",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skip => "skip",
        }
    }
}

/// The steps that fix a finding, one per line. Steps are kept apart, never
/// joined and split again, so a newline inside an untrusted value (an exe
/// path, a unit name) stays inside its step and is escaped when shown: it
/// can never start a forged line of the report. JSON shows the steps joined
/// with newlines (a string, as documented).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Remedy(pub(crate) Vec<String>);

impl From<String> for Remedy {
    fn from(step: String) -> Remedy {
        Remedy(vec![step])
    }
}

impl From<&str> for Remedy {
    fn from(step: &str) -> Remedy {
        Remedy(vec![step.to_owned()])
    }
}

impl From<Vec<String>> for Remedy {
    fn from(steps: Vec<String>) -> Remedy {
        Remedy(steps)
    }
}

impl Serialize for Remedy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.join("\n"))
    }
}

/// What a check found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Outcome {
    pub(crate) status: Status,
    pub(crate) summary: String,
    pub(crate) details: Details,
    pub(crate) remediation: Option<Remedy>,
}

/// A check's details: a JSON value, or a typed body that serialises itself
/// straight to the report's writer (the listener inventory: one entry per
/// socket, too many to build as a `Value` tree first).
#[derive(Debug, Clone)]
pub(crate) enum Details {
    Value(Value),
    Listeners(Arc<listeners::Inventory>),
}

impl Details {
    /// The details as a JSON value (built on demand for a typed body).
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Details::Value(v) => v.clone(),
            Details::Listeners(inv) => inv.value().clone(),
        }
    }
}

impl From<Value> for Details {
    fn from(v: Value) -> Details {
        Details::Value(v)
    }
}

impl Serialize for Details {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Details::Value(v) => v.serialize(s),
            Details::Listeners(inv) => inv.serialize(s),
        }
    }
}

impl PartialEq for Details {
    fn eq(&self, other: &Details) -> bool {
        self.to_value() == other.to_value()
    }
}

impl std::ops::Index<&str> for Details {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        match self {
            Details::Value(v) => &v[key],
            Details::Listeners(inv) => &inv.value()[key],
        }
    }
}

impl Outcome {
    fn new(status: Status, summary: impl Into<String>) -> Outcome {
        Outcome { status, summary: summary.into(), details: Details::Value(Value::Null), remediation: None }
    }
    pub(crate) fn pass(summary: impl Into<String>) -> Outcome {
        Outcome::new(Status::Pass, summary)
    }
    pub(crate) fn warn(summary: impl Into<String>, fix: impl Into<Remedy>) -> Outcome {
        Outcome::new(Status::Warn, summary).fix(fix)
    }
    pub(crate) fn fail(summary: impl Into<String>, fix: impl Into<Remedy>) -> Outcome {
        Outcome::new(Status::Fail, summary).fix(fix)
    }
    pub(crate) fn error(summary: impl Into<String>) -> Outcome {
        Outcome::new(Status::Error, summary)
    }
    /// Only for a thing that does not exist on this host; the summary says which.
    pub(crate) fn skip(reason: impl Into<String>) -> Outcome {
        Outcome::new(Status::Skip, reason)
    }
    pub(crate) fn fix(mut self, fix: impl Into<Remedy>) -> Outcome {
        self.remediation = Some(fix.into());
        self
    }
    pub(crate) fn details(mut self, details: impl Into<Details>) -> Outcome {
        self.details = details.into();
        self
    }
    /// A command that produced nothing to judge: timeouts and start failures are errors.
    pub(crate) fn from_cmd_error(e: &CmdError) -> Outcome {
        Outcome::error(e.to_string())
    }
}

/// One registered check.
pub(crate) struct CheckDef {
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    /// What it reads and how it judges, for `list-checks` and docs/doctor.md.
    pub(crate) rules: &'static str,
    pub(crate) run: fn(&Ctx) -> Outcome,
}

/// Every check, in report order. Ids are stable: scripts and alerts key on them.
pub(crate) const CHECKS: &[CheckDef] = &[
    CheckDef {
        id: "listeners",
        title: "Listening sockets (contract check 4)",
        rules: "Reads every socket remote traffic can reach: TCP LISTEN and unconnected UDP (netlink sock_diag, else \
                /proc/net/{tcp,tcp6,udp,udp6}), unconnected UDP-Lite, raw IP and ICMP ping sockets (/proc/net/{udplite,udplite6,raw,raw6,icmp,icmp6}) and \
                listening SCTP (/proc/net/sctp/eps); owners via /proc/*/fd. Judged by common::policy with the interface facts \
                (netlink RTM_GETADDR, /proc/sys/net/ipv4/conf/*/route_localnet): loopback and 100.64.0.0/10 on a \
                listeners.tailscale_interfaces interface pass, Tailscale IPv6 warns; wildcards, a CGNAT address off those \
                interfaces, IPv4 loopback while route_localnet=1 and anything else fail unless exempted by executable path \
                for an owner that is root in the initial user namespace. route_localnet=1 on any entry but lo fails by itself. \
                A kind or fact that cannot be read makes it at least warn. Owner-unknown sockets are listed, never dropped; \
                other network namespaces are counted and reported as not audited.",
        run: listeners::check,
    },
    CheckDef {
        id: "console-bind",
        title: "Console bound to loopback only",
        rules: "Finds TCP listeners on doctor.console_port (8787). None: pass (not running). All loopback: pass. \
                Any other address, even alongside loopback, or IPv4 loopback while route_localnet=1: fail.",
        run: listeners::console_bind,
    },
    CheckDef {
        id: "tailscale",
        title: "Tailscale up (the only way in)",
        rules: "Runs `tailscale status --json`. BackendState Running and Self.Online: pass; health warnings: warn; \
                anything else, or tailscale missing: fail.",
        run: tailscale::check,
    },
    CheckDef {
        id: "docker-ports",
        title: "Docker published ports",
        rules: "Runs `docker ps --format '{{json .}}'` and parses every published binding (IPv4, IPv6, ranges). \
                Only doctor.docker_allowed (127.0.0.1:8000) may be published. No docker: skip.",
        run: docker::ports,
    },
    CheckDef {
        id: "docker-health",
        title: "Compose services running and healthy",
        rules: "Runs `docker ps -a` for compose-labelled containers: not running or unhealthy fails, with the last \
                health-log lines from `docker inspect`. No docker or no compose containers: skip.",
        run: docker::health,
    },
    CheckDef {
        id: "firewall",
        title: "Host firewall denies inbound except Tailscale",
        rules: "Needs root. Reads `nft -j list ruleset` (plus iptables-nft-save for `xt` matches, iptables-legacy-save, and \
                `ufw status verbose` for the report only) and asks, for every port with a non-loopback listener and every \
                other port class the ruleset names, TCP and UDP, IPv4 and IPv6: can a new connection from a non-tailnet \
                source the attacker chooses, on an interface other than lo/Tailscale, reach it? Follows jump/goto/return, \
                verdict maps and named sets (sets packets can fill count as maybe) through every active filter-type input \
                base chain of ip/ip6/inet tables (each must accept; dormant tables filter nothing); unmodelled matches \
                count against a pass. Reachable beyond udp/41641 (and ufw's DHCP-client rules when nothing listens on \
                68/546), or any dnat/redirect/tproxy/destination mangle on the input path: fail, naming port and chain \
                path. Non-TCP/UDP listeners (not probed) or legacy rules nft cannot see: warn. nft missing: error (fail \
                if ufw is missing too); nft failing or not JSON: error.",
        run: firewall::check,
    },
    CheckDef {
        id: "sshd",
        title: "sshd listens privately, no passwords, no root password login",
        rules: "Runs `sshd -T` (with `-f doctor.sshd_config` when set): every ListenAddress is judged by common::policy like a listener (interface facts included). \
                Then `sshd -T -C user=U,host=A,addr=A,laddr=L,lport=P` for root and every account with a login shell or a usable password (up to 12), from a \
                public, private-LAN, link-local, tailnet and loopback source (IPv4 and IPv6): any combination with \
                PasswordAuthentication not no, KbdInteractiveAuthentication yes with UsePAM yes, or (for root) \
                PermitRootLogin yes fails, naming it; every ListenAddress of the source family is probed as laddr/lport. No sshd: skip.",
        run: sshd::check,
    },
    CheckDef {
        id: "http-health",
        title: "Health endpoints answer",
        rules: "GETs each doctor.http_health URL (plain http to loopback or tailnet only), short timeout, \
                doctor.http_retries retries. Any non-2xx or no answer: fail.",
        run: http_health::check,
    },
    CheckDef {
        id: "disk",
        title: "Disk usage",
        rules: "statvfs of each doctor.disk_paths: ≥ disk_warn_percent (85) warns, ≥ disk_fail_percent (95) fails.",
        run: disk::disk,
    },
    CheckDef {
        id: "log-dir",
        title: "Log directory size",
        rules: "Total size of doctor.log_dir: ≥ log_warn_mb (500) warns, ≥ log_fail_mb (2000) fails. Missing: skip.",
        run: disk::log_dir,
    },
    CheckDef {
        id: "secret-files",
        title: "Secrets directory permissions",
        rules: "The private-path rule shared with the key resolver and keyctl: the secrets directory must be a real \
                directory (no symlink), mode 0700 or stricter, owned by root or the caller, under parents owned by root \
                or the caller and not world-writable; each entry a regular file (no symlink, FIFO or device), mode 0600 or stricter, owned by root \
                or the caller. Contents are never read. Missing: skip.",
        run: secret_files::check,
    },
    CheckDef {
        id: "keys",
        title: "Managed keys present and working",
        rules: "Resolves every managed key through common::secrets (env, keychain, systemd credential, 0600 file) without \
                printing it: missing or refused (unsafe file) fails; a shadowed copy or no recorded success in 7 days warns.",
        run: keys::check,
    },
    CheckDef {
        id: "systemd",
        title: "systemd units",
        rules: "`systemctl list-units --failed`: a failed tracked unit fails, other failed units warn; every \
                doctor.tracked_units entry must be active. No systemd: skip.",
        run: systemd::check,
    },
    CheckDef {
        id: "guard",
        title: "Guard loop alive and not given up",
        rules: "Reads <state>/guard/state.json (the guard's documented JSON, never its log) through the private-path \
                rule: a last run older than 30 min or one that could not run warns; a pending rollback or an exhausted \
                remediation budget fails. No state: warn if openclaw-guard is installed (beside the doctor or on PATH), \
                else skip. Unreadable or unknown state: error.",
        run: guard::check,
    },
    CheckDef {
        id: "review-gate",
        title: "Deployed code carries a valid review verdict",
        rules: "Runs `openclaw-reviewgate verify --rev HEAD --repo <doctor.review_repo> --format json --no-audit` \
                (beside the doctor, then PATH; OPENCLAW_REVIEWGATE_BIN overrides): refused fails, no answer errors. \
                Each doctor.review_workcopies entry without the pre-push hook install-hook writes warns. Nothing \
                configured: skip.",
        run: review_gate::check,
    },
    CheckDef {
        id: "audit-log",
        title: "Audit log intact",
        rules: "Verifies the shared audit log's hash chain and that it reaches its checkpoint and the head the doctor \
                remembered for it in <artifacts>/doctor/audit-heads.json (docs/audit-log.md). Any problem fails, a \
                deleted log included; an unsafe heads file fails; unreadable: error.",
        run: audit_log::check,
    },
    CheckDef {
        id: "console-auth",
        title: "Console refuses unauthenticated and cross-site requests",
        rules: "Over HTTP only, at doctor.console_url (http://127.0.0.1:8787; loopback IP, port, no path), each probe \
                within 1 s: GET /api/actions without a token must be 401; GET /healthz with Host: evil.example must be \
                403; POST /api/exec with the console token (resolved through common::secrets, sent as X-OpenClaw-Token, \
                never shown) and Origin: https://evil.example must be 403. No answer may carry an \
                Access-Control-Allow-* header. Connection refused on the first probe: skip (console not running). A \
                wrong status, a CORS header, a timeout or any other transport error: fail. Token not resolvable: the \
                Origin probe is not sent and the check warns.",
        run: console_auth::check,
    },
    CheckDef {
        id: "token-age",
        title: "Console token rotated recently",
        rules: "Resolves OPENCLAW_CONSOLE_TOKEN through common::secrets (value never shown). From the secrets \
                directory: its age is the file's modification time (keyctl set/rotate replace it atomically), opened \
                by the private-path rule; older than doctor.token_max_age_days (30): warn. From the environment, \
                keychain or a systemd credential (no rotation time): warn. Not configured: skip. Refused, \
                unreadable or modified in the future: error.",
        run: token_age::check,
    },
];

/// Looks up a check by id.
pub(crate) fn find(id: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|c| c.id == id)
}

/// Everything a check may use. Shared read-only across the check threads.
pub(crate) struct Ctx {
    pub(crate) config: Config,
    /// The `[doctor]` table.
    pub(crate) settings: DoctorSettings,
    pub(crate) paths: Paths,
    pub(crate) is_root: bool,
    /// Every external command must finish before this instant.
    pub(crate) deadline: Instant,
    sockets: OnceLock<Result<Arc<SocketTable>, String>>,
    sshd_global: OnceLock<Result<String, Outcome>>,
    /// Whether checks may keep state under the artifacts root (the audit head):
    /// off with `--no-artifacts`, when the run writes nothing.
    pub(crate) remember_state: bool,
}

impl Ctx {
    pub(crate) fn new(config: Config, settings: DoctorSettings, paths: Paths, is_root: bool, deadline: Instant) -> Ctx {
        Ctx {
            config,
            settings,
            paths,
            is_root,
            deadline,
            sockets: OnceLock::new(),
            sshd_global: OnceLock::new(),
            remember_state: false,
        }
    }

    /// Runs an external command, killed a little before the run's deadline so
    /// no child outlives the doctor.
    pub(crate) fn cmd(&self, program: &str, args: &[&str]) -> Result<CmdOutput, CmdError> {
        let remaining =
            self.deadline.saturating_duration_since(Instant::now()).saturating_sub(Duration::from_millis(50));
        process::run(program, args, remaining)
    }

    /// sshd's global settings (`sshd -T`, `sshd::read_global`), read once
    /// per run and shared by the `sshd` and `listeners` checks.
    pub(crate) fn sshd_global(&self) -> Result<String, Outcome> {
        self.sshd_global.get_or_init(|| sshd::read_global(self)).clone()
    }

    /// The kernel's socket table, read once per run and shared.
    pub(crate) fn sockets(&self) -> Result<Arc<SocketTable>, String> {
        self.sockets.get_or_init(|| sockets::gather().map(Arc::new)).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_stable_kebab_case() {
        let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        assert!(ids.iter().all(|id| id.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')));
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
        assert_eq!(
            CHECKS.iter().map(|c| c.id).collect::<Vec<_>>(),
            [
                "listeners",
                "console-bind",
                "tailscale",
                "docker-ports",
                "docker-health",
                "firewall",
                "sshd",
                "http-health",
                "disk",
                "log-dir",
                "secret-files",
                "keys",
                "systemd",
                "guard",
                "review-gate",
                "audit-log",
                "console-auth",
                "token-age"
            ],
            "renaming a check id breaks operators' alerts: add a new id instead"
        );
    }
}
