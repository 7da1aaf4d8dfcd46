//! Checking an SSHSIG signature with stock OpenSSH: `ssh-keygen -Y
//! find-principals` names the `allowed_signers` principal whose key made the
//! signature, then `ssh-keygen -Y verify -n openclaw-review-verdict` checks
//! it over the message, fed on stdin. The signature goes to a private
//! temporary file (ssh-keygen reads it from a path); nothing is in argv but
//! paths, the principal and the namespace.

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

/// Checks `sig` over `message` against `allowed_signers`.
pub fn check(allowed_signers: &Path, message: &[u8], sig: &[u8]) -> Result<SigCheck, SigError> {
    let dir = tempfile::Builder::new()
        .prefix("openclaw-reviewgate.")
        .tempdir()
        .map_err(|e| SigError::Tool(format!("temporary directory: {e}")))?;
    let sig_path = dir.path().join("verdict.sig");
    std::fs::File::create_new(&sig_path)
        .and_then(|mut f| f.write_all(sig))
        .map_err(|e| SigError::Tool(format!("{}: {e}", sig_path.display())))?;
    let (allowed, sigp) = (allowed_signers.to_string_lossy(), sig_path.to_string_lossy());
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
