//! `task.*`: the queue.

// `task.submit` has one argument per named parameter of the protocol; the code generated for
// it sits outside the trait, so the allowance is for the module.
#![allow(clippy::too_many_arguments)]

use jsonrpsee::Extensions;
use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

use super::error::{invalid_param, with_kind};
use crate::daemon::Daemon;
use crate::queue::{OutputChunk, Page, QueueError, Stats, Submission, Task, TaskState};

/// Default page size of `task.list`.
pub const DEFAULT_PAGE: usize = 100;

/// The task queue.
#[rpc(server, client)]
pub trait TaskApi {
    /// Queues a task; answers once it is stored durably.
    #[method(name = "task.submit", param_kind = map, with_extensions)]
    async fn submit(
        &self,
        prompt: String,
        priority: Option<i64>,
        agent: Option<String>,
        timeout_s: Option<u64>,
        labels: Option<Vec<String>>,
        source: Option<String>,
    ) -> RpcResult<Task>;

    /// A page of tasks in id order (prompts cut to 1000 characters).
    #[method(name = "task.list", param_kind = map)]
    async fn list(&self, state: Option<String>, limit: Option<usize>, after_id: Option<u64>) -> RpcResult<Page>;

    /// One task.
    #[method(name = "task.get", param_kind = map)]
    async fn get(&self, id: u64) -> RpcResult<Task>;

    /// Cancels a queued task, or stops a running one and answers once it has ended.
    #[method(name = "task.cancel", param_kind = map)]
    async fn cancel(&self, id: u64) -> RpcResult<Task>;

    /// Tasks per state.
    #[method(name = "task.stats")]
    async fn stats(&self) -> RpcResult<Stats>;

    /// A piece of a task's combined output, from `offset`.
    #[method(name = "task.output", param_kind = map)]
    async fn output(&self, id: u64, offset: Option<u64>, limit: Option<usize>) -> RpcResult<OutputChunk>;
}

/// steward's error codes for the queue.
pub mod codes {
    /// No such task.
    pub const NOT_FOUND: i32 = -32020;
    /// The task already finished.
    pub const ALREADY_FINISHED: i32 = -32021;
    /// The daemon is stopping.
    pub const SHUTTING_DOWN: i32 = -32022;
    /// The store failed (e.g. the disk is full).
    pub const STORE_FAILED: i32 = -32023;
    /// A task's output could not be read.
    pub const OUTPUT_FAILED: i32 = -32024;
}

/// A queue failure as a JSON-RPC error.
pub fn queue_error(err: QueueError) -> ErrorObjectOwned {
    let message = err.to_string();
    match err {
        QueueError::Invalid(invalid) => invalid_param(invalid.param, invalid.problem),
        QueueError::NotFound(id) => with_kind(codes::NOT_FOUND, "not_found", message, json!({ "id": id })),
        QueueError::AlreadyFinished { id, state } => {
            with_kind(codes::ALREADY_FINISHED, "already_finished", message, json!({ "id": id, "state": state }))
        }
        QueueError::ShuttingDown => with_kind(codes::SHUTTING_DOWN, "shutting_down", message, json!({})),
        QueueError::Store(_) => with_kind(codes::STORE_FAILED, "store_failed", message, json!({})),
        QueueError::Output(_) => with_kind(codes::OUTPUT_FAILED, "output_failed", message, json!({})),
    }
}

/// Serves [`TaskApiServer`].
pub struct TaskRpc {
    /// The daemon.
    pub daemon: Daemon,
}

#[jsonrpsee::core::async_trait]
impl TaskApiServer for TaskRpc {
    async fn submit(
        &self,
        ext: &Extensions,
        prompt: String,
        priority: Option<i64>,
        agent: Option<String>,
        timeout_s: Option<u64>,
        labels: Option<Vec<String>>,
        source: Option<String>,
    ) -> RpcResult<Task> {
        let submission = Submission { prompt, priority, agent, timeout_s, labels, source };
        let batch = ext.get::<steward_ipc::Batch>().cloned();
        // Handed to the store right here, in the first poll: the calls of a batch commit together.
        let stored = self.daemon.queue().submit(submission, &self.daemon.config(), batch);
        stored.await.map_err(queue_error)
    }

    async fn list(&self, state: Option<String>, limit: Option<usize>, after_id: Option<u64>) -> RpcResult<Page> {
        let state = match state.as_deref() {
            None => None,
            Some(name) => Some(TaskState::parse(name).ok_or_else(|| {
                let known: Vec<&str> = TaskState::ALL.iter().map(|s| s.as_str()).collect();
                invalid_param("state", format!("no state `{name}`; use one of {}", known.join(", ")))
            })?),
        };
        let limit = limit.unwrap_or(DEFAULT_PAGE);
        if limit == 0 || limit > crate::queue::MAX_PAGE {
            return Err(invalid_param(
                "limit",
                format!("{limit} is out of range; use 1 to {}", crate::queue::MAX_PAGE),
            ));
        }
        self.daemon.queue().list(state, after_id.unwrap_or(0), limit).await.map_err(queue_error)
    }

    async fn get(&self, id: u64) -> RpcResult<Task> {
        self.daemon.queue().get(id).await.map_err(queue_error)
    }

    async fn cancel(&self, id: u64) -> RpcResult<Task> {
        self.daemon.queue().cancel(id).await.map_err(queue_error)
    }

    async fn stats(&self) -> RpcResult<Stats> {
        self.daemon.queue().stats().await.map_err(queue_error)
    }

    async fn output(&self, id: u64, offset: Option<u64>, limit: Option<usize>) -> RpcResult<OutputChunk> {
        let limit = limit.unwrap_or(crate::queue::output::DEFAULT_CHUNK);
        if limit == 0 || limit > crate::queue::output::MAX_CHUNK {
            return Err(invalid_param(
                "limit",
                format!("{limit} is out of range; use 1 to {} bytes", crate::queue::output::MAX_CHUNK),
            ));
        }
        self.daemon.queue().output(id, offset.unwrap_or(0), limit).await.map_err(queue_error)
    }
}
