//! The console token: resolved through `common::secrets` (environment,
//! keychain, systemd credential, 0600 file), re-resolved at most every
//! [`REFRESH`] so `openclaw-keyctl rotate` takes effect without a restart,
//! and compared in constant time over SHA-256 digests (equal length, so
//! the comparison leaks neither content nor length). Only the digest and
//! the token's key id (HMAC under the host salt) are kept.

use std::path::PathBuf;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use common::secrets::{self, ExposeSecret, Resolver, SecretError, platform_keychain};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The key name.
pub(crate) const TOKEN_NAME: &str = "OPENCLAW_CONSOLE_TOKEN";

/// How stale the cached token may get before it is resolved again.
pub(crate) const REFRESH: Duration = Duration::from_millis(250);

/// Where the token is looked for.
#[derive(Debug, Clone)]
pub(crate) struct TokenSource {
    /// The secrets directory.
    pub(crate) secrets_dir: PathBuf,
    /// The state directory (for the host salt of key ids).
    pub(crate) state_dir: PathBuf,
}

#[derive(Debug, Clone)]
struct Current {
    digest: [u8; 32],
    actor: String,
}

/// The outcome of checking a request's token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenCheck {
    /// It matches; `actor` is `token:<key id>`.
    Valid {
        /// The audit actor.
        actor: String,
    },
    /// None was sent.
    Missing,
    /// One was sent and does not match.
    Invalid,
    /// The console's own token cannot be resolved now: nothing is valid.
    Unavailable,
}

/// The cached token.
#[derive(Debug)]
pub(crate) struct TokenCell {
    source: TokenSource,
    current: RwLock<(Option<Current>, Instant)>,
}

impl TokenSource {
    /// Resolves the token now.
    fn resolve(&self) -> Result<Current, SecretError> {
        let keychain = platform_keychain();
        let resolver = Resolver::for_process(keychain.as_ref(), self.secrets_dir.clone());
        let found = resolver.resolve(TOKEN_NAME)?.winner;
        let value = found.value;
        if value.expose_secret().trim().len() < 16 {
            return Err(SecretError::Refused {
                path: PathBuf::from(TOKEN_NAME),
                problem: "shorter than 16 characters".into(),
                fix: "set a long random token: openssl rand -hex 32 | openclaw-keyctl set OPENCLAW_CONSOLE_TOKEN"
                    .into(),
            });
        }
        let salt = secrets::host_salt(&self.state_dir)?;
        let digest = Sha256::digest(value.expose_secret().as_bytes()).into();
        Ok(Current { digest, actor: format!("token:{}", secrets::key_id(&value, &salt)) })
    }
}

impl TokenCell {
    /// Resolves the token once; the server does not start without it.
    pub(crate) fn new(source: TokenSource) -> Result<TokenCell, SecretError> {
        let current = source.resolve()?;
        Ok(TokenCell { source, current: RwLock::new((Some(current), Instant::now())) })
    }

    fn snapshot(&self) -> Option<Current> {
        {
            let guard = self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if guard.1.elapsed() < REFRESH {
                return guard.0.clone();
            }
        }
        let mut guard = self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.1.elapsed() >= REFRESH {
            // An unresolvable token refuses everything until it is fixed.
            *guard = (self.source.resolve().ok(), Instant::now());
        }
        guard.0.clone()
    }

    /// Checks the presented token values (each header that carried one).
    /// All presented values must match; none presented is `Missing`.
    pub(crate) fn check(&self, presented: &[&[u8]]) -> TokenCheck {
        if presented.is_empty() || presented.iter().all(|p| p.is_empty()) {
            return TokenCheck::Missing;
        }
        let Some(current) = self.snapshot() else { return TokenCheck::Unavailable };
        let mut ok = subtle::Choice::from(1u8);
        for p in presented {
            let digest: [u8; 32] = Sha256::digest(p).into();
            ok &= digest.ct_eq(&current.digest);
        }
        if bool::from(ok) { TokenCheck::Valid { actor: current.actor } } else { TokenCheck::Invalid }
    }
}
