//! Automation's figures: the engine deciding over 1000 rules per event (in-process, the pure
//! part), file change -> task queued through the real daemon and real inotify, and starting to
//! watch a tree of 100,000 files (time and RSS). Prints `steward-bench NAME ...` lines that
//! `scripts/bench` reads.
//!
//! Run: `cargo bench --bench automation` (`cargo test --benches` runs it as a short smoke test).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::json;
use steward::api::{AutomationApiClient, EventApiClient};
use steward::automation::compile::compile;
use steward::automation::engine::{Engine, Now};
use steward::automation::watch::{Change, ChangeBatch, ChangeKind};
use steward::config::Config;
use steward::events::Event;
use steward_ipc::{IpcClientBuilder, SequentialClient};

#[path = "../ipc/benches/support/measure.rs"]
mod measure;

use measure::{measuring, report_distribution, time_each};

const STEWARD: &str = env!("CARGO_BIN_EXE_steward");

/// A never-ending agent in one slot: submitted tasks stay queued and cost nothing.
const AGENT: &str = "[daemon]\nmax_parallel_tasks = 1\nshutdown_grace_s = 0\n\
                     [agent]\ncommand = [\"sh\", \"-c\", \"exec sleep 1000000\"]\n";

struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(config: &str) -> Project {
        let dir = tempfile::tempdir().expect("a temporary project");
        let git = Command::new("git").args(["init", "-q"]).current_dir(dir.path()).status().expect("git runs");
        assert!(git.success(), "git init failed");
        std::fs::create_dir_all(dir.path().join(".steward")).unwrap();
        let project = Project { dir };
        project.configure(config);
        project
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn configure(&self, config: &str) {
        std::fs::write(self.root().join(".steward/steward.toml"), format!("{AGENT}{config}")).unwrap();
    }

    /// Starts the daemon; returns its socket and pid.
    fn start(&self) -> (PathBuf, u32) {
        let out = steward(self.root(), &["--json", "daemon", "start"]);
        let started: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("daemon start printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        (PathBuf::from(started["socket"].as_str().expect("a socket")), started["pid"].as_u64().expect("a pid") as u32)
    }

    fn stop(&self) {
        let out = steward(self.root(), &["daemon", "stop", "--timeout", "30"]);
        if !out.status.success() {
            eprintln!("warning: the bench daemon may still run: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        if self.root().join(".steward/daemon/daemon.sock").exists() {
            self.stop();
        }
    }
}

fn steward(project: &Path, args: &[&str]) -> std::process::Output {
    Command::new(STEWARD).args(args).current_dir(project).env_remove("STEWARD_SOCKET").output().expect("steward runs")
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

/// The engine alone: 1000 rules considered for every event or batch.
fn engine_figures(samples: usize) {
    // Event rules that all match the topic (globs), each with a condition to test: the engine
    // has to look at every one of them, which is the worst case for one event.
    let mut rules = String::from("[watch]\nenabled = true\npaths = [\".\"]\n");
    for i in 0..1000 {
        rules.push_str(&format!(
            "[[rules]]\nid = \"event-{i}\"\ntrigger = {{ type = \"event\", topic = \"ci:*\" }}\n\
             condition = {{ type = \"match\", field = \"data.branch\", regex = '^release/{i}$' }}\n\
             action = {{ type = \"emit_event\", topic = \"user:e{i}\" }}\n"
        ));
    }
    let config = Config::parse(&rules, Path::new("bench.toml")).expect("valid");
    let (mut engine, _) = Engine::new(compile(&config).expect("compiles"), true, &HashMap::new(), Now::current());
    let event = Event {
        seq: 1,
        time: chrono::Utc::now(),
        topic: "ci:done".into(),
        data: json!({"branch": "main", "status": "red"}),
    };
    report_distribution(
        "automation_1000_event_rules_per_event_us",
        time_each(samples, || {
            let outcome = engine.on_event(&event, None, Now::current());
            assert!(outcome.firings.is_empty());
        }),
    );

    // 1000 file rules: one changed file (an event's worth), then a batch of 20.
    let mut rules = String::from("[watch]\nenabled = true\npaths = [\".\"]\n");
    for i in 0..1000 {
        rules.push_str(&format!(
            "[[rules]]\nid = \"file-{i}\"\ntrigger = {{ type = \"file_change\", pattern = \"crates/c{i}/**/*.rs\" }}\n\
             action = {{ type = \"emit_event\", topic = \"user:f{i}\" }}\n"
        ));
    }
    let config = Config::parse(&rules, Path::new("bench.toml")).expect("valid");
    let (mut engine, _) = Engine::new(compile(&config).expect("compiles"), true, &HashMap::new(), Now::current());
    let batch = |size: usize| ChangeBatch {
        changes: (0..size)
            .map(|i| Change { path: format!("crates/x{i}/src/module{i}.rs"), kind: ChangeKind::Modify })
            .collect(),
        rescan: false,
    };
    for (name, batch) in [
        ("automation_1000_file_rules_per_change_us", batch(1)),
        ("automation_1000_file_rules_per_20_changes_us", batch(20)),
    ] {
        report_distribution(
            name,
            time_each(samples, || {
                let outcome = engine.on_files(&batch, Now::current());
                assert!(outcome.firings.is_empty());
            }),
        );
    }
}

/// File written -> `task:submitted` seen by a subscriber, through inotify, the watcher's
/// debounce, the engine, and a durable submit.
fn file_to_task(samples: usize) {
    const DEBOUNCE_MS: u64 = 50;
    let project = Project::new(&format!(
        "[watch]\nenabled = true\npaths = [\"src/\"]\ndebounce_ms = {DEBOUNCE_MS}\n\
         [[rules]]\nid = \"on-change\"\ntrigger = {{ type = \"file_change\", pattern = \"src/**\" }}\n\
         action = {{ type = \"submit_task\", prompt = \"{{{{paths}}}}\" }}\n"
    ));
    std::fs::create_dir_all(project.root().join("src")).unwrap();
    let (socket, _) = project.start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let latencies = runtime.block_on(async {
        let client = SequentialClient::connect(&socket).await.unwrap();
        while AutomationApiClient::status(&client).await.unwrap().watch.directories.is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let events = IpcClientBuilder::default().build(&socket).await.unwrap();
        let mut submitted = events.subscribe_events(Some(vec!["task:submitted".into()]), None).await.unwrap();
        let mut latencies = Vec::with_capacity(samples);
        for i in 0..samples + samples / 10 {
            let start = Instant::now();
            std::fs::write(project.root().join(format!("src/file{i}.txt")), "x").unwrap();
            let event = tokio::time::timeout(Duration::from_secs(10), submitted.next())
                .await
                .expect("a task within 10 s")
                .expect("the subscription is open")
                .expect("an event");
            assert_eq!(event.topic, "task:submitted");
            if i >= samples / 10 {
                latencies.push(start.elapsed().as_secs_f64() * 1000.0);
            }
        }
        latencies
    });
    report_distribution("automation_file_to_task_ms", latencies.clone());
    report_distribution(
        "automation_file_to_task_beyond_debounce_ms",
        latencies.iter().map(|ms| ms - DEBOUNCE_MS as f64).collect(),
    );
    project.stop();
}

/// Starting to watch a tree of `files` files: the time until the watcher reports its watches,
/// and the RSS that costs over the same daemon without watching.
fn watch_big_tree(files: usize, rounds: usize) {
    const PER_DIR: usize = 50;
    let project = Project::new("");
    let started = Instant::now();
    for d in 0..files / PER_DIR {
        // Two levels, like a source tree: 2000 directories of 50 files for 100k.
        let dir = project.root().join(format!("tree/group{}/module{d}", d % 40));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..PER_DIR {
            std::fs::write(dir.join(format!("file{f}.rs")), "x").unwrap();
        }
    }
    eprintln!("made {files} files in {:.1} s", started.elapsed().as_secs_f64());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let mut ready_ms = Vec::new();
    let mut added_mib = Vec::new();
    for _ in 0..rounds {
        project.configure("");
        let (socket, pid) = project.start();
        std::thread::sleep(Duration::from_millis(500));
        let without = rss_mib(pid);
        project.stop();
        project.configure("[watch]\nenabled = true\npaths = [\".\"]\n");
        let start = Instant::now();
        let (_, pid) = project.start();
        let directories = runtime.block_on(async {
            let client = SequentialClient::connect(&socket).await.unwrap();
            loop {
                if let Some(directories) = AutomationApiClient::status(&client).await.unwrap().watch.directories {
                    return directories;
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        });
        ready_ms.push(start.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(500));
        added_mib.push(rss_mib(pid) - without);
        eprintln!("watching {directories} directories; RSS {without:.1} -> {:.1} MiB", rss_mib(pid));
        project.stop();
    }
    report_distribution("automation_watch_100k_files_start_ms", ready_ms);
    report_distribution("automation_watch_100k_files_added_rss_mib", added_mib);
}

fn main() {
    let full = measuring();
    let (samples, file_samples, files, rounds) = if full { (2000, 200, 100_000, 3) } else { (20, 10, 5_000, 1) };
    engine_figures(samples);
    file_to_task(file_samples);
    watch_big_tree(files, rounds);
}
