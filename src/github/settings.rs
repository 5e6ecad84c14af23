//! Where the adapter talks to and as whom: the `[github]` section resolved into a repository and a
//! token, checked once at startup so that a bad setting is reported before any loop runs.
//!
//! The token lives only here and in the HTTP client: `Debug` is written by hand so that no log,
//! panic message or event can show it.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use super::error::GitHubError;
use super::repo::{RepoId, resolve_repo};
use crate::config::GithubConfig;

/// Everything [`GitHub::new`](super::GitHub::new) needs.
#[derive(Clone)]
pub struct Settings {
    /// `https://api.github.com`, or a GitHub Enterprise server's `https://HOST/api/v3`.
    pub api_url: String,
    pub repo: RepoId,
    /// Secret: never printed, logged or put into an error.
    pub token: String,
    /// Log every mutation through the dry-run sink instead of making it.
    pub dry_run: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("api_url", &self.api_url)
            .field("repo", &self.repo)
            .field("token", &"<redacted>")
            .field("dry_run", &self.dry_run)
            .finish()
    }
}

impl Settings {
    /// Reads the repository (see [`resolve_repo`]) and the token from the environment variable
    /// named by `token_env`.
    pub fn from_config(config: &GithubConfig, project_root: &Path, dry_run: bool) -> Result<Settings, GitHubError> {
        let env = config.token_env.trim();
        if env.is_empty() {
            return Err(GitHubError::Config {
                message: "[github].token_env is empty: name the environment variable that holds the token, \
                          like \"GITHUB_TOKEN\""
                    .to_owned(),
            });
        }
        // Check the API URL before anything else can fail on it further down.
        api_base(&config.api_url)?;
        let repo = resolve_repo(config, project_root)?;
        let token = std::env::var_os(env).map(|value| value.to_string_lossy().trim().to_owned()).unwrap_or_default();
        if token.is_empty() {
            return Err(GitHubError::MissingToken { env: env.to_owned() });
        }
        check_token(&token, env)?;
        Ok(Settings { api_url: config.api_url.clone(), repo, token, dry_run })
    }
}

/// The API's base URL without a trailing slash, or why it cannot be one.
pub(crate) fn api_base(api_url: &str) -> Result<String, GitHubError> {
    let base = api_url.trim().trim_end_matches('/');
    let bad = |why: &str| GitHubError::Config {
        message: format!(
            "[github].api_url = \"{api_url}\" {why}: use \"https://api.github.com\", or \"https://HOST/api/v3\" for \
             a GitHub Enterprise server"
        ),
    };
    let Some((scheme, rest)) = base.split_once("://") else { return Err(bad("is not a URL")) };
    if !matches!(scheme, "https" | "http") {
        return Err(bad("is neither https:// nor http://"));
    }
    let authority = rest.split('/').next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || rest.contains(['?', '#']) {
        return Err(bad("must be a plain URL with a host and no user, query or fragment"));
    }
    if base.parse::<http::Uri>().is_err() {
        return Err(bad("is not a valid URL"));
    }
    Ok(base.to_owned())
}

/// A token goes into an HTTP header; characters a header cannot carry (a newline from a badly
/// pasted secret) would otherwise fail much later, in the HTTP client.
pub(crate) fn check_token(token: &str, env: &str) -> Result<(), GitHubError> {
    if token.bytes().all(|byte| byte.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(GitHubError::Config {
            message: format!(
                "the token in {env} contains spaces or characters that cannot be sent to GitHub (a line break?): set \
                 it to the token alone"
            ),
        })
    }
}

/// How patient the client is; the defaults suit the daemon, tests shorten them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The longest the client waits for a rate limit to pass; beyond it a call fails with
    /// [`GitHubError::RateLimited`] at once.
    pub max_wait: Duration,
    /// Retries per call (rate-limit waits and the one retry of a failed read together).
    pub max_retries: u32,
    /// The pause before a read that failed with a 5xx or a transport error is tried again.
    pub read_retry_backoff: Duration,
    /// The most pages one listing follows.
    pub max_pages: usize,
    /// How long to wait for a connection, and for each read and write on it.
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_wait: Duration::from_secs(15 * 60),
            max_retries: 3,
            read_retry_backoff: Duration::from_secs(2),
            max_pages: 100,
            connect_timeout: Duration::from_secs(10),
            io_timeout: Duration::from_secs(60),
        }
    }
}
