//! A TOML file of our own other than `openclaw.toml` (the console's action
//! registry, the runner's jobs), read under the same rules as the config
//! file: private owner and mode (itself and its directory), a size cap,
//! UTF-8, and every error as `file:line:column: message`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::{ConfigError, MAX_CONFIG_BYTES, line_col, unsafe_path};
use crate::private_path::{self, Class, OpenSpec};

/// A loaded TOML file and its text, for located errors.
#[derive(Debug, Clone)]
pub struct Document {
    path: PathBuf,
    text: String,
}

impl Document {
    /// Reads `path`. `Ok(None)` when it does not exist and `explicit` is
    /// false; an explicitly named file that is missing is an error.
    pub fn load(path: &Path, explicit: bool) -> Result<Option<Document>, ConfigError> {
        let io_err = |source| ConfigError::Io { path: path.to_owned(), source };
        let read =
            private_path::read_file(path, OpenSpec::read(Class::Private), MAX_CONFIG_BYTES).map_err(|e| match e {
                private_path::UnsafePath::Io { source, .. } => io_err(source),
                private_path::UnsafePath::TooLarge { .. } => ConfigError::Invalid {
                    path: path.to_owned(),
                    line: 1,
                    column: 1,
                    message: format!("file larger than {MAX_CONFIG_BYTES} bytes"),
                },
                refused => unsafe_path(&refused),
            })?;
        let bytes = match read {
            Some(b) => b,
            None if !explicit => return Ok(None),
            None => {
                return Err(io_err(std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such file (it was named explicitly, so there is no fallback)",
                )));
            }
        };
        // Whoever can write the directory can swap the file: judge it and its parents too.
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            private_path::check_dir(dir, Class::Private).map_err(|e| unsafe_path(&e))?;
        }
        let text =
            String::from_utf8(bytes).map_err(|e| io_err(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Ok(Some(Document { path: path.to_owned(), text }))
    }

    /// A document from text already in memory (tests, fuzzing); `origin` names it in errors.
    pub fn from_text(origin: &Path, text: &str) -> Document {
        Document { path: origin.to_owned(), text: text.to_owned() }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Deserializes the whole document; errors carry their location.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        toml::from_str(&self.text).map_err(|e| self.invalid_at(e.span(), e.message().to_owned()))
    }

    /// An error at `span` of this file.
    pub fn invalid_at(&self, span: Option<Range<usize>>, message: String) -> ConfigError {
        let (line, column) = line_col(&self.text, span.map_or(0, |s| s.start));
        ConfigError::Invalid { path: self.path.clone(), line, column, message }
    }
}
