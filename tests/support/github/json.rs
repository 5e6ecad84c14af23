//! The fake's objects in GitHub's JSON shapes: the field names and nesting of GitHub's REST
//! answers (users as objects with `login`, labels as objects, `pull_request` on issues that are
//! pull requests, ...), with enough of the other fields to look like the real thing.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};

use super::state::{FakeCheckRun, FakeComment, FakeEvent, FakeIssue, FakeLabel, FakeStatus, State};

pub fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A stable small id for a login, so `id` fields look like GitHub's.
fn user_id(login: &str) -> u64 {
    login.bytes().fold(7u64, |hash, byte| hash.wrapping_mul(31).wrapping_add(u64::from(byte))) % 10_000_000
}

pub fn user(login: &str) -> Value {
    json!({
        "login": login,
        "id": user_id(login),
        "type": if login.ends_with("[bot]") { "Bot" } else { "User" },
        "site_admin": false,
        "html_url": format!("https://github.com/{login}"),
    })
}

pub fn label(state: &State, name: &str) -> Value {
    let found = state.labels.iter().find(|label| label.name.eq_ignore_ascii_case(name));
    let fallback = FakeLabel { name: name.to_owned(), color: "ededed".to_owned(), description: None };
    repo_label(found.unwrap_or(&fallback))
}

pub fn repo_label(label: &FakeLabel) -> Value {
    json!({
        "id": user_id(&label.name),
        "name": label.name,
        "color": label.color,
        "description": label.description,
        "default": false,
    })
}

pub fn issue(state: &State, issue: &FakeIssue) -> Value {
    let api = format!("{}/repos/{}", state.base_url, state.full_name());
    let web = format!("https://github.com/{}", state.full_name());
    let kind = if issue.pull.is_some() { "pull" } else { "issues" };
    let comments = state.comments.iter().filter(|comment| comment.issue == issue.number).count();
    let mut value = json!({
        "id": 100_000 + issue.number,
        "url": format!("{api}/issues/{}", issue.number),
        "html_url": format!("{web}/{kind}/{}", issue.number),
        "number": issue.number,
        "state": issue.state,
        "title": issue.title,
        "body": issue.body,
        "user": user(&issue.author),
        "labels": issue.labels.iter().map(|name| label(state, name)).collect::<Vec<_>>(),
        "assignees": [],
        "locked": false,
        "comments": comments,
        "author_association": issue.author_association,
        "created_at": time(&issue.created_at),
        "updated_at": time(&issue.updated_at),
        "closed_at": null,
    });
    if issue.pull.is_some() {
        value["pull_request"] = json!({
            "url": format!("{api}/pulls/{}", issue.number),
            "html_url": format!("{web}/pull/{}", issue.number),
            "merged_at": null,
        });
    }
    value
}

pub fn comment(state: &State, comment: &FakeComment) -> Value {
    let api = format!("{}/repos/{}", state.base_url, state.full_name());
    json!({
        "id": comment.id,
        "url": format!("{api}/issues/comments/{}", comment.id),
        "html_url": format!("https://github.com/{}/issues/{}#issuecomment-{}", state.full_name(), comment.issue, comment.id),
        "issue_url": format!("{api}/issues/{}", comment.issue),
        "body": comment.body,
        "user": user(&comment.author),
        "author_association": comment.author_association,
        "created_at": time(&comment.created_at),
        "updated_at": time(&comment.updated_at),
    })
}

pub fn event(state: &State, event: &FakeEvent, index: usize) -> Value {
    let mut value = json!({
        "id": 500_000 + index,
        "event": event.event,
        "actor": user(&event.actor),
        "created_at": time(&event.created_at),
        "performed_via_github_app": null,
    });
    if let Some(name) = &event.label {
        let full = label(state, name);
        value["label"] = json!({"name": full["name"], "color": full["color"]});
    }
    if event.event == "commented" {
        value["user"] = user(&event.actor);
        value["author_association"] = json!(state.association(&event.actor));
    }
    value
}

/// A pull request; `single` adds the fields only `GET /pulls/{number}` has (`merged`).
pub fn pull(state: &State, issue: &FakeIssue, single: bool) -> Value {
    let Some(pull) = &issue.pull else { return Value::Null };
    let web = format!("https://github.com/{}", state.full_name());
    let merged_at = pull.merged.then(|| time(&issue.updated_at));
    let mut value = json!({
        "id": 200_000 + issue.number,
        "number": issue.number,
        "state": issue.state,
        "draft": pull.draft,
        "locked": false,
        "title": issue.title,
        "body": issue.body,
        "user": user(&issue.author),
        "html_url": format!("{web}/pull/{}", issue.number),
        "merged_at": merged_at,
        "created_at": time(&issue.created_at),
        "updated_at": time(&issue.updated_at),
        "head": {"label": format!("{}:{}", state.owner, pull.head), "ref": pull.head, "sha": pull.head_sha},
        "base": {"label": format!("{}:{}", state.owner, pull.base), "ref": pull.base, "sha": "0".repeat(40)},
    });
    if single {
        value["merged"] = json!(pull.merged);
        value["mergeable"] = Value::Null;
    }
    value
}

pub fn check_run(state: &State, git_ref: &str, run: &FakeCheckRun, index: usize) -> Value {
    json!({
        "id": 700_000 + index,
        "name": run.name,
        "head_sha": git_ref,
        "status": run.status,
        "conclusion": run.conclusion,
        "html_url": format!("https://github.com/{}/runs/{}", state.full_name(), 700_000 + index),
        "details_url": format!("https://ci.example/{}", run.name),
        "output": {"title": run.title, "summary": run.summary, "text": null, "annotations_count": 0},
    })
}

pub fn status(status: &FakeStatus) -> Value {
    json!({
        "context": status.context,
        "state": status.state,
        "description": status.description,
        "target_url": status.target_url,
    })
}

/// GitHub's error body, `{message, documentation_url}`.
pub fn error(status: StatusCode, message: &str) -> Response {
    let body =
        json!({"message": message, "documentation_url": "https://docs.github.com/rest", "status": status.as_str()});
    (status, axum::Json(body)).into_response()
}

/// A 422 with GitHub's `errors` list.
pub fn validation(errors: Value) -> Response {
    let body = json!({
        "message": "Validation Failed",
        "errors": errors,
        "documentation_url": "https://docs.github.com/rest",
        "status": "422",
    });
    (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
}

pub fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "Not Found")
}

pub fn no_access() -> Response {
    error(StatusCode::FORBIDDEN, "Resource not accessible by personal access token")
}
