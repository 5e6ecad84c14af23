//! The fake's HTTP front: the route table, what every request goes through first (the request
//! log, injected failures, the token check, rate-limit headers), pagination with absolute `Link`
//! headers, and the repository-level endpoints.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State as Extract};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch};
use serde_json::{Value, json};

use super::state::{Fault, LoggedRequest, State};
use super::{issues, json as render, pulls};

pub type Shared = Arc<Mutex<State>>;

/// A poisoned lock (a panicking test thread) must not take every later request down with it.
pub fn lock(shared: &Shared) -> MutexGuard<'_, State> {
    shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn router(shared: Shared) -> Router {
    let repo = "/repos/{owner}/{repo}";
    Router::new()
        .route("/user", get(authenticated_user))
        .route(repo, get(repository))
        .route(&format!("{repo}/collaborators/{{username}}/permission"), get(permission))
        .route(&format!("{repo}/issues"), get(issues::list))
        .route(&format!("{repo}/issues/{{number}}"), get(issues::one))
        .route(&format!("{repo}/issues/{{number}}/timeline"), get(issues::timeline))
        .route(&format!("{repo}/issues/{{number}}/comments"), get(issues::comments).post(issues::create_comment))
        .route(&format!("{repo}/issues/comments/{{id}}"), patch(issues::update_comment))
        .route(&format!("{repo}/issues/{{number}}/labels"), axum::routing::post(issues::add_labels))
        .route(&format!("{repo}/issues/{{number}}/labels/{{name}}"), delete(issues::remove_label))
        .route(&format!("{repo}/labels"), get(issues::repo_labels).post(issues::create_label))
        .route(&format!("{repo}/pulls"), get(pulls::list).post(pulls::create))
        .route(&format!("{repo}/pulls/{{number}}"), get(pulls::one).patch(pulls::update))
        .route(&format!("{repo}/commits/{{git_ref}}/check-runs"), get(pulls::check_runs))
        .route(&format!("{repo}/commits/{{git_ref}}/status"), get(pulls::combined_status))
        .fallback(|| async { render::not_found() })
        .layer(middleware::from_fn_with_state(shared.clone(), front))
        .with_state(shared)
}

/// Logs the request, then answers with an injected failure, a 401, or the route's answer with
/// GitHub's rate-limit headers.
async fn front(Extract(shared): Extract<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 << 20).await.unwrap_or_default();
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| *name != header::AUTHORIZATION)
        .map(|(name, value)| (name.as_str().to_owned(), String::from_utf8_lossy(value.as_bytes()).into_owned()))
        .collect();
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let (index, fault, unauthorized) = {
        let mut state = lock(&shared);
        state.log.push(LoggedRequest {
            method: method.clone(),
            path: path.clone(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            body: String::from_utf8_lossy(&body).into_owned(),
            headers,
            at: std::time::Instant::now(),
            status: 0,
        });
        let fault = take_fault(&mut state, &method, &path);
        let unauthorized = check_token(&state, parts.headers.get(header::AUTHORIZATION));
        (state.log.len() - 1, fault, unauthorized)
    };
    let response = match (fault, unauthorized) {
        (Some(Fault::Hang { apply }), unauthorized) => {
            if apply && unauthorized.is_none() {
                let _ = next.run(Request::from_parts(parts, Body::from(body))).await;
            }
            lock(&shared).hung += 1;
            std::future::pending::<()>().await;
            unreachable!("a pending future never completes")
        }
        (Some(fault), _) if !matches!(fault, Fault::LastOfWindow { .. }) => fault_answer(&fault),
        (_, Some(refusal)) => refusal,
        (fault, None) => {
            let mut response = next.run(Request::from_parts(parts, Body::from(body))).await;
            let reset_in = match fault {
                Some(Fault::LastOfWindow { reset_in }) => Some(reset_in),
                _ => None,
            };
            let remaining = {
                let mut state = lock(&shared);
                state.remaining = state.remaining.saturating_sub(1);
                if reset_in.is_some() { 0 } else { state.remaining }
            };
            rate_headers(response.headers_mut(), remaining, reset_in.unwrap_or(3600));
            response
        }
    };
    lock(&shared).log[index].status = response.status().as_u16();
    response
}

fn take_fault(state: &mut State, method: &str, path: &str) -> Option<Fault> {
    let index = state.faults.iter().position(|pending| pending.times > 0 && pending.matches(method, path))?;
    let pending = &mut state.faults[index];
    pending.times -= 1;
    let fault = pending.fault.clone();
    if pending.times == 0 {
        state.faults.remove(index);
    }
    Some(fault)
}

/// `Bearer TOKEN` or `token TOKEN`, as GitHub accepts.
fn check_token(state: &State, authorization: Option<&HeaderValue>) -> Option<Response> {
    let Some(value) = authorization.and_then(|value| value.to_str().ok()) else {
        return Some(render::error(StatusCode::UNAUTHORIZED, "Requires authentication"));
    };
    let token = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("token ")).unwrap_or_default();
    (token != state.token).then(|| render::error(StatusCode::UNAUTHORIZED, "Bad credentials"))
}

fn epoch_in(seconds: u64) -> i64 {
    State::now().timestamp() + i64::try_from(seconds).unwrap_or(i64::MAX / 2)
}

fn rate_headers(headers: &mut axum::http::HeaderMap, remaining: u64, reset_in: u64) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set("x-ratelimit-limit", "5000".to_owned());
    set("x-ratelimit-remaining", remaining.to_string());
    set("x-ratelimit-used", (5000 - remaining.min(5000)).to_string());
    set("x-ratelimit-reset", epoch_in(reset_in).to_string());
    set("x-ratelimit-resource", "core".to_owned());
}

fn fault_answer(fault: &Fault) -> Response {
    const SECONDARY: &str = "You have exceeded a secondary rate limit. Please wait a few minutes before you try \
                             again. If you reach out to GitHub Support for help, please include the request ID \
                             FAKE:1234.";
    let with_retry_after = |mut response: Response, retry_after: Option<u64>| {
        if let Some(seconds) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    };
    match fault {
        Fault::SecondaryRateLimit { retry_after } => {
            with_retry_after(render::error(StatusCode::FORBIDDEN, SECONDARY), *retry_after)
        }
        Fault::TooManyRequests { retry_after } => {
            with_retry_after(render::error(StatusCode::TOO_MANY_REQUESTS, SECONDARY), *retry_after)
        }
        Fault::PrimaryRateLimit { reset_in } => {
            let mut response =
                render::error(StatusCode::FORBIDDEN, "API rate limit exceeded for user ID 4242. If you reach out ...");
            rate_headers(response.headers_mut(), 0, *reset_in);
            response
        }
        Fault::ServerError => render::error(StatusCode::INTERNAL_SERVER_ERROR, "Server Error"),
        Fault::BadGateway => {
            (StatusCode::BAD_GATEWAY, "<html><body><h1>502 Bad Gateway</h1></body></html>").into_response()
        }
        Fault::LastOfWindow { .. } => StatusCode::OK.into_response(),
        // Handled before any answer is made.
        Fault::Hang { .. } => StatusCode::GATEWAY_TIMEOUT.into_response(),
    }
}

/// Whether `owner/repo` in the path is the fake's repository (GitHub ignores case there).
pub fn is_repo(state: &State, owner: &str, repo: &str) -> bool {
    owner.eq_ignore_ascii_case(&state.owner) && repo.eq_ignore_ascii_case(&state.name)
}

/// One page of `items` as GitHub serves it: `per_page` (default 30, at most 100) and `page`
/// from the query, and a `Link` header of absolute URLs that keep the rest of the query.
pub fn paged(state: &State, uri: &Uri, items: Vec<Value>, wrap: impl FnOnce(Vec<Value>, usize) -> Value) -> Response {
    let raw = uri.query().unwrap_or_default();
    let number =
        |name: &str| raw.split('&').find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse::<usize>().ok());
    let per_page = number("per_page").unwrap_or(30).clamp(1, 100);
    let page = number("page").unwrap_or(1).max(1);
    let total = items.len();
    let last = total.div_ceil(per_page).max(1);
    let kept: Vec<&str> = raw.split('&').filter(|pair| !pair.is_empty() && !pair.starts_with("page=")).collect();
    let link_to = |target: usize, rel: &str| {
        let mut query = kept.clone();
        let page_pair = format!("page={target}");
        query.push(&page_pair);
        format!("<{}{}?{}>; rel=\"{rel}\"", state.base_url, uri.path(), query.join("&"))
    };
    let mut links = Vec::new();
    if page > 1 {
        links.push(link_to(page - 1, "prev"));
    }
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
    }
    let slice = items.into_iter().skip((page - 1) * per_page).take(per_page).collect();
    let mut response = axum::Json(wrap(slice, total)).into_response();
    if !links.is_empty()
        && let Ok(value) = HeaderValue::from_str(&links.join(", "))
    {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

/// A plain JSON array page.
pub fn paged_array(state: &State, uri: &Uri, items: Vec<Value>) -> Response {
    paged(state, uri, items, |page, _| Value::Array(page))
}

async fn authenticated_user(Extract(shared): Extract<Shared>) -> Response {
    let state = lock(&shared);
    axum::Json(render::user(&state.token_user)).into_response()
}

async fn repository(Extract(shared): Extract<Shared>, Path((owner, repo)): Path<(String, String)>) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    axum::Json(json!({
        "id": 4242,
        "name": state.name,
        "full_name": state.full_name(),
        "owner": render::user(&state.owner),
        "private": state.private,
        "default_branch": state.default_branch,
        "html_url": format!("https://github.com/{}", state.full_name()),
    }))
    .into_response()
}

/// `role_name` and the legacy `permission`; anyone who is not a collaborator is a 404 here.
async fn permission(
    Extract(shared): Extract<Shared>,
    Path((owner, repo, username)): Path<(String, String, String)>,
) -> Response {
    let state = lock(&shared);
    if !is_repo(&state, &owner, &repo) {
        return render::not_found();
    }
    let Some(role) = state.role(&username) else {
        return render::error(StatusCode::NOT_FOUND, &format!("{username} is not a user"));
    };
    let mut user = render::user(&username);
    user["role_name"] = json!(role.role_name());
    axum::Json(json!({"permission": role.legacy_permission(), "role_name": role.role_name(), "user": user}))
        .into_response()
}
