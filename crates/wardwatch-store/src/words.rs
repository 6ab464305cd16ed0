//! Words of a stored document for the full-text index, read straight from its JSON text.
//!
//! Why not through `Event`: building the `serde_json::Value` tree (ordered maps, one allocation
//! per key and value) was most of the indexer's time in profiles of `serve`. A visitor that
//! only looks at string and number leaves skips all of it.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Collects the words of every string and number value (object keys are not words).
struct Leaves<'a>(&'a mut Vec<String>);

impl<'de> DeserializeSeed<'de> for Leaves<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Leaves<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        push_words(v, self.0);
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.visit_str(&v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.push(v.to_string());
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.push(v.to_string());
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        push_words(&v.to_string(), self.0);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Leaves(&mut *self.0))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<IgnoredAny>()?.is_some() {
            map.next_value_seed(Leaves(&mut *self.0))?;
        }
        Ok(())
    }
}

/// Lowercase runs of letters and digits, as [`crate::query::words`] splits them.
fn push_words(text: &str, out: &mut Vec<String>) {
    for w in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        out.push(w.to_lowercase());
    }
}

/// The distinct words of every value in the JSON document `doc`, space-separated: what the
/// full-text index stores (it keeps no positions, so order and repeats do not matter).
pub fn doc_words(doc: &str) -> Result<String, serde_json::Error> {
    let mut words = Vec::new();
    let mut de = serde_json::Deserializer::from_str(doc);
    Leaves(&mut words).deserialize(&mut de)?;
    de.end()?;
    words.sort_unstable();
    words.dedup();
    Ok(words.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_of_values_not_keys_distinct_and_lowercased() {
        let doc = r#"{"Image": "C:\\Windows\\cmd.exe", "n": 42, "a": ["Cmd", {"x": "WS-1"}], "b": true, "c": null}"#;
        assert_eq!(doc_words(doc).unwrap(), "1 42 c cmd exe windows ws");
        assert!(doc_words("{\"a\": ").is_err());
    }

    #[test]
    fn same_words_as_the_event_text_for_a_stored_event() {
        let mut e = wardwatch_core::Event::new(
            wardwatch_core::SourceKind::Syslog,
            jiff::Timestamp::UNIX_EPOCH,
            serde_json::json!({"message": "Failed password for Root from 10.0.0.1", "appname": "sshd"}),
        );
        e.ecs.host_name = Some("gw".into());
        let doc = serde_json::to_string(&e).unwrap();
        let from_doc = doc_words(&doc).unwrap();
        for w in crate::query::words(&crate::index_text(&e)) {
            assert!(
                from_doc.split(' ').any(|x| x == w),
                "{w} missing from {from_doc}"
            );
        }
    }
}
