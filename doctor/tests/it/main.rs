//! Black-box tests of the real `openclaw-doctor` binary. One integration
//! binary for the crate; `support` isolates every path and the PATH.

mod support;

mod audit;
mod cli;
mod console_auth;
mod escaping;
mod firewall_netns;
mod firewall_rewrites_netns;
mod listeners_kinds;
mod listeners_netns;
mod listeners_owners;
mod local;
mod netns;
mod prometheus;
mod reports;
mod sshd_real;
mod stubbed_tools;
