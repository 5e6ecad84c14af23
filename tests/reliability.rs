//! The reliability campaign: the daemon killed at random moments while clients push work at it.
//!
//! Short by default, so it runs in every `cargo test`; `STEWARD_RELIABILITY=full` runs the whole
//! campaign (docs/reliability.md has its figures and how to reproduce them), and
//! `STEWARD_RELIABILITY_SEED=N` replays one sequence of kill moments.

mod harness;

use std::collections::HashMap;
use std::io::BufRead;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use harness::{RawClient, TestProject, kill, process_exists, wait_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

fn full() -> bool {
    std::env::var("STEWARD_RELIABILITY").is_ok_and(|mode| mode == "full")
}

/// A small deterministic generator (xorshift64*), seeded from the clock unless told.
struct Rng(u64);

impl Rng {
    fn new() -> (Rng, u64) {
        let seed = std::env::var("STEWARD_RELIABILITY_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1);
        (Rng(seed), seed)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % bound
    }
}

/// Every task, by id, read page by page.
fn all_tasks(project: &TestProject) -> Vec<Value> {
    let mut tasks = Vec::new();
    let mut after = 0;
    loop {
        let page = project.call("task.list", json!({ "after_id": after, "limit": 1000 }))["result"].clone();
        tasks.extend(page["tasks"].as_array().unwrap().iter().cloned());
        match page["next_after_id"].as_u64() {
            Some(next) => after = next,
            None => return tasks,
        }
    }
}

/// The processes whose environment names this project (the agents and anything they started).
fn agents_of(project: &TestProject) -> Vec<u32> {
    let marker = format!("STEWARD_PROJECT={}", project.root().display());
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ.split(|b| *b == 0).any(|var| var == marker.as_bytes()) {
            found.push(pid);
        }
    }
    found
}

/// Submits as fast as one connection allows until the daemon goes away; returns the prompts
/// whose submission was acknowledged, with their ids.
fn submit_until_gone(project: &TestProject, cycle: u32) -> std::thread::JoinHandle<Vec<(String, u64)>> {
    let socket = project.socket();
    std::thread::spawn(move || {
        let mut acked = Vec::new();
        let mut client = RawClient::connect(&socket);
        for i in 0u64.. {
            let prompt = format!("cycle {cycle} submit {i}");
            let request = json!({ "jsonrpc": "2.0", "method": "task.submit", "params": { "prompt": prompt }, "id": i });
            client.send(&request.to_string());
            let mut line = String::new();
            match client.reader.read_line(&mut line) {
                Ok(n) if n > 0 => {
                    let reply: Value = serde_json::from_str(&line).unwrap();
                    match reply["result"]["id"].as_u64() {
                        Some(id) => acked.push((prompt, id)),
                        None => panic!("a submission was refused while the daemon ran: {reply}"),
                    }
                }
                _ => return acked,
            }
        }
        acked
    })
}

#[test]
fn kill_9_at_random_moments_loses_and_duplicates_nothing() {
    let cycles = if full() { 100 } else { 8 };
    let (mut rng, seed) = Rng::new();
    eprintln!("crash campaign: {cycles} cycles, seed {seed} (STEWARD_RELIABILITY_SEED={seed} replays it)");
    let project = TestProject::new();
    // Agents that take a while, so that some run at every crash, and start children of their own.
    project.write_config(
        "[daemon]\nmax_parallel_tasks = 2\nshutdown_grace_s = 0\n[agent]\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; \
         sleep 0.3 & sleep 0.3; wait\"]\n",
    );
    let mut acknowledged: HashMap<String, u64> = HashMap::new();
    let started = Instant::now();
    for cycle in 0..cycles {
        let pid = project.start();
        // Whatever a crash left must be settled: no task is `running` without its process.
        for task in all_tasks(&project) {
            if task["state"] == "running"
                && let Some(agent) = task["pid"].as_u64()
            {
                assert!(process_exists(agent as u32), "cycle {cycle}: task {} runs without a process", task["id"]);
            }
        }
        let submitter = submit_until_gone(&project, cycle);
        // The kill lands anywhere from the first submission to a few hundred in.
        let wait = Duration::from_millis(rng.below(400));
        let deadline = Instant::now() + wait;
        wait_until("the kill moment", || Instant::now() >= deadline);
        kill(pid, Signal::SIGKILL);
        wait_until("the daemon is gone", || !process_exists(pid));
        let acked = submitter.join().unwrap();
        wait_until("no agent outlives its daemon", || agents_of(&project).is_empty());
        for (prompt, id) in acked {
            assert!(acknowledged.insert(prompt.clone(), id).is_none(), "{prompt} acknowledged twice");
        }
    }
    project.start();
    let tasks = all_tasks(&project);
    let mut by_prompt: HashMap<String, Vec<u64>> = HashMap::new();
    for task in &tasks {
        // Prompts here are short: `task.list` carries them whole.
        let prompt = task["prompt"].as_str().unwrap().to_owned();
        by_prompt.entry(prompt).or_default().push(task["id"].as_u64().unwrap());
    }
    for (prompt, id) in &acknowledged {
        assert_eq!(by_prompt.get(prompt), Some(&vec![*id]), "`{prompt}` (acknowledged as task {id})");
    }
    for (prompt, ids) in &by_prompt {
        assert_eq!(ids.len(), 1, "`{prompt}` is stored {} times", ids.len());
    }
    eprintln!(
        "crash campaign: {cycles} cycles in {:.1} s; {} acknowledged submissions, {} tasks stored, each checked \
         once; {} unacknowledged submissions made it in before the kill",
        started.elapsed().as_secs_f64(),
        acknowledged.len(),
        tasks.len(),
        tasks.len() - acknowledged.len()
    );
}
