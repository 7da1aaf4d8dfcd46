//! Fuzzes the config loader's parser: arbitrary text must give a config or a
//! located error, never a panic, and errors must point inside the input.
#![no_main]

use std::path::Path;

use common::config::{Config, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Config::parse(text, Path::new("/fuzz/openclaw.toml")) {
        Ok(config) => {
            assert!(!config.listeners.allowed.is_empty() || text.contains("allowed_cidrs"));
        }
        Err(ConfigError::Invalid { line, column, .. }) => {
            assert!(line >= 1 && line <= text.matches('\n').count() + 1, "line {line} outside input");
            assert!(column >= 1);
        }
        Err(other) => panic!("parse must not do IO: {other}"),
    }
});
