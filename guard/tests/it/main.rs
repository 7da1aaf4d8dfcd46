//! Black-box tests of the real `openclaw-guard` in temp hosts, with PATH
//! stubs replaying the doctor's recorded JSON and recorded `tailscale
//! status --json` outputs, and a notifier stub that records its argv; and
//! against a real sshd in a test-made network namespace (`sshd`).

mod cups;
mod interlock;
mod lock;
mod prepare_log;
mod sshd;
mod sshlab;
mod status;
mod support;
mod tailnet_path;
mod tick;
