//! The session state machine as tables: each state against each event.

use super::*;

const LIMITS: Limits = Limits { max_attempts: 3 };

fn events() -> Vec<SessionEvent> {
    vec![
        SessionEvent::Prepared,
        SessionEvent::StepFailed { error: "git failed".into() },
        SessionEvent::AgentStarted { task: 4 },
        SessionEvent::AgentEnded(AgentOutcome::Completed { commits: true }),
        SessionEvent::AgentEnded(AgentOutcome::Completed { commits: false }),
        SessionEvent::AgentEnded(AgentOutcome::Asked { question: "which?".into() }),
        SessionEvent::AgentEnded(AgentOutcome::Failed { error: "exit 2".into() }),
        SessionEvent::AgentEnded(AgentOutcome::Vanished),
        SessionEvent::Published { pull: 9 },
        SessionEvent::ChecksPassed,
        SessionEvent::ChecksFailed { summary: "tests: 2 failed".into() },
        SessionEvent::Answered { answer: "the second".into(), by: "alice".into() },
        SessionEvent::TimedOut,
        SessionEvent::Cancel,
        SessionEvent::Resume,
    ]
}

/// `state` after `event` at `attempts`, or `None` when refused.
fn next(state: SessionState, attempts: u32, event: &SessionEvent) -> Option<(SessionState, u32)> {
    transition(state, attempts, event, LIMITS).ok().map(|t| (t.state, t.attempts))
}

#[test]
fn every_state_against_every_event() {
    use SessionState as S;
    // (state, attempts) -> expected next state per event, in the order of `events()`; None = refused.
    let r = None;
    type Row = (S, u32, [Option<(S, u32)>; 15]);
    let table: Vec<Row> = vec![
        (
            S::Preparing,
            0,
            [
                Some((S::Running, 1)),
                Some((S::Preparing, 1)),
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                Some((S::Escalated, 0)),
                Some((S::Cancelled, 0)),
                r,
            ],
        ),
        (
            S::Running,
            1,
            [
                r,
                Some((S::Preparing, 2)),
                Some((S::Running, 1)),
                Some((S::Publishing, 1)),
                Some((S::Escalated, 1)),
                Some((S::Paused, 1)),
                Some((S::Running, 2)),
                Some((S::Running, 2)),
                r,
                r,
                r,
                r,
                Some((S::Escalated, 1)),
                Some((S::Cancelled, 1)),
                r,
            ],
        ),
        (
            S::Running,
            3,
            [
                r,
                Some((S::Escalated, 3)),
                Some((S::Running, 3)),
                Some((S::Publishing, 3)),
                Some((S::Escalated, 3)),
                Some((S::Paused, 3)),
                Some((S::Escalated, 3)),
                Some((S::Escalated, 3)),
                r,
                r,
                r,
                r,
                Some((S::Escalated, 3)),
                Some((S::Cancelled, 3)),
                r,
            ],
        ),
        (
            S::Publishing,
            1,
            [
                r,
                Some((S::Escalated, 1)),
                r,
                r,
                r,
                r,
                r,
                r,
                Some((S::Checking, 1)),
                r,
                r,
                r,
                Some((S::Escalated, 1)),
                Some((S::Cancelled, 1)),
                r,
            ],
        ),
        (
            S::Checking,
            1,
            [
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                Some((S::Done, 1)),
                Some((S::Running, 2)),
                r,
                Some((S::Escalated, 1)),
                Some((S::Cancelled, 1)),
                r,
            ],
        ),
        (
            S::Checking,
            3,
            [
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                r,
                Some((S::Done, 3)),
                Some((S::Escalated, 3)),
                r,
                Some((S::Escalated, 3)),
                Some((S::Cancelled, 3)),
                r,
            ],
        ),
        (
            S::Paused,
            2,
            [r, r, r, r, r, r, r, r, r, r, r, Some((S::Running, 2)), r, Some((S::Cancelled, 2)), Some((S::Running, 2))],
        ),
        (S::Done, 2, [r; 15]),
        (S::Escalated, 3, [r, r, r, r, r, r, r, r, r, r, r, r, r, r, Some((S::Running, 1))]),
        (S::Cancelled, 1, [r; 15]),
    ];
    let events = events();
    let mut covered = std::collections::HashSet::new();
    for (state, attempts, expected) in table {
        covered.insert(state);
        for (event, expected) in events.iter().zip(expected) {
            assert_eq!(next(state, attempts, event), expected, "{state:?} at {attempts} after {event:?}");
        }
    }
    assert_eq!(covered.len(), SessionState::ALL.len(), "every state has rows");
}

#[test]
fn effects_say_what_to_do() {
    use SessionState as S;
    let effects =
        |state, attempts, event: SessionEvent| transition(state, attempts, &event, LIMITS).expect("allowed").effects;
    assert_eq!(start().effects[0], Effect::PrepareWorktree);
    assert_eq!(start().state, S::Preparing);
    assert_eq!(effects(S::Preparing, 0, SessionEvent::Prepared)[0], Effect::StartAgent(Turn::First));
    // The in-progress label comes only once the agent runs.
    assert_eq!(effects(S::Running, 1, SessionEvent::AgentStarted { task: 3 })[0], Effect::LabelInProgress);
    assert!(!effects(S::Preparing, 0, SessionEvent::Prepared).contains(&Effect::LabelInProgress));
    assert_eq!(
        effects(S::Checking, 1, SessionEvent::ChecksFailed { summary: "lint".into() })[0],
        Effect::StartAgent(Turn::Corrective { summary: "lint".into() })
    );
    assert_eq!(
        effects(S::Running, 1, SessionEvent::AgentEnded(AgentOutcome::Asked { question: "q?".into() }))[0],
        Effect::AskHuman { question: "q?".into() }
    );
    // An answer (or a person's resume) takes the needs-input label away before the agent runs.
    assert_eq!(
        &effects(S::Paused, 1, SessionEvent::Answered { answer: "a".into(), by: "bob".into() })[..2],
        &[Effect::ClearNeedsInput, Effect::StartAgent(Turn::Answer { answer: "a".into() })]
    );
    assert_eq!(
        &effects(S::Paused, 1, SessionEvent::Resume)[..2],
        &[Effect::ClearNeedsInput, Effect::StartAgent(Turn::Resumed)]
    );
    assert_eq!(
        effects(S::Running, 2, SessionEvent::AgentEnded(AgentOutcome::Vanished))[0],
        Effect::StartAgent(Turn::Respawn)
    );
    let done = effects(S::Checking, 1, SessionEvent::ChecksPassed);
    // The end label goes on before the session's labels come off: no moment looks ready.
    assert_eq!(&done[..2], &[Effect::Finish, Effect::ClearLabels]);
    let escalated = effects(S::Checking, 3, SessionEvent::ChecksFailed { summary: "x".into() });
    assert!(matches!(&escalated[0], Effect::Escalate { reason } if reason.contains("all 3 attempts are used")));
    assert_eq!(escalated[1], Effect::ClearLabels);
    let no_commits = effects(S::Running, 1, SessionEvent::AgentEnded(AgentOutcome::Completed { commits: false }));
    assert!(matches!(&no_commits[0], Effect::Escalate { reason } if reason.contains("without making a commit")));
    // Cancelling or timing out a running session stops its agent first.
    assert_eq!(effects(S::Running, 1, SessionEvent::Cancel)[0], Effect::StopAgent);
    assert_eq!(&effects(S::Checking, 1, SessionEvent::Cancel)[..2], &[Effect::ClearReady, Effect::ClearLabels]);
    assert_eq!(effects(S::Running, 1, SessionEvent::TimedOut)[0], Effect::StopAgent);
}

#[test]
fn refusals_name_the_state_and_event() {
    let refused = transition(SessionState::Done, 1, &SessionEvent::Cancel, LIMITS).expect_err("over");
    assert_eq!(refused.to_string(), "a session that is done cannot take cancel");
    let refused =
        transition(SessionState::Running, 1, &SessionEvent::Answered { answer: "a".into(), by: "b".into() }, LIMITS)
            .expect_err("asked nothing");
    assert_eq!(refused.to_string(), "a session that is running cannot take answered");
}

#[test]
fn states_by_kind() {
    for state in SessionState::ALL {
        assert_eq!(SessionState::parse(state.name()), Some(state));
        assert!(!(state.is_over() && state.is_active()));
    }
    assert!(!SessionState::Paused.is_active() && !SessionState::Paused.is_over());
    assert!(SessionState::Preparing.is_active());
    assert!(SessionState::Escalated.is_over());
}
