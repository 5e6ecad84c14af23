//! The GitHub adapter against the GitHub-shaped server: each call's method, path, encoding,
//! headers and body as GitHub documents them, the decoding of its answer, pagination, rate
//! limits, retries, errors and dry run.

#[path = "support/github/mod.rs"]
mod fake;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{TimeDelta, Utc};
use fake::{FakeCheckRun, FakeGitHub, FakeStatus, Fault, Role, TOKEN};
use serde_json::{Value, json};
use steward::github::{
    DryRunSink, GitHub, GitHubError, Label, Limits, MAX_COMMENT_CHARS, NewPull, Permission, RepoId, Settings,
    comment_body, has_marker,
};

type Seen = Arc<Mutex<Vec<(&'static str, Value)>>>;

fn settings(fake: &FakeGitHub, token: &str, dry_run: bool) -> Settings {
    Settings {
        api_url: fake.url().to_owned(),
        repo: RepoId::parse(&fake.repo()).unwrap(),
        token: token.to_owned(),
        dry_run,
    }
}

fn quick_limits() -> Limits {
    Limits { max_wait: Duration::from_secs(5), read_retry_backoff: Duration::from_millis(10), ..Limits::default() }
}

fn client_with(fake: &FakeGitHub, dry_run: bool, limits: Limits) -> (GitHub, Seen) {
    let seen: Seen = Arc::default();
    let sink_seen = seen.clone();
    let sink: DryRunSink = Arc::new(move |operation, arguments| sink_seen.lock().unwrap().push((operation, arguments)));
    (GitHub::with_limits(settings(fake, TOKEN, dry_run), sink, limits).unwrap(), seen)
}

fn client(fake: &FakeGitHub) -> GitHub {
    client_with(fake, false, quick_limits()).0
}

#[tokio::test]
async fn every_request_carries_githubs_headers() {
    let fake = FakeGitHub::start();
    let github = client(&fake);
    github.repository().await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!((request.method.as_str(), request.path.as_str()), ("GET", "/repos/octo/widgets"));
    assert_eq!(request.header_values("accept"), ["application/vnd.github+json"]);
    assert_eq!(request.header_values("x-github-api-version"), ["2022-11-28"]);
    assert!(request.header("user-agent").is_some_and(|agent| agent.starts_with("steward/")));
    assert_eq!(request.status, 200);
}

#[tokio::test]
async fn repository_and_token_user_decode() {
    let fake = FakeGitHub::start();
    let github = client(&fake);
    let repository = github.repository().await.unwrap();
    assert_eq!(repository.full_name, "octo/widgets");
    assert_eq!(repository.default_branch, "main");
    assert_eq!(github.authenticated_user().await.unwrap(), "steward-bot");
}

#[tokio::test]
async fn open_issues_follow_every_page_and_leave_out_pull_requests() {
    let fake = FakeGitHub::start();
    for n in 0..230 {
        fake.issue(&format!("issue {n}"), "body", "octo");
    }
    let pull = fake.pull("a pull request", "feature", "octo");
    fake.close(3);
    let github = client(&fake);
    let issues = github.open_issues(None).await.unwrap();
    assert_eq!(issues.len(), 229, "every open issue, without #3 (closed) or the pull request");
    assert!(issues.iter().all(|issue| issue.number != pull && issue.number != 3));
    let requests = fake.requests();
    assert_eq!(requests.len(), 3, "100 + 100 + 31 items: three pages");
    assert_eq!(requests[0].query_param("state"), Some("open"));
    assert_eq!(requests[0].query_param("per_page"), Some("100"));
    assert_eq!(requests[2].query_param("page"), Some("3"));
    let first = &issues.iter().find(|issue| issue.number == 1).unwrap();
    assert_eq!((first.title.as_str(), first.body.as_str(), first.user.as_str()), ("issue 0", "body", "octo"));
    assert_eq!(first.author_association, "OWNER");
    assert!(first.html_url.ends_with("/octo/widgets/issues/1"));
}

#[tokio::test]
async fn since_is_sent_as_an_iso_8601_timestamp() {
    let fake = FakeGitHub::start();
    let old = fake.issue("old", "", "octo");
    fake.with(|state| state.issues.get_mut(&old).unwrap().updated_at = Utc::now() - TimeDelta::days(3));
    let new = fake.issue("new", "", "octo");
    let github = client(&fake);
    let since = Utc::now() - TimeDelta::days(1);
    let issues = github.open_issues(Some(since)).await.unwrap();
    assert_eq!(issues.iter().map(|issue| issue.number).collect::<Vec<_>>(), [new]);
    let sent = fake.requests()[0].query_param("since").unwrap().to_owned();
    assert!(sent.ends_with('Z') && sent.contains("T"), "since={sent}");
}

#[tokio::test]
async fn timeline_tells_who_applied_each_label() {
    let fake = FakeGitHub::start();
    fake.user("mallory", Role::Read);
    let number = fake.issue("fix it", "", "octo");
    fake.label(number, "steward:ready", "mallory");
    fake.comment(number, "octo", "hello");
    fake.label(number, "bug", "octo");
    fake.unlabel(number, "steward:ready", "octo");
    let github = client(&fake);
    let timeline = github.timeline(number).await.unwrap();
    let labels: Vec<(&str, Option<&str>, Option<&str>)> =
        timeline.iter().map(|event| (event.event.as_str(), event.actor.as_deref(), event.label.as_deref())).collect();
    assert_eq!(
        labels,
        [
            ("labeled", Some("mallory"), Some("steward:ready")),
            ("commented", Some("octo"), None),
            ("labeled", Some("octo"), Some("bug")),
            ("unlabeled", Some("octo"), Some("steward:ready")),
        ]
    );
    assert!(timeline.iter().all(|event| event.created_at.is_some()));
}

#[tokio::test]
async fn permission_reads_role_name_and_treats_strangers_as_none() {
    let fake = FakeGitHub::start();
    for (login, role) in
        [("ana", Role::Admin), ("mo", Role::Maintain), ("wu", Role::Write), ("tri", Role::Triage), ("rae", Role::Read)]
    {
        fake.user(login, role);
    }
    let github = client(&fake);
    let expected = [
        ("ana", Permission::Admin),
        ("mo", Permission::Maintain),
        ("wu", Permission::Write),
        ("tri", Permission::Triage),
        ("rae", Permission::Read),
        ("stranger", Permission::None),
    ];
    for (login, permission) in expected {
        assert_eq!(github.permission(login).await.unwrap(), permission, "{login}");
    }
    assert!(Permission::Maintain.can_write() && !Permission::Triage.can_write());
    let paths: Vec<String> = fake.requests().into_iter().map(|request| request.path).collect();
    assert_eq!(paths[0], "/repos/octo/widgets/collaborators/ana/permission");
}

#[tokio::test]
async fn labels_are_added_in_a_body_and_removed_by_an_encoded_name() {
    let fake = FakeGitHub::start();
    let number = fake.issue("x", "", "octo");
    let github = client(&fake);
    github.add_labels(number, &["good first issue".to_owned(), "steward:ready".to_owned()]).await.unwrap();
    assert_eq!(fake.labels_of(number), ["good first issue", "steward:ready"]);
    github.remove_label(number, "good first issue").await.unwrap();
    assert_eq!(fake.labels_of(number), ["steward:ready"]);
    // Not on the issue any more: GitHub's 404, which is what removing wanted.
    github.remove_label(number, "good first issue").await.unwrap();
    github.add_labels(number, &[]).await.unwrap();
    let mutations = fake.mutations();
    assert_eq!(mutations.len(), 3, "no request for an empty list");
    assert_eq!(mutations[0].path, format!("/repos/octo/widgets/issues/{number}/labels"));
    assert_eq!(mutations[0].json(), json!({"labels": ["good first issue", "steward:ready"]}));
    assert_eq!(mutations[1].method, "DELETE");
    assert_eq!(mutations[1].path, format!("/repos/octo/widgets/issues/{number}/labels/good%20first%20issue"));
    assert_eq!(mutations[2].status, 404);
}

#[tokio::test]
async fn missing_labels_are_created_with_colours_and_existing_ones_kept() {
    let fake = FakeGitHub::start();
    fake.with(|state| {
        state.labels.push(fake::FakeLabel { name: "Steward:Ready".into(), color: "000000".into(), description: None })
    });
    let github = client(&fake);
    let wanted = [
        Label::new("steward:ready", "#0e8a16", "ready for an agent"),
        Label::new("steward:triaged", "c5def5", "seen by triage"),
    ];
    github.ensure_labels(&wanted).await.unwrap();
    let labels = fake.repo_labels();
    assert_eq!(labels.len(), 2);
    assert_eq!(labels[0].color, "000000", "an existing label (any case) is left alone");
    assert_eq!((labels[1].name.as_str(), labels[1].color.as_str()), ("steward:triaged", "c5def5"));
    assert_eq!(labels[1].description.as_deref(), Some("seen by triage"));
    let posted = fake.mutations();
    assert_eq!(posted.len(), 1);
    assert_eq!(
        posted[0].json(),
        json!({"name": "steward:triaged", "color": "c5def5", "description": "seen by triage"})
    );
    // A label created meanwhile (422 already_exists) is fine too.
    github.create_label(&Label::new("steward:triaged", "c5def5", "")).await.unwrap();
}

#[tokio::test]
async fn comments_carry_a_marker_and_are_capped() {
    let fake = FakeGitHub::start();
    let number = fake.issue("x", "", "octo");
    fake.comment(number, "octo", "a human's comment");
    let github = client(&fake);
    let body = comment_body("Looks like a bug.", "triage", &number.to_string());
    let made = github.create_comment(number, &body).await.unwrap();
    assert!(made.id > 0);
    assert_eq!(made.user, "steward-bot");
    let comments = github.comments(number).await.unwrap();
    assert_eq!(comments.len(), 2);
    assert!(!has_marker(&comments[0].body, "triage", &number.to_string()));
    assert!(has_marker(&comments[1].body, "triage", &number.to_string()));
    assert!(!has_marker(&comments[1].body, "triage", "99"), "the marker names its key exactly");

    let huge = comment_body(&"x".repeat(100_000), "triage", &number.to_string());
    let updated = github.update_comment(made.id, &huge).await.unwrap();
    assert!(updated.body.chars().count() <= MAX_COMMENT_CHARS);
    assert!(has_marker(&updated.body, "triage", &number.to_string()), "capping keeps the marker");
    assert_eq!(fake.comments_on(number)[1], updated.body);
    let patch = fake.mutations().pop().unwrap();
    assert_eq!(
        (patch.method.as_str(), patch.path.as_str()),
        ("PATCH", &*format!("/repos/octo/widgets/issues/comments/{}", made.id))
    );
}

#[tokio::test]
async fn dry_run_reads_but_sends_no_mutation() {
    let fake = FakeGitHub::start();
    let number = fake.issue("x", "", "octo");
    let (github, seen) = client_with(&fake, true, quick_limits());
    assert!(github.dry_run());
    assert_eq!(github.open_issues(None).await.unwrap().len(), 1, "reads are made");
    github.add_labels(number, &["bug".to_owned()]).await.unwrap();
    github.remove_label(number, "bug").await.unwrap();
    github.create_comment(number, "hello").await.unwrap();
    github.update_comment(7, "hello again").await.unwrap();
    github.ensure_labels(&[Label::new("steward:ready", "0e8a16", "")]).await.unwrap();
    let pull =
        NewPull { title: "t".into(), body: "b".into(), head: "steward/1".into(), base: "main".into(), draft: true };
    github.create_pull(&pull).await.unwrap();
    assert!(fake.mutations().is_empty(), "nothing was changed: {:?}", fake.mutations());
    let operations: Vec<&str> = seen.lock().unwrap().iter().map(|(operation, _)| *operation).collect();
    assert_eq!(
        operations,
        ["add_labels", "remove_label", "create_comment", "update_comment", "create_label", "create_pull"]
    );
    assert_eq!(seen.lock().unwrap()[0].1, json!({"issue": number, "labels": ["bug"]}));
    assert!(fake.labels_of(number).is_empty());
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out_as_retry_after_says() {
    let fake = FakeGitHub::start();
    let number = fake.issue("x", "", "octo");
    fake.fail(Fault::SecondaryRateLimit { retry_after: Some(1) }, 1, Some("POST"), None);
    let github = client(&fake);
    github.create_comment(number, "once").await.unwrap();
    let posts = fake.mutations();
    assert_eq!(posts.len(), 2, "refused, then repeated once");
    assert_eq!(posts[0].status, 403);
    assert_eq!(posts[1].status, 201);
    let waited = posts[1].at - posts[0].at;
    assert!(waited >= Duration::from_secs(1), "retry-after: 1 was honoured (waited {waited:?})");
    assert_eq!(fake.comments_on(number), ["once"], "exactly one comment");
}

#[tokio::test]
async fn too_many_requests_is_a_rate_limit_too() {
    let fake = FakeGitHub::start();
    fake.fail(Fault::TooManyRequests { retry_after: Some(1) }, 1, None, None);
    let github = client(&fake);
    github.repository().await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.iter().map(|request| request.status).collect::<Vec<_>>(), [429, 200]);
    assert!(requests[1].at - requests[0].at >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_long_primary_limit_fails_fast_and_holds_back_later_calls() {
    let fake = FakeGitHub::start();
    fake.fail(Fault::PrimaryRateLimit { reset_in: 3600 }, 1, None, None);
    let github = client(&fake);
    let started = Instant::now();
    let error = github.repository().await.unwrap_err();
    assert!(matches!(error, GitHubError::RateLimited { secondary: false, .. }), "{error:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "an hour is not waited for");
    assert!(!error.is_permanent());
    assert!(error.to_string().contains("rate limit"), "{error}");
    // The window is known to be closed: the next call does not ask GitHub again.
    let again = github.authenticated_user().await.unwrap_err();
    assert!(matches!(again, GitHubError::RateLimited { .. }), "{again:?}");
    assert_eq!(fake.requests().len(), 1);
}

#[tokio::test]
async fn the_last_request_of_a_window_holds_back_the_next_until_reset() {
    let fake = FakeGitHub::start();
    fake.fail(Fault::LastOfWindow { reset_in: 2 }, 1, None, None);
    let github = client(&fake);
    github.repository().await.unwrap();
    github.authenticated_user().await.unwrap();
    let requests = fake.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests[1].at - requests[0].at >= Duration::from_millis(900), "waited for the reset");
}

#[tokio::test]
async fn a_failed_read_is_retried_once_and_a_failed_write_never() {
    let fake = FakeGitHub::start();
    let number = fake.issue("x", "", "octo");
    fake.fail(Fault::ServerError, 1, Some("GET"), None);
    let github = client(&fake);
    assert_eq!(github.issue(number).await.unwrap().number, number);
    assert_eq!(fake.requests().iter().map(|request| request.status).collect::<Vec<_>>(), [500, 200]);

    fake.clear_log();
    fake.fail(Fault::BadGateway, 1, Some("POST"), None);
    let error = github.create_comment(number, "hi").await.unwrap_err();
    assert!(matches!(error, GitHubError::Server { status: 502, .. }), "{error:?}");
    assert_eq!(fake.mutations().len(), 1, "GitHub may have acted: a POST is never repeated");

    fake.clear_log();
    fake.fail(Fault::ServerError, 2, Some("GET"), None);
    let error = github.issue(number).await.unwrap_err();
    assert!(matches!(error, GitHubError::Server { status: 500, .. }), "{error:?}");
    assert_eq!(fake.requests().len(), 2, "one retry only");
}

#[tokio::test]
async fn a_rejected_token_is_bad_credentials_and_never_shown() {
    let fake = FakeGitHub::start();
    let wrong = "ghp_wrongwrongwrongwrongwrongwrongwrong1";
    let github = GitHub::with_limits(settings(&fake, wrong, false), Arc::new(|_, _| {}), quick_limits()).unwrap();
    let error = github.repository().await.unwrap_err();
    assert!(matches!(error, GitHubError::BadCredentials), "{error:?}");
    assert!(error.is_permanent());
    let text = error.to_string();
    assert!(!text.contains(wrong) && text.contains("token"), "{text}");
    assert!(!format!("{github:?}").contains(wrong));
}

#[tokio::test]
async fn a_missing_repository_and_a_missing_issue_are_told_apart() {
    let fake = FakeGitHub::start();
    let mut settings = settings(&fake, TOKEN, false);
    settings.repo = RepoId::parse("octo/gone").unwrap();
    let github = GitHub::with_limits(settings, Arc::new(|_, _| {}), quick_limits()).unwrap();
    let error = github.repository().await.unwrap_err();
    assert!(matches!(error, GitHubError::RepoNotFound { .. }) && error.is_permanent(), "{error:?}");
    assert!(error.to_string().contains("octo/gone"));

    let github = client(&fake);
    let error = github.issue(404).await.unwrap_err();
    assert!(matches!(error, GitHubError::NotFound { .. }) && !error.is_permanent(), "{error:?}");
    assert!(error.to_string().contains("#404"), "{error}");
}

#[tokio::test]
async fn pull_requests_are_created_found_by_branch_and_updated() {
    let fake = FakeGitHub::start();
    fake.with(|state| state.branches.insert("steward/7-fix".to_owned()));
    let github = client(&fake);
    let new = NewPull {
        title: "Fix #7".into(),
        body: "Closes #7".into(),
        head: "steward/7-fix".into(),
        base: "main".into(),
        draft: true,
    };
    let made = github.create_pull(&new).await.unwrap();
    assert!(made.draft && made.state == "open");
    assert_eq!((made.head_ref.as_str(), made.base_ref.as_str()), ("steward/7-fix", "main"));
    let post = fake.mutations().pop().unwrap();
    assert_eq!(post.path, "/repos/octo/widgets/pulls");
    assert_eq!(
        post.json(),
        json!({"title": "Fix #7", "body": "Closes #7", "head": "steward/7-fix", "base": "main", "draft": true})
    );

    let found = github.pulls_for_branch("steward/7-fix").await.unwrap();
    assert_eq!(found.iter().map(|pull| pull.number).collect::<Vec<_>>(), [made.number]);
    let listing = fake.requests().pop().unwrap();
    assert_eq!(listing.query_param("head"), Some("octo%3Asteward%2F7-fix"), "head is owner:branch, encoded");
    assert!(github.pulls_for_branch("elsewhere").await.unwrap().is_empty());

    let updated = github.update_pull(made.number, Some("Fix #7 (v2)"), None).await.unwrap();
    assert_eq!(updated.title, "Fix #7 (v2)");
    assert_eq!(updated.body, "Closes #7");
    assert_eq!(github.pull(made.number).await.unwrap().title, "Fix #7 (v2)");
}

#[tokio::test]
async fn ci_results_are_read_from_check_runs_and_statuses() {
    let fake = FakeGitHub::start();
    let sha = FakeGitHub::sha("steward/7-fix");
    fake.check_run(
        &sha,
        FakeCheckRun {
            name: "test".into(),
            status: "completed".into(),
            conclusion: Some("failure".into()),
            title: Some("2 tests failed".into()),
            summary: Some("tests::a, tests::b".into()),
        },
    );
    fake.check_run(
        &sha,
        FakeCheckRun {
            name: "lint".into(),
            status: "in_progress".into(),
            conclusion: None,
            title: None,
            summary: None,
        },
    );
    fake.status(
        &sha,
        FakeStatus {
            context: "ci/legacy".into(),
            state: "success".into(),
            description: Some("ok".into()),
            target_url: None,
        },
    );
    let github = client(&fake);
    let runs = github.check_runs(&sha).await.unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!((runs[0].name.as_str(), runs[0].conclusion.as_deref()), ("test", Some("failure")));
    assert_eq!(runs[0].title.as_deref(), Some("2 tests failed"));
    assert_eq!((runs[1].status.as_str(), runs[1].conclusion.as_deref()), ("in_progress", None));
    let combined = github.combined_status(&sha).await.unwrap();
    assert_eq!(combined.state, "success");
    assert_eq!(combined.statuses[0].context, "ci/legacy");
    assert!(github.check_runs("no-such-ref").await.unwrap().is_empty());
}

#[test]
fn settings_name_the_missing_token_variable() {
    let root = tempfile::tempdir().unwrap();
    let config = steward::config::GithubConfig {
        repo: "octo/widgets".into(),
        token_env: "STEWARD_TEST_TOKEN_THAT_IS_NOT_SET".into(),
        ..Default::default()
    };
    let error = Settings::from_config(&config, root.path(), false).unwrap_err();
    assert!(matches!(&error, GitHubError::MissingToken { env } if env == "STEWARD_TEST_TOKEN_THAT_IS_NOT_SET"));
    assert!(error.to_string().contains("STEWARD_TEST_TOKEN_THAT_IS_NOT_SET"), "{error}");
}
