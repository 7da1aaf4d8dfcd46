//! `audit-leaks` over every directory systemd reads units from, with the
//! roots redirected (`OPENCLAW_LEAKS_ROOT`) into a temp dir: a canary key
//! planted in each place, in each spelling systemd accepts, must be found,
//! and never printed.

use crate::support::{CANARY, Host, KeyctlRuns};

/// The canary with its `Q` written as the C escape `\x51`, as systemd decodes it.
fn escaped_canary() -> String {
    CANARY.replacen('Q', "\\x51", 1)
}

#[test]
fn audit_leaks_finds_a_key_in_every_unit_directory_and_every_spelling() {
    let host = Host::new();
    let run = host.run(&["set", "OPENAI_API_KEY", "--no-validate"], CANARY);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let root = host.path("root");
    let plant = |rel: &str, text: &str| {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
    };
    let r = root.display();
    let places = [
        // Spaces around `=`, several quoted items.
        (
            "usr/local/lib/systemd/system/a.service",
            format!("[Service]\nEnvironment = \"B=c\" \"OPENAI_API_KEY={CANARY}\"\n"),
        ),
        // What `systemd-run --setenv=` writes, with a C escape inside the quotes.
        (
            "run/systemd/transient/run-u7.service",
            format!("[Service]\nEnvironment=\"OPENAI_API_KEY={}\"\n", escaped_canary()),
        ),
        // A continued line in a user unit's drop-in.
        (
            "etc/systemd/user/c.service.d/override.conf",
            format!("[Service]\nEnvironment=A=b \\\n  \"OPENAI_API_KEY={CANARY}\"\n"),
        ),
        (
            "etc/systemd/system.control/d.service.d/50-env.conf",
            format!("[Service]\nEnvironmentFile = -{r}/elsewhere/d.env\n"),
        ),
        ("run/systemd/generator.late/e.service", format!("[Service]\nEnvironment=OPENAI_API_KEY={CANARY}\n")),
        // A wildcard EnvironmentFile=, as systemd accepts.
        ("etc/systemd/system/j.service", format!("[Service]\nEnvironmentFile=-{r}/elsewhere/glob/*.env\n")),
        (
            "lib/systemd/system/f.service",
            format!(
                "[Service]\n; a comment\nEnvironmentFile=\\\n  {r}/elsewhere/f.env\n# EnvironmentFile={r}/elsewhere/commented.env\n"
            ),
        ),
        ("home/alice/.config/systemd/user/g.service", format!("[Service]\nEnvironment=OPENAI_API_KEY={CANARY}\n")),
        (
            "run/user/1000/systemd/transient/h.service",
            format!("[Service]\nEnvironment=\"OPENAI_API_KEY={}\"\n", escaped_canary()),
        ),
        ("etc/systemd/system.conf.d/env.conf", format!("[Manager]\nDefaultEnvironment=\"OPENAI_API_KEY={CANARY}\"\n")),
        // A service account's own user units, its home named only in /etc/passwd.
        ("var/lib/svc/.config/systemd/user/i.service", format!("[Service]\nEnvironment=OPENAI_API_KEY={CANARY}\n")),
    ];
    for (rel, text) in &places {
        plant(rel, text);
    }
    plant("etc/passwd", "root:x:0:0::/root:/bin/bash\nsvc:x:999:999::/var/lib/svc:/usr/sbin/nologin\n");
    plant("elsewhere/glob/app.env", &format!("OPENAI_API_KEY={CANARY}\n"));
    for env in ["d.env", "f.env", "commented.env"] {
        plant(&format!("elsewhere/{env}"), &format!("OPENAI_API_KEY=\"{CANARY}\"\n"));
    }
    let leaks_root = root.to_str().unwrap();
    let run = host.run_with(&["audit-leaks"], "", &[("OPENCLAW_LEAKS_ROOT", leaks_root)], CANARY);
    assert_eq!(run.code, 1, "{}{}", run.stdout, run.stderr);
    run.assert_no_leak(CANARY, "audit-leaks");
    for (rel, _) in places
        .iter()
        .filter(|(rel, _)| !rel.contains("d.service.d") && !rel.ends_with("f.service") && !rel.ends_with("j.service"))
    {
        let unit = format!("unit file {r}/{rel}");
        assert!(run.stdout.contains(&unit), "missing {unit}:\n{}", run.stdout);
    }
    for env in ["d.env", "f.env", "glob/app.env"] {
        let place = format!("EnvironmentFile {r}/elsewhere/{env}");
        assert!(run.stdout.contains(&place), "missing {place}:\n{}", run.stdout);
    }
    assert!(!run.stdout.contains("commented.env"), "a commented-out line is not an assignment:\n{}", run.stdout);
}
