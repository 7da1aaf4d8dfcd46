//! One audit record and one checkpoint: their shape, canonical encoding,
//! hashing and parsing. Pure: no IO.

use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{AuditError, MAX_FIELD, MAX_LINE};
use crate::hash::{is_sha256_hex, sha256_hex};
use crate::time_fmt;

/// One audit record, exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Position in the log, starting at 1, without gaps.
    pub seq: u64,
    /// UTC time of the append, RFC 3339, whole seconds.
    pub ts: String,
    /// The tool that acted, e.g. `openclaw-keyctl`.
    pub tool: String,
    /// Who asked: a user name, a unit name, or a token fingerprint; never a secret.
    pub actor: String,
    /// What was done, e.g. `key.rotate`.
    pub action: String,
    /// SHA-256 of the canonical JSON of the action's parameters.
    pub params_hash: String,
    /// The action's exit code.
    pub exit_code: i32,
    /// How long the action took.
    pub duration_ms: u64,
    /// `hash` of the previous record, or [`GENESIS`](super::GENESIS).
    pub prev: String,
    /// SHA-256 of this record's canonical encoding without `hash`.
    pub hash: String,
}

impl Record {
    /// The canonical encoding that `hash` covers: every field but `hash`.
    pub fn canonical(&self) -> String {
        canonical_json(&self.fields(false))
    }

    /// The hash this record should carry.
    pub fn compute_hash(&self) -> String {
        sha256_hex(self.canonical().as_bytes())
    }

    /// The stored line (canonical JSON including `hash`, no newline).
    pub fn to_line(&self) -> String {
        canonical_json(&self.fields(true))
    }

    fn fields(&self, with_hash: bool) -> Value {
        let mut v = serde_json::json!({
            "seq": self.seq,
            "ts": self.ts,
            "tool": self.tool,
            "actor": self.actor,
            "action": self.action,
            "params_hash": self.params_hash,
            "exit_code": self.exit_code,
            "duration_ms": self.duration_ms,
            "prev": self.prev,
        });
        if with_hash {
            v["hash"] = Value::String(self.hash.clone());
        }
        v
    }

    /// Parses and shape-checks one line. Does not check the chain.
    pub fn parse_line(line: &str) -> Result<Record, RecordError> {
        if line.len() > MAX_LINE {
            return Err(RecordError::TooLong);
        }
        let rec: Record = serde_json::from_str(line).map_err(|e| RecordError::Json(e.to_string()))?;
        // Only the canonical encoding is a record: no reordered keys, spaces,
        // needless escapes or array form, so every verifier sees the same bytes.
        if rec.to_line() != line {
            return Err(RecordError::NotCanonical);
        }
        if rec.seq == 0 {
            return Err(RecordError::SeqZero);
        }
        for (name, value) in [("tool", &rec.tool), ("actor", &rec.actor), ("action", &rec.action)] {
            check_field(name, value)?;
        }
        for (name, value) in [("params_hash", &rec.params_hash), ("prev", &rec.prev), ("hash", &rec.hash)] {
            if !is_sha256_hex(value) {
                return Err(RecordError::NotHex(name));
            }
        }
        if !is_record_time(&rec.ts) {
            return Err(RecordError::BadTimestamp);
        }
        Ok(rec)
    }
}

/// Why a line is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Longer than [`MAX_LINE`].
    #[error("line longer than {MAX_LINE} bytes")]
    TooLong,
    /// Not a JSON object with exactly the record's fields and types.
    #[error("{0}")]
    Json(String),
    /// Valid JSON, but not the canonical encoding.
    #[error("not in canonical form (see docs/audit-log.md)")]
    NotCanonical,
    /// `seq` is 0.
    #[error("seq must start at 1")]
    SeqZero,
    /// `tool`, `actor` or `action` is empty or longer than [`MAX_FIELD`].
    #[error("{0} must be 1 to {MAX_FIELD} bytes")]
    FieldLength(&'static str),
    /// `tool`, `actor` or `action` holds a control character.
    #[error("{0} contains a control character")]
    FieldControl(&'static str),
    /// A hash field is not 64 lowercase hex characters.
    #[error("{0} is not 64 lowercase hex characters")]
    NotHex(&'static str),
    /// `ts` is not RFC 3339.
    #[error("ts is not an RFC 3339 timestamp")]
    BadTimestamp,
}

/// Why a checkpoint line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Not four space-separated parts.
    #[error("expected `{CHECKPOINT_TAG} seq=N hash=H ts=T`")]
    Shape,
    /// Another format tag (shown escaped).
    #[error("unknown checkpoint format `{0}`")]
    UnknownTag(String),
    /// A field is missing or malformed.
    #[error("bad {0}= field")]
    BadField(&'static str),
    /// The file is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
}

/// Checks an action name: a fixed `noun.verb` such as `key.rotate` or
/// `audit.recover`, `^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$`, at most 64
/// bytes. Parameters never go here: they go into `params_hash`, so free text
/// (an alert message, a path, a value) can never reach the log in the clear.
pub fn validate_action(action: &str) -> Result<(), AuditError> {
    let word = |w: &str| {
        w.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
            && w.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    };
    let mut parts = action.split('.');
    let ok = action.len() <= 64 && parts.clone().count() >= 2 && parts.all(word);
    if ok { Ok(()) } else { Err(AuditError::BadAction { len: action.len() }) }
}

/// The one timestamp form records and checkpoints carry, exactly as our
/// writers produce it: `YYYY-MM-DDTHH:MM:SSZ`, UTC, whole seconds, a real
/// date from 1970 on. Any other spelling of a time (offsets, fractions, a
/// space, leap seconds) is not a record's, so every verifier agrees.
pub(super) fn is_record_time(ts: &str) -> bool {
    ts.len() == 20
        && ts.as_bytes()[0] != b'0'
        && time_fmt::parse_rfc3339(ts).is_some_and(|t| t.year() >= 1970 && time_fmt::rfc3339(t) == ts)
}

pub(super) fn check_field(name: &'static str, value: &str) -> Result<(), RecordError> {
    if value.is_empty() || value.len() > MAX_FIELD {
        return Err(RecordError::FieldLength(name));
    }
    if value.chars().any(char::is_control) {
        return Err(RecordError::FieldControl(name));
    }
    Ok(())
}

/// Canonical JSON: object keys sorted by code point, no insignificant
/// whitespace, strings escaped as `serde_json` does (the same bytes as
/// Python's `json.dumps(v, sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)` for the integer-only documents we hash).
pub fn canonical_json(value: &Value) -> String {
    let mut res = String::new();
    write_canonical(&mut res, value);
    res
}

fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, &Value::String(key.clone()));
                out.push(':');
                write_canonical(out, &map[key]);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// SHA-256 of the canonical JSON of an action's parameters.
pub fn params_hash(params: &Value) -> String {
    sha256_hex(canonical_json(params).as_bytes())
}

/// A checkpoint: the log had reached `seq` with head `hash` at `ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    /// Sequence number of the last record covered.
    pub seq: u64,
    /// That record's hash.
    pub hash: String,
    /// When the checkpoint was taken.
    pub ts: String,
}

const CHECKPOINT_TAG: &str = "openclaw-audit-checkpoint/v1";

impl Checkpoint {
    /// One line, safe to paste into a notification or a git note:
    /// `openclaw-audit-checkpoint/v1 seq=N hash=H ts=T`.
    pub fn to_line(&self) -> String {
        format!("{CHECKPOINT_TAG} seq={} hash={} ts={}", self.seq, self.hash, self.ts)
    }

    /// Parses [`Checkpoint::to_line`]'s format, strictly.
    pub fn parse_line(line: &str) -> Result<Checkpoint, CheckpointError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let mut parts = line.split(' ');
        let (Some(tag), Some(seq), Some(hash), Some(ts), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CheckpointError::Shape);
        };
        if tag != CHECKPOINT_TAG {
            return Err(CheckpointError::UnknownTag(crate::output::sanitize(tag).into_owned()));
        }
        let seq = seq
            .strip_prefix("seq=")
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse::<u64>().ok())
            .filter(|s| *s > 0)
            .ok_or(CheckpointError::BadField("seq"))?;
        let hash = hash.strip_prefix("hash=").filter(|h| is_sha256_hex(h)).ok_or(CheckpointError::BadField("hash"))?;
        let ts = ts.strip_prefix("ts=").filter(|t| is_record_time(t)).ok_or(CheckpointError::BadField("ts"))?;
        Ok(Checkpoint { seq, hash: hash.to_owned(), ts: ts.to_owned() })
    }
}

/// The actor for a process's own records: `SUDO_USER` when a person used
/// sudo, otherwise `uid:<euid>` (a unit's user, or whoever ran it).
pub fn process_actor() -> String {
    std::env::var("SUDO_USER")
        .ok()
        .filter(|u| is_user_name(u))
        .unwrap_or_else(|| format!("uid:{}", rustix::process::geteuid().as_raw()))
}

/// A POSIX-portable user name (`[a-z_][a-z0-9_-]*`, at most 32 bytes, an
/// optional trailing `$`): anything else in `SUDO_USER` (free text, a pasted
/// key, bidi characters) never reaches the log.
pub(super) fn is_user_name(u: &str) -> bool {
    let body = u.strip_suffix('$').unwrap_or(u);
    (1..=32).contains(&u.len())
        && body.as_bytes().first().is_some_and(|b| b.is_ascii_lowercase() || *b == b'_')
        && body.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}
