//! Policy: whether a loop may act at all, and whether the run loop may work on an issue.
//!
//! Pure functions over facts the adapter gathered (labels, who applied the ready label and with
//! which permission, the state of blocking issues, sessions). Anything the facts leave in doubt
//! is a skip: a label nobody can be found to have applied, a permission that could not be looked
//! up, a blocking issue whose state is unknown. Every decision carries its reason, which becomes
//! an event and is recorded on the session.

use serde::Serialize;

use crate::config::{Mode, PolicyConfig};
use crate::github::{Permission, TimelineEvent};

/// The GitHub loops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Loop {
    Triage,
    Feedback,
    Run,
}

impl Loop {
    /// Every loop.
    pub const ALL: [Loop; 3] = [Loop::Triage, Loop::Feedback, Loop::Run];

    /// As written in `steward.tick {loop}`.
    pub fn name(self) -> &'static str {
        match self {
            Loop::Triage => "triage",
            Loop::Feedback => "feedback",
            Loop::Run => "run",
        }
    }

    /// Parses a loop name.
    pub fn parse(name: &str) -> Option<Loop> {
        Loop::ALL.into_iter().find(|candidate| candidate.name() == name)
    }

    /// Whether the loop runs in `mode`: run includes feedback (a paused session needs its answer
    /// read), full is everything.
    pub fn active_in(self, mode: Mode) -> bool {
        matches!(
            (mode, self),
            (Mode::Triage, Loop::Triage)
                | (Mode::Feedback, Loop::Feedback)
                | (Mode::Run, Loop::Run | Loop::Feedback)
                | (Mode::Full, _)
        )
    }
}

/// Why a loop or an issue is left alone.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Skip {
    /// The mode in force does not include this loop.
    ModeOff { mode: Mode, r#loop: Loop },
    /// `.steward/STOP` exists.
    KillSwitch,
    /// The repository is not in `policy.allow`.
    RepoNotAllowed { repo: String },
    /// The issue carries a block label.
    BlockLabel { label: String },
    /// The issue already has a session that is not over.
    InSession { session: u64 },
    /// steward's own label says the issue is handled (done, handed to a human, in progress
    /// without a session of this daemon).
    Handled { label: String },
    /// The issue does not carry the ready label.
    NotReady,
    /// The ready label is there, but no `labeled` event says who applied it.
    ReadyLabelUnattributed,
    /// The ready label was applied by someone without write access.
    ReadyLabelUntrusted { login: String, permission: Permission },
    /// The permission of whoever applied the ready label could not be looked up.
    ReadyLabelUnverified { login: String },
    /// "Blocked by #N" names an open issue.
    BlockedBy { issue: u64 },
    /// "Blocked by #N" names an issue whose state could not be looked up.
    BlockedByUnknown { issue: u64 },
    /// As many sessions run as `policy.max_active_sessions` allows.
    ActiveCapacity { active: u32, max: u32 },
    /// As many sessions wait for humans as `policy.max_paused_sessions` allows.
    PausedCapacity { paused: u32, max: u32 },
    /// A comment after the question by someone whose association is not trusted.
    UntrustedAnswer { login: String, association: String },
}

impl Skip {
    /// A short machine name (`block_label`, `not_ready`, ...).
    pub fn code(&self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|value| value.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
            .unwrap_or_default()
    }

    /// In words, for events, logs and the session record.
    pub fn describe(&self) -> String {
        match self {
            Skip::ModeOff { mode, r#loop } => {
                format!("the {} loop does not run in mode {}", r#loop.name(), mode.name())
            }
            Skip::KillSwitch => ".steward/STOP exists (the kill switch); remove it to let the loops act".to_owned(),
            Skip::RepoNotAllowed { repo } => {
                format!("{repo} is not in policy.allow; add it there to let steward act on it")
            }
            Skip::BlockLabel { label } => format!("it carries the label {label}"),
            Skip::InSession { session } => format!("session {session} is already working on it"),
            Skip::Handled { label } => format!("it carries {label}; remove it to let steward work on it again"),
            Skip::NotReady => "it does not carry the ready label".to_owned(),
            Skip::ReadyLabelUnattributed => {
                "the ready label is there but its timeline does not say who applied it".to_owned()
            }
            Skip::ReadyLabelUntrusted { login, permission } => format!(
                "the ready label was applied by {login}, whose permission is {}; it takes write, maintain or admin",
                permission.name()
            ),
            Skip::ReadyLabelUnverified { login } => {
                format!("the permission of {login}, who applied the ready label, could not be looked up")
            }
            Skip::BlockedBy { issue } => format!("it is blocked by #{issue}, which is open"),
            Skip::BlockedByUnknown { issue } => format!("it names #{issue} as blocking, whose state is unknown"),
            Skip::ActiveCapacity { active, max } => {
                format!("{active} of {max} sessions are active (policy.max_active_sessions)")
            }
            Skip::PausedCapacity { paused, max } => {
                format!("{paused} of {max} sessions wait for answers (policy.max_paused_sessions)")
            }
            Skip::UntrustedAnswer { login, association } => format!(
                "the comment by {login} ({association}) is not taken as an answer: policy.trusted_associations \
                 does not include {association}"
            ),
        }
    }
}

/// The gates every loop passes before it makes a single call: the mode includes it, the kill
/// switch is off, and the repository is allowed.
pub fn gates(mode: Mode, r#loop: Loop, kill_switch: bool, repo: &str, allow: &[String]) -> Result<(), Skip> {
    if !r#loop.active_in(mode) {
        return Err(Skip::ModeOff { mode, r#loop });
    }
    if kill_switch {
        return Err(Skip::KillSwitch);
    }
    if !allow.iter().any(|allowed| allowed.eq_ignore_ascii_case(repo)) {
        return Err(Skip::RepoNotAllowed { repo: repo.to_owned() });
    }
    Ok(())
}

/// The first of `labels` that blocks automation, if any.
pub fn block_label<'l>(labels: &'l [String], policy: &PolicyConfig) -> Option<&'l String> {
    labels.iter().find(|label| policy.block_labels.iter().any(|block| block.eq_ignore_ascii_case(label)))
}

/// Who applied `label` last, from an issue's timeline.
pub fn labeller(timeline: &[TimelineEvent], label: &str) -> Option<String> {
    timeline
        .iter()
        .filter(|event| {
            event.event == "labeled" && event.label.as_deref().is_some_and(|l| l.eq_ignore_ascii_case(label))
        })
        .filter_map(|event| event.actor.clone())
        .next_back()
}

/// The issue numbers an issue's body names as blocking it: "Blocked by #12", any case.
pub fn blocked_by(body: &str) -> Vec<u64> {
    let lower = body.to_lowercase();
    let mut found = Vec::new();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("blocked by") {
        // "unblocked by #3" says the opposite.
        let whole_word = !rest[..at].ends_with(|c: char| c.is_alphanumeric());
        let after = rest[at + "blocked by".len()..].trim_start();
        if whole_word && let Some(digits) = after.strip_prefix('#') {
            let number: String = digits.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(number) = number.parse::<u64>()
                && !found.contains(&number)
            {
                found.push(number);
            }
        }
        rest = &rest[at + "blocked by".len()..];
    }
    found
}

/// Who applied the ready label, as far as it could be found out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Labeller {
    /// The timeline has no `labeled` event for it.
    Unknown,
    /// This user; their permission, if the lookup succeeded.
    User { login: String, permission: Option<Permission> },
}

/// A blocking issue and its state (`None`: the lookup failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Blocker {
    pub issue: u64,
    pub open: Option<bool>,
}

/// What the run loop knows about one issue.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub number: u64,
    pub labels: Vec<String>,
    /// Only looked up when the ready label is there.
    pub labeller: Option<Labeller>,
    pub blockers: Vec<Blocker>,
    /// A session that is not over, if any.
    pub session: Option<u64>,
}

/// Sessions now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capacity {
    pub active: u32,
    pub paused: u32,
}

/// steward's labels that keep the run loop away from an issue without a live session.
pub const HANDLED_LABELS: &[&str] = &["steward:done", "steward:needs-human", "steward:in-progress"];

/// Whether the run loop may start a session on `candidate` (the gates passed already).
pub fn decide_run(candidate: &Candidate, capacity: Capacity, policy: &PolicyConfig) -> Result<(), Skip> {
    if let Some(label) = block_label(&candidate.labels, policy) {
        return Err(Skip::BlockLabel { label: label.clone() });
    }
    if let Some(session) = candidate.session {
        return Err(Skip::InSession { session });
    }
    if let Some(label) =
        candidate.labels.iter().find(|label| HANDLED_LABELS.iter().any(|handled| handled.eq_ignore_ascii_case(label)))
    {
        return Err(Skip::Handled { label: label.clone() });
    }
    if !candidate.labels.iter().any(|label| label.eq_ignore_ascii_case(&policy.ready_label)) {
        return Err(Skip::NotReady);
    }
    match &candidate.labeller {
        None | Some(Labeller::Unknown) => return Err(Skip::ReadyLabelUnattributed),
        Some(Labeller::User { login, permission: None }) => {
            return Err(Skip::ReadyLabelUnverified { login: login.clone() });
        }
        Some(Labeller::User { login, permission: Some(permission) }) if !permission.can_write() => {
            return Err(Skip::ReadyLabelUntrusted { login: login.clone(), permission: *permission });
        }
        Some(Labeller::User { .. }) => {}
    }
    for blocker in &candidate.blockers {
        match blocker.open {
            Some(true) => return Err(Skip::BlockedBy { issue: blocker.issue }),
            None => return Err(Skip::BlockedByUnknown { issue: blocker.issue }),
            Some(false) => {}
        }
    }
    if capacity.active >= policy.max_active_sessions {
        return Err(Skip::ActiveCapacity { active: capacity.active, max: policy.max_active_sessions });
    }
    if capacity.paused >= policy.max_paused_sessions {
        return Err(Skip::PausedCapacity { paused: capacity.paused, max: policy.max_paused_sessions });
    }
    Ok(())
}

/// The `n` of an issue's highest `priority:<n>` label; 0 without one.
pub fn priority(labels: &[String]) -> i64 {
    labels
        .iter()
        .filter_map(|label| label.strip_prefix("priority:").and_then(|n| n.trim().parse::<i64>().ok()))
        .max()
        .unwrap_or(0)
}

/// Issues in the order the run loop considers them: highest `priority:<n>` first, then lowest
/// number.
pub fn run_order(issues: &mut [(u64, Vec<String>)]) {
    issues.sort_by(|(a, a_labels), (b, b_labels)| priority(b_labels).cmp(&priority(a_labels)).then(a.cmp(b)));
}

/// Whether a comment's author may answer a session's question.
pub fn trusted_answer(author_association: &str, policy: &PolicyConfig) -> bool {
    policy.trusted_associations.iter().any(|trusted| trusted.eq_ignore_ascii_case(author_association))
}

#[cfg(test)]
mod tests;
