//! Configuration: `.steward/steward.toml`, read into plain structs with every default filled in.
//!
//! Reading happens in two passes over the same text. `toml::de::DeTable` keeps the span of every
//! key and value; serde (with `deny_unknown_fields`) turns it into [`Config`]; `validate` then
//! checks ranges as a pure function. Whatever goes wrong is mapped back onto the spanned document
//! by `diagnose` so that the error names the file, the line, the dotted key and the fix.
//!
//! Adding a section: a struct with `#[serde(deny_unknown_fields, default)]` and a `Default`, a
//! field on [`Config`], its integer bounds in `validate` and one comment per key in
//! `template`. The error messages pick the new keys up from serde and from the defaults.
//! Tables whose keys the user names (`[agents.NAME]`, `env`) have no defaults to learn from;
//! `diagnose::schema_path` maps them onto the keys that describe them.

mod automation;
mod diagnose;
mod error;
mod github;
pub mod github_checks;
mod interpolate;
mod locate;
mod template;
mod validate;

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};
use toml::de::DeTable;

pub use automation::{
    ActionConfig, ActionType, ConditionConfig, ConditionType, Conditions, RuleConfig, ScheduleConfig, TriggerConfig,
    TriggerType, WatchConfig,
};
pub use error::ConfigError;
pub use github::{GithubConfig, Intervals, Mode, PolicyConfig, StewardConfig, TriageConfig, TriageRule};
pub use interpolate::{expand_env_value, referenced_vars};
pub use template::template;
pub use validate::{Invalid, Place};

/// The name `--agent` takes for `[agent]`; reserved in `[agents.NAME]`.
pub const DEFAULT_AGENT: &str = "default";

/// The whole of `steward.toml`. Absent sections and keys take their defaults.
#[derive(Clone, Debug, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub daemon: DaemonConfig,
    /// `[agent]`: what a task runs unless it names another agent.
    pub agent: AgentConfig,
    /// `[agents.NAME]`: agents a task can pick by name. Absent keys take the defaults of
    /// [`AgentConfig`], not the values of `[agent]`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub agents: BTreeMap<String, AgentConfig>,
    /// `[watch]`: the file watcher behind `file_change` rules.
    pub watch: WatchConfig,
    /// `[[schedule]]`: prompts submitted on cron schedules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<ScheduleConfig>,
    /// `[[rules]]`: trigger -> condition -> action.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleConfig>,
    /// `[steward]`: the GitHub modes.
    pub steward: StewardConfig,
    /// `[github]`: the repository and the API.
    pub github: GithubConfig,
    /// `[policy]`: what the GitHub loops may touch.
    pub policy: PolicyConfig,
    /// `[triage]`: how issues get labels.
    pub triage: TriageConfig,
}

/// `[daemon]`: the resident process itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonConfig {
    pub heartbeat_interval_s: u64,
    pub max_parallel_tasks: u32,
    pub task_timeout_min: u64,
    pub shutdown_grace_s: u64,
    pub max_message_bytes: u64,
    /// How many events the store keeps; older ones are deleted at the next prune.
    pub event_retention: u64,
    pub log: LogConfig,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            heartbeat_interval_s: 30,
            max_parallel_tasks: 3,
            task_timeout_min: 120,
            shutdown_grace_s: 15,
            max_message_bytes: 4 * 1024 * 1024,
            event_retention: 10_000,
            log: LogConfig::default(),
        }
    }
}

/// `[daemon.log]` (or `log = { ... }` inside `[daemon]`): the daemon's log file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub max_size_mb: u64,
    pub max_files: u32,
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig { max_size_mb: 50, max_files: 5, level: "info".to_owned() }
    }
}

/// `[agent]` and each `[agents.NAME]`: the process a task runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// The program, then its arguments; never empty once loaded.
    pub command: Vec<String>,
    pub prompt_via: PromptVia,
    /// Extra environment. Names are valid variable names once loaded; values may hold `${VAR}`
    /// references, to be resolved with [`expand_env_value`] when the agent is spawned.
    pub env: BTreeMap<String, String>,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            command: vec!["claude".to_owned(), "-p".to_owned()],
            prompt_via: PromptVia::Stdin,
            env: BTreeMap::new(),
        }
    }
}

/// How an agent receives its prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PromptVia {
    /// Written to the agent's standard input.
    #[default]
    Stdin,
    /// Appended to the command as its last argument (visible to anyone running `ps`).
    Arg,
}

/// How messages name the section of agent `name` (`None` or `"default"`: `[agent]`), as in
/// "set [agents.review].command in .steward/steward.toml".
pub fn agent_config_key(name: Option<&str>) -> String {
    match name {
        None => "[agent]".to_owned(),
        Some(name) if name == DEFAULT_AGENT => "[agent]".to_owned(),
        Some(name) => format!("[agents.{name}]"),
    }
}

impl Config {
    /// The agent a task asked for: `None` or `"default"` is `[agent]`, anything else
    /// `[agents.NAME]`, which may not exist.
    pub fn agent(&self, name: Option<&str>) -> Option<&AgentConfig> {
        match name {
            None => Some(&self.agent),
            Some(name) if name == DEFAULT_AGENT => Some(&self.agent),
            Some(name) => self.agents.get(name),
        }
    }

    /// Every name [`Config::agent`] accepts: `"default"` first, then the named agents in order.
    pub fn agent_names(&self) -> Vec<String> {
        std::iter::once(DEFAULT_AGENT.to_owned()).chain(self.agents.keys().cloned()).collect()
    }
}

// The error is read once, by a person, on a cold path; its fields are the public contract, so it
// stays unboxed.
#[allow(clippy::result_large_err)]
impl Config {
    /// Missing file -> `Ok(Config::default())`; unreadable -> `Err` naming the path and the OS error.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(err) => return Err(ConfigError::unreadable(path, &err)),
        };
        let text = String::from_utf8(bytes).map_err(|err| ConfigError::not_utf8(path, &err))?;
        Config::parse(&text, path)
    }

    /// Parse and validate text that came from `origin` (used in messages).
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let document = match DeTable::parse(text) {
            Ok(document) => document,
            Err(err) => return Err(diagnose::syntax_error(text, origin, &err)),
        };
        let deserializer = toml::de::Deserializer::from(document.clone());
        let named = |mut err: ConfigError| {
            diagnose::name_element(document.get_ref(), &mut err);
            err
        };
        let config = Config::deserialize(deserializer)
            .map_err(|err| named(diagnose::shape_error(text, origin, document.get_ref(), &err)))?;
        validate::validate(&config)
            .map_err(|invalid| named(diagnose::invalid(text, origin, document.get_ref(), invalid)))?;
        Ok(config)
    }

    /// The effective configuration as TOML (every key, defaults filled in), for `steward config show`.
    pub fn to_toml(&self) -> String {
        // Plain structs of integers and strings always serialize; the fallback keeps this total
        // without a panic path.
        toml::to_string(self).unwrap_or_else(|err| format!("# cannot render the configuration: {err}\n"))
    }

    /// The defaults as a TOML tree: the reference for "which keys exist" and "what type is
    /// expected" in error messages and in the template.
    fn defaults_table() -> toml::Table {
        toml::Table::try_from(Config::default()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
