//! The secret resolver: order, shadowing, file rules, masks and key ids.

use super::*;
use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

const CANARY: &str = "sk-canary-1234567890-ZZTOP-abcd";

struct Env(HashMap<String, String>);

impl Env {
    fn of(pairs: &[(&str, &str)]) -> Env {
        Env(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }
    fn get(&self, k: &str) -> Option<String> {
        self.0.get(k).cloned()
    }
}

fn euid() -> u32 {
    rustix::process::geteuid().as_raw()
}

fn put(dir: &Path, name: &str, value: &str, mode: u32) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).unwrap();
    let p = dir.join(name);
    fs::write(&p, value).unwrap();
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
    p
}

fn resolver<'a>(env: &'a dyn Fn(&str) -> Option<String>, kc: &'a dyn Keychain, dir: &Path) -> Resolver<'a> {
    Resolver { env, keychain: kc, credentials_dir: None, secrets_dir: dir.to_owned() }
}

#[test]
fn environment_beats_keychain_beats_file_and_shadowing_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "openai_api_key", "sk-from-the-file-0000000000", 0o600);
    let kc = MemoryKeychain::default();
    let env = Env::of(&[("OPENAI_API_KEY", CANARY)]);
    let lookup = |k: &str| env.get(k);
    let r = resolver(&lookup, &kc, tmp.path());
    let res = r.resolve("OPENAI_API_KEY").unwrap();
    assert_eq!(res.winner.source, Source::Env);
    assert_eq!(res.winner.value.expose_secret(), CANARY);
    assert_eq!(res.shadowed, vec![Source::File { path: tmp.path().join("openai_api_key") }]);

    kc.set("OPENAI_API_KEY", &SecretString::from("sk-from-the-file-0000000000")).unwrap();
    let none = |_: &str| None;
    let r = resolver(&none, &kc, tmp.path());
    let res = r.resolve("OPENAI_API_KEY").unwrap();
    assert_eq!(res.winner.source, Source::Keychain);
    assert!(res.shadowed.is_empty());
    assert_eq!(res.duplicates, vec![Source::File { path: tmp.path().join("openai_api_key") }]);
}

#[test]
fn empty_or_whitespace_env_counts_as_absent() {
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "pushover_user_key", "u0123456789abcdefghijklmnopqrs", 0o600);
    let env = Env::of(&[("PUSHOVER_USER_KEY", "  \t")]);
    let lookup = |k: &str| env.get(k);
    let res = resolver(&lookup, &NoKeychain, tmp.path()).resolve("PUSHOVER_USER_KEY").unwrap();
    assert!(matches!(res.winner.source, Source::File { .. }));
}

#[test]
fn systemd_credentials_come_before_the_secrets_directory() {
    let tmp = tempfile::tempdir().unwrap();
    put(&tmp.path().join("creds"), "PUSHOVER_APP_TOKEN", "a-from-credentials-000000000", 0o400);
    put(&tmp.path().join("secrets"), "pushover_app_token", "a-from-the-secrets-dir-00000", 0o600);
    let none = |_: &str| None;
    let mut r = resolver(&none, &NoKeychain, &tmp.path().join("secrets"));
    r.credentials_dir = Some(tmp.path().join("creds"));
    let res = r.resolve("PUSHOVER_APP_TOKEN").unwrap();
    assert!(matches!(res.winner.source, Source::Credential { .. }));
    assert_eq!(res.shadowed.len(), 1);
}

#[test]
fn missing_key_names_every_source_and_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let none = |_: &str| None;
    let err = resolver(&none, &NoKeychain, &tmp.path().join("secrets"))
        .resolve("OPENCLAW_CONSOLE_TOKEN")
        .unwrap_err()
        .to_string();
    for part in [
        "environment variable OPENCLAW_CONSOLE_TOKEN",
        "keychain (not available on this platform)",
        "openclaw_console_token",
        "openclaw-keyctl set OPENCLAW_CONSOLE_TOKEN",
    ] {
        assert!(err.contains(part), "{err}");
    }
}

#[test]
fn unsafe_files_are_refused_with_the_fix_and_never_read() {
    let tmp = tempfile::tempdir().unwrap();
    let none = |_: &str| None;
    for (mode, problem) in [(0o644, "mode 0644"), (0o640, "mode 0640"), (0o604, "mode 0604")] {
        let p = put(tmp.path(), "openai_api_key", CANARY, mode);
        let err = resolver(&none, &NoKeychain, tmp.path()).resolve("OPENAI_API_KEY").unwrap_err().to_string();
        assert!(err.contains(problem) && err.contains(&format!("chmod 600 {}", p.display())), "{err}");
        assert!(!err.contains(CANARY));
    }
    fs::remove_file(tmp.path().join("openai_api_key")).unwrap();
    let target = put(&tmp.path().join("elsewhere"), "real", CANARY, 0o600);
    std::os::unix::fs::symlink(&target, tmp.path().join("openai_api_key")).unwrap();
    let err = resolver(&none, &NoKeychain, tmp.path()).resolve("OPENAI_API_KEY").unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
    fs::remove_file(tmp.path().join("openai_api_key")).unwrap();
    fs::create_dir(tmp.path().join("openai_api_key")).unwrap();
    let err = resolver(&none, &NoKeychain, tmp.path()).resolve("OPENAI_API_KEY").unwrap_err().to_string();
    assert!(err.contains("not a regular file"), "{err}");
}

#[test]
fn a_file_owned_by_someone_else_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let p = put(tmp.path(), "openai_api_key", CANARY, 0o600);
    if euid() != 0 {
        #[expect(clippy::print_stderr, reason = "a skipped test must say why")]
        {
            eprintln!("SKIPPED: chown needs root");
        }
        return;
    }
    std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
    let err = read_secret_file(&p).unwrap_err().to_string();
    assert!(err.contains("owned by uid 65534") && err.contains("chown root:root "), "{err}");
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let tmp = tempfile::tempdir().unwrap();
    let p = tmp.path().join("openai_api_key");
    assert!(std::process::Command::new("mkfifo").arg(&p).status().unwrap().success());
    let err = read_secret_file(&p).unwrap_err().to_string();
    assert!(err.contains("named pipe"), "{err}");
}

#[test]
fn written_files_are_0600_even_with_a_hostile_umask() {
    let tmp = tempfile::tempdir().unwrap();
    let old = rustix::process::umask(rustix::fs::Mode::empty());
    let dir = tmp.path().join("secrets");
    let p = write_secret_file(&dir, "OPENAI_API_KEY", &SecretString::from(CANARY)).unwrap();
    rustix::process::umask(old);
    assert_eq!(fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(read_secret_file(&p).unwrap().unwrap().expose_secret(), CANARY);
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
    assert!(matches!(
        write_secret_file(&dir, "OPENAI_API_KEY", &SecretString::from("x")),
        Err(SecretError::Refused { .. })
    ));
}

#[test]
fn mask_shows_only_the_ends_of_long_values() {
    assert_eq!(mask(&SecretString::from("sk-abcdefghijklmnopqrstuvwxyz1234")), "sk-…1234");
    assert_eq!(mask(&SecretString::from("0123456789abcdef")), "012…cdef");
    assert_eq!(mask(&SecretString::from("0123456789abcde")), "****");
    assert_eq!(mask(&SecretString::from("")), "****");
    let m = mask(&SecretString::from(CANARY));
    assert!(!m.contains("canary"));
}

#[test]
fn key_id_is_stable_per_salt_and_matches_an_independent_hmac() {
    let v = SecretString::from(CANARY);
    assert_eq!(key_id(&v, b"salt-a"), key_id(&v, b"salt-a"));
    assert_ne!(key_id(&v, b"salt-a"), key_id(&v, b"salt-b"));
    assert_eq!(key_id(&v, b"salt-a").len(), 8);
    // RFC 4231 test case 2: HMAC-SHA256(key "Jefe", "what do ya want for nothing?").
    assert_eq!(key_id(&SecretString::from("what do ya want for nothing?"), b"Jefe"), "5bdcc146");
}

#[test]
fn salt_and_last_success_persist() {
    let tmp = tempfile::tempdir().unwrap();
    let salt = host_salt(tmp.path()).unwrap();
    assert_eq!(salt.len(), 32);
    assert_eq!(host_salt(tmp.path()).unwrap(), salt);
    assert!(last_successes(tmp.path()).unwrap().is_empty());
    record_success(tmp.path(), "PUSHOVER_APP_TOKEN", "deadbeef").unwrap();
    let all = last_successes(tmp.path()).unwrap();
    assert_eq!(all["PUSHOVER_APP_TOKEN"].key_id, "deadbeef");
    assert_eq!(fs::metadata(tmp.path().join("keyctl/last_success.json")).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_value_typed_as_a_name_is_not_repeated() {
    let err = validate_name(CANARY).unwrap_err().to_string();
    assert!(!err.contains("canary") && err.contains("not repeated"), "{err}");
}

#[test]
fn systemd_credentials_may_be_0440_but_secrets_files_may_not() {
    let tmp = tempfile::tempdir().unwrap();
    put(&tmp.path().join("creds"), "PUSHOVER_APP_TOKEN", "a-from-credentials-000000000", 0o440);
    let none = |_: &str| None;
    let mut r = resolver(&none, &NoKeychain, &tmp.path().join("secrets"));
    r.credentials_dir = Some(tmp.path().join("creds"));
    assert!(matches!(r.resolve("PUSHOVER_APP_TOKEN").unwrap().winner.source, Source::Credential { .. }));
    put(&tmp.path().join("secrets"), "pushover_user_key", "u-from-the-secrets-dir-00000", 0o440);
    assert!(r.resolve("PUSHOVER_USER_KEY").is_err());
}

#[test]
fn a_writable_or_symlinked_secrets_directory_is_refused_before_reading() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    put(&dir, "openai_api_key", CANARY, 0o600);
    let none = |_: &str| None;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    let err = resolver(&none, &NoKeychain, &dir).resolve("OPENAI_API_KEY").unwrap_err().to_string();
    assert!(err.contains("group and others may have no access") && err.contains("chmod 700"), "{err}");
    // 0750 too: a group that can list the directory learns which keys exist.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o750)).unwrap();
    let err = resolver(&none, &NoKeychain, &dir).resolve("OPENAI_API_KEY").unwrap_err().to_string();
    assert!(err.contains("mode 0750") && err.contains("chmod 700"), "{err}");
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let err = resolver(&none, &NoKeychain, &link).resolve("OPENAI_API_KEY").unwrap_err().to_string();
    assert!(err.contains("symbolic link"), "{err}");
}

#[test]
fn the_salt_is_checked_like_a_secret_and_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let salt = host_salt(tmp.path()).unwrap();
    let path = tmp.path().join("keyctl/salt");
    assert_eq!(fs::read_to_string(&path).unwrap(), to_hex(&salt));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(host_salt(tmp.path()), Err(SecretError::Refused { .. })));
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    // Concurrent first use: everyone ends up with the same salt.
    let fresh = tempfile::tempdir().unwrap();
    let dir = fresh.path().to_owned();
    let salts: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8).map(|_| s.spawn(|| host_salt(&dir).unwrap())).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(salts.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn names_are_validated() {
    for ok in ["OPENAI_API_KEY", "A", "X9_"] {
        validate_name(ok).unwrap();
    }
    for bad in ["", "openai", "9X", "A-B", "../A", &"A".repeat(129)] {
        assert!(validate_name(bad).is_err(), "{bad}");
    }
}

#[test]
fn found_never_debug_prints_its_value() {
    let f = Found { source: Source::Env, value: SecretString::from(CANARY) };
    assert!(!format!("{f:?}").contains("canary"));
}

#[test]
fn the_store_keychain_round_trips_through_keyring_core_and_resolves_before_files() {
    let kc = StoreKeychain::new(keyring_core::mock::Store::new().unwrap(), "mock");
    assert!(kc.get("OPENAI_API_KEY").unwrap().is_none());
    kc.set("OPENAI_API_KEY", &SecretString::from(CANARY)).unwrap();
    assert_eq!(kc.get("OPENAI_API_KEY").unwrap().unwrap().expose_secret(), CANARY);
    let tmp = tempfile::tempdir().unwrap();
    put(tmp.path(), "openai_api_key", "sk-older-value-in-the-file-000", 0o600);
    let none = |_: &str| None;
    let res = resolver(&none, &kc, tmp.path()).resolve("OPENAI_API_KEY").unwrap();
    assert_eq!(res.winner.source, Source::Keychain);
    assert_eq!(res.shadowed.len(), 1);
    assert!(kc.delete("OPENAI_API_KEY").unwrap());
    assert!(!kc.delete("OPENAI_API_KEY").unwrap());
}

#[test]
fn a_failing_keychain_is_an_error_not_an_absent_key() {
    struct Broken;
    impl Keychain for Broken {
        fn describe(&self) -> &'static str {
            "broken"
        }
        fn get(&self, _: &str) -> Result<Option<SecretString>, KeychainError> {
            Err(KeychainError::Store(keyring_core::Error::NoStorageAccess("keychain locked".into())))
        }
        fn set(&self, _: &str, _: &SecretString) -> Result<(), KeychainError> {
            Err(KeychainError::Poisoned)
        }
        fn delete(&self, _: &str) -> Result<bool, KeychainError> {
            Err(KeychainError::Poisoned)
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let none = |_: &str| None;
    let err = resolver(&none, &Broken, tmp.path()).resolve("OPENAI_API_KEY").unwrap_err();
    assert!(matches!(err, SecretError::Keychain(KeychainError::Store(_))), "{err}");
}

#[test]
fn last_success_records_follow_the_private_path_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keyctl");
    fs::create_dir_all(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let file = dir.join("last_success.json");
    // A FIFO used to hang `keyctl status` forever.
    rustix::fs::mkfifoat(rustix::fs::CWD, &file, rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    assert!(last_successes(tmp.path()).unwrap_err().to_string().contains("named pipe"));
    fs::remove_file(&file).unwrap();
    fs::write(&file, r#"{"OPENAI_API_KEY":{"ts":"2026-11-28T00:00:00Z","key_id":"abcd1234"}}"#).unwrap();
    assert_eq!(last_successes(tmp.path()).unwrap().len(), 1);
    // A directory others can write could hold a forged success.
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
    assert!(matches!(last_successes(tmp.path()), Err(SecretError::Refused { .. })));
}

#[test]
fn stale_names_are_exactly_what_an_interrupted_key_write_leaves() {
    use std::ffi::OsStr;
    for stale in [".openclaw_console_token.tmp.4242.0", ".openai_api_key.prev", ".k9.tmp.1.18446744073709551615"] {
        assert!(is_stale_name(OsStr::new(stale)), "{stale}");
    }
    for other in [
        "openclaw_console_token",
        ".openclaw_console_token",
        ".Openai.prev",
        "..prev",
        ".k.tmp.x.0",
        ".k.tmp.1.",
        ".k.tmp..1",
        ".k.tmq.1.0",
        "k.tmp.1.0",
        ".k.tmp.1.0.0",
    ] {
        assert!(!is_stale_name(OsStr::new(other)), "{other}");
    }
}

#[test]
fn a_replacement_is_kept_or_taken_back_and_a_removal_too() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("s");
    write_secret_file(&dir, "OPENCLAW_CONSOLE_TOKEN", &SecretString::from("old".to_owned())).unwrap();
    let path = dir.join("openclaw_console_token");
    let staged = stage_secret_file(&dir, "OPENCLAW_CONSOLE_TOKEN", &SecretString::from("new".to_owned())).unwrap();
    assert_eq!(stale_files(&dir).unwrap().len(), 1, "the staged temporary file");
    staged.commit().unwrap().undo().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "old");
    assert!(stale_files(&dir).unwrap().is_empty());
    let staged = stage_secret_file(&dir, "OPENCLAW_CONSOLE_TOKEN", &SecretString::from("new".to_owned())).unwrap();
    staged.commit().unwrap().keep();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    assert!(stale_files(&dir).unwrap().is_empty());
    drop(stage_secret_file(&dir, "OPENCLAW_CONSOLE_TOKEN", &SecretString::from("dropped".to_owned())).unwrap());
    assert!(stale_files(&dir).unwrap().is_empty(), "a dropped stage removes its file");
    remove_secret_file(&dir, "OPENCLAW_CONSOLE_TOKEN").unwrap().unwrap().undo().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), "new");
    remove_secret_file(&dir, "OPENCLAW_CONSOLE_TOKEN").unwrap().unwrap().keep();
    assert!(!path.exists() && stale_files(&dir).unwrap().is_empty());
    assert!(remove_secret_file(&dir, "OPENCLAW_CONSOLE_TOKEN").unwrap().is_none());
}

#[test]
fn an_empty_salt_is_refused_by_readers_and_replaced_by_the_repairer() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("keyctl");
    fs::create_dir(&dir).unwrap();
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o700)).unwrap();
    let salt = dir.join("salt");
    fs::File::create(&salt).unwrap();
    fs::set_permissions(&salt, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(host_salt(tmp.path()), Err(SecretError::Refused { .. })));
    assert_eq!(existing_host_salt(tmp.path()).unwrap(), None);
    let (s, found) = host_salt_repairing(tmp.path()).unwrap();
    assert_eq!(found, SaltFound::ReplacedEmpty);
    assert_eq!(host_salt(tmp.path()).unwrap(), s);
    assert_eq!(host_salt_repairing(tmp.path()).unwrap(), (s, SaltFound::Existing));
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
}
