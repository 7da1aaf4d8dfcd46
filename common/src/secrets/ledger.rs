//! The key ledger, `<state>/keyctl/keys.json`: for each key name, the key id
//! the newest audit record about that key named, and that record's seq and
//! hash. The audit log keeps only a hash of a record's parameters, so this
//! is how a reader (the doctor's `keys` check, keyctl's reconcile) knows
//! which key the log last recorded for a name without trying every record.
//! Only `openclaw-keyctl` writes it, under its lock, after the record is
//! durable; format in docs/keys.md.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{MAX_SECRET_BYTES, SecretError};
use crate::private_path::{self, Class, OpenSpec};

/// One key's newest record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerEntry {
    /// The key id the record named; `None` after a delete.
    pub key_id: Option<String>,
    /// The record's `seq` in the audit log.
    pub seq: u64,
    /// The record's `hash`.
    pub hash: String,
    /// The record's `action` (`key.set`, `key.rotate`, `key.delete`, `key.reconcile`).
    pub action: String,
}

/// The whole ledger, by key name.
pub type Ledger = BTreeMap<String, LedgerEntry>;

fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("keyctl/keys.json")
}

/// The `params_hash` values a key record can carry when it leaves `key_id`
/// in place for `name` (`None`: no key): `key.set`, `key.rotate` and
/// `key.reconcile` record `{"name", "key_id"}`; `key.delete` records
/// `{"name", "file": true, "keychain"}`. keyctl's reconcile and the doctor's
/// `keys` check both match records by these.
pub fn record_params_hashes(name: &str, key_id: Option<&str>) -> Vec<String> {
    let mut wanted = vec![crate::audit::params_hash(&serde_json::json!({"name": name, "key_id": key_id}))];
    if key_id.is_none() {
        for keychain in [false, true] {
            wanted.push(crate::audit::params_hash(
                &serde_json::json!({"name": name, "file": true, "keychain": keychain}),
            ));
        }
    }
    wanted
}

/// Reads the ledger; empty when there is none yet.
pub fn read_ledger(state_dir: &Path) -> Result<Ledger, SecretError> {
    let path = path(state_dir);
    let dir = state_dir.join("keyctl");
    if !private_path::check_dir(&dir, Class::Private)? {
        return Ok(Ledger::new());
    }
    let bytes = match private_path::read_file(&path, OpenSpec::read(Class::Private), MAX_SECRET_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Ledger::new()),
        Err(e) => return Err(e.into()),
    };
    serde_json::from_slice(&bytes).map_err(|e| SecretError::Refused {
        path,
        problem: format!("unparsable: {e}"),
        fix: "delete it; openclaw-keyctl status rebuilds it with key.reconcile records".into(),
    })
}

/// Replaces the ledger atomically. The caller holds keyctl's lock.
pub fn write_ledger(state_dir: &Path, ledger: &Ledger) -> Result<(), SecretError> {
    let path = path(state_dir);
    private_path::ensure_dir(&state_dir.join("keyctl"), Class::Private)?;
    let text = serde_json::to_string_pretty(ledger).unwrap_or_default();
    crate::artifacts::write_atomic(&path, format!("{text}\n").as_bytes())
        .map_err(|source| SecretError::Io { path, source })
}
