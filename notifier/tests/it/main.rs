//! Black-box tests of the real `openclaw-notify` against a fake Pushover
//! API on loopback. Canary keys are planted and must never appear in argv,
//! output, state files or the audit log.

mod audit;
mod fake;
mod faults;
mod flush;
mod outbox;
mod outcomes;
mod safety;
mod send;
mod support;
