//! Showing text that came from outside — a request, the command line, the deployment
//! repository — in a message or on a terminal: control characters escaped, so no input can
//! drive the terminal, and long input cut short, so no input can blow up a message.

use std::borrow::Cow;

/// How many characters of one piece of input a message echoes before cutting it short.
pub const MAX_ECHOED_CHARS: usize = 100;

/// The longest message, in characters: room for a sentence, a few names and what to do,
/// and far below HTTP/2's header limit even when every character is percent-encoded.
pub const MAX_MESSAGE_CHARS: usize = 1_000;

/// How much of a message's end survives when its middle is cut (the "what to do" part).
const KEPT_MESSAGE_END: usize = 200;

/// `input` quoted for a message, e.g. `"pa\u{1b}[31m"`: quotes, backslashes and control
/// characters escaped, and cut after [`MAX_ECHOED_CHARS`] characters with an ellipsis and
/// the full length: `"aaaa…"… (20000 characters)`.
pub fn quoted(input: &str) -> String {
    let length = input.chars().count();
    if length <= MAX_ECHOED_CHARS {
        return format!("{input:?}");
    }
    let head: String = input.chars().take(MAX_ECHOED_CHARS).collect();
    format!("{head:?}… ({length} characters)")
}

/// Whether showing `character` raw could change what a terminal does or how a line reads:
/// C0 and C1 controls (ESC, the 8-bit CSI, carriage return…), DEL, and the bidirectional
/// overrides that reorder what follows them.
fn is_unsafe(character: char) -> bool {
    character.is_control() || matches!(character, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `text` with every control character escaped (ESC becomes `\u{1b}`, a newline `\n`);
/// borrowed when there is nothing to escape.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

/// Like [`escape_controls`], but newlines stay: for multi-line output such as a table.
pub fn escape_controls_but_newlines(text: &str) -> Cow<'_, str> {
    escape(text, |character| character == '\n')
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !text.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 16);
    for character in text.chars() {
        if is_unsafe(character) && !keep(character) {
            escaped.extend(character.escape_default());
        } else {
            escaped.push(character);
        }
    }
    Cow::Owned(escaped)
}

/// A whole message made safe to send and show: control characters escaped (so it is one
/// line) and, past [`MAX_MESSAGE_CHARS`], its middle cut so the end — what to do — stays.
pub fn bounded_message(message: &str) -> String {
    let escaped = escape_controls(message);
    let length = escaped.chars().count();
    if length <= MAX_MESSAGE_CHARS {
        return escaped.into_owned();
    }
    let head: String = escaped
        .chars()
        .take(MAX_MESSAGE_CHARS - KEPT_MESSAGE_END)
        .collect();
    let tail: String = escaped.chars().skip(length - KEPT_MESSAGE_END).collect();
    format!("{head} … {tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_input_is_quoted_with_its_control_characters_escaped() {
        assert_eq!(quoted("pa\u{1b}[31mRED"), "\"pa\\u{1b}[31mRED\"");
        assert_eq!(quoted("my-package"), "\"my-package\"");
    }

    #[test]
    fn long_input_is_cut_after_a_hundred_characters_and_its_length_said() {
        let shown = quoted(&"a".repeat(20_000));
        assert_eq!(
            shown,
            format!("\"{}\"… (20000 characters)", "a".repeat(MAX_ECHOED_CHARS))
        );
    }

    #[test]
    fn escaping_covers_c1_controls_and_bidirectional_overrides() {
        assert_eq!(escape_controls("a\u{9b}b"), "a\\u{9b}b");
        assert_eq!(escape_controls("a\u{202e}b"), "a\\u{202e}b");
        assert_eq!(escape_controls("a\nb\tc"), "a\\nb\\tc");
        assert!(matches!(escape_controls("plain — text"), Cow::Borrowed(_)));
    }

    #[test]
    fn multi_line_text_keeps_its_newlines_but_nothing_else() {
        assert_eq!(
            escape_controls_but_newlines("one\n\u{1b}[2Jtwo\r\n"),
            "one\n\\u{1b}[2Jtwo\\r\n"
        );
    }

    #[test]
    fn a_long_message_keeps_its_beginning_and_its_end() {
        let message = format!("refused {}; run dk history to see why", "x ".repeat(5_000));
        let bounded = bounded_message(&message);
        assert!(
            bounded.chars().count() <= MAX_MESSAGE_CHARS + 3,
            "{bounded}"
        );
        assert!(bounded.starts_with("refused x x"), "{bounded}");
        assert!(bounded.ends_with("run dk history to see why"), "{bounded}");
        assert_eq!(bounded_message("a\nb"), "a\\nb");
    }
}
