//! GitHub's JSON as it arrives, and its conversion into the adapter's types.
//!
//! Only the fields steward reads are declared (serde skips the rest), and anything GitHub
//! documents as nullable is an `Option` here so that a null never fails a whole listing.

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::types::{CheckRun, Comment, CommitStatus, Issue, Label, PullRequest, Repository, TimelineEvent};

#[derive(Deserialize)]
pub(crate) struct WireUser {
    pub login: String,
}

/// GitHub shows a deleted account as `ghost`; a null user means the same.
fn login(user: Option<WireUser>) -> String {
    user.map_or_else(|| "ghost".to_owned(), |user| user.login)
}

#[derive(Deserialize)]
pub(crate) struct WireRepository {
    full_name: String,
    default_branch: Option<String>,
    #[serde(default)]
    private: bool,
}

impl From<WireRepository> for Repository {
    fn from(wire: WireRepository) -> Self {
        Repository {
            full_name: wire.full_name,
            default_branch: wire.default_branch.unwrap_or_default(),
            private: wire.private,
        }
    }
}

/// Issue labels are objects in answers; the string form is accepted too, as GitHub's own
/// schema allows it.
#[derive(Deserialize)]
#[serde(untagged)]
enum WireIssueLabel {
    Object { name: String },
    Name(String),
}

#[derive(Deserialize)]
pub(crate) struct WireIssue {
    number: u64,
    title: String,
    body: Option<String>,
    #[serde(default)]
    labels: Vec<WireIssueLabel>,
    state: String,
    user: Option<WireUser>,
    author_association: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    html_url: String,
    /// Present (an object) exactly when the issue is a pull request.
    pull_request: Option<serde_json::Value>,
}

impl WireIssue {
    pub fn is_pull_request(&self) -> bool {
        self.pull_request.is_some()
    }
}

impl From<WireIssue> for Issue {
    fn from(wire: WireIssue) -> Self {
        Issue {
            number: wire.number,
            title: wire.title,
            body: wire.body.unwrap_or_default(),
            labels: wire
                .labels
                .into_iter()
                .map(|label| match label {
                    WireIssueLabel::Object { name } | WireIssueLabel::Name(name) => name,
                })
                .collect(),
            state: wire.state,
            user: login(wire.user),
            author_association: wire.author_association.unwrap_or_else(|| "NONE".to_owned()),
            created_at: wire.created_at,
            updated_at: wire.updated_at,
            html_url: wire.html_url,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct WireComment {
    id: u64,
    body: Option<String>,
    user: Option<WireUser>,
    author_association: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    html_url: String,
}

impl From<WireComment> for Comment {
    fn from(wire: WireComment) -> Self {
        Comment {
            id: wire.id,
            body: wire.body.unwrap_or_default(),
            user: login(wire.user),
            author_association: wire.author_association.unwrap_or_else(|| "NONE".to_owned()),
            created_at: wire.created_at,
            updated_at: wire.updated_at,
            html_url: wire.html_url,
        }
    }
}

#[derive(Deserialize)]
struct WireLabelName {
    name: String,
}

/// Timeline entries come in a dozen shapes; each field is optional so that none of them fails.
#[derive(Deserialize)]
pub(crate) struct WireTimelineEvent {
    #[serde(default)]
    event: Option<String>,
    actor: Option<WireUser>,
    /// `commented` entries name their author here as well.
    user: Option<WireUser>,
    label: Option<WireLabelName>,
    created_at: Option<DateTime<Utc>>,
}

impl From<WireTimelineEvent> for TimelineEvent {
    fn from(wire: WireTimelineEvent) -> Self {
        TimelineEvent {
            event: wire.event.unwrap_or_default(),
            actor: wire.actor.or(wire.user).map(|user| user.login),
            label: wire.label.map(|label| label.name),
            created_at: wire.created_at,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct WirePermission {
    pub permission: Option<String>,
    pub role_name: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct WireLabel {
    name: String,
    #[serde(default)]
    color: String,
    description: Option<String>,
}

impl From<WireLabel> for Label {
    fn from(wire: WireLabel) -> Self {
        Label { name: wire.name, color: wire.color, description: wire.description.unwrap_or_default() }
    }
}

#[derive(Deserialize)]
struct WireBranchRef {
    #[serde(rename = "ref")]
    name: String,
    #[serde(default)]
    sha: String,
}

#[derive(Deserialize)]
pub(crate) struct WirePull {
    number: u64,
    state: String,
    #[serde(default)]
    draft: bool,
    /// Only the single-pull answer has `merged`; listings have `merged_at` alone.
    merged: Option<bool>,
    merged_at: Option<String>,
    title: String,
    body: Option<String>,
    head: WireBranchRef,
    base: WireBranchRef,
    html_url: String,
}

impl From<WirePull> for PullRequest {
    fn from(wire: WirePull) -> Self {
        PullRequest {
            number: wire.number,
            state: wire.state,
            draft: wire.draft,
            merged: wire.merged.unwrap_or(wire.merged_at.is_some()),
            title: wire.title,
            body: wire.body.unwrap_or_default(),
            head_ref: wire.head.name,
            head_sha: wire.head.sha,
            base_ref: wire.base.name,
            html_url: wire.html_url,
        }
    }
}

#[derive(Deserialize)]
struct WireCheckOutput {
    title: Option<String>,
    summary: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct WireCheckRun {
    name: String,
    status: String,
    conclusion: Option<String>,
    html_url: Option<String>,
    details_url: Option<String>,
    output: Option<WireCheckOutput>,
}

impl From<WireCheckRun> for CheckRun {
    fn from(wire: WireCheckRun) -> Self {
        let (title, summary) = wire.output.map_or((None, None), |output| (output.title, output.summary));
        CheckRun {
            name: wire.name,
            status: wire.status,
            conclusion: wire.conclusion,
            html_url: wire.html_url.or(wire.details_url).unwrap_or_default(),
            title,
            summary,
        }
    }
}

/// `GET .../check-runs` wraps its page in an object.
#[derive(Deserialize)]
pub(crate) struct WireCheckRuns {
    pub check_runs: Vec<WireCheckRun>,
}

#[derive(Deserialize)]
pub(crate) struct WireCommitStatus {
    context: String,
    state: String,
    description: Option<String>,
    target_url: Option<String>,
}

impl From<WireCommitStatus> for CommitStatus {
    fn from(wire: WireCommitStatus) -> Self {
        CommitStatus {
            context: wire.context,
            state: wire.state,
            description: wire.description,
            target_url: wire.target_url,
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct WireCombinedStatus {
    pub state: String,
    #[serde(default)]
    pub statuses: Vec<WireCommitStatus>,
}

/// GitHub's error body: `{message, documentation_url, errors?}`.
#[derive(Deserialize, Default)]
pub(crate) struct WireError {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub errors: Vec<serde_json::Value>,
}

impl WireError {
    pub fn parse(body: &str) -> WireError {
        serde_json::from_str(body).unwrap_or_default()
    }

    /// `message (Resource.field: code; ...)`, the way a person reads a 422.
    pub fn describe(&self) -> String {
        let details: Vec<String> = self
            .errors
            .iter()
            .map(|error| match error {
                serde_json::Value::String(text) => text.clone(),
                serde_json::Value::Object(fields) => {
                    let text = |key: &str| fields.get(key).and_then(|value| value.as_str()).unwrap_or_default();
                    let place = [text("resource"), text("field")].into_iter().filter(|part| !part.is_empty());
                    let place = place.collect::<Vec<_>>().join(".");
                    let what = if text("message").is_empty() { text("code") } else { text("message") };
                    if place.is_empty() { what.to_owned() } else { format!("{place}: {what}") }
                }
                other => other.to_string(),
            })
            .collect();
        let message = if self.message.is_empty() { "no message" } else { &self.message };
        if details.is_empty() { message.to_owned() } else { format!("{message} ({})", details.join("; ")) }
    }

    /// Whether one of the `errors` has this `code` (`already_exists`, `invalid`, ...).
    pub fn has_code(&self, code: &str) -> bool {
        self.errors.iter().any(|error| error.get("code").and_then(|value| value.as_str()) == Some(code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_read_well() {
        let error = WireError::parse(
            r#"{"message":"Validation Failed","errors":[{"resource":"Label","code":"already_exists","field":"name"}],
                "documentation_url":"https://docs.github.com/rest"}"#,
        );
        assert_eq!(error.describe(), "Validation Failed (Label.name: already_exists)");
        assert!(error.has_code("already_exists"));
        assert_eq!(WireError::parse("<html>").describe(), "no message");
    }

    #[test]
    fn timeline_entries_of_any_shape_decode() {
        let events: Vec<WireTimelineEvent> = serde_json::from_str(
            r#"[{"event":"labeled","actor":{"login":"alice"},"label":{"name":"steward:ready","color":"0e8a16"},
                 "created_at":"2024-05-01T10:00:00Z"},
                {"event":"committed","sha":"abc","author":{"name":"A"}},
                {"event":"commented","user":{"login":"bob"},"actor":null,"created_at":"2024-05-02T10:00:00Z"}]"#,
        )
        .unwrap();
        let events: Vec<TimelineEvent> = events.into_iter().map(Into::into).collect();
        assert_eq!(events[0].actor.as_deref(), Some("alice"));
        assert_eq!(events[0].label.as_deref(), Some("steward:ready"));
        assert_eq!(events[1], TimelineEvent { event: "committed".into(), actor: None, label: None, created_at: None });
        assert_eq!(events[2].actor.as_deref(), Some("bob"));
    }
}
