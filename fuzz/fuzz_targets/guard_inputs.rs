//! Fuzzes the guard's readers of untrusted tool output: the doctor's JSON
//! report (and the registry's findings from it), `tailscale status --json`
//! through the interlock judge, and the fixes' planners, with the
//! invariants that keep the interlock fail-closed: it opens only for a
//! 100.64.0.0/10 address that is configured locally.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    guard::fuzzing::inputs(data);
});
