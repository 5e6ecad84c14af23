//! Running tasks: `max_parallel_tasks` slots, each task's agent under a time limit, cancel and
//! shutdown, and what a previous daemon left behind.
//!
//! The store decides what runs next (highest priority, then oldest) and records every change of
//! state before it is announced. A runner owns one task from the moment it is claimed until its
//! final state is stored; cancel and shutdown reach it through its control channel, so stopping
//! an agent and recording why happen in one place.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};
use tracing::Instrument;

use super::process::{self, AgentLaunch, OutputLimits, PromptInput, RunningAgent};
use crate::config::{Config, PromptVia, agent_config_key, expand_env_value};
use crate::events::EventBus;
use crate::live_config::LiveConfig;
use crate::paths::Project;
use crate::queue::task::{AgentEnd, Outcome, Recovery, StopReason, Task, TaskState, ended_event, outcome, recovery};
use crate::queue::{now, sql};
use crate::store::Store;

/// How long to wait before claiming again after the store failed.
const RETRY_AFTER_STORE_ERROR: Duration = Duration::from_secs(1);
/// When the daemon stops, an agent still running after the grace period gets this long between
/// SIGTERM and SIGKILL (or the grace period, if shorter).
const TERMINATE_GRACE: Duration = Duration::from_secs(5);
/// An agent killed by a stop signal counts as stopped with the daemon if the daemon begins to
/// stop within this long: a service manager signals every process of the service at once.
const STOP_SIGNAL_WINDOW: Duration = Duration::from_secs(2);

/// A running task as `steward status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunningTask {
    /// The task.
    pub id: u64,
    /// The supervising process, once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// When it started.
    pub started_at: String,
    /// The start of its prompt.
    pub prompt: String,
}

/// What reaches a runner from outside.
struct Control {
    stop: mpsc::UnboundedSender<(StopReason, Duration, Option<oneshot::Sender<()>>)>,
    info: RunningTask,
}

/// The supervisor. Cloning shares it.
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: Arc<EventBus>,
    project: Project,
    config: LiveConfig,
    shim: PathBuf,
    wake: Notify,
    stopping: AtomicBool,
    stop_begun: Notify,
    running: Mutex<HashMap<u64, Control>>,
    idle: Notify,
}

impl Supervisor {
    /// A supervisor that runs agents through the shim at `shim` (this executable).
    pub fn new(store: Store, events: Arc<EventBus>, project: Project, config: LiveConfig, shim: PathBuf) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                events,
                project,
                config,
                shim,
                wake: Notify::new(),
                stopping: AtomicBool::new(false),
                stop_begun: Notify::new(),
                running: Mutex::new(HashMap::new()),
                idle: Notify::new(),
            }),
        }
    }

    /// Says that there may be work (a submission, a free slot, a new configuration).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// The tasks running now.
    pub fn running(&self) -> Vec<RunningTask> {
        let mut tasks: Vec<RunningTask> = self.lock().values().map(|c| c.info.clone()).collect();
        tasks.sort_by_key(|t| t.id);
        tasks
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Control>> {
        self.inner.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Settles what a previous daemon left: tasks it was running are interrupted, and
    /// interrupted tasks are queued again, or failed once they have used their attempts.
    pub async fn recover(&self) -> Result<(), crate::store::StoreError> {
        let at = now();
        let (crashed, settled) = self
            .inner
            .store
            .writer()
            .write(None, move |conn| {
                let mut crashed = Vec::new();
                for id in sql::interrupt_running(conn, &at)? {
                    crashed.extend(sql::get(conn, id)?);
                }
                let mut settled = Vec::new();
                for (id, attempts) in sql::interrupted(conn)? {
                    let gave_up = match recovery(attempts) {
                        Recovery::Requeue => !sql::requeue(conn, id)?,
                        Recovery::GiveUp(why) => sql::give_up(conn, id, &why, &at)?,
                    };
                    if let Some(task) = sql::get(conn, id)? {
                        settled.push((task, gave_up));
                    }
                }
                Ok((crashed, settled))
            })
            .await?;
        for task in crashed {
            tracing::warn!(task = task.id, "the previous daemon ended while this task ran");
            self.inner.events.emit("task:interrupted", ended_event(&task));
        }
        for (task, gave_up) in settled {
            if gave_up {
                self.inner.events.emit("task:failed", ended_event(&task));
            } else {
                self.inner.events.emit("task:requeued", json!({ "id": task.id, "attempts": task.attempts }));
            }
        }
        Ok(())
    }

    /// Claims and starts tasks while slots are free, until [`shutdown`](Self::shutdown).
    pub async fn run(self) {
        loop {
            if self.inner.stopping.load(Ordering::SeqCst) {
                return;
            }
            self.fill_slots().await;
            self.inner.wake.notified().await;
        }
    }

    async fn fill_slots(&self) {
        loop {
            let slots = self.inner.config.get().daemon.max_parallel_tasks as usize;
            if self.inner.stopping.load(Ordering::SeqCst) || self.lock().len() >= slots {
                return;
            }
            let at = now();
            let claimed = self.inner.store.writer().write(None, move |conn| sql::claim_next(conn, &at)).await;
            match claimed {
                Ok(Some(task)) => self.start(task),
                Ok(None) => return,
                Err(e) => {
                    tracing::error!(error = %e, "could not claim the next task; retrying");
                    tokio::time::sleep(RETRY_AFTER_STORE_ERROR).await;
                    self.wake();
                    return;
                }
            }
        }
    }

    /// Registers the claimed task and hands it to its own runner.
    fn start(&self, task: Task) {
        let (stop, stops) = mpsc::unbounded_channel();
        let info = RunningTask {
            id: task.id,
            pid: None,
            started_at: task.started_at.clone().unwrap_or_default(),
            prompt: task.prompt.chars().take(200).collect(),
        };
        self.lock().insert(task.id, Control { stop: stop.clone(), info });
        // A task claimed while the daemon began to stop is stopped at once, like the others.
        if self.inner.stopping.load(Ordering::SeqCst) {
            let grace = Duration::from_secs(self.inner.config.get().daemon.shutdown_grace_s);
            let _ = stop.send((StopReason::Shutdown, grace, None));
        }
        let supervisor = self.clone();
        let id = task.id;
        tokio::spawn(
            async move {
                supervisor.run_task(task, stops).await;
                supervisor.lock().remove(&id);
                supervisor.inner.idle.notify_waiters();
                supervisor.wake();
            }
            .instrument(tracing::info_span!("task", id)),
        );
    }

    async fn run_task(
        &self,
        task: Task,
        mut stops: mpsc::UnboundedReceiver<(StopReason, Duration, Option<oneshot::Sender<()>>)>,
    ) {
        let config = self.inner.config.get();
        let mut agent = match self.launch(&task, &config).await {
            Ok(agent) => agent,
            Err(message) => {
                tracing::warn!(task = task.id, %message, "the agent could not start");
                let failed = Outcome { state: TaskState::Failed, exit_code: None, error: Some(message) };
                self.record(&task, failed, None).await;
                return;
            }
        };
        let pid = agent.pid();
        if let Some(control) = self.lock().get_mut(&task.id) {
            control.info.pid = Some(pid);
        }
        let id = task.id;
        let _ = self.inner.store.writer().write(None, move |conn| sql::set_pid(conn, id, pid)).await;
        self.inner.events.emit("task:started", json!({ "id": task.id, "pid": pid, "attempt": task.attempts }));
        tracing::info!(task = task.id, pid, "agent started");

        let deadline = tokio::time::sleep(Duration::from_secs(task.timeout_s));
        tokio::pin!(deadline);
        let grace = Duration::from_secs(config.daemon.shutdown_grace_s);
        let (reason, grace, acknowledge) = tokio::select! {
            exit = agent.wait() => {
                let stopped = self.stopped_by_the_stop(&exit).await;
                self.finish(&task, exit, stopped).await;
                return;
            }
            _ = &mut deadline => (StopReason::Timeout, grace, None),
            request = stops.recv() => match request {
                Some((reason, grace, ack)) => (reason, grace, ack),
                None => (StopReason::Shutdown, grace, None),
            },
        };
        tracing::info!(task = task.id, ?reason, grace_s = grace.as_secs(), "stopping the agent");
        let (exit, stopped) = if reason == StopReason::Shutdown {
            // The daemon is stopping: the agent first gets the grace period to finish on its own,
            // and then it is interrupted, to run again at the next start.
            tokio::select! {
                exit = agent.wait() => {
                    let stopped = self.stopped_by_the_stop(&exit).await;
                    (exit, stopped)
                }
                _ = tokio::time::sleep(grace) => (agent.stop(TERMINATE_GRACE.min(grace)).await, Some(reason)),
            }
        } else {
            (agent.stop(grace).await, Some(reason))
        };
        self.finish(&task, exit, stopped).await;
        if let Some(ack) = acknowledge {
            let _ = ack.send(());
        }
    }

    /// An agent that dies of a signal while the daemon stops was hit by the stop (a service
    /// manager may signal every process of the service at once): it is interrupted and runs
    /// again, rather than failed. A stop signal that arrives first waits a moment for the stop.
    async fn stopped_by_the_stop(&self, exit: &process::AgentExit) -> Option<StopReason> {
        let signal = exit.signal?;
        let begun = self.inner.stop_begun.notified();
        tokio::pin!(begun);
        begun.as_mut().enable();
        if self.inner.stopping.load(Ordering::SeqCst) {
            return Some(StopReason::Shutdown);
        }
        let stop_signal = [libc::SIGTERM, libc::SIGINT, libc::SIGHUP].contains(&signal);
        if stop_signal && tokio::time::timeout(STOP_SIGNAL_WINDOW, begun).await.is_ok() {
            return Some(StopReason::Shutdown);
        }
        None
    }

    /// Says the daemon has begun to stop: no more tasks are claimed, and agents dying of a stop
    /// signal from now on are interrupted rather than failed.
    pub fn begin_stop(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.stop_begun.notify_waiters();
        self.wake();
    }

    async fn finish(&self, task: &Task, exit: process::AgentExit, stopped: Option<StopReason>) {
        let end =
            AgentEnd { exit_code: exit.exit_code, signal: exit.signal, stopped, last_lines: exit.output.last_lines };
        self.record(task, outcome(&end, task.timeout_s), Some(exit.output.total_bytes)).await;
    }

    /// Prepares the task's files and starts its agent; the error is the message to record.
    async fn launch(&self, task: &Task, config: &Config) -> Result<RunningAgent, String> {
        let key = agent_config_key(task.agent.as_deref());
        let Some(agent) = config.agent(task.agent.as_deref()) else {
            return Err(format!(
                "{key} is no longer configured; add it back to .steward/steward.toml or cancel the task"
            ));
        };
        let dir = self.inner.project.tasks_dir().join(task.id.to_string());
        let prompt_file = dir.join("prompt.md");
        let prompt = task.prompt.clone();
        let files = (dir.clone(), prompt_file.clone());
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            std::fs::create_dir_all(&files.0)?;
            crate::atomic_file::write_atomic(&files.1, prompt.as_bytes(), 0o600)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("cannot prepare {}: {e}", dir.display()))?;
        let mut env = Vec::with_capacity(agent.env.len());
        for (name, value) in &agent.env {
            let value = expand_env_value(value, |var| std::env::var(var).ok())
                .map_err(|problem| format!("{key}.env.{name}: {problem}"))?;
            env.push((name.clone(), value));
        }
        let launch = AgentLaunch {
            task_id: task.id,
            command: agent.command.clone(),
            prompt: match agent.prompt_via {
                PromptVia::Stdin => PromptInput::Stdin,
                PromptVia::Arg => PromptInput::LastArgument(task.prompt.clone()),
            },
            prompt_file,
            workdir: task.workdir.as_ref().map_or_else(|| self.inner.project.root().to_owned(), PathBuf::from),
            project_root: self.inner.project.root().to_owned(),
            env,
            config_key: key,
            output_path: dir.join("output.log"),
            shim_executable: self.inner.shim.clone(),
        };
        process::spawn(launch, OutputLimits::default()).await.map_err(|e| e.to_string())
    }

    /// Stores the outcome, then announces it and leaves `result.json` next to the output.
    async fn record(&self, task: &Task, result: Outcome, output_bytes: Option<u64>) {
        let (id, at) = (task.id, now());
        let stored = result.clone();
        let written = self
            .inner
            .store
            .writer()
            .write(None, move |conn| {
                sql::finish(conn, id, stored.state, stored.exit_code, stored.error.as_deref(), &at)
            })
            .await;
        let task = match written {
            Ok(Some(task)) => task,
            Ok(None) => {
                tracing::warn!(task = id, "the task was no longer running when its outcome was recorded");
                return;
            }
            Err(e) => {
                // The next start finds it running and requeues it.
                tracing::error!(task = id, error = %e, "could not record the task's outcome");
                return;
            }
        };
        self.inner.events.emit(format!("task:{}", task.state), ended_event(&task));
        tracing::info!(task = task.id, state = %task.state, exit_code = ?task.exit_code, "task ended");
        let path = self.inner.project.tasks_dir().join(task.id.to_string()).join("result.json");
        let summary = json!({
            "id": task.id, "state": task.state, "exit_code": task.exit_code, "error": task.error,
            "started_at": task.started_at, "finished_at": task.finished_at, "output_bytes": output_bytes,
        });
        let _ = tokio::task::spawn_blocking(move || {
            let text = serde_json::to_vec_pretty(&summary).unwrap_or_default();
            if let Err(e) = crate::atomic_file::write_atomic(&path, &text, 0o644) {
                tracing::warn!(error = %e, "could not write result.json");
            }
        })
        .await;
    }

    /// Stops a running task and waits until its cancellation is recorded; false when no task
    /// with this id runs here.
    pub async fn cancel(&self, id: u64) -> bool {
        let grace = Duration::from_secs(self.inner.config.get().daemon.shutdown_grace_s);
        let (ack, acknowledged) = oneshot::channel();
        let sent = match self.lock().get(&id) {
            Some(control) => control.stop.send((StopReason::Cancelled, grace, Some(ack))).is_ok(),
            None => false,
        };
        if sent {
            let _ = acknowledged.await;
        }
        sent
    }

    /// Stops claiming, gives every running agent `grace` to finish, then kills it; the tasks
    /// are recorded as interrupted and run again at the next start. Returns when all are.
    pub async fn shutdown(&self, grace: Duration) {
        self.begin_stop();
        for control in self.lock().values() {
            let _ = control.stop.send((StopReason::Shutdown, grace, None));
        }
        loop {
            let idle = self.inner.idle.notified();
            if self.lock().is_empty() {
                return;
            }
            idle.await;
        }
    }
}
