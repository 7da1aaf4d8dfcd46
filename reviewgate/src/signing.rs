//! Signing a verdict: the Ed25519 key `OPENCLAW_REVIEW_SIGNING_KEY`,
//! resolved through `common::secrets` (environment, keychain, systemd
//! credential, 0600 file), and stock `ssh-keygen -Y sign -n
//! openclaw-review-verdict` with the verdict on stdin and the signature on
//! stdout. ssh-keygen reads a key from a path: a key from a file or a
//! credential is used in place; one from the environment or the keychain is
//! written to a 0600 file in a fresh 0700 directory only for the moment of
//! signing (after the review), and removed. The key is never in argv or
//! output, and no child process inherits the variable (`child`).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Duration;

use common::process::CmdError;
use common::secrets::{Resolver, SecretError, Source};
use secrecy::{ExposeSecret, SecretString};

use crate::sshsig::NAMESPACE;

/// The managed name of the signing key.
pub const KEY_NAME: &str = "OPENCLAW_REVIEW_SIGNING_KEY";

/// Why nothing could be signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The key could not be resolved.
    #[error("the signing key {KEY_NAME}: {0}")]
    Key(#[from] SecretError),
    /// ssh-keygen failed.
    #[error("ssh-keygen -Y sign: {0}")]
    Tool(String),
}

/// A resolved signing key.
pub struct SigningKey {
    place: Place,
    /// Where it came from (for the report; never the value).
    pub source: String,
}

enum Place {
    /// A file ssh-keygen can read in place (the secrets directory, a credential).
    File(PathBuf),
    /// A value from the environment or the keychain, written to a private
    /// file only for the moment of signing.
    Value(SecretString),
}

impl SigningKey {
    /// Resolves the key (before any review runs, so a missing key writes
    /// nothing). Nothing is written here.
    pub fn resolve(resolver: &Resolver<'_>) -> Result<SigningKey, SignError> {
        let found = resolver.resolve(KEY_NAME)?.winner;
        let source = found.source.to_string();
        let place = match found.source {
            Source::File { path } | Source::Credential { path } => Place::File(path),
            Source::Env | Source::Keychain => Place::Value(found.value),
        };
        Ok(SigningKey { place, source })
    }

    /// The key's file, when ssh-keygen reads it in place (a secrets file or a credential).
    pub fn file(&self) -> Option<&std::path::Path> {
        match &self.place {
            Place::File(path) => Some(path),
            Place::Value(_) => None,
        }
    }

    /// The SSHSIG over `message` (the armoured text ssh-keygen prints).
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SignError> {
        match &self.place {
            Place::File(path) => sign_with(path, message),
            Place::Value(value) => {
                // A 0700 directory and a 0600 file, removed when this returns.
                let dir = tempfile::Builder::new()
                    .prefix("openclaw-reviewgate-key.")
                    .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
                    .tempdir()
                    .map_err(|e| SignError::Tool(format!("temporary directory: {e}")))?;
                let path = dir.path().join("key");
                let mut text = value.expose_secret().to_owned();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&path)
                    .and_then(|mut f| f.write_all(text.as_bytes()))
                    .map_err(|e| SignError::Tool(format!("temporary key file: {e}")))?;
                sign_with(&path, message)
            }
        }
    }
}

fn sign_with(key: &std::path::Path, message: &[u8]) -> Result<Vec<u8>, SignError> {
    let key = key.to_string_lossy();
    let out = crate::child::run(
        "ssh-keygen",
        &["-Y", "sign", "-f", &key, "-n", NAMESPACE],
        Some(message),
        &[],
        Duration::from_secs(30),
    )
    .map_err(|e| match e {
        CmdError::NotFound(_) => SignError::Tool("ssh-keygen is not installed (openssh-client)".into()),
        other => SignError::Tool(other.to_string()),
    })?;
    if !out.status.success() || !out.stdout.starts_with(b"-----BEGIN SSH SIGNATURE-----") {
        return Err(SignError::Tool(format!("exited {:?}: {}", out.status.code(), out.stderr_line())));
    }
    Ok(out.stdout)
}
