//! Automation: rules that turn file changes, cron schedules and events into tasks and events.

pub mod alarm;
pub mod compile;
pub mod cron;
pub mod engine;
pub mod rule;
pub mod runner;
pub mod sql;
pub mod state;
pub mod template;
pub mod watch;

pub use runner::{Automation, AutomationError, Parts};
pub use state::AutomationStatus;
