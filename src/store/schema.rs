//! The schema, as numbered migrations; `PRAGMA user_version` records how many have run.
//!
//! A migration is only ever appended, never edited: a store written by this version must open in
//! every later one. A store whose version is higher than [`CURRENT`] was written by a newer steward.

use rusqlite::Connection;

/// Migrations in order; migration `i` brings the store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: tasks, their per-state counts, events.
    r#"
    CREATE TABLE tasks (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        prompt      TEXT    NOT NULL,
        priority    INTEGER NOT NULL,
        state       TEXT    NOT NULL CHECK (state IN
                        ('queued', 'running', 'completed', 'failed', 'cancelled', 'timeout', 'interrupted')),
        agent       TEXT,
        labels      TEXT    NOT NULL,
        source      TEXT,
        created_at  TEXT    NOT NULL,
        started_at  TEXT,
        finished_at TEXT,
        exit_code   INTEGER,
        error       TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        timeout_s   INTEGER NOT NULL,
        pid         INTEGER
    ) STRICT;
    CREATE INDEX tasks_by_state ON tasks (state, id);
    -- What runs next: highest priority, then oldest. Only queued tasks are in it.
    CREATE INDEX tasks_ready ON tasks (priority DESC, id) WHERE state = 'queued';

    -- Counts per state, kept by triggers, so that stats cost the same with 10 or 10 million tasks.
    CREATE TABLE task_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) STRICT, WITHOUT ROWID;
    INSERT INTO task_counts (state, n) VALUES
        ('queued', 0), ('running', 0), ('completed', 0), ('failed', 0),
        ('cancelled', 0), ('timeout', 0), ('interrupted', 0);
    CREATE TRIGGER tasks_counted_on_insert AFTER INSERT ON tasks BEGIN
        UPDATE task_counts SET n = n + 1 WHERE state = NEW.state;
    END;
    CREATE TRIGGER tasks_counted_on_update AFTER UPDATE OF state ON tasks WHEN OLD.state <> NEW.state BEGIN
        UPDATE task_counts SET n = n - 1 WHERE state = OLD.state;
        UPDATE task_counts SET n = n + 1 WHERE state = NEW.state;
    END;
    CREATE TRIGGER tasks_counted_on_delete AFTER DELETE ON tasks BEGIN
        UPDATE task_counts SET n = n - 1 WHERE state = OLD.state;
    END;

    CREATE TABLE events (
        seq   INTEGER PRIMARY KEY,
        time  TEXT NOT NULL,
        topic TEXT NOT NULL,
        data  TEXT NOT NULL
    ) STRICT;
    CREATE INDEX events_by_topic ON events (topic, seq);
    "#,
    // 2: automation: each rule's and schedule's switch, counts and schedule cursor; settings
    // such as the global automation switch.
    r#"
    CREATE TABLE rule_state (
        id         TEXT    PRIMARY KEY,
        enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        fire_count INTEGER NOT NULL,
        last_fired TEXT,
        cursor     TEXT
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT, WITHOUT ROWID;
    "#,
    // 3: the GitHub modes: sessions (the manifest a restart continues from) and triage answers
    // awaited from the agent.
    r#"
    CREATE TABLE sessions (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        repo             TEXT    NOT NULL,
        issue            INTEGER NOT NULL,
        state            TEXT    NOT NULL CHECK (state IN
                             ('preparing', 'running', 'publishing', 'checking', 'paused', 'done', 'escalated', 'cancelled')),
        attempts         INTEGER NOT NULL,
        branch           TEXT    NOT NULL,
        worktree         TEXT    NOT NULL,
        task             INTEGER,
        pull             INTEGER,
        progress_comment INTEGER,
        question_comment INTEGER,
        question         TEXT,
        created_at       TEXT    NOT NULL,
        updated_at       TEXT    NOT NULL,
        finished_at      TEXT,
        last_error       TEXT,
        log              TEXT    NOT NULL,
        -- The session's outbox: effects decided but not yet carried out, oldest first (JSON).
        -- Each is idempotent and is removed once done, so a restart finishes what a crash cut.
        pending          TEXT    NOT NULL DEFAULT '[]',
        -- The first prompt, which later turns repeat.
        prompt           TEXT    NOT NULL DEFAULT '',
        title            TEXT    NOT NULL DEFAULT '',
        -- The task whose start was seen (the in-progress label follows a started agent only).
        agent_seen       INTEGER,
        -- Since when it counts against max_session_minutes (its start, or its last resumption).
        active_since     TEXT,
        -- The head pushed last and when, for the checks.
        head_sha         TEXT,
        published_at     TEXT
    ) STRICT;
    -- At most one session per issue that is not over (done, cancelled; an escalated one counts
    -- as over until a person resumes it).
    CREATE UNIQUE INDEX sessions_live ON sessions (repo, issue)
        WHERE state NOT IN ('done', 'escalated', 'cancelled');
    CREATE INDEX sessions_by_state ON sessions (state, id);

    -- Tasks of GitHub sessions run in their worktree, and are not requeued after a crash (the
    -- session starts a new one with a prompt that says what exists).
    ALTER TABLE tasks ADD COLUMN workdir TEXT;
    ALTER TABLE tasks ADD COLUMN requeue INTEGER NOT NULL DEFAULT 1;

    CREATE TABLE triage_pending (
        repo         TEXT    NOT NULL,
        issue        INTEGER NOT NULL,
        task         INTEGER NOT NULL,
        submitted_at TEXT    NOT NULL,
        PRIMARY KEY (repo, issue)
    ) STRICT, WITHOUT ROWID;
    "#,
];

/// The version this build writes.
pub const CURRENT: i64 = MIGRATIONS.len() as i64;

/// The store's version as recorded in the file.
pub fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |row| row.get(0))
}

/// Brings the store up to [`CURRENT`], one transaction per migration.
pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let from = version(conn)?;
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_reach_the_current_version_and_are_idempotent() {
        let mut conn = Connection::open_in_memory().unwrap();
        assert_eq!(version(&conn).unwrap(), 0);
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT);
        migrate(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), CURRENT);
    }

    #[test]
    fn counts_follow_every_change_of_state() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let insert = "INSERT INTO tasks (prompt, priority, state, labels, created_at, timeout_s) VALUES ('p', 0, 'queued', '[]', 't', 1)";
        conn.execute(insert, []).unwrap();
        conn.execute(insert, []).unwrap();
        conn.execute("UPDATE tasks SET state = 'running' WHERE id = 1", []).unwrap();
        conn.execute("UPDATE tasks SET priority = 5 WHERE id = 1", []).unwrap();
        conn.execute("UPDATE tasks SET state = 'completed' WHERE id = 1", []).unwrap();
        conn.execute("DELETE FROM tasks WHERE id = 2", []).unwrap();
        let count = |state: &str| -> i64 {
            conn.query_row("SELECT n FROM task_counts WHERE state = ?1", [state], |row| row.get(0)).unwrap()
        };
        assert_eq!((count("queued"), count("running"), count("completed")), (0, 0, 1));
    }

    #[test]
    fn an_unknown_state_is_refused_by_the_schema() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        let result = conn.execute(
            "INSERT INTO tasks (prompt, priority, state, labels, created_at, timeout_s) VALUES ('p', 0, 'weird', '[]', 't', 1)",
            [],
        );
        assert!(result.is_err());
    }
}
