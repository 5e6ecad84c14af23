//! Rules, schedules and the file watcher against the real daemon: real files in a temporary
//! repository, real inotify, real timers, fake agents from `tests/agents/`.

mod harness;

use std::process::{Command, Stdio};

use chrono::{DateTime, Utc};
use harness::{BIN, TestProject, kill, process_exists, wait_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

fn agent(name: &str) -> String {
    format!("{}/tests/agents/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A project whose default agent exits 0 at once (or runs `script ARGS`), with `rest` appended
/// to the configuration.
fn project(rest: &str) -> TestProject {
    project_with_agent(&[&agent("exit-with.sh"), "0"], rest)
}

fn project_with_agent(command: &[&str], rest: &str) -> TestProject {
    let project = TestProject::new();
    std::fs::create_dir_all(project.path("src")).unwrap();
    project.write_config(&format!("[agent]\ncommand = {}\n{rest}", serde_json::to_string(command).unwrap()));
    project
}

fn tasks(project: &TestProject) -> Vec<Value> {
    let reply = project.call("task.list", json!({ "limit": 1000 }));
    reply["result"]["tasks"].as_array().cloned().unwrap_or_else(|| panic!("task.list failed: {reply}"))
}

fn events(project: &TestProject, topic: &str) -> Vec<Value> {
    let reply = project.call("event.list", json!({ "topic": topic, "limit": 1000 }));
    reply["result"]["events"].as_array().cloned().unwrap_or_else(|| panic!("event.list failed: {reply}"))
}

fn status(project: &TestProject) -> Value {
    let reply = project.call("automation.status", json!({}));
    reply.get("result").cloned().unwrap_or_else(|| panic!("automation.status failed: {reply}"))
}

fn rule_status(project: &TestProject, id: &str) -> Value {
    let status = status(project);
    let rules = status["rules"].as_array().cloned().unwrap_or_default();
    let schedules = status["schedules"].as_array().cloned().unwrap_or_default();
    rules
        .into_iter()
        .chain(schedules)
        .find(|rule| rule["id"] == id || rule["name"] == id)
        .unwrap_or_else(|| panic!("no rule {id} in {status}"))
}

/// Waits until the watcher has its watches in place (changes before that are not seen).
fn wait_watching(project: &TestProject) {
    wait_until("the watcher is watching", || status(project)["watch"]["directories"].as_u64().is_some());
}

fn write(project: &TestProject, relative: &str, text: &str) {
    let path = project.path(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn time(value: &Value) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(value.as_str().unwrap_or_else(|| panic!("not a time: {value}")))
        .unwrap()
        .with_timezone(&Utc)
}

const WATCH_SRC: &str = "[watch]\nenabled = true\npaths = [\"src/\"]\ndebounce_ms = 50\n";

#[test]
fn a_change_under_a_watched_glob_submits_one_task_after_the_debounce_with_the_paths() {
    let project = project(&format!(
        "{WATCH_SRC}
        [[rules]]
        id = \"auto-test\"
        trigger = {{ type = \"file_change\", pattern = \"src/**/*.rs\" }}
        condition = {{ type = \"debounce\", interval_ms = 300 }}
        action = {{ type = \"submit_task\", prompt = \"Test these:\\n{{{{paths}}}}\", priority = 7 }}
        "
    ));
    project.start();
    wait_watching(&project);
    write(&project, "src/a.rs", "fn a() {}");
    write(&project, "src/deep/b.rs", "fn b() {}");
    write(&project, "src/notes.txt", "not rust");
    wait_until("a task is submitted", || !tasks(&project).is_empty());
    wait_until("the debounce holds nothing more", || rule_status(&project, "auto-test")["pending_until"].is_null());
    let tasks = tasks(&project);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let prompt = tasks[0]["prompt"].as_str().unwrap();
    assert_eq!(prompt, "Test these:\nsrc/a.rs\nsrc/deep/b.rs");
    assert_eq!(tasks[0]["priority"], 7);
    assert_eq!(tasks[0]["source"], "rule:auto-test");
    let fired = events(&project, "rule:fired");
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0]["data"]["rule"], "auto-test");
    assert_eq!(fired[0]["data"]["task"], tasks[0]["id"]);
    assert_eq!(fired[0]["data"]["trigger"], "file_change");
    assert_eq!(fired[0]["data"]["paths"], json!(["src/a.rs", "src/deep/b.rs"]));
    let rule = rule_status(&project, "auto-test");
    assert_eq!(rule["fire_count"], 1);
    let summary = project.call("daemon.status", json!({}))["result"]["automation"].clone();
    assert_eq!(summary["rules"], 1);
    assert!(summary["watched_directories"].as_u64().is_some(), "{summary}");
    assert!(!events(&project, "file:changed").is_empty());
}

#[test]
fn ignored_paths_submit_nothing() {
    let project = project(
        "[watch]\nenabled = true\npaths = [\".\"]\nignore = [\"target/\", \"*.log\"]\ndebounce_ms = 50\n
        [[rules]]
        id = \"everything\"
        trigger = { type = \"file_change\", pattern = \"**/*\" }
        condition = { type = \"debounce\", interval_ms = 300 }
        action = { type = \"submit_task\", prompt = \"{{paths}}\" }
        ",
    );
    write(&project, ".gitignore", "build/\n");
    std::fs::create_dir_all(project.path("target/debug")).unwrap();
    std::fs::create_dir_all(project.path("build")).unwrap();
    project.start();
    wait_watching(&project);
    write(&project, "target/debug/out.o", "x");
    write(&project, "target/new/deeper.o", "x");
    write(&project, "server.log", "x");
    write(&project, "src/trace.log", "x");
    write(&project, "build/artifact", "x");
    write(&project, ".git/steward-test", "x");
    // Last: the one change that counts. Everything above came first, so had any of it been
    // seen it would be in the same firing (or an earlier one).
    write(&project, "src/ok.txt", "x");
    wait_until("a task is submitted", || !tasks(&project).is_empty());
    wait_until("the debounce holds nothing more", || rule_status(&project, "everything")["pending_until"].is_null());
    let tasks = tasks(&project);
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert_eq!(tasks[0]["prompt"], "src/ok.txt");
}

#[test]
fn a_burst_of_1000_writes_gives_one_firing() {
    let project = project(
        "[watch]\nenabled = true\npaths = [\"src/\"]\ndebounce_ms = 200\n
        [[rules]]
        id = \"burst\"
        trigger = { type = \"file_change\", pattern = \"src/**\" }
        condition = { type = \"debounce\", interval_ms = 500 }
        action = { type = \"submit_task\", prompt = \"{{paths}}\" }
        ",
    );
    project.start();
    wait_watching(&project);
    for i in 0..1000 {
        write(&project, &format!("src/gen/{}/file{i}.txt", i % 10), "x");
    }
    wait_until("a task is submitted", || !tasks(&project).is_empty());
    wait_until("the debounce holds nothing more", || rule_status(&project, "burst")["pending_until"].is_null());
    let tasks = tasks(&project);
    assert_eq!(tasks.len(), 1);
    // task.list cuts prompts short; the task itself has every path.
    let task = project.call("task.get", json!({ "id": tasks[0]["id"] }))["result"].clone();
    assert_eq!(task["prompt"].as_str().unwrap().lines().count(), 1000);
    assert_eq!(rule_status(&project, "burst")["fire_count"], 1);
}

#[test]
fn a_six_field_cron_every_second_fires_on_time() {
    let project = project(
        "[[rules]]
        id = \"tick\"
        trigger = { type = \"schedule\", cron = \"* * * * * *\" }
        action = { type = \"emit_event\", topic = \"user:tick\", data = { at = \"{{time}}\" } }
        ",
    );
    project.start();
    wait_until("three firings", || events(&project, "rule:fired").len() >= 3);
    let fired = events(&project, "rule:fired");
    let mut previous: Option<DateTime<Utc>> = None;
    for event in &fired[..3] {
        let scheduled = time(&event["data"]["scheduled_for"]);
        let at = time(&event["time"]);
        let late = (at - scheduled).num_milliseconds();
        assert!((0..=100).contains(&late), "fired {late} ms after {scheduled}: {event}");
        assert_eq!(scheduled.timestamp_subsec_millis(), 0);
        if let Some(previous) = previous {
            assert_eq!((scheduled - previous).num_milliseconds(), 1000, "one per second: {fired:?}");
        }
        previous = Some(scheduled);
    }
    let ticks = events(&project, "user:tick");
    assert!(ticks.len() >= 3);
    assert_eq!(fired[0]["data"]["emitted"]["seq"], ticks[0]["seq"]);
    let next = time(&rule_status(&project, "tick")["next_fire"]);
    assert!(next > Utc::now() - chrono::Duration::seconds(1));
}

#[test]
fn an_event_rule_fires_on_event_emit() {
    let project = project(
        "[[rules]]
        id = \"ci-red\"
        trigger = { type = \"event\", topic = \"ci:*\" }
        condition = { type = \"match\", field = \"data.status\", equals = \"red\" }
        action = { type = \"submit_task\", prompt = \"CI on {{data.branch}} is {{data.status}} ({{topic}})\", labels = [\"ci\"] }
        ",
    );
    project.start();
    project.run(&["event", "emit", "ci:done", "--data", r#"{"status": "green", "branch": "main"}"#]).code(0);
    let ran = project.run(&["event", "emit", "ci:done", "--data", r#"{"status": "red", "branch": "main"}"#]);
    assert!(ran.ok().starts_with("emitted event "), "{}", ran.stdout);
    wait_until("a task is submitted", || !tasks(&project).is_empty());
    let tasks = tasks(&project);
    assert_eq!(tasks.len(), 1, "the green build fired nothing: {tasks:?}");
    assert_eq!(tasks[0]["prompt"], "CI on main is red (ci:done)");
    assert_eq!(tasks[0]["labels"], json!(["ci"]));
    let fired = events(&project, "rule:fired");
    assert_eq!(fired[0]["data"]["task"], tasks[0]["id"]);
    assert_eq!(fired[0]["data"]["event"]["topic"], "ci:done");
    // Shown live too.
    let list = project.run(&["event", "list", "--topic", "rule:fired"]);
    assert!(list.ok().contains("rule ci-red (event: ci:done) -> task 1"), "{}", list.stdout);
}

/// Emits `user:x` for the rule under test, then `user:sentinel`; once the sentinel's task is
/// there, the first event has been dealt with too (events are handled in order).
fn emit_and_settle(project: &TestProject, sentinel_tasks: usize) {
    project.call("event.emit", json!({ "topic": "user:x" }));
    project.call("event.emit", json!({ "topic": "user:sentinel" }));
    wait_until("the sentinel's task", || {
        tasks(project).iter().filter(|task| task["prompt"] == "sentinel").count() == sentinel_tasks
    });
}

const SWITCHED: &str = "[[rules]]
    id = \"r\"
    trigger = { type = \"event\", topic = \"user:x\" }
    action = { type = \"submit_task\", prompt = \"from r\" }
    [[rules]]
    id = \"sentinel\"
    trigger = { type = \"event\", topic = \"user:sentinel\" }
    action = { type = \"submit_task\", prompt = \"sentinel\" }
    ";

fn from_r(project: &TestProject) -> usize {
    tasks(project).iter().filter(|task| task["prompt"] == "from r").count()
}

#[test]
fn disable_stops_firing_and_survives_a_restart() {
    let project = project(SWITCHED);
    project.start();
    emit_and_settle(&project, 1);
    assert_eq!(from_r(&project), 1);

    let ran = project.run(&["automation", "disable", "--rule", "r"]);
    assert!(ran.ok().starts_with("disabled r"), "{}", ran.stdout);
    emit_and_settle(&project, 2);
    assert_eq!(from_r(&project), 1, "a disabled rule does not fire");

    project.run(&["daemon", "stop"]).code(0);
    project.start();
    assert_eq!(rule_status(&project, "r")["enabled"], false);
    emit_and_settle(&project, 3);
    assert_eq!(from_r(&project), 1, "still disabled after a restart");
    assert_eq!(rule_status(&project, "r")["fire_count"], 1, "the count survives too");

    // Everything off: not even the sentinel fires; back on, both do.
    project.run(&["automation", "enable", "--rule", "r"]).code(0);
    project.run(&["automation", "disable"]).code(0);
    project.run(&["daemon", "stop"]).code(0);
    project.start();
    assert_eq!(status(&project)["enabled"], false);
    let shown = project.run(&["automation", "status"]);
    assert!(shown.ok().starts_with("automation: OFF"), "{}", shown.stdout);
    let summary = project.run(&["status"]);
    assert!(summary.ok().contains("automation   OFF, 2 rules, 0 schedules"), "{}", summary.stdout);
    project.call("event.emit", json!({ "topic": "user:x" }));
    project.run(&["automation", "enable"]).code(0);
    emit_and_settle(&project, 4);
    assert_eq!(from_r(&project), 2, "the event sent while off fired nothing; the one after did");

    let unknown = project.run(&["automation", "disable", "--rule", "nope"]);
    unknown.code(1);
    assert!(unknown.stderr.contains("no rule or schedule `nope`; known: r, sentinel"), "{}", unknown.stderr);
}

#[test]
fn a_rule_whose_task_writes_into_a_watched_path_cannot_loop_forever() {
    let project = project_with_agent(
        &[&agent("touch-file.sh"), "src/generated.rs"],
        &format!(
            "{WATCH_SRC}
            [[rules]]
            id = \"regenerate\"
            trigger = {{ type = \"file_change\", pattern = \"src/**\" }}
            condition = {{ type = \"cooldown\", interval_ms = 3600000 }}
            action = {{ type = \"submit_task\", prompt = \"Regenerate after:\\n{{{{paths}}}}\" }}
            "
        ),
    );
    project.start();
    wait_watching(&project);
    write(&project, "src/input.rs", "x");
    wait_until("the task ran and wrote into src/", || project.path("src/generated.rs").exists());
    // Its own write triggers the rule again, and the cooldown stops it.
    wait_until("the rule's own change was suppressed", || rule_status(&project, "regenerate")["suppressed"] == 1);
    let rule = rule_status(&project, "regenerate");
    assert_eq!(rule["fire_count"], 1);
    assert_eq!(rule["triggered"], 2);
    assert_eq!(rule["last_suppressed"]["reason"], "cooldown");
    assert_eq!(tasks(&project).len(), 1);
}

#[test]
fn rule_chains_stop_and_rules_ignore_their_own_events() {
    let project = project(
        "[[rules]]
        id = \"ping\"
        trigger = { type = \"event\", topic = \"user:*\" }
        action = { type = \"emit_event\", topic = \"user:ping\" }
        [[rules]]
        id = \"pong\"
        trigger = { type = \"event\", topic = \"user:*\" }
        action = { type = \"emit_event\", topic = \"user:pong\" }
        ",
    );
    project.start();
    project.call("event.emit", json!({ "topic": "user:start" }));
    // Both rules fire on `user:start`, and each starts a chain: ping, pong, ping, ... with each
    // rule firing on the other's event, never on its own, until the depth limit (8) cuts it.
    wait_until("both chains were cut", || events(&project, "rule:suppressed").len() == 2);
    let cut = &events(&project, "rule:suppressed")[0];
    assert_eq!(cut["data"]["reason"], "chain");
    let count = |topic: &str| events(&project, topic).len();
    assert_eq!((count("user:ping"), count("user:pong")), (9, 9), "nine firings per chain, two chains");
    // Nothing keeps going: the next event starts two new chains of the same length.
    project.call("event.emit", json!({ "topic": "user:again" }));
    wait_until("the next two chains were cut", || events(&project, "rule:suppressed").len() == 4);
    assert_eq!((count("user:ping"), count("user:pong")), (18, 18));
}

#[test]
fn a_missed_fire_time_is_caught_up_once_at_start_when_asked() {
    let project = project(
        "[[schedule]]
        name = \"every-second\"
        cron = \"* * * * * *\"
        prompt = \"tick\"
        catch_up = true
        [[schedule]]
        name = \"skipper\"
        cron = \"* * * * * *\"
        prompt = \"skip\"
        ",
    );
    project.start();
    wait_until("both ran once", || {
        let tasks = tasks(&project);
        tasks.iter().any(|t| t["prompt"] == "tick") && tasks.iter().any(|t| t["prompt"] == "skip")
    });
    project.run(&["daemon", "stop"]).code(0);
    let stopped = Utc::now();
    wait_until("two fire times passed while stopped", || Utc::now() > stopped + chrono::Duration::milliseconds(2100));
    // The counting is done at start: stop what the fresh start fires by itself first.
    project.start();
    wait_until("the catch-up run and the skip notice", || {
        let fired = events(&project, "schedule:fired");
        fired.iter().any(|e| e["data"]["catch_up"] == true) && !events(&project, "schedule:missed").is_empty()
    });
    let missed = events(&project, "schedule:missed");
    assert_eq!(missed.len(), 1, "{missed:?}");
    assert_eq!(missed[0]["data"]["schedule"], "skipper");
    let caught_up: Vec<Value> =
        events(&project, "schedule:fired").into_iter().filter(|e| e["data"]["catch_up"] == true).collect();
    assert_eq!(caught_up.len(), 1, "one catch-up run, not one per missed second: {caught_up:?}");
    assert_eq!(caught_up[0]["data"]["schedule"], "every-second");
    assert!(time(&caught_up[0]["data"]["scheduled_for"]) > stopped - chrono::Duration::seconds(1));
}

#[test]
fn a_reload_picks_up_new_paths_and_rules() {
    let project = project(&format!(
        "{WATCH_SRC}
        [[rules]]
        id = \"src\"
        trigger = {{ type = \"file_change\", pattern = \"src/*\" }}
        action = {{ type = \"submit_task\", prompt = \"src: {{{{paths}}}}\" }}
        "
    ));
    std::fs::create_dir_all(project.path("docs")).unwrap();
    project.start();
    wait_watching(&project);
    project.write_config(&format!(
        "[agent]\ncommand = {}\n[watch]\nenabled = true\npaths = [\"src/\", \"docs/\"]\ndebounce_ms = 50\n
        [[rules]]
        id = \"docs\"
        trigger = {{ type = \"file_change\", pattern = \"docs/**/*.md\" }}
        action = {{ type = \"submit_task\", prompt = \"docs: {{{{paths}}}}\" }}
        ",
        serde_json::to_string(&[agent("exit-with.sh"), "0".into()]).unwrap()
    ));
    project.run(&["daemon", "reload"]).code(0);
    wait_until("the new watch paths are in force", || {
        let watch = status(&project)["watch"].clone();
        watch["paths"] == json!(["src/", "docs/"]) && watch["directories"].as_u64().is_some()
    });
    let ids: Vec<Value> = status(&project)["rules"].as_array().unwrap().iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [json!("docs")]);
    write(&project, "docs/guide/intro.md", "x");
    wait_until("the new rule fired", || !tasks(&project).is_empty());
    assert_eq!(tasks(&project)[0]["prompt"], "docs: docs/guide/intro.md");
}

#[test]
fn bad_rules_are_configuration_errors_naming_the_rule_key_and_line() {
    let project = TestProject::new();
    let cases = [
        (
            "[[rules]]\nid = \"a\"\ntrigger = { type = \"event\", topic = \"x\" }\naction = { type = \"submit_task\", prompt = \"p\" }\n\
             [[rules]]\nid = \"globby\"\ntrigger = { type = \"file_change\", pattern = \"src/[a\" }\naction = { type = \"submit_task\", prompt = \"p\" }\n\
             [watch]\nenabled = true\npaths = [\".\"]\n",
            "steward.toml:7:",
            &["rule `globby`", "`rules[1].trigger.pattern`", "not a valid glob"][..],
        ),
        (
            "[[schedule]]\nname = \"nightly\"\ncron = \"0 25 * * *\"\nprompt = \"p\"\n",
            "steward.toml:3:11:",
            &["schedule `nightly`", "`schedule[0].cron`", "hour"][..],
        ),
        (
            "[[rules]]\nid = \"m\"\ntrigger = { type = \"event\", topic = \"x\" }\n\
             condition = { type = \"match\", field = \"data.x\", regex = \"(unclosed\" }\naction = { type = \"emit_event\", topic = \"user:y\" }\n",
            "steward.toml:4:",
            &["rule `m`", "`rules[0].condition.regex`", "regular expression"][..],
        ),
        (
            "[[rules]]\nid = \"t\"\ntrigger = { type = \"event\", topic = \"x\" }\naction = { type = \"submit_task\", prompt = \"{{pahts}}\" }\n",
            "steward.toml:4:",
            &["rule `t`", "`{{pahts}}` is not a known placeholder"][..],
        ),
        (
            "[[rules]]\nid = \"w\"\ntrigger = { type = \"file_change\", pattern = \"src/*\" }\naction = { type = \"submit_task\", prompt = \"p\" }\n",
            "steward.toml:3:",
            &["rule `w`", "[watch] is not enabled", "enabled = true"][..],
        ),
        (
            "[[rules]]\nid = \"e\"\ntrigger = { type = \"event\", topic = \"x\", cron = \"* * * * *\" }\naction = { type = \"submit_task\", prompt = \"p\" }\n",
            "steward.toml:3:",
            &["rule `e`", "`rules[0].trigger.cron` does not apply to an event trigger"][..],
        ),
    ];
    for (text, place, needles) in cases {
        project.write_config(text);
        let ran = project.run(&["config", "check"]);
        ran.code(1);
        assert!(ran.stderr.contains(place), "{place} in {}", ran.stderr);
        for needle in needles {
            assert!(ran.stderr.contains(needle), "{needle:?} in {}", ran.stderr);
        }
        let started = project.run(&["daemon", "start"]);
        started.code(1);
        assert!(started.stderr.contains(needles[0]), "{}", started.stderr);
    }
}

#[test]
fn running_out_of_inotify_watches_is_reported_once_with_the_fix() {
    let project = project(
        "[watch]\nenabled = true\npaths = [\".\"]\n
        [[rules]]
        id = \"all\"
        trigger = { type = \"file_change\", pattern = \"**/*\" }
        action = { type = \"submit_task\", prompt = \"{{paths}}\" }
        ",
    );
    for i in 0..20 {
        std::fs::create_dir_all(project.path(&format!("dirs/d{i}"))).unwrap();
    }
    // A user namespace has its own limit, which its owner may lower: here, 5 watches.
    let script = format!("echo 5 > /proc/sys/user/max_inotify_watches && exec {BIN} daemon run");
    let daemon = Command::new("unshare")
        .args(["--user", "--map-root-user", "sh", "-c", &script])
        .current_dir(project.root())
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("unshare (util-linux) runs; the test needs it");
    // Whatever happens below, the daemon does not outlive the test.
    let mut daemon = KillOnDrop(daemon);
    let daemon = &mut daemon.0;
    wait_until("the daemon listens", || {
        if let Ok(Some(status)) = daemon.try_wait() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(daemon.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("the daemon exited with {status}: {stderr}");
        }
        // The socket file appears at bind, a moment before the daemon listens on it.
        std::os::unix::net::UnixStream::connect(project.socket()).is_ok()
    });
    wait_until("the daemon answers", || harness::ping_ok(&project));
    wait_until("the problem is reported", || !status(&project)["watch"]["problem"].is_null());
    let problem = status(&project)["watch"]["problem"].clone();
    assert_eq!(problem["kind"], "watch_limit", "{problem}");
    assert!(problem["fix"].as_str().unwrap().contains("sysctl fs.inotify.max_user_watches="), "{problem}");
    let shown = project.run(&["automation", "status"]);
    assert!(shown.ok().contains("problem: "), "{}", shown.stdout);
    let reported = events(&project, "file:watch_problem");
    assert_eq!(reported.len(), 1, "once: {reported:?}");
    // Still serving, and still watching what it could.
    assert!(status(&project)["watch"]["directories"].as_u64().unwrap() >= 1);
    let pid = project.pid_file().unwrap();
    kill(pid, Signal::SIGTERM);
    let status = harness::wait_exit(daemon);
    assert!(status.success() || !process_exists(pid));
}

/// A child process killed when the test ends, passed or not.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn a_named_zone_works_without_the_systems_tz_database() {
    let project = project(
        "[[schedule]]\nname = \"morning\"\ncron = \"0 9 * * *\"\ntimezone = \"europe/berlin\"\nprompt = \"p\"\n",
    );
    // In a mount namespace of its own, an empty directory hides the system's tz database, so the
    // copy built into the binary has to answer.
    let empty = tempfile::tempdir().unwrap();
    let without_tzdata = |args: &str| {
        let script = format!("mount --bind '{}' /usr/share/zoneinfo && exec {BIN} {args}", empty.path().display());
        let mut command = Command::new("unshare");
        command
            .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
            .current_dir(project.root())
            .env_remove("STEWARD_SOCKET")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("TZDIR");
        command
    };
    let checked = harness::Ran::of(harness::run_with_deadline(without_tzdata("config check")));
    assert!(!checked.stderr.contains("mount"), "the namespace works here: {}", checked.stderr);
    checked.code(0);

    let daemon = without_tzdata("daemon run").stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let _daemon = KillOnDrop(daemon);
    wait_until("the daemon listens", || std::os::unix::net::UnixStream::connect(project.socket()).is_ok());
    wait_until("the daemon answers", || harness::ping_ok(&project));
    let morning = rule_status(&project, "morning");
    assert_eq!(morning["timezone"], "Europe/Berlin");
    let berlin = time(&morning["next_fire"]).with_timezone(&chrono_tz::Europe::Berlin);
    assert_eq!(berlin.format("%H:%M:%S").to_string(), "09:00:00", "{morning}");
    assert!(time(&morning["next_fire"]) - Utc::now() <= chrono::Duration::hours(24), "{morning}");

    // A misspelt zone still gets its suggestion from the built-in database.
    project.write_config(
        "[[schedule]]\nname = \"morning\"\ncron = \"0 9 * * *\"\ntimezone = \"Europe/Berln\"\nprompt = \"p\"\n",
    );
    let checked = harness::Ran::of(harness::run_with_deadline(without_tzdata("config check")));
    checked.code(1);
    assert!(checked.stderr.contains("did you mean `Europe/Berlin`?"), "{}", checked.stderr);
}
