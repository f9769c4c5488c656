//! Output formats (`-o table|json|yaml`), a small aligned-table writer in the style of
//! the product docs, and the one rule for everything `dk` prints: text from outside (names,
//! the deployment repository, dkd's messages, logs) has its control characters escaped.

use std::{borrow::Cow, fmt::Write as _};

use serde::Serialize;

use crate::error::{CliError, Failure};

/// The `-o` flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Table,
    /// JSON, for scripts; streams and --wait print one document per line, errors one JSON
    /// object on stderr.
    Json,
    /// YAML.
    Yaml,
}

/// Renders `value` as JSON or YAML (`Table` is each command's own).
pub fn render_structured<T: Serialize>(
    format: OutputFormat,
    value: &T,
) -> Result<String, CliError> {
    let rendered = match format {
        OutputFormat::Json => serde_json::to_string_pretty(value)
            .map(|s| s + "\n")
            .map_err(|e| e.to_string()),
        OutputFormat::Yaml | OutputFormat::Table => {
            serde_saphyr::to_string(value).map_err(|e| e.to_string())
        }
    };
    rendered
        .map_err(|reason| CliError::new(Failure::Other, format!("cannot render output: {reason}")))
}

/// One JSON document on one line of stdout, flushed at once (NDJSON for streams and
/// `--wait`): the document's strings are JSON-escaped, so it holds no control characters.
pub fn json_line<T: Serialize>(value: &T) -> Result<(), CliError> {
    use std::io::Write;
    let line = serde_json::to_string(value)
        .map_err(|e| CliError::new(Failure::Other, format!("cannot render output: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    // A closed pipe ends nothing here: the caller finishes on its own.
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
    Ok(())
}

/// `text` as dk prints it: control characters escaped — newlines kept — so nothing a
/// package, a repository, a log or dkd sends can move the cursor, recolour or retitle the
/// terminal. Every write to stdout goes through this.
pub fn safe(text: &str) -> Cow<'_, str> {
    datakit::text::escape_controls_but_newlines(text)
}

/// The error as `-o json` reports it: one JSON object on one line of stderr,
/// `{"error": {"code": "NOT_FOUND", "exit": 3, "message": "…"}}`.
pub fn error_json(failure: Failure, message: &str) {
    let document = serde_json::json!({
        "error": {"code": failure.code(), "exit": failure as u8, "message": message}
    });
    eprintln!("{document}");
}

/// Whether the raw arguments ask for `-o json` (for errors clap reports before parsing
/// is done).
pub fn json_requested(args: &[std::ffi::OsString]) -> bool {
    args.iter().enumerate().any(|(index, arg)| {
        matches!(arg.to_str(), Some("-ojson" | "-o=json" | "--output=json"))
            || (matches!(arg.to_str(), Some("-o" | "--output"))
                && args.get(index + 1).is_some_and(|next| next == "json"))
    })
}

/// One line on stderr (an error, a note, a warning, progress), control characters escaped.
pub fn note(line: &str) {
    eprintln!("{}", datakit::text::escape_controls(line));
}

/// Columns padded to their widest cell, headers underlined; cells are escaped like all
/// output, before their widths are measured.
#[derive(Debug)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self {
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        let escaped = cells
            .into_iter()
            .map(|cell| crate::colour::unmark(&datakit::text::escape_controls(&cell)))
            .collect();
        self.rows.push(escaped);
    }

    /// The table; cells naming a state are marked for colour (`crate::colour`), which
    /// `colour::paint` turns into escape codes on a terminal or drops.
    pub fn render(&self) -> String {
        let widths: Vec<usize> = (0..self.headers.len())
            .map(|column| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(column))
                    .chain(std::iter::once(&self.headers[column]))
                    .map(|cell| cell.chars().count())
                    .max()
                    .unwrap_or_default()
            })
            .collect();
        let underline: Vec<String> = self
            .headers
            .iter()
            .map(|h| "─".repeat(h.chars().count()))
            .collect();
        let mut out = String::new();
        for row in std::iter::once(&self.headers)
            .chain(std::iter::once(&underline))
            .chain(&self.rows)
        {
            let mut line = String::new();
            for (column, width) in widths.iter().enumerate() {
                let cell = row.get(column).map(String::as_str).unwrap_or_default();
                let _ = write!(
                    line,
                    "{}{}  ",
                    crate::colour::mark(cell),
                    " ".repeat(width.saturating_sub(cell.chars().count()))
                );
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// The dash the product docs show for "nothing here".
pub const NONE: &str = "—";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_aligned_to_the_widest_cell_and_headers_underlined() {
        let mut table = Table::new(&["Environment", "Version"]);
        table.row(vec!["dev".into(), "v1.0.0".into()]);
        table.row(vec!["production-eu".into(), NONE.into()]);
        assert_eq!(
            table.render(),
            "Environment    Version\n───────────    ───────\ndev            v1.0.0\nproduction-eu  —\n"
        );
    }

    #[test]
    fn control_characters_in_cells_are_escaped_and_the_columns_still_align() {
        let mut table = Table::new(&["Package", "Version"]);
        table.row(vec!["pa\u{1b}[31mRED".into(), "v1".into()]);
        assert_eq!(
            table.render(),
            "Package          Version\n───────          ───────\npa\\u{1b}[31mRED  v1\n"
        );
    }

    #[test]
    fn printed_text_keeps_its_lines_but_loses_its_escapes() {
        assert_eq!(
            safe("a\n\u{1b}]0;title\u{7}b\n"),
            "a\n\\u{1b}]0;title\\u{7}b\n"
        );
    }
}

/// How long ago `time` was, as the product docs write it: "just now", "10 min ago",
/// "3 hours ago", "2 days ago".
pub fn time_ago(time: std::time::SystemTime, now: std::time::SystemTime) -> String {
    let seconds = now
        .duration_since(time)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let (amount, unit) = match seconds {
        0..60 => return "just now".to_owned(),
        60..3_600 => (seconds / 60, "min"),
        3_600..86_400 => (seconds / 3_600, "hour"),
        _ => (seconds / 86_400, "day"),
    };
    let plural = if amount == 1 || unit == "min" {
        ""
    } else {
        "s"
    };
    format!("{amount} {unit}{plural} ago")
}

#[cfg(test)]
mod time_tests {
    use std::time::{Duration, SystemTime};

    use super::time_ago;

    #[test]
    fn times_read_like_the_product_docs() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let ago = |secs| time_ago(now - Duration::from_secs(secs), now);
        assert_eq!(ago(5), "just now");
        assert_eq!(ago(600), "10 min ago");
        assert_eq!(ago(3_600), "1 hour ago");
        assert_eq!(ago(6 * 3_600), "6 hours ago");
        assert_eq!(ago(2 * 86_400), "2 days ago");
    }
}
