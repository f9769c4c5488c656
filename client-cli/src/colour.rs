//! Colour for states in tables — Healthy and Synced green, Degraded, Failed, Rejected and
//! Cancelled red,
//! states still on their way yellow — on a terminal only, and never with `NO_COLOR` set.
//!
//! Tables mark a state cell with private-use characters (which `output::safe` leaves alone,
//! and which `Table` strips from any text it is given), and `paint` turns the marks into
//! escape codes, or drops them, when the text is written: the cells are escaped like every
//! other output, and only dk's own fixed codes reach the terminal.

use std::io::IsTerminal;

use anstyle::{AnsiColor, Style};

const GOOD: char = '\u{E001}';
const BAD: char = '\u{E002}';
const WAITING: char = '\u{E003}';
const END: char = '\u{E004}';

fn is_mark(character: char) -> bool {
    matches!(character, GOOD | BAD | WAITING | END)
}

/// The mark for a state name (the cell's first word), if it is one.
fn tone(cell: &str) -> Option<char> {
    match cell.split_whitespace().next()? {
        "Healthy" | "Verified" | "Synced" => Some(GOOD),
        "Degraded" | "Failed" | "Rejected" | "Cancelled" | "Missing" => Some(BAD),
        "Requested" | "Validated" | "ChangeProposed" | "Approved" | "Merged" | "Syncing"
        | "Progressing" | "OutOfSync" => Some(WAITING),
        _ => None,
    }
}

/// `cell`, marked for colour when it names a state.
pub fn mark(cell: &str) -> String {
    match tone(cell) {
        Some(start) => format!("{start}{cell}{END}"),
        None => cell.to_owned(),
    }
}

/// `text` without marks (for text from outside, before it is marked).
pub fn unmark(text: &str) -> String {
    text.chars().filter(|c| !is_mark(*c)).collect()
}

/// Whether stdout gets colour: a terminal, and `NO_COLOR` unset or empty.
pub fn enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
        && std::io::stdout().is_terminal()
}

/// `text` with its marks turned into colour codes when `colour`, dropped otherwise.
pub fn paint(text: &str, colour: bool) -> String {
    let style = |colour: AnsiColor| Style::new().fg_color(Some(colour.into()));
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        let code = match character {
            GOOD => style(AnsiColor::Green).render().to_string(),
            BAD => style(AnsiColor::Red).render().to_string(),
            WAITING => style(AnsiColor::Yellow).render().to_string(),
            END => anstyle::Reset.render().to_string(),
            other => {
                out.push(other);
                continue;
            }
        };
        if colour {
            out.push_str(&code);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_coloured_by_what_they_mean_and_other_cells_are_left_alone() {
        assert_eq!(paint(&mark("Healthy"), true), "\u{1b}[32mHealthy\u{1b}[0m");
        assert_eq!(
            paint(&mark("Degraded ⚠"), true),
            "\u{1b}[31mDegraded ⚠\u{1b}[0m"
        );
        assert_eq!(
            paint(&mark("ChangeProposed"), true),
            "\u{1b}[33mChangeProposed\u{1b}[0m"
        );
        assert_eq!(paint(&mark("my-package"), true), "my-package");
    }

    #[test]
    fn without_colour_the_marks_vanish() {
        assert_eq!(paint(&mark("Failed"), false), "Failed");
    }

    #[test]
    fn marks_in_text_from_outside_are_removed() {
        assert_eq!(unmark("a\u{E001}b\u{E004}"), "ab");
    }
}
