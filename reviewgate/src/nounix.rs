//! The engine's system-call filter, installed by `engine-exec` inside the
//! jail just before it becomes the engine:
//!
//! - `socket(AF_UNIX, …)` fails with EPERM. The jail's network namespace
//!   already hides the host's abstract sockets, but a socket file
//!   (`/srv/x.sock`, `/var/lib/<db>/…`) on the read-only root is still there
//!   to `connect()` to; with no Unix socket of its own the engine cannot.
//!   `socketpair` (a pipe between its own processes) stays allowed.
//! - `io_uring_setup`, `io_uring_enter` and `io_uring_register` fail with
//!   EPERM: io_uring opens sockets without the `socket` call.
//! - `ptrace`, `process_vm_readv`, `process_vm_writev` and `pidfd_getfd`
//!   fail with EPERM: the engine cannot take over a process of the jail
//!   that has no filter (the bridge, which is also non-dumpable).
//!
//! Everything else is allowed. Installed with `no_new_privs`, inherited by
//! every descendant, never removable.

use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
};

/// The x32 ABI bit of x86_64 system-call numbers.
#[cfg(target_arch = "x86_64")]
const X32: i64 = 0x4000_0000;

/// The filter for this architecture.
pub(crate) fn program() -> Result<BpfProgram, String> {
    let arch =
        std::env::consts::ARCH.try_into().map_err(|e| format!("no filter for {}: {e}", std::env::consts::ARCH))?;
    let unix = || -> Result<SeccompRule, String> {
        let cond = SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, libc::AF_UNIX as u64)
            .map_err(|e| e.to_string())?;
        SeccompRule::new(vec![cond]).map_err(|e| e.to_string())
    };
    let mut calls = vec![libc::SYS_socket];
    let mut denied = vec![
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
        libc::SYS_ptrace,
        libc::SYS_process_vm_readv,
        libc::SYS_process_vm_writev,
        libc::SYS_pidfd_getfd,
    ];
    #[cfg(target_arch = "x86_64")]
    {
        calls.push(libc::SYS_socket | X32);
        let x32: Vec<i64> = denied.iter().map(|c| c | X32).collect();
        denied.extend(x32);
    }
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for call in calls {
        rules.insert(call, vec![unix()?]);
    }
    // No condition: every call of these fails.
    for call in denied {
        rules.insert(call, Vec::new());
    }
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, SeccompAction::Errno(libc::EPERM as u32), arch)
        .map_err(|e| e.to_string())?;
    BpfProgram::try_from(filter).map_err(|e| e.to_string())
}

/// Installs the filter on this (single-threaded) process, for good.
pub(crate) fn install() -> Result<(), String> {
    seccompiler::apply_filter(&program()?).map_err(|e| format!("cannot install the engine's system-call filter: {e}"))
}
