//! The run tick: which open issue to work on next, by policy.
//!
//! Issues are considered highest `priority:<n>` first, then lowest number. Cheap facts (labels,
//! sessions) are checked before costly ones (the timeline of the ready label, the labeller's
//! permission, the state of blocking issues), which are looked up only for issues that could
//! be selected. Every decision is a `steward:decision` event.

use std::collections::HashMap;

use super::context::{Context, TickError, TickOutcome};
use super::policy::{self, Blocker, Candidate, Capacity, Labeller, Loop, Skip};
use super::session::SessionState;
use super::{sessions, sql};
use crate::github::{GitHubError, Permission};

/// The issues the policy selects this tick, in order, as far as capacity allows.
pub(super) async fn select(context: &mut Context<'_>) -> Result<(Vec<u64>, u32, Vec<crate::github::Issue>), TickError> {
    let issues = context.github.open_issues(None).await?;
    let repo = context.repo();
    let live = context.store.read(sql::live).await?;
    let mut capacity = Capacity {
        active: live.iter().filter(|s| s.state.is_active()).count() as u32,
        paused: live.iter().filter(|s| s.state == SessionState::Paused).count() as u32,
    };
    let sessions: HashMap<u64, u64> =
        live.iter().filter(|s| s.repo.eq_ignore_ascii_case(&repo)).map(|s| (s.issue, s.id)).collect();
    let mut order: Vec<(u64, Vec<String>)> = issues.iter().map(|i| (i.number, i.labels.clone())).collect();
    policy::run_order(&mut order);
    let by_number: HashMap<u64, &crate::github::Issue> = issues.iter().map(|i| (i.number, i)).collect();
    let mut permissions: HashMap<String, Option<Permission>> = HashMap::new();
    let mut states: HashMap<u64, Option<bool>> = HashMap::new();
    let mut selected = Vec::new();
    let policy_config = context.config.policy.clone();
    for (number, labels) in order {
        let Some(issue) = by_number.get(&number) else { continue };
        let mut candidate = Candidate {
            number,
            labels: labels.clone(),
            labeller: None,
            blockers: Vec::new(),
            session: sessions.get(&number).copied(),
        };
        // Without looking anything up: block labels, a session, no ready label.
        if let Err(skip @ (Skip::BlockLabel { .. } | Skip::InSession { .. } | Skip::Handled { .. } | Skip::NotReady)) =
            policy::decide_run(&candidate, Capacity::default(), &policy_config)
        {
            context.decide(Loop::Run, number, Err(&skip));
            continue;
        }
        let timeline = context.github.timeline(number).await?;
        candidate.labeller = Some(match policy::labeller(&timeline, &policy_config.ready_label) {
            None => Labeller::Unknown,
            Some(login) => {
                let permission = match permissions.get(&login) {
                    Some(known) => *known,
                    None => {
                        let looked_up = lookup(context.github.permission(&login).await)?;
                        permissions.insert(login.clone(), looked_up);
                        looked_up
                    }
                };
                Labeller::User { login, permission }
            }
        });
        for blocking in policy::blocked_by(&issue.body) {
            let open = match states.get(&blocking) {
                Some(known) => *known,
                None => {
                    let looked_up = match context.github.issue(blocking).await {
                        Ok(found) => Some(found.state == "open"),
                        Err(GitHubError::NotFound { .. }) => None,
                        Err(err) if err.is_permanent() => return Err(err.into()),
                        Err(err) => {
                            tracing::warn!(issue = number, blocking, error = %err, "could not look up a blocking issue");
                            None
                        }
                    };
                    states.insert(blocking, looked_up);
                    looked_up
                }
            };
            candidate.blockers.push(Blocker { issue: blocking, open });
        }
        let decision = policy::decide_run(&candidate, capacity, &policy_config);
        context.decide(Loop::Run, number, decision.as_ref().map(|_| ()));
        if decision.is_ok() {
            selected.push(number);
            capacity.active += 1;
        }
    }
    let considered = issues.len() as u32;
    Ok((selected, considered, issues))
}

/// A permission lookup's result as policy facts: a failure that a retry might fix is no
/// permission known (the issue is skipped, fail closed); one that needs a person fails the tick.
fn lookup(result: Result<Permission, GitHubError>) -> Result<Option<Permission>, TickError> {
    match result {
        Ok(permission) => Ok(Some(permission)),
        Err(err) if err.is_permanent() => Err(err.into()),
        Err(err) => {
            tracing::warn!(error = %err, "could not look up a permission; the issue is skipped");
            Ok(None)
        }
    }
}

pub(super) async fn run(context: &mut Context<'_>) -> Result<TickOutcome, TickError> {
    let moved = sessions::advance_all(context).await?;
    let (selected, considered, issues) = select(context).await?;
    let mut started = Vec::new();
    for number in &selected {
        let Some(issue) = issues.iter().find(|issue| issue.number == *number) else { continue };
        if context.config.steward.dry_run {
            tracing::info!(issue = number, "dry run: no session started");
            context.events.emit(
                "steward:dry_run",
                serde_json::json!({ "operation": "start_session", "request": { "issue": number } }),
            );
            continue;
        }
        if sessions::start(context, issue, "selected by policy").await? {
            started.push(*number);
        }
    }
    let mut summary = match selected.as_slice() {
        [] => format!("{considered} open issues; none selected"),
        numbers => format!(
            "{considered} open issues; selected {}",
            numbers.iter().map(|n| format!("#{n}")).collect::<Vec<_>>().join(", ")
        ),
    };
    if !started.is_empty() {
        summary.push_str(&format!("; started {} session(s)", started.len()));
    }
    if moved > 0 {
        summary.push_str(&format!("; {moved} session(s) moved on"));
    }
    Ok(TickOutcome::Done { summary, considered, changes: context.changes })
}
