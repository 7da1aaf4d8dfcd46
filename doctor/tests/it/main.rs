//! Black-box tests of the real `openclaw-doctor` binary. One integration
//! binary for the crate; `support` isolates every path and the PATH.

mod support;

mod audit;
mod cli;
mod firewall_netns;
mod listeners_netns;
mod local;
mod stubbed_tools;
