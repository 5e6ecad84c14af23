//! A task and the decisions about its state, as plain data and pure functions.
//!
//! What a finished agent means for its task (completed, failed, timeout, cancelled,
//! interrupted), and what a restart means for the tasks a previous daemon left behind, are
//! decided here over plain values; the store and the supervisor only carry the decisions out.

use serde::{Deserialize, Serialize};

/// The states of DESIGN §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    /// Waiting for a slot.
    Queued,
    /// Its agent runs.
    Running,
    /// The agent exited with 0.
    Completed,
    /// The agent exited otherwise, or could not start.
    Failed,
    /// Cancelled before or while running.
    Cancelled,
    /// Ran longer than its timeout and was stopped.
    Timeout,
    /// Stopped because the daemon stopped; requeued at the next start.
    Interrupted,
}

impl TaskState {
    /// Every state, in the order stats list them.
    pub const ALL: [TaskState; 7] = [
        TaskState::Queued,
        TaskState::Running,
        TaskState::Completed,
        TaskState::Failed,
        TaskState::Cancelled,
        TaskState::Timeout,
        TaskState::Interrupted,
    ];

    /// The name used on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Completed => "completed",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Timeout => "timeout",
            TaskState::Interrupted => "interrupted",
        }
    }

    /// Parses a state name.
    pub fn parse(name: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Whether nothing more will happen to the task (an interrupted task is requeued at start).
    pub fn is_final(self) -> bool {
        matches!(self, TaskState::Completed | TaskState::Failed | TaskState::Cancelled | TaskState::Timeout)
    }
}

impl std::fmt::Display for TaskState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task as the protocol shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Increasing integer id.
    pub id: u64,
    /// What the agent is asked to do (in `task.list`, cut to [`LIST_PROMPT_CHARS`]).
    pub prompt: String,
    /// Higher runs first.
    pub priority: i64,
    /// Where it is in its life.
    pub state: TaskState,
    /// The named agent (`[agents.NAME]`); absent for the default `[agent]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Free-form labels.
    pub labels: Vec<String>,
    /// Who submitted it (`cli`, `rule:ID`, ...), when known.
    pub source: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// When its agent last started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it reached a final state (or was interrupted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// The agent's exit code, when it exited on its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Why it failed, timed out, was cancelled or interrupted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How many times its agent was started.
    pub attempts: u32,
    /// Its time limit.
    pub timeout_s: u64,
    /// The supervising process's pid while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Where the agent runs when not in the project root (a GitHub session's worktree).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workdir: Option<String>,
    /// Set when `prompt` was cut for a list.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prompt_truncated: bool,
}

/// The data of every event that says a task ended or was interrupted (`task:completed`,
/// `task:failed`, `task:timeout`, `task:cancelled`, `task:interrupted`): one shape for all.
pub fn ended_event(task: &Task) -> serde_json::Value {
    serde_json::json!({
        "id": task.id,
        "state": task.state,
        "exit_code": task.exit_code,
        "error": task.error,
        "attempts": task.attempts,
    })
}

/// How many characters of a prompt `task.list` shows.
pub const LIST_PROMPT_CHARS: usize = 1000;

/// Why the supervisor stopped an agent before it exited on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Its time limit passed.
    Timeout,
    /// Someone cancelled the task.
    Cancelled,
    /// The daemon is stopping.
    Shutdown,
}

/// How an agent ended, as the supervisor saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentEnd {
    /// Its exit code, when it exited.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    /// Why the supervisor stopped it, if it did.
    pub stopped: Option<StopReason>,
    /// The last lines it wrote.
    pub last_lines: String,
}

/// The final record of a run: the state and what to store with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The state to move to.
    pub state: TaskState,
    /// The exit code to record.
    pub exit_code: Option<i32>,
    /// The explanation to record.
    pub error: Option<String>,
}

/// What a finished run means for its task.
pub fn outcome(end: &AgentEnd, timeout_s: u64) -> Outcome {
    let tail = |text: String| match end.last_lines.trim_end() {
        "" => text,
        lines => format!("{text}; last output:\n{lines}"),
    };
    match (end.stopped, end.exit_code, end.signal) {
        (Some(StopReason::Timeout), code, _) => Outcome {
            state: TaskState::Timeout,
            exit_code: code,
            error: Some(tail(format!("stopped after its timeout of {timeout_s} s"))),
        },
        (Some(StopReason::Cancelled), code, _) => {
            Outcome { state: TaskState::Cancelled, exit_code: code, error: Some("cancelled while running".into()) }
        }
        (Some(StopReason::Shutdown), code, _) => Outcome {
            state: TaskState::Interrupted,
            exit_code: code,
            error: Some("interrupted: the daemon stopped while it ran".into()),
        },
        (None, Some(0), _) => Outcome { state: TaskState::Completed, exit_code: Some(0), error: None },
        (None, Some(code), _) => Outcome {
            state: TaskState::Failed,
            exit_code: Some(code),
            error: Some(tail(format!("exited with code {code}"))),
        },
        (None, None, Some(signal)) => Outcome {
            state: TaskState::Failed,
            exit_code: None,
            error: Some(tail(format!("killed by signal {signal}"))),
        },
        (None, None, None) => Outcome {
            state: TaskState::Failed,
            exit_code: None,
            error: Some(tail("ended without an exit status".into())),
        },
    }
}

/// What becomes of a task a previous daemon left running or interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Queue it again.
    Requeue,
    /// It has been started too often: fail it with this explanation.
    GiveUp(String),
}

/// How many times a task may be started before an interruption fails it.
pub const MAX_ATTEMPTS: u32 = 3;

/// Decides the fate of an interrupted task that was started `attempts` times.
pub fn recovery(attempts: u32) -> Recovery {
    if attempts < MAX_ATTEMPTS {
        Recovery::Requeue
    } else {
        Recovery::GiveUp(format!(
            "interrupted {attempts} times (the daemon stopped or crashed while it ran); not started again"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(exit_code: Option<i32>, signal: Option<i32>, stopped: Option<StopReason>) -> AgentEnd {
        AgentEnd { exit_code, signal, stopped, last_lines: "line one\nline two\n".into() }
    }

    #[test]
    fn every_way_an_agent_can_end() {
        let cases = [
            (end(Some(0), None, None), TaskState::Completed, Some(0), None),
            (
                end(Some(3), None, None),
                TaskState::Failed,
                Some(3),
                Some("exited with code 3; last output:\nline one\nline two"),
            ),
            (
                end(None, Some(9), None),
                TaskState::Failed,
                None,
                Some("killed by signal 9; last output:\nline one\nline two"),
            ),
            (
                end(None, None, None),
                TaskState::Failed,
                None,
                Some("ended without an exit status; last output:\nline one\nline two"),
            ),
            (
                end(Some(0), None, Some(StopReason::Timeout)),
                TaskState::Timeout,
                Some(0),
                Some("stopped after its timeout of 60 s; last output:\nline one\nline two"),
            ),
            (
                end(None, Some(9), Some(StopReason::Timeout)),
                TaskState::Timeout,
                None,
                Some("stopped after its timeout of 60 s; last output:\nline one\nline two"),
            ),
            (
                end(Some(143), None, Some(StopReason::Cancelled)),
                TaskState::Cancelled,
                Some(143),
                Some("cancelled while running"),
            ),
            (
                end(None, Some(15), Some(StopReason::Shutdown)),
                TaskState::Interrupted,
                None,
                Some("interrupted: the daemon stopped while it ran"),
            ),
            // Exiting 0 after being asked to stop is still a stop, not a success.
            (
                end(Some(0), None, Some(StopReason::Shutdown)),
                TaskState::Interrupted,
                Some(0),
                Some("interrupted: the daemon stopped while it ran"),
            ),
        ];
        for (end, state, exit_code, error) in cases {
            let got = outcome(&end, 60);
            assert_eq!(got, Outcome { state, exit_code, error: error.map(str::to_owned) }, "{end:?}");
        }
    }

    #[test]
    fn no_output_means_no_tail_in_the_message() {
        let end = AgentEnd { exit_code: Some(1), signal: None, stopped: None, last_lines: " \n".into() };
        assert_eq!(outcome(&end, 1).error.as_deref(), Some("exited with code 1"));
    }

    #[test]
    fn interrupted_tasks_are_requeued_until_they_have_used_their_attempts() {
        assert_eq!(recovery(0), Recovery::Requeue);
        assert_eq!(recovery(MAX_ATTEMPTS - 1), Recovery::Requeue);
        let Recovery::GiveUp(why) = recovery(MAX_ATTEMPTS) else { panic!("gives up") };
        assert!(why.contains("interrupted 3 times"));
        assert!(matches!(recovery(MAX_ATTEMPTS + 5), Recovery::GiveUp(_)));
    }

    #[test]
    fn state_names_round_trip_and_final_states_are_final() {
        for state in TaskState::ALL {
            assert_eq!(TaskState::parse(state.as_str()), Some(state));
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
        assert_eq!(TaskState::parse("done"), None);
        let finals: Vec<_> = TaskState::ALL.into_iter().filter(|s| s.is_final()).collect();
        assert_eq!(finals, vec![TaskState::Completed, TaskState::Failed, TaskState::Cancelled, TaskState::Timeout]);
    }
}
