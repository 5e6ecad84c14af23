//! The task queue and the supervisor against the real daemon, with fake agents from
//! `tests/agents/` as real child processes.

mod harness;

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use harness::{TestProject, kill, process_exists, wait_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// A fake agent script.
fn agent(name: &str) -> String {
    format!("{}/tests/agents/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// A project whose default agent is `script` (args after it), with `$AGENT_DIR` for its files.
fn project_with_agent(script: &str, args: &[&str], daemon: &str) -> (TestProject, PathBuf) {
    let project = TestProject::new();
    let agent_dir = project.path("agent-files");
    std::fs::create_dir_all(&agent_dir).unwrap();
    let mut command = vec![agent(script)];
    command.extend(args.iter().map(|a| a.to_string()));
    project.write_config(&format!(
        "[daemon]\n{daemon}\n[agent]\ncommand = {}\nenv = {{ AGENT_DIR = \"{}\" }}\n",
        serde_json::to_string(&command).unwrap(),
        agent_dir.display()
    ));
    (project, agent_dir)
}

fn submit(project: &TestProject, params: Value) -> Value {
    let reply = project.call("task.submit", params);
    assert!(reply.get("result").is_some(), "submit failed: {reply}");
    reply["result"].clone()
}

fn get(project: &TestProject, id: u64) -> Value {
    project.call("task.get", json!({ "id": id }))["result"].clone()
}

fn state(project: &TestProject, id: u64) -> String {
    get(project, id)["state"].as_str().unwrap_or_default().to_owned()
}

fn stats(project: &TestProject) -> Value {
    project.call("task.stats", json!({}))["result"].clone()
}

fn wait_for_state(project: &TestProject, id: u64, expected: &str) -> Value {
    wait_until(&format!("task {id} is {expected}"), || state(project, id) == expected);
    get(project, id)
}

fn read_pid(dir: &Path, name: &str) -> u32 {
    let path = dir.join(format!("{name}.pid"));
    wait_until(&format!("{} exists", path.display()), || path.exists());
    std::fs::read_to_string(path).unwrap().trim().parse().unwrap()
}

#[test]
fn higher_priority_runs_first_then_submission_order() {
    let (project, dir) = project_with_agent("append-prompt.sh", &[], "max_parallel_tasks = 1");
    // A first task holds the only slot while the others queue up.
    project.write_config(&std::fs::read_to_string(project.path(".steward/steward.toml")).unwrap().replace(
        "[agent]",
        &format!(
            "[agents.hold]\ncommand = [\"{}\"]\nenv = {{ AGENT_DIR = \"{}\" }}\n\n[agent]",
            agent("hold-slot.sh"),
            dir.display()
        ),
    ));
    project.start();
    let blocker = submit(&project, json!({"prompt": "hold", "agent": "hold"}))["id"].as_u64().unwrap();
    wait_for_state(&project, blocker, "running");
    for (prompt, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", -3), ("f", 1000)] {
        submit(&project, json!({"prompt": prompt, "priority": priority}));
    }
    std::fs::write(dir.join("release"), "").unwrap();
    wait_until("all ran", || stats(&project)["completed"] == 7);
    let order = std::fs::read_to_string(dir.join("order")).unwrap();
    assert_eq!(order.lines().collect::<Vec<_>>(), vec!["f", "b", "d", "a", "c", "e"]);
}

#[test]
fn parallelism_never_exceeds_the_limit() {
    let (project, dir) = project_with_agent("hold-slot.sh", &[], "max_parallel_tasks = 2");
    project.start();
    let ids: Vec<u64> =
        (0..6).map(|i| submit(&project, json!({"prompt": format!("t{i}")}))["id"].as_u64().unwrap()).collect();
    wait_until("two are running", || stats(&project)["running"] == 2);
    let snapshot = stats(&project);
    assert_eq!((snapshot["running"].as_u64(), snapshot["queued"].as_u64()), (Some(2), Some(4)), "{snapshot}");
    let status = project.call("daemon.status", json!({}))["result"].clone();
    assert_eq!(status["tasks"]["running"].as_array().unwrap().len(), 2, "{status}");
    // Claimed is not yet started: release the agents only once both really run.
    let agents_running = || std::fs::read_dir(dir.join("running")).map(|d| d.count()).unwrap_or(0);
    wait_until("both agents run", || agents_running() == 2);
    std::fs::write(dir.join("release"), "").unwrap();
    wait_until("all completed", || ids.iter().all(|id| state(&project, *id) == "completed"));
    let peak: u32 = std::fs::read_to_string(dir.join("peak"))
        .unwrap()
        .lines()
        .map(|l| l.trim().parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert_eq!(peak, 2, "at most two agents ran at once, and two did");
}

#[test]
fn a_timeout_kills_the_whole_group_even_when_it_ignores_sigterm() {
    let (project, dir) = project_with_agent("ignore-term.sh", &[], "shutdown_grace_s = 1");
    project.start();
    let id = submit(&project, json!({"prompt": "stubborn", "timeout_s": 1}))["id"].as_u64().unwrap();
    let agent_pid = read_pid(&dir, "agent");
    let child = read_pid(&dir, "child");
    let escaped = read_pid(&dir, "escaped");
    let task = wait_for_state(&project, id, "timeout");
    assert!(task["error"].as_str().unwrap().starts_with("stopped after its timeout of 1 s"), "{task}");
    for pid in [agent_pid, child, escaped] {
        wait_until(&format!("process {pid} is gone"), || !process_exists(pid));
    }
}

#[test]
fn exit_codes_decide_completed_or_failed_and_output_is_kept() {
    let (project, _dir) = project_with_agent("exit-with.sh", &["3"], "");
    project.start();
    let id = submit(&project, json!({"prompt": "fail please"}))["id"].as_u64().unwrap();
    let task = wait_for_state(&project, id, "failed");
    assert_eq!(task["exit_code"], 3);
    assert!(task["error"].as_str().unwrap().contains("exited with code 3; last output:\nabout to exit 3"), "{task}");
    let output = project.call("task.output", json!({"id": id}))["result"].clone();
    assert_eq!(output["data"], "about to exit 3\n");
    assert_eq!(output["eof"], true);
    let result: Value = serde_json::from_str(
        &std::fs::read_to_string(project.path(&format!(".steward/daemon/tasks/{id}/result.json"))).unwrap(),
    )
    .unwrap();
    assert_eq!(result["state"], "failed");
    assert_eq!(
        std::fs::read_to_string(project.path(&format!(".steward/daemon/tasks/{id}/prompt.md"))).unwrap(),
        "fail please"
    );
}

#[test]
fn cancel_a_queued_and_a_running_task() {
    let (project, dir) = project_with_agent("graceful.sh", &[], "max_parallel_tasks = 1");
    project.start();
    let running = submit(&project, json!({"prompt": "run"}))["id"].as_u64().unwrap();
    let queued = submit(&project, json!({"prompt": "wait"}))["id"].as_u64().unwrap();
    wait_until("the agent is ready", || dir.join("ready").exists());
    let cancelled = project.call("task.cancel", json!({"id": queued}))["result"].clone();
    assert_eq!(cancelled["state"], "cancelled");
    let cancelled = project.call("task.cancel", json!({"id": running}))["result"].clone();
    assert_eq!(cancelled["state"], "cancelled", "cancel answers once the agent has stopped: {cancelled}");
    assert_eq!(cancelled["exit_code"], 5, "the agent got SIGTERM and exited on its own");
    let again = project.call("task.cancel", json!({"id": running}));
    assert_eq!(again["error"]["data"]["kind"], "already_finished", "{again}");
    let missing = project.call("task.cancel", json!({"id": 999}));
    assert_eq!(missing["error"]["data"], json!({"kind": "not_found", "id": 999}));
}

#[test]
fn output_can_be_followed_until_the_task_ends() {
    let (project, dir) = project_with_agent("print-then-wait.sh", &[], "");
    project.start();
    let id = submit(&project, json!({"prompt": "talk"}))["id"].as_u64().unwrap();
    wait_for_state(&project, id, "running");
    let mut follow = project
        .command(&["task", "output", &id.to_string(), "-f"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = harness::Lines::new(follow.stdout.take().unwrap());
    assert_eq!(lines.next(), "first line");
    std::fs::write(dir.join("release"), "").unwrap();
    assert_eq!(lines.next(), "last line");
    assert!(harness::wait_exit(&mut follow).success(), "follow ends when the task ends");
}

#[test]
fn a_missing_agent_command_fails_the_task_with_a_clear_message() {
    let project = TestProject::new();
    project.write_config("[agent]\ncommand = [\"no-such-agent-binary\"]\n");
    project.start();
    let id = submit(&project, json!({"prompt": "x"}))["id"].as_u64().unwrap();
    let task = wait_for_state(&project, id, "failed");
    assert_eq!(
        task["error"],
        "agent command 'no-such-agent-binary' not found; set [agent].command in .steward/steward.toml"
    );
}

#[test]
fn a_stop_interrupts_running_tasks_and_the_next_start_runs_them_again() {
    let (project, dir) = project_with_agent("print-then-wait.sh", &[], "shutdown_grace_s = 1");
    project.start();
    let id = submit(&project, json!({"prompt": "long"}))["id"].as_u64().unwrap();
    wait_for_state(&project, id, "running");
    project.run(&["daemon", "stop"]).ok();
    let stored = project.run(&["daemon", "start"]);
    stored.ok();
    let task = wait_for_state(&project, id, "running");
    assert_eq!(task["attempts"], 2, "{task}");
    std::fs::write(dir.join("release"), "").unwrap();
    wait_for_state(&project, id, "completed");
    let events = project.call("event.list", json!({"topic": "task:*", "limit": 1000}))["result"]["events"].clone();
    let topics: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["id"] == id)
        .map(|e| e["topic"].as_str().unwrap())
        .collect();
    assert_eq!(
        topics,
        vec!["task:submitted", "task:started", "task:interrupted", "task:requeued", "task:started", "task:completed"]
    );
}

#[test]
fn kill_9_loses_no_acknowledged_submission_and_leaves_no_agent_behind() {
    let (project, dir) =
        project_with_agent("spawn-grandchildren.sh", &["wait"], "max_parallel_tasks = 2\nshutdown_grace_s = 0");
    let pid = project.start();
    let first = submit(&project, json!({"prompt": "with descendants"}))["id"].as_u64().unwrap();
    wait_for_state(&project, first, "running");
    let descendants: Vec<u32> = ["agent", "child", "escaped", "orphan"].iter().map(|n| read_pid(&dir, n)).collect();
    // A client submits as fast as it can; the daemon is killed in the middle.
    let socket = project.socket();
    let submitter = std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut client = harness::RawClient::connect(&socket);
        for i in 0.. {
            client.send(
                &json!({"jsonrpc":"2.0","method":"task.submit","params":{"prompt": format!("load {i}")},"id": i})
                    .to_string(),
            );
            let mut line = String::new();
            match std::io::BufRead::read_line(&mut client.reader, &mut line) {
                Ok(n) if n > 0 => {
                    let reply: Value = serde_json::from_str(&line).unwrap();
                    acked.push(reply["result"]["id"].as_u64().expect("acknowledged with an id"));
                }
                _ => return acked,
            }
        }
        acked
    });
    wait_until("some submissions are acknowledged", || stats(&project)["total"].as_u64().unwrap_or(0) > 50);
    kill(pid, Signal::SIGKILL);
    let acked = submitter.join().unwrap();
    for descendant in &descendants {
        wait_until(&format!("process {descendant} died with the daemon"), || !process_exists(*descendant));
    }
    project.start();
    let mut seen = HashSet::new();
    let mut after = 0;
    loop {
        let page = project.call("task.list", json!({"after_id": after, "limit": 1000}))["result"].clone();
        for task in page["tasks"].as_array().unwrap() {
            assert!(seen.insert(task["id"].as_u64().unwrap()), "a task is listed twice");
        }
        match page["next_after_id"].as_u64() {
            Some(next) => after = next,
            None => break,
        }
    }
    for id in &acked {
        assert!(seen.contains(id), "acknowledged task {id} was lost");
    }
    assert!(seen.len() <= acked.len() + 2, "more tasks than submissions: {} for {}", seen.len(), acked.len() + 1);
    let first_task = get(&project, first);
    assert!(
        first_task["state"] == "running" || first_task["state"] == "queued",
        "requeued after the crash: {first_task}"
    );
}

#[test]
fn a_corrupt_store_is_moved_aside_and_the_daemon_starts_fresh() {
    let project = TestProject::new();
    std::fs::create_dir_all(project.path(".steward/daemon")).unwrap();
    std::fs::write(project.path(".steward/daemon/steward.db"), b"garbage, not sqlite".repeat(200)).unwrap();
    let ran = project.run(&["daemon", "start"]);
    ran.ok();
    assert!(
        ran.stderr.contains("warning: ") && ran.stderr.contains("could not be read as a steward store"),
        "{}",
        ran.stderr
    );
    let aside: Vec<_> = std::fs::read_dir(project.path(".steward/daemon"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("steward.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1);
    assert_eq!(stats(&project)["total"], 0);
}

#[test]
fn bad_parameters_of_every_task_method_name_the_field() {
    let project = TestProject::new();
    project.start();
    let cases = [
        ("task.submit", json!({}), "prompt"),
        ("task.submit", json!({"prompt": ""}), "prompt"),
        ("task.submit", json!({"prompt": "p", "priority": "high"}), "priority"),
        ("task.submit", json!({"prompt": "p", "priority": 1001}), "priority"),
        ("task.submit", json!({"prompt": "p", "priority": 1.5}), "priority"),
        ("task.submit", json!({"prompt": "p", "timeout_s": 0}), "timeout_s"),
        ("task.submit", json!({"prompt": "p", "timeout_s": -5}), "timeout_s"),
        ("task.submit", json!({"prompt": "p", "agent": "nope"}), "agent"),
        ("task.submit", json!({"prompt": "p", "labels": "bug"}), "labels"),
        ("task.submit", json!({"prompt": "p", "priorty": 1}), "priorty"),
        ("task.get", json!({"id": "one"}), "id"),
        ("task.get", json!({}), "id"),
        ("task.list", json!({"state": "done"}), "state"),
        ("task.list", json!({"limit": 0}), "limit"),
        ("task.list", json!({"after_id": -1}), "after_id"),
        ("task.cancel", json!({"id": -1}), "id"),
        ("task.output", json!({"id": 1, "limit": 10_000_000}), "limit"),
        ("task.output", json!({"id": 1, "offset": "start"}), "offset"),
        ("task.stats", json!({"verbose": true}), "verbose"),
        ("event.list", json!({"limit": 0}), "limit"),
        ("event.list", json!({"topic": "a b"}), "topic"),
    ];
    for (method, params, param) in cases {
        let reply = project.call(method, params.clone());
        assert_eq!(reply["error"]["code"], -32602, "{method} {params} -> {reply}");
        assert_eq!(reply["error"]["data"]["param"], param, "{method} {params} -> {reply}");
    }
    let missing = project.call("task.get", json!({"id": 12345}));
    assert_eq!(missing["error"]["data"]["kind"], "not_found");
}

#[test]
fn the_cli_submits_lists_and_waits() {
    let (project, _dir) = project_with_agent("exit-with.sh", &["0"], "");
    project.start();
    let out = project.run(&["task", "submit", "--priority", "7", "--label", "ci", "hello world"]).ok().to_owned();
    assert!(out.starts_with("queued task 1 (priority 7)"), "{out}");
    let list = project.run(&["task", "list"]).ok().to_owned();
    assert!(list.contains("ID") && list.contains("hello world"), "{list}");
    let waited = project.run(&["task", "submit", "--wait", "second"]);
    waited.ok();
    assert!(waited.stdout.contains("task 2 completed"), "{}", waited.stdout);
    let json = project.run(&["task", "get", "1", "--json"]).json();
    assert_eq!(
        (json["priority"].as_i64(), json["labels"].clone(), json["source"].as_str()),
        (Some(7), json!(["ci"]), Some("cli"))
    );
    let stats = project.run(&["task", "stats", "--json"]).json();
    assert_eq!(stats["completed"], 2);
    let status = project.run(&["status"]).ok().to_owned();
    assert!(status.contains("tasks") && status.contains("2 completed"), "{status}");
}

#[test]
fn wait_exits_nonzero_when_the_task_fails() {
    let (project, _dir) = project_with_agent("exit-with.sh", &["4"], "");
    project.start();
    let waited = project.run(&["task", "submit", "--wait", "will fail"]);
    waited.code(1);
    assert!(
        waited.stdout.contains("task 1 failed") && waited.stdout.contains("exited with code 4"),
        "{}",
        waited.stdout
    );
}

#[test]
fn a_task_that_finishes_within_the_stop_grace_keeps_its_outcome() {
    let (project, dir) = project_with_agent("print-then-wait.sh", &[], "shutdown_grace_s = 30");
    let pid = project.start();
    let id = submit(&project, json!({"prompt": "almost done"}))["id"].as_u64().unwrap();
    wait_until("the agent prints", || {
        project.call("task.output", json!({"id": id}))["result"]["data"] == "first line\n"
    });
    let mut stop = project.command(&["daemon", "stop"]).spawn().unwrap();
    // The daemon is stopping and waits for the task; the task finishes on its own meanwhile.
    wait_until("the daemon is stopping", || {
        std::fs::read_to_string(project.path(".steward/daemon/state.json")).is_ok_and(|s| s.contains("\"stopping\""))
    });
    std::fs::write(dir.join("release"), "").unwrap();
    assert!(harness::wait_exit(&mut stop).success());
    assert!(!process_exists(pid));
    project.start();
    let task = get(&project, id);
    assert_eq!((task["state"].as_str(), task["attempts"].as_u64()), (Some("completed"), Some(1)), "not rerun: {task}");
}

#[test]
fn a_service_manager_signalling_every_process_interrupts_rather_than_fails() {
    let (project, dir) = project_with_agent("print-then-wait.sh", &[], "shutdown_grace_s = 30");
    let pid = project.start();
    let id = submit(&project, json!({"prompt": "signalled"}))["id"].as_u64().unwrap();
    let running = wait_for_state(&project, id, "running");
    let shim = running["pid"].as_u64().map(|p| p as u32);
    wait_until("the agent prints", || {
        project.call("task.output", json!({"id": id}))["result"]["data"] == "first line\n"
    });
    // What systemd's default KillMode does: SIGTERM to every process of the service at once.
    let mut everyone = vec![pid];
    everyone.extend(shim);
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(other) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|var| var == format!("STEWARD_TASK_ID={id}").as_bytes()) {
            everyone.push(other);
        }
    }
    for target in &everyone {
        kill(*target, Signal::SIGTERM);
    }
    wait_until("the daemon exits", || !process_exists(pid));
    project.start();
    let task = wait_for_state(&project, id, "running");
    assert_eq!(task["attempts"], 2, "interrupted and run again, not failed: {task}");
    std::fs::write(dir.join("release"), "").unwrap();
    wait_for_state(&project, id, "completed");
}

#[test]
fn task_events_come_in_the_order_of_what_happened() {
    let project = TestProject::new();
    project.write_config("[daemon]\nmax_parallel_tasks = 1\nshutdown_grace_s = 0\n[agent]\ncommand = [\"sleep\", \"1000\"]\nprompt_via = \"stdin\"\n");
    project.start();
    let mut client = project.client();
    // The first task occupies the slot; the second is submitted and cancelled in one batch.
    submit(&project, json!({"prompt": "occupy"}));
    let reply = client.call(
        &json!([
            {"jsonrpc": "2.0", "method": "task.submit", "params": {"prompt": "short-lived"}, "id": 1},
            {"jsonrpc": "2.0", "method": "task.cancel", "params": {"id": 2}, "id": 2}
        ])
        .to_string(),
    );
    assert_eq!(reply[1]["result"]["state"], "cancelled", "{reply}");
    let events = project.call("event.list", json!({"topic": "task:*"}))["result"]["events"].clone();
    let for_two: Vec<(&str, &Value)> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["data"]["id"] == 2)
        .map(|e| (e["topic"].as_str().unwrap(), &e["data"]))
        .collect();
    assert_eq!(for_two.iter().map(|(t, _)| *t).collect::<Vec<_>>(), vec!["task:submitted", "task:cancelled"]);
    assert_eq!(for_two[1].1["state"], "cancelled");
    assert_eq!(for_two[1].1["error"], "cancelled before it started");
}

#[test]
fn a_clean_stop_leaves_only_the_database_file() {
    let project = TestProject::new();
    project.start();
    submit(&project, json!({"prompt": "x"}));
    project.run(&["daemon", "stop"]).ok();
    for leftover in ["steward.db-wal", "steward.db-shm"] {
        assert!(!project.path(&format!(".steward/daemon/{leftover}")).exists(), "{leftover} left behind");
    }
    assert!(project.path(".steward/daemon/steward.db").exists());
}

#[test]
fn attach_with_output_shows_events_and_the_output_of_tasks_as_they_run() {
    let (project, dir) = project_with_agent("print-then-wait.sh", &[], "");
    project.start();
    let mut attach = project
        .command(&["daemon", "attach", "--output", "--topic", "task:completed"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = harness::Lines::new(attach.stdout.take().unwrap());
    // attach subscribes asynchronously: wait until it is a subscriber before submitting.
    wait_until("attach subscribes", || {
        project.call("daemon.status", json!({}))["result"]["events"]["subscribers"].as_u64() == Some(1)
    });
    let id = submit(&project, json!({"prompt": "talk"}))["id"].as_u64().unwrap();
    assert_eq!(lines.next(), format!("[#{id}] first line"));
    std::fs::write(dir.join("release"), "").unwrap();
    assert_eq!(lines.next(), format!("[#{id}] last line"));
    let completed = lines.next();
    assert!(completed.contains("task:completed"), "only the topics asked for are printed: {completed}");
    kill(attach.id(), Signal::SIGINT);
    assert!(harness::wait_exit(&mut attach).success());
}
