//! The persistent priority queue: submit, list, get, cancel, stats and output of tasks.
//!
//! A submission is checked, handed to the store's writer at once (so the calls of one JSON-RPC
//! batch commit together), and acknowledged only once committed. What follows a commit (the
//! `task:submitted` event, waking the supervisor) runs on the writer thread as part of the
//! commit, so a client that goes away mid-call cannot leave a stored task without its event.

pub mod output;
pub mod sql;
pub mod submit;
pub mod task;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use serde_json::json;
use steward_ipc::Batch;

pub use output::OutputChunk;
pub use submit::{Invalid, Submission};
pub use task::{Task, TaskState};

use crate::config::Config;
use crate::events::{EventBus, format_time};
use crate::paths::Project;
use crate::store::{Store, StoreError};
use crate::supervisor::Supervisor;

/// Why a queue operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// A parameter is not acceptable.
    #[error("invalid `{}`: {}", .0.param, .0.problem)]
    Invalid(Invalid),
    /// No task has this id.
    #[error("no task {0}")]
    NotFound(u64),
    /// The task already finished; there is nothing to cancel.
    #[error("task {id} already finished ({state}); there is nothing to cancel")]
    AlreadyFinished {
        /// The task.
        id: u64,
        /// Its final state.
        state: TaskState,
    },
    /// The daemon is stopping and takes no new tasks.
    #[error("the daemon is stopping and takes no new tasks; submit again once it has restarted")]
    ShuttingDown,
    /// The store failed (e.g. the disk is full); nothing was changed.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// The task's output could not be read.
    #[error("reading the task's output failed: {0}")]
    Output(String),
}

/// `task.stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Waiting.
    pub queued: u64,
    /// Running now.
    pub running: u64,
    /// Exited 0.
    pub completed: u64,
    /// Failed.
    pub failed: u64,
    /// Cancelled.
    pub cancelled: u64,
    /// Timed out.
    pub timeout: u64,
    /// Interrupted by a stop and not yet requeued.
    pub interrupted: u64,
    /// All tasks.
    pub total: u64,
}

impl Stats {
    fn from_counts(counts: Vec<(TaskState, u64)>) -> Stats {
        let mut stats = Stats::default();
        for (state, n) in counts {
            let slot = match state {
                TaskState::Queued => &mut stats.queued,
                TaskState::Running => &mut stats.running,
                TaskState::Completed => &mut stats.completed,
                TaskState::Failed => &mut stats.failed,
                TaskState::Cancelled => &mut stats.cancelled,
                TaskState::Timeout => &mut stats.timeout,
                TaskState::Interrupted => &mut stats.interrupted,
            };
            *slot = n;
            stats.total += n;
        }
        stats
    }
}

/// `task.list`: a page, and where the next one starts when there may be more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    /// The tasks, in id order.
    pub tasks: Vec<Task>,
    /// Pass as `after_id` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_id: Option<u64>,
}

/// Largest page `task.list` returns.
pub const MAX_PAGE: usize = 1000;

/// The queue component. Cloning shares it.
#[derive(Clone)]
pub struct Queue {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    events: Arc<EventBus>,
    supervisor: Supervisor,
    project: Project,
    accepting: AtomicBool,
}

/// The current time as the store and the protocol write it.
pub fn now() -> String {
    format_time(&chrono::Utc::now())
}

impl Queue {
    /// A queue over `store`, run by `supervisor`.
    pub fn new(store: Store, events: Arc<EventBus>, supervisor: Supervisor, project: Project) -> Self {
        Self { inner: Arc::new(Inner { store, events, supervisor, project, accepting: AtomicBool::new(true) }) }
    }

    /// Refuses new submissions from now on (the daemon is stopping).
    pub fn stop_accepting(&self) {
        self.inner.accepting.store(false, Ordering::SeqCst);
    }

    /// Checks and stores a task; resolves once it is durable. The write is handed over before
    /// this returns, so the submissions of one batch share a transaction; the `task:submitted`
    /// event follows the commit on the writer thread.
    pub fn submit(
        &self,
        submission: Submission,
        config: &Config,
        batch: Option<Batch>,
    ) -> impl Future<Output = Result<Task, QueueError>> + use<> {
        self.submit_with(submission, config, batch, |_, _| Ok(()))
    }

    /// Like [`submit`](Self::submit), with `also` written in the same transaction, right after
    /// the task (which it is given, id included): a rule's state is stored with the task it
    /// submitted, so a crash can neither lose the task nor submit it twice.
    pub fn submit_with<A>(
        &self,
        submission: Submission,
        config: &Config,
        batch: Option<Batch>,
        also: A,
    ) -> impl Future<Output = Result<Task, QueueError>> + use<A>
    where
        A: FnOnce(&rusqlite::Connection, &Task) -> rusqlite::Result<()> + Send + 'static,
    {
        self.submit_placed(submission, config, batch, None, also)
    }

    /// Like [`submit_with`](Self::submit_with), for a task that runs its agent in `workdir` (a
    /// GitHub session's worktree) and that a restart does not requeue: its session decides.
    pub fn submit_in<A>(
        &self,
        submission: Submission,
        config: &Config,
        workdir: String,
        also: A,
    ) -> impl Future<Output = Result<Task, QueueError>> + use<A>
    where
        A: FnOnce(&rusqlite::Connection, &Task) -> rusqlite::Result<()> + Send + 'static,
    {
        self.submit_placed(submission, config, None, Some(workdir), also)
    }

    fn submit_placed<A>(
        &self,
        submission: Submission,
        config: &Config,
        batch: Option<Batch>,
        workdir: Option<String>,
        also: A,
    ) -> impl Future<Output = Result<Task, QueueError>> + use<A>
    where
        A: FnOnce(&rusqlite::Connection, &Task) -> rusqlite::Result<()> + Send + 'static,
    {
        let checked = if self.inner.accepting.load(Ordering::SeqCst) {
            submit::check(submission, config).map_err(QueueError::Invalid).map(|mut task| {
                if let Some(workdir) = workdir {
                    task.requeue = false;
                    task.workdir = Some(workdir);
                }
                task
            })
        } else {
            Err(QueueError::ShuttingDown)
        };
        let inner = self.inner.clone();
        let committed = checked.map(|task| {
            let created_at = now();
            self.inner.store.writer().write_then(
                batch,
                move |conn| {
                    let task = sql::insert(conn, &task, &created_at)?;
                    also(conn, &task)?;
                    Ok(task)
                },
                // On the writer thread once durable: the event cannot be lost with the caller.
                move |task: &Task| {
                    inner.events.emit(
                        "task:submitted",
                        json!({ "id": task.id, "priority": task.priority, "agent": task.agent, "labels": task.labels, "source": task.source }),
                    );
                    inner.supervisor.wake();
                },
            )
        });
        async move { Ok(committed?.await?) }
    }

    /// One task.
    pub async fn get(&self, id: u64) -> Result<Task, QueueError> {
        self.inner.store.read(move |conn| sql::get(conn, id)).await?.ok_or(QueueError::NotFound(id))
    }

    /// A page of tasks after `after_id`, optionally of one state.
    pub async fn list(&self, state: Option<TaskState>, after_id: u64, limit: usize) -> Result<Page, QueueError> {
        let limit = limit.clamp(1, MAX_PAGE);
        let tasks = self.inner.store.read(move |conn| sql::list(conn, state, after_id, limit)).await?;
        let next_after_id = if tasks.len() == limit { tasks.last().map(|t| t.id) } else { None };
        Ok(Page { tasks, next_after_id })
    }

    /// Counts per state.
    pub async fn stats(&self) -> Result<Stats, QueueError> {
        Ok(Stats::from_counts(self.inner.store.read(sql::counts).await?))
    }

    /// Cancels a queued task at once, or stops a running one and waits until it has ended.
    pub async fn cancel(&self, id: u64) -> Result<Task, QueueError> {
        let at = now();
        let cancelled = self.inner.store.writer().write(None, move |conn| sql::cancel_queued(conn, id, &at)).await?;
        if let Some(task) = cancelled {
            self.inner.events.emit("task:cancelled", task::ended_event(&task));
            return Ok(task);
        }
        if self.inner.supervisor.cancel(id).await {
            return self.get(id).await;
        }
        let task = self.get(id).await?;
        match task.state {
            // Claimed a moment ago, not registered as running yet: try once more.
            TaskState::Running if self.inner.supervisor.cancel(id).await => self.get(id).await,
            state if state.is_final() || state == TaskState::Interrupted => {
                Err(QueueError::AlreadyFinished { id, state })
            }
            _ => Ok(task),
        }
    }

    /// The last `max_bytes` (or a little less, to stay on a character boundary) of a task's
    /// output, read page by page so that a large log is never held whole.
    pub async fn output_tail(&self, id: u64, max_bytes: usize) -> Result<String, QueueError> {
        let mut offset = 0;
        let mut text = String::new();
        loop {
            let chunk = self.output(id, offset, max_bytes.max(1)).await?;
            text.push_str(&chunk.data);
            if text.len() > max_bytes {
                let cut = text.len() - max_bytes;
                let cut = (cut..text.len()).find(|at| text.is_char_boundary(*at)).unwrap_or(text.len());
                text.drain(..cut);
            }
            if chunk.eof || chunk.next_offset <= offset {
                return Ok(text);
            }
            offset = chunk.next_offset;
        }
    }

    /// A piece of a task's output log.
    pub async fn output(&self, id: u64, offset: u64, limit: usize) -> Result<OutputChunk, QueueError> {
        let task = self.get(id).await?;
        let path = self.inner.project.tasks_dir().join(id.to_string()).join("output.log");
        let finished = task.state.is_final() || task.state == TaskState::Interrupted;
        tokio::task::spawn_blocking(move || output::read(&path, offset, limit, finished))
            .await
            .map_err(|e| QueueError::Output(e.to_string()))?
            .map_err(|e| QueueError::Output(e.to_string()))
    }
}
