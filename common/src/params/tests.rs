//! Unit tests of the typed parameters: declarations refused with their
//! location, and values refused without echoing them.

use super::*;

#[derive(Deserialize)]
struct Doc {
    params: BTreeMap<String, RawParam>,
}

fn specs(toml_text: &str) -> Result<Vec<ParamSpec>, SpecError> {
    let doc: Doc =
        toml::from_str(toml_text).map_err(|e| SpecError { span: e.span(), message: e.message().to_owned() })?;
    doc.params.into_iter().map(|(name, raw)| ParamSpec::from_raw(&name, None, raw)).collect()
}

const ALL: &str = r#"
[params.only]
type = "enum"
values = ["listeners", "firewall"]
[params.count]
type = "int"
min = 1
max = 10
required = true
[params.verbose]
type = "bool"
[params.ref]
type = "string"
max_len = 12
pattern = "[a-z0-9]+"
"#;

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn typed_values_pass_and_come_out_canonical() {
    let s = specs(ALL).unwrap();
    let got =
        check_object(&s, &obj(serde_json::json!({"only": "firewall", "count": 10, "verbose": false, "ref": "abc1"})))
            .unwrap();
    assert_eq!(got["count"], "10");
    assert_eq!(got["verbose"], "false");
    let env = env_vars(&s, &got);
    assert!(env.contains(&("OPENCLAW_PARAM_ONLY".to_owned(), "firewall".to_owned())));
    assert!(env.contains(&("OPENCLAW_PARAM_REF".to_owned(), "abc1".to_owned())));
}

#[test]
fn wrong_types_out_of_range_and_unknown_names_are_refused() {
    let s = specs(ALL).unwrap();
    let refused = |v: Value| check_object(&s, &obj(v)).unwrap_err();
    for bad in [
        serde_json::json!({"count": "5"}),
        serde_json::json!({"count": 5.0}),
        serde_json::json!({"count": 11}),
        serde_json::json!({"count": 0}),
        serde_json::json!({"count": 1, "verbose": "true"}),
        serde_json::json!({"count": 1, "only": "Firewall"}),
        serde_json::json!({"count": 1, "only": ["firewall"]}),
        serde_json::json!({"count": 1, "ref": null}),
    ] {
        assert!(matches!(refused(bad.clone()), ParamError::Invalid { .. }), "{bad}");
    }
    let unknown = refused(serde_json::json!({"count": 1, "__proto__": 1}));
    assert_eq!(unknown.to_string(), "unknown parameter; allowed: count, only, ref, verbose");
    assert!(matches!(refused(serde_json::json!({})), ParamError::Missing { .. }));
}

#[test]
fn a_pattern_matches_the_whole_value_and_nothing_escapes_it() {
    let s = specs(ALL).unwrap();
    for bad in ["abc\nrm", "abc;rm", "ABC", "", "abcdefghijklm", "abc\u{0}", "-rf", "a b"] {
        let res = check_object(&s, &obj(serde_json::json!({"count": 1, "ref": bad})));
        assert!(res.is_err(), "{bad:?}");
    }
    // An alternation cannot bypass the anchors.
    let alt = specs("[params.p]\ntype = \"string\"\nmax_len = 64\npattern = \"a|.*\"\n").unwrap();
    assert!(alt[0].check_text("anything goes").is_ok(), "the operator's own pattern allows it");
    let strict = specs("[params.p]\ntype = \"string\"\nmax_len = 64\npattern = \"a|b\"\n").unwrap();
    // An unbalanced pattern would close our group and escape the anchors: refused.
    for bad in [r"[a-z]+)|(.*", r"a)(", r"(?x)a#\n)|(.*"] {
        let text = format!("[params.p]\ntype = \"string\"\nmax_len = 64\npattern = '''{bad}'''\n");
        let err = specs(&text).unwrap_err();
        assert!(err.message.contains("pattern"), "{bad}: {}", err.message);
    }
    assert!(strict[0].check_text("ab").is_err());
    assert!(strict[0].check_text("xa").is_err());
}

#[test]
fn text_values_are_parsed_strictly() {
    let s = specs(ALL).unwrap();
    let count = s.iter().find(|p| p.name == "count").unwrap();
    assert_eq!(count.check_text("7").unwrap(), "7");
    for bad in ["+7", "07", " 7", "7 ", "", "-", "0x7", "99999999999999999999"] {
        assert!(count.check_text(bad).is_err(), "{bad:?}");
    }
    let pairs = vec![("count".to_owned(), "2".to_owned()), ("count".to_owned(), "3".to_owned())];
    assert!(matches!(check_pairs(&s, &pairs), Err(ParamError::Repeated { .. })));
}

#[test]
fn bad_declarations_are_refused_with_their_location() {
    for (text, needle) in [
        ("[params.p]\ntype = \"enum\"\n", "needs `values`"),
        ("[params.p]\ntype = \"enum\"\nvalues = []\n", "1 to 256"),
        ("[params.p]\ntype = \"enum\"\nvalues = [\"a\", \"a\"]\n", "distinct"),
        ("[params.p]\ntype = \"int\"\nmin = 1\n", "both `min` and `max`"),
        ("[params.p]\ntype = \"int\"\nmin = 5\nmax = 1\n", "larger"),
        ("[params.p]\ntype = \"string\"\nmax_len = 5\n", "needs `pattern`"),
        ("[params.p]\ntype = \"string\"\npattern = \"a\"\n", "needs `max_len`"),
        ("[params.p]\ntype = \"string\"\nmax_len = 5\npattern = \"(\"\n", "does not compile"),
        ("[params.p]\ntype = \"bool\"\nmin = 1\n", "does not apply"),
        ("[params.p]\ntype = \"float\"\n", "must be enum"),
        ("[params.P]\ntype = \"bool\"\n", "parameter names"),
        ("[params.p]\ntype = \"bool\"\nextra = 1\n", "unknown field"),
    ] {
        let err = specs(text).unwrap_err();
        assert!(err.message.contains(needle), "{text:?}: {}", err.message);
    }
    let located = specs("[params.p]\ntype = \"int\"\nmin = 5\nmax = 1\n").unwrap_err();
    assert!(located.span.is_some());
}

#[test]
fn names_are_restricted() {
    for good in ["a", "only", "x_1"] {
        assert!(valid_name(good));
    }
    for bad in ["", "A", "1a", "a-b", "__proto__", &"a".repeat(33)] {
        assert!(!valid_name(bad), "{bad:?}");
    }
}
