//! Black-box tests of the real `openclaw-runner` binary with real git
//! (bare origins on `file://` URLs, real fetches and worktrees) and real
//! uids (jobs run as a uid leased for the run, or as nobody, 65534; the
//! mutation cases as root, the only user that can write the tree). Tests that need root print `SKIPPED`.

mod attacks;
mod attacks2;
mod bridge;
mod clean;
mod cleanup;
mod config;
mod escapes;
mod identity;
mod isolation;
mod mutation;
mod refusals;
mod review;
mod stragglers;
mod support;
mod view;
