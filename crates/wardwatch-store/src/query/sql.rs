//! Which events a query surely matches, said in SQL over the journal's own columns.
//!
//! Why: a search's total used to parse every candidate's document and check it against the
//! query — 0.5–2.6 s for a typical query over a month of a hospital (5.2 million events).
//! The journal already keeps some normalized fields in columns of their own (`host` and `user`
//! lowercased, `code`, `channel`, `org`), so SQLite can count the events whose columns alone
//! prove a match without reading any document; only the other candidates need the check.
//!
//! The condition is *sufficient*, never more: an event it accepts matches the query, but a
//! matching event may fail it (its host name may sit in the record and not in the normalized
//! field, say), so the candidates it rejects are still checked one by one. Each condition is
//! 0 or 1, never NULL, so that `NOT (...)` around it is still a yes or a no.

use rusqlite::types::Value as SqlValue;

use super::Query;

/// A condition on the `events` table that only events matching `q` satisfy (with its values
/// pushed onto `args` as numbered parameters), or `None` when the columns prove nothing for
/// this query (free words and phrases, wildcards, negations, fields without a column).
pub(crate) fn sure_sql(q: &Query, args: &mut Vec<SqlValue>) -> Option<String> {
    match q {
        Query::All => Some("1".into()),
        Query::Text(_) | Query::Not(_) => None,
        Query::Field { field, value } => field_sql(field, value, args),
        Query::And(parts) => {
            // Every part must be proven; undo the parameters of a half-proven AND.
            let mark = args.len();
            let mut conds = Vec::with_capacity(parts.len());
            for p in parts {
                match sure_sql(p, args) {
                    Some(c) => conds.push(c),
                    None => {
                        args.truncate(mark);
                        return None;
                    }
                }
            }
            Some(format!("({})", conds.join(" AND ")))
        }
        Query::Or(parts) => {
            // One proven part is enough for its events; unproven parts add nothing.
            let conds: Vec<String> = parts.iter().filter_map(|p| sure_sql(p, args)).collect();
            (!conds.is_empty()).then(|| format!("({})", conds.join(" OR ")))
        }
    }
}

fn param(args: &mut Vec<SqlValue>, v: String) -> String {
    args.push(v.into());
    format!("?{}", args.len())
}

/// `field:value` on a column, when the column holds that field's normalized value.
fn field_sql(field: &str, value: &str, args: &mut Vec<SqlValue>) -> Option<String> {
    if value.contains('*') {
        return None;
    }
    // Columns written at append time (`Encoded::new`): `host` and `user` are the normalized
    // values lowercased with `str::to_lowercase`, as the check compares them; the others are
    // stored as they came, so equal as given is (more than) equal ignoring case.
    let (column, wanted) = match field {
        "host.name" => ("host", value.to_lowercase()),
        "user.name" => ("user", value.to_lowercase()),
        "event.code" => ("code", value.to_string()),
        "log.channel" => ("channel", value.to_string()),
        "organization.id" => ("org", value.to_string()),
        _ => return None,
    };
    let eq = format!(
        "({column} IS NOT NULL AND {column} = {})",
        param(args, wanted.clone())
    );
    // `host.name:PACS01` also finds `PACS01.hospital.local` (see `short_host_eq`): stored
    // names whose first label is the value, i.e. `pacs01.` <= host < `pacs01/`. Only for an
    // ASCII value, whose lowercase is the same alone as inside a longer name.
    if column == "host" && !value.contains('.') && value.is_ascii() {
        let from = param(args, format!("{wanted}."));
        let below = param(args, format!("{wanted}/"));
        return Some(format!(
            "({eq} OR (host IS NOT NULL AND host >= {from} AND host < {below}))"
        ));
    }
    Some(eq)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::parse;

    fn sql(q: &str) -> Option<(String, Vec<SqlValue>)> {
        let mut args = Vec::new();
        sure_sql(&parse(q).unwrap(), &mut args).map(|s| (s, args))
    }

    #[test]
    fn fields_with_columns_translate_and_the_rest_do_not() {
        let (s, args) = sql("host.name:PACS01 AND event.code:4624").unwrap();
        assert_eq!(
            s,
            "(((host IS NOT NULL AND host = ?1) OR (host IS NOT NULL AND host >= ?2 AND host < ?3)) AND (code IS NOT NULL AND code = ?4))"
        );
        assert_eq!(
            args,
            vec![
                SqlValue::from("pacs01".to_string()),
                "pacs01.".to_string().into(),
                "pacs01/".to_string().into(),
                "4624".to_string().into()
            ]
        );
        // A name with its domain is compared whole.
        assert_eq!(
            sql("host.name:PACS01.hospital.local").unwrap().0,
            "(host IS NOT NULL AND host = ?1)"
        );
        assert_eq!(sql("").unwrap().0, "1");
        for unproven in [
            "powershell",
            "\"a b\"",
            "host.name:PACS*",
            "NOT host.name:x",
            "CommandLine:x",
            "host.hostname:x",
        ] {
            assert_eq!(sql(unproven), None, "{unproven}");
        }
        // An AND with one unproven part proves nothing and leaves no parameters behind.
        let mut args = Vec::new();
        assert_eq!(
            sure_sql(&parse("user.name:a AND powershell").unwrap(), &mut args),
            None
        );
        assert!(args.is_empty());
        // An OR is proven by its provable parts.
        assert_eq!(
            sql("user.name:Alice OR powershell").unwrap(),
            (
                "((user IS NOT NULL AND user = ?1))".to_string(),
                vec![SqlValue::from("alice".to_string())]
            )
        );
    }
}
