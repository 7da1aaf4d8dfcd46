//! Black-box tests of the real `openclaw-keyctl`. Every test plants a canary
//! secret and checks it never appears where it must not.

mod faults;
mod keys;
mod leaks;
mod support;
