//! Snapshots of `check-registry`'s human and JSON output (the temp
//! registry path redacted), and its refusal of a bad registry.

use crate::support::{CONSOLE, TempHost, write_private};

const REGISTRY: &str = r#"
[[action]]
id = "env"
label = "Environment"
description = "Prints the child's environment"
argv = ["/usr/bin/env"]
timeout_sec = 5
concurrent = true

[action.params.mode]
type = "enum"
values = ["short", "long"]
required = true

[action.params.count]
type = "int"
min = 1
max = 9

[[action]]
id = "true"
label = "True"
description = "Does nothing, slowly"
argv = ["/bin/true", "--ignored"]
timeout_sec = 600
long_running = true

[action.params.tag]
type = "string"
max_len = 16
pattern = "[a-z]+"
"#;

fn check(host: &TempHost, format: &str) -> (i32, String, String) {
    let out = host
        .command(CONSOLE)
        .args(["check-registry", "--format", format, "--registry"])
        .arg(host.path("registry.toml"))
        .output()
        .unwrap();
    let redact = |b: &[u8]| String::from_utf8_lossy(b).replace(&host.root().display().to_string(), "[TMP]");
    (out.status.code().unwrap(), redact(&out.stdout), redact(&out.stderr))
}

#[test]
fn check_registry_human_and_json() {
    let host = TempHost::new();
    write_private(&host.path("registry.toml"), REGISTRY);
    let (code, human, _) = check(&host, "human");
    assert_eq!(code, 0);
    insta::assert_snapshot!(human);
    let (code, json, _) = check(&host, "json");
    assert_eq!(code, 0);
    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["tool_version"] = "[version]".into();
    insta::assert_json_snapshot!(v);
    write_private(&host.path("registry.toml"), &REGISTRY.replace("max = 9", "max = 0"));
    let (code, out, err) = check(&host, "human");
    assert_eq!((code, out.as_str()), (2, ""));
    assert_eq!(
        err,
        "openclaw-console: registry: [TMP]/registry.toml:17:7: action `env`: params.count: `min` is larger than `max`\n"
    );
}
