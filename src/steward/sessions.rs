//! Sessions at work: starting one, moving each by what happened (its agent's task, its pull
//! request's checks, an answer), and carrying out the effects the state machine decides.
//!
//! Crash safety rests on an outbox. A transition is stored together with the effects it
//! decided (`Session::pending`); the effects are then carried out one by one, each removed once
//! done. Every effect is idempotent (labels are sets, comments carry markers and are looked up
//! before being posted, the pull request is looked up by its branch before one is opened, the
//! agent's task is submitted in the same transaction that records it), so a restart after a
//! `kill -9` anywhere simply carries out what is still pending.

use std::path::PathBuf;

use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::context::{Context, TickError};
use super::session::{self, AgentOutcome, Effect, LogEntry, Pending, Session, SessionEvent, SessionState, Turn};
use super::{effects, git, sql, work};
use crate::github::Issue;
use crate::queue::{Submission, TaskState};

/// Labels a live session puts on its issue.
pub const IN_PROGRESS: &str = "steward:in-progress";
pub const NEEDS_INPUT: &str = "steward:needs-input";
pub const NEEDS_HUMAN: &str = "steward:needs-human";
pub const DONE: &str = "steward:done";

fn log(session: &mut Session, kind: &str, text: impl Into<String>) {
    let mut text: String = text.into();
    if text.chars().count() > 4000 {
        text = text.chars().take(4000).collect::<String>() + "…";
    }
    session.log.push(LogEntry { at: Utc::now(), kind: kind.into(), text });
}

async fn save(context: &Context<'_>, session: &Session) -> Result<(), TickError> {
    let mut stored = session.clone();
    stored.updated_at = Utc::now();
    context.store.writer().write(None, move |conn| sql::update(conn, &stored)).await?;
    Ok(())
}

/// Starts a session on `issue`, selected by policy; false when another one got there first.
pub(super) async fn start(context: &mut Context<'_>, issue: &Issue, decision: &str) -> Result<bool, TickError> {
    let repo = context.repo();
    let worktree = git::worktree_path(&context.project_root, issue.number);
    let default_branch = context.default_branch().await?;
    let comments = context.github.comments(issue.number).await?;
    let trusted: Vec<(&str, &str)> = comments
        .iter()
        .filter(|c| !crate::github::has_any_marker(&c.body))
        .filter(|c| super::policy::trusted_answer(&c.author_association, &context.config.policy))
        .map(|c| (c.user.as_str(), c.body.as_str()))
        .collect();
    let now = Utc::now();
    let mut new = Session::new(&repo, issue.number, &issue.title, worktree.to_string_lossy().into_owned(), now);
    new.prompt = work::first_prompt(&work::IssueFacts {
        repo: &repo,
        number: issue.number,
        title: &issue.title,
        body: &issue.body,
        branch: &new.branch,
        default_branch: &default_branch,
        comments: trusted,
    });
    let begin = session::start();
    new.pending = begin.effects.into_iter().map(|effect| Pending { effect, due: now }).collect();
    log(&mut new, "decision", decision);
    let inserted = context
        .store
        .writer()
        .write(None, move |conn| match sql::insert(conn, &new) {
            Ok(session) => Ok(Some(session)),
            // The unique index: a live session for this issue exists already.
            Err(rusqlite::Error::SqliteFailure(error, _)) if error.code == rusqlite::ErrorCode::ConstraintViolation => {
                Ok(None)
            }
            Err(error) => Err(error),
        })
        .await?;
    let Some(session) = inserted else { return Ok(false) };
    tracing::info!(session = session.id, issue = issue.number, "session started");
    context
        .events
        .emit("session:started", json!({ "id": session.id, "issue": issue.number, "branch": session.branch }));
    drain(context, session).await?;
    Ok(true)
}

/// Moves every session of this repository along: carries out what is pending (finished
/// sessions included), then looks at what its state waits for. Paused sessions wait for the
/// feedback loop.
pub(super) async fn advance_all(context: &mut Context<'_>) -> Result<u32, TickError> {
    let repo = context.repo();
    let live = context.store.read(sql::unsettled).await?;
    let mut moved = 0;
    for session in live.into_iter().filter(|s| s.repo.eq_ignore_ascii_case(&repo)) {
        let before = (session.state, session.attempts, session.pending.len(), session.task);
        let after = advance(context, session).await?;
        if before != (after.state, after.attempts, after.pending.len(), after.task) {
            moved += 1;
        }
    }
    Ok(moved)
}

async fn advance(context: &mut Context<'_>, session: Session) -> Result<Session, TickError> {
    let mut session = drain(context, session).await?;
    if !session.pending.is_empty() {
        return Ok(session);
    }
    let limit = TimeDelta::minutes(context.config.policy.max_session_minutes as i64);
    if session.state.is_active() && session.active_since.is_some_and(|since| Utc::now() - since > limit) {
        return apply(context, session, SessionEvent::TimedOut).await;
    }
    match session.state {
        SessionState::Running => {
            let Some(task_id) = session.task else { return Ok(session) };
            let task = match context.queue.get(task_id).await {
                Ok(task) => task,
                Err(error) => {
                    let outcome = AgentOutcome::Failed { error: format!("the agent's task is gone: {error}") };
                    return apply(context, session, SessionEvent::AgentEnded(outcome)).await;
                }
            };
            if task.started_at.is_some() && session.agent_seen != Some(task_id) && task.state != TaskState::Queued {
                session.agent_seen = Some(task_id);
                session = apply(context, session, SessionEvent::AgentStarted { task: task_id }).await?;
            }
            if matches!(task.state, TaskState::Queued | TaskState::Running) {
                return Ok(session);
            }
            let worktree = PathBuf::from(&session.worktree);
            let default_branch = context.default_branch().await?;
            let (question, commits) = tokio::task::spawn_blocking(move || {
                let question = std::fs::read_to_string(worktree.join(work::QUESTION_FILE)).ok();
                let commits = git::commits_ahead(&worktree, &default_branch, 0).map(|(count, _)| count);
                (question, commits)
            })
            .await
            .map_err(|error| TickError { message: error.to_string(), needs_person: false, changes: 0 })?;
            let commits = match commits {
                Ok(count) => count,
                Err(error) => {
                    tracing::warn!(session = session.id, %error, "could not count the session's commits");
                    0
                }
            };
            match work::outcome(&task, question.as_deref(), commits) {
                Some(outcome) => apply(context, session, SessionEvent::AgentEnded(outcome)).await,
                None => Ok(session),
            }
        }
        SessionState::Checking => {
            let (Some(sha), Some(published_at)) = (session.head_sha.clone(), session.published_at) else {
                return apply(
                    context,
                    session,
                    SessionEvent::StepFailed { error: "no pushed head is recorded".into() },
                )
                .await;
            };
            let runs = context.github.check_runs(&sha).await?;
            let combined = context.github.combined_status(&sha).await?;
            match work::checks_verdict(&runs, &combined, published_at, Utc::now()) {
                work::Verdict::Pending => Ok(session),
                work::Verdict::Passed => apply(context, session, SessionEvent::ChecksPassed).await,
                work::Verdict::Failed(summary) => apply(context, session, SessionEvent::ChecksFailed { summary }).await,
            }
        }
        _ => Ok(session),
    }
}

/// The feedback loop's part: a paused session resumes with the first trusted answer.
pub(super) async fn check_answer(context: &mut Context<'_>, session: Session) -> Result<Session, TickError> {
    let session = drain(context, session).await?;
    let Some(question_comment) = session.question_comment else { return Ok(session) };
    if session.state != SessionState::Paused || !session.pending.is_empty() {
        return Ok(session);
    }
    let comments = context.github.comments(session.issue).await?;
    let own = context.own_login().await?;
    let policy = context.config.policy.clone();
    let (found, ignored) = work::answer(&comments, question_comment, &own, |association| {
        super::policy::trusted_answer(association, &policy)
    });
    for comment in ignored {
        let skip = super::policy::Skip::UntrustedAnswer {
            login: comment.user.clone(),
            association: comment.author_association.clone(),
        };
        context.decide(super::policy::Loop::Feedback, session.issue, Err(&skip));
    }
    match found {
        Some(comment) => {
            let event = SessionEvent::Answered { answer: comment.body.clone(), by: comment.user.clone() };
            apply(context, session, event).await
        }
        None => Ok(session),
    }
}

/// A person's `session.resume` or `session.cancel`, or any other event, applied now: stored,
/// announced, and its effects carried out.
pub(super) async fn apply(
    context: &mut Context<'_>,
    mut session: Session,
    event: SessionEvent,
) -> Result<Session, TickError> {
    let from = session.state;
    if let Err(refused) = transit(&mut session, &event, context.config.policy.max_attempts) {
        tracing::warn!(session = session.id, %refused, "session event refused");
        log(&mut session, "note", refused.to_string());
        save(context, &session).await?;
        return Ok(session);
    }
    save(context, &session).await?;
    announce(&context.events, &session, from);
    drain(context, session).await
}

/// [`apply`] while the gates are closed: stored and announced; the effects wait in the outbox
/// until a tick may carry them out.
pub(super) async fn apply_offline(
    store: &crate::store::Store,
    events: &crate::events::EventBus,
    config: &crate::config::Config,
    mut session: Session,
    event: SessionEvent,
) -> Result<Session, TickError> {
    let from = session.state;
    transit(&mut session, &event, config.policy.max_attempts).map_err(|refused| TickError {
        message: refused.to_string(),
        needs_person: true,
        changes: 0,
    })?;
    session.updated_at = Utc::now();
    let stored = session.clone();
    store.writer().write(None, move |conn| sql::update(conn, &stored)).await?;
    announce(events, &session, from);
    Ok(session)
}

fn announce(events: &crate::events::EventBus, session: &Session, from: SessionState) {
    if from != session.state {
        tracing::info!(
            session = session.id,
            issue = session.issue,
            from = from.name(),
            to = session.state.name(),
            "session"
        );
        events.emit(
            format!("session:{}", session.state.name()),
            json!({ "id": session.id, "issue": session.issue, "from": from.name(), "attempts": session.attempts }),
        );
    }
}

/// The transition of `event` written into the session: state, attempts, outbox, log.
fn transit(session: &mut Session, event: &SessionEvent, max_attempts: u32) -> Result<(), session::Refused> {
    let limits = session::Limits { max_attempts };
    let transition = session::transition(session.state, session.attempts, event, limits)?;
    let now = Utc::now();
    let from = session.state;
    match event {
        SessionEvent::AgentEnded(AgentOutcome::Asked { question }) => session.question = Some(question.clone()),
        SessionEvent::AgentEnded(AgentOutcome::Failed { error }) | SessionEvent::StepFailed { error } => {
            session.last_error = Some(error.clone());
            log(session, "error", error.clone());
        }
        SessionEvent::Answered { answer, by } => log(session, "note", format!("answered by @{by}: {answer}")),
        _ => {}
    }
    if from != transition.state && (from == SessionState::Paused || from.is_over()) {
        session.active_since = Some(now);
    }
    session.state = transition.state;
    session.attempts = transition.attempts;
    session.finished_at = transition.state.is_over().then_some(now);
    for effect in transition.effects {
        let due = match &effect {
            Effect::StartAgent(Turn::Retry { .. } | Turn::Respawn) => {
                now + TimeDelta::from_std(work::cooldown(session.attempts)).unwrap_or_default()
            }
            // After a failed step: not in the same breath (the network, a lock held by git).
            Effect::PrepareWorktree => {
                now + TimeDelta::from_std(work::cooldown(session.attempts + 2).max(work::STEP_RETRY))
                    .unwrap_or_default()
            }
            _ => now,
        };
        session.pending.push(Pending { effect, due });
    }
    let line = format!("{} -> {} ({})", from.name(), session.state.name(), describe(event));
    log(session, "transition", line);
    Ok(())
}

fn describe(event: &SessionEvent) -> String {
    match event {
        SessionEvent::AgentEnded(outcome) => match outcome {
            AgentOutcome::Completed { commits } => {
                format!("the agent finished, {}", if *commits { "with commits" } else { "without commits" })
            }
            AgentOutcome::Asked { .. } => "the agent asked a question".into(),
            AgentOutcome::Failed { error } => format!("the agent failed: {error}"),
            AgentOutcome::Vanished => "the agent stopped without an outcome".into(),
        },
        SessionEvent::StepFailed { error } => format!("failed: {error}"),
        SessionEvent::AgentStarted { task } => format!("task {task} started"),
        SessionEvent::Published { pull } => format!("pull request #{pull}"),
        SessionEvent::ChecksFailed { .. } => "the checks failed".into(),
        SessionEvent::Answered { by, .. } => format!("answered by @{by}"),
        other => {
            serde_json::to_value(other).ok().and_then(|v| v["event"].as_str().map(str::to_owned)).unwrap_or_default()
        }
    }
}

/// Carries out the pending effects that are due, in order, removing each once done. An effect
/// that fails for a reason a retry may fix stays pending for the next tick.
async fn drain(context: &mut Context<'_>, mut session: Session) -> Result<Session, TickError> {
    loop {
        let Some(next) = session.pending.first().cloned() else { return Ok(session) };
        if next.due > Utc::now() {
            return Ok(session);
        }
        if let Effect::StartAgent(turn) = &next.effect {
            // Submitted and recorded in one transaction, the effect removed with it.
            match start_agent(context, &mut session, turn).await? {
                None => continue,
                Some(error) => {
                    session.pending.remove(0);
                    save(context, &session).await?;
                    return Box::pin(apply(context, session, SessionEvent::StepFailed { error })).await;
                }
            }
        }
        let event = match effects::carry_out(context, &mut session, &next.effect).await {
            Ok(event) => event,
            Err(error) => {
                session.last_error = Some(error.message.clone());
                save(context, &session).await?;
                return Err(error);
            }
        };
        session.pending.remove(0);
        save(context, &session).await?;
        if let Some(event) = event {
            return Box::pin(apply(context, session, event)).await;
        }
    }
}

/// Submits the agent's task for `turn`; `Some(reason)` when it could not be.
async fn start_agent(
    context: &mut Context<'_>,
    session: &mut Session,
    turn: &Turn,
) -> Result<Option<String>, TickError> {
    let root = context.project_root.clone();
    let default_branch = context.default_branch().await?;
    let (issue, subjects_wanted) = (session.issue, 3);
    let branch = default_branch.clone();
    let prepared = tokio::task::spawn_blocking(move || -> Result<(PathBuf, u64, Vec<String>), git::GitError> {
        let (worktree, _) = git::ensure_worktree(&root, issue, &branch)?;
        // A question answered before must not be read again as this run's.
        let _ = std::fs::remove_file(worktree.path.join(work::QUESTION_FILE));
        let (commits, subjects) = git::commits_ahead(&worktree.path, &branch, subjects_wanted)?;
        Ok((worktree.path, commits, subjects))
    })
    .await
    .map_err(|error| TickError { message: error.to_string(), needs_person: false, changes: 0 })?;
    let (worktree, commits, subjects) = match prepared {
        Ok(prepared) => prepared,
        Err(error) => return Ok(Some(error.to_string())),
    };
    let progress = work::Progress {
        branch: session.branch.clone(),
        commits,
        subjects,
        pull: session.pull,
        question: session.question.clone(),
    };
    let prompt = if matches!(turn, Turn::First) {
        session.prompt.clone()
    } else {
        work::turn_prompt(&session.prompt, turn, &progress)
    };
    let submission = Submission {
        prompt: prompt.clone(),
        priority: Some(0),
        agent: None,
        timeout_s: Some(context.config.policy.max_session_minutes.saturating_mul(60)),
        labels: Some(vec!["steward:session".into()]),
        source: Some(format!("steward:session:{}", session.id)),
    };
    let mut updated = session.clone();
    updated.pending.remove(0);
    updated.worktree = worktree.to_string_lossy().into_owned();
    updated.agent_seen = None;
    log(&mut updated, "prompt", prompt);
    let record = updated.clone();
    let submitted = context
        .queue
        .submit_in(submission, &context.config, updated.worktree.clone(), move |conn, task| {
            let mut record = record;
            record.task = Some(task.id);
            record.updated_at = Utc::now();
            sql::update(conn, &record)
        })
        .await;
    match submitted {
        Ok(task) => {
            updated.task = Some(task.id);
            *session = updated;
            tracing::info!(session = session.id, task = task.id, "session agent submitted");
            Ok(None)
        }
        Err(error) => Ok(Some(format!("could not submit the agent's task: {error}"))),
    }
}
