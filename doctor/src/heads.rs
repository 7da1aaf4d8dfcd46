//! The audit-log heads the doctor has seen, kept in
//! `<artifacts root>/doctor/audit-heads.json` as `{log path: {seq, hash,
//! seen_at}}`. The `audit-log` check, `verify-audit` and `audit-recover` all
//! demand that a log still reach the head remembered for it, so deleting a
//! log together with its checkpoint, or cutting both back, is a failure and
//! never a fresh start. The memory only moves forward (a higher seq), never
//! expires, and is kept apart from the reports an operator may prune.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::audit::Checkpoint;
use common::private_path::{self, Class, OpenSpec};
use serde::{Deserialize, Serialize};

const FILE: &str = "audit-heads.json";
const MAX_BYTES: u64 = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Head {
    seq: u64,
    hash: String,
    seen_at: String,
}

fn dir(artifacts_root: &Path) -> PathBuf {
    artifacts_root.join("doctor")
}

fn load(artifacts_root: &Path) -> Result<BTreeMap<String, Head>, String> {
    let path = dir(artifacts_root).join(FILE);
    if !private_path::check_dir(&dir(artifacts_root), Class::Private).map_err(|e| e.to_string())? {
        return Ok(BTreeMap::new());
    }
    let read = private_path::read_file(&path, OpenSpec::read(Class::Private), MAX_BYTES);
    let Some(bytes) = read.map_err(|e| e.to_string())? else { return Ok(BTreeMap::new()) };
    let heads: BTreeMap<String, Head> =
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: not a heads file: {e}", path.display()))?;
    if heads.values().any(|h| h.seq == 0 || !common::hash::is_sha256_hex(&h.hash)) {
        return Err(format!("{}: a head with seq 0 or a malformed hash", path.display()));
    }
    Ok(heads)
}

/// The head remembered for `log`, as a checkpoint it must reach. An
/// unreadable or unsafe memory is an error: it must not read as "nothing seen".
pub(crate) fn remembered(artifacts_root: &Path, log: &Path) -> Result<Option<Checkpoint>, String> {
    Ok(load(artifacts_root)?.remove(&log.display().to_string()).map(|h| Checkpoint {
        seq: h.seq,
        hash: h.hash,
        ts: h.seen_at,
    }))
}

/// Remembers `(seq, hash)` for `log` when it is newer than what is remembered.
pub(crate) fn remember(artifacts_root: &Path, log: &Path, seq: u64, hash: &str) -> Result<(), String> {
    let d = dir(artifacts_root);
    private_path::ensure_dir(artifacts_root, Class::Private).map_err(|e| e.to_string())?;
    private_path::ensure_dir(&d, Class::Private).map_err(|e| e.to_string())?;
    let _lock =
        common::lock::NamedLock::acquire(&d, "audit-heads", Duration::from_secs(5)).map_err(|e| e.to_string())?;
    let mut heads = load(artifacts_root)?;
    let key = log.display().to_string();
    if heads.get(&key).is_some_and(|h| h.seq >= seq) {
        return Ok(());
    }
    let seen_at = common::time_fmt::rfc3339(common::time_fmt::now_utc());
    heads.insert(key, Head { seq, hash: hash.to_owned(), seen_at });
    let text = serde_json::to_string_pretty(&heads).map_err(|e| e.to_string())?;
    common::artifacts::write_atomic(&d.join(FILE), text.as_bytes()).map_err(|e| format!("{}: {e}", d.display()))
}
