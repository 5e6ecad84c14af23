//! What can go wrong talking to GitHub, each case saying what happened and what to do about it.
//!
//! The loops decide between "back off and try again" and "a human must fix this" with
//! [`GitHubError::is_permanent`]. No message ever carries the token: the client redacts it from
//! anything GitHub or the transport hands back before it becomes an error.

use chrono::{DateTime, Utc};

/// A failed GitHub call.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum GitHubError {
    #[error(
        "no GitHub token: set {env} in the daemon's environment (a fine-grained token with Issues and Pull \
         requests read/write, Metadata read); the daemon reads it when it starts"
    )]
    MissingToken { env: String },

    #[error(
        "GitHub rejected the token (401 Bad credentials): it is wrong, expired or revoked; put a valid token in \
         the variable named by [github].token_env and restart the daemon"
    )]
    BadCredentials,

    #[error(
        "GitHub refused the request (403: {message}); the token probably lacks a permission: give it Issues and \
         Pull requests read/write and Metadata read on this repository"
    )]
    Forbidden { message: String },

    #[error("{what} was not found on GitHub (404); it may have been deleted or moved")]
    NotFound { what: String },

    #[error(
        "the repository {repo} was not found on GitHub, or the token cannot see it (404): check [github].repo \
         and that the token has access to this repository"
    )]
    RepoNotFound { repo: String },

    #[error("GitHub did not accept the request (422 Validation failed: {message})")]
    Validation { message: String },

    #[error(
        "GitHub's {kind} rate limit is exhausted until {until}; steward waits and tries again then",
        kind = if *secondary { "secondary" } else { "primary" }
    )]
    RateLimited { until: DateTime<Utc>, secondary: bool },

    #[error("GitHub answered {status} ({message}); this is usually temporary, steward tries again later")]
    Server { status: u16, message: String },

    #[error("could not reach GitHub: {message}; check the network and [github].api_url")]
    Transport { message: String },

    #[error("could not read GitHub's answer for {what}: {message}")]
    Decode { what: String, message: String },

    #[error(
        "listing {what} stopped after {pages} pages: more than steward reads in one go (10,000 items); close \
         stale items to bring the listing under that"
    )]
    TooManyPages { what: String, pages: usize },

    #[error("{message}")]
    NoRepo { message: String },

    #[error("{message}")]
    Config { message: String },
}

impl GitHubError {
    /// True when retrying cannot help and a human has to change something (the token, its
    /// permissions, the configuration, the repository's name); false when waiting may.
    pub fn is_permanent(&self) -> bool {
        match self {
            GitHubError::MissingToken { .. }
            | GitHubError::BadCredentials
            | GitHubError::Forbidden { .. }
            | GitHubError::RepoNotFound { .. }
            | GitHubError::NoRepo { .. }
            | GitHubError::Config { .. } => true,
            // A missing issue or comment, a refused payload or an oversized listing concern one
            // item: the loop skips it and the next tick may see it differently.
            GitHubError::NotFound { .. }
            | GitHubError::Validation { .. }
            | GitHubError::RateLimited { .. }
            | GitHubError::Server { .. }
            | GitHubError::Transport { .. }
            | GitHubError::Decode { .. }
            | GitHubError::TooManyPages { .. } => false,
        }
    }
}
