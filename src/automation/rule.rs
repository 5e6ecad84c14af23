//! A rule as the engine uses it: checked, with its globs, cron schedule, regexes and templates
//! compiled once when the configuration loads.

use std::time::Duration;

use globset::GlobMatcher;
use regex::Regex;
use serde_json::Value;

use super::cron::Schedule;
use super::template::{DataTemplate, Template};
use super::watch::ChangeKind;
use crate::config::{ConditionType, TriggerType};
use crate::events::TopicFilter;

/// Where a rule was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `[[rules]]` entry.
    Rule,
    /// A `[[schedule]]` entry: a schedule trigger and a submit_task action.
    Schedule,
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Unique among rules and schedules.
    pub id: String,
    /// `[[rules]]` or `[[schedule]]`.
    pub origin: Origin,
    pub trigger: Trigger,
    /// Applied in order; empty means always.
    pub conditions: Vec<Condition>,
    pub action: Action,
    /// The rule as written (JSON of its configuration): a reload keeps a rule's pending state
    /// only when this is unchanged.
    pub written: Value,
}

/// What starts a rule.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// A change under the watched paths whose project-relative path matches `glob`.
    FileChange {
        /// As written.
        pattern: String,
        glob: GlobMatcher,
        /// The kinds of change that count; all when `None`.
        kinds: Option<Vec<ChangeKind>>,
    },
    /// A cron schedule.
    Schedule {
        /// Boxed: a parsed expression is far larger than the other triggers.
        schedule: Box<Schedule>,
        /// Run once at start when fire times were missed while the daemon was down.
        catch_up: bool,
    },
    /// An event whose topic matches.
    Event {
        /// As written.
        topic: String,
        filter: TopicFilter,
    },
}

impl Trigger {
    /// Which kind of trigger.
    pub fn kind(&self) -> TriggerType {
        match self {
            Trigger::FileChange { .. } => TriggerType::FileChange,
            Trigger::Schedule { .. } => TriggerType::Schedule,
            Trigger::Event { .. } => TriggerType::Event,
        }
    }
}

/// A condition between trigger and action.
#[derive(Debug, Clone)]
pub enum Condition {
    /// Passes everything.
    Always,
    /// Holds triggers until none came for the interval, then passes one with all their paths.
    Debounce(Duration),
    /// Passes a trigger only when the rule has not fired within the interval.
    Cooldown(Duration),
    /// Passes a trigger whose field equals a value or matches a regex.
    Match {
        /// As written (`topic`, `paths`, `data.NAME`).
        field: String,
        /// Where it points.
        target: Field,
        test: MatchTest,
    },
}

impl Condition {
    /// Which kind of condition.
    pub fn kind(&self) -> ConditionType {
        match self {
            Condition::Always => ConditionType::Always,
            Condition::Debounce(_) => ConditionType::Debounce,
            Condition::Cooldown(_) => ConditionType::Cooldown,
            Condition::Match { .. } => ConditionType::Match,
        }
    }
}

/// What a `match` condition looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Topic,
    /// Matches when any of the paths does.
    Paths,
    /// The event's data, or a value inside it.
    Data(Vec<String>),
}

/// How a `match` condition tests its field.
#[derive(Debug, Clone)]
pub enum MatchTest {
    Equals(Value),
    Regex(Regex),
}

/// What a rule does when it fires.
#[derive(Debug, Clone)]
pub enum Action {
    /// Submits a task.
    SubmitTask {
        prompt: Template,
        priority: i64,
        /// A named agent; `None` for `[agent]`.
        agent: Option<String>,
        labels: Vec<String>,
        /// `None`: `[daemon].task_timeout_min`.
        timeout_s: Option<u64>,
    },
    /// Emits an event.
    EmitEvent { topic: String, data: Option<DataTemplate> },
}

impl Action {
    /// As written in the file.
    pub fn name(&self) -> &'static str {
        match self {
            Action::SubmitTask { .. } => "submit_task",
            Action::EmitEvent { .. } => "emit_event",
        }
    }
}
