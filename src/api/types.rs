//! What the methods return: one definition used by the daemon and by the client.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// `daemon.ping`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Pong {
    /// Always true.
    pub pong: bool,
    /// The daemon's process id.
    pub pid: u32,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// The daemon's version.
    pub version: String,
}

/// The daemon's life stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Serving.
    Running,
    /// Finishing its work before exiting.
    Stopping,
    /// Exited cleanly (only ever seen in `state.json`).
    Stopped,
}

/// `daemon.status`, and the content of `.steward/daemon/state.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// Running, stopping, or stopped.
    pub state: RunState,
    /// The daemon's process id.
    pub pid: u32,
    /// The daemon's version.
    pub version: String,
    /// The project root.
    pub project: PathBuf,
    /// The socket the daemon listens on (also when it had to fall back to a shorter path).
    pub socket: PathBuf,
    /// When the daemon started (RFC 3339 UTC).
    pub started_at: String,
    /// When this snapshot was taken (RFC 3339 UTC).
    pub updated_at: String,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
    /// The configuration in force.
    pub config: ConfigStatus,
    /// The log file.
    pub log: LogStatus,
    /// Client connections.
    pub connections: ConnectionStatus,
    /// The event bus.
    pub events: EventStatus,
    /// The task queue.
    pub tasks: TaskStatus,
    /// Rules, schedules and the watcher, in short (absent while automation is not running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub automation: Option<AutomationSummary>,
}

/// Part of [`DaemonStatus`]: automation in a few numbers; `automation.status` has the details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AutomationSummary {
    /// Automation as a whole is on.
    pub enabled: bool,
    /// `[[rules]]` entries, and how many of them are switched on.
    pub rules: usize,
    pub rules_enabled: usize,
    /// `[[schedule]]` entries, and how many of them are switched on.
    pub schedules: usize,
    pub schedules_enabled: usize,
    /// The next rule or schedule due, by its id, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<NextFire>,
    /// Directories watched, when the watcher runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_directories: Option<usize>,
    /// What keeps the watcher from watching everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_problem: Option<String>,
}

/// Part of [`AutomationSummary`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NextFire {
    /// The rule's id or the schedule's name.
    pub id: String,
    /// When (RFC 3339 UTC).
    pub at: String,
}

impl AutomationSummary {
    /// The summary of a full automation status.
    pub fn of(status: &crate::automation::AutomationStatus) -> Self {
        let next = status
            .rules
            .iter()
            .filter(|rule| rule.enabled)
            .filter_map(|rule| rule.next_fire.map(|at| (rule.id.clone(), at)))
            .chain(
                status
                    .schedules
                    .iter()
                    .filter(|s| s.enabled)
                    .filter_map(|s| s.next_fire.map(|at| (s.name.clone(), at))),
            )
            .min_by_key(|(_, at)| *at)
            .filter(|_| status.enabled)
            .map(|(id, at)| NextFire { id, at: crate::events::format_time(&at) });
        AutomationSummary {
            enabled: status.enabled,
            rules: status.rules.len(),
            rules_enabled: status.rules.iter().filter(|rule| rule.enabled).count(),
            schedules: status.schedules.len(),
            schedules_enabled: status.schedules.iter().filter(|s| s.enabled).count(),
            next,
            watched_directories: status.watch.directories,
            watch_problem: status
                .watch
                .problem
                .as_ref()
                .and_then(|problem| problem.get("message").and_then(|m| m.as_str()).map(str::to_owned)),
        }
    }
}

/// Part of [`DaemonStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// Tasks per state (absent when the store could not be read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counts: Option<crate::queue::Stats>,
    /// Tasks that may run at once.
    pub max_parallel: u32,
    /// The tasks running now.
    pub running: Vec<crate::supervisor::RunningTask>,
}

/// Part of [`DaemonStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigStatus {
    /// `.steward/steward.toml`.
    pub path: PathBuf,
    /// False when the file is absent and every default applies.
    pub exists: bool,
    /// When it was last loaded (RFC 3339 UTC).
    pub loaded_at: String,
    /// Why the last reload was refused; the configuration before it stays in force.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_error: Option<String>,
    /// Heartbeat period in seconds.
    pub heartbeat_interval_s: u64,
}

/// Part of [`DaemonStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogStatus {
    /// `.steward/daemon/daemon.log`.
    pub path: PathBuf,
    /// The level filter in force.
    pub level: String,
}

/// Part of [`DaemonStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionStatus {
    /// Open right now, including the one asking.
    pub open: usize,
    /// The limit in force.
    pub max: usize,
}

/// Part of [`DaemonStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventStatus {
    /// Sequence number of the latest event (0 before the first).
    pub last_seq: u64,
    /// Live event subscriptions.
    pub subscribers: usize,
}

/// `daemon.stop`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stopping {
    /// Always true: the daemon has begun to stop.
    pub stopping: bool,
}

/// `daemon.reload`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reloaded {
    /// Whether the new configuration is in force.
    pub reloaded: bool,
    /// Why it was refused (the previous configuration stays in force).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Keys whose new values take effect only after `steward daemon restart`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restart_required: Vec<String>,
}

/// `event.emit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Emitted {
    /// The sequence number the event received.
    pub seq: u64,
}

/// The heartbeat file, `.steward/daemon/heartbeat`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// The daemon's process id.
    pub pid: u32,
    /// When it was written (RFC 3339 UTC).
    pub timestamp: String,
    /// Seconds since the daemon started.
    pub uptime_s: u64,
}
