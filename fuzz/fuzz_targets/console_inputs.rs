//! Fuzzes the console's parsers of untrusted input: the action registry
//! loader (operator TOML), the exec body and its typed parameters (caller
//! JSON), and the Host/Origin gate. No input may panic; a registry that
//! loads holds only valid ids, absolute programs, bounded timeouts and at
//! most 32 params an action; checked parameters satisfy their declaration
//! (an int in range, a string that the anchored pattern matches whole, with
//! no control character); the gate admits only the exact allowed names.
#![no_main]

use std::path::Path;

use common::config::Document;
use common::params::{ParamKind, check_object};
use console::fuzzing::{Registry, parse_exec};
use console::gate::Gate;
use libfuzzer_sys::fuzz_target;

const SPECS: &str = r#"
[[action]]
id = "t"
label = "t"
description = "t"
argv = ["/bin/true"]
timeout_sec = 5
[action.params.n]
type = "int"
min = -5
max = 70000
[action.params.s]
type = "string"
max_len = 12
pattern = "[a-z0-9._-]+"
[action.params.e]
type = "enum"
values = ["a", "b"]
[action.params.b]
type = "bool"
"#;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else { return };
    match sel % 3 {
        0 => {
            let Ok(text) = std::str::from_utf8(rest) else { return };
            let doc = Document::from_text(Path::new("/fuzz.toml"), text);
            if let Ok(reg) = Registry::parse(&doc, &|_, _| Ok(())) {
                for a in &reg.actions {
                    assert!(console::registry::valid_id(&a.id));
                    assert!(a.argv[0].starts_with('/'));
                    assert!((1..=86_400).contains(&a.timeout.as_secs()));
                    assert!(a.params.len() <= 32);
                }
            }
        }
        1 => {
            let doc = Document::from_text(Path::new("/specs.toml"), SPECS);
            let reg = Registry::parse(&doc, &|_, _| Ok(())).expect("the fixed registry loads");
            let specs = &reg.actions[0].params;
            if let Ok(body) = parse_exec(rest) {
                if let Ok(checked) = check_object(specs, &body.params) {
                    for spec in specs {
                        let Some(v) = checked.get(&spec.name) else { continue };
                        match &spec.kind {
                            ParamKind::Int { min, max } => {
                                let i: i64 = v.parse().expect("an int param is decimal");
                                assert!((*min..=*max).contains(&i));
                            }
                            ParamKind::String { max_len, regex, .. } => {
                                assert!(v.chars().count() <= *max_len && !v.chars().any(char::is_control));
                                assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b".-_".contains(&b)));
                                assert!(regex.is_match(v));
                            }
                            ParamKind::Enum { values } => assert!(values.contains(v)),
                            ParamKind::Bool => assert!(v == "true" || v == "false"),
                        }
                    }
                }
            }
        }
        _ => {
            let gate = Gate::new("127.0.0.1:8787".parse().unwrap(), &["box.tail1234.ts.net".to_owned()]);
            if gate.host_allowed(Some(rest)) {
                let lower = rest.to_ascii_lowercase();
                let ok: &[&[u8]] = &[b"127.0.0.1:8787", b"localhost:8787", b"[::1]:8787", b"box.tail1234.ts.net", b"box.tail1234.ts.net:443"];
                assert!(ok.contains(&lower.as_slice()), "{rest:?}");
            }
            if gate.check_origin(true, Some(rest), None).is_ok() {
                assert!(gate.origins().iter().any(|o| o.as_bytes() == rest));
            }
        }
    }
});
