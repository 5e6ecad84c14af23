//! The effects a session's transitions decide, carried out one at a time. Each is safe to
//! repeat: labels are sets, comments are looked up by their marker before one is posted, the
//! pull request by its branch before one is opened.

use std::path::PathBuf;

use chrono::Utc;

use super::context::{Context, TickError};
use super::git;
use super::session::{Effect, Session, SessionEvent};
use super::sessions::{DONE, IN_PROGRESS, NEEDS_HUMAN, NEEDS_INPUT};
use crate::github::{GitHubError, NewPull, comment_body, has_marker};

/// Longest part of the agent's output quoted when it is handed to a human.
const OUTPUT_TAIL: usize = 3000;

/// One effect; `Some(event)` when its result moves the session on.
pub(super) async fn carry_out(
    context: &mut Context<'_>,
    session: &mut Session,
    effect: &Effect,
) -> Result<Option<SessionEvent>, TickError> {
    let github = context.github.clone();
    let issue = session.issue;
    match effect {
        Effect::PrepareWorktree => {
            let root = context.project_root.clone();
            let default_branch = context.default_branch().await?;
            let result = tokio::task::spawn_blocking(move || {
                git::fetch(&root, &default_branch)?;
                git::ensure_worktree(&root, issue, &default_branch)
            })
            .await
            .map_err(|error| TickError { message: error.to_string(), needs_person: false, changes: 0 })?;
            Ok(Some(match result {
                Ok((worktree, _)) => {
                    session.worktree = worktree.path.to_string_lossy().into_owned();
                    SessionEvent::Prepared
                }
                Err(error) => SessionEvent::StepFailed { error: error.to_string() },
            }))
        }
        Effect::StartAgent(_) => Ok(None),
        Effect::StopAgent => {
            if let Some(task) = session.task {
                let _ = context.queue.cancel(task).await;
            }
            Ok(None)
        }
        Effect::LabelInProgress => {
            github.add_labels(issue, &[IN_PROGRESS.to_owned()]).await?;
            context.changes += 1;
            Ok(None)
        }
        Effect::Publish => publish(context, session).await,
        Effect::WatchChecks => Ok(None),
        Effect::AskHuman { question } => {
            let key = format!("{}:{}", session.id, session.attempts);
            let text = format!(
                "**steward needs an answer to go on with this issue.**\n\n{question}\n\nReply in a comment: the first \
                 answer from a maintainer resumes the work on branch `{}`.",
                session.branch
            );
            let id = post_once(context, issue, "question", &key, &text).await?;
            session.question_comment = Some(id);
            github.add_labels(issue, &[NEEDS_INPUT.to_owned()]).await?;
            context.changes += 1;
            Ok(None)
        }
        Effect::Finish => {
            github.add_labels(issue, &[DONE.to_owned()]).await?;
            context.changes += 1;
            Ok(None)
        }
        Effect::Escalate { reason } => {
            let count =
                session.log.iter().filter(|e| e.kind == "transition" && e.text.contains("-> escalated")).count();
            let mut text = format!(
                "**steward hands this issue to a human.**\n\n{reason}.\n\nThe branch `{}` is kept as it is{}. To let \
                 steward try again, run `steward session resume {}`.",
                session.branch,
                session.pull.map(|pull| format!(" (pull request #{pull})")).unwrap_or_default(),
                session.id
            );
            if reason.contains("without making a commit")
                && let Some(task) = session.task
                && let Some(tail) = output_tail(context, task).await
            {
                text.push_str(&format!("\n\nThe agent's last output:\n\n```\n{tail}\n```"));
            }
            post_once(context, issue, "escalated", &format!("{}:{count}", session.id), &text).await?;
            github.add_labels(issue, &[NEEDS_HUMAN.to_owned()]).await?;
            context.changes += 1;
            Ok(None)
        }
        Effect::ClearLabels => {
            for label in [IN_PROGRESS, NEEDS_INPUT] {
                github.remove_label(issue, label).await?;
            }
            context.changes += 1;
            Ok(None)
        }
        Effect::ClearReady => {
            let ready = context.config.policy.ready_label.clone();
            github.remove_label(issue, &ready).await?;
            context.changes += 1;
            Ok(None)
        }
        Effect::ClearNeedsInput => {
            github.remove_label(issue, NEEDS_INPUT).await?;
            context.changes += 1;
            Ok(None)
        }
        Effect::Progress { step } => {
            progress(context, session, step).await?;
            Ok(None)
        }
    }
}

/// Posts a marked comment unless one with the marker exists; its id either way.
async fn post_once(context: &mut Context<'_>, issue: u64, kind: &str, key: &str, text: &str) -> Result<u64, TickError> {
    let existing = context.github.comments(issue).await?;
    if let Some(found) = existing.iter().find(|comment| has_marker(&comment.body, kind, key)) {
        return Ok(found.id);
    }
    let made = context.github.create_comment(issue, &comment_body(text, kind, key)).await?;
    context.changes += 1;
    Ok(made.id)
}

/// The one progress comment of a session, edited in place.
async fn progress(context: &mut Context<'_>, session: &mut Session, step: &str) -> Result<(), TickError> {
    let mut text = format!(
        "**steward is working on this issue** (session {}).\n\n- branch: `{}`\n- step: {step}\n- attempts: {} of {}",
        session.id, session.branch, session.attempts, context.config.policy.max_attempts
    );
    if let Some(pull) = session.pull {
        text.push_str(&format!("\n- pull request: #{pull}"));
    }
    text.push_str(&format!("\n\n_Updated {}._", crate::events::format_time(&Utc::now())));
    let key = session.id.to_string();
    let body = comment_body(&text, "progress", &key);
    if let Some(id) = session.progress_comment {
        match context.github.update_comment(id, &body).await {
            Ok(_) => {
                context.changes += 1;
                return Ok(());
            }
            Err(GitHubError::NotFound { .. }) => session.progress_comment = None,
            Err(error) => return Err(error.into()),
        }
    }
    let existing = context.github.comments(session.issue).await?;
    if let Some(found) = existing.iter().find(|comment| has_marker(&comment.body, "progress", &key)) {
        context.github.update_comment(found.id, &body).await?;
        session.progress_comment = Some(found.id);
    } else {
        let made = context.github.create_comment(session.issue, &body).await?;
        session.progress_comment = Some(made.id);
    }
    context.changes += 1;
    Ok(())
}

/// Pushes the branch and opens its draft pull request, or finds the one that exists.
async fn publish(context: &mut Context<'_>, session: &mut Session) -> Result<Option<SessionEvent>, TickError> {
    let worktree = PathBuf::from(&session.worktree);
    let branch = session.branch.clone();
    let default_branch = context.default_branch().await?;
    let base = default_branch.clone();
    let pushed = tokio::task::spawn_blocking(move || -> Result<(String, Vec<String>), git::GitError> {
        git::push(&worktree, &branch)?;
        let sha = git::head_sha(&worktree)?;
        let (_, subjects) = git::commits_ahead(&worktree, &base, 20)?;
        Ok((sha, subjects))
    })
    .await
    .map_err(|error| TickError { message: error.to_string(), needs_person: false, changes: 0 })?;
    let (sha, subjects) = match pushed {
        Ok(pushed) => pushed,
        Err(error) => return Ok(Some(SessionEvent::StepFailed { error: error.to_string() })),
    };
    let open = context.github.pulls_for_branch(&session.branch).await?;
    let number = match open.iter().find(|pull| pull.state == "open") {
        Some(pull) => pull.number,
        None => {
            let mut body = format!("Closes #{}\n\nMade by steward (session {}).", session.issue, session.id);
            if !subjects.is_empty() {
                body.push_str("\n\nCommits:\n");
                for subject in &subjects {
                    body.push_str(&format!("- {subject}\n"));
                }
            }
            let new = NewPull {
                title: format!("{} (#{})", session.title.trim(), session.issue),
                body,
                head: session.branch.clone(),
                base: default_branch,
                draft: true,
            };
            let made = context.github.create_pull(&new).await?;
            context.changes += 1;
            made.number
        }
    };
    session.pull = Some(number);
    session.head_sha = Some(sha);
    session.published_at = Some(Utc::now());
    Ok(Some(SessionEvent::Published { pull: number }))
}

/// The end of the agent's output, quoted for a human (fences defused).
async fn output_tail(context: &Context<'_>, task: u64) -> Option<String> {
    let text = context.queue.output_tail(task, OUTPUT_TAIL * 4).await.ok()?;
    let chars: Vec<char> = text.trim_end().chars().collect();
    let start = chars.len().saturating_sub(OUTPUT_TAIL);
    Some(chars[start..].iter().collect::<String>().replace("```", "'''"))
}
