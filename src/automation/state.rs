//! What the engine remembers about each rule, what of it is stored, and the status it reports.

use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::watch::WatchStatus;

/// The part of a rule's state that survives restarts (table `rule_state`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredState {
    /// The rule's or schedule's id.
    pub id: String,
    pub enabled: bool,
    pub fire_count: u64,
    pub last_fired: Option<DateTime<Utc>>,
    /// Schedules: fire times up to here have been dealt with (fired or deliberately skipped),
    /// so a restart knows which ones it missed.
    pub cursor: Option<DateTime<Utc>>,
}

impl StoredState {
    /// A rule never seen before: enabled, never fired.
    pub fn new(id: &str) -> Self {
        Self { id: id.to_owned(), enabled: true, fire_count: 0, last_fired: None, cursor: None }
    }
}

/// Why a trigger did not lead to a firing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    #[serde(with = "crate::events::rfc3339")]
    pub at: DateTime<Utc>,
    /// `cooldown`, `chain`, `missed`.
    pub reason: String,
    /// In words.
    pub detail: String,
}

/// Everything the engine knows about one rule.
#[derive(Debug, Clone)]
pub(crate) struct RuleState {
    pub(crate) stored: StoredState,
    /// Schedules: the next fire time.
    pub(crate) next_fire: Option<DateTime<Utc>>,
    /// Since the daemon started: how often the trigger matched.
    pub(crate) triggered: u64,
    /// Since the daemon started: how often a trigger was suppressed (cooldown, chain limit,
    /// missed fire times).
    pub(crate) suppressed: u64,
    pub(crate) last_suppressed: Option<Suppression>,
    /// Triggers held by debounce conditions, by condition index.
    pub(crate) pending: Vec<Pending>,
}

impl RuleState {
    pub(crate) fn new(stored: StoredState) -> Self {
        Self { stored, next_fire: None, triggered: 0, suppressed: 0, last_suppressed: None, pending: Vec::new() }
    }
}

/// A trigger held by a debounce condition until activity settles.
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    /// Which condition holds it.
    pub(crate) stage: usize,
    pub(crate) occurrence: super::engine::Occurrence,
    pub(crate) deadline: Instant,
    pub(crate) deadline_wall: DateTime<Utc>,
}

/// One rule in `automation.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleStatus {
    pub id: String,
    pub enabled: bool,
    /// The trigger as written (`{type, pattern}`, `{type, cron}`, `{type, topic}`).
    pub trigger: Value,
    /// The conditions as written, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Value>,
    /// `submit_task` or `emit_event`.
    pub action: String,
    pub fire_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_time")]
    pub last_fired: Option<DateTime<Utc>>,
    /// Schedule triggers: the next fire time.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_time")]
    pub next_fire: Option<DateTime<Utc>>,
    /// A debounce is holding triggers until then.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_time")]
    pub pending_until: Option<DateTime<Utc>>,
    /// Since the daemon started.
    pub triggered: u64,
    /// Since the daemon started.
    pub suppressed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_suppressed: Option<Suppression>,
}

/// One `[[schedule]]` in `automation.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduleStatus {
    pub name: String,
    pub enabled: bool,
    pub cron: String,
    /// `local`, `UTC` or an IANA name.
    pub timezone: String,
    pub catch_up: bool,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_time")]
    pub next_fire: Option<DateTime<Utc>>,
    pub fire_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "optional_time")]
    pub last_fired: Option<DateTime<Utc>>,
    /// Since the daemon started.
    pub suppressed: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_suppressed: Option<Suppression>,
}

/// `[watch]` in `automation.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchState {
    pub enabled: bool,
    /// The configured paths.
    pub paths: Vec<String>,
    /// Directories with a kernel watch; absent while starting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directories: Option<usize>,
    /// Rescans after the kernel's event queue overflowed.
    #[serde(default)]
    pub rescans: u64,
    /// What keeps it from watching everything, with the fix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<Value>,
}

impl WatchState {
    /// The state of a running watcher.
    pub fn from_status(paths: Vec<String>, status: &WatchStatus) -> Self {
        WatchState {
            enabled: true,
            paths,
            directories: Some(status.directories),
            rescans: status.rescans,
            problem: status.problem.as_ref().and_then(|problem| serde_json::to_value(problem).ok()),
        }
    }
}

/// `automation.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationStatus {
    /// Off: no rule or schedule fires, whatever its own flag says.
    pub enabled: bool,
    pub rules: Vec<RuleStatus>,
    pub schedules: Vec<ScheduleStatus>,
    pub watch: WatchState,
}

/// Optional RFC 3339 times.
pub mod optional_time {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises a time that may be absent.
    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => crate::events::rfc3339::serialize(time, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Parses a time that may be absent.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<String>::deserialize(deserializer)?;
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}
