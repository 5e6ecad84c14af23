//! The HTTP side of the adapter: one request at a time through octocrab's raw methods, with
//! GitHub's headers, rate-limit waits, the single retry of a failed read, pagination and a trace
//! line per call. Everything above this file deals in decoded answers and [`GitHubError`]s.
//!
//! Calls are serialized by a mutex held for the whole call, waits included, so the daemon never
//! has two requests in flight and a rate-limit wait holds back every other call too. Mutations
//! are never repeated after a transport error or a 5xx (GitHub may have acted, and a second POST
//! would duplicate a comment); a rate-limit refusal is repeated for every method, since GitHub
//! did not act on it.

use std::time::Instant;

use chrono::{DateTime, TimeDelta, Utc};
use http::header::{ACCEPT, HeaderValue, USER_AGENT};
use http::{HeaderMap, Method};
use octocrab::Octocrab;
use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, OnceCell};

use super::error::GitHubError;
use super::rate_limit::{RateHeaders, limited};
use super::repo::RepoId;
use super::route::{next_link, origin_of, path_of};
use super::settings::{Limits, Settings, api_base, check_token};
use super::wire::WireError;

const USER_AGENT_VALUE: &str = concat!("steward/", env!("CARGO_PKG_VERSION"));
const API_VERSION: &str = "2022-11-28";

/// A raw answer: status, headers and body text.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// What a request is about, for error messages: a 404 of the repository itself is permanent,
/// a 404 of an issue is not.
pub(crate) enum Subject {
    Repo,
    Item(String),
}

/// When the rate-limit window is known to be closed, and whether by a secondary limit.
struct Gate {
    closed_until: Option<(DateTime<Utc>, bool)>,
}

pub(crate) struct Client {
    base: String,
    origin: String,
    repo: RepoId,
    /// Only kept to redact it from anything that could end up in a message.
    token: String,
    limits: Limits,
    /// Built on first use when `new` ran outside a runtime: octocrab spawns a worker task.
    octocrab: OnceCell<Octocrab>,
    gate: Mutex<Gate>,
}

impl Client {
    pub fn new(settings: &Settings, limits: Limits) -> Result<Client, GitHubError> {
        let base = api_base(&settings.api_url)?;
        check_token(&settings.token, "the configured token variable")?;
        let mut client = Client {
            origin: origin_of(&base),
            base,
            repo: settings.repo.clone(),
            token: settings.token.clone(),
            limits,
            octocrab: OnceCell::new(),
            gate: Mutex::new(Gate { closed_until: None }),
        };
        // Building early reports a broken TLS setup at startup rather than at the first call.
        if tokio::runtime::Handle::try_current().is_ok() {
            client.octocrab = OnceCell::new_with(Some(client.build()?));
        }
        Ok(client)
    }

    fn build(&self) -> Result<Octocrab, GitHubError> {
        Octocrab::builder()
            .base_uri(self.base.as_str())
            .and_then(|builder| {
                builder
                    .personal_token(self.token.clone())
                    .set_connect_timeout(Some(self.limits.connect_timeout))
                    .set_read_timeout(Some(self.limits.io_timeout))
                    .set_write_timeout(Some(self.limits.io_timeout))
                    .build()
            })
            .map_err(|error| GitHubError::Config {
                message: format!(
                    "could not set up the HTTP client for {}: {}; if it names certificates, install the system's CA \
                     certificates (ca-certificates)",
                    self.base,
                    self.redact(&chain(&error))
                ),
            })
    }

    async fn octocrab(&self) -> Result<&Octocrab, GitHubError> {
        self.octocrab.get_or_try_init(|| async { self.build() }).await
    }

    pub fn repo(&self) -> &RepoId {
        &self.repo
    }

    /// The absolute URL of an API path (`/repos/...`, already encoded).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `/repos/{owner}/{repo}` followed by `rest`.
    pub fn repo_url(&self, rest: &str) -> String {
        self.url(&format!("/repos/{}/{}{rest}", self.repo.owner, self.repo.name))
    }

    fn redact(&self, text: &str) -> String {
        if self.token.is_empty() { text.to_owned() } else { text.replace(&self.token, "[redacted]") }
    }

    /// Sends one request, waiting out rate limits and retrying a failed read once. Returns any
    /// answer that is not a rate limit or a 5xx; `tolerated` statuses are logged as successes.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        tolerated: &[u16],
    ) -> Result<Answer, GitHubError> {
        let mut gate = self.gate.lock().await;
        let started = Instant::now();
        let path = path_of(url);
        let is_read = method == Method::GET;
        let (mut retries, mut secondary_repeats, mut read_retried) = (0u32, 0u32, false);
        loop {
            if let Some((until, secondary)) = gate.closed_until {
                let wait = (until - Utc::now()).to_std().unwrap_or_default();
                if wait > self.limits.max_wait {
                    tracing::warn!(%method, path, %until, secondary, "GitHub rate limit: not waiting that long");
                    return Err(GitHubError::RateLimited { until, secondary });
                }
                if !wait.is_zero() {
                    tracing::info!(%method, path, wait_s = wait.as_secs_f64(), "waiting for GitHub's rate limit window");
                    tokio::time::sleep(wait).await;
                }
                gate.closed_until = None;
            }
            let answer = match self.execute(method.clone(), url, body).await {
                Ok(answer) => answer,
                Err(error) => {
                    if is_read && !read_retried && retries < self.limits.max_retries {
                        tracing::info!(%method, path, %error, "GitHub request failed; retrying the read once");
                        (read_retried, retries) = (true, retries + 1);
                        tokio::time::sleep(self.limits.read_retry_backoff).await;
                        continue;
                    }
                    log_failure(&method, path, None, started, retries, &error);
                    return Err(error);
                }
            };
            let now = Utc::now();
            let rate = RateHeaders::read(&answer.headers);
            let message = || self.redact(&WireError::parse(&answer.body).message);
            if let Some(limit) = limited(answer.status, &rate, &message(), secondary_repeats, now) {
                secondary_repeats += u32::from(limit.secondary);
                let until = now + TimeDelta::from_std(limit.wait).unwrap_or(TimeDelta::MAX);
                if retries < self.limits.max_retries && limit.wait <= self.limits.max_wait {
                    tracing::warn!(%method, path, status = answer.status, wait_s = limit.wait.as_secs_f64(),
                        secondary = limit.secondary, "GitHub rate limit: waiting, then retrying");
                    retries += 1;
                    tokio::time::sleep(limit.wait).await;
                    continue;
                }
                // Later calls fail fast instead of asking GitHub again before the window opens.
                gate.closed_until = Some((until, limit.secondary));
                let error = GitHubError::RateLimited { until, secondary: limit.secondary };
                log_failure(&method, path, Some(answer.status), started, retries, &error);
                return Err(error);
            }
            if answer.status >= 500 {
                if is_read && !read_retried && retries < self.limits.max_retries {
                    tracing::info!(%method, path, status = answer.status, "GitHub server error; retrying the read once");
                    (read_retried, retries) = (true, retries + 1);
                    tokio::time::sleep(self.limits.read_retry_backoff).await;
                    continue;
                }
                let error = GitHubError::Server { status: answer.status, message: self.summary(&answer) };
                log_failure(&method, path, Some(answer.status), started, retries, &error);
                return Err(error);
            }
            if let Some(until) = rate.window_closed_until(now) {
                gate.closed_until = Some((until, false));
            }
            let elapsed_ms = started.elapsed().as_millis() as u64;
            if answer.is_success() || tolerated.contains(&answer.status) {
                tracing::debug!(%method, path, status = answer.status, elapsed_ms, retries, "GitHub request");
            } else {
                tracing::warn!(%method, path, status = answer.status, elapsed_ms, retries, message = %message(),
                    "GitHub request refused");
            }
            return Ok(answer);
        }
    }

    async fn execute(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, GitHubError> {
        let octocrab = self.octocrab().await?;
        let transport = |error: &dyn std::error::Error| GitHubError::Transport { message: self.redact(&chain(error)) };
        let mut request = octocrab
            .build_request(http::Request::builder().method(method).uri(url), body)
            .map_err(|error| transport(&error))?;
        // `insert` replaces: octocrab's own defaults for these must not be sent twice.
        let headers = request.headers_mut();
        headers.insert(ACCEPT, HeaderValue::from_static("application/vnd.github+json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
        headers.insert("x-github-api-version", HeaderValue::from_static(API_VERSION));
        let response = octocrab.execute(request).await.map_err(|error| transport(&error))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = octocrab.body_to_string(response).await.map_err(|error| transport(&error))?;
        Ok(Answer { status, headers, body })
    }

    /// GitHub's message for a failed answer (or the start of the body when it has none).
    fn summary(&self, answer: &Answer) -> String {
        let described = WireError::parse(&answer.body).describe();
        let text = if described == "no message" {
            let start: String = answer.body.chars().take(200).collect();
            if start.trim().is_empty() { format!("HTTP {}", answer.status) } else { start }
        } else {
            described
        };
        self.redact(&text)
    }

    /// The error for an answer that is not a success.
    pub fn refusal(&self, answer: &Answer, subject: &Subject) -> GitHubError {
        let message = self.summary(answer);
        match answer.status {
            401 => GitHubError::BadCredentials,
            403 => GitHubError::Forbidden { message },
            404 | 410 => match subject {
                Subject::Repo => GitHubError::RepoNotFound { repo: self.repo.to_string() },
                Subject::Item(what) => GitHubError::NotFound { what: what.clone() },
            },
            300..=399 => GitHubError::Config {
                message: format!(
                    "GitHub answered {} for {}: the repository was probably renamed or transferred{}; set \
                     [github].repo to its new name",
                    answer.status,
                    self.repo,
                    answer
                        .headers
                        .get(http::header::LOCATION)
                        .and_then(|value| value.to_str().ok())
                        .map(|location| format!(" (now at {location})"))
                        .unwrap_or_default()
                ),
            },
            422 => GitHubError::Validation { message },
            status if status >= 500 => GitHubError::Server { status, message },
            status => GitHubError::Validation { message: format!("HTTP {status}: {message}") },
        }
    }

    /// Decodes a successful answer's body.
    pub fn decode<T: DeserializeOwned>(&self, answer: &Answer, subject: &Subject) -> Result<T, GitHubError> {
        serde_json::from_str(&answer.body).map_err(|error| GitHubError::Decode {
            what: describe(subject, &self.repo),
            message: self.redact(&error.to_string()),
        })
    }

    /// A request that must succeed, decoded.
    pub async fn fetch<T: DeserializeOwned>(
        &self,
        method: Method,
        url: &str,
        body: Option<&serde_json::Value>,
        subject: &Subject,
    ) -> Result<T, GitHubError> {
        let answer = self.send(method, url, body, &[]).await?;
        if !answer.is_success() {
            return Err(self.refusal(&answer, subject));
        }
        self.decode(&answer, subject)
    }

    /// Every page of a listing, from `first` along the `rel="next"` links; `on_page` gets each
    /// successful answer.
    pub async fn each_page(
        &self,
        first: String,
        subject: &Subject,
        mut on_page: impl FnMut(&Answer) -> Result<(), GitHubError>,
    ) -> Result<(), GitHubError> {
        let mut url = first;
        let mut pages = 0;
        loop {
            pages += 1;
            let answer = self.send(Method::GET, &url, None, &[]).await?;
            if !answer.is_success() {
                return Err(self.refusal(&answer, subject));
            }
            on_page(&answer)?;
            let Some(next) = next_link(&answer.headers) else { return Ok(()) };
            // The token goes wherever the link points: it must stay on the configured API.
            if origin_of(&next) != self.origin {
                return Err(GitHubError::Decode {
                    what: describe(subject, &self.repo),
                    message: format!(
                        "the next page is on {} rather than {}; check [github].api_url",
                        origin_of(&next),
                        self.origin
                    ),
                });
            }
            if pages >= self.limits.max_pages {
                return Err(GitHubError::TooManyPages { what: describe(subject, &self.repo), pages });
            }
            url = next;
        }
    }

    /// [`each_page`](Self::each_page) for listings whose pages are JSON arrays.
    pub async fn all_pages<T: DeserializeOwned>(
        &self,
        first: String,
        subject: &Subject,
    ) -> Result<Vec<T>, GitHubError> {
        let mut items = Vec::new();
        self.each_page(first, subject, |answer| {
            items.extend(self.decode::<Vec<T>>(answer, subject)?);
            Ok(())
        })
        .await?;
        Ok(items)
    }
}

fn describe(subject: &Subject, repo: &RepoId) -> String {
    match subject {
        Subject::Repo => format!("the repository {repo}"),
        Subject::Item(what) => what.clone(),
    }
}

/// An error and its causes on one line (octocrab's own message is often just "Service Error").
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn log_failure(method: &Method, path: &str, status: Option<u16>, started: Instant, retries: u32, error: &GitHubError) {
    let elapsed_ms = started.elapsed().as_millis() as u64;
    tracing::warn!(%method, path, status, elapsed_ms, retries, %error, "GitHub request failed");
}
