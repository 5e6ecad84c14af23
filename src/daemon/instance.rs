//! The running daemon as one cheap, clonable handle shared by the API and the components.
//!
//! It holds what every part needs to see: the project, the configuration in force, the store,
//! the event bus, the queue and the supervisor, the server handle, and the stop signal.
//! Decisions that can be pure are (which keys need a restart after a reload); the rest is small,
//! lock-short state.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::json;
use steward_ipc::ServerHandle;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::api::types::{
    AutomationSummary, ConfigStatus, ConnectionStatus, DaemonStatus, EventStatus, Heartbeat, LogStatus, Pong, Reloaded,
    RunState, TaskStatus,
};
use crate::automation::Automation;
use crate::config::{Config, Mode};
use crate::events::{EventBus, format_time};
use crate::live_config::LiveConfig;
use crate::logging::{LogHandle, LogSettings};
use crate::paths::Project;
use crate::queue::Queue;
use crate::steward::Steward;
use crate::store::Store;
use crate::supervisor::Supervisor;

use super::notify;

/// The daemon's components, built before the handle.
pub struct Components {
    /// The configuration in force.
    pub config: LiveConfig,
    /// The store.
    pub store: Store,
    /// The event bus.
    pub events: Arc<EventBus>,
    /// The task queue.
    pub queue: Queue,
    /// Runs the tasks.
    pub supervisor: Supervisor,
}

/// A handle to the running daemon.
#[derive(Clone)]
pub struct Daemon {
    inner: Arc<Inner>,
}

struct Inner {
    project: Project,
    socket: PathBuf,
    pid: u32,
    started_at: DateTime<Utc>,
    started: Instant,
    state: AtomicU8,
    config: LiveConfig,
    loading: RwLock<Loading>,
    /// What the daemon started with: settings fixed at start are compared against it.
    started_config: Arc<Config>,
    reload_lock: tokio::sync::Mutex<()>,
    reloaded: Notify,
    store: Store,
    events: Arc<EventBus>,
    queue: Queue,
    supervisor: Supervisor,
    server: OnceLock<ServerHandle>,
    automation: OnceLock<Automation>,
    steward: OnceLock<Steward>,
    /// The stop was asked for because something failed for good: the process exits non-zero.
    failed: std::sync::atomic::AtomicBool,
    /// `daemon start --mode`: wins over `[steward].mode` for this run, across reloads.
    mode_override: OnceLock<Mode>,
    log: Option<LogHandle>,
    stop: CancellationToken,
    stop_grace_s: Mutex<Option<u64>>,
}

/// What is known about how the configuration in force was loaded.
#[derive(Clone)]
struct Loading {
    exists: bool,
    loaded_at: DateTime<Utc>,
    reload_error: Option<String>,
}

impl Daemon {
    /// A handle for a daemon about to serve `project` on `socket`.
    pub fn new(project: Project, socket: PathBuf, components: Components, log: Option<LogHandle>) -> Self {
        let exists = project.config_file().exists();
        let now = Utc::now();
        let Components { config, store, events, queue, supervisor } = components;
        let started_config = config.get();
        Self {
            inner: Arc::new(Inner {
                project,
                socket,
                pid: std::process::id(),
                started_at: now,
                started: Instant::now(),
                state: AtomicU8::new(RunState::Running as u8),
                config,
                loading: RwLock::new(Loading { exists, loaded_at: now, reload_error: None }),
                started_config,
                reload_lock: tokio::sync::Mutex::new(()),
                reloaded: Notify::new(),
                store,
                events,
                queue,
                supervisor,
                server: OnceLock::new(),
                automation: OnceLock::new(),
                steward: OnceLock::new(),
                failed: std::sync::atomic::AtomicBool::new(false),
                mode_override: OnceLock::new(),
                log,
                stop: CancellationToken::new(),
                stop_grace_s: Mutex::new(None),
            }),
        }
    }

    /// Records the server once it listens, for connection counts.
    pub fn attach_server(&self, server: ServerHandle) {
        let _ = self.inner.server.set(server);
    }

    /// Records the automation component once it runs.
    pub fn attach_automation(&self, automation: Automation) {
        let _ = self.inner.automation.set(automation);
    }

    /// The automation component, once it runs.
    pub fn automation(&self) -> Option<&Automation> {
        self.inner.automation.get()
    }

    /// Records the GitHub loops once they run.
    pub fn attach_steward(&self, steward: Steward) {
        let _ = self.inner.steward.set(steward);
    }

    /// The GitHub loops, once they run.
    pub fn steward(&self) -> Option<&Steward> {
        self.inner.steward.get()
    }

    /// Stops the daemon because something failed for good; the process then exits non-zero, so
    /// that a service manager restarts it.
    pub fn request_failure_stop(&self, reason: &str) {
        self.inner.failed.store(true, Ordering::SeqCst);
        self.request_stop(None, reason);
    }

    /// Whether the stop was a failure (see [`Daemon::request_failure_stop`]).
    pub fn failed(&self) -> bool {
        self.inner.failed.load(Ordering::SeqCst)
    }

    /// Sets the mode `daemon start --mode` asked for (once, at start).
    pub fn set_mode_override(&self, mode: Option<Mode>) {
        if let Some(mode) = mode {
            let _ = self.inner.mode_override.set(mode);
        }
    }

    /// The GitHub mode in force: `--mode` if given at start, else `[steward].mode`.
    pub fn mode(&self) -> Mode {
        self.inner.mode_override.get().copied().unwrap_or(self.config().steward.mode)
    }

    /// Whether the mode in force comes from `--mode`.
    pub fn mode_overridden(&self) -> bool {
        self.inner.mode_override.get().is_some()
    }

    /// The project served.
    pub fn project(&self) -> &Project {
        &self.inner.project
    }

    /// The event bus.
    pub fn events(&self) -> &EventBus {
        &self.inner.events
    }

    /// The event bus, shared.
    pub fn event_bus(&self) -> Arc<EventBus> {
        self.inner.events.clone()
    }

    /// The configuration handle, shared.
    pub fn live_config(&self) -> &LiveConfig {
        &self.inner.config
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// The task queue.
    pub fn queue(&self) -> &Queue {
        &self.inner.queue
    }

    /// The supervisor.
    pub fn supervisor(&self) -> &Supervisor {
        &self.inner.supervisor
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<Config> {
        self.inner.config.get()
    }

    fn loading(&self) -> Loading {
        self.inner.loading.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn uptime_s(&self) -> u64 {
        self.inner.started.elapsed().as_secs()
    }

    /// `daemon.ping`.
    pub fn pong(&self) -> Pong {
        Pong { pong: true, pid: self.inner.pid, uptime_s: self.uptime_s(), version: env!("CARGO_PKG_VERSION").into() }
    }

    /// The heartbeat file's content.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat { pid: self.inner.pid, timestamp: format_time(&Utc::now()), uptime_s: self.uptime_s() }
    }

    /// The life stage.
    pub fn run_state(&self) -> RunState {
        match self.inner.state.load(Ordering::Acquire) {
            s if s == RunState::Running as u8 => RunState::Running,
            s if s == RunState::Stopping as u8 => RunState::Stopping,
            _ => RunState::Stopped,
        }
    }

    /// Moves to a later life stage.
    pub fn set_run_state(&self, state: RunState) {
        self.inner.state.store(state as u8, Ordering::Release);
    }

    /// `daemon.status` and `state.json`.
    pub async fn status(&self) -> DaemonStatus {
        let loading = self.loading();
        let config = self.config();
        let (open, max) = match self.inner.server.get() {
            Some(server) => (server.connections(), server.max_connections()),
            None => (0, 0),
        };
        let counts = match self.inner.queue.stats().await {
            Ok(stats) => Some(stats),
            Err(e) => {
                tracing::warn!(error = %e, "could not count tasks for the status");
                None
            }
        };
        let automation = match self.automation() {
            Some(automation) => automation.status().await.ok().map(|status| AutomationSummary::of(&status)),
            None => None,
        };
        DaemonStatus {
            automation,
            state: self.run_state(),
            pid: self.inner.pid,
            version: env!("CARGO_PKG_VERSION").into(),
            project: self.inner.project.root().to_owned(),
            socket: self.inner.socket.clone(),
            started_at: format_time(&self.inner.started_at),
            updated_at: format_time(&Utc::now()),
            uptime_s: self.uptime_s(),
            config: ConfigStatus {
                path: self.inner.project.config_file(),
                exists: loading.exists,
                loaded_at: format_time(&loading.loaded_at),
                reload_error: loading.reload_error,
                heartbeat_interval_s: config.daemon.heartbeat_interval_s,
            },
            log: LogStatus { path: self.inner.project.log_file(), level: config.daemon.log.level.clone() },
            connections: ConnectionStatus { open, max },
            events: EventStatus {
                last_seq: self.inner.events.last_seq(),
                subscribers: self.inner.events.subscribers(),
            },
            tasks: TaskStatus {
                counts,
                max_parallel: config.daemon.max_parallel_tasks,
                running: self.inner.supervisor.running(),
            },
        }
    }

    /// Asks the daemon to stop; the first request's grace period wins. Returns whether this
    /// request started the stop.
    pub fn request_stop(&self, grace_s: Option<u64>, reason: &str) -> bool {
        if self.inner.stop.is_cancelled() {
            return false;
        }
        *self.inner.stop_grace_s.lock().unwrap_or_else(|p| p.into_inner()) = grace_s;
        tracing::info!(reason, ?grace_s, "stop requested");
        self.inner.supervisor.begin_stop();
        self.inner.stop.cancel();
        true
    }

    /// Completes when a stop was requested.
    pub async fn stop_requested(&self) {
        self.inner.stop.cancelled().await;
    }

    /// The grace period for running work: the one asked for, else the configured one.
    pub fn stop_grace_s(&self) -> u64 {
        self.inner
            .stop_grace_s
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or(self.config().daemon.shutdown_grace_s)
    }

    /// Completes after the next reload, whether it was applied or refused, or at once when one
    /// finished since the last call (the heartbeat, its one waiter, may be busy writing when a
    /// reload ends: the notification waits for it rather than being lost).
    pub async fn reload_done(&self) {
        self.inner.reloaded.notified().await;
    }

    /// Re-reads the configuration. An invalid file changes nothing and says why.
    pub async fn reload(&self) -> Reloaded {
        let _one_at_a_time = self.inner.reload_lock.lock().await;
        let _ = notify::reloading();
        let path = self.inner.project.config_file();
        let read_path = path.clone();
        let loaded = tokio::task::spawn_blocking(move || (Config::load(&read_path), read_path.exists())).await;
        let result = match loaded {
            Ok((Ok(config), exists)) => self.apply(config, exists),
            Ok((Err(err), _)) => self.refuse(err.to_string()),
            Err(join) => self.refuse(format!("reading {} failed: {join}", path.display())),
        };
        let _ = notify::ready();
        result
    }

    fn apply(&self, config: Config, exists: bool) -> Reloaded {
        if let Some(log) = &self.inner.log
            && let Err(err) = log.apply(&log_settings(&self.inner.project, &config))
        {
            return self.refuse(err.to_string());
        }
        let restart_required = restart_required(&self.inner.started_config, &config);
        self.inner.events.set_retention(config.daemon.event_retention);
        self.inner.config.replace(config);
        if let Some(automation) = self.automation() {
            automation.reload(self.inner.config.get());
        }
        if let Some(steward) = self.steward() {
            steward.reload();
        }
        *self.inner.loading.write().unwrap_or_else(|p| p.into_inner()) =
            Loading { exists, loaded_at: Utc::now(), reload_error: None };
        tracing::info!(?restart_required, "configuration reloaded");
        self.inner.events.emit("daemon:reloaded", json!({ "restart_required": restart_required }));
        // More slots may be free now.
        self.inner.supervisor.wake();
        self.inner.reloaded.notify_one();
        Reloaded { reloaded: true, error: None, restart_required }
    }

    fn refuse(&self, error: String) -> Reloaded {
        tracing::warn!(%error, "configuration reload refused; the previous configuration stays in force");
        self.inner.loading.write().unwrap_or_else(|p| p.into_inner()).reload_error = Some(error.clone());
        self.inner.events.emit("daemon:reload_failed", json!({ "error": error }));
        self.inner.reloaded.notify_one();
        Reloaded { reloaded: false, error: Some(error), restart_required: Vec::new() }
    }
}

/// The log settings a configuration asks for.
pub fn log_settings(project: &Project, config: &Config) -> LogSettings {
    LogSettings {
        path: project.log_file(),
        max_bytes: config.daemon.log.max_size_mb.saturating_mul(1024 * 1024),
        max_files: config.daemon.log.max_files,
        level: config.daemon.log.level.clone(),
    }
}

/// Keys whose value differs from the one the daemon started with, where only a restart applies it.
pub fn restart_required(started: &Config, new: &Config) -> Vec<String> {
    let mut keys = Vec::new();
    if started.daemon.max_message_bytes != new.daemon.max_message_bytes {
        keys.push("daemon.max_message_bytes".to_owned());
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_socket_limits_need_a_restart() {
        let old = Config::default();
        let mut new = old.clone();
        assert!(restart_required(&old, &new).is_empty());
        new.daemon.heartbeat_interval_s = 5;
        new.daemon.log.level = "debug".into();
        new.daemon.shutdown_grace_s = 1;
        new.daemon.max_parallel_tasks = 9;
        assert!(restart_required(&old, &new).is_empty());
        new.daemon.max_message_bytes = 1024;
        assert_eq!(restart_required(&old, &new), vec!["daemon.max_message_bytes"]);
    }

    #[test]
    fn log_settings_convert_megabytes() {
        let project = Project::at(std::path::Path::new("/")).unwrap();
        let settings = log_settings(&project, &Config::default());
        assert_eq!(settings.max_bytes, 50 * 1024 * 1024);
        assert_eq!(settings.max_files, 5);
    }
}
