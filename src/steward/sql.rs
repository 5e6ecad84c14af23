//! Sessions and awaited triage answers in the store.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row, params};

use super::session::{LogEntry, Pending, Session, SessionState};
use crate::events::format_time;

const COLUMNS: &str = "id, repo, issue, state, attempts, branch, worktree, task, pull, progress_comment, \
                       question_comment, question, created_at, updated_at, finished_at, last_error, log, pending, \
                       prompt, title, agent_seen, active_since, head_sha, published_at";

fn time(text: String) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).unwrap_or_default()
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Session> {
    let state: String = row.get(3)?;
    let log: String = row.get(16)?;
    let pending: String = row.get(17)?;
    Ok(Session {
        id: row.get(0)?,
        repo: row.get(1)?,
        issue: row.get(2)?,
        // The schema's CHECK admits only known states.
        state: SessionState::parse(&state).unwrap_or(SessionState::Escalated),
        attempts: row.get(4)?,
        branch: row.get(5)?,
        worktree: row.get(6)?,
        task: row.get(7)?,
        pull: row.get(8)?,
        progress_comment: row.get(9)?,
        question_comment: row.get(10)?,
        question: row.get(11)?,
        created_at: time(row.get(12)?),
        updated_at: time(row.get(13)?),
        finished_at: row.get::<_, Option<String>>(14)?.map(time),
        last_error: row.get(15)?,
        log: serde_json::from_str::<Vec<LogEntry>>(&log).unwrap_or_default(),
        pending: serde_json::from_str::<Vec<Pending>>(&pending).unwrap_or_default(),
        prompt: row.get(18)?,
        title: row.get(19)?,
        agent_seen: row.get(20)?,
        active_since: row.get::<_, Option<String>>(21)?.map(time),
        head_sha: row.get(22)?,
        published_at: row.get::<_, Option<String>>(23)?.map(time),
    })
}

/// Stores a new session; returns it with its id.
pub fn insert(conn: &Connection, session: &Session) -> rusqlite::Result<Session> {
    conn.prepare_cached(
        "INSERT INTO sessions (repo, issue, state, attempts, branch, worktree, created_at, updated_at, log) \
         VALUES (?1, ?2, ?3, 0, ?4, ?5, ?6, ?6, '[]')",
    )?
    .execute(params![
        session.repo,
        session.issue,
        session.state.name(),
        session.branch,
        session.worktree,
        format_time(&session.created_at)
    ])?;
    let stored = Session { id: conn.last_insert_rowid() as u64, ..session.clone() };
    update(conn, &stored)?;
    Ok(stored)
}

/// Writes every field of an existing session.
pub fn update(conn: &Connection, session: &Session) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE sessions SET state = ?2, attempts = ?3, branch = ?4, worktree = ?5, task = ?6, pull = ?7, \
         progress_comment = ?8, question_comment = ?9, question = ?10, updated_at = ?11, finished_at = ?12, \
         last_error = ?13, log = ?14, pending = ?15, prompt = ?16, title = ?17, agent_seen = ?18, \
         active_since = ?19, head_sha = ?20, published_at = ?21 WHERE id = ?1",
    )?
    .execute(params![
        session.id,
        session.state.name(),
        session.attempts,
        session.branch,
        session.worktree,
        session.task,
        session.pull,
        session.progress_comment,
        session.question_comment,
        session.question,
        format_time(&session.updated_at),
        session.finished_at.as_ref().map(format_time),
        session.last_error,
        serde_json::to_string(&session.log).unwrap_or_else(|_| "[]".into()),
        serde_json::to_string(&session.pending).unwrap_or_else(|_| "[]".into()),
        session.prompt,
        session.title,
        session.agent_seen,
        session.active_since.as_ref().map(format_time),
        session.head_sha,
        session.published_at.as_ref().map(format_time),
    ])?;
    Ok(())
}

/// One session.
pub fn get(conn: &Connection, id: u64) -> rusqlite::Result<Option<Session>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE id = ?1"))?.query_row([id], from_row).optional()
}

/// Sessions, newest first, optionally of one state.
pub fn list(conn: &Connection, state: Option<SessionState>, limit: usize) -> rusqlite::Result<Vec<Session>> {
    let limit = limit.min(i64::MAX as usize);
    match state {
        Some(state) => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM sessions WHERE state = ?1 ORDER BY id DESC LIMIT ?2"))?
            .query_map(params![state.name(), limit], from_row)?
            .collect(),
        None => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM sessions ORDER BY id DESC LIMIT ?1"))?
            .query_map(params![limit], from_row)?
            .collect(),
    }
}

/// Sessions that are not over, oldest first.
pub fn live(conn: &Connection) -> rusqlite::Result<Vec<Session>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE state NOT IN ('done', 'escalated', 'cancelled') ORDER BY id"
    ))?
    .query_map([], from_row)?
    .collect()
}

/// The sessions a tick still has work for: the live ones, and finished ones whose last effects
/// (labels, the last edit of the progress comment) a crash left undone.
pub fn unsettled(conn: &Connection) -> rusqlite::Result<Vec<Session>> {
    conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM sessions WHERE state NOT IN ('done', 'escalated', 'cancelled') OR pending != '[]' \
         ORDER BY id"
    ))?
    .query_map([], from_row)?
    .collect()
}

/// The triage task awaited for an issue, if one is.
pub fn triage_pending(conn: &Connection, repo: &str, issue: u64) -> rusqlite::Result<Option<u64>> {
    conn.prepare_cached("SELECT task FROM triage_pending WHERE repo = ?1 AND issue = ?2")?
        .query_row(params![repo, issue], |row| row.get(0))
        .optional()
}

/// Records that the answer of `task` is awaited for an issue.
pub fn set_triage_pending(conn: &Connection, repo: &str, issue: u64, task: u64) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO triage_pending (repo, issue, task, submitted_at) VALUES (?1, ?2, ?3, ?4) \
         ON CONFLICT (repo, issue) DO UPDATE SET task = excluded.task, submitted_at = excluded.submitted_at",
    )?
    .execute(params![repo, issue, task, format_time(&Utc::now())])?;
    Ok(())
}

/// Forgets the awaited answer of an issue (it was used).
pub fn clear_triage_pending(conn: &Connection, repo: &str, issue: u64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM triage_pending WHERE repo = ?1 AND issue = ?2")?.execute(params![repo, issue])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(issue: u64, state: SessionState) -> Session {
        let now = Utc::now();
        let mut session = Session::new("o/r", issue, "t", format!("/w/issue-{issue}"), now);
        session.state = state;
        session.log = vec![LogEntry { at: now, kind: "decision".into(), text: "selected".into() }];
        session
    }

    fn store() -> Connection {
        let mut conn = Connection::open_in_memory().expect("open");
        crate::store::schema::migrate(&mut conn).expect("migrate");
        conn
    }

    #[test]
    fn sessions_round_trip_and_one_live_session_per_issue() {
        let conn = store();
        let first = insert(&conn, &session(7, SessionState::Preparing)).expect("insert");
        assert_eq!(first.id, 1);
        let mut loaded = get(&conn, 1).expect("get").expect("present");
        assert_eq!(loaded.log.len(), 1);
        assert_eq!(loaded.created_at.timestamp_millis(), first.created_at.timestamp_millis());
        assert!(insert(&conn, &session(7, SessionState::Running)).is_err(), "a second live session of #7");
        loaded.state = SessionState::Done;
        loaded.pull = Some(12);
        loaded.finished_at = Some(Utc::now());
        update(&conn, &loaded).expect("update");
        insert(&conn, &session(7, SessionState::Preparing)).expect("#7 again once the first is over");
        insert(&conn, &session(8, SessionState::Paused)).expect("another issue");
        assert_eq!(get(&conn, 1).expect("get").expect("present").pull, Some(12));
        let ids = |sessions: Vec<Session>| sessions.iter().map(|s| s.id).collect::<Vec<_>>();
        assert_eq!(ids(list(&conn, None, 10).expect("list")), [3, 2, 1]);
        assert_eq!(ids(list(&conn, Some(SessionState::Paused), 10).expect("list")), [3]);
        assert_eq!(ids(live(&conn).expect("live")), [2, 3]);
        assert_eq!(get(&conn, 99).expect("get"), None);
    }

    #[test]
    fn triage_answers_awaited() {
        let conn = store();
        assert_eq!(triage_pending(&conn, "o/r", 1).expect("read"), None);
        set_triage_pending(&conn, "o/r", 1, 40).expect("set");
        set_triage_pending(&conn, "o/r", 1, 41).expect("replace");
        assert_eq!(triage_pending(&conn, "o/r", 1).expect("read"), Some(41));
        assert_eq!(triage_pending(&conn, "o/other", 1).expect("read"), None);
        clear_triage_pending(&conn, "o/r", 1).expect("clear");
        assert_eq!(triage_pending(&conn, "o/r", 1).expect("read"), None);
    }
}
