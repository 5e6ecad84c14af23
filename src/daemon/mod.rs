//! The daemon side of the binary: detaching, the instance lock, the PID file, the heartbeat and
//! `state.json`, signals, and the orderly stop.

pub mod detach;
mod heartbeat;
mod instance;
pub mod lock;
mod memory;
pub mod notify;
pub mod pidfile;
mod run;

pub use instance::{Components, Daemon, log_settings, restart_required};
pub use run::{Launch, Reporter, serve};
