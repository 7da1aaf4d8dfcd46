//! Unit tests of the registry loader: the binding shape parses; every bad
//! action is refused with its location; lookups are exact.

use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Registry, ConfigError> {
    let doc = Document::from_text(Path::new("/etc/openclaw/console-actions.toml"), text);
    Registry::parse(&doc, &|p: &Path, _| if p.starts_with("/untrusted") { Err("mode 0777".into()) } else { Ok(()) })
}

const GOOD: &str = r#"
[[action]]
id = "doctor"                      # [a-z0-9._-]{1,64}
label = "Run the doctor"
description = "Full posture audit"
argv = ["/usr/bin/openclaw-doctor", "--format", "json"]
timeout_sec = 120
concurrent = false                 # default false: one run at a time
long_running = false               # true: answer 202 and let the client poll

[action.params.only]               # optional; one table per param
type = "enum"                      # enum | int | bool | string
values = ["listeners", "firewall"] # enum only
required = false
"#;

#[test]
fn the_documented_shape_parses() {
    let reg = parse(GOOD).unwrap();
    let a = reg.get("doctor").unwrap();
    assert_eq!(a.argv, ["/usr/bin/openclaw-doctor", "--format", "json"]);
    assert_eq!(a.timeout, Duration::from_secs(120));
    assert!(!a.concurrent && !a.long_running);
    assert_eq!(a.params.len(), 1);
    assert!(reg.get("Doctor").is_none() && reg.get("__proto__").is_none() && reg.get("doctor ").is_none());
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

fn action(fields: &str) -> String {
    format!("[[action]]\n{fields}\n")
}

#[test]
fn bad_actions_are_refused_with_file_line_and_reason() {
    let base = "label = \"l\"\ndescription = \"d\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5";
    for (text, needle) in [
        (action(&format!("id = \"../x\"\n{base}")), ":2:6: action id must be"),
        (action(&format!("id = \".hidden\"\n{base}")), "action id must be"),
        (action(&format!("id = \"{}\"\n{base}", "a".repeat(65))), "action id must be"),
        (
            format!("{}{}", action(&format!("id = \"x\"\n{base}")), action(&format!("id = \"x\"\n{base}"))),
            "defined twice",
        ),
        (
            action("id = \"x\"\nlabel = \"\"\ndescription = \"d\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5"),
            "label must be",
        ),
        (
            action(
                "id = \"x\"\nlabel = \"l\"\ndescription = \"d\\u001b[31m\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5",
            ),
            "description must be",
        ),
        (action("id = \"x\"\nlabel = \"l\"\ndescription = \"d\"\nargv = []\ntimeout_sec = 5"), "argv must hold"),
        (
            action("id = \"x\"\nlabel = \"l\"\ndescription = \"d\"\nargv = [\"sh\", \"-c\", \"id\"]\ntimeout_sec = 5"),
            "absolute path",
        ),
        (
            action("id = \"x\"\nlabel = \"l\"\ndescription = \"d\"\nargv = [\"/untrusted\"]\ntimeout_sec = 5"),
            "cannot be trusted: mode 0777",
        ),
        (
            action("id = \"x\"\nlabel = \"l\"\ndescription = \"d\"\nargv = [\"/bin/true\"]\ntimeout_sec = 86401"),
            "timeout_sec must be",
        ),
        (action(&format!("id = \"x\"\n{base}\nshell = true")), "unknown field `shell`"),
        (
            action(
                "id = \"x\"\nlabel = \"l\"\ndescription = \"d\"\nargv = [\"/bin/sh\", \"/untrusted/x.sh\"]\ntimeout_sec = 5",
            ),
            "argv[1] names a path that cannot be trusted",
        ),
        (
            action(
                "id = \"x\"\nlabel = \"l\"\ndescription = \"d\"\nargv = [\"/bin/sh\", \"../../tmp/x.sh\"]\ntimeout_sec = 5",
            ),
            "argv[1] leaves the run directory",
        ),
        (action(&format!("id = \"x\"\n{base}\n[action.params.p]\ntype = \"string\"\nmax_len = 5")), "needs `pattern`"),
        (action(&format!("id = \"x\"\n{base}\n[action.params.P]\ntype = \"bool\"")), "parameter names"),
        ("".to_owned(), "holds no [[action]]"),
        ("[[actions]]\n".to_owned(), "unknown field `actions`"),
    ] {
        let e = err(&text);
        assert!(e.contains(needle), "{needle:?} not in {e}\n{text}");
        assert!(e.starts_with("/etc/openclaw/console-actions.toml:"), "{e}");
    }
}

#[test]
fn size_limits_hold() {
    let one = |i: usize| {
        action(&format!("id = \"a{i}\"\nlabel = \"l\"\ndescription = \"d\"\nargv = [\"/bin/true\"]\ntimeout_sec = 5"))
    };
    let many: String = (0..=MAX_ACTIONS).map(one).collect();
    assert!(err(&many).contains("more than 256 actions"));
    let params: String = (0..=MAX_PARAMS).map(|i| format!("[action.params.p{i}]\ntype = \"bool\"\n")).collect();
    let text = format!("{}{params}", one(0));
    assert!(err(&text).contains("more than 32 params"));
}
