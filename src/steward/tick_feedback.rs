//! The feedback tick: paused sessions and the answers humans give them.

use super::context::{Context, TickError, TickOutcome};
use super::session::SessionState;
use super::{sessions, sql};

pub(super) async fn run(context: &mut Context<'_>) -> Result<TickOutcome, TickError> {
    let paused = context.store.read(|conn| sql::list(conn, Some(SessionState::Paused), 1000)).await?;
    let repo = context.repo();
    let mut waiting = 0u32;
    let mut resumed = 0u32;
    for session in paused.into_iter().filter(|session| session.repo.eq_ignore_ascii_case(&repo)) {
        let after = sessions::check_answer(context, session).await?;
        if after.state == SessionState::Paused {
            waiting += 1;
        } else {
            resumed += 1;
        }
    }
    let mut summary = format!("{waiting} sessions wait for an answer");
    if resumed > 0 {
        summary.push_str(&format!("; resumed {resumed}"));
    }
    Ok(TickOutcome::Done { summary, considered: waiting + resumed, changes: context.changes })
}
