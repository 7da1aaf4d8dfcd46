//! A tool's own table in the shared config file. `common` knows only the
//! shared keys and the names of the tool tables; each tool deserializes its
//! own table into its own settings struct (unknown keys refused), and errors
//! keep their `file:line:column` because the table is read from the document
//! itself, not from a detached copy.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use serde::de::{self, DeserializeOwned, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use toml::Spanned;

use super::{Config, ConfigError};

/// The tool tables the file may hold; any other top-level table is an error.
pub const TOOL_TABLES: &[&str] = &["doctor", "notify", "guard", "reviewgate", "console", "runner"];

/// Picks one top-level table out of the document and ignores the rest.
struct Pick<T> {
    name: &'static str,
    _t: PhantomData<T>,
}

impl<'de, T: DeserializeOwned> DeserializeSeed<'de> for Pick<T> {
    type Value = Option<Spanned<T>>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, T: DeserializeOwned> Visitor<'de> for Pick<T> {
    type Value = Option<Spanned<T>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML document")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<String>()? {
            if key == self.name {
                found = Some(map.next_value::<Spanned<T>>()?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

impl Config {
    /// The tool table `name` (one of [`TOOL_TABLES`]) deserialized into the
    /// tool's settings `T`, with its span for the tool's own range checks
    /// ([`Config::invalid_at`]); `None` when the file has no such table.
    pub fn tool_table<T: DeserializeOwned>(&self, name: &'static str) -> Result<Option<Spanned<T>>, ConfigError> {
        debug_assert!(TOOL_TABLES.contains(&name), "register `{name}` in TOOL_TABLES");
        let Some(origin) = &self.source else { return Ok(None) };
        let seed = Pick::<T> { name, _t: PhantomData };
        let de =
            toml::Deserializer::parse(&self.text).map_err(|e| self.invalid_at(e.span(), e.message().to_owned()))?;
        seed.deserialize(de).map_err(|e| {
            let mut err = self.invalid_at(e.span(), e.message().to_owned());
            if let ConfigError::Invalid { message, .. } = &mut err {
                *message = format!("{name}: {message}");
            }
            let _ = origin;
            err
        })
    }

    /// An error at `span` of this file (for a tool's own validation).
    pub fn invalid_at(&self, span: Option<Range<usize>>, message: String) -> ConfigError {
        let (line, column) = super::line_col(&self.text, span.map_or(0, |s| s.start));
        ConfigError::Invalid { path: self.source.clone().unwrap_or_default(), line, column, message }
    }
}
