//! Black-box tests of the xtask binary. One integration binary per crate.

mod check_deps;
mod tidy;
