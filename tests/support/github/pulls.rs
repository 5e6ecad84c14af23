//! Pull-request endpoints (a pull request is also an issue: it takes the next issue number and
//! shows up in the issue listing) and the CI results of a ref: check runs and commit statuses.

use axum::Json;
use axum::extract::{Path, State as Extract};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::json as render;
use super::routes::{Shared, is_repo, lock, paged, paged_array};
use super::state::{FakePull, Role, State};

/// `head` (`owner:branch`) and `state` (open, closed, all; default open), newest first.
pub async fn list(Extract(shared): Extract<Shared>, Path((owner, repo)): Path<(String, String)>, uri: Uri) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    let query = uri.query().unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .map(|raw| percent_encoding::percent_decode_str(raw).decode_utf8_lossy().into_owned())
    };
    let wanted_state = param("state").unwrap_or_else(|| "open".to_owned());
    let head = param("head");
    let items = state
        .issues
        .values()
        .rev()
        .filter(|issue| issue.pull.is_some())
        .filter(|issue| wanted_state == "all" || issue.state == wanted_state)
        .filter(|issue| {
            head.as_deref().is_none_or(|head| {
                let branch = issue.pull.as_ref().map(|pull| pull.head.as_str()).unwrap_or_default();
                head.eq_ignore_ascii_case(&format!("{}:{branch}", state.owner)) || head == branch
            })
        })
        .map(|issue| render::pull(&state, issue, false))
        .collect();
    paged_array(&state, &uri, items)
}

pub async fn one(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
) -> Response {
    let state = lock(&shared);
    match state.issues.get(&number).filter(|issue| issue.pull.is_some()) {
        Some(issue) if is_repo(&state, &owner, &repo) => Json(render::pull(&state, issue, true)).into_response(),
        _ => render::not_found(),
    }
}

/// 201; 422 for a missing title, an unknown head or base branch, or a head that already has an
/// open pull request, with GitHub's error entries.
pub async fn create(
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
    let text = |key: &str| input.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (title, head, base) = (text("title"), text("head"), text("base"));
    let head = head.strip_prefix(&format!("{}:", state.owner)).map(str::to_owned).unwrap_or(head);
    if title.is_empty() {
        return render::validation(json!([{"resource": "PullRequest", "field": "title", "code": "missing_field"}]));
    }
    for (field, branch) in [("head", &head), ("base", &base)] {
        if !state.branches.contains(branch.as_str()) && state.git_sha(branch).is_none() {
            return render::validation(json!([{"resource": "PullRequest", "field": field, "code": "invalid"}]));
        }
    }
    let open_for_head = state
        .issues
        .values()
        .any(|issue| issue.state == "open" && issue.pull.as_ref().is_some_and(|pull| pull.head == head));
    if open_for_head {
        let message = format!("A pull request already exists for {}:{head}.", state.owner);
        return render::validation(json!([{"resource": "PullRequest", "code": "custom", "message": message}]));
    }
    let draft = input.get("draft").and_then(Value::as_bool).unwrap_or(false);
    let body = input.get("body").and_then(Value::as_str).map(str::to_owned);
    let author = state.token_user.clone();
    let head_sha = state.git_sha(&head).unwrap_or_else(|| fake_sha(&head));
    let number =
        insert_pull(&mut state, &title, body, &author, FakePull { head_sha, head, base, draft, merged: false });
    let created = state.issues.get(&number).map(|issue| render::pull(&state, issue, true));
    (StatusCode::CREATED, Json(created.unwrap_or(Value::Null))).into_response()
}

/// Changes `title` and/or `body`.
pub async fn update(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, number)): Path<(String, String, u64)>,
    Json(input): Json<Value>,
) -> Response {
    let mut state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    if !state.token_can(Role::Write) {
        return render::no_access();
    }
    let Some(issue) = state.issues.get_mut(&number).filter(|issue| issue.pull.is_some()) else {
        return render::not_found();
    };
    if let Some(title) = input.get("title").and_then(Value::as_str) {
        issue.title = title.to_owned();
    }
    if let Some(body) = input.get("body").and_then(Value::as_str) {
        issue.body = Some(body.to_owned());
    }
    issue.updated_at = State::now();
    let updated = issue.clone();
    Json(render::pull(&state, &updated, true)).into_response()
}

/// Adds a pull request as the next issue number; returns the number.
pub fn insert_pull(state: &mut State, title: &str, body: Option<String>, author: &str, pull: FakePull) -> u64 {
    state.insert_issue(title, body, author, Some(pull))
}

/// A stable 40-hex-digit SHA for a branch name.
pub fn fake_sha(branch: &str) -> String {
    let seed = branch
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3));
    format!("{seed:016x}{:016x}{:08x}", seed.rotate_left(17), seed as u32)
}

/// `{total_count, check_runs}`, paginated like a listing.
pub async fn check_runs(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, git_ref)): Path<(String, String, String)>,
    uri: Uri,
) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    let runs = state.check_runs.get(&git_ref).cloned().unwrap_or_default();
    let items = runs.iter().enumerate().map(|(index, run)| render::check_run(&state, &git_ref, run, index)).collect();
    paged(&state, &uri, items, |page, total| json!({"total_count": total, "check_runs": page}))
}

/// `{state, statuses, sha, total_count}` with the latest status of each context: `failure` if
/// any is `error` or `failure`, `pending` if any is pending or there are none, else `success`.
pub async fn combined_status(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, git_ref)): Path<(String, String, String)>,
    uri: Uri,
) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    let mut latest: Vec<super::state::FakeStatus> = Vec::new();
    for status in state.statuses.get(&git_ref).into_iter().flatten() {
        latest.retain(|seen| seen.context != status.context);
        latest.push(status.clone());
    }
    let combined = if latest.iter().any(|status| matches!(status.state.as_str(), "error" | "failure")) {
        "failure"
    } else if latest.is_empty() || latest.iter().any(|status| status.state == "pending") {
        "pending"
    } else {
        "success"
    };
    let items = latest.iter().map(render::status).collect();
    let sha = fake_sha(&git_ref);
    paged(
        &state,
        &uri,
        items,
        |page, total| json!({"state": combined, "sha": sha, "total_count": total, "statuses": page}),
    )
}
