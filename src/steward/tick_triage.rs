//! The triage tick: every open issue without `steward:triaged` gets its labels (and at most one
//! comment), then `steward:triaged`, so the next tick leaves it alone.
//!
//! With `triage.agent`, an issue's first tick submits a triage task and records it; a later tick
//! reads the finished task's answer and applies everything at once. A failed task or an
//! unusable answer is logged with the reason, and the issue gets its rules' labels only.

use serde_json::json;

use super::context::{Context, TickError, TickOutcome};
use super::policy::{self, Loop, Skip};
use super::sql;
use super::triage::{self, Answer, Rules, TRIAGED};
use crate::github::{Issue, Label};
use crate::queue::{Submission, TaskState};

/// Colour of labels triage creates for its rules.
const RULE_LABEL_COLOUR: &str = "ededed";
/// How much of a triage task's output is read for the answer (its end).
const ANSWER_WINDOW: usize = 256 * 1024;

/// Where an issue's agent answer stands.
enum AgentAnswer {
    /// `triage.agent` is off.
    NotAsked,
    /// The task was submitted just now.
    Asked,
    /// The task runs; come back next tick.
    Waiting,
    /// The task finished: its answer, or why there is none.
    Finished { task: u64, answer: Result<Answer, String> },
}

pub(super) async fn run(context: &mut Context<'_>) -> Result<TickOutcome, TickError> {
    let rules = Rules::compile(&context.config.triage).map_err(|err| TickError {
        message: format!("triage rules: {err}"),
        needs_person: true,
        changes: 0,
    })?;
    let mut issues = context.github.open_issues(None).await?;
    issues.sort_by_key(|issue| issue.number);
    let repo = context.repo();
    let mut repo_labels: Option<Vec<String>> = None;
    let (mut triaged, mut waiting, mut asked, mut skipped) = (0u32, 0u32, 0u32, 0u32);
    for issue in &issues {
        if has(&issue.labels, TRIAGED) {
            // Done before; an answer left from a crash between labelling and forgetting it goes.
            if !context.config.steward.dry_run {
                let (store_repo, number) = (repo.clone(), issue.number);
                context
                    .store
                    .writer()
                    .write(None, move |conn| sql::clear_triage_pending(conn, &store_repo, number))
                    .await?;
            }
            continue;
        }
        if let Some(label) = policy::block_label(&issue.labels, &context.config.policy) {
            context.decide(Loop::Triage, issue.number, Err(&Skip::BlockLabel { label: label.clone() }));
            skipped += 1;
            continue;
        }
        let answer = agent_answer(context, issue).await?;
        let (task, answer) = match answer {
            AgentAnswer::NotAsked => (None, None),
            AgentAnswer::Waiting => {
                waiting += 1;
                continue;
            }
            AgentAnswer::Asked => {
                asked += 1;
                continue;
            }
            AgentAnswer::Finished { task, answer } => (Some(task), Some(answer)),
        };
        let rule_labels = rules.labels_for(&issue.title, &issue.body, &issue.labels);
        let usable = match &answer {
            Some(Ok(answer)) => Some(answer),
            Some(Err(reason)) => {
                tracing::warn!(issue = issue.number, task, reason, "the triage agent's answer is not used");
                None
            }
            None => None,
        };
        let plan = triage::plan(&issue.labels, &rule_labels, usable, &context.config.triage, &context.config.policy);
        if repo_labels.is_none() {
            repo_labels = Some(context.github.labels().await?.into_iter().map(|label| label.name).collect());
        }
        // steward's own labels were made sure of before the tick; the rules' and the agent's are
        // created with a neutral colour where the repository lacks them.
        let missing: Vec<Label> = plan
            .add
            .iter()
            .filter(|name| !super::LABELS.iter().any(|(own, _, _)| own.eq_ignore_ascii_case(name)))
            .filter(|name| !repo_labels.as_ref().is_some_and(|known| has(known, name)))
            .map(|name| Label { name: name.clone(), color: RULE_LABEL_COLOUR.into(), description: String::new() })
            .collect();
        for label in &missing {
            context.github.create_label(label).await?;
            context.changes += 1;
            if let Some(known) = repo_labels.as_mut() {
                known.push(label.name.clone());
            }
        }
        let mut commented = false;
        if let Some(text) = &plan.comment {
            let key = issue.number.to_string();
            let existing = context.github.comments(issue.number).await?;
            if !existing.iter().any(|comment| crate::github::has_marker(&comment.body, "triage", &key)) {
                context.github.create_comment(issue.number, &crate::github::comment_body(text, "triage", &key)).await?;
                context.changes += 1;
                commented = true;
            }
        }
        context.github.add_labels(issue.number, &plan.add).await?;
        context.changes += 1;
        if !context.config.steward.dry_run {
            let (store_repo, number) = (repo.clone(), issue.number);
            context
                .store
                .writer()
                .write(None, move |conn| sql::clear_triage_pending(conn, &store_repo, number))
                .await?;
        }
        triaged += 1;
        let agent = match (&task, &answer) {
            (Some(task), Some(Ok(answer))) => json!({ "task": task, "ready": answer.ready, "labels": answer.labels }),
            (Some(task), Some(Err(reason))) => json!({ "task": task, "error": reason }),
            _ => serde_json::Value::Null,
        };
        tracing::info!(issue = issue.number, labels = ?plan.add, commented, "triaged");
        context.events.emit(
            "steward:triaged",
            json!({
                "issue": issue.number,
                "labels": plan.add,
                "refused": plan.refused,
                "comment": commented,
                "agent": agent,
                "dry_run": context.config.steward.dry_run,
            }),
        );
    }
    let mut summary = format!("{} open issues; triaged {triaged}", issues.len());
    if asked > 0 {
        summary.push_str(&format!(", asked the agent about {asked}"));
    }
    if waiting > 0 {
        summary.push_str(&format!(", waiting for the agent on {waiting}"));
    }
    if skipped > 0 {
        summary.push_str(&format!(", skipped {skipped} (block labels)"));
    }
    Ok(TickOutcome::Done { summary, considered: issues.len() as u32, changes: context.changes })
}

fn has(labels: &[String], wanted: &str) -> bool {
    labels.iter().any(|label| label.eq_ignore_ascii_case(wanted))
}

/// The agent's answer for an issue: asks for one the first time, waits while the task runs,
/// reads it once done.
async fn agent_answer(context: &mut Context<'_>, issue: &Issue) -> Result<AgentAnswer, TickError> {
    if !context.config.triage.agent {
        return Ok(AgentAnswer::NotAsked);
    }
    let (repo, number) = (context.repo(), issue.number);
    let pending = context.store.read(move |conn| sql::triage_pending(conn, &repo, number)).await?;
    let Some(task_id) = pending else {
        let submission = Submission {
            prompt: triage::prompt(issue, &context.repo(), &context.config.triage.allowed_labels),
            priority: Some(0),
            agent: None,
            timeout_s: None,
            labels: Some(vec!["steward:triage".into()]),
            source: Some(format!("steward:triage:{}", issue.number)),
        };
        let (repo, number) = (context.repo(), issue.number);
        let task = context
            .queue
            .submit_with(submission, &context.config, None, move |conn, task| {
                // In the task's transaction: a crash cannot leave a task nobody waits for.
                sql::set_triage_pending(conn, &repo, number, task.id)
            })
            .await
            .map_err(|err| TickError {
                message: format!("submitting the triage task: {err}"),
                needs_person: false,
                changes: 0,
            })?;
        tracing::info!(issue = issue.number, task = task.id, "asked the triage agent");
        context.events.emit("steward:triage_asked", json!({ "issue": issue.number, "task": task.id }));
        return Ok(AgentAnswer::Asked);
    };
    let task = match context.queue.get(task_id).await {
        Ok(task) => task,
        Err(err) => {
            return Ok(AgentAnswer::Finished { task: task_id, answer: Err(format!("the triage task is gone: {err}")) });
        }
    };
    match task.state {
        TaskState::Queued | TaskState::Running | TaskState::Interrupted => Ok(AgentAnswer::Waiting),
        TaskState::Completed => {
            // The answer is at the end of the output.
            let output = context.queue.output_tail(task_id, ANSWER_WINDOW).await.map_err(|err| err.to_string());
            let answer = output.and_then(|output| triage::parse_answer(&output));
            Ok(AgentAnswer::Finished { task: task_id, answer })
        }
        state => Ok(AgentAnswer::Finished {
            task: task_id,
            answer: Err(format!(
                "the triage task ended {state}{}",
                task.error.map(|error| format!(": {error}")).unwrap_or_default()
            )),
        }),
    }
}
