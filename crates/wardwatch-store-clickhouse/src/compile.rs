//! The search language (`wardwatch_store::query`) compiled to a ClickHouse condition over the
//! `events` table, with every value the person typed bound as a parameter (the client escapes
//! it as a literal), never pasted into the text.
//!
//! What each term compares is what the SQLite store's check compares, precomputed per event at
//! insert time by [`FieldPairs`](wardwatch_store::query::FieldPairs):
//! - `field:value` — some `(field, value)` of `field_keys`/`field_values` (values lowercased)
//!   equals the value lowercased; with `*` the value is a pattern (an anchored regular
//!   expression, every other character literal); a host field's short form
//!   (`host.name:PACS01` for `pacs01.hospital.local`) looks at `short_keys`/`short_values`.
//! - a free word or a phrase — its words, in order and adjacent, in `words` (the event's
//!   words joined by single spaces, with a space at each end).
//!
//! Each condition is 0 or 1, never NULL, so `NOT` around it is a plain negation.

use wardwatch_store::query::{HOST_FIELDS, Query, words};

/// A value bound to a `?` of the condition, in order.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Arg {
    Str(String),
    Strs(Vec<String>),
    Int(i64),
}

/// A condition's text (with `?` where values go) and its values.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(crate) fn bind(&mut self, arg: Arg) -> &mut Self {
        self.text.push('?');
        self.args.push(arg);
        self
    }

    /// `q`'s condition appended.
    pub(crate) fn query(&mut self, q: &Query) -> &mut Self {
        match q {
            Query::All => {
                self.push("1");
            }
            Query::And(parts) | Query::Or(parts) => {
                let op = if matches!(q, Query::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                self.push("(");
                for (i, p) in parts.iter().enumerate() {
                    if i > 0 {
                        self.push(op);
                    }
                    self.query(p);
                }
                self.push(")");
            }
            Query::Not(inner) => {
                self.push("NOT (").query(inner).push(")");
            }
            Query::Text(t) => {
                let w = words(t);
                if w.is_empty() {
                    // A phrase without a word matches nothing (as the check says).
                    self.push("0");
                } else {
                    self.push("(position(words, ")
                        .bind(Arg::Str(format!(" {} ", w.join(" "))))
                        .push(") > 0)");
                }
            }
            Query::Field { field, value } => self.field(field, value),
        }
        self
    }

    fn field(&mut self, field: &str, value: &str) {
        let wanted = value.to_lowercase();
        self.push("(");
        self.pairs("field_keys", "field_values", field, &wanted);
        let short =
            !value.contains('.') && HOST_FIELDS.iter().any(|f| f.eq_ignore_ascii_case(field));
        if short {
            self.push(" OR ");
            self.pairs("short_keys", "short_values", field, &wanted);
        }
        self.push(")");
    }

    /// Some pair of `keys`/`values` is `field` with a value equal to (or, with `*`, matching)
    /// `wanted`.
    fn pairs(&mut self, keys: &str, values: &str, field: &str, wanted: &str) {
        self.push("arrayExists((k, v) -> k = ")
            .bind(Arg::Str(field.to_string()));
        if wanted.contains('*') {
            self.push(" AND match(v, ")
                .bind(Arg::Str(pattern(wanted)))
                .push(")");
        } else {
            self.push(" AND v = ").bind(Arg::Str(wanted.to_string()));
        }
        self.push(&format!(", {keys}, {values})"));
    }
}

/// The regular expression (RE2, as ClickHouse's `match`) of a lowercased `*` pattern: anchored
/// at both ends, `*` any run of characters (newlines too), every other character itself.
pub(crate) fn pattern(glob: &str) -> String {
    let mut re = String::from("(?s)^");
    for (i, part) in glob.split('*').enumerate() {
        if i > 0 {
            re.push_str(".*");
        }
        for c in part.chars() {
            if c.is_ascii_punctuation() {
                re.push('\\');
            }
            re.push(c);
        }
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;
    use wardwatch_store::query::parse;

    fn sql(q: &str) -> Sql {
        let mut s = Sql::default();
        s.query(&parse(q).unwrap());
        s
    }

    #[test]
    fn values_are_bound_never_written_into_the_text() {
        let s = sql(r#"CommandLine:"x') OR 1=1 --" AND user.name:Alice"#);
        assert!(
            !s.text.contains("1=1") && !s.text.contains("alice"),
            "{}",
            s.text
        );
        assert_eq!(
            s.args,
            [
                Arg::Str("CommandLine".into()),
                Arg::Str("x') or 1=1 --".into()),
                Arg::Str("user.name".into()),
                Arg::Str("alice".into()),
            ]
        );
        assert_eq!(s.text.matches('?').count(), s.args.len());
    }

    #[test]
    fn each_term_becomes_its_condition() {
        assert_eq!(sql("").text, "1");
        assert_eq!(
            sql("powershell -enc").text,
            "((position(words, ?) > 0) AND NOT ((position(words, ?) > 0)))"
        );
        assert_eq!(
            sql("\"Invoke-Expression (New\"").args,
            [Arg::Str(" invoke expression new ".into())]
        );
        assert_eq!(sql("\"--\"").text, "0");
        // A host field without a dot also looks at the names' first labels.
        let host = sql("host.name:PACS01");
        assert!(
            host.text.contains("short_keys, short_values"),
            "{}",
            host.text
        );
        assert!(
            !sql("host.name:pacs01.hospital.local")
                .text
                .contains("short_keys")
        );
        assert!(!sql("user.name:x").text.contains("short_keys"));
        let wild = sql("Image:*\\power?hell*.exe");
        assert_eq!(
            wild.args[1],
            Arg::Str(r"(?s)^.*\\power\?hell.*\.exe$".into())
        );
    }

    #[test]
    fn patterns_are_anchored_and_literal_but_for_the_stars() {
        assert_eq!(pattern("a*b"), "(?s)^a.*b$");
        assert_eq!(pattern("*"), "(?s)^.*$");
        assert_eq!(pattern("c:\\x[1].*"), r"(?s)^c\:\\x\[1\]\..*$");
        assert_eq!(pattern("straße*"), "(?s)^straße.*$");
    }
}
