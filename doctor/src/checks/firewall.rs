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
        let Some((to, action)) = split_ufw_rule(line) else { continue };
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
    let idx = tokens.iter().position(|t| matches!(*t, "ALLOW" | "DENY" | "REJECT" | "LIMIT"))?;
    let mut action = tokens[idx].to_owned();
    if let Some(dir) = tokens.get(idx + 1).filter(|d| matches!(**d, "IN" | "OUT" | "FWD")) {
        action = format!("{action} {dir}");
    }
    Some((tokens[..idx].join(" "), action))
}

/// Judges `nft list ruleset`: some input-hook chain must have policy drop.
pub(crate) fn judge_nft(text: &str) -> Outcome {
    let details = json!({"backend": "nftables", "raw": text});
    // nft prints a base chain's hook as exactly
    // `type filter hook input priority filter; policy drop;`. Only that line
    // form counts: a rule's comment mentioning `hook input` or an odd spelling
    // of the policy must never make an open host pass.
    let input_policies: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("type filter hook input "))
        .filter_map(|l| l.split("; policy ").nth(1))
        .map(|p| p.strip_suffix(';').unwrap_or(p))
        .collect();
    let fix = "give the inet filter input chain `policy drop;` and accept only iifname \"tailscale0\", iif lo, established/related and udp dport 41641";
    if input_policies.is_empty() {
        return Outcome::fail("nftables has no input filter chain: inbound traffic is not filtered", fix)
            .details(details);
    }
    if input_policies.contains(&"drop") {
        Outcome::pass(format!("nftables input chain policy drop ({} input chain(s))", input_policies.len()))
            .details(details)
    } else {
        Outcome::fail(format!("nftables input chain policy is {}, not drop", input_policies.join(", ")), fix)
            .details(details)
    }
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

    #[test]
    fn nft_policy_is_read_only_from_the_base_chain_line() {
        let chain = |policy: &str| format!("table inet filter {{\n\tchain input {{\n\t\ttype filter hook input priority filter; policy {policy};\n\t}}\n}}\n");
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
