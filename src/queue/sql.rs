//! The task queue's SQL: every statement names its columns, and every change of state is guarded
//! by the state it expects, so a late or repeated change does nothing instead of undoing another.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::submit::NewTask;
use super::task::{LIST_PROMPT_CHARS, Task, TaskState};

const COLUMNS: &str = "id, prompt, priority, state, agent, labels, source, created_at, started_at, \
                       finished_at, exit_code, error, attempts, timeout_s, pid, workdir";

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<Task> {
    let state: String = row.get(3)?;
    let labels: String = row.get(5)?;
    let to_sql_error = |e: String| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into());
    Ok(Task {
        id: row.get(0)?,
        prompt: row.get(1)?,
        priority: row.get(2)?,
        state: TaskState::parse(&state).ok_or_else(|| to_sql_error(format!("unknown task state {state:?}")))?,
        agent: row.get(4)?,
        labels: serde_json::from_str(&labels).map_err(|e| to_sql_error(e.to_string()))?,
        source: row.get(6)?,
        created_at: row.get(7)?,
        started_at: row.get(8)?,
        finished_at: row.get(9)?,
        exit_code: row.get(10)?,
        error: row.get(11)?,
        attempts: row.get(12)?,
        timeout_s: row.get(13)?,
        pid: row.get(14)?,
        workdir: row.get(15)?,
        prompt_truncated: false,
    })
}

/// Stores a new queued task and returns it.
pub fn insert(conn: &Connection, task: &NewTask, now: &str) -> rusqlite::Result<Task> {
    let labels = serde_json::to_string(&task.labels).expect("a list of strings serialises");
    conn.prepare_cached(
        "INSERT INTO tasks (prompt, priority, state, agent, labels, source, created_at, timeout_s, workdir, requeue) \
         VALUES (?1, ?2, 'queued', ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        task.prompt,
        task.priority,
        task.agent,
        labels,
        task.source,
        now,
        task.timeout_s,
        task.workdir,
        task.requeue
    ])?;
    Ok(Task {
        id: conn.last_insert_rowid() as u64,
        prompt: task.prompt.clone(),
        priority: task.priority,
        state: TaskState::Queued,
        agent: task.agent.clone(),
        labels: task.labels.clone(),
        source: task.source.clone(),
        created_at: now.to_owned(),
        started_at: None,
        finished_at: None,
        exit_code: None,
        error: None,
        attempts: 0,
        timeout_s: task.timeout_s,
        pid: None,
        workdir: task.workdir.clone(),
        prompt_truncated: false,
    })
}

/// One task.
pub fn get(conn: &Connection, id: u64) -> rusqlite::Result<Option<Task>> {
    conn.prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"))?
        .query_row([id], task_from_row)
        .optional()
}

/// A page of tasks in id order after `after_id`, optionally of one state; costs O(page).
pub fn list(conn: &Connection, state: Option<TaskState>, after_id: u64, limit: usize) -> rusqlite::Result<Vec<Task>> {
    let mut tasks: Vec<Task> = match state {
        Some(state) => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE state = ?1 AND id > ?2 ORDER BY id LIMIT ?3"))?
            .query_map(params![state.as_str(), after_id, limit], task_from_row)?
            .collect::<Result<_, _>>()?,
        None => conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM tasks WHERE id > ?1 ORDER BY id LIMIT ?2"))?
            .query_map(params![after_id, limit], task_from_row)?
            .collect::<Result<_, _>>()?,
    };
    for task in &mut tasks {
        if let Some((cut, _)) = task.prompt.char_indices().nth(LIST_PROMPT_CHARS) {
            task.prompt.truncate(cut);
            task.prompt_truncated = true;
        }
    }
    Ok(tasks)
}

/// Tasks per state, from the counts the triggers keep.
pub fn counts(conn: &Connection) -> rusqlite::Result<Vec<(TaskState, u64)>> {
    conn.prepare_cached("SELECT state, n FROM task_counts")?
        .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, u64>(1)?)))?
        .filter_map(|row| match row {
            Ok((state, n)) => TaskState::parse(&state).map(|state| Ok((state, n))),
            Err(e) => Some(Err(e)),
        })
        .collect()
}

/// Takes the next task to run (highest priority, then oldest) and marks it running.
pub fn claim_next(conn: &Connection, now: &str) -> rusqlite::Result<Option<Task>> {
    let next: Option<u64> = conn
        .prepare_cached("SELECT id FROM tasks WHERE state = 'queued' ORDER BY priority DESC, id LIMIT 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    let Some(id) = next else { return Ok(None) };
    conn.prepare_cached(
        "UPDATE tasks SET state = 'running', started_at = ?2, finished_at = NULL, exit_code = NULL, error = NULL, \
         pid = NULL, attempts = attempts + 1 WHERE id = ?1 AND state = 'queued'",
    )?
    .execute(params![id, now])?;
    get(conn, id)
}

/// Records the supervising process of a running task.
pub fn set_pid(conn: &Connection, id: u64, pid: u32) -> rusqlite::Result<()> {
    conn.prepare_cached("UPDATE tasks SET pid = ?2 WHERE id = ?1 AND state = 'running'")?.execute(params![id, pid])?;
    Ok(())
}

/// Ends a running task; returns the task as stored, or `None` if it was not running.
pub fn finish(
    conn: &Connection,
    id: u64,
    state: TaskState,
    exit_code: Option<i32>,
    error: Option<&str>,
    now: &str,
) -> rusqlite::Result<Option<Task>> {
    let changed = conn
        .prepare_cached(
            "UPDATE tasks SET state = ?2, exit_code = ?3, error = ?4, finished_at = ?5, pid = NULL \
             WHERE id = ?1 AND state = 'running'",
        )?
        .execute(params![id, state.as_str(), exit_code, error, now])?;
    if changed == 0 { Ok(None) } else { get(conn, id) }
}

/// Cancels a queued task; returns it, or `None` if it was not queued.
pub fn cancel_queued(conn: &Connection, id: u64, now: &str) -> rusqlite::Result<Option<Task>> {
    let changed = conn
        .prepare_cached(
            "UPDATE tasks SET state = 'cancelled', error = 'cancelled before it started', finished_at = ?2 \
             WHERE id = ?1 AND state = 'queued'",
        )?
        .execute(params![id, now])?;
    if changed == 0 { Ok(None) } else { get(conn, id) }
}

/// After a crash, what was running is interrupted: the process that ran it is gone.
pub fn interrupt_running(conn: &Connection, now: &str) -> rusqlite::Result<Vec<u64>> {
    let ids: Vec<u64> = conn
        .prepare_cached("SELECT id FROM tasks WHERE state = 'running' ORDER BY id")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    conn.prepare_cached(
        "UPDATE tasks SET state = 'interrupted', finished_at = ?1, pid = NULL, \
         error = 'interrupted: the daemon ended while it ran' WHERE state = 'running'",
    )?
    .execute([now])?;
    Ok(ids)
}

/// Interrupted tasks and how often each was started.
pub fn interrupted(conn: &Connection) -> rusqlite::Result<Vec<(u64, u32)>> {
    conn.prepare_cached("SELECT id, attempts FROM tasks WHERE state = 'interrupted' AND requeue = 1 ORDER BY id")?
        .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect()
}

/// Puts an interrupted task back in the queue.
pub fn requeue(conn: &Connection, id: u64) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE tasks SET state = 'queued', finished_at = NULL, pid = NULL WHERE id = ?1 AND state = 'interrupted'",
        )?
        .execute([id])?;
    Ok(changed == 1)
}

/// Fails an interrupted task for good.
pub fn give_up(conn: &Connection, id: u64, why: &str, now: &str) -> rusqlite::Result<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE tasks SET state = 'failed', error = ?2, finished_at = ?3 WHERE id = ?1 AND state = 'interrupted'",
        )?
        .execute(params![id, why, now])?;
    Ok(changed == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrate_for_tests(&mut conn);
        conn
    }

    fn new(prompt: &str, priority: i64) -> NewTask {
        NewTask {
            prompt: prompt.into(),
            priority,
            agent: None,
            labels: vec!["x".into()],
            source: None,
            timeout_s: 60,
            workdir: None,
            requeue: true,
        }
    }

    #[test]
    fn higher_priority_first_then_submission_order() {
        let conn = store();
        for (prompt, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -3)] {
            insert(&conn, &new(prompt, priority), "t0").unwrap();
        }
        let order: Vec<String> = std::iter::from_fn(|| claim_next(&conn, "t1").unwrap()).map(|t| t.prompt).collect();
        assert_eq!(order, vec!["b", "d", "a", "c", "e"]);
    }

    #[test]
    fn claiming_marks_running_and_counts_the_attempt() {
        let conn = store();
        let task = insert(&conn, &new("a", 0), "t0").unwrap();
        let claimed = claim_next(&conn, "t1").unwrap().unwrap();
        assert_eq!((claimed.id, claimed.state, claimed.attempts), (task.id, TaskState::Running, 1));
        assert_eq!(claimed.started_at.as_deref(), Some("t1"));
        assert!(claim_next(&conn, "t2").unwrap().is_none());
    }

    #[test]
    fn transitions_are_guarded_by_the_expected_state() {
        let conn = store();
        let a = insert(&conn, &new("a", 0), "t0").unwrap();
        assert!(finish(&conn, a.id, TaskState::Completed, Some(0), None, "t1").unwrap().is_none(), "not running");
        let cancelled = cancel_queued(&conn, a.id, "t1").unwrap().unwrap();
        assert_eq!(cancelled.state, TaskState::Cancelled);
        assert!(cancel_queued(&conn, a.id, "t2").unwrap().is_none(), "already cancelled");
        assert!(claim_next(&conn, "t3").unwrap().is_none());

        let b = insert(&conn, &new("b", 0), "t0").unwrap();
        claim_next(&conn, "t1").unwrap();
        set_pid(&conn, b.id, 4242).unwrap();
        assert_eq!(get(&conn, b.id).unwrap().unwrap().pid, Some(4242));
        let done = finish(&conn, b.id, TaskState::Failed, Some(3), Some("exited with code 3"), "t2").unwrap().unwrap();
        assert_eq!((done.state, done.exit_code, done.pid), (TaskState::Failed, Some(3), None));
        assert!(finish(&conn, b.id, TaskState::Completed, Some(0), None, "t3").unwrap().is_none(), "already final");
    }

    #[test]
    fn recovery_after_a_crash() {
        let conn = store();
        let a = insert(&conn, &new("a", 0), "t0").unwrap();
        let b = insert(&conn, &new("b", 0), "t0").unwrap();
        claim_next(&conn, "t1").unwrap();
        claim_next(&conn, "t1").unwrap();
        assert_eq!(interrupt_running(&conn, "t2").unwrap(), vec![a.id, b.id]);
        assert_eq!(interrupted(&conn).unwrap(), vec![(a.id, 1), (b.id, 1)]);
        assert!(requeue(&conn, a.id).unwrap());
        assert!(give_up(&conn, b.id, "too often", "t3").unwrap());
        assert_eq!(get(&conn, a.id).unwrap().unwrap().state, TaskState::Queued);
        assert_eq!(get(&conn, b.id).unwrap().unwrap().error.as_deref(), Some("too often"));
        let counts: std::collections::HashMap<_, _> = counts(&conn).unwrap().into_iter().collect();
        assert_eq!((counts[&TaskState::Queued], counts[&TaskState::Failed], counts[&TaskState::Running]), (1, 1, 0));
    }

    #[test]
    fn a_task_that_is_not_requeued_stays_interrupted() {
        let conn = store();
        let kept = NewTask { workdir: Some("/w/issue-1".into()), requeue: false, ..new("session", 0) };
        let task = insert(&conn, &kept, "t0").unwrap();
        assert_eq!(task.workdir.as_deref(), Some("/w/issue-1"));
        claim_next(&conn, "t1").unwrap();
        assert_eq!(interrupt_running(&conn, "t2").unwrap(), vec![task.id]);
        assert_eq!(interrupted(&conn).unwrap(), vec![], "recovery leaves it to its session");
        let stored = get(&conn, task.id).unwrap().unwrap();
        assert_eq!((stored.state, stored.workdir.as_deref()), (TaskState::Interrupted, Some("/w/issue-1")));
    }

    #[test]
    fn pages_follow_ids_and_cut_long_prompts() {
        let conn = store();
        for i in 0..25 {
            insert(&conn, &new(&format!("task {i}"), i % 3), "t0").unwrap();
        }
        let first = list(&conn, None, 0, 10).unwrap();
        assert_eq!(first.iter().map(|t| t.id).collect::<Vec<_>>(), (1..=10).collect::<Vec<u64>>());
        let next = list(&conn, None, first.last().unwrap().id, 10).unwrap();
        assert_eq!(next[0].id, 11);
        assert_eq!(list(&conn, Some(TaskState::Running), 0, 10).unwrap().len(), 0);
        let long = insert(&conn, &new(&"é".repeat(LIST_PROMPT_CHARS + 5), 0), "t0").unwrap();
        let page = list(&conn, None, long.id - 1, 1).unwrap();
        assert!(page[0].prompt_truncated);
        assert_eq!(page[0].prompt.chars().count(), LIST_PROMPT_CHARS);
        assert_eq!(get(&conn, long.id).unwrap().unwrap().prompt.chars().count(), LIST_PROMPT_CHARS + 5);
    }
}
