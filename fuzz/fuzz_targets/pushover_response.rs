//! Fuzzes the notifier's reading of Pushover responses (status, `X-Limit-*`
//! headers, JSON body) and of its own state and outbox files, with the
//! invariants that keep it safe: a 4xx is never retried, a 5xx or 429 is
//! never final, ids used in paths are plain tokens, quota numbers are sane.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let status = 100 + u16::from_le_bytes([data[0], data[1]]) % 500;
    let rest = &data[2..];
    let split = rest.windows(2).position(|w| w == b"\n\n").unwrap_or(rest.len());
    let (head, body) = (&rest[..split], rest.get(split + 2..).unwrap_or(&[]));
    let headers: Vec<(String, String)> = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
        .collect();
    notifier::fuzzing::response(status, &headers, body);
});
