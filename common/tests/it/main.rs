//! Integration tests for `common` that need more than one process or an
//! independent verifier. One binary, as the house style asks.

mod audit;
mod audit_faults;
mod verifier_corpus;
