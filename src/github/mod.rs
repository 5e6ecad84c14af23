//! The GitHub adapter: the only code that talks to GitHub.
//!
//! [`GitHub`] is a cheap clonable handle over one HTTP client for one repository. Its methods
//! are GitHub's REST calls that the loops need, decoded into the plain types of [`types`]: reads
//! of issues, timelines, comments, permissions, labels, pull requests and CI results, and the few
//! mutations steward makes (comments, labels, pull requests).
//!
//! - Requests, rate limits, retries and pagination: `client` (one call in flight per handle).
//! - In dry-run mode every mutation is reported to the [`DryRunSink`] and logged instead of being
//!   sent; reads are still made so that the loops decide on real data. What each mutation then
//!   returns is documented on the method.
//! - The token is never logged, printed or put in an error.

mod access;
mod client;
mod comments;
mod error;
mod issues;
mod labels;
mod pulls;
mod rate_limit;
mod repo;
mod route;
mod settings;
mod types;
mod wire;

use std::fmt;
use std::sync::Arc;

pub use comments::{MAX_COMMENT_CHARS, cap_comment, comment_body, has_any_marker, has_marker, marker};
pub use error::GitHubError;
pub use repo::{RepoId, resolve_repo};
pub use settings::{Limits, Settings};
pub use types::{
    CheckRun, CombinedStatus, Comment, CommitStatus, Issue, Label, NewPull, Permission, PullRequest, Repository,
    TimelineEvent,
};

use client::Client;

/// Told about every mutation that dry-run mode does not make: the operation's name
/// (`create_comment`, `update_comment`, `add_labels`, `remove_label`, `create_label`,
/// `create_pull`, `update_pull`) and its arguments as JSON.
pub type DryRunSink = Arc<dyn Fn(&'static str, serde_json::Value) + Send + Sync>;

/// The adapter for one repository. Clones share the client, its rate-limit state and its
/// one-request-at-a-time queue.
///
/// Create it inside the tokio runtime that will use it: the HTTP client's worker task lives
/// there (outside a runtime the client is built on the first call instead).
#[derive(Clone)]
pub struct GitHub {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    api_url: String,
    dry_run: bool,
    sink: DryRunSink,
}

impl fmt::Debug for GitHub {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitHub")
            .field("api_url", &self.inner.api_url)
            .field("repo", self.repo())
            .field("dry_run", &self.inner.dry_run)
            .finish_non_exhaustive()
    }
}

impl GitHub {
    /// A client with the daemon's [`Limits`].
    pub fn new(settings: Settings, dry_run_sink: DryRunSink) -> Result<GitHub, GitHubError> {
        GitHub::with_limits(settings, dry_run_sink, Limits::default())
    }

    /// A client with other waits, retries and page caps (tests shorten them).
    pub fn with_limits(settings: Settings, dry_run_sink: DryRunSink, limits: Limits) -> Result<GitHub, GitHubError> {
        let client = Client::new(&settings, limits)?;
        Ok(GitHub {
            inner: Arc::new(Inner { client, api_url: settings.api_url, dry_run: settings.dry_run, sink: dry_run_sink }),
        })
    }

    pub fn repo(&self) -> &RepoId {
        self.inner.client.repo()
    }

    pub fn dry_run(&self) -> bool {
        self.inner.dry_run
    }

    fn client(&self) -> &Client {
        &self.inner.client
    }

    /// In dry-run mode: reports the mutation and says to skip it.
    fn skip_in_dry_run(&self, operation: &'static str, arguments: serde_json::Value) -> bool {
        if !self.inner.dry_run {
            return false;
        }
        tracing::info!(operation, arguments = %arguments, repo = %self.repo(), "dry run: GitHub mutation not made");
        (self.inner.sink)(operation, arguments);
        true
    }
}
