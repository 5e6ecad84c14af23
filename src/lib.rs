//! steward: a repository steward daemon and its client, in one binary.

pub mod api;
pub mod atomic_file;
pub mod automation;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod events;
pub mod github;
pub mod layout;
pub mod live_config;
pub mod logging;
pub mod paths;
pub mod queue;
pub mod service;
pub mod steward;
pub mod store;
pub(crate) mod suggest;
pub mod supervisor;
