//! The feedback tick: paused sessions and the answers humans give them.

use super::context::{Context, TickError, TickOutcome};
use super::session::SessionState;
use super::sql;

pub(super) async fn run(context: &mut Context<'_>) -> Result<TickOutcome, TickError> {
    let paused = context.store.read(|conn| sql::list(conn, Some(SessionState::Paused), 1000)).await?;
    let repo = context.repo();
    let mine = paused.iter().filter(|session| session.repo.eq_ignore_ascii_case(&repo)).count() as u32;
    Ok(TickOutcome::Done {
        summary: format!("{mine} sessions wait for an answer"),
        considered: mine,
        changes: context.changes,
    })
}
