//! The `sshd` check against the real OpenSSH server: a config file and host
//! key made by the test, `doctor.sshd_config` pointing at it, and
//! `sshd -T -f FILE -C …` answering for every probed login.

use std::path::Path;

use crate::netns::{Netns, check_in, prerequisites};
use crate::support::{Host, is_root, skip, status};

const SSHD: &str = "/usr/sbin/sshd";

/// A host whose `sshd` is the real one and whose config is `config` (plus a
/// fresh host key), and a namespace where 100.101.102.103 sits on tailscale0
/// for the doctor to run in.
/// `sshd -T` insists on its privilege-separation directory, so the wrapper
/// gives it a private /run in a mount namespace of its own instead of
/// creating /run/sshd on the host.
fn with_real_sshd(config: &str) -> Option<(Host, Netns)> {
    if !is_root() || !prerequisites() {
        skip("sshd -T reads host keys and needs root");
        return None;
    }
    let keygen = Path::new("/usr/bin/ssh-keygen");
    if !Path::new(SSHD).exists() || !keygen.exists() || !Path::new("/usr/bin/unshare").exists() {
        skip("needs openssh-server, openssh-client and util-linux");
        return None;
    }
    let mut host = Host::new();
    let key = host.path("ssh/host_ed25519");
    std::fs::create_dir_all(key.parent().unwrap()).unwrap();
    let out =
        std::process::Command::new(keygen).args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let cfg = host.path("ssh/sshd_config");
    std::fs::write(&cfg, format!("HostKey {}\n{config}", key.display())).unwrap();
    host.stub(
        "sshd",
        &format!(
            "exec /usr/bin/unshare -m /bin/sh -c '/usr/bin/mount -t tmpfs openclaw-test /run && /usr/bin/mkdir -m 0755 /run/sshd && exec {SSHD} \"$@\"' sshd \"$@\""
        ),
    );
    host.config(&format!("[doctor]\nhttp_health = []\ntracked_units = []\nsshd_config = \"{}\"\n", cfg.display()));
    Some((host, Netns::create().expect("ip netns add")))
}

const PRIVATE: &str = "ListenAddress 100.101.102.103\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nKbdInteractiveAuthentication no\n";

#[test]
fn real_sshd_private_config_passes() {
    let Some((host, ns)) = with_real_sshd(PRIVATE) else { return };
    let (run, check) = check_in(&host, &ns, "sshd");
    assert_eq!((status(&check), run.code), ("pass", 0), "{check:#}{}", run.stderr);
}

#[test]
fn real_sshd_match_blocks_for_any_source_or_user_that_allow_passwords_fail_naming_the_combination() {
    let cases = [
        // The example: the tailnet and a LAN get passwords and root logins.
        ("Match Address 100.64.0.0/10,192.168.0.0/16\n  PasswordAuthentication yes\n  PermitRootLogin yes\n", "addr="),
        // Other private ranges, loopback, and keyboard-interactive through PAM.
        ("Match Address 10.0.0.0/8\n  PasswordAuthentication yes\n", "10."),
        ("UsePAM yes\nMatch Address 172.16.0.0/12\n  KbdInteractiveAuthentication yes\n", "172."),
        ("Match Address 127.0.0.0/8,::1\n  PermitRootLogin yes\n", "user=root"),
        // Only on a second port.
        (
            "ListenAddress 100.101.102.103:2222\nMatch LocalPort 2222\n  PasswordAuthentication yes\n",
            "100.101.102.103:2222",
        ),
        // A non-root user only.
        ("Match User *,!root\n  PasswordAuthentication yes\n", "PasswordAuthentication"),
    ];
    for (block, expect) in cases {
        let Some((host, ns)) = with_real_sshd(&format!("{PRIVATE}{block}")) else { return };
        let (run, check) = check_in(&host, &ns, "sshd");
        assert_eq!((status(&check), run.code), ("fail", 1), "{block}: {check:#}");
        let summary = check["summary"].as_str().unwrap();
        assert!(summary.contains(expect) && summary.contains("Match"), "{block}: {summary}");
        assert!(!check["details"]["combinations"].as_array().unwrap().is_empty(), "{check:#}");
    }
    // A non-root user's Match that only loosens root login does not matter for that user.
    let Some((host, ns)) = with_real_sshd(&format!("{PRIVATE}Match User *,!root\n  PermitRootLogin yes\n")) else {
        return;
    };
    let (_, check) = check_in(&host, &ns, "sshd");
    assert_eq!(status(&check), "pass", "{check:#}");
}
