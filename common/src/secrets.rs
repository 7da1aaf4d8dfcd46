//! The one secret resolver (contract §3).
//!
//! Resolution is deterministic and never interactive: (1) the environment
//! variable (empty or whitespace counts as absent); (2) the macOS Keychain,
//! service `ai-ops-runner`, account = the name, behind the [`Keychain`]
//! trait (on Linux there is deliberately no keyring: a RAM cache could
//! shadow a rotated file with a stale value); (3) files:
//! `$CREDENTIALS_DIRECTORY/<NAME>` under systemd `LoadCredential=`, then
//! `<secrets dir>/<name in lowercase>`.
//!
//! A secret file is opened with `O_NOFOLLOW` and checked on the open
//! descriptor (regular file, mode 0600 or stricter, owned by root or the
//! caller) before a single byte is read; anything else is refused with an
//! error naming the path, the problem and the command that fixes it. Values
//! only ever live in [`SecretString`]; nothing here prints.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::artifacts::write_atomic;
use crate::hash::to_hex;
use crate::private_path::{self, Class, OpenSpec};

/// The keys the contract manages.
pub const MANAGED: &[&str] = &["OPENAI_API_KEY", "OPENCLAW_CONSOLE_TOKEN", "PUSHOVER_APP_TOKEN", "PUSHOVER_USER_KEY"];

/// Keys other tools keep in the secrets directory besides [`MANAGED`] and
/// `[keys] extra` (the review gate's signing key): files the doctor's
/// `secret-files` check expects there.
pub const OTHER_KEY_FILES: &[&str] = &["OPENCLAW_REVIEW_SIGNING_KEY"];

/// The Keychain service every key is stored under.
pub const KEYCHAIN_SERVICE: &str = "ai-ops-runner";

/// Largest secret file we read.
pub const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Checks a key name against `^[A-Z][A-Z0-9_]{0,127}$`.
pub fn validate_name(name: &str) -> Result<(), SecretError> {
    let ok = (1..=128).contains(&name.len())
        && name.as_bytes()[0].is_ascii_uppercase()
        && name.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
    // The rejected text is not repeated: it may be a key typed where a name belongs.
    if ok { Ok(()) } else { Err(SecretError::BadName { len: name.chars().count() }) }
}

/// Whether `value` has the known shape of key `name`: OpenAI keys start with
/// `sk-`, Pushover keys are 30 letters and digits, the console token is 64
/// hex characters. Other names have no known shape and always pass.
pub fn has_expected_format(name: &str, value: &str) -> bool {
    match name {
        "OPENAI_API_KEY" => value.starts_with("sk-") && value.len() > 20,
        "PUSHOVER_APP_TOKEN" | "PUSHOVER_USER_KEY" => {
            value.len() == 30 && value.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        "OPENCLAW_CONSOLE_TOKEN" => value.len() == 64 && value.bytes().all(|b| b.is_ascii_hexdigit()),
        _ => true,
    }
}

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Source {
    /// The environment variable of the same name.
    Env,
    /// The OS keychain.
    Keychain,
    /// A systemd credential file.
    Credential {
        /// The file.
        path: PathBuf,
    },
    /// A file in the secrets directory.
    File {
        /// The file.
        path: PathBuf,
    },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Env => f.write_str("environment"),
            Source::Keychain => f.write_str("keychain"),
            Source::Credential { path } => write!(f, "systemd credential {}", path.display()),
            Source::File { path } => write!(f, "file {}", path.display()),
        }
    }
}

/// A value and where it was found. `Debug` never shows the value.
pub struct Found {
    /// Where it came from.
    pub source: Source,
    /// The value.
    pub value: SecretString,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found").field("source", &self.source).field("value", &"[redacted]").finish()
    }
}

/// The winning value plus every other source that also holds one.
#[derive(Debug)]
pub struct Resolved {
    /// The value that is used.
    pub winner: Found,
    /// Lower-priority sources holding a *different* value (shadowed).
    pub shadowed: Vec<Source>,
    /// Lower-priority sources holding the same value.
    pub duplicates: Vec<Source>,
}

/// Why a key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The name does not match `^[A-Z][A-Z0-9_]{0,127}$`; its text is not kept.
    #[error(
        "invalid key name ({len} characters, not repeated here in case it is a key): names are A-Z, 0-9 and _, starting with a letter, at most 128 characters"
    )]
    BadName {
        /// Its length in characters.
        len: usize,
    },
    /// No source holds the key.
    #[error("{name} is not set; checked: {}. Fix: openclaw-keyctl set {name} < /path/to/file-with-the-value", checked.join(", "))]
    Missing {
        /// The key.
        name: String,
        /// Every source that was checked.
        checked: Vec<String>,
    },
    /// A file exists but is unsafe, so it was not read.
    #[error("refusing {path}: {problem}; fix: {fix}", path = path.display())]
    Refused {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
        /// The command that fixes it.
        fix: String,
    },
    /// Reading or writing failed.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The keychain failed.
    #[error("keychain: {0}")]
    Keychain(#[from] KeychainError),
    /// Another process held a lock past the bounded wait.
    #[error(transparent)]
    Lock(#[from] crate::lock::LockError),
}

/// Why the keychain could not answer.
#[derive(Debug, thiserror::Error)]
pub enum KeychainError {
    /// There is no keychain on this platform (Linux, by design).
    #[error("no keychain on this platform; keys are stored as files")]
    Unavailable,
    /// An in-memory store's lock was poisoned by a panic.
    #[error("the in-memory keychain is poisoned")]
    Poisoned,
    /// The platform store refused or failed.
    #[error("{0}")]
    Store(#[from] keyring_core::Error),
}

/// The OS keychain, behind a trait so tests use an in-memory store.
pub trait Keychain: Send + Sync {
    /// A short description for status output.
    fn describe(&self) -> &'static str;
    /// Whether values are stored here (macOS) rather than in files (Linux).
    fn available(&self) -> bool {
        true
    }
    /// The stored value, if any.
    fn get(&self, name: &str) -> Result<Option<SecretString>, KeychainError>;
    /// Stores a value.
    fn set(&self, name: &str, value: &SecretString) -> Result<(), KeychainError>;
    /// Deletes a value; `Ok(false)` when there was none.
    fn delete(&self, name: &str) -> Result<bool, KeychainError>;
}

/// No keychain: Linux, by design (see the module docs).
#[derive(Debug, Default)]
pub struct NoKeychain;

impl Keychain for NoKeychain {
    fn describe(&self) -> &'static str {
        "not available on this platform"
    }
    fn available(&self) -> bool {
        false
    }
    fn get(&self, _: &str) -> Result<Option<SecretString>, KeychainError> {
        Ok(None)
    }
    fn set(&self, _: &str, _: &SecretString) -> Result<(), KeychainError> {
        Err(KeychainError::Unavailable)
    }
    fn delete(&self, _: &str) -> Result<bool, KeychainError> {
        Ok(false)
    }
}

/// An in-memory keychain, for tests of code that takes a [`Keychain`].
#[derive(Default)]
pub struct MemoryKeychain(Mutex<BTreeMap<String, SecretString>>);

impl Keychain for MemoryKeychain {
    fn describe(&self) -> &'static str {
        "in-memory (tests)"
    }
    fn get(&self, name: &str) -> Result<Option<SecretString>, KeychainError> {
        let map = self.0.lock().map_err(|_| KeychainError::Poisoned)?;
        Ok(map.get(name).map(|v| SecretString::from(v.expose_secret().to_owned())))
    }
    fn set(&self, name: &str, value: &SecretString) -> Result<(), KeychainError> {
        let mut map = self.0.lock().map_err(|_| KeychainError::Poisoned)?;
        map.insert(name.to_owned(), SecretString::from(value.expose_secret().to_owned()));
        Ok(())
    }
    fn delete(&self, name: &str) -> Result<bool, KeychainError> {
        Ok(self.0.lock().map_err(|_| KeychainError::Poisoned)?.remove(name).is_some())
    }
}

/// A [`Keychain`] over any keyring-core credential store: the macOS
/// Keychain in production, keyring-core's mock store in tests. Entries are
/// service [`KEYCHAIN_SERVICE`], account = the key name. Values go to and
/// from the store through its API, never through a `security … -w` argv.
pub struct StoreKeychain {
    store: std::sync::Arc<keyring_core::api::CredentialStore>,
    describe: &'static str,
}

impl StoreKeychain {
    /// Wraps a keyring-core store.
    pub fn new(store: std::sync::Arc<keyring_core::api::CredentialStore>, describe: &'static str) -> StoreKeychain {
        StoreKeychain { store, describe }
    }

    fn entry(&self, name: &str) -> Result<keyring_core::Entry, KeychainError> {
        Ok(self.store.build(KEYCHAIN_SERVICE, name, None)?)
    }
}

impl Keychain for StoreKeychain {
    fn describe(&self) -> &'static str {
        self.describe
    }
    fn get(&self, name: &str) -> Result<Option<SecretString>, KeychainError> {
        match self.entry(name)?.get_password() {
            Ok(v) => Ok(Some(SecretString::from(v))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
    fn set(&self, name: &str, value: &SecretString) -> Result<(), KeychainError> {
        Ok(self.entry(name)?.set_password(value.expose_secret())?)
    }
    fn delete(&self, name: &str) -> Result<bool, KeychainError> {
        match self.entry(name)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// The platform's keychain: the macOS Keychain there, [`NoKeychain`] on Linux
/// (by design: the kernel keyring is a RAM cache that could shadow a rotated
/// file with a stale value; the 0600 file is the durable store).
///
/// The macOS branch is the only code not compiled on Linux CI; everything it
/// calls ([`StoreKeychain`]) is exercised here with keyring-core's mock store.
pub fn platform_keychain() -> Box<dyn Keychain> {
    #[cfg(target_os = "macos")]
    if let Ok(store) = apple_native_keyring_store::keychain::Store::new() {
        return Box::new(StoreKeychain::new(store, "macOS Keychain (service ai-ops-runner)"));
    }
    Box::new(NoKeychain)
}

/// Resolves keys from the environment, the keychain and files.
pub struct Resolver<'a> {
    /// Environment lookup (tests pass a map).
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The keychain.
    pub keychain: &'a dyn Keychain,
    /// `$CREDENTIALS_DIRECTORY`, when running under systemd `LoadCredential=`.
    pub credentials_dir: Option<PathBuf>,
    /// The secrets directory (`/etc/ai-ops-runner/secrets` by default).
    pub secrets_dir: PathBuf,
}

impl<'a> Resolver<'a> {
    /// The resolver as a running tool sees it: its own environment,
    /// `$CREDENTIALS_DIRECTORY` when systemd set one, and its effective uid.
    pub fn for_process(keychain: &'a dyn Keychain, secrets_dir: PathBuf) -> Resolver<'a> {
        Resolver {
            env: &crate::paths::process_env,
            keychain,
            credentials_dir: crate::paths::process_env("CREDENTIALS_DIRECTORY").map(PathBuf::from),
            secrets_dir,
        }
    }

    /// The secrets-directory file for `name`.
    pub fn file_path(&self, name: &str) -> PathBuf {
        self.secrets_dir.join(name.to_ascii_lowercase())
    }

    /// Every source holding `name`, in priority order. An unsafe file is an error.
    pub fn lookup_all(&self, name: &str) -> Result<Vec<Found>, SecretError> {
        validate_name(name)?;
        let mut res = Vec::new();
        if let Some(v) = (self.env)(name).filter(|v| !v.trim().is_empty()) {
            res.push(Found { source: Source::Env, value: SecretString::from(v) });
        }
        if let Some(v) = self.keychain.get(name)? {
            res.push(Found { source: Source::Keychain, value: v });
        }
        if let Some(dir) = &self.credentials_dir {
            let path = dir.join(name);
            // systemd writes credentials 0400 plus a read ACL for the service's
            // User=, which stat shows as 0440, on a private per-service mount.
            if let Some(v) = read_checked(&path, 0o440)? {
                res.push(Found { source: Source::Credential { path }, value: v });
            }
        }
        check_secrets_dir(&self.secrets_dir)?;
        let path = self.file_path(name);
        if let Some(v) = read_secret_file(&path)? {
            res.push(Found { source: Source::File { path }, value: v });
        }
        Ok(res)
    }

    /// The value to use for `name`, and what it shadows.
    pub fn resolve(&self, name: &str) -> Result<Resolved, SecretError> {
        let mut all = self.lookup_all(name)?.into_iter();
        let Some(winner) = all.next() else {
            return Err(SecretError::Missing { name: name.to_owned(), checked: self.checked(name) });
        };
        let digest = |f: &Found| Sha256::digest(f.value.expose_secret().as_bytes());
        let (mut shadowed, mut duplicates) = (Vec::new(), Vec::new());
        for other in all {
            if digest(&other) == digest(&winner) { duplicates.push(other.source) } else { shadowed.push(other.source) }
        }
        Ok(Resolved { winner, shadowed, duplicates })
    }

    fn checked(&self, name: &str) -> Vec<String> {
        let mut res = vec![format!("environment variable {name}"), format!("keychain ({})", self.keychain.describe())];
        if let Some(dir) = &self.credentials_dir {
            res.push(format!("systemd credential {}", dir.join(name).display()));
        }
        res.push(format!("file {}", self.file_path(name).display()));
        res
    }
}

/// The secrets directory must be a real directory that only root or the
/// caller can enter (the one private-path rule, class `Secret`): in a
/// writable one, files could be swapped between names (the OpenAI key
/// served as the Pushover token). A missing one is fine.
pub fn check_secrets_dir(dir: &Path) -> Result<(), SecretError> {
    private_path::check_dir(dir, Class::Secret).map(|_| ()).map_err(SecretError::from)
}

impl From<private_path::UnsafePath> for SecretError {
    fn from(e: private_path::UnsafePath) -> SecretError {
        match e {
            private_path::UnsafePath::Io { path, source } => SecretError::Io { path, source },
            refused => {
                SecretError::Refused { path: refused.path().to_owned(), problem: refused.problem(), fix: refused.fix() }
            }
        }
    }
}

/// Reads a secret file after checking the open descriptor; `Ok(None)` when
/// it does not exist or is empty. Never reads a file it then refuses.
pub fn read_secret_file(path: &Path) -> Result<Option<SecretString>, SecretError> {
    read_checked(path, 0o600)
}

/// [`read_secret_file`] allowing at most `max_mode` permission bits.
fn read_checked(path: &Path, max_mode: u32) -> Result<Option<SecretString>, SecretError> {
    let refused = |problem: String, fix: String| Err(SecretError::Refused { path: path.to_owned(), problem, fix });
    let spec = OpenSpec { class: Class::Secret, max_file_mode: Some(max_mode), append: false };
    let Some(file) = private_path::open_file(path, spec)? else { return Ok(None) };
    let meta = file.metadata().map_err(|source| SecretError::Io { path: path.to_owned(), source })?;
    if meta.len() > MAX_SECRET_BYTES {
        return refused(format!("larger than {MAX_SECRET_BYTES} bytes"), "store only the key in the file".into());
    }
    let mut raw = String::new();
    if file.take(MAX_SECRET_BYTES).read_to_string(&mut raw).is_err() {
        return refused("it is not UTF-8 text".into(), "store the key as text".into());
    }
    let value = raw.trim_end_matches(['\n', '\r']).to_owned();
    drop(raw);
    Ok((!value.trim().is_empty()).then(|| SecretString::from(value)))
}

/// A masked fingerprint for display: `sk-…abcd` for 16+ characters, else `****`.
pub fn mask(value: &SecretString) -> String {
    let chars: Vec<char> = value.expose_secret().chars().collect();
    if chars.len() < 16 {
        return String::from("****");
    }
    let head: String = chars[..3].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// A stable, non-reversible id for logs: the first 8 hex characters of
/// HMAC-SHA256(host salt, value). Two lines with the same id used the same key.
pub fn key_id(value: &SecretString, salt: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut key = [0u8; BLOCK];
    if salt.len() > BLOCK {
        key[..32].copy_from_slice(&Sha256::digest(salt));
    } else {
        key[..salt.len()].copy_from_slice(salt);
    }
    let pad = |byte: u8| key.iter().map(|k| k ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(value.expose_secret().as_bytes()).finalize();
    let outer = Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize();
    to_hex(&outer[..4])
}

/// When a key last worked, by name: `{ts, key_id}`.
pub type Successes = BTreeMap<String, Success>;

/// One last-success record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Success {
    /// RFC 3339 time of the last success.
    pub ts: String,
    /// [`key_id`] of the key that worked.
    pub key_id: String,
}

/// Records that `name` (with id `key_id`) just worked, e.g. after a 2xx.
pub fn record_success(state_dir: &Path, name: &str, key_id: &str) -> Result<(), SecretError> {
    validate_name(name)?;
    let dir = state_dir.join("keyctl");
    let _lock = crate::lock::NamedLock::acquire(&dir, "last-success", std::time::Duration::from_secs(5))?;
    let mut all = last_successes(state_dir)?;
    all.insert(
        name.to_owned(),
        Success { ts: crate::time_fmt::rfc3339(crate::time_fmt::now_utc()), key_id: key_id.to_owned() },
    );
    let path = dir.join("last_success.json");
    let text = serde_json::to_string_pretty(&all).unwrap_or_default();
    write_atomic(&path, text.as_bytes()).map_err(|source| SecretError::Io { path, source })
}

/// Every recorded last success.
pub fn last_successes(state_dir: &Path) -> Result<Successes, SecretError> {
    let dir = state_dir.join("keyctl");
    // A record others could write would vouch for a key that never worked.
    if !private_path::check_dir(&dir, Class::Private)? {
        return Ok(Successes::new());
    }
    let path = dir.join("last_success.json");
    let bytes = match private_path::read_file(&path, OpenSpec::read(Class::Private), MAX_SECRET_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Successes::new()),
        Err(private_path::UnsafePath::TooLarge { max, .. }) => {
            return Err(SecretError::Refused {
                path,
                problem: format!("larger than {max} bytes"),
                fix: "delete it; it is rebuilt on the next success".into(),
            });
        }
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes).map_err(|e| SecretError::Refused {
        path,
        problem: format!("unparsable: {e}"),
        fix: "delete it; it is rebuilt on the next success".into(),
    })
}

mod ledger;
mod store;

pub use ledger::{Ledger, LedgerEntry, read_ledger, record_params_hashes, write_ledger};

#[cfg(test)]
pub use store::write_secret_file;
pub use store::{
    Replaced, SaltFound, Staged, existing_host_salt, host_salt, host_salt_repairing, is_stale_name, remove_secret_file,
    stage_secret_file, stale_files,
};

#[cfg(test)]
mod tests;
