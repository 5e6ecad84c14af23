//! The queue's figures against the real daemon: durable submissions one at a time, pipelined and
//! in one batch; then, with 100,000 tasks in the store, `task.stats`, `daemon.status` and
//! `task.list` round trips, whole `steward task submit` and `steward status` processes, and the
//! daemon's RSS. Prints `steward-bench NAME median=.. p99=..` lines that `scripts/bench` reads.
//!
//! The daemon's agent blocks forever and one slot is allowed, so submitted tasks stay queued.
//! Run: `cargo bench --bench queue` (`cargo test --benches` runs it as a short smoke test).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use futures_util::future::join_all;
use steward::api::{DaemonApiClient, TaskApiClient};
use steward_ipc::{IpcClientBuilder, SequentialClient};

#[path = "../ipc/benches/support/measure.rs"]
mod measure;

use measure::{measuring, percentile, report_distribution, time_each};

const STEWARD: &str = env!("CARGO_BIN_EXE_steward");

struct Daemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    pid: u32,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("a temporary project");
        let git = Command::new("git").args(["init", "-q"]).current_dir(dir.path()).status().expect("git runs");
        assert!(git.success(), "git init failed");
        std::fs::create_dir_all(dir.path().join(".steward")).unwrap();
        // One slot, taken by an agent that never ends: everything else stays queued.
        std::fs::write(
            dir.path().join(".steward/steward.toml"),
            "[daemon]\nmax_parallel_tasks = 1\nshutdown_grace_s = 0\n[agent]\ncommand = [\"sh\", \"-c\", \"exec sleep 1000000\"]\n",
        )
        .unwrap();
        let out = steward(dir.path(), &["--json", "daemon", "start"]);
        let started: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("daemon start printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        Daemon {
            socket: PathBuf::from(started["socket"].as_str().expect("a socket")),
            pid: started["pid"].as_u64().expect("a pid") as u32,
            dir,
        }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let out = steward(self.dir.path(), &["daemon", "stop", "--timeout", "30"]);
        if !out.status.success() {
            eprintln!("warning: the bench daemon may still run: {}", String::from_utf8_lossy(&out.stderr));
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

/// Sends one JSON-RPC batch of `count` submissions on a raw connection; returns the ids.
fn submit_batch(socket: &Path, count: usize, tag: &str) -> Vec<u64> {
    let mut line = String::with_capacity(count * 80);
    line.push('[');
    for i in 0..count {
        if i > 0 {
            line.push(',');
        }
        line.push_str(&format!(
            r#"{{"jsonrpc":"2.0","method":"task.submit","params":{{"prompt":"{tag} {i}","priority":{}}},"id":{i}}}"#,
            i % 7
        ));
    }
    line.push_str("]\n");
    let mut stream = UnixStream::connect(socket).expect("connect");
    stream.write_all(line.as_bytes()).expect("send the batch");
    let mut reply = String::new();
    BufReader::new(stream).read_line(&mut reply).expect("the batch reply");
    let replies: Vec<serde_json::Value> = serde_json::from_str(&reply).expect("a batch reply is an array");
    replies.iter().map(|r| r["result"]["id"].as_u64().unwrap_or_else(|| panic!("a submission failed: {r}"))).collect()
}

fn report_total(name: &str, mut totals: Vec<f64>) {
    totals.sort_by(f64::total_cmp);
    println!(
        "steward-bench {name} median={:.1} p99={:.1} max={:.1} n={}",
        percentile(&totals, 50.0),
        percentile(&totals, 99.0),
        totals[totals.len() - 1],
        totals.len()
    );
}

/// Times whole processes of `steward ARGS` in `project`, in milliseconds.
fn time_processes(project: &Path, runs: usize, args: &[&str]) -> Vec<f64> {
    time_each(runs, || {
        let out = steward(project, args);
        assert!(out.status.success(), "steward {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    })
    .into_iter()
    .map(|us| us / 1000.0)
    .collect()
}

fn main() {
    let full = measuring();
    let (rounds, fill_to, samples, processes) = if full { (5, 100_000, 2000, 200) } else { (1, 2_000, 20, 5) };
    let daemon = Daemon::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();

    // 1000 durable submissions, each waiting for its acknowledgement before the next.
    let sequential: Vec<f64> = (0..rounds)
        .map(|round| {
            runtime.block_on(async {
                let client = SequentialClient::connect(&daemon.socket).await.unwrap();
                let start = Instant::now();
                for i in 0..1000 {
                    client.submit(format!("seq {round} {i}"), None, None, None, None, None).await.unwrap();
                }
                start.elapsed().as_secs_f64() * 1000.0
            })
        })
        .collect();
    report_total("queue_1000_sequential_submits_ms", sequential);

    // 1000 durable submissions in flight at once on one connection: group commit's case.
    let pipelined: Vec<f64> = (0..rounds)
        .map(|round| {
            runtime.block_on(async {
                let client = IpcClientBuilder::default().build(&daemon.socket).await.unwrap();
                let start = Instant::now();
                let calls = (0..1000).map(|i| client.submit(format!("pipe {round} {i}"), None, None, None, None, None));
                for result in join_all(calls).await {
                    result.unwrap();
                }
                start.elapsed().as_secs_f64() * 1000.0
            })
        })
        .collect();
    report_total("queue_1000_pipelined_submits_ms", pipelined);

    // One JSON-RPC batch of 10,000 submissions: one transaction.
    let batches: Vec<f64> = (0..rounds.min(3))
        .map(|round| {
            let start = Instant::now();
            let ids = submit_batch(&daemon.socket, 10_000, &format!("batch {round}"));
            assert_eq!(ids.len(), 10_000);
            start.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    report_total("queue_10k_batch_submit_ms", batches);

    // Fill the store, then measure reads against it.
    let total = runtime.block_on(async {
        let client = SequentialClient::connect(&daemon.socket).await.unwrap();
        client.stats().await.unwrap().total
    }) as usize;
    let mut filled = total;
    while filled < fill_to {
        let count = (fill_to - filled).min(10_000);
        submit_batch(&daemon.socket, count, "fill");
        filled += count;
    }
    let client = runtime.block_on(SequentialClient::connect(&daemon.socket)).unwrap();
    let stats = runtime.block_on(client.stats()).unwrap();
    println!("steward-bench queue_tasks_in_store total={} queued={}", stats.total, stats.queued);
    report_distribution(
        "queue_stats_rtt_us",
        time_each(samples, || {
            runtime.block_on(client.stats()).unwrap();
        }),
    );
    report_distribution(
        "queue_status_rtt_us",
        time_each(samples, || {
            runtime.block_on(client.status()).unwrap();
        }),
    );
    report_distribution(
        "queue_list20_first_page_rtt_us",
        time_each(samples, || {
            runtime.block_on(client.list(None, Some(20), None)).unwrap();
        }),
    );
    let middle = stats.total / 2;
    report_distribution(
        "queue_list20_middle_page_rtt_us",
        time_each(samples, || {
            runtime.block_on(client.list(None, Some(20), Some(middle))).unwrap();
        }),
    );
    report_distribution(
        "queue_list20_queued_page_rtt_us",
        time_each(samples, || {
            drop(runtime.block_on(client.list(Some("queued".into()), Some(20), Some(middle))).unwrap())
        }),
    );
    // Memory right after the burst that filled the store (freed memory is given back once a
    // burst settles), and in steady state: a daemon started with the tasks already stored.
    std::thread::sleep(std::time::Duration::from_secs(1));
    let after_burst = rss_mib(daemon.pid);
    drop(client);
    let restarted = steward(daemon.root(), &["--json", "daemon", "restart"]);
    assert!(restarted.status.success(), "restart failed: {}", String::from_utf8_lossy(&restarted.stderr));
    let pid: u32 = std::fs::read_to_string(daemon.root().join(".steward/daemon.pid")).unwrap().trim().parse().unwrap();
    let client = runtime.block_on(SequentialClient::connect(&daemon.socket)).unwrap();
    runtime.block_on(client.stats()).unwrap();
    runtime.block_on(client.list(None, Some(20), Some(middle))).unwrap();
    println!(
        "steward-bench queue_daemon_rss_mib steady={:.2} after_burst={:.2} tasks={}",
        rss_mib(pid),
        after_burst,
        stats.total
    );

    // Whole processes, as a person or a script runs them.
    report_distribution(
        "queue_task_submit_process_ms",
        time_processes(daemon.root(), processes, &["task", "submit", "from a process"]),
    );
    report_distribution("queue_status_process_ms", time_processes(daemon.root(), processes, &["status"]));
    report_distribution("queue_task_stats_process_ms", time_processes(daemon.root(), processes, &["task", "stats"]));
}
