//! The progress bar of `dk build` and `dk publish`: bytes done of the total, and the rate,
//! on stderr. Shown only when stderr is a terminal and the output is a table: nothing at
//! all when stderr is piped or redirected, or under `-o json|yaml`.

use std::{io::IsTerminal, sync::Arc};

use datakit::oci::{Progress, no_progress};
use indicatif::{DecimalBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::output::OutputFormat;

const TEMPLATE: &str =
    "{msg:10} [{bar:30}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} {eta}";

/// One bar, reused by the stages of a command (packing, checking, publishing).
pub struct ProgressDisplay {
    bar: Option<ProgressBar>,
}

impl ProgressDisplay {
    /// A bar on stderr if it is a terminal and `format` is a table, else nothing.
    pub fn for_output(format: OutputFormat) -> Self {
        let shown = format == OutputFormat::Table && std::io::stderr().is_terminal();
        if !shown {
            return Self::hidden();
        }
        let style = ProgressStyle::with_template(TEMPLATE)
            .map(|style| style.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(style);
        Self { bar: Some(bar) }
    }

    /// Nothing shown.
    pub fn hidden() -> Self {
        Self { bar: None }
    }

    /// Starts a stage called `label` of `total` bytes; the returned callback moves the bar.
    pub fn stage(&self, label: &'static str, total: u64) -> Progress {
        let Some(bar) = &self.bar else {
            return no_progress();
        };
        bar.reset();
        bar.set_message(label);
        bar.set_length(total);
        bar.set_position(0);
        let bar = bar.clone();
        Arc::new(move |bytes| bar.inc(bytes))
    }

    /// Removes the bar, so only the command's result is left on the terminal.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for ProgressDisplay {
    fn drop(&mut self) {
        self.finish();
    }
}

/// `bytes` in decimal units for people: `737 B`, `4.10 kB`, `200.03 MB`, `1.20 GB`.
pub fn human_size(bytes: u64) -> String {
    DecimalBytes(bytes).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_in_decimal_units() {
        assert_eq!(human_size(737), "737 B");
        assert_eq!(human_size(200_032_703), "200.03 MB");
        assert_eq!(human_size(1_200_000_000), "1.20 GB");
    }

    #[test]
    fn nothing_is_drawn_for_json_output() {
        let display = ProgressDisplay::for_output(OutputFormat::Json);
        assert!(display.bar.is_none());
        display.stage("Packing", 10)(10);
    }
}
