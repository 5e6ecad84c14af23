//! `automation.*`: rules and schedules, and the switches that stop them.

use jsonrpsee::core::RpcResult;
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::json;

use super::error::with_kind;
use crate::automation::{AutomationError, AutomationStatus};
use crate::daemon::Daemon;

/// steward's error codes for automation.
pub mod codes {
    /// No rule or schedule has this id.
    pub const NOT_FOUND: i32 = -32030;
    /// The state could not be stored (the switch is in force until the daemon stops).
    pub const STORE_FAILED: i32 = -32031;
    /// Automation is not running (the daemon is starting or stopping).
    pub const UNAVAILABLE: i32 = -32032;
}

/// Rules, schedules and the file watcher.
#[rpc(server, client)]
pub trait AutomationApi {
    /// Every rule and schedule with its switch, counts and next fire time, and the watcher.
    #[method(name = "automation.status")]
    async fn status(&self) -> RpcResult<AutomationStatus>;

    /// Turns one rule or schedule (`rule`) or all of automation on; the switch is stored.
    #[method(name = "automation.enable", param_kind = map)]
    async fn enable(&self, rule: Option<String>) -> RpcResult<AutomationStatus>;

    /// Turns one rule or schedule (`rule`) or all of automation off; the switch is stored.
    #[method(name = "automation.disable", param_kind = map)]
    async fn disable(&self, rule: Option<String>) -> RpcResult<AutomationStatus>;
}

/// Serves [`AutomationApiServer`].
pub struct AutomationRpc {
    /// The daemon.
    pub daemon: Daemon,
}

fn to_rpc(err: AutomationError) -> ErrorObjectOwned {
    match err {
        AutomationError::UnknownRule(unknown) => with_kind(
            codes::NOT_FOUND,
            "not_found",
            format!("{unknown}; `steward automation status` lists them"),
            json!({ "rule": unknown.id, "known": unknown.known }),
        ),
        AutomationError::Store(message) => with_kind(
            codes::STORE_FAILED,
            "store_failed",
            format!("{message}; the switch is in force until the daemon stops, but was not saved"),
            json!({}),
        ),
        AutomationError::Stopped => with_kind(
            codes::UNAVAILABLE,
            "unavailable",
            "automation is not running: the daemon is starting or stopping; try again",
            json!({}),
        ),
    }
}

impl AutomationRpc {
    async fn switch(&self, rule: Option<String>, enabled: bool) -> RpcResult<AutomationStatus> {
        let automation = self.daemon.automation().ok_or_else(|| to_rpc(AutomationError::Stopped))?;
        automation.set_enabled(rule, enabled).await.map_err(to_rpc)
    }
}

#[jsonrpsee::core::async_trait]
impl AutomationApiServer for AutomationRpc {
    async fn status(&self) -> RpcResult<AutomationStatus> {
        let automation = self.daemon.automation().ok_or_else(|| to_rpc(AutomationError::Stopped))?;
        automation.status().await.map_err(to_rpc)
    }

    async fn enable(&self, rule: Option<String>) -> RpcResult<AutomationStatus> {
        self.switch(rule, true).await
    }

    async fn disable(&self, rule: Option<String>) -> RpcResult<AutomationStatus> {
        self.switch(rule, false).await
    }
}
