//! `keys`: every managed key present, its file safe, and recently known to
//! work (contract §3: "doctor verifies presence + last-success timestamp
//! without exposing the key"). Only sources and masked fingerprints appear.

use common::secrets::{self, SecretError, mask};
use serde_json::json;

use super::{Ctx, Outcome};

/// A key not recorded as working for this long is worth a look.
const STALE_SECONDS: i64 = 7 * 24 * 3600;

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let keychain = secrets::platform_keychain();
    let resolver = secrets::Resolver::for_process(keychain.as_ref(), ctx.paths.secrets_dir.clone());
    let successes = match secrets::last_successes(&ctx.paths.state_dir) {
        Ok(s) => s,
        Err(e) => return Outcome::error(e.to_string()),
    };
    let now = common::time_fmt::now_utc();
    let (mut missing, mut refused, mut stale, mut shadowed, mut rows) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for name in ctx.config.managed_keys() {
        let last = successes
            .get(&name)
            .and_then(|s| common::time_fmt::parse_rfc3339(&s.ts))
            .map(|t| (now - t).whole_seconds());
        match resolver.resolve(&name) {
            Ok(r) => {
                if last.is_none_or(|age| age > STALE_SECONDS) {
                    stale.push(name.clone());
                }
                if !r.shadowed.is_empty() {
                    shadowed.push(name.clone());
                }
                rows.push(json!({"name": name, "present": true, "source": r.winner.source, "fingerprint": mask(&r.winner.value),
                                 "shadowed": r.shadowed, "last_success_age_seconds": last}));
            }
            Err(SecretError::Missing { .. }) => {
                missing.push(name.clone());
                rows.push(json!({"name": name, "present": false, "last_success_age_seconds": last}));
            }
            Err(e) => {
                refused.push(format!("{name}: {e}"));
                rows.push(json!({"name": name, "present": false, "problem": e.to_string()}));
            }
        }
    }
    let unrecorded = match unrecorded(ctx) {
        Ok(u) => u,
        Err(e) => return Outcome::error(e),
    };
    let details = json!({"keys": rows, "unrecorded": unrecorded});
    if !missing.is_empty() || !refused.is_empty() || !unrecorded.is_empty() {
        let mut parts = Vec::new();
        if !missing.is_empty() {
            parts.push(format!("missing: {}", missing.join(", ")));
        }
        parts.extend(refused);
        if !unrecorded.is_empty() {
            parts.push(format!(
                "the key in place is not the one the audit log last recorded: {}",
                unrecorded.join("; ")
            ));
        }
        let fix = missing
            .iter()
            .map(|n| format!("openclaw-keyctl set {n} < /path/to/file"))
            .chain((!unrecorded.is_empty()).then(|| {
                "openclaw-keyctl status (records the key in place with key.reconcile; then find out who changed it)"
                    .to_owned()
            }))
            .chain(["see openclaw-keyctl status".to_owned()]);
        return Outcome::fail(parts.join("; "), fix.collect::<Vec<_>>()).details(details);
    }
    if !shadowed.is_empty() || !stale.is_empty() {
        let mut parts = Vec::new();
        if !shadowed.is_empty() {
            parts.push(format!("shadowing a different value: {}", shadowed.join(", ")));
        }
        if !stale.is_empty() {
            parts.push(format!("not recorded as working in 7 days: {}", stale.join(", ")));
        }
        return Outcome::warn(
            parts.join("; "),
            "openclaw-keyctl status shows sources and last success; remove stale copies so one source is the truth",
        )
        .details(details);
    }
    Outcome::pass("every managed key present, safely stored, and recently working").details(details)
}

/// What disagrees between the keys in place, keyctl's ledger
/// (`<state>/keyctl/keys.json`, the newest key record per name) and the
/// audit log: a managed key file that is not the one the ledger names; a
/// ledger entry whose record is not in the log as it says; a key record
/// newer than the ledger; key records with no ledger at all. A host where
/// keyctl never ran has neither and nothing to compare.
fn unrecorded(ctx: &Ctx) -> Result<Vec<String>, String> {
    let state = &ctx.paths.state_dir;
    if secrets::platform_keychain().available() {
        return Ok(Vec::new());
    }
    let has_ledger = std::fs::symlink_metadata(state.join("keyctl/keys.json")).is_ok();
    let ledger = if has_ledger { secrets::read_ledger(state).map_err(|e| e.to_string())? } else { Default::default() };
    let log = key_records(&ctx.paths.audit_log)?;
    let mut found = Vec::new();
    if !has_ledger {
        if log.newest.is_some() {
            found.push("the audit log has key records but keyctl's ledger is missing".to_owned());
        }
        return Ok(found);
    }
    let salt = secrets::existing_host_salt(state).map_err(|e| e.to_string())?;
    for name in ctx.config.managed_keys() {
        let path = ctx.paths.secrets_dir.join(name.to_ascii_lowercase());
        let Ok(value) = secrets::read_secret_file(&path) else { continue };
        let in_place = match (value, &salt) {
            (Some(v), Some(salt)) => Some(secrets::key_id(&v, salt)),
            (Some(_), None) => Some(String::new()),
            (None, _) => None,
        };
        if in_place != ledger.get(&name).and_then(|e| e.key_id.clone()) {
            found.push(name);
        }
    }
    for (name, e) in &ledger {
        let wanted = secrets::record_params_hashes(name, e.key_id.as_deref());
        match log.by_seq.get(&e.seq) {
            Some((hash, params)) if *hash == e.hash && wanted.contains(params) => {}
            _ => found.push(format!("{name}: the ledger names record {} and the audit log does not agree", e.seq)),
        }
    }
    let ledger_newest = ledger.values().map(|e| e.seq).max().unwrap_or(0);
    if log.newest.is_some_and(|seq| seq > ledger_newest) {
        found.push("a key record is newer than keyctl's ledger (openclaw-keyctl status brings it up to date)".into());
    }
    Ok(found)
}

/// The key records of the audit log: by seq, `(hash, params_hash)`, and the
/// newest key-changing record's seq.
struct KeyRecords {
    by_seq: std::collections::HashMap<u64, (String, String)>,
    newest: Option<u64>,
}

fn key_records(log: &std::path::Path) -> Result<KeyRecords, String> {
    use std::io::BufRead;
    let mut out = KeyRecords { by_seq: Default::default(), newest: None };
    let spec = common::private_path::OpenSpec::read(common::private_path::Class::Private);
    let Some(file) = common::private_path::open_file(log, spec).map_err(|e| e.to_string())? else { return Ok(out) };
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| format!("{}: {e}", log.display()))?;
        let Ok(rec) = common::audit::Record::parse_line(&line) else { continue };
        if matches!(rec.action.as_str(), "key.set" | "key.rotate" | "key.delete" | "key.reconcile") {
            out.newest = Some(rec.seq);
            out.by_seq.insert(rec.seq, (rec.hash, rec.params_hash));
        }
    }
    Ok(out)
}
