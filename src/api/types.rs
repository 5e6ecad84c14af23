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
