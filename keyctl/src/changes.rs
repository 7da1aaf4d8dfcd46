//! Key changes that the audit log always agrees with.
//!
//! The rule: the key in place is the one the newest key record for its name
//! names. Every change runs under one lock (`<state>/keyctl/keyctl.lock`),
//! so concurrent rotations cannot interleave a rename with another's record.
//! A change is staged beside its place, put in place with the old file kept
//! as `.<name>.prev`, then recorded; if the record cannot be written the old
//! key is put back and nothing is reported done. A kill between the rename
//! and the record is found by [`Locked::reconcile`], which every changing
//! command and `status` run first: it puts back the recorded key a killed
//! change kept as `.<name>.prev`, removes what else killed writers left
//! (`key.cleanup`) and appends a `key.reconcile` record naming the key it
//! found wherever the ledger (`common::secrets::Ledger`) still disagrees.

use std::time::{Duration, Instant};

use common::audit::{AuditLog, Record};
use common::lock::NamedLock;
use common::private_path::{self, Class, OpenSpec};
use common::secrets::{self, Ledger, LedgerEntry, SaltFound, SecretString, key_id};
use serde_json::{Value, json};

use crate::{Ctx, TOOL};

/// A held keyctl lock, with the salt and the ledger read under it.
pub(crate) struct Locked<'a> {
    ctx: &'a Ctx,
    _lock: NamedLock,
    pub(crate) salt: Vec<u8>,
    ledger: Ledger,
    started: Instant,
}

/// Takes keyctl's lock (bounded wait) and reads the salt, replacing a 0-byte
/// one (audited: `key.salt-replace`).
pub(crate) fn lock(ctx: &Ctx) -> Result<Locked<'_>, String> {
    let dir = ctx.paths.state_dir.join("keyctl");
    let lock = NamedLock::acquire(&dir, "keyctl", Duration::from_secs(30)).map_err(|e| e.to_string())?;
    let (salt, found) = secrets::host_salt_repairing(&ctx.paths.state_dir).map_err(|e| e.to_string())?;
    let ledger = secrets::read_ledger(&ctx.paths.state_dir).map_err(|e| e.to_string())?;
    let locked = Locked { ctx, _lock: lock, salt, ledger, started: Instant::now() };
    if found == SaltFound::ReplacedEmpty {
        locked
            .append("key.salt-replace", &json!({"replaced": "empty"}), 0)
            .map_err(|e| format!("{e} (an empty salt was replaced; it never identified a key, so nothing was lost)"))?;
    }
    Ok(locked)
}

impl Locked<'_> {
    fn log(&self) -> AuditLog {
        AuditLog::new(&self.ctx.paths.audit_log, &self.ctx.paths.audit_checkpoint)
    }

    fn append(&self, action: &str, params: &Value, exit_code: i32) -> Result<Record, String> {
        self.log().append_for_process(TOOL, action, params, exit_code, self.started).map_err(|e| e.to_string())
    }

    /// Fails before any change when the audit log would refuse its record.
    fn ready(&self) -> Result<(), String> {
        self.log().preflight().map_err(|e| format!("{e} (nothing was changed)"))
    }

    /// Notes in the ledger that `rec` names `key_id` for `name`. A failure
    /// only leaves the ledger behind, which the next reconcile repairs.
    fn note(&mut self, name: &str, key_id: Option<String>, rec: &Record) {
        let entry = LedgerEntry { key_id, seq: rec.seq, hash: rec.hash.clone(), action: rec.action.clone() };
        self.ledger.insert(name.to_owned(), entry);
        let _ = secrets::write_ledger(&self.ctx.paths.state_dir, &self.ledger);
    }

    /// Removes what killed writers left in the secrets directory
    /// (`key.cleanup`), then records the key in place for every managed
    /// name and every name the ledger knows where the ledger disagrees
    /// (`key.reconcile`). Files keyctl does not manage (a keychain) are left
    /// to the keychain. Returns the names reconciled.
    pub(crate) fn reconcile(&mut self) -> Result<Vec<String>, String> {
        if self.ctx.keychain.available() {
            return Ok(Vec::new());
        }
        // Nothing is removed or recorded unless the record can be written.
        self.ready()?;
        let dir = &self.ctx.paths.secrets_dir;
        self.restore_recorded()?;
        let stale = secrets::stale_files(dir).map_err(|e| e.to_string())?;
        if !stale.is_empty() {
            let mut removed = Vec::new();
            for path in &stale {
                std::fs::remove_file(path).map_err(|e| format!("{}: {e}", path.display()))?;
                removed.push(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            }
            self.append("key.cleanup", &json!({"removed": removed}), 0)
                .map_err(|e| format!("{e} (left-over temporary files were removed unrecorded)"))?;
        }
        let mut names: Vec<String> = self.ctx.managed.clone();
        names.extend(self.ledger.keys().cloned());
        names.sort();
        names.dedup();
        let resolver = self.ctx.resolver();
        let mut done = Vec::new();
        for name in names {
            let in_place = match secrets::read_secret_file(&resolver.file_path(&name)) {
                Ok(v) => v.map(|v| key_id(&v, &self.salt)),
                // An unsafe file is refused and shown by status, never recorded.
                Err(_) => continue,
            };
            let recorded = self.ledger.get(&name).and_then(|e| e.key_id.clone());
            if in_place == recorded {
                continue;
            }
            let rec = self
                .append("key.reconcile", &json!({"name": name, "key_id": in_place}), 0)
                .map_err(|e| format!("{e} (the key in place for {name} is not the one last recorded)"))?;
            self.note(&name, in_place, &rec);
            done.push(name);
        }
        Ok(done)
    }

    /// A change killed after its rename leaves the old key as `.<name>.prev`.
    /// If its record made it to the log (only the ledger lags), the ledger
    /// catches up. If not, the key the log names is put back: the change was
    /// never reported done, so undoing it changes nothing anyone was told.
    fn restore_recorded(&mut self) -> Result<(), String> {
        let dir = self.ctx.paths.secrets_dir.clone();
        let entries: Vec<(String, LedgerEntry)> = self.ledger.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        for (name, entry) in entries {
            let file = name.to_ascii_lowercase();
            let (path, prev) = (dir.join(&file), dir.join(format!(".{file}.prev")));
            if std::fs::symlink_metadata(&prev).is_err() {
                continue;
            }
            let id_of =
                |p: &std::path::Path| secrets::read_secret_file(p).ok().flatten().map(|v| key_id(&v, &self.salt));
            let in_place = id_of(&path);
            if let Some(rec) = self.recorded_after(&name, entry.seq, &in_place)? {
                self.note(&name, in_place, &rec);
            } else if entry.key_id.is_some() && id_of(&prev) == entry.key_id && in_place != entry.key_id {
                std::fs::rename(&prev, &path).map_err(|e| format!("{}: {e}", path.display()))?;
                if let Ok(d) = std::fs::File::open(&dir) {
                    let _ = d.sync_all();
                }
            }
        }
        Ok(())
    }

    /// The newest key record after seq `after` that records `in_place` for
    /// `name` (`key.set`/`key.rotate`/`key.reconcile` name its key id;
    /// `key.delete` a removed file). Streams the log.
    fn recorded_after(&self, name: &str, after: u64, in_place: &Option<String>) -> Result<Option<Record>, String> {
        use std::io::BufRead;
        let wanted = secrets::record_params_hashes(name, in_place.as_deref());
        let log = &self.ctx.paths.audit_log;
        let spec = OpenSpec::read(Class::Private);
        let Some(file) = private_path::open_file(log, spec).map_err(|e| e.to_string())? else { return Ok(None) };
        let mut found = None;
        for line in std::io::BufReader::new(file).lines() {
            let line = line.map_err(|e| format!("{}: {e}", log.display()))?;
            if let Ok(rec) = Record::parse_line(&line)
                && rec.seq > after
                && rec.action.starts_with("key.")
                && wanted.contains(&rec.params_hash)
            {
                found = Some(rec);
            }
        }
        Ok(found)
    }

    /// Puts `value` in place for `name` and records it as `action`; the
    /// record is written or the old key is back. Returns where it went.
    pub(crate) fn store(&mut self, name: &str, value: &SecretString, action: &str) -> Result<(String, String), String> {
        self.reconcile()?;
        self.ready()?;
        let id = key_id(value, &self.salt);
        let params = json!({"name": name, "key_id": id});
        if self.ctx.keychain.available() {
            self.ctx.keychain.set(name, value).map_err(|e| format!("keychain: {e}"))?;
            self.append(action, &params, 0)
                .map_err(|e| format!("{e} (the change was made but could not be audited)"))?;
            return Ok((self.ctx.keychain.describe().to_owned(), id));
        }
        let dir = &self.ctx.paths.secrets_dir;
        let staged = secrets::stage_secret_file(dir, name, value).map_err(|e| format!("{e} (nothing was changed)"))?;
        let place = staged.path().display().to_string();
        let replaced = staged.commit().map_err(|e| format!("{e} (nothing was changed)"))?;
        test_pause();
        match self.append(action, &params, 0) {
            Ok(rec) => {
                // The ledger first: a kill before `keep` then leaves a `.prev`
                // that reconcile knows is stale.
                self.note(name, Some(id.clone()), &rec);
                replaced.keep();
                Ok((place, id))
            }
            Err(e) => Err(taken_back(&e, replaced.undo())),
        }
    }

    /// Deletes `name` (file and keychain entry) and records it.
    pub(crate) fn delete(&mut self, name: &str) -> Result<(bool, bool), String> {
        self.reconcile()?;
        self.ready()?;
        let replaced = secrets::remove_secret_file(&self.ctx.paths.secrets_dir, name).map_err(|e| e.to_string())?;
        let removed_keychain = match self.ctx.keychain.delete(name) {
            Ok(r) => r,
            Err(e) => {
                let undone = replaced.map_or(Ok(()), secrets::Replaced::undo);
                return Err(taken_back(&format!("keychain: {e}"), undone));
            }
        };
        let params = json!({"name": name, "file": replaced.is_some(), "keychain": removed_keychain});
        match self.append("key.delete", &params, 0) {
            Ok(rec) => {
                let removed_file = replaced.is_some();
                self.note(name, None, &rec);
                if let Some(r) = replaced {
                    r.keep();
                }
                Ok((removed_file, removed_keychain))
            }
            Err(e) => Err(taken_back(&e, replaced.map_or(Ok(()), secrets::Replaced::undo))),
        }
    }
}

/// Debug builds only: widens the window between the rename and the record
/// so the fault tests can kill a rotation inside it
/// (`OPENCLAW_KEYCTL_TEST_PAUSE_MS`). Release builds have no such hook.
fn test_pause() {
    #[cfg(debug_assertions)]
    if let Some(ms) = std::env::var("OPENCLAW_KEYCTL_TEST_PAUSE_MS").ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(Duration::from_millis(ms.min(1000)));
    }
}

/// The error of a change whose record could not be written, once the old
/// key was put back (or could not be).
fn taken_back(e: &str, undone: Result<(), secrets::SecretError>) -> String {
    match undone {
        Ok(()) => format!("{e} (the change was taken back: nothing was changed)"),
        Err(u) => format!(
            "{e}; the old key could not be put back ({u}): the next openclaw-keyctl command records the key in place"
        ),
    }
}
