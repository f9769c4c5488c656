//! `ManifestError`: one line that names the file, the position, the field and what to do.

use std::fmt;

use serde_saphyr::Location;

/// A manifest that cannot be used, e.g.
/// `config/environments.yaml:12:5: environments.prod.after: unknown environment "qa" (known: dev, int, prod)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    /// The repository-relative file, e.g. `config/environments.yaml`.
    pub file: String,
    /// 1-based line of the offending value, when known.
    pub line: Option<u32>,
    /// 1-based column of the offending value, when known.
    pub column: Option<u32>,
    /// Dotted path of the offending field, e.g. `environments.prod.approval.count`; may be empty.
    pub field: String,
    /// What is wrong and what to do, on one line.
    pub message: String,
}

impl ManifestError {
    /// An error about `field` of `file`, with no position yet.
    pub(crate) fn new(file: &str, field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            file: file.to_string(),
            line: None,
            column: None,
            field: field.into(),
            message: one_line(&message.into()),
        }
    }

    /// The same error pointing at `location` (ignored when the location is unknown).
    pub(crate) fn at(mut self, location: Location) -> Self {
        let line = u32::try_from(location.line()).ok().filter(|line| *line > 0);
        if line.is_some() {
            self.line = line;
            self.column = u32::try_from(location.column())
                .ok()
                .filter(|column| *column > 0);
        }
        self
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Folds line breaks and other control characters into single spaces.
pub(crate) fn one_line(text: &str) -> String {
    text.split(|character: char| character.is_control())
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(line: Option<u32>, column: Option<u32>, field: &str) -> ManifestError {
        ManifestError {
            file: "config/environments.yaml".to_string(),
            line,
            column,
            field: field.to_string(),
            message: "unknown environment \"qa\" (known: dev, int, prod)".to_string(),
        }
    }

    #[test]
    fn display_shows_file_line_column_field_and_message() {
        assert_eq!(
            error(Some(12), Some(5), "environments.prod.after").to_string(),
            "config/environments.yaml:12:5: environments.prod.after: unknown environment \"qa\" (known: dev, int, prod)"
        );
    }

    #[test]
    fn display_omits_an_unknown_position() {
        assert_eq!(
            error(None, None, "environments.prod.after").to_string(),
            "config/environments.yaml: environments.prod.after: unknown environment \"qa\" (known: dev, int, prod)"
        );
    }

    #[test]
    fn display_omits_an_empty_field() {
        assert_eq!(
            error(Some(3), None, "").to_string(),
            "config/environments.yaml:3: unknown environment \"qa\" (known: dev, int, prod)"
        );
    }

    #[test]
    fn messages_are_folded_onto_one_line() {
        let folded = ManifestError::new("dk.yaml", "", "first\n  second\r\n\tthird");
        assert_eq!(folded.message, "first second third");
    }
}
