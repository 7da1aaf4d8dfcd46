//! Fuzzes the doctor's parsers of tool output (docker `Ports`, nft JSON,
//! `sshd -T`, systemctl, `tailscale status --json`, health URLs, HTTP
//! response heads) with their fail-closed invariants: nothing inactive,
//! open or unparsed may pass.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        doctor::fuzzing::tool_output(text);
    }
});
