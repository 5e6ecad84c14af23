//! The JSON-RPC API: one `#[rpc(server, client)]` trait per namespace, written once and used by
//! both the daemon (server) and the CLI (generated client).

pub mod daemon;
pub mod error;
pub mod event;
mod params;
pub mod types;

use jsonrpsee::RpcModule;
use jsonrpsee::core::server::Methods;

pub use daemon::{DaemonApiClient, DaemonApiServer, DaemonRpc};
pub use event::{EventApiClient, EventApiServer, EventRpc};

use crate::daemon::Daemon;

/// The parameters each method accepts by name; anything else is refused with -32602.
pub const PARAMS: &[params::Spec] = &[
    ("daemon.ping", &[]),
    ("ping", &[]),
    ("daemon.status", &[]),
    ("daemon.stop", &["grace_s"]),
    ("daemon.reload", &[]),
    ("event.emit", &["topic", "data"]),
    ("event.subscribe", &["topics", "since_seq"]),
    ("event.unsubscribe", &["subscription"]),
];

/// Every method the daemon serves.
pub fn methods(daemon: Daemon) -> Methods {
    let mut module = RpcModule::new(());
    module.merge(DaemonRpc { daemon: daemon.clone() }.into_rpc()).expect("method names are unique");
    module.merge(EventRpc { daemon }.into_rpc()).expect("method names are unique");
    params::guard(module.into(), PARAMS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::paths::Project;

    #[test]
    fn every_method_declares_its_parameters() {
        let project = Project::at(std::path::Path::new("/")).unwrap();
        let daemon = Daemon::new(project, "/nonexistent.sock".into(), Config::default(), None);
        let methods = methods(daemon);
        for name in methods.method_names() {
            let declared = PARAMS.iter().any(|(method, _)| *method == name);
            assert!(declared, "`{name}` has no entry in api::PARAMS");
        }
        for (name, _) in PARAMS {
            assert!(methods.method(name).is_some(), "api::PARAMS names `{name}`, which is not served");
        }
    }
}
