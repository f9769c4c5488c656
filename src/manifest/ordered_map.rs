//! A YAML mapping read in file order, with the position of every key.

use std::fmt;
use std::marker::PhantomData;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// The entries of a YAML mapping in file order; each key keeps its position so errors can
/// point at it. Duplicate keys never get here: the reader refuses them.
#[derive(Debug, Clone)]
pub(crate) struct OrderedMap<V> {
    pub(crate) entries: Vec<(Spanned<String>, V)>,
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OrderedMapVisitor(PhantomData))
    }
}

struct OrderedMapVisitor<V>(PhantomData<V>);

impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedMapVisitor<V> {
    type Value = OrderedMap<V>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a mapping")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            let value = map.next_value()?;
            entries.push((key, value));
        }
        Ok(OrderedMap { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::test_support::{err, ok};
    use crate::manifest::yaml::parse_yaml;

    #[test]
    fn entries_keep_file_order_and_key_lines() {
        let map: OrderedMap<u32> = ok(parse_yaml("map.yaml", "zeta: 1\nalpha: 2\n"));
        let keys: Vec<_> = map
            .entries
            .iter()
            .map(|(key, value)| (key.value.as_str(), key.referenced.line(), *value))
            .collect();
        assert_eq!(keys, [("zeta", 1, 1), ("alpha", 2, 2)]);
    }

    #[test]
    fn a_repeated_key_is_refused_at_its_second_line() {
        let error = err(parse_yaml::<OrderedMap<u32>>(
            "map.yaml",
            "a: 1\nb: 2\na: 3\n",
        ));
        assert_eq!(error.line, Some(3));
        assert!(error.message.contains("duplicate key \"a\""), "{error}");
    }

    #[test]
    fn a_sequence_is_not_a_mapping() {
        let error = err(parse_yaml::<OrderedMap<u32>>("map.yaml", "- 1\n"));
        assert!(error.line.is_some(), "{error}");
    }
}
