//! The system-call filter the job's init installs before it starts an
//! unprivileged job: no kernel keyring and no user namespace of the job's
//! own. Keyrings are not namespaced (a per-uid user keyring is shared by
//! every process of that uid), so `add_key`, `keyctl` and `request_key`
//! fail with EPERM, as in Docker's default profile. Inside a user namespace, a
//! `nobody` job would hold every capability over that namespace and reach
//! kernel code that is otherwise root-only (netfilter, overlayfs, FUSE),
//! where many local privilege escalations live. The rule is Docker's:
//! `unshare` and `clone` asking for `CLONE_NEWUSER` fail with EPERM, and
//! `clone3` (whose flags a filter cannot read) fails with ENOSYS, which
//! makes the C library fall back to `clone`. On x86_64 the x32 numbers of
//! the same calls are covered too; a system call of another architecture
//! (i386 through `int 0x80`) kills the job.
//!
//! Everything else is allowed: this is one hole closed, not a sandbox
//! profile. Installed with `no_new_privs`, inherited by every descendant,
//! never removable.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

/// The flag the filter refuses.
pub(crate) const CLONE_NEWUSER: u64 = 0x1000_0000;

/// The x32 ABI bit of x86_64 system-call numbers.
#[cfg(target_arch = "x86_64")]
const X32: i64 = 0x4000_0000;

/// Builds the filters for this architecture: one refusing `CLONE_NEWUSER`
/// with EPERM, one refusing `clone3` with ENOSYS (a filter has one action
/// on a match; the kernel runs every installed filter and the strictest
/// answer wins).
pub(crate) fn programs() -> Result<Vec<BpfProgram>, String> {
    let arch =
        std::env::consts::ARCH.try_into().map_err(|e| format!("no filter for {}: {e}", std::env::consts::ARCH))?;
    let asks_newuser = || -> Result<SeccompRule, String> {
        let cond =
            SeccompCondition::new(0, SeccompCmpArgLen::Qword, SeccompCmpOp::MaskedEq(CLONE_NEWUSER), CLONE_NEWUSER)
                .map_err(|e| e.to_string())?;
        SeccompRule::new(vec![cond]).map_err(|e| e.to_string())
    };
    let mut newuser = vec![libc::SYS_unshare, libc::SYS_clone];
    let mut clone3 = vec![libc::SYS_clone3];
    #[cfg(target_arch = "x86_64")]
    {
        newuser.extend([libc::SYS_unshare | X32, libc::SYS_clone | X32]);
        clone3.push(libc::SYS_clone3 | X32);
    }
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in newuser {
        rules.insert(call, vec![asks_newuser()?]);
    }
    // No condition: every call of these fails.
    let mut keyrings = vec![libc::SYS_add_key, libc::SYS_keyctl, libc::SYS_request_key];
    #[cfg(target_arch = "x86_64")]
    keyrings.extend([libc::SYS_add_key | X32, libc::SYS_keyctl | X32, libc::SYS_request_key | X32]);
    for call in keyrings {
        rules.insert(call, Vec::new());
    }
    let filters = [
        SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch),
        SeccompFilter::new(
            clone3.into_iter().map(|c| (c, vec![])).collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        ),
    ];
    filters.into_iter().map(|f| f.and_then(BpfProgram::try_from).map_err(|e| e.to_string())).collect()
}

/// Installs the filters on this (single-threaded) process, for good.
pub(crate) fn install() -> Result<(), String> {
    for prog in programs()? {
        seccompiler::apply_filter(&prog).map_err(|e| format!("cannot install the job's system-call filter: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_programs_are_built_for_this_architecture() {
        let progs = programs().unwrap();
        assert_eq!(progs.len(), 2);
        assert!(progs.iter().all(|p| !p.is_empty()));
    }
}
