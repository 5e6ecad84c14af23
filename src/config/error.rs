//! The one error type of configuration loading: where the problem is, what it is, and the fix.
//!
//! It is a struct rather than an enum because every case renders the same way
//! (`file:line:column: problem` then `  fix: ...`), which is what a person and an editor want.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::string::FromUtf8Error;

use super::locate;

/// A problem in `steward.toml`, with a fix a person can apply.
#[derive(Debug, thiserror::Error)]
pub struct ConfigError {
    /// The file, as the caller named it.
    pub path: PathBuf,
    /// 1-based line, when the problem is at a place in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), when known.
    pub column: Option<usize>,
    /// Dotted key path such as `daemon.log.level`, when the problem concerns a key.
    pub key: Option<String>,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl ConfigError {
    /// An error at byte `offset` of `text`.
    pub(crate) fn at(
        origin: &Path,
        text: &str,
        offset: usize,
        key: Option<String>,
        problem: String,
        fix: String,
    ) -> ConfigError {
        let (line, column) = locate::line_column(text, offset);
        ConfigError { path: origin.to_path_buf(), line: Some(line), column: Some(column), key, problem, fix }
    }

    pub(crate) fn unreadable(path: &Path, err: &io::Error) -> ConfigError {
        ConfigError {
            path: path.to_path_buf(),
            line: None,
            column: None,
            key: None,
            problem: format!("cannot read the configuration file: {err}"),
            fix: "make the file readable by this user (or remove it to use the defaults)".to_owned(),
        }
    }

    pub(crate) fn not_utf8(path: &Path, err: &FromUtf8Error) -> ConfigError {
        let valid_len = err.utf8_error().valid_up_to();
        // The prefix before the bad byte is valid UTF-8 by definition, so positions can be
        // computed on it; the fallback is unreachable but keeps this panic-free.
        let prefix = std::str::from_utf8(&err.as_bytes()[..valid_len]).unwrap_or_default();
        let (line, column) = locate::line_column(prefix, prefix.len());
        ConfigError {
            path: path.to_path_buf(),
            line: Some(line),
            column: Some(column),
            key: None,
            problem: "the file is not valid UTF-8".to_owned(),
            fix: "save the file as UTF-8 text (TOML requires it)".to_owned(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}", self.problem)?;
        // Every message names its key; problems quoted from the TOML parser do not, so the key
        // is added here rather than trusted to each call site.
        if let Some(key) = &self.key
            && !self.problem.contains(&format!("`{key}`"))
            && !self.problem.contains(&format!("`[{key}]`"))
        {
            write!(f, " (at `{key}`)")?;
        }
        write!(f, "\n  fix: {}", self.fix)
    }
}
