//! A session: one issue being worked on, from its worktree to a green pull request or a human.
//!
//! The record is the manifest the daemon resumes from after a crash (issue, branch, worktree,
//! state, attempts, the agent's task, the pull request, the comments it keeps, and a log of
//! decisions, prompts and errors). How a session moves is one pure function, [`transition`]:
//! a state and what happened give the next state and the effects to carry out, or a refusal.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Selected; its worktree and branch are being made.
    Preparing,
    /// Its agent runs (or is about to) in the worktree.
    Running,
    /// The agent made commits: pushing and opening the pull request.
    Publishing,
    /// Waiting for the pull request's checks.
    Checking,
    /// Waiting for a human to answer the agent's question.
    Paused,
    /// The checks passed. Final.
    Done,
    /// Handed to a human (attempts used up, no commits, too long, an error). Final unless resumed.
    Escalated,
    /// Cancelled by a person. Final.
    Cancelled,
}

impl SessionState {
    /// Every state.
    pub const ALL: [SessionState; 8] = [
        SessionState::Preparing,
        SessionState::Running,
        SessionState::Publishing,
        SessionState::Checking,
        SessionState::Paused,
        SessionState::Done,
        SessionState::Escalated,
        SessionState::Cancelled,
    ];

    /// As stored and shown.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::Preparing => "preparing",
            SessionState::Running => "running",
            SessionState::Publishing => "publishing",
            SessionState::Checking => "checking",
            SessionState::Paused => "paused",
            SessionState::Done => "done",
            SessionState::Escalated => "escalated",
            SessionState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored or requested name.
    pub fn parse(name: &str) -> Option<SessionState> {
        SessionState::ALL.into_iter().find(|state| state.name() == name)
    }

    /// Nothing more happens unless a person resumes it.
    pub fn is_over(self) -> bool {
        matches!(self, SessionState::Done | SessionState::Escalated | SessionState::Cancelled)
    }

    /// Counts against `max_active_sessions`: neither over nor waiting for a human.
    pub fn is_active(self) -> bool {
        !self.is_over() && self != SessionState::Paused
    }
}

/// How an agent's run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum AgentOutcome {
    /// Exited 0; whether the branch has commits the default branch lacks.
    Completed { commits: bool },
    /// Wrote `.steward/question.md` or exited 75.
    Asked { question: String },
    /// Exited otherwise, timed out or could not start.
    Failed { error: String },
    /// Gone without an outcome (a crash, a restart of the daemon).
    Vanished,
}

/// What happened to a session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum SessionEvent {
    /// The worktree and branch exist.
    Prepared,
    /// Preparing, starting the agent or publishing failed.
    StepFailed {
        error: String,
    },
    /// The agent's task was submitted and its process started.
    AgentStarted {
        task: u64,
    },
    AgentEnded(AgentOutcome),
    /// The branch was pushed and the pull request opened (or found).
    Published {
        pull: u64,
    },
    ChecksPassed,
    ChecksFailed {
        summary: String,
    },
    /// A trusted human answered the question.
    Answered {
        answer: String,
        by: String,
    },
    /// It ran past `max_session_minutes`.
    TimedOut,
    /// `session.cancel`.
    Cancel,
    /// `session.resume`: go on (a paused session without an answer, an escalated one afresh).
    Resume,
}

/// Why the agent is started, which decides its prompt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "turn", rename_all = "snake_case")]
pub enum Turn {
    /// The issue itself.
    First,
    /// The checks failed: their names and summaries.
    Corrective { summary: String },
    /// A human answered the question.
    Answer { answer: String },
    /// The previous run failed.
    Retry { error: String },
    /// The previous run vanished: what exists so far (branch, commits, PR, checks).
    Respawn,
    /// A person resumed the session.
    Resumed,
}

/// What the adapter does after a transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "effect", rename_all = "snake_case")]
pub enum Effect {
    /// Make (or recreate from the branch) the worktree.
    PrepareWorktree,
    /// Submit the agent's task for this turn.
    StartAgent(Turn),
    /// Stop the running agent.
    StopAgent,
    /// Label the issue `steward:in-progress` (only once the agent runs).
    LabelInProgress,
    /// Push and open or update the pull request.
    Publish,
    /// Look at the pull request's checks from now on.
    WatchChecks,
    /// Post the question, label `steward:needs-input`.
    AskHuman { question: String },
    /// Label `steward:done`.
    Finish,
    /// Label `steward:needs-human`, say why in a comment.
    Escalate { reason: String },
    /// Remove the labels of a live session (`in-progress`, `needs-input`).
    ClearLabels,
    /// Remove the ready label (`policy.ready_label`): a cancelled session's issue waits for a
    /// person to label it ready again.
    ClearReady,
    /// Remove `steward:needs-input`: the question has its answer.
    ClearNeedsInput,
    /// Edit the progress comment.
    Progress { step: String },
}

/// Limits from `[policy]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_attempts: u32,
}

/// Where a transition leads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub state: SessionState,
    pub attempts: u32,
    pub effects: Vec<Effect>,
}

/// An event that makes no sense in a state (an answer to a session that asked nothing).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a session that is {} cannot take {event}", state.name())]
pub struct Refused {
    pub state: SessionState,
    pub event: String,
}

/// A new session starts by preparing its worktree.
pub fn start() -> Transition {
    Transition {
        state: SessionState::Preparing,
        attempts: 0,
        effects: vec![Effect::PrepareWorktree, Effect::Progress { step: "preparing the worktree".into() }],
    }
}

/// The next state of a session in `state` after `attempts` agent runs, when `event` happens.
pub fn transition(
    state: SessionState,
    attempts: u32,
    event: &SessionEvent,
    limits: Limits,
) -> Result<Transition, Refused> {
    use SessionEvent as E;
    use SessionState as S;
    let to = |state, attempts, effects| Ok(Transition { state, attempts, effects });
    let escalate = |reason: String| {
        Ok(Transition {
            state: S::Escalated,
            attempts,
            // Labelled for a human before the session's labels go: a crash in between leaves
            // the issue handled, never looking ready.
            effects: vec![
                Effect::Escalate { reason: reason.clone() },
                Effect::ClearLabels,
                Effect::Progress { step: format!("handed to a human: {reason}") },
            ],
        })
    };
    // Another agent run, or a human when the attempts are used up.
    let again = |turn: Turn, why: &str| {
        if attempts >= limits.max_attempts {
            escalate(format!("{why}; all {} attempts are used", limits.max_attempts))
        } else {
            to(
                S::Running,
                attempts + 1,
                vec![Effect::StartAgent(turn), Effect::Progress { step: format!("{why}; attempt {}", attempts + 1) }],
            )
        }
    };
    match (state, event) {
        (s, E::Cancel) if !s.is_over() => {
            let mut effects = Vec::new();
            if s == S::Running {
                effects.push(Effect::StopAgent);
            }
            // Unready first: the run loop must not take the issue again until a person says so.
            effects.extend([Effect::ClearReady, Effect::ClearLabels, Effect::Progress { step: "cancelled".into() }]);
            to(S::Cancelled, attempts, effects)
        }
        (s, E::TimedOut) if !s.is_over() && s != S::Paused => {
            let mut transition = escalate("it ran past policy.max_session_minutes".into())?;
            if s == S::Running {
                transition.effects.insert(0, Effect::StopAgent);
            }
            Ok(transition)
        }
        (S::Preparing, E::Prepared) => to(
            S::Running,
            attempts + 1,
            vec![Effect::StartAgent(Turn::First), Effect::Progress { step: "starting the agent".into() }],
        ),
        // A failed step uses an attempt, so a step that keeps failing ends with a human.
        (S::Preparing | S::Running, E::StepFailed { error }) => {
            if attempts + 1 >= limits.max_attempts {
                escalate(format!("could not start the agent: {error}"))
            } else {
                to(
                    S::Preparing,
                    attempts + 1,
                    vec![Effect::PrepareWorktree, Effect::Progress { step: format!("retrying after: {error}") }],
                )
            }
        }
        (S::Running, E::AgentStarted { .. }) => to(
            S::Running,
            attempts,
            vec![Effect::LabelInProgress, Effect::Progress { step: "the agent is working".into() }],
        ),
        (S::Running, E::AgentEnded(outcome)) => match outcome {
            AgentOutcome::Completed { commits: true } => to(
                S::Publishing,
                attempts,
                vec![Effect::Publish, Effect::Progress { step: "pushing the branch".into() }],
            ),
            AgentOutcome::Completed { commits: false } => escalate("the agent finished without making a commit".into()),
            AgentOutcome::Asked { question } => to(
                S::Paused,
                attempts,
                vec![
                    Effect::AskHuman { question: question.clone() },
                    Effect::Progress { step: "waiting for an answer".into() },
                ],
            ),
            AgentOutcome::Failed { error } => {
                again(Turn::Retry { error: error.clone() }, &format!("the agent failed: {error}"))
            }
            AgentOutcome::Vanished => again(Turn::Respawn, "the agent stopped without an outcome"),
        },
        (S::Publishing, E::Published { .. }) => to(
            S::Checking,
            attempts,
            vec![Effect::WatchChecks, Effect::Progress { step: "waiting for the checks".into() }],
        ),
        (S::Publishing, E::StepFailed { error }) => escalate(format!("publishing failed: {error}")),
        (S::Checking, E::ChecksPassed) => to(
            S::Done,
            attempts,
            vec![Effect::Finish, Effect::ClearLabels, Effect::Progress { step: "done: the checks passed".into() }],
        ),
        (S::Checking, E::ChecksFailed { summary }) => {
            again(Turn::Corrective { summary: summary.clone() }, "the checks failed")
        }
        (S::Paused, E::Answered { answer, .. }) => to(
            S::Running,
            attempts,
            vec![
                Effect::ClearNeedsInput,
                Effect::StartAgent(Turn::Answer { answer: answer.clone() }),
                Effect::Progress { step: "resuming with the answer".into() },
            ],
        ),
        (S::Paused, E::Resume) => to(
            S::Running,
            attempts,
            vec![
                Effect::ClearNeedsInput,
                Effect::StartAgent(Turn::Resumed),
                Effect::Progress { step: "resumed".into() },
            ],
        ),
        // A person takes an escalated session back: a fresh set of attempts.
        (S::Escalated, E::Resume) => to(
            S::Running,
            1,
            vec![Effect::StartAgent(Turn::Resumed), Effect::Progress { step: "resumed by a person".into() }],
        ),
        (state, event) => Err(Refused { state, event: event_name(event).to_owned() }),
    }
}

fn event_name(event: &SessionEvent) -> &'static str {
    match event {
        SessionEvent::Prepared => "prepared",
        SessionEvent::StepFailed { .. } => "step_failed",
        SessionEvent::AgentStarted { .. } => "agent_started",
        SessionEvent::AgentEnded(_) => "agent_ended",
        SessionEvent::Published { .. } => "published",
        SessionEvent::ChecksPassed => "checks_passed",
        SessionEvent::ChecksFailed { .. } => "checks_failed",
        SessionEvent::Answered { .. } => "answered",
        SessionEvent::TimedOut => "timed_out",
        SessionEvent::Cancel => "cancel",
        SessionEvent::Resume => "resume",
    }
}

/// One line of a session's log: a decision, a prompt, an error, a transition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    #[serde(with = "crate::events::rfc3339")]
    pub at: DateTime<Utc>,
    /// `decision`, `prompt`, `error`, `transition`, `note`.
    pub kind: String,
    pub text: String,
}

/// A session as stored and as `session.get` returns it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: u64,
    /// `owner/name`.
    pub repo: String,
    pub issue: u64,
    pub state: SessionState,
    /// Agent runs so far.
    pub attempts: u32,
    pub branch: String,
    /// Absolute path of the worktree.
    pub worktree: String,
    /// The agent's current or last task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<u64>,
    /// The comment steward edits at each step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_comment: Option<u64>,
    /// The comment that asked the question, while paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question_comment: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub question: Option<String>,
    #[serde(with = "crate::events::rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::events::rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::automation::state::optional_time")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Decisions, prompts, errors and transitions, oldest first.
    #[serde(default)]
    pub log: Vec<LogEntry>,
    /// Effects decided but not carried out yet, oldest first (see `outbox`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Pending>,
    /// The issue's title when the session began.
    #[serde(default)]
    pub title: String,
    /// The first turn's prompt, which later turns build on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prompt: String,
    /// The task whose start was handled (labelled in progress).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_seen: Option<u64>,
    /// Since when it counts against `max_session_minutes`.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::automation::state::optional_time")]
    pub active_since: Option<DateTime<Utc>>,
    /// The commit pushed last, whose checks decide.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_sha: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "crate::automation::state::optional_time")]
    pub published_at: Option<DateTime<Utc>>,
}

impl Session {
    /// A session about to prepare its worktree for `issue`.
    pub fn new(repo: &str, issue: u64, title: &str, worktree: String, now: DateTime<Utc>) -> Session {
        Session {
            id: 0,
            repo: repo.to_owned(),
            issue,
            state: SessionState::Preparing,
            attempts: 0,
            branch: format!("steward/issue-{issue}"),
            worktree,
            task: None,
            pull: None,
            progress_comment: None,
            question_comment: None,
            question: None,
            created_at: now,
            updated_at: now,
            finished_at: None,
            last_error: None,
            log: Vec::new(),
            pending: Vec::new(),
            title: title.to_owned(),
            prompt: String::new(),
            agent_seen: None,
            active_since: Some(now),
            head_sha: None,
            published_at: None,
        }
    }
}

/// An effect waiting in a session's outbox, not before `due`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub effect: Effect,
    #[serde(with = "crate::events::rfc3339")]
    pub due: DateTime<Utc>,
}

#[cfg(test)]
mod tests;
