//! The GitHub modes end to end: the real daemon, its socket and its store, against the
//! GitHub-shaped server of `tests/support/github`.

#[path = "support/github/mod.rs"]
mod fake;
mod harness;

use std::time::Duration;

use fake::{FakeGitHub, Fault, Role, TOKEN};
use harness::{Ran, TestProject, run_with_deadline, wait_until};
use serde_json::{Value, json};
use steward::steward::schedule::GIVE_UP_AFTER;

/// The variable the tests' configurations name in `token_env`.
const TOKEN_ENV: &str = "STEWARD_TEST_GITHUB_TOKEN";

/// `[steward]`, `[github]` and `[policy]` for the fake, ticking only when asked (`steward.tick`),
/// followed by `extra`.
fn config(fake: &FakeGitHub, mode: &str, extra: &str) -> String {
    format!(
        r#"[agent]
command = ["sh", "-c", "cat >/dev/null; echo done"]

[steward]
mode = "{mode}"
intervals = {{ triage_s = 86400, feedback_s = 86400, run_s = 86400, idle_s = 3600 }}

[github]
repo = "octo/widgets"
api_url = "{url}"
token_env = "{TOKEN_ENV}"

[policy]
allow = ["octo/widgets"]

{extra}"#,
        url = fake.url()
    )
}

/// Starts the daemon with `token` (none: the variable unset) in its environment.
fn start(project: &TestProject, token: Option<&str>) {
    let mut command = project.command(&["daemon", "start", "--json"]);
    match token {
        Some(token) => command.env(TOKEN_ENV, token),
        None => command.env_remove(TOKEN_ENV),
    };
    let output = run_with_deadline(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "daemon start: {stdout} {}", String::from_utf8_lossy(&output.stderr));
}

fn project_with(fake: &FakeGitHub, mode: &str, extra: &str) -> TestProject {
    let project = TestProject::new();
    project.write_config(&config(fake, mode, extra));
    project.run(&["config", "check"]).code(0);
    start(&project, Some(TOKEN));
    project
}

fn tick(project: &TestProject, r#loop: &str) -> Value {
    let reply = project.call("steward.tick", json!({ "loop": r#loop }));
    reply.get("result").cloned().unwrap_or_else(|| panic!("steward.tick failed: {reply}"))
}

fn events(project: &TestProject, topic: &str) -> Vec<Value> {
    let reply = project.call("event.list", json!({ "topic": topic, "limit": 1000 }));
    reply["result"]["events"].as_array().cloned().unwrap_or_else(|| panic!("event.list failed: {reply}"))
}

fn reload(project: &TestProject, text: &str) {
    project.write_config(text);
    let reply = project.call("daemon.reload", json!({}));
    assert_eq!(reply["result"]["reloaded"], true, "{reply}");
}

const RULES: &str = r#"
[[triage.rules]]
labels = ["bug"]
title_regex = "(?i)crash|panic"

[[triage.rules]]
labels = ["documentation"]
body_regex = "(?i)readme|docs"

[[triage.rules]]
labels = ["needs-repro"]
has_labels = ["bug"]
lacks_labels = ["has-repro"]
"#;

#[test]
fn triage_labels_the_right_issues_and_only_those_then_does_nothing_new() {
    let fake = FakeGitHub::start();
    let crash = fake.issue("App crashes on start", "Stack trace below.", "octo");
    let docs = fake.issue("Typo", "The README says `stewrd`.", "octo");
    let plain = fake.issue("Feature: dark mode", "", "octo");
    let done = fake.issue("Already seen, crash", "", "octo");
    fake.label(done, "steward:triaged", "steward-bot");
    let held = fake.issue("Panic in parser", "", "octo");
    fake.label(held, "do-not-automate", "octo");
    let repro = fake.issue("Crash with repro", "", "octo");
    fake.label(repro, "has-repro", "octo");
    let reported = fake.issue("Wrong colour", "", "octo");
    fake.label(reported, "bug", "octo");
    let pull = fake.pull("Fix the crash", "fix-crash", "octo");
    fake.clear_log();

    let project = project_with(&fake, "triage", RULES);
    let report = tick(&project, "triage");
    assert_eq!(report["outcome"], "ok", "{report}");
    assert_eq!(report["considered"], 7, "the pull request is not an issue: {report}");

    assert_eq!(fake.labels_of(crash), ["bug", "steward:triaged"]);
    assert_eq!(fake.labels_of(reported), ["bug", "needs-repro", "steward:triaged"], "has_labels: a label it had");
    assert_eq!(fake.labels_of(docs), ["documentation", "steward:triaged"]);
    assert_eq!(fake.labels_of(plain), ["steward:triaged"]);
    assert_eq!(fake.labels_of(done), ["steward:triaged"], "triaged before: untouched");
    assert_eq!(fake.labels_of(held), ["do-not-automate"], "a block label keeps triage away");
    assert_eq!(fake.labels_of(repro), ["has-repro", "bug", "steward:triaged"], "lacks_labels holds needs-repro back");
    assert!(fake.labels_of(pull).is_empty());
    for number in [crash, docs, plain, done, held, repro, reported] {
        assert!(fake.comments_on(number).is_empty(), "no comment without an agent's proposal on #{number}");
    }
    // steward's own labels now exist, with their colours; one a person made first is left as it is.
    let labels = fake.repo_labels();
    assert_eq!(labels.iter().find(|label| label.name == "steward:triaged").unwrap().color, "ededed");
    for name in ["steward:ready", "steward:in-progress", "steward:needs-input", "steward:done"] {
        let label = labels.iter().find(|label| label.name == name).unwrap_or_else(|| panic!("{name} was created"));
        assert_ne!(label.color, "ededed", "{name} has steward's colour");
    }
    // Only labels: triage never closes, edits or comments on its own.
    for request in fake.mutations() {
        // Labels on issues, and steward's own labels in the repository.
        let allowed = request.method == "POST" && request.path.ends_with("/labels");
        assert!(allowed, "triage made {} {}", request.method, request.path);
    }
    let triaged: Vec<u64> =
        events(&project, "steward:triaged").iter().map(|e| e["data"]["issue"].as_u64().unwrap()).collect();
    assert_eq!(triaged, [crash, docs, plain, repro, reported]);

    fake.clear_log();
    let again = tick(&project, "triage");
    assert_eq!(again["outcome"], "ok");
    assert_eq!(again["changes"], 0, "{again}");
    assert!(fake.mutations().is_empty(), "a second tick changes nothing: {:?}", fake.mutations());
    assert_eq!(events(&project, "steward:triaged").len(), 5);
}

#[test]
fn mode_off_or_a_repo_not_allowed_means_not_one_request() {
    let fake = FakeGitHub::start();
    let issue = fake.issue("App crashes", "", "octo");
    let project = project_with(&fake, "off", RULES);
    for r#loop in ["triage", "run", "feedback"] {
        let report = tick(&project, r#loop);
        assert_eq!(report["outcome"], "skipped", "{report}");
        assert!(report["summary"].as_str().unwrap().contains("mode off"), "{report}");
    }

    let text = config(&fake, "full", RULES).replace(r#"allow = ["octo/widgets"]"#, r#"allow = ["octo/other"]"#);
    reload(&project, &text);
    for r#loop in ["triage", "run", "feedback"] {
        let report = tick(&project, r#loop);
        assert_eq!(report["outcome"], "skipped", "{report}");
        assert!(report["summary"].as_str().unwrap().contains("octo/widgets is not in policy.allow"), "{report}");
    }

    std::fs::write(project.path(".steward/STOP"), "").unwrap();
    reload(&project, &config(&fake, "full", RULES));
    let report = tick(&project, "triage");
    assert!(report["summary"].as_str().unwrap().contains("kill switch"), "{report}");

    assert!(fake.requests().is_empty(), "closed gates make no call at all: {:?}", fake.requests());
    assert!(fake.labels_of(issue).is_empty());
    let status = project.call("steward.status", json!({}))["result"].clone();
    assert_eq!(status["kill_switch"], true, "{status}");
    assert_eq!(status["mode"], "full");

    std::fs::remove_file(project.path(".steward/STOP")).unwrap();
    assert_eq!(tick(&project, "triage")["outcome"], "ok");
    assert_eq!(fake.labels_of(issue), ["bug", "steward:triaged"]);
}

#[test]
fn dry_run_mutates_nothing_and_reports_each_intended_call() {
    let fake = FakeGitHub::start();
    let crash = fake.issue("App crashes", "", "octo");
    let plain = fake.issue("Dark mode", "", "octo");
    let project = TestProject::new();
    project.write_config(&config(&fake, "triage", RULES).replace("[steward]\n", "[steward]\ndry_run = true\n"));
    start(&project, Some(TOKEN));

    let report = tick(&project, "triage");
    assert_eq!(report["outcome"], "ok", "{report}");
    assert!(fake.mutations().is_empty(), "dry run: {:?}", fake.mutations());
    assert!(!fake.requests().is_empty(), "reads are made, to decide on real data");
    let intended: Vec<Value> =
        events(&project, "steward:dry_run").into_iter().map(|event| event["data"].clone()).collect();
    let labelled: Vec<&Value> = intended.iter().filter(|call| call["operation"] == "add_labels").collect();
    assert_eq!(labelled.len(), 2, "{intended:?}");
    assert_eq!(labelled[0]["request"], json!({"issue": crash, "labels": ["bug", "steward:triaged"]}));
    assert_eq!(labelled[1]["request"], json!({"issue": plain, "labels": ["steward:triaged"]}));
    assert!(
        intended.iter().any(|call| call["operation"] == "create_label" && call["request"]["name"] == "steward:ready")
    );
    let status = project.call("steward.status", json!({}))["result"].clone();
    assert_eq!(status["dry_run"], true);

    let log = std::fs::read_to_string(project.path(".steward/daemon/daemon.log")).unwrap();
    assert!(log.contains("dry run"), "each call is logged too");
}

#[test]
fn an_untrusted_labeller_is_skipped_with_the_reason() {
    let fake = FakeGitHub::start();
    fake.user("mallory", Role::Triage);
    fake.user("wendy", Role::Write);
    let untrusted = fake.issue("Refactor", "", "mallory");
    fake.label(untrusted, "steward:ready", "mallory");
    let stranger = fake.issue("Delete everything", "", "eve");
    fake.label(stranger, "steward:ready", "eve");
    let trusted = fake.issue("Small fix", "", "octo");
    fake.label(trusted, "steward:ready", "wendy");
    let relabelled = fake.issue("Relabelled", "", "octo");
    fake.label(relabelled, "steward:ready", "wendy");
    fake.unlabel(relabelled, "steward:ready", "wendy");
    fake.label(relabelled, "steward:ready", "mallory");
    let blocked = fake.issue("Later", "Blocked by #1", "octo");
    fake.label(blocked, "steward:ready", "octo");

    let project = project_with(&fake, "run", "");
    let report = tick(&project, "run");
    assert_eq!(report["outcome"], "ok", "{report}");
    let decisions: Vec<Value> =
        events(&project, "steward:decision").into_iter().map(|event| event["data"].clone()).collect();
    let about = |number: u64| {
        decisions.iter().find(|d| d["issue"] == number).cloned().unwrap_or_else(|| panic!("no decision on #{number}"))
    };
    let untrusted_decision = about(untrusted);
    assert_eq!(untrusted_decision["decision"], "skip");
    assert_eq!(untrusted_decision["reason"], "ready_label_untrusted");
    assert!(untrusted_decision["detail"].as_str().unwrap().contains("mallory, whose permission is triage"));
    assert_eq!(about(stranger)["reason"], "ready_label_untrusted");
    assert!(about(stranger)["detail"].as_str().unwrap().contains("eve, whose permission is none"));
    assert_eq!(about(relabelled)["reason"], "ready_label_untrusted", "the latest labeling counts");
    assert_eq!(about(blocked)["reason"], "blocked_by");
    assert_eq!(about(trusted)["decision"], "select");
    assert!(report["summary"].as_str().unwrap().contains(&format!("selected #{trusted}")), "{report}");
    // Skipped issues are only read: nothing was written about them.
    for request in fake.mutations() {
        for skipped in [untrusted, stranger, relabelled, blocked] {
            assert!(!request.path.contains(&format!("/issues/{skipped}/")), "{} {}", request.method, request.path);
        }
    }

    // A decision is announced when it changes: the selected issue is now in its session; the
    // others are not announced again.
    let before = events(&project, "steward:decision").len();
    tick(&project, "run");
    let after = events(&project, "steward:decision");
    assert_eq!(after.len(), before + 1);
    assert_eq!(after.last().unwrap()["data"]["reason"], "in_session");
    tick(&project, "run");
    assert_eq!(events(&project, "steward:decision").len(), before + 1);
}

#[test]
fn a_secondary_rate_limit_with_retry_after_is_honoured() {
    let fake = FakeGitHub::start();
    let issue = fake.issue("App crashes", "", "octo");
    let project = project_with(&fake, "triage", RULES);
    fake.fail(Fault::SecondaryRateLimit { retry_after: Some(2) }, 1, Some("GET"), Some("/repos/octo/widgets/issues"));
    let report = tick(&project, "triage");
    assert_eq!(report["outcome"], "ok", "{report}");
    let listings: Vec<_> =
        fake.requests().into_iter().filter(|request| request.path == "/repos/octo/widgets/issues").collect();
    assert_eq!(listings.iter().map(|request| request.status).collect::<Vec<_>>(), [403, 200]);
    let waited = listings[1].at - listings[0].at;
    assert!(waited >= Duration::from_secs(2), "retry-after: 2 was honoured, waited {waited:?}");
    assert_eq!(fake.labels_of(issue), ["bug", "steward:triaged"]);
}

#[test]
fn a_missing_token_is_a_clear_error_and_the_daemon_keeps_serving() {
    let fake = FakeGitHub::start();
    let project = TestProject::new();
    project.write_config(&config(&fake, "triage", RULES));
    start(&project, None);
    let report = tick(&project, "triage");
    assert_eq!(report["outcome"], "failed", "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains(TOKEN_ENV), "the message names the variable: {error}");
    assert!(fake.requests().is_empty());
    assert_eq!(project.call("daemon.ping", json!({}))["result"]["pong"], true);
    let failed = events(&project, "steward:tick_failed");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["data"]["error"].as_str().unwrap().contains(TOKEN_ENV));
    let status = project.run(&["github", "status"]);
    status.code(0);
    assert!(status.stdout.contains(TOKEN_ENV), "{}", status.stdout);
}

#[test]
fn a_rejected_token_is_a_clear_error_never_shown_and_the_daemon_keeps_serving() {
    let fake = FakeGitHub::start();
    let issue = fake.issue("App crashes", "", "octo");
    let project = TestProject::new();
    project.write_config(&config(&fake, "triage", RULES));
    let wrong = "ghp_rejectedrejectedrejectedrejected99";
    start(&project, Some(wrong));
    let report = tick(&project, "triage");
    assert_eq!(report["outcome"], "failed", "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("rejected") && error.contains("token"), "{error}");
    assert!(fake.mutations().is_empty());
    assert!(fake.labels_of(issue).is_empty());
    assert_eq!(project.call("daemon.ping", json!({}))["result"]["pong"], true);
    // Needs a person: the loop does not come back every few seconds to be refused again.
    let status = project.call("steward.status", json!({}))["result"].clone();
    let triage = status["loops"].as_array().unwrap().iter().find(|l| l["loop"] == "triage").unwrap().clone();
    assert_eq!(triage["blocked"], true, "{status}");

    let log = std::fs::read_to_string(project.path(".steward/daemon/daemon.log")).unwrap();
    assert!(!log.contains(wrong), "the token never reaches the log");
    let all = project.call("event.list", json!({ "limit": 1000 })).to_string();
    assert!(!all.contains(wrong), "nor any event");
}

#[test]
fn the_triage_agent_answers_in_json_and_only_allowed_labels_are_applied() {
    let fake = FakeGitHub::start();
    let issue = fake.issue("Slow startup", "Takes 10 s.", "octo");
    let answer = r#"{"labels": ["performance", "wontfix"], "ready": true, "comment": "Probably the config scan."}"#;
    let text = config(&fake, "triage", "[triage]\nagent = true\nallowed_labels = [\"performance\"]\n").replace(
        r#"command = ["sh", "-c", "cat >/dev/null; echo done"]"#,
        &format!("command = [\"sh\", \"-c\", {}]", json!(format!("cat >/dev/null; echo 'thinking'; echo '{answer}'"))),
    );
    let project = TestProject::new();
    project.write_config(&text);
    project.run(&["config", "check"]).code(0);
    start(&project, Some(TOKEN));

    let first = tick(&project, "triage");
    assert!(first["summary"].as_str().unwrap().contains("asked the agent about 1"), "{first}");
    let asked = events(&project, "steward:triage_asked");
    assert_eq!(asked.len(), 1);
    let task = asked[0]["data"]["task"].clone();
    let source = project.call("task.get", json!({ "id": task }))["result"]["source"].clone();
    assert_eq!(source, format!("steward:triage:{issue}"));
    wait_until("the triage task completes", || {
        project.call("task.get", json!({ "id": task }))["result"]["state"] == "completed"
    });
    assert!(fake.labels_of(issue).is_empty(), "nothing before the answer");

    let second = tick(&project, "triage");
    assert_eq!(second["outcome"], "ok", "{second}");
    assert_eq!(
        fake.labels_of(issue),
        ["performance", "steward:triaged"],
        "wontfix is not allowed; ready is not either"
    );
    let comments = fake.comments_on(issue);
    assert_eq!(comments.len(), 1);
    assert!(comments[0].contains("Probably the config scan."), "{}", comments[0]);
    assert!(comments[0].contains("wontfix"), "refused labels are proposed to a person: {}", comments[0]);
    let triaged = &events(&project, "steward:triaged")[0]["data"];
    assert_eq!(triaged["refused"], json!(["wontfix"]));

    fake.clear_log();
    tick(&project, "triage");
    assert!(fake.mutations().is_empty(), "{:?}", fake.mutations());
    let submitted = project.call("task.list", json!({}))["result"]["tasks"].as_array().unwrap().len();
    assert_eq!(submitted, 1, "the agent is asked once per issue");
}

#[test]
fn a_bad_agent_answer_gives_the_rules_labels_and_a_logged_reason() {
    let fake = FakeGitHub::start();
    let issue = fake.issue("It crashes", "", "octo");
    let text = config(&fake, "triage", &format!("[triage]\nagent = true\nallowed_labels = [\"performance\"]\n{RULES}"))
        .replace(
            r#"command = ["sh", "-c", "cat >/dev/null; echo done"]"#,
            r#"command = ["sh", "-c", "cat >/dev/null; echo '{\"labels\": \"performance\"}'"]"#,
        );
    let project = TestProject::new();
    project.write_config(&text);
    start(&project, Some(TOKEN));
    tick(&project, "triage");
    let task = events(&project, "steward:triage_asked")[0]["data"]["task"].clone();
    wait_until("the triage task completes", || {
        project.call("task.get", json!({ "id": task }))["result"]["state"] == "completed"
    });
    assert_eq!(tick(&project, "triage")["outcome"], "ok");
    assert_eq!(fake.labels_of(issue), ["bug", "steward:triaged"]);
    assert!(fake.comments_on(issue).is_empty());
    let triaged = &events(&project, "steward:triaged")[0]["data"];
    assert!(triaged["agent"]["error"].as_str().unwrap().contains("wrong shape"), "{triaged}");
    let log = std::fs::read_to_string(project.path(".steward/daemon/daemon.log")).unwrap();
    assert!(log.contains("the triage agent's answer is not used"));
}

#[test]
fn loops_tick_on_their_own_and_mode_comes_from_the_command_line() {
    let fake = FakeGitHub::start();
    let issue = fake.issue("App crashes", "", "octo");
    let project = TestProject::new();
    project.write_config(&config(&fake, "off", RULES).replace("idle_s = 3600", "idle_s = 0"));
    let mut command = project.command(&["daemon", "start", "--mode", "triage", "--json"]);
    command.env(TOKEN_ENV, TOKEN);
    let output = run_with_deadline(command);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    wait_until("the scheduled triage tick labels the issue", || {
        fake.labels_of(issue).iter().any(|label| label == "steward:triaged")
    });
    let status = project.call("steward.status", json!({}))["result"].clone();
    assert_eq!(status["mode"], "triage");
    assert_eq!(status["mode_source"], "--mode");
    assert_eq!(status["last_triage"]["outcome"], "ok", "{status}");
    let loops: Vec<&str> = status["loops"].as_array().unwrap().iter().map(|l| l["loop"].as_str().unwrap()).collect();
    assert_eq!(loops, ["triage"]);

    let shown: Ran = project.run(&["github", "status"]);
    shown.code(0);
    assert!(shown.stdout.contains("triage"), "{}", shown.stdout);
}

#[test]
fn bad_tick_and_session_requests_get_clear_errors() {
    let fake = FakeGitHub::start();
    let project = project_with(&fake, "off", "");
    let reply = project.call("steward.tick", json!({ "loop": "everything" }));
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("\"triage\""), "{reply}");
    let reply = project.call("session.get", json!({ "id": 42 }));
    assert_eq!(reply["error"]["code"], -32041, "{reply}");
    let reply = project.call("session.list", json!({ "state": "sleeping" }));
    assert_eq!(reply["error"]["code"], -32602, "{reply}");
    assert_eq!(project.call("session.list", json!({}))["result"]["sessions"], json!([]));
    let ran = project.run(&["github", "tick", "nap"]);
    assert_eq!(ran.code, 2, "{} {}", ran.stdout, ran.stderr);
}

#[test]
fn a_loop_that_keeps_failing_makes_the_daemon_exit_non_zero_for_its_service_manager() {
    let fake = FakeGitHub::start();
    fake.issue("App crashes", "", "octo");
    let project = TestProject::new();
    project.write_config(&config(&fake, "triage", RULES));
    let mut command = project.command(&["daemon", "run"]);
    command.env(TOKEN_ENV, TOKEN).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
    let mut daemon = command.spawn().unwrap();
    wait_until("the daemon answers", || project.socket().exists() && harness::ping_ok(&project));
    fake.fail(Fault::ServerError, 1000, None, None);
    for attempt in 1..u64::from(GIVE_UP_AFTER) {
        let report = tick(&project, "triage");
        assert_eq!(report["outcome"], "failed", "attempt {attempt}: {report}");
        assert!(report["error"].as_str().unwrap().contains("500"), "{report}");
    }
    let status = project.call("steward.status", json!({}))["result"].clone();
    assert_eq!(status["loops"][0]["failures"], u64::from(GIVE_UP_AFTER) - 1, "{status}");
    assert_eq!(status["loops"][0]["blocked"], false);
    // One more: every running loop (here the only one) has now failed five times in a row.
    project.call("steward.tick", json!({ "loop": "triage" }));
    let exit = harness::wait_exit(&mut daemon);
    assert_eq!(exit.code(), Some(1), "a service manager restarts a daemon that exits non-zero");
    let log = std::fs::read_to_string(project.path(".steward/daemon/daemon.log")).unwrap();
    assert!(log.contains(&format!("every GitHub loop failed {GIVE_UP_AFTER} times in a row")), "the log says why");
}
