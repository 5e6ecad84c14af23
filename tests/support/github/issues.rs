//! Issue endpoints: listing (pull requests included, as GitHub does), one issue, its timeline,
//! comments, and labels on issues and of the repository. Mutations are made as the token's user
//! and need the role GitHub asks for (triage to label, write to create repository labels).

use axum::Json;
use axum::extract::{Path, State as Extract};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::json as render;
use super::routes::{Shared, is_repo, lock, paged_array};
use super::state::{FakeLabel, Role, State};

type IssuePath = Path<(String, String, u64)>;

/// `state` (open, closed, all; default open) and `since` (updated at or after), newest first.
pub async fn list(Extract(shared): Extract<Shared>, Path((owner, repo)): Path<(String, String)>, uri: Uri) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    let query = uri.query().unwrap_or_default();
    let param = |name: &str| query.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='));
    let wanted_state = param("state").unwrap_or("open");
    let since = match param("since") {
        None => None,
        Some(raw) => {
            match DateTime::parse_from_rfc3339(&percent_encoding::percent_decode_str(raw).decode_utf8_lossy()) {
                Ok(at) => Some(at.with_timezone(&Utc)),
                Err(_) => {
                    return render::validation(json!([{"resource": "Issue", "field": "since", "code": "invalid"}]));
                }
            }
        }
    };
    let items = state
        .issues
        .values()
        .rev()
        .filter(|issue| wanted_state == "all" || issue.state == wanted_state)
        .filter(|issue| since.is_none_or(|since| issue.updated_at >= since))
        .map(|issue| render::issue(&state, issue))
        .collect();
    paged_array(&state, &uri, items)
}

pub async fn one(Extract(shared): Extract<Shared>, Path((owner, repo, number)): IssuePath) -> Response {
    let state = lock(&shared);
    match state.issues.get(&number) {
        Some(issue) if is_repo(&state, &owner, &repo) => Json(render::issue(&state, issue)).into_response(),
        _ => render::not_found(),
    }
}

pub async fn timeline(Extract(shared): Extract<Shared>, Path((owner, repo, number)): IssuePath, uri: Uri) -> Response {
    let state = lock(&shared);
    let Some(issue) = state.issues.get(&number).filter(|_| is_repo(&state, &owner, &repo)) else {
        return render::not_found();
    };
    let items = issue.timeline.iter().enumerate().map(|(index, event)| render::event(&state, event, index)).collect();
    paged_array(&state, &uri, items)
}

pub async fn comments(Extract(shared): Extract<Shared>, Path((owner, repo, number)): IssuePath, uri: Uri) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) || !state.issues.contains_key(&number) {
        return render::not_found();
    }
    let items = state
        .comments
        .iter()
        .filter(|comment| comment.issue == number)
        .map(|comment| render::comment(&state, comment))
        .collect();
    paged_array(&state, &uri, items)
}

pub async fn create_comment(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, number)): IssuePath,
    Json(input): Json<Value>,
) -> Response {
    let mut state = lock(&shared);
    if !is_repo(&state, &owner, &repo) || !state.issues.contains_key(&number) {
        return render::not_found();
    }
    if !state.token_can(Role::Read) && state.private {
        return render::not_found();
    }
    let Some(body) = input.get("body").and_then(Value::as_str) else {
        return render::validation(json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]));
    };
    if body.chars().count() > 65_536 {
        return render::validation(json!([{"resource": "IssueComment", "field": "body", "code": "custom",
            "message": "body is too long (maximum is 65536 characters)"}]));
    }
    let author = state.token_user.clone();
    let id = state.comment(number, &author, body);
    let created =
        state.comments.iter().find(|comment| comment.id == id).map(|comment| render::comment(&state, comment));
    (StatusCode::CREATED, Json(created.unwrap_or(Value::Null))).into_response()
}

/// Only the author, or someone with write access, may edit a comment.
pub async fn update_comment(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, id)): IssuePath,
    Json(input): Json<Value>,
) -> Response {
    let mut state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    let Some(body) = input.get("body").and_then(Value::as_str).map(str::to_owned) else {
        return render::validation(json!([{"resource": "IssueComment", "field": "body", "code": "missing_field"}]));
    };
    let token_user = state.token_user.clone();
    let may_edit_any = state.token_can(Role::Write);
    let Some(comment) = state.comments.iter_mut().find(|comment| comment.id == id) else {
        return render::not_found();
    };
    if comment.author != token_user && !may_edit_any {
        return render::no_access();
    }
    comment.body = body;
    comment.updated_at = State::now();
    let updated = comment.clone();
    Json(render::comment(&state, &updated)).into_response()
}

/// `{"labels": [...]}`; answers with every label now on the issue.
pub async fn add_labels(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, number)): IssuePath,
    Json(input): Json<Value>,
) -> Response {
    let mut state = lock(&shared);
    if !is_repo(&state, &owner, &repo) || !state.issues.contains_key(&number) {
        return render::not_found();
    }
    if !state.token_can(Role::Triage) {
        return render::no_access();
    }
    let Some(labels) = input.get("labels").and_then(Value::as_array) else {
        return render::validation(json!([{"resource": "Label", "field": "labels", "code": "missing_field"}]));
    };
    let names: Vec<String> = labels.iter().filter_map(Value::as_str).map(str::to_owned).collect();
    let actor = state.token_user.clone();
    for name in &names {
        state.apply_label(number, name, &actor);
    }
    Json(labels_of(&state, number)).into_response()
}

/// 404 "Label does not exist" when the issue lacks it; else the labels left.
pub async fn remove_label(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, number, name)): Path<(String, String, u64, String)>,
) -> Response {
    let mut state = lock(&shared);
    if !is_repo(&state, &owner, &repo) || !state.issues.contains_key(&number) {
        return render::not_found();
    }
    if !state.token_can(Role::Triage) {
        return render::no_access();
    }
    let actor = state.token_user.clone();
    if !state.drop_label(number, &name, &actor) {
        return render::error(StatusCode::NOT_FOUND, "Label does not exist");
    }
    Json(labels_of(&state, number)).into_response()
}

fn labels_of(state: &State, number: u64) -> Value {
    let names = state.issues.get(&number).map(|issue| issue.labels.clone()).unwrap_or_default();
    Value::Array(names.iter().map(|name| render::label(state, name)).collect())
}

pub async fn repo_labels(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    uri: Uri,
) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    let items = state.labels.iter().map(render::repo_label).collect();
    paged_array(&state, &uri, items)
}

/// 201 with the label; 422 `already_exists` for a taken name (any case), `invalid` for a colour
/// that is not six hex digits.
pub async fn create_label(
    Extract(shared): Extract<Shared>,
    Path((owner, repo)): Path<(String, String)>,
    Json(input): Json<Value>,
) -> Response {
    let mut state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    if !state.token_can(Role::Write) {
        return render::no_access();
    }
    let text = |key: &str| input.get(key).and_then(Value::as_str).map(str::to_owned);
    let Some(name) = text("name").filter(|name| !name.is_empty()) else {
        return render::validation(json!([{"resource": "Label", "field": "name", "code": "missing_field"}]));
    };
    let color = text("color").unwrap_or_else(|| "ededed".to_owned());
    if color.len() != 6 || !color.chars().all(|c| c.is_ascii_hexdigit()) {
        return render::validation(json!([{"resource": "Label", "field": "color", "code": "invalid"}]));
    }
    if state.labels.iter().any(|label| label.name.eq_ignore_ascii_case(&name)) {
        return render::validation(json!([{"resource": "Label", "field": "name", "code": "already_exists"}]));
    }
    let label = FakeLabel { name, color, description: text("description") };
    let created = render::repo_label(&label);
    state.labels.push(label);
    (StatusCode::CREATED, Json(created)).into_response()
}
