//! Black-box tests of the real `openclaw-console` binary over real HTTP on
//! loopback, with real child processes: attack cases, the action lock,
//! the child's environment, limits, the audit chain, slow clients, token
//! rotation and the canary.

mod attacks;
mod audit;
mod browser;
mod env;
mod faults;
mod limits;
mod lock;
mod malformed;
mod render;
mod review;
mod rotation;
mod slow;
mod startup;
mod support;
mod webdriver;
