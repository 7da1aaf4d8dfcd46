//! Reads `ufw status verbose` for the operator's report. ufw is a front-end:
//! the verdict comes from the ruleset it loaded, never from this text.

use serde::Serialize;

/// What `ufw status verbose` says, as the operator would read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct UfwStatus {
    pub(crate) active: bool,
    /// The `Default:` line, e.g. `deny (incoming), allow (outgoing), disabled (routed)`.
    pub(crate) default: Option<String>,
    /// Rule lines, split into (To, Action, From) where the action word was found.
    pub(crate) rules: Vec<UfwRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct UfwRule {
    pub(crate) to: String,
    pub(crate) action: String,
    pub(crate) from: String,
}

pub(crate) fn parse(text: &str) -> UfwStatus {
    let active = text.lines().any(|l| l.trim() == "Status: active");
    let default = text.lines().find_map(|l| l.trim().strip_prefix("Default:")).map(|d| d.trim().to_owned());
    let rules = text
        .lines()
        .skip_while(|l| !l.starts_with("--"))
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| match split_rule(l) {
            Some(r) => r,
            None => UfwRule { to: l.trim().to_owned(), action: "?".into(), from: String::new() },
        })
        .collect();
    UfwStatus { active, default, rules }
}

/// Splits a ufw rule line into To, Action and From by finding the action word.
///
/// Columns are not fixed-width: a long To such as `Anywhere (v6) on
/// tailscale0` is followed by a single space. The action is read from the
/// right, so an interface named like an action (`22 on DENY`) is not taken for one.
pub(crate) fn split_rule(line: &str) -> Option<UfwRule> {
    let tokens: Vec<&str> = line.split_whitespace().collect();
    let is_action = |t: &str| matches!(t, "ALLOW" | "DENY" | "REJECT" | "LIMIT");
    let is_dir = |t: &str| matches!(t, "IN" | "OUT" | "FWD");
    let idx = (0..tokens.len())
        .rev()
        .find(|&i| is_action(tokens[i]) && tokens.get(i + 1).is_some_and(|d| is_dir(d)))
        .or_else(|| (0..tokens.len()).rev().find(|&i| is_action(tokens[i])))?;
    let mut action = tokens[idx].to_owned();
    let mut from = idx + 1;
    if let Some(dir) = tokens.get(idx + 1).filter(|d| is_dir(d)) {
        action = format!("{action} {dir}");
        from += 1;
    }
    Some(UfwRule { to: tokens[..idx].join(" "), action, from: tokens[from..].join(" ") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_split_from_the_right_and_long_to_columns_are_read() {
        let r = split_rule("Anywhere (v6) on tailscale0 ALLOW IN    Anywhere (v6)").unwrap();
        assert_eq!(
            (r.to.as_str(), r.action.as_str(), r.from.as_str()),
            ("Anywhere (v6) on tailscale0", "ALLOW IN", "Anywhere (v6)")
        );
        let r = split_rule("22 on DENY                 ALLOW IN    Anywhere").unwrap();
        assert_eq!((r.to.as_str(), r.action.as_str()), ("22 on DENY", "ALLOW IN"));
        assert_eq!(split_rule("garbage"), None);
    }

    #[test]
    fn status_is_read_for_the_report() {
        let st = parse(
            "Status: active\nDefault: deny (incoming), allow (outgoing)\n\nTo  Action  From\n--  ------  ----\n22/tcp ALLOW IN Anywhere\n",
        );
        assert!(st.active);
        assert_eq!(st.default.as_deref(), Some("deny (incoming), allow (outgoing)"));
        assert_eq!(st.rules.len(), 1);
        assert!(!parse("Status: inactive\n").active);
    }
}
