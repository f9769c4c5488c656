//! Bounded YAML reading (size, alias and event budgets; duplicate keys refused) and writing.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_saphyr::{
    DuplicateKeyPolicy, Error as YamlError, MessageFormatter, Options, budget::BudgetBreach,
};

use super::error::{ManifestError, one_line};

/// The largest manifest read, in bytes (1 MiB); larger text is refused before parsing.
pub const MAX_MANIFEST_BYTES: usize = 1 << 20;

/// At most this many `*alias` references per file.
const MAX_ALIASES: usize = 64;
/// At most this many `&anchor` definitions per file.
const MAX_ANCHORS: usize = 64;
/// At most this many parser events per file (a large real manifest has a few thousand).
const MAX_EVENTS: usize = 100_000;
/// At most this many events replayed or recorded for aliases, so expansion stays small.
const MAX_ALIAS_EVENTS: usize = 10_000;
/// At most this many `<<` merge keys per file.
const MAX_MERGE_KEYS: usize = 64;
/// At most this many lists and mappings nested in one another.
const MAX_DEPTH: usize = 64;

/// Parses `text` (the content of `file`) into `T` with every manifest's bounds: refuses
/// text over [`MAX_MANIFEST_BYTES`], alias bombs and other overly complex YAML, duplicate
/// keys and several documents; errors are one line at the offending position. Give `T`
/// `#[serde(deny_unknown_fields)]` so unknown fields are refused too.
pub fn parse_yaml<T: DeserializeOwned>(file: &str, text: &str) -> Result<T, ManifestError> {
    if text.len() > MAX_MANIFEST_BYTES {
        return Err(ManifestError::new(
            file,
            "",
            format!(
                "file is {} bytes, more than the {MAX_MANIFEST_BYTES} allowed: split or shorten it",
                text.len()
            ),
        ));
    }
    serde_saphyr::from_str_with_options(text, bounded_options())
        .map_err(|error| from_yaml_error(file, text, &error))
}

/// Renders `value` as YAML (block style, keys in declaration or map order: deterministic).
/// Values this crate defines always serialize; anything else renders as a YAML comment
/// that explains the failure instead of panicking.
pub fn to_yaml<T: Serialize>(value: &T) -> String {
    serde_saphyr::to_string(value).unwrap_or_else(|error| {
        format!(
            "# cannot render this value as YAML: {}\n",
            one_line(&error.to_string())
        )
    })
}

fn bounded_options() -> Options {
    serde_saphyr::options! {
        budget: serde_saphyr::budget! {
            max_aliases: MAX_ALIASES,
            max_anchors: MAX_ANCHORS,
            max_events: MAX_EVENTS,
            max_recorded_anchor_events: MAX_ALIAS_EVENTS,
            max_merge_keys: MAX_MERGE_KEYS,
            max_depth: MAX_DEPTH,
        },
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_EVENTS,
        },
        duplicate_keys: DuplicateKeyPolicy::Error,
        with_snippet: false,
    }
}

/// Turns a serde-saphyr error into a one-line `ManifestError` at the error's position.
fn from_yaml_error(file: &str, text: &str, error: &YamlError) -> ManifestError {
    let original = innermost(error);
    let message = plain_message(original);
    let location = error.location().or_else(|| original.location());
    let manifest_error = ManifestError::new(file, "", message);
    match location {
        // A budget is the whole file's; the key nearest the breach is not to blame.
        Some(location) if matches!(original, YamlError::Budget { .. }) => {
            manifest_error.at(location)
        }
        Some(location) => manifest_error.at(location).named_from(text),
        None => manifest_error,
    }
}

impl ManifestError {
    /// Names the field when serde could not: the key written just before the error's
    /// position on its line (`poll_interval_ms: often` → `poll_interval_ms`).
    fn named_from(mut self, text: &str) -> Self {
        if !self.field.is_empty() {
            return self;
        }
        let (Some(line), Some(column)) = (self.line, self.column) else {
            return self;
        };
        let Some(source_line) = text.lines().nth(line.saturating_sub(1) as usize) else {
            return self;
        };
        let before: String = source_line
            .chars()
            .take(column.saturating_sub(1) as usize)
            .collect();
        let Some(key_part) = before.trim_end().strip_suffix(':') else {
            return self;
        };
        let key: String = key_part
            .trim_end()
            .trim_end_matches(['"', '\''])
            .chars()
            .rev()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if !key.is_empty() && !self.message.contains(&key) {
            self.field = key;
        }
        self
    }
}

/// The error that actually happened, without snippet or alias-use wrappers.
fn innermost(mut error: &YamlError) -> &YamlError {
    while let YamlError::WithSnippet { error: inner, .. }
    | YamlError::AliasError { error: inner, .. } = error
    {
        error = inner;
    }
    error
}

/// A user-facing message for `error`, without position (the `ManifestError` carries it).
fn plain_message(error: &YamlError) -> String {
    match error {
        YamlError::Budget { breach, .. } => budget_message(breach),
        YamlError::AliasReplayCounterOverflow { .. }
        | YamlError::AliasReplayLimitExceeded { .. }
        | YamlError::AliasExpansionLimitExceeded { .. }
        | YamlError::AliasReplayStackDepthExceeded { .. } => ALIAS_EXPANSION.to_string(),
        YamlError::DuplicateMappingKey { key: Some(key), .. } => {
            format!(
                "duplicate key {key:?}: each key may appear only once, remove or merge the repeated entry"
            )
        }
        YamlError::DuplicateMappingKey { key: None, .. } => {
            "duplicate key: each key may appear only once, remove or merge the repeated entry"
                .to_string()
        }
        YamlError::MultipleDocuments { .. } => {
            "more than one YAML document (---): keep exactly one document in this file".to_string()
        }
        YamlError::NullIntoString { .. } => "a value is required here, found nothing".to_string(),
        YamlError::Eof { .. } => {
            "the file is empty or ends too early: expected a mapping".to_string()
        }
        YamlError::InvalidScalar { ty, .. } => {
            format!("invalid value: expected {}", expected_scalar(ty))
        }
        other => one_line(&serde_saphyr::UserMessageFormatter.format_message(other)),
    }
}

/// What expanding aliases past their budget says: the only budget anchors are to blame for.
const ALIAS_EXPANSION: &str = "YAML over the alias expansion budget (aliases may replay at most \
    10000 events): write the values out instead of using anchors and aliases";

/// Names the budget `breach` hit, its limit and what to do; only the alias and anchor
/// budgets mention anchors and aliases.
fn budget_message(breach: &BudgetBreach) -> String {
    match breach {
        BudgetBreach::Events { .. } => format!(
            "YAML over the event budget: more than {MAX_EVENTS} parser events (each key, value, list and mapping counts): shorten the file"
        ),
        BudgetBreach::Nodes { nodes } => format!(
            "YAML over the node budget: {nodes} keys, values, lists and mappings: shorten the file"
        ),
        BudgetBreach::Depth { .. } => format!(
            "YAML over the depth budget: nested more than {MAX_DEPTH} levels deep: flatten the structure"
        ),
        BudgetBreach::Aliases { .. } => format!(
            "YAML over the alias budget: more than {MAX_ALIASES} aliases (*name): write the values out instead of using anchors and aliases"
        ),
        BudgetBreach::Anchors { .. } => format!(
            "YAML over the anchor budget: more than {MAX_ANCHORS} anchors (&name): write the values out instead of using anchors and aliases"
        ),
        BudgetBreach::AliasAnchorRatio { aliases, anchors } => format!(
            "YAML over the alias-per-anchor budget: {aliases} aliases of {anchors} anchors: write the values out instead of using anchors and aliases"
        ),
        BudgetBreach::RecordedAnchorEvents { .. } | BudgetBreach::RecordedAnchorBytes { .. } => {
            ALIAS_EXPANSION.to_string()
        }
        BudgetBreach::MergeKeys { .. } => format!(
            "YAML over the merge-key budget: more than {MAX_MERGE_KEYS} merge keys (<<): write the values out"
        ),
        BudgetBreach::Documents { documents } => format!(
            "YAML over the document budget: {documents} documents (---): keep exactly one document in this file"
        ),
        BudgetBreach::ScalarBytes { total_scalar_bytes } => format!(
            "YAML over the text-size budget: {total_scalar_bytes} bytes of values: shorten the file"
        ),
        BudgetBreach::InputBytes { input_bytes } => format!(
            "YAML over the size budget: {input_bytes} bytes, more than the {MAX_MANIFEST_BYTES} allowed: split or shorten it"
        ),
        other => format!("YAML over a parser budget ({other:?}): simplify the file"),
    }
}

/// What a scalar of Rust type `ty` looks like, in words.
fn expected_scalar(ty: &str) -> String {
    match ty {
        "bool" | "boolean" => "true or false".to_string(),
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number, 0 or more".to_string(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".to_string(),
        other => format!("a value of type {other}"),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use serde::Deserialize;
    use serde::de::IgnoredAny;

    use super::*;
    use crate::manifest::test_support::{err, ok};

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Sample {
        name: String,
        #[serde(default)]
        tags: Vec<String>,
    }

    const BILLION_LAUGHS: &str = "\
a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]
";

    fn parse_error(text: &str) -> ManifestError {
        err(parse_yaml::<Sample>("sample.yaml", text))
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_key_it_was_written_under() {
        let error = parse_error("name: [not, a, string]\n");
        assert_eq!(error.field, "name", "{error}");
        assert_eq!(error.line, Some(1));
    }

    #[test]
    fn a_wrong_type_inside_a_list_names_no_key_it_cannot_see() {
        let error = parse_error("name: x\ntags:\n  - [nested]\n");
        assert_eq!(
            error.field, "",
            "a list item has no key of its own: {error}"
        );
        assert_eq!(error.line, Some(3));
    }

    #[test]
    fn a_well_formed_document_parses() {
        let sample: Sample = ok(parse_yaml("sample.yaml", "name: x\ntags: [a, b]\n"));
        assert_eq!(
            sample,
            Sample {
                name: "x".into(),
                tags: vec!["a".into(), "b".into()]
            }
        );
    }

    #[test]
    fn text_over_one_mebibyte_is_refused_before_parsing() {
        let text = format!("name: {}\n", "x".repeat(MAX_MANIFEST_BYTES));
        let error = parse_error(&text);
        assert!(
            error.message.contains("more than the 1048576 allowed"),
            "{error}"
        );
        assert_eq!(error.line, None);
    }

    #[test]
    fn a_billion_laughs_file_is_refused_quickly_without_expansion() {
        let started = Instant::now();
        let error = err(parse_yaml::<BTreeMap<String, IgnoredAny>>(
            "bomb.yaml",
            BILLION_LAUGHS,
        ));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(error.message.starts_with("YAML over the alias"), "{error}");
        assert!(error.message.contains("anchors and aliases"), "{error}");
        assert!(error.line.is_some(), "{error}");
    }

    #[test]
    fn too_many_aliases_are_refused_even_when_small() {
        let aliases = vec!["*a"; MAX_ALIASES + 1].join(", ");
        let text = format!("a: &a x\nb: [{aliases}]\n");
        let error = err(parse_yaml::<BTreeMap<String, IgnoredAny>>(
            "aliases.yaml",
            &text,
        ));
        assert!(
            error.message.starts_with(&format!(
                "YAML over the alias budget: more than {MAX_ALIASES} aliases"
            )),
            "{error}"
        );
    }

    #[test]
    fn a_config_of_ten_thousand_environments_names_the_event_budget_not_aliases() {
        let environments: String = (0..10_000)
            .map(|n| {
                format!(
                    "  env{n}: {{ cluster: c{n}, namespace: n{n}, approval: {{ required: false, auto_merge: true }} }}\n"
                )
            })
            .collect();
        let text = format!("environments:\n{environments}");
        assert!(text.len() < MAX_MANIFEST_BYTES, "under the size budget");
        let error = err(crate::manifest::parse_environments(
            "config/environments.yaml",
            &text,
        ));
        assert!(
            error.message.starts_with(&format!(
                "YAML over the event budget: more than {MAX_EVENTS} parser events"
            )),
            "{error}"
        );
        assert!(!error.message.contains("alias"), "{error}");
        assert!(error.line.is_some(), "{error}");
        assert_eq!(error.field, "", "no key is to blame: {error}");
    }

    #[test]
    fn deep_nesting_names_the_depth_budget() {
        let text = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
        let error = err(parse_yaml::<BTreeMap<String, IgnoredAny>>(
            "deep.yaml",
            &text,
        ));
        assert!(
            error.message.starts_with("YAML over the depth budget"),
            "{error}"
        );
    }

    #[test]
    fn too_many_anchors_name_the_anchor_budget() {
        let anchors: String = (0..=MAX_ANCHORS)
            .map(|n| format!("a{n}: &a{n} x\n"))
            .collect();
        let error = err(parse_yaml::<BTreeMap<String, IgnoredAny>>(
            "anchors.yaml",
            &anchors,
        ));
        assert!(
            error.message.starts_with("YAML over the anchor budget"),
            "{error}"
        );
    }

    #[test]
    fn a_few_aliases_are_still_accepted() {
        let parsed: BTreeMap<String, Vec<String>> =
            ok(parse_yaml("aliases.yaml", "a: &a [x, y]\nb: *a\n"));
        assert_eq!(parsed["b"], vec!["x", "y"]);
    }

    #[test]
    fn a_duplicate_key_is_refused_with_the_line_of_the_second() {
        let error = parse_error("name: a\ntags: []\nname: b\n");
        assert_eq!(error.line, Some(3));
        assert!(
            error.message.starts_with("duplicate key \"name\""),
            "{error}"
        );
    }

    #[test]
    fn an_unknown_field_is_refused_naming_the_field_and_its_line() {
        let error = parse_error("name: a\ncolour: red\n");
        assert_eq!((error.line, error.column), (Some(2), Some(1)));
        assert!(error.message.contains("unknown field `colour`"), "{error}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let error = parse_error("tags: []\n");
        assert!(error.message.contains("missing field `name`"), "{error}");
    }

    #[test]
    fn a_scalar_of_the_wrong_type_says_what_was_expected() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Typed {
            count: u32,
            required: bool,
        }
        let error = err(parse_yaml::<Typed>(
            "typed.yaml",
            "count: -1\nrequired: true\n",
        ));
        assert_eq!(
            error.message,
            "invalid value: expected a whole number, 0 or more"
        );
        assert_eq!((error.line, error.column), (Some(1), Some(8)));
        let error = err(parse_yaml::<Typed>(
            "typed.yaml",
            "count: 1\nrequired: maybe\n",
        ));
        assert_eq!(error.message, "invalid value: expected true or false");
    }

    #[test]
    fn an_empty_file_is_refused() {
        let error = parse_error("");
        assert!(error.message.contains("empty"), "{error}");
    }

    #[test]
    fn several_documents_are_refused() {
        let error = parse_error("name: a\n---\nname: b\n");
        assert!(error.message.contains("exactly one document"), "{error}");
    }

    #[test]
    fn syntax_errors_render_on_one_line_with_their_position() {
        for text in [
            "name: \"open\n",
            "name: [a,\n",
            "name: a\n\ttags: []\n",
            "name: [x]\n",
        ] {
            let error = parse_error(text);
            let shown = error.to_string();
            assert!(!shown.contains('\n'), "{shown:?}");
            assert!(error.line.is_some(), "{shown}");
            assert!(shown.starts_with("sample.yaml:"), "{shown}");
        }
    }

    #[test]
    fn to_yaml_is_deterministic_and_quotes_ambiguous_strings() {
        let sample = Sample {
            name: "true".into(),
            tags: vec!["0123".into(), "v1".into()],
        };
        let text = to_yaml(&sample);
        assert_eq!(text, to_yaml(&sample));
        assert_eq!(text, "name: \"true\"\ntags:\n- \"0123\"\n- v1\n");
        assert_eq!(ok(parse_yaml::<Sample>("sample.yaml", &text)), sample);
    }
}
