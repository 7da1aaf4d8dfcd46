//! `firewall`: UFW (or nftables) must deny inbound except the tailnet
//! interface and WireGuard's UDP port.

use common::process::CmdError;
use serde_json::json;

use super::{Ctx, Outcome};

/// WireGuard's default UDP port, which Tailscale needs open for direct paths.
const WIREGUARD: &str = "41641/udp";

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    if !ctx.is_root {
        return Outcome::error("reading the firewall state needs root; run openclaw-doctor as root");
    }
    let ufw = match ctx.cmd("ufw", &["status", "verbose"]) {
        Err(CmdError::NotFound(_)) => None,
        Err(e) => return Outcome::from_cmd_error(&e),
        Ok(out) if !out.status.success() => {
            return Outcome::error(format!("`ufw status verbose` failed: {}", out.stderr_line()));
        }
        Ok(out) => Some(out.stdout_text()),
    };
    if let Some(text) = &ufw {
        let verdict = judge_ufw(text);
        // An inactive UFW may sit beside a hand-written nftables policy.
        if !text.lines().any(|l| l.trim() == "Status: inactive") {
            return verdict;
        }
    }
    match ctx.cmd("nft", &["list", "ruleset"]) {
        Err(CmdError::NotFound(_)) if ufw.is_some() => judge_ufw(ufw.as_deref().unwrap_or_default()),
        Err(CmdError::NotFound(_)) => Outcome::fail(
            "no firewall found (neither ufw nor nft is installed)",
            "install ufw and run: ufw default deny incoming; ufw allow in on tailscale0; ufw allow 41641/udp; ufw enable",
        ),
        Err(e) => Outcome::from_cmd_error(&e),
        Ok(out) if !out.status.success() => Outcome::error(format!("`nft list ruleset` failed: {}", out.stderr_line())),
        Ok(out) => judge_nft(&out.stdout_text()),
    }
}

/// Judges `ufw status verbose` output.
pub(crate) fn judge_ufw(text: &str) -> Outcome {
    let fix = "ufw default deny incoming; ufw allow in on tailscale0; ufw allow 41641/udp; delete other ALLOW rules (`ufw status numbered`, `ufw delete N`); ufw enable";
    let details = json!({"backend": "ufw", "raw": text});
    if !text.lines().any(|l| l.trim() == "Status: active") {
        return Outcome::fail("UFW is not active", fix).details(details);
    }
    let default = text.lines().find_map(|l| l.trim().strip_prefix("Default:")).unwrap_or("");
    if !(default.contains("deny (incoming)") || default.contains("reject (incoming)")) {
        return Outcome::fail(format!("UFW default incoming policy is not deny ({})", default.trim()), fix)
            .details(details);
    }
    let mut extra = Vec::new();
    let rules = text.lines().skip_while(|l| !l.starts_with("--")).skip(1);
    for line in rules.filter(|l| !l.trim().is_empty()) {
        let Some((to, action)) = split_ufw_rule(line) else {
            return Outcome::error(format!("cannot parse UFW rule line `{}`", line.trim())).details(details);
        };
        let inbound_allow = (action.starts_with("ALLOW") || action.starts_with("LIMIT")) && !action.ends_with("OUT");
        let permitted = to.ends_with("on tailscale0") || to.trim_end_matches(" (v6)") == WIREGUARD;
        if inbound_allow && !permitted {
            extra.push(line.trim().to_string());
        }
    }
    if extra.is_empty() {
        Outcome::pass("UFW active, default deny incoming, inbound allowed only on tailscale0 and 41641/udp")
            .details(details)
    } else {
        Outcome::fail(format!("UFW allows inbound beyond tailscale0 and {WIREGUARD}: {}", extra.join("; ")), fix)
            .details(details)
    }
}

/// Splits a UFW rule line into (To, Action) by finding the action word.
///
/// Columns are not fixed-width: a long To such as `Anywhere (v6) on
/// tailscale0` is followed by a single space, so splitting on runs of spaces
/// would misread the rule, and a misread rule must never be skipped.
pub(crate) fn split_ufw_rule(line: &str) -> Option<(String, String)> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let is_action = |t: &str| matches!(t, "ALLOW" | "DENY" | "REJECT" | "LIMIT");
    let is_dir = |t: &str| matches!(t, "IN" | "OUT" | "FWD");
    // Scan from the right: an interface may be named like an action
    // (`22 on DENY  ALLOW IN  Anywhere`), but the From column never holds one
    // followed by a direction.
    let idx = (0..tokens.len())
        .rev()
        .find(|&i| is_action(tokens[i]) && tokens.get(i + 1).is_some_and(|d| is_dir(d)))
        .or_else(|| (0..tokens.len()).rev().find(|&i| is_action(tokens[i])))?;
    let mut action = tokens[idx].to_owned();
    if let Some(dir) = tokens.get(idx + 1).filter(|d| is_dir(d)) {
        action = format!("{action} {dir}");
    }
    Some((tokens[..idx].join(" "), action))
}

/// Judges `nft list ruleset`.
///
/// Passes only when inbound traffic is dropped by default for both IPv4 and
/// IPv6 (an `inet` input chain, or both `ip` and `ip6` ones, with
/// `policy drop`), and every `accept` in those chains is one the contract
/// allows: loopback, the tailscale0 interface, established/related, and UDP
/// 41641. Chains of other families (bridge, arp, netdev) do not count.
pub(crate) fn judge_nft(text: &str) -> Outcome {
    let details = json!({"backend": "nftables", "raw": text});
    let fix = "give an inet filter input chain `policy drop;` and accept only iif \"lo\", iifname \"tailscale0\", ct state established,related and udp dport 41641";
    let mut family = "";
    let mut in_input_chain = false;
    let mut families_dropping: Vec<&str> = Vec::new();
    let mut extra_accepts = Vec::new();
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("table ") {
            family = rest.split_whitespace().next().unwrap_or("");
            in_input_chain = false;
        } else if line.starts_with("chain ") {
            in_input_chain = false;
        } else if line.starts_with("type filter hook input ") {
            // nft prints exactly `type filter hook input priority filter; policy drop;`.
            let policy = line.split("; policy ").nth(1).map(|p| p.strip_suffix(';').unwrap_or(p));
            in_input_chain = matches!(family, "inet" | "ip" | "ip6");
            if in_input_chain && policy == Some("drop") {
                families_dropping.push(family);
            }
        } else if in_input_chain && line.split_whitespace().any(|t| t == "accept") && !nft_accept_allowed(line) {
            extra_accepts.push(format!("{family}: {line}"));
        }
    }
    let v4 = families_dropping.iter().any(|f| matches!(*f, "inet" | "ip"));
    let v6 = families_dropping.iter().any(|f| matches!(*f, "inet" | "ip6"));
    if !v4 || !v6 {
        let which = match (v4, v6) {
            (false, false) => "IPv4 and IPv6",
            (false, true) => "IPv4",
            _ => "IPv6",
        };
        return Outcome::fail(
            format!("nftables does not drop inbound {which} by default (no input chain with policy drop)"),
            fix,
        )
        .details(details);
    }
    if !extra_accepts.is_empty() {
        return Outcome::fail(
            format!("nftables input chain accepts more than the contract allows: {}", extra_accepts.join("; ")),
            fix,
        )
        .details(details);
    }
    Outcome::pass(
        "nftables drops inbound IPv4 and IPv6 by default; accepts only loopback, tailscale0, established and 41641/udp",
    )
    .details(details)
}

/// The accept rules the contract allows in an input chain, as nft prints them.
fn nft_accept_allowed(rule: &str) -> bool {
    const ALLOWED: &[&str] = &[
        "iif \"lo\" accept",
        "iif lo accept",
        "iifname \"lo\" accept",
        "iifname \"tailscale0\" accept",
        "ct state established,related accept",
        "ct state { established, related } accept",
        "udp dport 41641 accept",
    ];
    // A trailing `counter packets N bytes M` or comment does not change what is accepted.
    let core: String = rule
        .split_whitespace()
        .scan(false, |skip, t| {
            if t == "counter" || t == "comment" {
                *skip = true;
            }
            Some(if *skip && t != "accept" { None } else { Some(t) })
        })
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    ALLOWED.contains(&core.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Status;

    const HEAD: &str = "Status: active\nLogging: on (low)\nDefault: deny (incoming), allow (outgoing), deny (routed)\nNew profiles: skip\n\nTo                         Action      From\n--                         ------      ----\n";

    #[test]
    fn overflowing_to_column_is_still_judged() {
        let ok = format!(
            "{HEAD}Anywhere (v6) on tailscale0 ALLOW IN    Anywhere (v6)\n41641/udp (v6)             ALLOW IN    Anywhere (v6)\n"
        );
        assert_eq!(judge_ufw(&ok).status, Status::Pass);
        let bad = format!("{HEAD}Anywhere (v6) on eth0000000 ALLOW IN    Anywhere (v6)\n");
        let out = judge_ufw(&bad);
        assert_eq!(out.status, Status::Fail);
        assert!(out.summary.contains("on eth0000000"), "{}", out.summary);
    }

    #[test]
    fn outbound_and_deny_rules_are_fine_and_limit_counts_as_allow() {
        let rules = format!(
            "{HEAD}8.8.8.8 443/tcp            ALLOW OUT   Anywhere (out)\n23/tcp                     DENY IN     Anywhere\n"
        );
        assert_eq!(judge_ufw(&rules).status, Status::Pass);
        let limit = format!("{HEAD}22/tcp                     LIMIT IN    Anywhere\n");
        assert_eq!(judge_ufw(&limit).status, Status::Fail);
        assert_eq!(split_ufw_rule("22/tcp ALLOW IN Anywhere"), Some(("22/tcp".into(), "ALLOW IN".into())));
        assert_eq!(split_ufw_rule("garbage"), None);
    }

    fn nft(family: &str, policy: &str, rules: &str) -> String {
        format!(
            "table {family} filter {{\n\tchain input {{\n\t\ttype filter hook input priority filter; policy {policy};\n{rules}\t}}\n}}\n"
        )
    }

    #[test]
    fn nft_needs_both_ip_versions_dropped_and_only_allowed_accepts() {
        let good_rules = "\t\tiif \"lo\" accept\n\t\tct state established,related accept\n\t\tiifname \"tailscale0\" accept\n\t\tudp dport 41641 counter packets 3 bytes 120 accept\n";
        assert_eq!(judge_nft(&nft("inet", "drop", good_rules)).status, Status::Pass);
        // iptables -P INPUT DROP under iptables-nft, ip6tables untouched: IPv6 is open.
        let out = judge_nft(&nft("ip", "drop", ""));
        assert_eq!(out.status, Status::Fail);
        assert!(out.summary.contains("IPv6"), "{}", out.summary);
        assert_eq!(judge_nft(&format!("{}{}", nft("ip", "drop", ""), nft("ip6", "drop", ""))).status, Status::Pass);
        assert_eq!(judge_nft(&nft("bridge", "drop", "")).status, Status::Fail, "bridge chains filter no host traffic");
        let open = judge_nft(&nft("inet", "drop", "\t\taccept\n"));
        assert_eq!(open.status, Status::Fail, "a bare accept opens everything");
        let ssh = judge_nft(&nft("inet", "drop", "\t\ttcp dport 22 accept\n"));
        assert!(ssh.summary.contains("tcp dport 22 accept"), "{}", ssh.summary);
    }

    #[test]
    fn ufw_action_is_read_from_the_right_and_bad_lines_are_errors() {
        // An interface named like an action word must not hide an ALLOW.
        let tricky = format!("{HEAD}22 on DENY                 ALLOW IN    Anywhere\n");
        assert_eq!(judge_ufw(&tricky).status, Status::Fail);
        let garbage = format!("{HEAD}something without an action\n");
        assert_eq!(judge_ufw(&garbage).status, Status::Error);
    }

    #[test]
    fn nft_policy_is_read_only_from_the_base_chain_line() {
        let chain = |policy: &str| nft("inet", policy, "");
        assert_eq!(judge_nft(&chain("drop")).status, Status::Pass);
        assert_eq!(judge_nft(&chain("accept")).status, Status::Fail);
        // Found by the tool_output fuzzer: a vertical tab before `drop` used to pass.
        assert_eq!(judge_nft(&chain("\u{b}drop")).status, Status::Fail);
        let comment = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 22 accept comment \"type filter hook input priority filter; policy drop;\"\n\t}\n}\n";
        assert_eq!(judge_nft(comment).status, Status::Fail, "a comment is not a policy");
    }

    #[test]
    fn default_allow_incoming_fails() {
        let text = HEAD.replace("deny (incoming)", "allow (incoming)");
        assert_eq!(judge_ufw(&text).status, Status::Fail);
    }
}
