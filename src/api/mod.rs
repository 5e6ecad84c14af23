//! The JSON-RPC API: one `#[rpc(server, client)]` trait per namespace, written once and used by
//! both the daemon (server) and the CLI (generated client).

pub mod automation;
pub mod daemon;
pub mod error;
pub mod event;
mod params;
pub mod steward;
pub mod task;
pub mod types;

use jsonrpsee::RpcModule;
use jsonrpsee::core::server::Methods;

pub use automation::{AutomationApiClient, AutomationApiServer, AutomationRpc};
pub use daemon::{DaemonApiClient, DaemonApiServer, DaemonRpc};
pub use event::{EventApiClient, EventApiServer, EventRpc};
pub use steward::{StewardApiClient, StewardApiServer, StewardRpc};
pub use task::{TaskApiClient, TaskApiServer, TaskRpc};

use crate::daemon::Daemon;

/// The parameters each method accepts by name; anything else is refused with -32602.
pub const PARAMS: &[params::Spec] = &[
    ("daemon.ping", &[]),
    ("ping", &[]),
    ("daemon.status", &[]),
    ("daemon.stop", &["grace_s"]),
    ("daemon.reload", &[]),
    ("automation.status", &[]),
    ("automation.enable", &["rule"]),
    ("automation.disable", &["rule"]),
    ("event.emit", &["topic", "data"]),
    ("event.list", &["since_seq", "topic", "limit"]),
    ("event.subscribe", &["topics", "since_seq"]),
    ("event.unsubscribe", &["subscription"]),
    ("task.submit", &["prompt", "priority", "agent", "timeout_s", "labels", "source"]),
    ("task.list", &["state", "limit", "after_id"]),
    ("task.get", &["id"]),
    ("task.cancel", &["id"]),
    ("task.stats", &[]),
    ("task.output", &["id", "offset", "limit"]),
    ("steward.status", &[]),
    ("steward.tick", &["loop"]),
    ("session.list", &["state", "limit"]),
    ("session.get", &["id"]),
    ("session.resume", &["id"]),
    ("session.cancel", &["id"]),
];

/// Every method the daemon serves.
pub fn methods(daemon: Daemon) -> Methods {
    let mut module = RpcModule::new(());
    module.merge(DaemonRpc { daemon: daemon.clone() }.into_rpc()).expect("method names are unique");
    module.merge(EventRpc { daemon: daemon.clone() }.into_rpc()).expect("method names are unique");
    module.merge(AutomationRpc { daemon: daemon.clone() }.into_rpc()).expect("method names are unique");
    module.merge(StewardRpc { daemon: daemon.clone() }.into_rpc()).expect("method names are unique");
    module.merge(TaskRpc { daemon }.into_rpc()).expect("method names are unique");
    params::guard(module.into(), PARAMS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::paths::Project;

    /// A daemon handle over a fresh store, enough to build the methods.
    fn daemon(dir: &std::path::Path) -> Daemon {
        use crate::daemon::Components;
        let project = Project::at(dir).unwrap();
        let store = crate::store::Store::open(&dir.join("steward.db")).unwrap().store;
        let events = std::sync::Arc::new(crate::events::EventBus::new(16));
        let config = crate::live_config::LiveConfig::new(Config::default());
        let supervisor = crate::supervisor::Supervisor::new(
            store.clone(),
            events.clone(),
            project.clone(),
            config.clone(),
            "/nonexistent".into(),
        );
        let queue = crate::queue::Queue::new(store.clone(), events.clone(), supervisor.clone(), project.clone());
        Daemon::new(project, "/nonexistent.sock".into(), Components { config, store, events, queue, supervisor }, None)
    }

    #[test]
    fn every_method_declares_its_parameters() {
        let dir = tempfile::tempdir().unwrap();
        let methods = methods(daemon(dir.path()));
        for name in methods.method_names() {
            let declared = PARAMS.iter().any(|(method, _)| *method == name);
            assert!(declared, "`{name}` has no entry in api::PARAMS");
        }
        for (name, _) in PARAMS {
            assert!(methods.method(name).is_some(), "api::PARAMS names `{name}`, which is not served");
        }
    }
}
