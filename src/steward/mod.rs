//! The GitHub modes: loops that triage issues, work on ready ones in sessions, and resume them
//! when humans answer.
//!
//! Decisions are pure and table-tested: `policy` (may a loop act, may an issue be worked on),
//! `session` (how a session moves), `triage` (which labels), `schedule` (when the next tick is,
//! when to give up). The `runner` owns the loops' schedule and runs one tick at a time; each tick
//! (`tick_*`) gathers facts through the GitHub adapter, asks the pure parts, and acts.

pub mod git;
pub mod policy;
pub mod runner;
pub mod schedule;
pub mod session;
pub mod sessions;
pub mod sql;
pub mod triage;
pub mod work;

mod context;
mod effects;
mod gc;
mod tick_feedback;
mod tick_run;
mod tick_triage;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use policy::Loop;
pub use runner::{Parts, Steward, StewardError};

/// The labels steward uses, with their colours and descriptions (created when missing).
pub const LABELS: &[(&str, &str, &str)] = &[
    ("steward:ready", "0e8a16", "Ready for steward to work on (applied by someone with write access)"),
    ("steward:triaged", "c5def5", "steward has triaged this issue"),
    ("steward:in-progress", "fbca04", "steward is working on this issue"),
    ("steward:needs-input", "d93f0b", "steward asked a question and waits for an answer"),
    ("steward:needs-human", "b60205", "steward handed this issue to a human"),
    ("steward:done", "5319e7", "steward's pull request passed its checks"),
];

/// How one tick went, as `steward.tick` returns it and `steward.status` shows the last one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TickReport {
    /// `triage`, `feedback` or `run`.
    pub r#loop: String,
    #[serde(with = "crate::events::rfc3339")]
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    /// `ok`, `skipped` (a gate was closed: nothing was read or written) or `failed`.
    pub outcome: String,
    /// What happened, in a sentence.
    pub summary: String,
    /// Issues looked at.
    #[serde(default)]
    pub considered: u32,
    /// Changes made on GitHub (or, in dry run, reported instead).
    #[serde(default)]
    pub changes: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `steward.status`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StewardStatus {
    /// The mode in force.
    pub mode: crate::config::Mode,
    /// `config` or `--mode`.
    pub mode_source: String,
    /// `.steward/STOP` exists: no loop acts.
    pub kill_switch: bool,
    pub dry_run: bool,
    /// `owner/name`, once it could be resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_triage: Option<TickReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_feedback: Option<TickReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<TickReport>,
    /// Sessions that are neither over nor paused.
    pub active: u32,
    /// Sessions waiting for a human.
    pub paused: u32,
    /// The loops running in this mode: when each ticks next and how it fails.
    pub loops: Vec<LoopStatus>,
}

/// One loop in [`StewardStatus`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopStatus {
    pub r#loop: String,
    #[serde(with = "crate::automation::state::optional_time", default, skip_serializing_if = "Option::is_none")]
    pub next_tick: Option<DateTime<Utc>>,
    /// Retryable failures in a row.
    pub failures: u32,
    /// The last failure needs a person (the error says what to fix).
    pub blocked: bool,
}
