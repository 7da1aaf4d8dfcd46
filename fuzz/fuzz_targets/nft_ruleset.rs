//! Fuzzes the firewall evaluator with arbitrary JSON: as a whole
//! `nft -j list ruleset` document, and as the rules of one inet input chain
//! with policy accept. Invariant: a ruleset that cannot drop (no drop policy
//! on an input base chain, no drop or reject verdict anywhere) is never said
//! to block a port, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        doctor::fuzzing::nft_ruleset(text);
    }
});
