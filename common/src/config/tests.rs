//! The config loader: defaults, every key, file:line errors, unsafe files.

use super::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new("/etc/openclaw/openclaw.toml"))
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

#[test]
fn empty_file_means_the_contract_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.listeners, ListenerPolicy::default());
    assert_eq!(c.paths, PathSettings::default());
}

#[test]
fn full_file_is_read() {
    let c = parse(
        r#"
artifacts_root = "/opt/ai-ops-runner/artifacts"
state_dir = "/srv/openclaw"

[listeners]
allowed_cidrs = ["127.0.0.0/8", "::1/128", "100.64.0.1/10"]
allow_tailnet_v6 = true

[[listeners.exemptions]]
exe = "/usr/bin/caddy"
proto = "tcp"
port = 443
addr = "[::ffff:203.0.113.7]"
reason = "public TLS front door"
"#,
    )
    .unwrap();
    assert_eq!(c.paths.artifacts_root.as_deref(), Some(Path::new("/opt/ai-ops-runner/artifacts")));
    assert_eq!(c.paths.state_dir.as_deref(), Some(Path::new("/srv/openclaw")));
    assert!(c.listeners.allow_tailnet_v6);
    // Host bits are dropped: 100.64.0.1/10 means the network 100.64.0.0/10.
    assert_eq!(c.listeners.allowed[2].to_string(), "100.64.0.0/10");
    let e = &c.listeners.exemptions[0];
    assert_eq!((e.proto, e.port), (Some(Proto::Tcp), Some(443)));
    assert_eq!(e.addr, Some("203.0.113.7".parse().unwrap()));
}

#[test]
fn unknown_keys_are_errors_with_file_line_and_key() {
    let msg = err("state_dir = \"/x\"\nsecret_dir = \"/y\"\n");
    assert!(msg.starts_with("/etc/openclaw/openclaw.toml:2:1: "), "{msg}");
    assert!(msg.contains("secret_dir"), "{msg}");
    let msg = err("[listeners]\nallow_tailnet_v6 = true\nallowed_cidr = []\n");
    assert!(msg.starts_with("/etc/openclaw/openclaw.toml:3:"), "{msg}");
    assert!(msg.contains("allowed_cidr"), "{msg}");
    let msg = err("[doctorr]\n");
    assert!(msg.contains(":1:") && msg.contains("doctorr"), "{msg}");
}

#[test]
fn bad_values_are_errors_with_their_location() {
    let msg = err("[listeners]\nallowed_cidrs = [\"127.0.0.0/8\", \"localhost\"]\n");
    assert!(msg.contains(":2:33:") && msg.contains("localhost") && msg.contains("allowed_cidrs"), "{msg}");
    let msg = err("audit_log = \"audit.jsonl\"\n");
    assert!(msg.contains(":1:13:") && msg.contains("audit_log must be an absolute path"), "{msg}");
    let msg = err("[listeners]\nallow_tailnet_v6 = \"yes\"\n");
    assert!(msg.contains(":2:"), "{msg}");
    let msg = err("[[listeners.exemptions]]\nexe = \"tailscaled\"\nreason = \"x\"\n");
    assert!(msg.contains(":2:") && msg.contains("absolute real path"), "{msg}");
    let msg = err("[[listeners.exemptions]]\nexe = \"/usr/sbin/x\"\nreason = \"  \"\n");
    assert!(msg.contains(":3:") && msg.contains("reason"), "{msg}");
    let msg = err("[[listeners.exemptions]]\nexe = \"/usr/sbin/x\"\nproto = \"sctp6\"\nreason = \"r\"\n");
    assert!(msg.contains(":3:") && msg.contains("sctp6"), "{msg}");
    let msg = err("[[listeners.exemptions]]\nexe = \"/usr/sbin/x\"\nport = 70000\nreason = \"r\"\n");
    assert!(msg.contains(":3:"), "{msg}");
    let msg = err("[[listeners.exemptions]]\nexe = \"/usr/sbin/x\"\n");
    assert!(msg.contains("reason"), "{msg}");
    let msg = err("state_dir = \n");
    assert!(msg.contains(":1:"), "{msg}");
}

#[test]
fn missing_default_file_means_defaults_but_missing_explicit_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("openclaw.toml");
    assert_eq!(Config::load(&missing, false).unwrap(), Config::default());
    assert!(matches!(Config::load(&missing, true), Err(ConfigError::Io { .. })));
}

#[test]
fn group_or_world_writable_file_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("openclaw.toml");
    fs::write(&path, "").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).unwrap();
    let msg = Config::load(&path, true).unwrap_err().to_string();
    assert!(msg.contains("writable by group or others") && msg.contains("chmod go-w"), "{msg}");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Config::load(&path, true).is_ok());
}

#[test]
fn foreign_owner_and_non_regular_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("openclaw.toml");
    fs::write(&path, "").unwrap();
    if rustix::process::geteuid().is_root() {
        std::os::unix::fs::chown(&path, Some(65534), None).unwrap();
        let msg = Config::load(&path, true).unwrap_err().to_string();
        assert!(msg.contains("owned by uid 65534") && msg.contains("fix: chown root:root "), "{msg}");
    }
    let msg = Config::load(tmp.path(), true).unwrap_err().to_string();
    assert!(msg.contains("a directory, not a regular file"), "{msg}");
}

#[test]
fn a_fifo_as_the_config_file_is_refused_without_hanging() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("openclaw.toml");
    rustix::fs::mkfifoat(rustix::fs::CWD, &path, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    let msg = Config::load(&path, true).unwrap_err().to_string();
    assert!(msg.contains("named pipe"), "{msg}");
}

#[test]
fn oversized_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("openclaw.toml");
    fs::write(&path, "#".repeat(MAX_CONFIG_BYTES as usize + 10)).unwrap();
    assert!(Config::load(&path, true).unwrap_err().to_string().contains("larger than"));
}

#[test]
fn line_col_counts_characters_not_bytes() {
    assert_eq!(line_col("a\nbé c", 6), (2, 4));
    assert_eq!(line_col("", 10), (1, 1));
}

#[derive(Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardTable {
    interval_secs: u64,
}

#[test]
fn a_tool_reads_its_own_table_with_file_line_errors() {
    let c = parse("secrets_dir = \"/s\"\n\n[guard]\ninterval_secs = 600\n[doctor]\nwhatever = 1\n").unwrap();
    let t = c.tool_table::<GuardTable>("guard").unwrap().unwrap();
    assert_eq!(t.get_ref(), &GuardTable { interval_secs: 600 });
    assert_eq!(line_col(&c.text, t.span().start).0, 3, "the span points into the file");
    assert!(parse("").unwrap().tool_table::<GuardTable>("guard").unwrap().is_none());
    assert!(Config::default().tool_table::<GuardTable>("guard").unwrap().is_none(), "no file, no table");
    let c = parse("\n[guard]\nintervall_secs = 1\n").unwrap();
    let msg = c.tool_table::<GuardTable>("guard").unwrap_err().to_string();
    assert!(msg.starts_with("/etc/openclaw/openclaw.toml:3:1: guard: unknown field `intervall_secs`"), "{msg}");
    let c = parse("[guard]\ninterval_secs = \"soon\"\n").unwrap();
    assert!(c.tool_table::<GuardTable>("guard").unwrap_err().to_string().contains(":2:"));
    let msg = c.invalid_at(Some(0..1), "guard.interval_secs too short".into()).to_string();
    assert!(msg.starts_with("/etc/openclaw/openclaw.toml:1:1: guard.interval_secs"), "{msg}");
}

#[test]
fn only_registered_tool_tables_exist() {
    for t in TOOL_TABLES {
        assert!(parse(&format!("[{t}]\n")).is_ok(), "{t}");
    }
    let msg = err("[gaurd]\ninterval_secs = 1\n");
    assert!(msg.contains(":1:") && msg.contains("gaurd"), "{msg}");
}

#[test]
fn extra_managed_keys_are_validated_and_appended() {
    let c = parse("[keys]\nextra = [\"MISTRAL_API_KEY\", \"OPENAI_API_KEY\"]\n").unwrap();
    let keys = c.managed_keys();
    assert_eq!(keys.len(), 5);
    assert_eq!(keys.last().map(String::as_str), Some("MISTRAL_API_KEY"));
    let msg = err("[keys]\nextra = [\"mistral\"]\n");
    assert!(msg.contains(":2:") && msg.contains("keys.extra"), "{msg}");
}
