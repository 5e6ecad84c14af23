//! Automation: rules that turn file changes, cron schedules and events into tasks and events.

pub mod cron;
pub mod watch;
