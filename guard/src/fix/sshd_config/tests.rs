//! The sshd edit planner over hand-written configurations: neutralised lines, the added Include, idempotence, `sshd -T` readings.

use super::*;

const IP: Ipv4Addr = Ipv4Addr::new(100, 101, 102, 103);

fn file(path: &str, text: Option<&str>) -> ConfigFile {
    ConfigFile { path: PathBuf::from(path), text: text.map(str::to_owned) }
}

#[test]
fn effective_listen_addresses_and_ports_come_from_sshd_t() {
    let e =
        parse_effective("port 2222\naddressfamily any\nlistenaddress [::]:2222\nlistenaddress 0.0.0.0:2222\n").unwrap();
    assert_eq!(e.ports(), [2222]);
    assert!(!e.is_tailnet_only(IP, &[2222]));
    let e = parse_effective("addressfamily inet\nlistenaddress 100.101.102.103:2222 rdomain x\n").unwrap();
    assert!(e.is_tailnet_only(IP, &[2222]));
    assert!(!e.is_tailnet_only(IP, &[22]), "a port that changed is not compliant");
    let e = parse_effective("addressfamily any\nlistenaddress 100.101.102.103:22\n").unwrap();
    assert!(!e.is_tailnet_only(IP, &[22]), "AddressFamily must be inet");
    assert_eq!(parse_effective("port 22\n"), Err(EffectiveError::NoListen));
    assert!(matches!(parse_effective("listenaddress nonsense\n"), Err(EffectiveError::Unreadable(_))));
}

#[test]
fn debian_default_gets_only_the_dropin() {
    let main = file("/s/sshd_config", Some("Include /s/sshd_config.d/*.conf\n#ListenAddress 0.0.0.0\nPort 22\n"));
    let edits = plan_edits(&main, &[], Path::new("/s/sshd_config.d"), IP, &[22], "T");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0].path, Path::new("/s/sshd_config.d").join(DROPIN_NAME));
    assert!(edits[0].text.contains("AddressFamily inet\nListenAddress 100.101.102.103:22\n"));
}

#[test]
fn conflicting_lines_anywhere_are_disabled_and_include_added() {
    let body = "Port 2222\nlistenaddress=0.0.0.0\n  AddressFamily inet6\nAddressFamily INET\nMatch User x\n  PasswordAuthentication no\n";
    let dir = Path::new("/s/sshd_config.d");
    let other =
        file("/s/sshd_config.d/10-local.conf", Some("ListenAddress [::]:2222\r\nListenAddress 100.101.102.103:2222\n"));
    // Without an Include of the directory, only the fix's own file is included; 10-local.conf stays unread.
    let main = file("/s/sshd_config", Some(body));
    let edits = plan_edits(&main, std::slice::from_ref(&other), dir, IP, &[2222], "T");
    assert_eq!(edits.len(), 2);
    let m = &edits[0].text;
    assert!(m.starts_with("# Added by openclaw-guard T"), "{m}");
    assert!(m.contains("\nInclude /s/sshd_config.d/99-openclaw-tailnet-only.conf\n"), "{m}");
    assert!(m.contains("# DISABLED by openclaw-guard T, was: listenaddress=0.0.0.0\n"));
    assert!(m.contains("# DISABLED by openclaw-guard T, was:   AddressFamily inet6\n"));
    assert!(m.contains("\nAddressFamily INET\n") && m.contains("Port 2222\n") && m.contains("Match User x\n"));
    assert!(edits[1].text.ends_with("ListenAddress 100.101.102.103:2222\n"));
    let again = file("/s/sshd_config", Some(m));
    let ours = file("/s/sshd_config.d/99-openclaw-tailnet-only.conf", Some(&edits[1].text));
    assert!(plan_edits(&again, &[other.clone(), ours], dir, IP, &[2222], "T2").is_empty(), "idempotent");
    // A relative Include of the directory counts, and its files are neutralised too.
    let main = file("/s/sshd_config", Some(&format!("Include sshd_config.d/*.conf\n{body}")));
    let edits = plan_edits(&main, &[other], dir, IP, &[2222], "T");
    assert_eq!(edits.len(), 3);
    assert!(!edits[0].text.contains("# Added by"), "{}", edits[0].text);
    assert_eq!(
        edits[1].text,
        "# DISABLED by openclaw-guard T, was: ListenAddress [::]:2222\nListenAddress 100.101.102.103:2222\n"
    );
}

#[test]
fn an_applied_fix_plans_nothing_more() {
    let main = file("/s/sshd_config", Some("Include /s/sshd_config.d/*.conf\nPort 22\nPort 2200\n"));
    let ours = file("/s/sshd_config.d/99-openclaw-tailnet-only.conf", Some(&dropin_text(IP, &[22, 2200], "OLD")));
    assert!(plan_edits(&main, &[ours], Path::new("/s/sshd_config.d"), IP, &[22, 2200], "NEW").is_empty());
    // A different address is a rewrite of the drop-in.
    let ours = file("/s/sshd_config.d/99-openclaw-tailnet-only.conf", Some(&dropin_text(IP, &[22], "OLD")));
    let edits = plan_edits(&main, &[ours], Path::new("/s/sshd_config.d"), Ipv4Addr::new(100, 64, 0, 1), &[22], "N");
    assert_eq!(edits.len(), 1);
    assert!(edits[0].text.contains("ListenAddress 100.64.0.1:22\n") && !edits[0].text.contains("100.101"));
}

#[test]
fn a_missing_main_file_is_not_invented() {
    let edits = plan_edits(&file("/s/sshd_config", None), &[], Path::new("/s/sshd_config.d"), IP, &[22], "T");
    assert_eq!(edits.len(), 1, "only the drop-in; sshd -t then fails and nothing is restarted");
}

#[test]
fn other_changes_ignore_only_listen_and_family() {
    let before = "port 22\naddressfamily any\nlistenaddress 0.0.0.0:22\npasswordauthentication no\n";
    let after = "port 22\naddressfamily inet\nlistenaddress 100.101.102.103:22\npasswordauthentication no\n";
    assert!(other_changes(before, after).is_empty());
    let after = "port 22\naddressfamily inet\nlistenaddress 100.101.102.103:22\npasswordauthentication yes\nallowusers nobody\n";
    assert_eq!(
        other_changes(before, after),
        ["-passwordauthentication no", "+allowusers nobody", "+passwordauthentication yes"]
    );
}
