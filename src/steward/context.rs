//! What a tick works with, how it reports its decisions, and how it ends.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::json;

use super::policy::{Loop, Skip};
use crate::config::Config;
use crate::events::EventBus;
use crate::github::{GitHub, GitHubError};
use crate::queue::Queue;
use crate::store::{Store, StoreError};

/// One tick's view of the daemon.
pub(super) struct Context<'a> {
    pub config: Arc<Config>,
    pub github: GitHub,
    pub store: Store,
    pub queue: Queue,
    pub events: Arc<EventBus>,
    pub decisions: &'a mut HashMap<(Loop, u64), String>,
    /// Changes made on GitHub so far (or reported instead, in dry run).
    pub changes: u32,
    pub project_root: PathBuf,
    /// Facts about the repository looked up once per client.
    pub facts: &'a mut RepoFacts,
}

/// What does not change between ticks: the default branch and whose token it is.
#[derive(Debug, Default, Clone)]
pub(super) struct RepoFacts {
    pub default_branch: Option<String>,
    pub login: Option<String>,
}

impl Context<'_> {
    /// `owner/name`.
    pub fn repo(&self) -> String {
        self.github.repo().to_string()
    }

    /// The repository's default branch (asked once).
    pub async fn default_branch(&mut self) -> Result<String, TickError> {
        if let Some(branch) = &self.facts.default_branch {
            return Ok(branch.clone());
        }
        let branch = self.github.repository().await?.default_branch;
        self.facts.default_branch = Some(branch.clone());
        Ok(branch)
    }

    /// The login of the token's user (asked once): its comments are not answers.
    pub async fn own_login(&mut self) -> Result<String, TickError> {
        if let Some(login) = &self.facts.login {
            return Ok(login.clone());
        }
        let login = self.github.authenticated_user().await?;
        self.facts.login = Some(login.clone());
        Ok(login)
    }

    /// Reports a decision about an issue as a `steward:decision` event, unless it is the same
    /// as the last one reported for it (a skipped issue is not re-announced at every tick).
    pub fn decide(&mut self, r#loop: Loop, issue: u64, decision: Result<(), &Skip>) {
        let (code, detail) = match decision {
            Ok(()) => ("selected".to_owned(), "selected".to_owned()),
            Err(skip) => (skip.code(), skip.describe()),
        };
        let key = format!("{code}: {detail}");
        if self.decisions.get(&(r#loop, issue)) == Some(&key) {
            return;
        }
        self.decisions.insert((r#loop, issue), key);
        tracing::info!(r#loop = r#loop.name(), issue, decision = %code, %detail, "decision");
        let verdict = if decision.is_ok() { "select" } else { "skip" };
        self.events.emit(
            "steward:decision",
            json!({ "loop": r#loop.name(), "issue": issue, "decision": verdict, "reason": code, "detail": detail }),
        );
    }
}

/// How a tick ended when it did not fail.
pub(super) enum TickOutcome {
    /// A gate was closed: nothing was read or written.
    Skipped(Skip),
    /// It ran.
    Done { summary: String, considered: u32, changes: u32 },
}

/// A failed tick: why, whether only a person can fix it, and what it had changed before.
#[derive(Debug)]
pub(super) struct TickError {
    pub message: String,
    pub needs_person: bool,
    pub changes: u32,
}

impl From<GitHubError> for TickError {
    fn from(err: GitHubError) -> Self {
        TickError { needs_person: err.is_permanent(), message: err.to_string(), changes: 0 }
    }
}

impl From<StoreError> for TickError {
    fn from(err: StoreError) -> Self {
        TickError { needs_person: false, message: err.to_string(), changes: 0 }
    }
}
