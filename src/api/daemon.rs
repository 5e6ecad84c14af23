//! `daemon.*`: liveness, status, stop and reload.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;

use super::error::invalid_param;
use super::types::{DaemonStatus, Pong, Reloaded, Stopping};
use crate::daemon::Daemon;

/// Longest grace period `daemon.stop` accepts, in seconds.
pub const MAX_GRACE_S: u64 = 86_400;

/// The daemon's own methods.
#[rpc(server, client)]
pub trait DaemonApi {
    /// Liveness: `{pong: true, pid, uptime_s, version}`.
    #[method(name = "daemon.ping", aliases = ["ping"])]
    fn ping(&self) -> RpcResult<Pong>;

    /// The status snapshot (the same object as `state.json`).
    #[method(name = "daemon.status")]
    async fn status(&self) -> RpcResult<DaemonStatus>;

    /// Begins a graceful stop; running work gets `grace_s` (default `[daemon].shutdown_grace_s`).
    #[method(name = "daemon.stop", param_kind = map)]
    fn stop(&self, grace_s: Option<u64>) -> RpcResult<Stopping>;

    /// Re-reads the configuration; an invalid file keeps the old one and says why.
    #[method(name = "daemon.reload")]
    async fn reload(&self) -> RpcResult<Reloaded>;
}

/// Serves [`DaemonApiServer`].
pub struct DaemonRpc {
    /// The daemon.
    pub daemon: Daemon,
}

#[jsonrpsee::core::async_trait]
impl DaemonApiServer for DaemonRpc {
    fn ping(&self) -> RpcResult<Pong> {
        Ok(self.daemon.pong())
    }

    async fn status(&self) -> RpcResult<DaemonStatus> {
        Ok(self.daemon.status().await)
    }

    fn stop(&self, grace_s: Option<u64>) -> RpcResult<Stopping> {
        if let Some(grace) = grace_s
            && grace > MAX_GRACE_S
        {
            return Err(invalid_param("grace_s", format!("{grace} is more than the limit of {MAX_GRACE_S} seconds")));
        }
        self.daemon.request_stop(grace_s, "daemon.stop");
        Ok(Stopping { stopping: true })
    }

    async fn reload(&self) -> RpcResult<Reloaded> {
        Ok(self.daemon.reload().await)
    }
}
