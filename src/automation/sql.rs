//! Rule state in the store: each rule's switch, counts and schedule cursor, and the global
//! automation switch.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::state::StoredState;
use crate::events::format_time;

const ENABLED_KEY: &str = "automation.enabled";

fn parse_time(text: Option<String>) -> Option<DateTime<Utc>> {
    text.and_then(|text| DateTime::parse_from_rfc3339(&text).ok()).map(|time| time.with_timezone(&Utc))
}

/// Every stored rule state, by id.
pub fn load(conn: &Connection) -> rusqlite::Result<HashMap<String, StoredState>> {
    conn.prepare_cached("SELECT id, enabled, fire_count, last_fired, cursor FROM rule_state")?
        .query_map([], |row| {
            Ok(StoredState {
                id: row.get(0)?,
                enabled: row.get(1)?,
                fire_count: row.get(2)?,
                last_fired: parse_time(row.get(3)?),
                cursor: parse_time(row.get(4)?),
            })
        })?
        .map(|state| state.map(|state| (state.id.clone(), state)))
        .collect()
}

/// Stores one rule's state.
pub fn save(conn: &Connection, state: &StoredState) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO rule_state (id, enabled, fire_count, last_fired, cursor) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, fire_count = excluded.fire_count,
             last_fired = excluded.last_fired, cursor = excluded.cursor",
    )?
    .execute(params![
        state.id,
        state.enabled,
        state.fire_count,
        state.last_fired.as_ref().map(format_time),
        state.cursor.as_ref().map(format_time),
    ])?;
    Ok(())
}

/// Whether automation as a whole is on (it is unless turned off).
pub fn load_enabled(conn: &Connection) -> rusqlite::Result<bool> {
    let value: Option<String> = conn
        .prepare_cached("SELECT value FROM settings WHERE key = ?1")?
        .query_row([ENABLED_KEY], |row| row.get(0))
        .optional()?;
    Ok(value.as_deref() != Some("false"))
}

/// Stores the global automation switch.
pub fn save_enabled(conn: &Connection, enabled: bool) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![ENABLED_KEY, if enabled { "true" } else { "false" }])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_the_switch_round_trip() {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::store::schema::migrate(&mut conn).expect("migrate");
        assert!(load(&conn).expect("load").is_empty());
        assert!(load_enabled(&conn).expect("default"));
        let time = DateTime::parse_from_rfc3339("2026-11-21T09:00:00.250Z").expect("time").with_timezone(&Utc);
        let mut state =
            StoredState { id: "a".into(), enabled: false, fire_count: 3, last_fired: Some(time), cursor: None };
        save(&conn, &state).expect("save");
        state.fire_count = 4;
        state.cursor = Some(time);
        save(&conn, &state).expect("update");
        save(&conn, &StoredState::new("b")).expect("save b");
        let loaded = load(&conn).expect("load");
        assert_eq!(loaded.get("a"), Some(&state));
        assert_eq!(loaded.get("b"), Some(&StoredState::new("b")));
        save_enabled(&conn, false).expect("off");
        assert!(!load_enabled(&conn).expect("off"));
        save_enabled(&conn, true).expect("on");
        assert!(load_enabled(&conn).expect("on"));
    }
}
