//! Runs agent processes: slots, timeouts, process groups, output capture.

pub mod process;
mod scheduler;

pub use scheduler::{RunningTask, Supervisor};
