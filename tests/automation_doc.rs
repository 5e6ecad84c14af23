//! Runs every example of `docs/automation.md` on a real daemon and checks that it does what the
//! page says, so the guide cannot drift from the binary.
//!
//! An example is a fenced `toml` block right after a `<!-- example: NAME -->` line. Each one is
//! read out of the page (never copied here), written as the project's configuration after a
//! fake `[agent]`, and handed to the scenario of the same name below. An example without a
//! scenario, or a scenario without an example, fails the suite.

mod harness;

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, TimeZone, Timelike, Utc};
use harness::{TestProject, wait_until};
use serde_json::{Value, json};

/// The document under test.
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/automation.md");

/// The examples by name, with the line each starts on.
fn examples() -> BTreeMap<String, (usize, String)> {
    let doc = std::fs::read_to_string(DOC).expect("docs/automation.md is readable");
    let lines: Vec<&str> = doc.lines().collect();
    let mut examples = BTreeMap::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(name) = line.trim().strip_prefix("<!-- example: ").and_then(|rest| rest.strip_suffix(" -->")) else {
            continue;
        };
        assert_eq!(
            lines.get(index + 1).map(|l| l.trim()),
            Some("```toml"),
            "{DOC}:{}: a toml block must follow",
            index + 1
        );
        let body: Vec<&str> = lines[index + 2..].iter().take_while(|l| l.trim() != "```").copied().collect();
        let previous = examples.insert(name.to_owned(), (index + 1, body.join("\n") + "\n"));
        assert!(previous.is_none(), "{DOC}:{}: example `{name}` appears twice", index + 1);
    }
    examples
}

fn agent(name: &str) -> String {
    format!("{}/tests/agents/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A project whose configuration is a fake agent (`command`), then `example`, then `extra`.
fn project(example: &str, command: &[&str], extra: &str) -> TestProject {
    let project = TestProject::new();
    for dir in ["src", "tests", "docs"] {
        std::fs::create_dir_all(project.path(dir)).unwrap();
    }
    let command = serde_json::to_string(command).unwrap();
    project.write_config(&format!("[agent]\ncommand = {command}\n\n{example}\n{extra}"));
    project.run(&["config", "check"]).code(0);
    project
}

fn quiet_agent() -> Vec<String> {
    vec![agent("exit-with.sh"), "0".to_owned()]
}

fn refs(command: &[String]) -> Vec<&str> {
    command.iter().map(String::as_str).collect()
}

fn tasks(project: &TestProject) -> Vec<Value> {
    let reply = project.call("task.list", json!({ "limit": 1000 }));
    reply["result"]["tasks"].as_array().cloned().unwrap_or_else(|| panic!("task.list failed: {reply}"))
}

fn task(project: &TestProject, id: &Value) -> Value {
    project.call("task.get", json!({ "id": id }))["result"].clone()
}

fn events(project: &TestProject, topic: &str) -> Vec<Value> {
    let reply = project.call("event.list", json!({ "topic": topic, "limit": 1000 }));
    reply["result"]["events"].as_array().cloned().unwrap_or_else(|| panic!("event.list failed: {reply}"))
}

fn status(project: &TestProject) -> Value {
    project.call("automation.status", json!({}))["result"].clone()
}

fn find(status: &Value, list: &str, key: &str, id: &str) -> Value {
    status[list]
        .as_array()
        .and_then(|items| items.iter().find(|item| item[key] == id).cloned())
        .unwrap_or_else(|| panic!("no {id} in {list}: {status}"))
}

fn write(project: &TestProject, relative: &str) {
    let path = project.path(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, "x").unwrap();
}

fn wait_watching(project: &TestProject) {
    wait_until("the watcher is watching", || status(project)["watch"]["directories"].as_u64().is_some());
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("not a time: {value}"))).unwrap().to_utc()
}

fn quick_start(example: &str) {
    let project = project(example, &refs(&quiet_agent()), "");
    project.start();
    wait_watching(&project);
    write(&project, "src/lib.rs");
    write(&project, "src/queue/mod.rs");
    write(&project, "tests/cli.rs");
    write(&project, "src/notes.txt");
    wait_until("the debounce fired", || !tasks(&project).is_empty());
    let tasks = tasks(&project);
    assert_eq!(tasks.len(), 1);
    assert_eq!(
        task(&project, &tasks[0]["id"])["prompt"],
        "Run the tests that cover these files and fix what fails:\nsrc/lib.rs\nsrc/queue/mod.rs"
    );
    let shown = project.run(&["automation", "status"]);
    assert!(shown.ok().contains("auto-test             yes  file_change src/**/*.rs"), "{}", shown.stdout);
}

fn ci_red(example: &str) {
    let project = project(example, &refs(&quiet_agent()), "");
    project.start();
    let emit = |data: Value| {
        project.run(&["event", "emit", "ci:done", "--data", &data.to_string()]).code(0);
    };
    emit(json!({"status": "green", "branch": "main", "url": "u1"}));
    emit(json!({"status": "red", "branch": "feature/x", "url": "u2"}));
    emit(json!({"status": "red", "branch": "release/2.1", "url": "https://ci.example.com/run/81"}));
    emit(json!({"status": "red", "branch": "main", "url": "u4"}));
    wait_until("two tasks", || tasks(&project).len() == 2);
    let prompts: Vec<Value> = tasks(&project).iter().map(|t| t["prompt"].clone()).collect();
    assert_eq!(
        prompts,
        [
            json!("CI is red on release/2.1 (https://ci.example.com/run/81). Find the cause and fix it."),
            json!("CI is red on main (u4). Find the cause and fix it."),
        ]
    );
    let first = &tasks(&project)[0];
    assert_eq!((first["priority"].clone(), first["labels"].clone()), (json!(10), json!(["ci"])));
}

fn docs_chain(example: &str) {
    let project = project(example, &refs(&quiet_agent()), "");
    project.start();
    wait_watching(&project);
    write(&project, "docs/guide/intro.md");
    write(&project, "docs/notes.txt");
    wait_until("the link check was queued", || !tasks(&project).is_empty());
    assert_eq!(tasks(&project)[0]["prompt"], "Check the links in these pages:\ndocs/guide/intro.md");
    let emitted = &events(&project, "docs:changed")[0];
    assert_eq!(emitted["data"], json!({"paths": ["docs/guide/intro.md"], "by": "docs-changed"}));
}

fn daily_audit(example: &str) {
    let project = project(example, &refs(&quiet_agent()), "");
    project.start();
    let schedule = find(&status(&project), "schedules", "name", "daily-audit");
    assert_eq!(schedule["timezone"], "Europe/Berlin");
    // The next weekday 09:00 on Berlin's wall clock, worked out here independently.
    let berlin = chrono_tz::Europe::Berlin;
    let now = Utc::now().with_timezone(&berlin);
    let expected = (0..8)
        .filter_map(|days| {
            let day = (now + chrono::Duration::days(days)).date_naive();
            let at = berlin.from_local_datetime(&day.and_hms_opt(9, 0, 0)?).single()?;
            let weekday = at.weekday().number_from_monday() <= 5;
            (weekday && at > now).then_some(at)
        })
        .next()
        .expect("a weekday within a week");
    assert_eq!(time(&schedule["next_fire"]), expected.with_timezone(&Utc));
    assert_eq!(time(&schedule["next_fire"]).with_timezone(&berlin).hour(), 9);
}

fn heartbeat(example: &str) {
    let project = project(example, &refs(&quiet_agent()), "");
    project.start();
    wait_until("two heartbeats", || events(&project, "user:heartbeat").len() >= 2);
    let fired = events(&project, "rule:fired");
    for event in &fired[..2] {
        let at = time(&event["data"]["scheduled_for"]);
        assert_eq!((at.second() % 2, at.timestamp_subsec_millis()), (0, 0), "every two seconds: {event}");
    }
    let beat = &events(&project, "user:heartbeat")[0];
    assert_eq!(time(&beat["data"]["at"]).timestamp() / 2 * 2, time(&fired[0]["data"]["scheduled_for"]).timestamp());
}

fn catch_up(example: &str) {
    let project = project(example, &refs(&quiet_agent()), "");
    project.start();
    assert!(tasks(&project).is_empty(), "a first start has missed nothing");
    project.run(&["daemon", "stop"]).code(0);
    // Make it look as if the daemon had been down for three days.
    let db = rusqlite::Connection::open(project.path(".steward/daemon/steward.db")).unwrap();
    let three_days_ago = (Utc::now() - chrono::Duration::days(3)).to_rfc3339();
    let changed =
        db.execute("UPDATE rule_state SET cursor = ?1 WHERE id = 'nightly-report'", [&three_days_ago]).unwrap();
    assert_eq!(changed, 1);
    drop(db);
    project.start();
    wait_until("the catch-up run", || !events(&project, "schedule:fired").is_empty());
    let fired = events(&project, "schedule:fired");
    assert_eq!(fired.len(), 1, "once, not once per missed night: {fired:?}");
    assert_eq!(fired[0]["data"]["catch_up"], true);
    assert_eq!(time(&fired[0]["data"]["scheduled_for"]).with_timezone(&chrono::Local).hour(), 3);
    let tasks = tasks(&project);
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["prompt"], "Summarise yesterday's commits in docs/changelog.md");
    assert_eq!(tasks[0]["source"], "schedule:nightly-report");
}

fn watch(example: &str) {
    let rule = "[[rules]]\nid = \"seen\"\ntrigger = { type = \"file_change\", pattern = \"**\" }\n\
                action = { type = \"emit_event\", topic = \"user:seen\", data = { paths = \"{{paths}}\" } }\n";
    let project = project(example, &refs(&quiet_agent()), rule);
    std::fs::create_dir_all(project.path("src/node_modules/pkg")).unwrap();
    project.start();
    wait_watching(&project);
    write(&project, "src/node_modules/pkg/index.js");
    write(&project, "src/debug.log");
    write(&project, "README.md");
    write(&project, "Cargo.toml");
    write(&project, "src/main.rs");
    wait_until("a batch was seen", || !events(&project, "user:seen").is_empty());
    let seen: Vec<Value> =
        events(&project, "user:seen").iter().flat_map(|e| e["data"]["paths"].as_array().cloned().unwrap()).collect();
    let mut seen: Vec<&str> = seen.iter().filter_map(Value::as_str).collect();
    seen.sort_unstable();
    assert_eq!(seen, ["Cargo.toml", "src/main.rs"], "ignored and unwatched paths are not seen");
}

fn loop_guard(example: &str) {
    let command = [agent("touch-file.sh"), "src/generated.rs".to_owned()];
    let project = project(example, &refs(&command), "");
    project.start();
    wait_watching(&project);
    write(&project, "src/schema.json");
    wait_until("the task's own write was suppressed", || {
        find(&status(&project), "rules", "id", "regenerate")["suppressed"] == 1
    });
    let rule = find(&status(&project), "rules", "id", "regenerate");
    assert_eq!((rule["fire_count"].clone(), rule["last_suppressed"]["reason"].clone()), (json!(1), json!("cooldown")));
    assert_eq!(tasks(&project).len(), 1);
}

fn diagnose_failures(example: &str) {
    let sentinel = "[[rules]]\nid = \"sentinel\"\ntrigger = { type = \"event\", topic = \"user:sentinel\" }\n\
                    action = { type = \"emit_event\", topic = \"user:settled\" }\n";
    let project = project(example, &[&agent("exit-with.sh"), "3"], sentinel);
    project.start();
    project.run(&["task", "submit", "build the thing"]).code(0);
    wait_until("the diagnosis ran and failed too", || {
        tasks(&project).iter().any(|t| t["labels"] == json!(["diagnosis"]) && t["state"] == "failed")
    });
    // Events are handled in order: once the sentinel is through, the second failure was too.
    project.call("event.emit", json!({ "topic": "user:sentinel" }));
    wait_until("the sentinel", || !events(&project, "user:settled").is_empty());
    let tasks = tasks(&project);
    assert_eq!(tasks.len(), 2, "no diagnosis of the diagnosis: {tasks:?}");
    let prompt = tasks[1]["prompt"].as_str().unwrap();
    assert!(prompt.starts_with("Task 1 failed (exited with code 3"), "{prompt}");
    assert!(prompt.ends_with("Find out why and say how to fix it."), "{prompt}");
}

fn on_start(example: &str) {
    let project = project(example, &refs(&quiet_agent()), "");
    project.start();
    wait_until("the start task", || !tasks(&project).is_empty());
    assert_eq!(tasks(&project)[0]["prompt"], "Summarise what changed in the repository since the last run");
    assert_eq!(tasks(&project)[0]["source"], "rule:morning-summary");
}

type Scenario = fn(&str);

const SCENARIOS: &[(&str, Scenario)] = &[
    ("quick-start", quick_start),
    ("ci-red", ci_red),
    ("docs-chain", docs_chain),
    ("daily-audit", daily_audit),
    ("heartbeat", heartbeat),
    ("catch-up", catch_up),
    ("watch", watch),
    ("loop-guard", loop_guard),
    ("diagnose-failures", diagnose_failures),
    ("on-start", on_start),
];

#[test]
fn every_example_has_a_scenario_and_every_scenario_an_example() {
    let examples: Vec<String> = examples().into_keys().collect();
    let mut scenarios: Vec<String> = SCENARIOS.iter().map(|(name, _)| (*name).to_owned()).collect();
    scenarios.sort();
    assert_eq!(examples, scenarios);
}

macro_rules! example_tests {
    ($($test:ident => $name:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                let (line, example) = examples().remove($name).unwrap_or_else(|| panic!("no example `{}`", $name));
                let scenario = SCENARIOS.iter().find(|(name, _)| *name == $name).expect("a scenario").1;
                eprintln!("{DOC}:{line}: example `{}`", $name);
                scenario(&example);
            }
        )*
    };
}

example_tests! {
    example_quick_start => "quick-start",
    example_ci_red => "ci-red",
    example_docs_chain => "docs-chain",
    example_daily_audit => "daily-audit",
    example_heartbeat => "heartbeat",
    example_catch_up => "catch-up",
    example_watch => "watch",
    example_loop_guard => "loop-guard",
    example_diagnose_failures => "diagnose-failures",
    example_on_start => "on-start",
}
