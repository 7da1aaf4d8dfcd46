//! `sshd`: the effective configuration from `sshd -T`.

use common::policy::{Class, classify, parse_bind_addr};
use common::process::CmdError;
use serde_json::{Map, Value, json};

use super::{Ctx, Outcome};

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

/// `Match` blocks only show under `-C`: judge the settings a root login from
/// a public address would get, as well as the global ones.
const AS_OUTSIDER: &str = "user=root,host=openclaw-doctor-probe.invalid,addr=203.0.113.1";

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let mut texts = Vec::new();
    for args in [&["-T"][..], &["-T", "-C", AS_OUTSIDER][..]] {
        match ctx.cmd("sshd", args) {
            Err(CmdError::NotFound(_)) => {
                return match WELL_KNOWN.iter().find(|p| std::path::Path::new(p).exists()) {
                    Some(path) => Outcome::error(format!(
                        "sshd is installed at {path} but not on PATH; add its directory to PATH"
                    )),
                    None => Outcome::skip("sshd is not installed"),
                };
            }
            Err(e) => return Outcome::from_cmd_error(&e),
            Ok(out) if !out.status.success() => {
                let hint = if ctx.is_root { "" } else { " (sshd -T usually needs root)" };
                return Outcome::error(format!("`sshd {}` failed: {}{hint}", args.join(" "), out.stderr_line()));
            }
            Ok(out) => texts.push(out.stdout_text()),
        }
    }
    let global = judge(&texts[0]);
    let outsider = judge(&texts[1]);
    if outsider.status > global.status {
        let summary = format!("for a root login from a public address (Match blocks applied): {}", outsider.summary);
        return Outcome { summary, ..outsider };
    }
    global
}

pub(crate) fn judge(text: &str) -> Outcome {
    let mut settings = Map::new();
    let mut listen = Vec::new();
    // `sshd -T` prints exactly `keyword value`, one space. Values are taken
    // verbatim: an odd spelling fails the check rather than being tidied into a pass.
    for line in text.lines() {
        let Some((key, value)) = line.split_once(' ') else { continue };
        if key == "listenaddress" {
            listen.push(value.to_owned());
        } else if EVIDENCE_KEYS.contains(&key) {
            settings.insert(key.to_owned(), Value::String(value.to_owned()));
        }
    }
    settings.insert("listenaddress".into(), json!(listen));
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for addr in &listen {
        // `0.0.0.0:22`, `[::]:22`, `100.101.102.103:22`.
        let host = addr.rsplit_once(':').map_or(addr.as_str(), |(h, _)| h);
        match parse_bind_addr(host).map(|b| classify(b.ip)) {
            Ok(Class::Loopback | Class::Tailnet) => {}
            Ok(Class::TailnetV6) => warnings.push(format!("ListenAddress {} is Tailscale IPv6", addr)),
            Ok(class) => problems.push(format!("ListenAddress {} is {class}", addr)),
            Err(_) => problems.push(format!("ListenAddress {} cannot be parsed", addr)),
        }
    }
    if listen.is_empty() {
        problems.push("no ListenAddress reported".into());
    }
    if settings.get("passwordauthentication").and_then(Value::as_str) != Some("no") {
        problems.push("PasswordAuthentication is not no".into());
    }
    if settings.get("permitrootlogin").and_then(Value::as_str).is_none_or(|v| v == "yes") {
        problems.push("PermitRootLogin is yes".into());
    }
    let says = |key: &str, want: &str| settings.get(key).and_then(Value::as_str) == Some(want);
    if says("kbdinteractiveauthentication", "yes") && says("usepam", "yes") {
        problems.push("KbdInteractiveAuthentication yes with UsePAM yes still allows password logins".into());
    }
    let details = json!({"settings": settings});
    if !problems.is_empty() {
        return Outcome::fail(
            problems.join("; "),
            "in /etc/ssh/sshd_config.d/99-tailscale-only.conf set `AddressFamily inet`, `ListenAddress <Tailscale 100.x IP>`, \
             `PasswordAuthentication no`, `PermitRootLogin prohibit-password`; validate with `sshd -t`, then restart ssh while \
             keeping your current session open",
        )
        .details(details);
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
}
