//! `steward.*` and `session.*`: the GitHub modes.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::error::{invalid_param, with_kind};
use crate::daemon::Daemon;
use crate::steward::session::{Session, SessionEvent, SessionState};
use crate::steward::{Loop, StewardError, StewardStatus, TickReport, sql};

/// steward's error codes for the GitHub modes.
pub mod codes {
    /// The GitHub loops are not running (the daemon is starting or stopping).
    pub const UNAVAILABLE: i32 = -32040;
    /// No session has this id.
    pub const NOT_FOUND: i32 = -32041;
    /// The store could not be read.
    pub const STORE_FAILED: i32 = -32042;
    /// `session.resume` or `session.cancel` of a session in a state where it means nothing.
    pub const REFUSED: i32 = -32043;
}

/// Default and largest number of sessions `session.list` returns.
pub const DEFAULT_SESSIONS: usize = 100;
pub const MAX_SESSIONS: usize = 1000;

/// `session.list`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionList {
    /// Newest first.
    pub sessions: Vec<Session>,
}

/// The GitHub modes.
#[rpc(server, client)]
pub trait StewardApi {
    /// The mode, the kill switch, the last tick of each loop, and the sessions.
    #[method(name = "steward.status")]
    async fn status(&self) -> RpcResult<StewardStatus>;

    /// Runs one loop once, now, and reports how it went (the gates apply as always).
    #[method(name = "steward.tick", param_kind = map)]
    async fn tick(&self, #[argument(rename = "loop")] name: String) -> RpcResult<TickReport>;

    /// Sessions, newest first, optionally of one state.
    #[method(name = "session.list", param_kind = map)]
    async fn list(&self, state: Option<String>, limit: Option<usize>) -> RpcResult<SessionList>;

    /// One session with its log.
    #[method(name = "session.get", param_kind = map)]
    async fn get(&self, id: u64) -> RpcResult<Session>;

    /// Resumes a paused session without an answer, or an escalated one with fresh attempts.
    #[method(name = "session.resume", param_kind = map)]
    async fn resume(&self, id: u64) -> RpcResult<Session>;

    /// Cancels a session: its agent is stopped, its labels removed; the branch stays.
    #[method(name = "session.cancel", param_kind = map)]
    async fn cancel(&self, id: u64) -> RpcResult<Session>;
}

/// Serves [`StewardApiServer`].
pub struct StewardRpc {
    /// The daemon.
    pub daemon: Daemon,
}

fn to_rpc(err: StewardError) -> ErrorObjectOwned {
    match err {
        StewardError::Stopped => with_kind(
            codes::UNAVAILABLE,
            "unavailable",
            "the GitHub loops are not running: the daemon is starting or stopping; try again",
            json!({}),
        ),
        StewardError::NoSession(id) => with_kind(
            codes::NOT_FOUND,
            "not_found",
            format!("no session {id}; `steward session list` lists them"),
            json!({ "id": id }),
        ),
        StewardError::Store(message) => with_kind(codes::STORE_FAILED, "store_failed", message, json!({})),
        StewardError::Refused(message) => with_kind(codes::REFUSED, "refused", message, json!({})),
    }
}

#[jsonrpsee::core::async_trait]
impl StewardApiServer for StewardRpc {
    async fn status(&self) -> RpcResult<StewardStatus> {
        let steward = self.daemon.steward().ok_or_else(|| to_rpc(StewardError::Stopped))?;
        steward.status().await.map_err(to_rpc)
    }

    async fn tick(&self, name: String) -> RpcResult<TickReport> {
        let parsed = Loop::parse(&name).ok_or_else(|| {
            invalid_param("loop", format!("{name:?} is not a loop; use \"triage\", \"feedback\" or \"run\""))
        })?;
        let steward = self.daemon.steward().ok_or_else(|| to_rpc(StewardError::Stopped))?;
        steward.tick(parsed).await.map_err(to_rpc)
    }

    async fn list(&self, state: Option<String>, limit: Option<usize>) -> RpcResult<SessionList> {
        let state = match state.as_deref() {
            None => None,
            Some(name) => Some(SessionState::parse(name).ok_or_else(|| {
                let names: Vec<&str> = SessionState::ALL.iter().map(|s| s.name()).collect();
                invalid_param("state", format!("{name:?} is not a session state; use one of {}", names.join(", ")))
            })?),
        };
        let limit = limit.unwrap_or(DEFAULT_SESSIONS);
        if !(1..=MAX_SESSIONS).contains(&limit) {
            return Err(invalid_param("limit", format!("{limit} is out of range; use 1 to {MAX_SESSIONS}")));
        }
        let sessions = self
            .daemon
            .store()
            .read(move |conn| sql::list(conn, state, limit))
            .await
            .map_err(|err| to_rpc(StewardError::Store(err.to_string())))?;
        Ok(SessionList { sessions })
    }

    async fn resume(&self, id: u64) -> RpcResult<Session> {
        let steward = self.daemon.steward().ok_or_else(|| to_rpc(StewardError::Stopped))?;
        steward.session(id, SessionEvent::Resume).await.map_err(to_rpc)
    }

    async fn cancel(&self, id: u64) -> RpcResult<Session> {
        let steward = self.daemon.steward().ok_or_else(|| to_rpc(StewardError::Stopped))?;
        steward.session(id, SessionEvent::Cancel).await.map_err(to_rpc)
    }

    async fn get(&self, id: u64) -> RpcResult<Session> {
        self.daemon
            .store()
            .read(move |conn| sql::get(conn, id))
            .await
            .map_err(|err| to_rpc(StewardError::Store(err.to_string())))?
            .ok_or_else(|| to_rpc(StewardError::NoSession(id)))
    }
}
