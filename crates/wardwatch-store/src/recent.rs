//! The journal's newest documents, for the server to rebuild what it keeps in memory about
//! them after a restart (the `_bulk` resend window).

use crate::StoreError;
use crate::db::Db;

impl Db {
    /// The stored documents without a sender id whose source is `source` or starts with
    /// `source:`, received at or after `since`, newest first, at most `max`. Reads the journal
    /// from its end and stops at the first event received before `since` (received times grow
    /// with the journal position).
    pub fn recent_docs_without_id(
        &self,
        since: jiff::Timestamp,
        max: usize,
        source: &str,
    ) -> Result<Vec<String>, StoreError> {
        let since = i64::try_from(since.as_nanosecond()).unwrap_or(i64::MAX);
        let prefix = format!("{source}:");
        let mut stmt = self.conn.prepare(
            "SELECT received, source, ext_id IS NULL, doc FROM events ORDER BY seq DESC",
        )?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(row) = rows.next()? else { break };
            if row.get::<_, i64>(0)? < since {
                break;
            }
            let src: String = row.get(1)?;
            if row.get::<_, bool>(2)? && (src == source || src.starts_with(&prefix)) {
                out.push(row.get(3)?);
            }
        }
        Ok(out)
    }
}
