//! Typed parameters of an allowlisted action: the one definition the
//! console's registry and the runner's jobs share.
//!
//! An operator declares each parameter in TOML (`enum` with values, `int`
//! with min and max, `bool`, or `string` with a length cap and a pattern
//! that is always anchored); a caller's values are checked against the
//! declaration before anything runs. A checked value leaves only as an
//! environment variable `OPENCLAW_PARAM_<NAME>` (and a `params.json`),
//! never as an argument, so no value can become an option or a command.

use std::collections::BTreeMap;
use std::ops::Range;

use regex::Regex;
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

/// Longest `max_len` a string parameter may declare.
pub const MAX_STRING_LEN: usize = 4096;

/// Most parameters one action may declare.
pub const MAX_PARAMS: usize = 32;

/// A parameter as written in TOML, before its fields are cross-checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawParam {
    #[serde(rename = "type")]
    kind: Spanned<String>,
    #[serde(default)]
    required: bool,
    values: Option<Spanned<Vec<String>>>,
    min: Option<Spanned<i64>>,
    max: Option<Spanned<i64>>,
    max_len: Option<Spanned<usize>>,
    pattern: Option<Spanned<String>>,
}

/// A checked parameter declaration.
#[derive(Debug, Clone)]
pub struct ParamSpec {
    /// The name: `[a-z][a-z0-9_]{0,31}`.
    pub name: String,
    /// Whether a caller must give it.
    pub required: bool,
    /// Its type and bounds.
    pub kind: ParamKind,
}

/// A parameter's type and bounds.
#[derive(Debug, Clone)]
pub enum ParamKind {
    /// One of a fixed list of strings.
    Enum {
        /// The allowed values.
        values: Vec<String>,
    },
    /// An integer in `min..=max`.
    Int {
        /// Smallest allowed.
        min: i64,
        /// Largest allowed.
        max: i64,
    },
    /// `true` or `false`.
    Bool,
    /// Text of at most `max_len` characters, no control characters, that the
    /// whole of matches `pattern`.
    String {
        /// Longest allowed, in characters.
        max_len: usize,
        /// The pattern as the operator wrote it.
        pattern: String,
        /// The pattern compiled as `^(?:pattern)$`.
        regex: Regex,
    },
}

/// A declaration that cannot be used, with where in the file it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// The byte range in the TOML text, when known.
    pub span: Option<Range<usize>>,
    /// What is wrong.
    pub message: String,
}

/// Why a caller's parameters were refused. Messages never repeat the
/// caller's names or values: they name the declared parameters only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// A name that is not declared.
    #[error("unknown parameter; allowed: {allowed}")]
    Unknown {
        /// The declared names, comma-separated (`none` when there are none).
        allowed: String,
    },
    /// A required parameter is absent.
    #[error("missing required parameter `{name}`; allowed: {allowed}")]
    Missing {
        /// The declared name.
        name: String,
        /// The declared names.
        allowed: String,
    },
    /// A value that does not fit its declaration.
    #[error("parameter `{name}` must be {expected}")]
    Invalid {
        /// The declared name.
        name: String,
        /// What the declaration accepts.
        expected: String,
    },
    /// The same name given twice (only possible from `KEY=VALUE` lists).
    #[error("parameter `{name}` given more than once")]
    Repeated {
        /// The declared name.
        name: String,
    },
}

/// True for a valid parameter name.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    (1..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_')
}

impl ParamSpec {
    /// Checks one TOML declaration. `name_span` locates the table's name.
    pub fn from_raw(name: &str, name_span: Option<Range<usize>>, raw: RawParam) -> Result<ParamSpec, SpecError> {
        let err = |span: Option<Range<usize>>, message: String| SpecError { span, message };
        if !valid_name(name) {
            return Err(err(name_span, "parameter names are [a-z][a-z0-9_]{0,31}".to_owned()));
        }
        let at = |s: &str| format!("params.{name}: {s}");
        let kind_span = Some(raw.kind.span());
        let unexpected = |present: &[(&str, Option<Range<usize>>)]| -> Result<(), SpecError> {
            match present.iter().find(|(_, s)| s.is_some()) {
                Some((key, span)) => {
                    Err(err(span.clone(), at(&format!("`{key}` does not apply to type `{}`", raw.kind.get_ref()))))
                }
                None => Ok(()),
            }
        };
        let values_span = raw.values.as_ref().map(Spanned::span);
        let min_span = raw.min.as_ref().map(Spanned::span);
        let max_span = raw.max.as_ref().map(Spanned::span);
        let len_span = raw.max_len.as_ref().map(Spanned::span);
        let pat_span = raw.pattern.as_ref().map(Spanned::span);
        let kind = match raw.kind.get_ref().as_str() {
            "enum" => {
                unexpected(&[("min", min_span), ("max", max_span), ("max_len", len_span), ("pattern", pat_span)])?;
                let Some(values) = raw.values else {
                    return Err(err(kind_span, at("an enum needs `values`")));
                };
                let span = Some(values.span());
                let values = values.into_inner();
                if values.is_empty() || values.len() > 256 {
                    return Err(err(span, at("`values` must hold 1 to 256 entries")));
                }
                let printable =
                    |v: &String| !v.is_empty() && v.len() <= MAX_STRING_LEN && !v.chars().any(char::is_control);
                if !values.iter().all(printable) {
                    return Err(err(span, at("enum values must be non-empty text without control characters")));
                }
                let mut sorted = values.clone();
                sorted.sort();
                sorted.dedup();
                if sorted.len() != values.len() {
                    return Err(err(span, at("enum values must be distinct")));
                }
                ParamKind::Enum { values }
            }
            "int" => {
                unexpected(&[("values", values_span), ("max_len", len_span), ("pattern", pat_span)])?;
                let (Some(min), Some(max)) = (raw.min, raw.max) else {
                    return Err(err(kind_span, at("an int needs both `min` and `max`")));
                };
                if min.get_ref() > max.get_ref() {
                    return Err(err(Some(min.span()), at("`min` is larger than `max`")));
                }
                ParamKind::Int { min: *min.get_ref(), max: *max.get_ref() }
            }
            "bool" => {
                unexpected(&[
                    ("values", values_span),
                    ("min", min_span),
                    ("max", max_span),
                    ("max_len", len_span),
                    ("pattern", pat_span),
                ])?;
                ParamKind::Bool
            }
            "string" => {
                unexpected(&[("values", values_span), ("min", min_span), ("max", max_span)])?;
                let Some(max_len) = raw.max_len else {
                    return Err(err(kind_span, at("a string needs `max_len`")));
                };
                if !(1..=MAX_STRING_LEN).contains(max_len.get_ref()) {
                    return Err(err(Some(max_len.span()), at(&format!("`max_len` must be 1 to {MAX_STRING_LEN}"))));
                }
                let Some(pattern) = raw.pattern else {
                    return Err(err(
                        kind_span,
                        at("a string needs `pattern` (a regular expression the whole value must match)"),
                    ));
                };
                let regex = compile_anchored(pattern.get_ref())
                    .map_err(|e| err(Some(pattern.span()), at(&format!("`pattern` does not compile: {e}"))))?;
                ParamKind::String { max_len: *max_len.get_ref(), pattern: pattern.into_inner(), regex }
            }
            _ => return Err(err(kind_span, at("`type` must be enum, int, bool or string"))),
        };
        Ok(ParamSpec { name: name.to_owned(), required: raw.required, kind })
    }

    /// What this parameter accepts, for error messages and the API listing.
    pub fn expected(&self) -> String {
        match &self.kind {
            ParamKind::Enum { values } => format!("one of {}", values.join(", ")),
            ParamKind::Int { min, max } => format!("an integer from {min} to {max}"),
            ParamKind::Bool => "true or false".to_owned(),
            ParamKind::String { max_len, pattern, .. } => {
                format!("text of at most {max_len} characters matching ^(?:{pattern})$")
            }
        }
    }

    /// The environment variable that carries the value.
    pub fn env_name(&self) -> String {
        format!("OPENCLAW_PARAM_{}", self.name.to_ascii_uppercase())
    }

    /// The declaration as the API lists it.
    pub fn schema(&self) -> Value {
        let mut v = serde_json::json!({"name": self.name, "required": self.required});
        match &self.kind {
            ParamKind::Enum { values } => {
                v["type"] = "enum".into();
                v["values"] = values.clone().into();
            }
            ParamKind::Int { min, max } => {
                v["type"] = "int".into();
                v["min"] = (*min).into();
                v["max"] = (*max).into();
            }
            ParamKind::Bool => v["type"] = "bool".into(),
            ParamKind::String { max_len, pattern, .. } => {
                v["type"] = "string".into();
                v["max_len"] = (*max_len).into();
                v["pattern"] = format!("^(?:{pattern})$").into();
            }
        }
        v
    }

    fn invalid(&self) -> ParamError {
        ParamError::Invalid { name: self.name.clone(), expected: self.expected() }
    }

    /// Checks a JSON value; returns its canonical text.
    pub fn check_json(&self, value: &Value) -> Result<String, ParamError> {
        match (&self.kind, value) {
            (ParamKind::Int { .. }, Value::Number(n)) => n.as_i64().map_or(Err(self.invalid()), |i| self.check_int(i)),
            (ParamKind::Bool, Value::Bool(b)) => Ok(b.to_string()),
            (ParamKind::Enum { .. } | ParamKind::String { .. }, Value::String(s)) => self.check_str(s),
            _ => Err(self.invalid()),
        }
    }

    /// Checks a value given as text (`--param KEY=VALUE`); returns its
    /// canonical text. Integers are plain decimal, booleans `true`/`false`.
    pub fn check_text(&self, text: &str) -> Result<String, ParamError> {
        match &self.kind {
            ParamKind::Int { .. } => {
                let digits = text.strip_prefix('-').unwrap_or(text);
                let plain = !digits.is_empty()
                    && digits.len() <= 19
                    && digits.bytes().all(|b| b.is_ascii_digit())
                    && (digits == "0" || !digits.starts_with('0'));
                match text.parse::<i64>() {
                    Ok(i) if plain => self.check_int(i),
                    _ => Err(self.invalid()),
                }
            }
            ParamKind::Bool => match text {
                "true" | "false" => Ok(text.to_owned()),
                _ => Err(self.invalid()),
            },
            ParamKind::Enum { .. } | ParamKind::String { .. } => self.check_str(text),
        }
    }

    fn check_int(&self, i: i64) -> Result<String, ParamError> {
        match self.kind {
            ParamKind::Int { min, max } if (min..=max).contains(&i) => Ok(i.to_string()),
            _ => Err(self.invalid()),
        }
    }

    fn check_str(&self, s: &str) -> Result<String, ParamError> {
        let ok = match &self.kind {
            ParamKind::Enum { values } => values.iter().any(|v| v == s),
            ParamKind::String { max_len, regex, .. } => {
                s.chars().count() <= *max_len && !s.chars().any(char::is_control) && regex.is_match(s)
            }
            ParamKind::Int { .. } | ParamKind::Bool => false,
        };
        if ok { Ok(s.to_owned()) } else { Err(self.invalid()) }
    }
}

/// Compiles `pattern` so that it must match the whole value. The pattern
/// must compile on its own first, so it is one balanced expression that the
/// anchors wrap whole (`a)|(.*` cannot close our group and escape them), and
/// it may hold no control character (no `(?x)` comment can swallow the end).
fn compile_anchored(pattern: &str) -> Result<Regex, String> {
    if pattern.chars().any(char::is_control) {
        return Err("control characters are not allowed in a pattern".to_owned());
    }
    let build = |p: &str| {
        regex::RegexBuilder::new(p).size_limit(1 << 20).dfa_size_limit(1 << 20).build().map_err(|e| e.to_string())
    };
    build(pattern)?;
    build(&format!("^(?:{pattern})$"))
}

/// Checked values, by name, in their canonical text.
pub type Checked = BTreeMap<String, String>;

fn allowed(specs: &[ParamSpec]) -> String {
    if specs.is_empty() {
        "none".to_owned()
    } else {
        specs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

fn finish(specs: &[ParamSpec], got: Checked) -> Result<Checked, ParamError> {
    if let Some(missing) = specs.iter().find(|s| s.required && !got.contains_key(&s.name)) {
        return Err(ParamError::Missing { name: missing.name.clone(), allowed: allowed(specs) });
    }
    Ok(got)
}

/// Checks a JSON object of parameters against `specs`.
pub fn check_object(specs: &[ParamSpec], params: &serde_json::Map<String, Value>) -> Result<Checked, ParamError> {
    let mut got = Checked::new();
    for (name, value) in params {
        let Some(spec) = specs.iter().find(|s| &s.name == name) else {
            return Err(ParamError::Unknown { allowed: allowed(specs) });
        };
        got.insert(name.clone(), spec.check_json(value)?);
    }
    finish(specs, got)
}

/// Checks `KEY=VALUE` pairs against `specs`.
pub fn check_pairs(specs: &[ParamSpec], pairs: &[(String, String)]) -> Result<Checked, ParamError> {
    let mut got = Checked::new();
    for (name, value) in pairs {
        let Some(spec) = specs.iter().find(|s| &s.name == name) else {
            return Err(ParamError::Unknown { allowed: allowed(specs) });
        };
        if got.insert(name.clone(), spec.check_text(value)?).is_some() {
            return Err(ParamError::Repeated { name: spec.name.clone() });
        }
    }
    finish(specs, got)
}

/// The environment variables that carry checked values to a child.
pub fn env_vars(specs: &[ParamSpec], checked: &Checked) -> Vec<(String, String)> {
    specs.iter().filter_map(|s| checked.get(&s.name).map(|v| (s.env_name(), v.clone()))).collect()
}

#[cfg(test)]
mod tests;
