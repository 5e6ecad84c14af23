//! The reliability campaign: the daemon killed at random moments while clients push work at it,
//! hostile clients all at once, a full disk, a log that cannot rotate, an agent's program and
//! the project's `.steward` deleted under it, a soak, and a fleet of idle daemons.
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
        use std::io::{BufRead, Write};
        let mut acked = Vec::new();
        // The kill may come before the connection, or between a request and its reply: a
        // refused connection or a broken pipe means the daemon is gone, as a closed one does.
        let Ok(stream) = std::os::unix::net::UnixStream::connect(&socket) else { return acked };
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut reader = std::io::BufReader::new(stream);
        for i in 0u64.. {
            let prompt = format!("cycle {cycle} submit {i}");
            let request = json!({ "jsonrpc": "2.0", "method": "task.submit", "params": { "prompt": prompt }, "id": i });
            if reader.get_mut().write_all(format!("{request}\n").as_bytes()).is_err() {
                return acked;
            }
            let mut line = String::new();
            match reader.read_line(&mut line) {
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

const PING: &str = r#"{"jsonrpc":"2.0","method":"daemon.ping","id":"ping"}"#;

/// A well-behaved client pinging in a loop until told to stop; returns each round trip.
fn pinger(
    project: &TestProject,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<Vec<Duration>> {
    let mut client = project.client();
    std::thread::spawn(move || {
        let mut times = Vec::new();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let at = Instant::now();
            assert_eq!(client.call(PING)["result"]["pong"], true, "the well-behaved client got an answer");
            times.push(at.elapsed());
        }
        times
    })
}

fn p99(mut times: Vec<Duration>) -> (Duration, Duration, usize) {
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    (at(0.5), at(0.99), times.len())
}

/// Lets this process hold as many sockets as the storm needs.
fn raise_open_files() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).unwrap();
}

#[test]
fn hostile_clients_all_at_once_harm_nobody() {
    raise_open_files();
    let project = TestProject::new();
    let pid = project.start();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let timing = pinger(&project, stop.clone());

    // 1000 connections at once, each asking something.
    let mut crowd: Vec<RawClient> = (0..1000).map(|_| project.client()).collect();
    for client in &mut crowd {
        client.send(PING);
    }
    for client in &mut crowd {
        assert_eq!(client.recv()["result"]["pong"], true);
    }
    drop(crowd);

    // Then everything else at the same moment.
    let socket = project.socket();
    let mut hostile = Vec::new();
    // 100 clients that connect and never write.
    let idle: Vec<RawClient> = (0..100).map(|_| project.client()).collect();
    // One that sends a request a byte at a time, slowly.
    let slow_socket = socket.clone();
    let slow_stop = stop.clone();
    hostile.push(std::thread::spawn(move || {
        let mut slow = RawClient::connect(&slow_socket);
        let bytes = format!("{PING}\n").into_bytes();
        let mut sent = 0;
        while !slow_stop.load(std::sync::atomic::Ordering::Relaxed) && sent < bytes.len() {
            slow.send_bytes(&bytes[sent..=sent]);
            sent += 1;
            let next = Instant::now() + Duration::from_millis(if full() { 1000 } else { 20 });
            while Instant::now() < next && !slow_stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::park_timeout(Duration::from_millis(10));
            }
        }
        if sent == bytes.len() {
            assert_eq!(slow.recv()["result"]["pong"], true, "the slow request is answered once whole");
        }
    }));
    // A 50 MiB line: refused with an error, its connection closed.
    let big_socket = socket.clone();
    hostile.push(std::thread::spawn(move || {
        let mut big = RawClient::connect(&big_socket);
        let line = vec![b'x'; 50 << 20];
        let _ = std::io::Write::write_all(big.reader.get_mut(), &line);
        let mut reply = String::new();
        let _ = big.reader.read_line(&mut reply);
        assert!(reply.is_empty() || reply.contains("-32007"), "an oversized message gets its error: {reply}");
    }));
    // Random bytes on 20 connections.
    let noise_socket = socket.clone();
    hostile.push(std::thread::spawn(move || {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        for _ in 0..20 {
            let mut client = RawClient::connect(&noise_socket);
            let bytes: Vec<u8> = (0..50_000).map(|_| rng.below(256) as u8).collect();
            let _ = std::io::Write::write_all(client.reader.get_mut(), &bytes);
        }
    }));
    // JSON nested 10,000 deep.
    let deep_socket = socket.clone();
    hostile.push(std::thread::spawn(move || {
        let mut deep = RawClient::connect(&deep_socket);
        let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let reply = deep.call(&format!(
            r#"{{"jsonrpc":"2.0","method":"event.emit","params":{{"topic":"x","data":{nested}}},"id":1}}"#
        ));
        assert!(reply.get("error").is_some(), "{reply}");
    }));
    // A subscriber that never reads, while events pour in.
    let mut lazy = project.client();
    lazy.send(r#"{"jsonrpc":"2.0","method":"event.subscribe","params":{},"id":1}"#);
    let emit_socket = socket.clone();
    hostile.push(std::thread::spawn(move || {
        let mut emitter = RawClient::connect(&emit_socket);
        let payload = "p".repeat(4096);
        for i in 0..2000 {
            let request =
                json!({"jsonrpc":"2.0","method":"event.emit","params":{"topic":"load:storm","data":{"i": i, "p": payload}},"id": i});
            assert!(emitter.call(&request.to_string())["result"]["seq"].is_number());
        }
    }));

    for thread in hostile.drain(1..) {
        thread.join().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    hostile.pop().unwrap().join().unwrap();
    let (median, p99, count) = p99(timing.join().unwrap());
    drop(idle);
    drop(lazy);
    assert!(process_exists(pid) && harness::ping_ok(&project), "the daemon is up and answering");
    eprintln!("hostile storm: well-behaved pings {count}, median {median:?}, p99 {p99:?}");
    if full() {
        // The target is for the release build (`scripts/reliability`); a debug build is slower.
        assert!(p99 < Duration::from_millis(5) || cfg!(debug_assertions), "ping p99 {p99:?} over 5 ms");
    }
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// `None` (after saying why) where mounting is not allowed.
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::piped())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs { dir }),
            Ok(output) => {
                eprintln!(
                    "SKIPPED: cannot mount a tmpfs here ({}); this needs root (CI runs as root)",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(err) => {
                eprintln!("SKIPPED: cannot run mount ({err})");
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// Fills the file system under `dir` to the last byte; returns the filler to delete.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 64 << 10];
    while file.write_all(&chunk).is_ok() {}
    let mut byte = [0u8; 1];
    while file.write_all(&byte).is_ok() {
        byte[0] = 1;
    }
    filler
}

#[test]
fn a_full_disk_fails_submits_clearly_and_recovers_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount("32m") else { return };
    let project = TestProject::inside(tmpfs.path());
    project.write_config("[agent]\ncommand = [\"sh\", \"-c\", \"cat\"]\n");
    let pid = project.start();
    let submit = |prompt: &str| project.call("task.submit", json!({ "prompt": prompt }));
    let first = submit("before the disk fills")["result"]["id"].as_u64().expect("accepted");

    let filler = fill(tmpfs.path());
    let mut refused = 0;
    for i in 0..20 {
        let reply = submit(&format!("while full {i}"));
        // SQLite may still fit a row in a page it has: what is acknowledged must be kept.
        if reply.get("error").is_some() {
            assert_eq!(reply["error"]["code"], -32023, "{reply}");
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(message.contains("no space left") && message.contains("Free some space"), "{message}");
            refused += 1;
        }
    }
    assert!(refused > 0, "a full disk refuses submissions");
    let emitted = project.call("event.emit", json!({ "topic": "disk:full" }));
    assert_eq!(emitted["error"]["code"], -32023, "an event that cannot be kept is not acknowledged: {emitted}");
    assert!(harness::ping_ok(&project), "the daemon stays up on a full disk");
    assert!(project.call("daemon.status", json!({}))["result"]["state"] == "running");

    std::fs::remove_file(&filler).unwrap();
    let after = submit("after space returned")["result"]["id"].as_u64().expect("accepted again, no restart");
    wait_until("the task after the disk filled completes", || {
        project.call("task.get", json!({ "id": after }))["result"]["state"] == "completed"
    });
    // A crash now finds a store that was never damaged.
    kill(pid, Signal::SIGKILL);
    wait_until("the daemon is gone", || !process_exists(pid));
    project.start();
    let prompts: Vec<String> =
        all_tasks(&project).iter().map(|task| task["prompt"].as_str().unwrap().to_owned()).collect();
    assert!(
        prompts.contains(&"before the disk fills".to_owned()) && prompts.contains(&"after space returned".to_owned())
    );
    assert_eq!(prompts.len(), 2 + (20 - refused), "exactly the acknowledged tasks: {prompts:?}");
    let task = project.call("task.get", json!({ "id": first }))["result"].clone();
    assert!(task["state"].is_string(), "{task}");
}

#[test]
fn removing_dot_steward_under_a_running_daemon_stops_it_cleanly() {
    let project = TestProject::new();
    // The stop gives running agents their grace period, as every stop does; kept short here.
    project.write_config(
        "[daemon]\nshutdown_grace_s = 1\n[agent]\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; exec sleep 600\"]\n",
    );
    let pid = project.start();
    let id = project.call("task.submit", json!({ "prompt": "long" }))["result"]["id"].as_u64().unwrap();
    wait_until("the agent runs", || project.call("task.get", json!({ "id": id }))["result"]["state"] == "running");
    // The daemon may write a file in there while it goes: remove until nothing is left.
    wait_until(".steward is removed", || std::fs::remove_dir_all(project.path(".steward")).is_ok());
    // Its lock, store, socket and log are gone: it stops, and its agent with it.
    wait_until("the daemon notices and stops", || !process_exists(pid));
    wait_until("its agent is stopped too", || agents_of(&project).is_empty());
    // A new daemon starts afresh there.
    let again = project.start();
    assert_ne!(again, pid);
    assert!(project.path(".steward/daemon/steward.db").exists());
    assert!(harness::ping_ok(&project));
}

#[test]
fn an_agent_binary_deleted_mid_run_fails_the_next_task_clearly() {
    let project = TestProject::new();
    let bin = tempfile::tempdir().unwrap();
    let agent = bin.path().join("agent.sh");
    let release = bin.path().join("release");
    let started = bin.path().join("started");
    std::fs::write(
        &agent,
        format!(
            "#!/bin/sh\ncat >/dev/null\ntouch {}\nwhile [ ! -e {} ]; do sleep 0.05; done\necho finished\n",
            started.display(),
            release.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&agent, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    project.write_config(&format!("[agent]\ncommand = [\"{}\"]\n", agent.display()));
    project.start();
    let first = project.call("task.submit", json!({ "prompt": "one" }))["result"]["id"].as_u64().unwrap();
    wait_until("the agent runs", || started.exists());
    std::fs::remove_file(&agent).unwrap();
    std::fs::write(&release, "").unwrap();
    wait_until("the running agent finishes", || {
        project.call("task.get", json!({ "id": first }))["result"]["state"] != "running"
    });
    let done = project.call("task.get", json!({ "id": first }))["result"].clone();
    assert_eq!(done["state"], "completed", "the running agent finishes from its open file: {done}");
    let second = project.call("task.submit", json!({ "prompt": "two" }))["result"]["id"].as_u64().unwrap();
    wait_until("the next task ends", || {
        project.call("task.get", json!({ "id": second }))["result"]["state"] == "failed"
    });
    let task = project.call("task.get", json!({ "id": second }))["result"].clone();
    let error = task["error"].as_str().unwrap();
    assert!(error.contains("not found") && error.contains("agent.sh"), "{error}");
    assert!(harness::ping_ok(&project), "the daemon goes on");
}

/// Resident memory and open descriptors of a process, from /proc.
fn rss_kib_and_fds(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    (rss, fds)
}

/// Proportional set size in KiB: resident memory, with each page shared by N processes counted
/// as 1/N (the binary's code is shared by every daemon on the host).
fn pss_kib(pid: u32) -> u64 {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap();
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap()
}

/// CPU time a process has used so far (user + system), from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The fields after the command's closing parenthesis; utime and stime are the 12th and 13th.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap().unwrap() as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

#[test]
fn soak_under_cron_files_and_submits_stays_flat() {
    let minutes = if full() { 10.0 } else { 0.25 };
    let project = TestProject::new();
    std::fs::create_dir_all(project.path("busy")).unwrap();
    project.write_config(
        r#"[daemon]
max_parallel_tasks = 2
event_retention = 1000

[agent]
command = ["sh", "-c", "cat >/dev/null; sleep 0.05"]

[watch]
enabled = true
paths = ["busy"]
debounce_ms = 200

[[rules]]
id = "every-second"
trigger = { type = "schedule", cron = "* * * * * *", timezone = "UTC" }
action = { type = "submit_task", prompt = "tick {{time}}" }

[[rules]]
id = "busy-files"
trigger = { type = "file_change", pattern = "busy/**" }
action = { type = "submit_task", prompt = "files changed: {{paths}}" }
"#,
    );
    let pid = project.start();
    let settle = Instant::now() + Duration::from_secs(2);
    wait_until("the daemon settles after its start", || Instant::now() >= settle);
    let (rss_start, fds_start) = rss_kib_and_fds(pid);
    let end = Instant::now() + Duration::from_secs_f64(minutes * 60.0);
    let mut client = project.client();
    let (mut submitted, mut writes) = (0u64, 0u64);
    let mut samples = Vec::new();
    while Instant::now() < end {
        // A steady load: a submit and a file write every 50 ms or so.
        let request = json!({"jsonrpc":"2.0","method":"task.submit","params":{"prompt": format!("load {submitted}")},"id": submitted});
        assert!(client.call(&request.to_string())["result"]["id"].is_number());
        submitted += 1;
        std::fs::write(project.path(&format!("busy/file-{}.txt", writes % 50)), writes.to_string()).unwrap();
        writes += 1;
        if submitted % 100 == 0 {
            samples.push(rss_kib_and_fds(pid));
        }
        let next = Instant::now() + Duration::from_millis(50);
        wait_until("the next beat of the load", || Instant::now() >= next);
    }
    // Let the queue drain, then measure again.
    wait_until("the queue drains", || {
        let stats = project.call("task.stats", json!({}))["result"].clone();
        stats["queued"] == 0 && stats["running"] == 0
    });
    let (rss_end, fds_end) = rss_kib_and_fds(pid);
    let stats = project.call("task.stats", json!({}))["result"].clone();
    let failures: Vec<Value> = ["rule:failed", "daemon:reload_failed", "task:failed", "schedule:missed"]
        .iter()
        .flat_map(|topic| {
            project.call("event.list", json!({ "topic": topic, "limit": 10 }))["result"]["events"]
                .as_array()
                .unwrap()
                .clone()
        })
        .collect();
    assert!(failures.is_empty(), "error events during the soak: {failures:?}");
    let mut stored = 0;
    let mut since = 0;
    loop {
        let page = project.call("event.list", json!({ "since_seq": since, "limit": 1000 }))["result"]["events"].clone();
        let page = page.as_array().unwrap();
        stored += page.len();
        match page.last() {
            Some(last) => since = last["seq"].as_u64().unwrap(),
            None => break,
        }
    }
    // Pruned every 500 events down to the retention.
    assert!(stored <= 1000 + 500, "the event table is bounded by its retention: {stored} events stored");
    assert!(fds_end <= fds_start + 4, "open descriptors grew from {fds_start} to {fds_end}");
    // The RSS a quarter, a half, three quarters and all the way through the run.
    let quarters: Vec<u64> =
        (1..=4).filter_map(|q| samples.get((samples.len() * q / 4).saturating_sub(1)).map(|s| s.0)).collect();
    eprintln!("soak: RSS at each quarter of the run: {quarters:?} KiB");
    eprintln!(
        "soak: {minutes} min, {submitted} submits, {writes} file writes, {} tasks ({} completed); RSS {rss_start} -> \
         {rss_end} KiB (peak sample {} KiB), fds {fds_start} -> {fds_end}, events stored {stored}",
        stats["total"],
        stats["completed"],
        samples.iter().map(|s| s.0).max().unwrap_or(rss_end)
    );
    if full() {
        assert!(rss_end <= rss_start + rss_start / 2, "RSS grew from {rss_start} to {rss_end} KiB");
    }
}

#[test]
fn a_fleet_of_idle_daemons_costs_little_and_answers_fast() {
    let (count, window) = if full() { (100, Duration::from_secs(60)) } else { (10, Duration::from_secs(3)) };
    raise_open_files();
    let projects: Vec<TestProject> = (0..count).map(|_| TestProject::new()).collect();
    let pids: Vec<u32> = projects.iter().map(TestProject::start).collect();
    let settle = Instant::now() + Duration::from_secs(3);
    wait_until("the daemons settle after their start", || Instant::now() >= settle);
    let before: Vec<Duration> = pids.iter().map(|pid| cpu_time(*pid)).collect();
    let started = Instant::now();
    // A measuring window, not a wait for something to happen: the daemons are left alone for it.
    std::thread::sleep(window);
    let elapsed = started.elapsed();
    let used: Duration = pids.iter().zip(&before).map(|(pid, before)| cpu_time(*pid) - *before).sum();
    let rss: Vec<u64> = pids.iter().map(|pid| rss_kib_and_fds(*pid).0).collect();
    let pss: Vec<u64> = pids.iter().map(|pid| pss_kib(*pid)).collect();
    let mut status_times = Vec::new();
    for project in &projects {
        let mut client = project.client();
        let at = Instant::now();
        assert_eq!(client.call(r#"{"jsonrpc":"2.0","method":"daemon.status","id":1}"#)["result"]["state"], "running");
        status_times.push(at.elapsed());
    }
    // Serving maps back the code it runs: the same daemons once each has answered.
    let rss_after: Vec<u64> = pids.iter().map(|pid| rss_kib_and_fds(*pid).0).collect();
    let mean_rss_after = rss_after.iter().sum::<u64>() / rss_after.len() as u64;
    let share = used.as_secs_f64() / elapsed.as_secs_f64() * 100.0;
    let max_rss = *rss.iter().max().unwrap();
    let mean_rss = rss.iter().sum::<u64>() / rss.len() as u64;
    let max_pss = *pss.iter().max().unwrap();
    let mean_pss = pss.iter().sum::<u64>() / pss.len() as u64;
    let slowest = *status_times.iter().max().unwrap();
    eprintln!(
        "fleet: {count} daemons idle for {:.0} s used {:?} of CPU together ({share:.3} % of one core); RSS mean {mean_rss} \
         KiB, max {max_rss} KiB (after answering: mean {mean_rss_after} KiB); PSS mean {mean_pss} KiB, max {max_pss} KiB; \
         slowest status {slowest:?}",
        elapsed.as_secs_f64(),
        used
    );
    assert!(pids.iter().all(|pid| process_exists(*pid)));
    if full() && !cfg!(debug_assertions) {
        assert!(share < 1.0, "idle CPU {share:.3} % of a core");
        // What a daemon adds to the host: its RSS counts the binary's shared pages in full for
        // each daemon; PSS shares them out (docs/reliability.md#fleet).
        assert!(max_pss <= 8 * 1024, "PSS {max_pss} KiB");
        assert!(slowest < Duration::from_millis(5), "status took {slowest:?}");
    }
}

#[test]
fn a_log_that_cannot_rotate_keeps_logging_and_serving() {
    let project = TestProject::new();
    project.write_config("[daemon.log]\nmax_size_mb = 1\nmax_files = 2\nlevel = \"trace\"\n");
    project.start();
    // Rotation first clears the slots past max_files: a directory there cannot be removed.
    std::fs::create_dir_all(project.path(".steward/daemon/daemon.log.3/in-the-way")).unwrap();
    let log = project.path(".steward/daemon/daemon.log");
    let mut client = project.client();
    let mut pings = 0;
    wait_until("the log passes its rotation size", || {
        for _ in 0..200 {
            assert_eq!(client.call(PING)["result"]["pong"], true);
            pings += 1;
        }
        std::fs::metadata(&log).unwrap().len() > 1_100_000
    });
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("steward: cannot rotate").count(), 1, "said once, in the log itself");
    assert!(!project.path(".steward/daemon/daemon.log.1").exists(), "nothing was rotated");
    assert!(harness::ping_ok(&project));
    // Once the way is clear, the next event rotates.
    std::fs::remove_dir_all(project.path(".steward/daemon/daemon.log.3")).unwrap();
    wait_until("the log rotates again", || {
        assert_eq!(client.call(PING)["result"]["pong"], true);
        project.path(".steward/daemon/daemon.log.1").exists()
    });
    eprintln!("log rotation blocked: {pings} pings logged at trace level, all answered");
}
