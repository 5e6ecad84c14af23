//! The automation sections: `[watch]`, `[[schedule]]` and `[[rules]]`, as written in the file.
//!
//! Triggers, conditions and actions are read into flat tables with a `type` key and optional
//! fields rather than into tagged enums: serde's tagged enums buffer their content and lose the
//! position of a bad value, while a flat table keeps every key's line, so an error can point at
//! it. Which fields a type takes is checked afterwards, with the rule named, by
//! `automation::compile`.

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// `[watch]`: which files the daemon watches for `file_change` rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WatchConfig {
    /// Off by default: watching costs a kernel watch per directory.
    pub enabled: bool,
    /// Project-relative directories or files; `.` is the whole project.
    pub paths: Vec<String>,
    /// Lines in `.gitignore` syntax, relative to the project root.
    pub ignore: Vec<String>,
    /// Quiet time before a batch of changes is delivered.
    pub debounce_ms: u64,
}

impl Default for WatchConfig {
    fn default() -> Self {
        WatchConfig {
            enabled: false,
            paths: vec!["src/".to_owned()],
            ignore: vec!["target/".to_owned(), ".git/".to_owned(), "*.log".to_owned()],
            debounce_ms: 1000,
        }
    }
}

/// One `[[schedule]]`: a prompt submitted as a task on a cron schedule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Unique among schedules and rules; `automation disable --rule NAME` takes it.
    pub name: String,
    /// 5 fields (minute precision) or 6 with seconds, or a macro such as `@daily`.
    pub cron: String,
    /// What the task is asked to do.
    pub prompt: String,
    #[serde(default)]
    pub priority: i64,
    /// A named agent; absent means `[agent]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// `local` (the default), `UTC` or an IANA name such as `Europe/Berlin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Run once at start when fire times were missed while the daemon was down.
    #[serde(default)]
    pub catch_up: bool,
    /// The task's time limit in minutes; absent means `[daemon].task_timeout_min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_min: Option<u64>,
}

/// One `[[rules]]`: trigger -> condition -> action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Unique among rules and schedules.
    pub id: String,
    pub trigger: TriggerConfig,
    /// One condition or a list applied in order; absent means `always`.
    #[serde(default, skip_serializing_if = "Conditions::is_empty")]
    pub condition: Conditions,
    pub action: ActionConfig,
}

/// What starts a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerType {
    FileChange,
    Schedule,
    Event,
}

impl TriggerType {
    /// As written in the file.
    pub fn name(self) -> &'static str {
        match self {
            TriggerType::FileChange => "file_change",
            TriggerType::Schedule => "schedule",
            TriggerType::Event => "event",
        }
    }
}

/// `trigger = { type = ..., ... }`; which of the other keys apply depends on `type`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TriggerConfig {
    #[serde(rename = "type")]
    pub kind: TriggerType,
    /// file_change: a glob on the project-relative path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pattern: Option<String>,
    /// file_change: which kinds of change count (`create`, `modify`, `delete`, `rename`); all if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<String>>,
    /// schedule: the cron expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// schedule: the time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// schedule: run once at start after missed fire times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<bool>,
    /// event: a topic or a glob such as `task:*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
}

/// What a condition does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConditionType {
    Always,
    Debounce,
    Cooldown,
    Match,
}

impl ConditionType {
    /// As written in the file.
    pub fn name(self) -> &'static str {
        match self {
            ConditionType::Always => "always",
            ConditionType::Debounce => "debounce",
            ConditionType::Cooldown => "cooldown",
            ConditionType::Match => "match",
        }
    }
}

/// `condition = { type = ..., ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionConfig {
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// debounce, cooldown: milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u64>,
    /// match: what to look at: `topic`, `paths`, or `data.NAME` (dotted for nested values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// match: the value it must equal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<Value>,
    /// match: a regular expression it must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// `condition`: one table, or an array of tables applied in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions {
    /// The conditions in order; empty means `always`.
    pub list: Vec<ConditionConfig>,
    /// Written as an array (kept so that `config show` writes it back the same way).
    pub as_array: bool,
}

impl Conditions {
    /// No condition given.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.list.as_slice() {
            [one] if !self.as_array => one.serialize(serializer),
            list => list.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrMany;
        impl<'de> Visitor<'de> for OneOrMany {
            type Value = Conditions;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a condition table such as { type = \"debounce\", interval_ms = 5000 }, or an array of them",
                )
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Conditions, A::Error> {
                let one = ConditionConfig::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Conditions { list: vec![one], as_array: false })
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Conditions, A::Error> {
                let mut list = Vec::new();
                while let Some(one) = seq.next_element::<ConditionConfig>()? {
                    list.push(one);
                }
                Ok(Conditions { list, as_array: true })
            }
        }
        deserializer.deserialize_any(OneOrMany)
    }
}

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionType {
    SubmitTask,
    EmitEvent,
}

impl ActionType {
    /// As written in the file.
    pub fn name(self) -> &'static str {
        match self {
            ActionType::SubmitTask => "submit_task",
            ActionType::EmitEvent => "emit_event",
        }
    }
}

/// `action = { type = ..., ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionConfig {
    #[serde(rename = "type")]
    pub kind: ActionType,
    /// submit_task: the prompt; `{{paths}}`, `{{topic}}`, `{{rule}}` and `{{data.NAME}}` are filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// submit_task: the task's priority (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    /// submit_task: a named agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// submit_task: labels of the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// submit_task: the task's time limit in minutes; absent means `[daemon].task_timeout_min`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_min: Option<u64>,
    /// emit_event: the topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// emit_event: the event's data; strings in it are filled in like a prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}
