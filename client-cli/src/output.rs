//! Output formats (`-o table|json|yaml`) and a small aligned-table writer in the style of
//! the product docs.

use std::fmt::Write as _;

use serde::Serialize;

use crate::error::{CliError, Failure};

/// The `-o` flag.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// Human-readable tables.
    #[default]
    Table,
    /// JSON, for scripts.
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

/// Columns padded to their widest cell, headers underlined.
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
        self.rows.push(cells);
    }

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
                    "{cell}{}  ",
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
}
