//! Checking an SSHSIG signature with stock OpenSSH: `ssh-keygen -Y
//! find-principals` names the `allowed_signers` principal whose key made the
//! signature, then `ssh-keygen -Y verify -n openclaw-review-verdict` checks
//! it over the message, fed on stdin. The signature and the bytes of
//! `allowed_signers` (read once by the caller, from a descriptor) go to
//! private temporary files in a fresh 0700 directory: ssh-keygen reads
//! paths, and no path it reads can be swapped by anyone else. Nothing is in
//! argv but those paths, the principal and the namespace.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use common::process::{self, CmdError};

use crate::child;

use crate::check::SigCheck;

/// The signature namespace of verdicts.
pub const NAMESPACE: &str = "openclaw-review-verdict";

/// Longest one ssh-keygen call may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why the check could not be made at all (as opposed to a bad signature).
#[derive(Debug, thiserror::Error)]
pub enum SigError {
    /// ssh-keygen is missing, hung, or the temporary file failed.
    #[error("cannot check the signature: {0}")]
    Tool(String),
}

fn keygen(args: &[&str], input: &[u8]) -> Result<process::CmdOutput, SigError> {
    child::run("ssh-keygen", args, Some(input), &[], TIMEOUT).map_err(|e| match e {
        CmdError::NotFound(_) => SigError::Tool("ssh-keygen is not installed (openssh-client)".into()),
        other => SigError::Tool(other.to_string()),
    })
}

/// Whether `sig` is exactly one armoured SSHSIG block: the BEGIN line,
/// base64 lines, the END line and its newline, nothing before or after. Pure.
pub fn is_exact_armor(sig: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(sig) else { return false };
    let Some(body) = text.strip_prefix("-----BEGIN SSH SIGNATURE-----\n") else { return false };
    let Some(body) = body.strip_suffix("-----END SSH SIGNATURE-----\n") else { return false };
    !body.is_empty()
        && body.ends_with('\n')
        && body.lines().all(|l| {
            !l.is_empty() && l.len() <= 76 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b))
        })
}

/// The trusted keys, read once (from a descriptor) and named for messages.
#[derive(Debug, Clone)]
pub struct Signers {
    /// Where they were read from (shown, never reopened).
    pub path: std::path::PathBuf,
    /// The bytes read.
    pub bytes: Vec<u8>,
}

fn private_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<std::path::PathBuf, SigError> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(|e| SigError::Tool(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Checks `sig` over `message` against the keys of `signers`.
pub fn check(signers: &Signers, message: &[u8], sig: &[u8]) -> Result<SigCheck, SigError> {
    let dir = tempfile::Builder::new()
        .prefix("openclaw-reviewgate.")
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .tempdir()
        .map_err(|e| SigError::Tool(format!("temporary directory: {e}")))?;
    let sig_path = private_file(dir.path(), "verdict.sig", sig)?;
    let allowed_path = private_file(dir.path(), "allowed_signers", &signers.bytes)?;
    let allowed_signers = &signers.path;
    let (allowed, sigp) = (allowed_path.to_string_lossy(), sig_path.to_string_lossy());
    let found = keygen(&["-Y", "find-principals", "-s", &sigp, "-f", &allowed], b"")?;
    if !found.status.success() {
        return Ok(SigCheck::Invalid(format!(
            "no principal in {} holds the signing key ({})",
            allowed_signers.display(),
            found.stderr_line()
        )));
    }
    let principals: Vec<String> =
        found.stdout_text().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    for principal in &principals {
        let out = keygen(&["-Y", "verify", "-f", &allowed, "-I", principal, "-n", NAMESPACE, "-s", &sigp], message)?;
        if out.status.success() {
            return Ok(SigCheck::Valid { principal: principal.clone() });
        }
    }
    Ok(SigCheck::Invalid(format!(
        "no allowed signer's signature over these bytes in namespace {NAMESPACE} ({})",
        principals.join(", ")
    )))
}
