//! Events in the store: inserted in sequence order, pruned to the configured retention, read
//! back by sequence number and topic pattern.

use rusqlite::{Connection, params};

use super::Event;

/// Stores one event.
pub fn insert(conn: &Connection, event: &Event) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO events (seq, time, topic, data) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![event.seq, super::format_time(&event.time), event.topic, event.data.to_string()])?;
    Ok(())
}

/// Deletes the events older than the newest `keep`.
pub fn prune(conn: &Connection, keep: u64) -> rusqlite::Result<usize> {
    conn.prepare_cached("DELETE FROM events WHERE seq <= (SELECT coalesce(max(seq), 0) FROM events) - ?1")?
        .execute([keep])
}

/// The newest sequence number stored (0 when none).
pub fn last_seq(conn: &Connection) -> rusqlite::Result<u64> {
    conn.query_row("SELECT coalesce(max(seq), 0) FROM events", [], |row| row.get(0))
}

/// Events with `after < seq < before`, matching `topic` (a glob with `*` and `?`), oldest first.
pub fn range(
    conn: &Connection,
    after: u64,
    before: u64,
    topic: Option<&str>,
    limit: usize,
) -> rusqlite::Result<Vec<Event>> {
    // SQLite's GLOB also knows `[...]`; topics may contain `[`, so it is matched literally.
    let pattern = topic.map(|t| t.replace('[', "[[]")).unwrap_or_else(|| "*".into());
    // SQLite integers are signed: an open upper bound is the largest of them.
    let (after, before) = (after.min(i64::MAX as u64), before.min(i64::MAX as u64));
    let limit = limit.min(i64::MAX as usize);
    conn.prepare_cached(
        "SELECT seq, time, topic, data FROM events WHERE seq > ?1 AND seq < ?2 AND topic GLOB ?3 ORDER BY seq LIMIT ?4",
    )?
    .query_map(params![after, before, pattern, limit], |row| {
        let time: String = row.get(1)?;
        let data: String = row.get(3)?;
        Ok(Event {
            seq: row.get(0)?,
            time: chrono::DateTime::parse_from_rfc3339(&time)
                .map(|t| t.with_timezone(&chrono::Utc))
                .unwrap_or_default(),
            topic: row.get(2)?,
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: u64, topic: &str) -> Event {
        Event { seq, time: chrono::Utc::now(), topic: topic.into(), data: json!({"seq": seq}) }
    }

    #[test]
    fn insert_range_prune() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate_for_tests(&mut conn);
        for (seq, topic) in [(1, "task:submitted"), (2, "build[x]:done"), (3, "task:failed"), (4, "user:x")] {
            insert(&conn, &event(seq, topic)).unwrap();
        }
        insert(&conn, &event(4, "duplicate")).unwrap();
        assert_eq!(last_seq(&conn).unwrap(), 4);
        let all = range(&conn, 0, u64::MAX, None, 100).unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
        assert_eq!(all[3].topic, "user:x", "a repeated seq does not replace the first");
        assert_eq!(all[0].data, json!({"seq": 1}));
        let tasks = range(&conn, 0, u64::MAX, Some("task:*"), 100).unwrap();
        assert_eq!(tasks.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(range(&conn, 0, u64::MAX, Some("build[x]:done"), 100).unwrap().len(), 1);
        assert_eq!(range(&conn, 1, 4, None, 100).unwrap().len(), 2);
        assert_eq!(range(&conn, 0, u64::MAX, None, 2).unwrap().len(), 2);
        assert_eq!(prune(&conn, 2).unwrap(), 2);
        assert_eq!(range(&conn, 0, u64::MAX, None, 100).unwrap().iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4]);
    }
}
