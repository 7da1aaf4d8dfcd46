//! Black-box tests of the real `openclaw-guard` in temp hosts, with PATH
//! stubs replaying the doctor's recorded JSON and recorded `tailscale
//! status --json` outputs, and a notifier stub that records its argv.

mod interlock;
mod lock;
mod status;
mod support;
mod tick;
