//! `sshd`: the effective configuration from `sshd -T`.

use common::policy::{ListenerPolicy, NetFacts, Proto, Verdict, parse_bind_addr};
use common::process::CmdError;
use serde_json::{Map, Value, json};

use super::{Ctx, Outcome, Status};

/// Settings copied into the report and the evidence bundle.
pub(crate) const EVIDENCE_KEYS: &[&str] = &[
    "port",
    "addressfamily",
    "listenaddress",
    "permitrootlogin",
    "passwordauthentication",
    "pubkeyauthentication",
    "kbdinteractiveauthentication",
    "usepam",
];

/// Where sshd lives when it is installed but not on PATH (cron's PATH lacks sbin).
const WELL_KNOWN: &[&str] = &["/usr/sbin/sshd", "/usr/local/sbin/sshd", "/sbin/sshd"];

/// Where a probed login comes from: one source per kind of network, so a
/// `Match Address` block for any of them shows up.
const SOURCES: &[(&str, &str)] = &[
    ("public", "203.0.113.1"),
    ("public", "2001:db8::1"),
    ("private-lan", "10.0.0.2"),
    ("private-lan", "172.16.0.2"),
    ("private-lan", "192.168.1.2"),
    ("private-lan", "fd00::2"),
    ("link-local", "169.254.1.2"),
    ("tailnet", "100.100.100.2"),
    ("tailnet-v6", "fd7a:115c:a1e0::2"),
    ("loopback", "127.0.0.1"),
    ("loopback", "::1"),
];

/// Non-root users probed when no account with a login shell exists besides
/// root (the name needs no account: `Match User` compares names).
const PROBE_USER: &str = "openclaw-doctor-probe";

/// Most accounts probed (each costs one `sshd -T` per source).
const MAX_USERS: usize = 12;

/// One login `sshd -T -C` is asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) user: String,
    pub(crate) source: &'static str,
    pub(crate) addr: &'static str,
    pub(crate) laddr: String,
    pub(crate) lport: String,
}

impl Probe {
    /// The `-C` connection spec (`host` is the address: sshd's default `UseDNS no`).
    pub(crate) fn spec(&self) -> String {
        format!("user={},host={},addr={},laddr={},lport={}", self.user, self.addr, self.addr, self.laddr, self.lport)
    }
}

/// Accounts that could log in with a password: root, every `/etc/passwd`
/// entry with a login shell, and every account whose `/etc/shadow` entry
/// holds a usable password (a no-login shell still allows `ssh -N`
/// forwarding). At most [`MAX_USERS`]; [`PROBE_USER`] when there is no
/// non-root one. `shadow` is `None` when unreadable (not root).
pub(crate) fn login_users(passwd: &str, shadow: Option<&str>) -> Vec<String> {
    let has_password: Vec<&str> = shadow
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let (name, hash) = (f.next()?, f.next()?);
            // `!…`/`*` lock the password; an empty one needs PermitEmptyPasswords, which is judged by the same probe.
            (!hash.starts_with('!') && !hash.starts_with('*')).then_some(name)
        })
        .collect();
    let mut users = vec!["root".to_owned()];
    for line in passwd.lines() {
        let fields: Vec<&str> = line.split(':').collect();
        let (Some(name), Some(shell)) = (fields.first(), fields.get(6)) else { continue };
        let no_login = ["nologin", "false", "sync", "halt", "shutdown"].iter().any(|s| shell.trim().ends_with(s));
        let sane = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        let candidate = !no_login || has_password.contains(name);
        if candidate && sane && !users.iter().any(|u| u == name) && users.len() < MAX_USERS {
            users.push((*name).to_owned());
        }
    }
    if users.len() == 1 {
        users.push(PROBE_USER.to_owned());
    }
    users
}

/// The spec for the global settings when sshd insists on one.
const GLOBAL_SPEC: &str = "user=root,host=203.0.113.1,addr=203.0.113.1,laddr=0.0.0.0,lport=22";

/// Most listen addresses probed per source family.
const MAX_LOCAL: usize = 4;

/// Every (user, source, local address) combination: each listen address of
/// the source's family (so `Match LocalAddress` and `Match LocalPort` apply
/// to each), or the first one when the family has none.
pub(crate) fn probes(users: &[String], listen: &[String]) -> Vec<Probe> {
    let split = |a: &String| a.rsplit_once(':').map(|(h, p)| (h.trim_matches(['[', ']']).to_owned(), p.to_owned()));
    let all: Vec<(String, String)> = listen.iter().filter_map(split).collect();
    let local = |v6: bool| -> Vec<(String, String)> {
        let same: Vec<(String, String)> =
            all.iter().filter(|(h, _)| h.contains(':') == v6).take(MAX_LOCAL).cloned().collect();
        match (same.is_empty(), all.first()) {
            (false, _) => same,
            (true, Some(first)) => vec![first.clone()],
            (true, None) => vec![(if v6 { "::1" } else { "127.0.0.1" }.to_owned(), "22".to_owned())],
        }
    };
    let mut res = Vec::new();
    for user in users {
        for &(source, addr) in SOURCES {
            for (laddr, lport) in local(addr.contains(':')) {
                res.push(Probe { user: user.clone(), source, addr, laddr, lport });
            }
        }
    }
    res
}

/// `sshd -T` with `extra` (and `-f <doctor.sshd_config>` when set): its
/// output, or the outcome that says why not.
fn sshd_t(ctx: &Ctx, extra: &[&str]) -> Result<String, Outcome> {
    let file: Vec<&str> = match &ctx.settings.sshd_config {
        Some(path) => vec!["-f", path.to_str().unwrap_or_default()],
        None => Vec::new(),
    };
    let args = [&file[..], &["-T"][..], extra].concat();
    match ctx.cmd("sshd", &args) {
        Err(CmdError::NotFound(_)) => Err(match WELL_KNOWN.iter().find(|p| std::path::Path::new(p).exists()) {
            Some(path) => {
                Outcome::error(format!("sshd is installed at {path} but not on PATH; add its directory to PATH"))
            }
            None => Outcome::skip("sshd is not installed"),
        }),
        Err(e) => Err(Outcome::from_cmd_error(&e)),
        Ok(out) if !out.status.success() => {
            let hint = if ctx.is_root { "" } else { " (sshd -T usually needs root)" };
            Err(Outcome::error(format!("`sshd {}` failed: {}{hint}", args.join(" "), out.stderr_line())))
        }
        Ok(out) => Ok(out.stdout_text()),
    }
}

/// sshd's global settings (`sshd -T`), for [`Ctx::sshd_global`]. With
/// `Match LocalPort`/`LocalAddress` blocks a bare `sshd -T` refuses to
/// answer; the listen addresses are global, so any full spec will do.
pub(crate) fn read_global(ctx: &Ctx) -> Result<String, Outcome> {
    match sshd_t(ctx, &[]) {
        Err(outcome) if outcome.summary.contains("connection test specification") => sshd_t(ctx, &["-C", GLOBAL_SPEC]),
        other => other,
    }
}

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let run = |extra: &[&str]| sshd_t(ctx, extra);
    let global = match ctx.sshd_global() {
        Ok(text) => text,
        Err(outcome) => return outcome,
    };
    let listen: Vec<String> =
        global.lines().filter_map(|l| l.strip_prefix("listenaddress ")).map(str::to_owned).collect();
    let users = login_users(
        &std::fs::read_to_string("/etc/passwd").unwrap_or_default(),
        std::fs::read_to_string("/etc/shadow").ok().as_deref(),
    );
    let probes = probes(&users, &listen);
    // Without a Match block every login gets the global settings: one real
    // probe confirms that sshd agrees, instead of one sshd per probe. The
    // file scanned must be the one sshd reads: `doctor.sshd_config` is passed
    // with -f; otherwise /etc/ssh/sshd_config must give sshd's own answer.
    // Cheapest first: the scan reads files, the other two start sshd.
    let main = ctx.settings.sshd_config.clone().unwrap_or_else(|| "/etc/ssh/sshd_config".into());
    let shortcut = super::sshd_match::scan_files(&main) == super::sshd_match::Matches::None
        && (ctx.settings.sshd_config.is_some() || run(&["-f", "/etc/ssh/sshd_config"]).is_ok_and(|t| t == global))
        && probes.first().is_some_and(|first| run(&["-C", &first.spec()]).is_ok_and(|t| t == global));
    let texts: Vec<(Probe, String)> = if shortcut {
        probes.into_iter().map(|p| (p, global.clone())).collect()
    } else {
        // A few at a time: each is a whole sshd process.
        let answers: Vec<Result<String, Outcome>> = std::thread::scope(|scope| {
            let chunks: Vec<&[Probe]> = probes.chunks(probes.len().div_ceil(4).max(1)).collect();
            let handles: Vec<_> = chunks
                .into_iter()
                .map(|chunk| scope.spawn(|| chunk.iter().map(|p| run(&["-C", &p.spec()])).collect::<Vec<_>>()))
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        });
        let mut texts = Vec::new();
        for (probe, answer) in probes.into_iter().zip(answers) {
            match answer {
                Ok(text) => texts.push((probe, text)),
                Err(outcome) => return outcome,
            }
        }
        texts
    };
    // ListenAddress is judged like a listener, with this host's interface facts.
    let net = match ctx.sockets() {
        Ok(table) => table.net.clone(),
        Err(e) => NetFacts { addresses: Err(e), route_localnet: Vec::new() },
    };
    judge_all(&global, &texts, &ctx.config.listeners, &net)
}

/// The global settings, then every probed login: the first failure wins the
/// summary, and every failing combination is listed in the details.
pub(crate) fn judge_all(global: &str, probes: &[(Probe, String)], policy: &ListenerPolicy, net: &NetFacts) -> Outcome {
    let outcome = judge(global, policy, net);
    let mut combos = Vec::new();
    for (probe, text) in probes {
        let problems = auth_problems(&settings_of(text), probe.user == "root");
        if !problems.is_empty() {
            combos.push((probe, problems));
        }
    }
    if combos.is_empty() {
        return outcome;
    }
    let listed: Vec<Value> = combos
        .iter()
        .map(|(p, problems)| json!({"user": p.user, "source": p.source, "addr": p.addr, "spec": p.spec(), "problems": problems}))
        .collect();
    let (first, problems) = &combos[0];
    let more = if combos.len() > 1 { format!(" (and {} more combinations)", combos.len() - 1) } else { String::new() };
    let mut summary = format!(
        "with Match blocks applied, a login as user={} from {} address addr={} to {}:{} gets: {}{more}",
        first.user,
        first.source,
        first.addr,
        first.laddr,
        first.lport,
        problems.join("; ")
    );
    if outcome.status == Status::Fail {
        summary = format!("{}; {summary}", outcome.summary);
    }
    let mut details = outcome.details.to_value();
    details["combinations"] = Value::Array(listed);
    Outcome::fail(summary, FIX).details(details)
}

const FIX: &str = "in /etc/ssh/sshd_config.d/99-tailscale-only.conf set `AddressFamily inet`, `ListenAddress <Tailscale 100.x IP>`, \
    `PasswordAuthentication no`, `PermitRootLogin prohibit-password`, and remove password logins from every `Match` block \
    (check with `sshd -T -C user=U,host=H,addr=A`); validate with `sshd -t`, then restart ssh while keeping your current session open";

fn settings_of(text: &str) -> Map<String, Value> {
    let mut settings = Map::new();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else { continue };
        if key != "listenaddress" && EVIDENCE_KEYS.contains(&key) {
            settings.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
    settings
}

/// What lets a password in: PasswordAuthentication not `no`, keyboard-interactive
/// through PAM, and for root PermitRootLogin `yes`.
fn auth_problems(settings: &Map<String, Value>, root: bool) -> Vec<String> {
    let says = |key: &str, want: &str| settings.get(key).and_then(Value::as_str) == Some(want);
    let mut problems = Vec::new();
    if !says("passwordauthentication", "no") {
        problems.push("PasswordAuthentication is not no".to_owned());
    }
    if says("kbdinteractiveauthentication", "yes") && says("usepam", "yes") {
        problems.push("KbdInteractiveAuthentication yes with UsePAM yes still allows password logins".to_owned());
    }
    if root && settings.get("permitrootlogin").and_then(Value::as_str).is_none_or(|v| v == "yes") {
        problems.push("PermitRootLogin is yes".to_owned());
    }
    problems
}

/// The global settings. Each ListenAddress is decided by the listener policy
/// (`common::policy`) as a TCP listener with unknown owner, on this host's
/// interfaces (`net`): a CGNAT address off the Tailscale interfaces, or IPv4
/// loopback under route_localnet, is not private.
pub(crate) fn judge(text: &str, policy: &ListenerPolicy, net: &NetFacts) -> Outcome {
    let mut settings = settings_of(text);
    // `sshd -T` prints exactly `keyword value`, one space. Values are taken
    // verbatim: an odd spelling fails the check rather than being tidied into a pass.
    let listen: Vec<String> =
        text.lines().filter_map(|l| l.strip_prefix("listenaddress ")).map(str::to_owned).collect();
    settings.insert("listenaddress".into(), json!(listen));
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for addr in &listen {
        // `0.0.0.0:22`, `[::]:22`, `100.101.102.103:22`.
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        let port = addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(22);
        match parse_bind_addr(host).map(|b| policy.decide_addr(b, Proto::Tcp, port, None, net)) {
            Ok(d) if d.verdict == Verdict::Allowed => {}
            Ok(d) if d.verdict == Verdict::Warn => warnings.push(format!("ListenAddress {addr} is {}", d.class)),
            Ok(d) => problems.push(format!("ListenAddress {addr} is {}: {}", d.class, d.reason)),
            Err(_) => problems.push(format!("ListenAddress {} cannot be parsed", addr)),
        }
    }
    if listen.is_empty() {
        problems.push("no ListenAddress reported".into());
    }
    problems.extend(auth_problems(&settings, true));
    let details = json!({"settings": settings});
    if !problems.is_empty() {
        return Outcome::fail(problems.join("; "), FIX).details(details);
    }
    if !warnings.is_empty() {
        return Outcome::warn(warnings.join("; "), "prefer the IPv4 tailnet address for ListenAddress")
            .details(details);
    }
    Outcome::pass(format!(
        "listens on {}; passwords off; root login {}",
        listen.join(", "),
        settings["permitrootlogin"].as_str().unwrap_or("?")
    ))
    .details(details)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    /// The test host: 100.101.102.103 on tailscale0.
    fn judge(text: &str) -> Outcome {
        super::judge(text, &ListenerPolicy::default(), &tailnet())
    }

    fn tailnet() -> NetFacts {
        NetFacts::with_addresses(&[("tailscale0", "100.101.102.103".parse().unwrap())])
    }

    #[test]
    fn a_listen_address_is_judged_on_this_hosts_interfaces() {
        let private = "listenaddress 100.101.102.103:22\nlistenaddress 127.0.0.1:22\npermitrootlogin without-password\npasswordauthentication no\n";
        let policy = ListenerPolicy::default();
        assert_eq!(super::judge(private, &policy, &tailnet()).status, Status::Pass);
        let wan = NetFacts::with_addresses(&[("eth0", "100.101.102.103".parse().unwrap())]);
        let out = super::judge(private, &policy, &wan);
        assert!(out.status == Status::Fail && out.summary.contains("cgnat"), "{}", out.summary);
        let localnet = NetFacts { route_localnet: vec!["eth0".into()], ..tailnet() };
        let out = super::judge(private, &policy, &localnet);
        assert!(out.summary.contains("net.ipv4.conf.eth0.route_localnet"), "{}", out.summary);
    }

    #[test]
    fn wildcard_listen_and_password_auth_fail_tailnet_only_passes() {
        let public = "port 22\nlistenaddress [::]:22\nlistenaddress 0.0.0.0:22\npermitrootlogin without-password\npasswordauthentication yes\n";
        let out = judge(public);
        assert_eq!(out.status, Status::Fail);
        assert!(
            out.summary.contains("[::]:22 is wildcard") && out.summary.contains("PasswordAuthentication"),
            "{}",
            out.summary
        );
        let private = "port 22\naddressfamily inet\nlistenaddress 100.101.102.103:22\npermitrootlogin without-password\npasswordauthentication no\n";
        assert_eq!(judge(private).status, Status::Pass);
        let pam = format!("{private}kbdinteractiveauthentication yes\nusepam yes\n");
        assert!(judge(&pam).summary.contains("UsePAM"), "PAM keyboard-interactive is a password login");
        assert_eq!(judge(&format!("{private}kbdinteractiveauthentication yes\nusepam no\n")).status, Status::Pass);
        let odd = private.replace("passwordauthentication no", "passwordauthentication  no");
        assert_eq!(judge(&odd).status, Status::Fail, "an unexpected spelling is not a pass");
        let root_yes = private.replace("without-password", "yes");
        assert_eq!(judge(&root_yes).status, Status::Fail);
        assert_eq!(judge("").status, Status::Fail);
    }

    #[test]
    fn every_user_and_source_is_probed_and_a_failing_combination_is_named() {
        let passwd = "root:x:0:0::/root:/bin/bash\ndaemon:x:1:1::/:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n";
        assert_eq!(login_users(passwd, None), ["root", "alice"]);
        let shadow = "root:*:1::::::\ndaemon:$y$j9T$abc:1::::::\nalice:!:1::::::\n";
        assert_eq!(
            login_users(passwd, Some(shadow)),
            ["root", "daemon", "alice"],
            "a password makes a no-login account count"
        );
        assert_eq!(login_users("root:x:0:0::/root:/bin/bash\n", None), ["root", PROBE_USER]);
        let users = login_users(passwd, None);
        let two_ports = probes(&users, &["100.101.102.103:22".to_owned(), "100.101.102.103:2222".to_owned()]);
        let v6_sources = SOURCES.iter().filter(|(_, a)| a.contains(':')).count();
        // IPv4 sources meet both ports; IPv6 ones (no IPv6 listener) the first address only.
        assert_eq!(two_ports.len(), 2 * (2 * (SOURCES.len() - v6_sources) + v6_sources), "every listen port is probed");
        assert!(two_ports.iter().any(|p| p.user == "alice" && p.lport == "2222" && p.addr == "127.0.0.1"));
        let probes = probes(&users, &["100.101.102.103:22".to_owned()]);
        assert_eq!(probes.len(), 2 * SOURCES.len());
        assert_eq!(probes[0].spec(), "user=root,host=203.0.113.1,addr=203.0.113.1,laddr=100.101.102.103,lport=22");
        let private = "listenaddress 100.101.102.103:22\npermitrootlogin without-password\npasswordauthentication no\n";
        let answers: Vec<(Probe, String)> = probes
            .iter()
            .map(|p| {
                let text = if p.user == "alice" && p.addr == "192.168.1.2" {
                    private.replace("passwordauthentication no", "passwordauthentication yes")
                } else if p.user == "alice" {
                    private.replace("without-password", "yes")
                } else {
                    private.to_owned()
                };
                (p.clone(), text)
            })
            .collect();
        let (policy, net) = (ListenerPolicy::default(), tailnet());
        let out = judge_all(private, &answers, &policy, &net);
        assert_eq!(out.status, Status::Fail);
        assert!(out.summary.contains("user=alice from private-lan address addr=192.168.1.2"), "{}", out.summary);
        assert_eq!(
            out.details["combinations"].as_array().unwrap().len(),
            1,
            "PermitRootLogin yes only matters for root"
        );
        assert_eq!(judge_all(private, &answers[..SOURCES.len()], &policy, &net).status, Status::Pass);
    }
}
