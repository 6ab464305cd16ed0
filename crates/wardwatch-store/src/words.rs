//! The text of a stored document for the full-text index, read straight from its JSON text.
//!
//! Why not through `Event`: building the `serde_json::Value` tree (ordered maps, one allocation
//! per key and value) was most of the indexer's time in profiles of `serve`. A visitor that
//! only looks at string and number leaves skips all of it.
//!
//! Why the leaves are handed over whole: FTS5's own tokenizer splits and case-folds them, the
//! same way it splits the words of a query, so both sides agree by construction. Splitting,
//! lowercasing and de-duplicating here first (one allocation per word, a sort) cost more than
//! the index insert itself; with `detail=none` a repeated word costs FTS5 almost nothing.

use std::fmt;

use serde::Deserializer;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Appends every string and number value, space-separated (object keys are not text).
struct Leaves<'a>(&'a mut String);

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
        if v.chars().any(char::is_alphanumeric) {
            self.0.push_str(v);
            self.0.push(' ');
        }
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.visit_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.visit_str(&v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        use std::fmt::Write;
        let _ = write!(self.0, "{v} ");
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        use std::fmt::Write;
        let _ = write!(self.0, "{v} ");
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        use std::fmt::Write;
        let _ = write!(self.0, "{v} ");
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

/// The text of every value in the JSON document `doc`, space-separated: what the full-text
/// index tokenizes (it keeps no positions, so order and repeats do not matter).
pub fn doc_text(doc: &str) -> Result<String, serde_json::Error> {
    let mut text = String::with_capacity(doc.len() / 2);
    let mut de = serde_json::Deserializer::from_str(doc);
    Leaves(&mut text).deserialize(&mut de)?;
    de.end()?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_of_values_not_keys() {
        let doc = r#"{"Image": "C:\\Windows\\cmd.exe", "n": 42, "a": ["Cmd", {"x": "WS-1"}], "b": true, "c": null, "d": "--"}"#;
        assert_eq!(doc_text(doc).unwrap(), "C:\\Windows\\cmd.exe 42 Cmd WS-1 ");
        assert!(doc_text("{\"a\": ").is_err());
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
        let from_doc = crate::query::words(&doc_text(&doc).unwrap());
        for w in crate::query::words(&crate::index_text(&e)) {
            assert!(from_doc.contains(&w), "{w} missing from {from_doc:?}");
        }
    }
}
