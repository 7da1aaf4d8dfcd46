//! `token-age`: how long ago the console token was last rotated (contract
//! §2: "tokens should be rotated periodically"). keyctl keeps no rotation
//! time of its own (`last_success.json` records use, not rotation, and the
//! audit log keeps only a hash of `key.rotate`'s parameters), so the age is
//! the modification time of the secret file `openclaw-keyctl set`/`rotate`
//! replace atomically (temp file, fsync, rename: docs/keys.md), opened and
//! judged by the private-path rule. A token from any other source
//! (environment, keychain, systemd credential) has no age the doctor can
//! read, which warns. The value is resolved only to learn which source wins;
//! it never reaches the report.

use std::path::PathBuf;

use common::private_path::{self, Class, OpenSpec};
use common::secrets::{self, SecretError, Source};
use serde_json::json;
use time::OffsetDateTime;

use super::console_auth::TOKEN_NAME;
use super::{Ctx, Outcome};

/// A modification time this far ahead of the clock is not believed.
const FUTURE_SLACK_SECONDS: i64 = 300;

const ROTATE: &str = "openclaw-keyctl rotate OPENCLAW_CONSOLE_TOKEN";

/// What was found about the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Facts {
    /// No source holds it.
    NotConfigured,
    /// Its file (or the secrets directory) is refused or unreadable.
    Unreadable(String),
    /// It comes from the secrets directory; the file was last replaced at `modified`.
    File { path: PathBuf, modified: OffsetDateTime },
    /// It comes from a source without a rotation time.
    Elsewhere(String),
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Age {
    /// Rotated within the limit.
    Fresh { days: i64 },
    /// Older than the limit.
    Stale { days: i64 },
    /// No console token at all.
    NotConfigured,
    /// The token's source keeps no rotation time.
    Unknown(String),
    /// The state cannot be read or believed.
    Unreadable(String),
}

/// Pure: the age of the token at `now` against `max_days`.
pub(crate) fn judge(facts: &Facts, now: OffsetDateTime, max_days: u32) -> Age {
    match facts {
        Facts::NotConfigured => Age::NotConfigured,
        Facts::Unreadable(why) => Age::Unreadable(why.clone()),
        Facts::Elsewhere(source) => Age::Unknown(source.clone()),
        Facts::File { path, modified } => {
            let age = now - *modified;
            if age.whole_seconds() < -FUTURE_SLACK_SECONDS {
                return Age::Unreadable(format!(
                    "{} was modified in the future ({}): its age cannot be judged",
                    path.display(),
                    common::time_fmt::rfc3339(*modified)
                ));
            }
            let days = age.whole_days().max(0);
            if age.whole_seconds() > i64::from(max_days) * 86_400 { Age::Stale { days } } else { Age::Fresh { days } }
        }
    }
}

/// Pure: the report entry.
pub(crate) fn outcome(facts: &Facts, age: &Age, max_days: u32) -> Outcome {
    let mut details = json!({"name": TOKEN_NAME, "max_age_days": max_days});
    if let Facts::File { path, modified } = facts {
        details["path"] = path.display().to_string().into();
        details["rotated_at"] = common::time_fmt::rfc3339(*modified).into();
    }
    match age {
        Age::Fresh { days } | Age::Stale { days } => details["age_days"] = (*days).into(),
        Age::Unknown(source) => details["source"] = source.as_str().into(),
        _ => {}
    }
    match age {
        Age::Fresh { days } => {
            Outcome::pass(format!("{TOKEN_NAME} last rotated {days} day(s) ago (limit {max_days})")).details(details)
        }
        Age::Stale { days } => Outcome::warn(
            format!("{TOKEN_NAME} last rotated {days} day(s) ago, more than {max_days} (doctor.token_max_age_days)"),
            vec![ROTATE.to_owned(), "then give clients the new token (docs/keys.md, rotation runbook)".to_owned()],
        )
        .details(details),
        Age::NotConfigured => Outcome::skip(format!("no console token configured ({TOKEN_NAME})")).details(details),
        Age::Unknown(source) => Outcome::warn(
            format!(
                "{TOKEN_NAME} comes from the {source}, which records no rotation time: its age is unknown \
                 (only a token in the secrets directory has one)"
            ),
            vec![ROTATE.to_owned(), format!("then remove the copy in the {source}")],
        )
        .details(details),
        Age::Unreadable(why) => Outcome::error(why.clone()).details(details),
    }
}

/// The token's winning source and, for a file, its modification time.
fn gather(ctx: &Ctx) -> Facts {
    let keychain = secrets::platform_keychain();
    let resolver = secrets::Resolver::for_process(keychain.as_ref(), ctx.paths.secrets_dir.clone());
    let source = match resolver.resolve(TOKEN_NAME) {
        Ok(r) => r.winner.source,
        Err(SecretError::Missing { .. }) => return Facts::NotConfigured,
        Err(e) => return Facts::Unreadable(e.to_string()),
    };
    let path = match source {
        Source::File { path } => path,
        Source::Env => return Facts::Elsewhere("environment".into()),
        Source::Keychain => return Facts::Elsewhere("keychain".into()),
        Source::Credential { .. } => return Facts::Elsewhere("systemd credential".into()),
    };
    let spec = OpenSpec { class: Class::Secret, max_file_mode: Some(0o600), append: false };
    let modified = match private_path::open_file(&path, spec) {
        Ok(Some(file)) => file.metadata().and_then(|m| m.modified()),
        Ok(None) => return Facts::Unreadable(format!("{} vanished while it was read", path.display())),
        Err(e) => return Facts::Unreadable(format!("{}: {}; fix: {}", e.path().display(), e.problem(), e.fix())),
    };
    match modified {
        Ok(t) => Facts::File { path, modified: OffsetDateTime::from(t) },
        Err(e) => Facts::Unreadable(format!("{}: modification time: {e}", path.display())),
    }
}

pub(crate) fn check(ctx: &Ctx) -> Outcome {
    let facts = gather(ctx);
    let max = ctx.settings.token_max_age_days;
    outcome(&facts, &judge(&facts, common::time_fmt::now_utc(), max), max)
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::super::Status;
    use super::*;

    /// `secs` seconds before `now`.
    fn ago(now: OffsetDateTime, secs: i64) -> OffsetDateTime {
        now - time::Duration::seconds(secs)
    }

    fn file(modified: OffsetDateTime) -> Facts {
        Facts::File { path: PathBuf::from("/s/openclaw_console_token"), modified }
    }

    #[test]
    fn within_the_limit_passes_and_beyond_it_warns_with_the_rotate_command() {
        let now = OffsetDateTime::from(SystemTime::UNIX_EPOCH) + time::Duration::days(20_000);
        assert_eq!(judge(&file(ago(now, 3600)), now, 30), Age::Fresh { days: 0 });
        assert_eq!(judge(&file(ago(now, 30 * 86_400)), now, 30), Age::Fresh { days: 30 });
        assert_eq!(judge(&file(ago(now, 30 * 86_400 + 1)), now, 30), Age::Stale { days: 30 });
        assert_eq!(judge(&file(ago(now, 400 * 86_400)), now, 30), Age::Stale { days: 400 });
        let f = file(ago(now, 45 * 86_400));
        let o = outcome(&f, &judge(&f, now, 30), 30);
        assert_eq!(o.status, Status::Warn);
        assert_eq!(o.remediation.unwrap().0[0], ROTATE);
        assert_eq!(o.details["age_days"], 45);
        assert_eq!(outcome(&f, &judge(&f, now, 60), 60).status, Status::Pass);
    }

    #[test]
    fn a_future_time_is_not_believed_but_small_clock_skew_is() {
        let now = OffsetDateTime::from(SystemTime::UNIX_EPOCH) + time::Duration::days(20_000);
        assert_eq!(judge(&file(ago(now, -60)), now, 30), Age::Fresh { days: 0 });
        let f = file(ago(now, -86_400));
        assert!(matches!(judge(&f, now, 30), Age::Unreadable(why) if why.contains("in the future")));
        assert_eq!(outcome(&f, &judge(&f, now, 30), 30).status, Status::Error);
    }

    #[test]
    fn no_token_skips_other_sources_warn_and_unreadable_state_errors() {
        let now = OffsetDateTime::from(SystemTime::UNIX_EPOCH);
        let status = |f: &Facts| outcome(f, &judge(f, now, 30), 30).status;
        assert_eq!(status(&Facts::NotConfigured), Status::Skip);
        assert_eq!(status(&Facts::Elsewhere("environment".into())), Status::Warn);
        assert_eq!(status(&Facts::Unreadable("refusing …: mode 0644".into())), Status::Error);
    }
}
