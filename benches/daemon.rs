//! Benchmarks against the real daemon: the `steward` binary this package builds is started in
//! a temporary git repository, and the typed Rust client (the one the CLI uses) measures a
//! `daemon.ping` round trip over one connection, many pings in flight on one connection, a
//! `daemon.status` round trip, and connect + one call + close, which is the part of a
//! `steward status` process that is not exec and exit. A ping written and read with the bare
//! transport halves (no jsonrpsee `Client`) shows how much of the round trip is the client's.
//! The daemon is stopped at the end, also when a bench panics.
//!
//! Where the scheduler puts the client and the daemon decides much of a round trip: on a VM,
//! waking a thread on another vCPU costs far more than on the same one. So the ping is also
//! timed with both pinned to one CPU and to two different CPUs; those two figures are stable
//! from run to run, where the unpinned one moves between them.
//!
//! Criterion reports a mean per call with its confidence interval; because targets are about
//! the median and the tail, each bench first times calls one by one and prints a
//! `steward-bench` line with their median and p99, which `scripts/bench` and
//! docs/benchmarks.md use.
//!
//! Run: `cargo bench --bench daemon` (the judge of the round-trip and throughput targets).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::future::join_all;
use jsonrpsee::core::client::{Client, TransportSenderT};
use steward::api::DaemonApiClient;
use steward_ipc::{IpcClientBuilder, Receiver, Sender, SequentialClient};
use tokio::runtime::Runtime;

#[path = "../ipc/benches/support/measure.rs"]
mod measure;

use measure::{allowed_cpus, bench_rate, measuring, pin_process, report_distribution, time_each};

/// The binary under test. Cargo builds it (in the bench profile, i.e. optimised) before any
/// bench of this package and tells its path here.
const STEWARD: &str = env!("CARGO_BIN_EXE_steward");
/// Requests in flight at once in the pipelined bench: the client's default limit is 1024.
const PIPELINE: usize = 1000;

/// A daemon started by the real binary in a fresh git repository; stopped on drop.
struct Daemon {
    dir: tempfile::TempDir,
    socket: PathBuf,
    pid: u32,
}

impl Daemon {
    fn start() -> Daemon {
        let dir = tempfile::tempdir().expect("a temporary directory for the project");
        let git = Command::new("git").args(["init", "-q"]).current_dir(dir.path()).output();
        match git {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                panic!("`git init` failed in {}: {}", dir.path().display(), String::from_utf8_lossy(&out.stderr))
            }
            Err(e) => panic!("cannot run git (needed to make the bench's project): {e}"),
        }
        let out = steward(dir.path(), &["--json", "daemon", "start"]);
        let started: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("`steward --json daemon start` printed no JSON ({e}): {}", describe(&out));
        });
        let (Some(socket), Some(pid)) = (started["socket"].as_str(), started["pid"].as_u64()) else {
            panic!("`steward --json daemon start` did not start a daemon: {}", describe(&out));
        };
        Daemon { dir, socket: PathBuf::from(socket), pid: pid as u32 }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let out = steward(self.dir.path(), &["daemon", "stop"]);
        if !out.status.success() {
            eprintln!("warning: `steward daemon stop` failed; a daemon may be left running: {}", describe(&out));
        }
    }
}

/// Runs the binary in `project`, ignoring any socket chosen by the caller's environment.
fn steward(project: &Path, args: &[&str]) -> Output {
    Command::new(STEWARD)
        .args(args)
        .current_dir(project)
        .env_remove("STEWARD_SOCKET")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {STEWARD}: {e}"))
}

fn describe(out: &Output) -> String {
    format!(
        "{}; stdout: {:?}; stderr: {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The CLI's runtime: one thread, no workers.
fn client_runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("the client runtime")
}

async fn connect(socket: &Path) -> Client {
    IpcClientBuilder::default().build(socket).await.expect("the client connects to the daemon")
}

async fn ping<C: DaemonApiClient + Sync>(client: &C) {
    black_box(client.ping().await.expect("daemon.ping answers"));
}

/// A ping without jsonrpsee's `Client`: no background task, channels or timeout timer.
async fn bare_ping(sender: &mut Sender, receiver: &mut Receiver) {
    let request = r#"{"jsonrpc":"2.0","id":1,"method":"daemon.ping"}"#.to_owned();
    sender.send(request).await.expect("the request is written");
    black_box(receiver.next_message().await.expect("daemon.ping answers"));
}

async fn status<C: DaemonApiClient + Sync>(client: &C) {
    black_box(client.status().await.expect("daemon.status answers"));
}

fn benches(c: &mut Criterion) {
    let daemon = Daemon::start();
    let rt = client_runtime();
    let client = rt.block_on(connect(&daemon.socket));
    let sequential = rt.block_on(async {
        SequentialClient::connect(&daemon.socket).await.expect("the sequential client connects to the daemon")
    });
    let many = if measuring() { 20_000 } else { 100 };
    let few = if measuring() { 2_000 } else { 20 };

    // The CLI's client for one-shot commands: the figure the round-trip target is judged on.
    report_distribution("daemon_ping_rtt_us", time_each(many, || rt.block_on(ping(&sequential))));
    c.bench_function("daemon/ping_rtt", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    ping(&sequential).await;
                }
                start.elapsed()
            })
        })
    });
    // jsonrpsee's async client (used for subscriptions and many calls in flight).
    report_distribution("daemon_async_client_ping_rtt_us", time_each(many, || rt.block_on(ping(&client))));

    let (mut sender, mut receiver) = rt.block_on(async {
        let stream = steward_ipc::connect(&daemon.socket).await.expect("the bare transport connects");
        steward_ipc::transport(stream, 1024 * 1024)
    });
    report_distribution(
        "daemon_bare_transport_ping_rtt_us",
        time_each(many, || rt.block_on(bare_ping(&mut sender, &mut receiver))),
    );
    c.bench_function("daemon/bare_transport_ping_rtt", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    bare_ping(&mut sender, &mut receiver).await;
                }
                start.elapsed()
            })
        })
    });

    let cpus = allowed_cpus();
    if cpus.len() >= 2 {
        for (placement, client_cpu, daemon_cpu) in [("same_cpu", cpus[0], cpus[0]), ("two_cpus", cpus[0], cpus[1])] {
            pin_process(std::process::id(), &[client_cpu]);
            pin_process(daemon.pid, &[daemon_cpu]);
            report_distribution(
                &format!("daemon_ping_rtt_{placement}_us"),
                time_each(many, || rt.block_on(ping(&sequential))),
            );
            report_distribution(
                &format!("daemon_async_client_ping_rtt_{placement}_us"),
                time_each(many, || rt.block_on(ping(&client))),
            );
            report_distribution(
                &format!("daemon_bare_transport_ping_rtt_{placement}_us"),
                time_each(many, || rt.block_on(bare_ping(&mut sender, &mut receiver))),
            );
        }
        pin_process(std::process::id(), &cpus);
        pin_process(daemon.pid, &cpus);
    } else {
        println!("steward-bench note: fewer than 2 CPUs, so no pinned placements");
    }
    drop((sender, receiver));

    report_distribution("daemon_status_rtt_us", time_each(few, || rt.block_on(status(&sequential))));
    c.bench_function("daemon/status_rtt", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    status(&sequential).await;
                }
                start.elapsed()
            })
        })
    });

    // What a CLI process does between exec and exit: connect, one call, close.
    // What a `steward status` process does between exec and exit, with the CLI's client.
    let connect_status = || {
        rt.block_on(async {
            let client = SequentialClient::connect(&daemon.socket).await.expect("the client connects");
            status(&client).await;
        })
    };
    report_distribution("daemon_connect_status_close_us", time_each(few, connect_status));
    c.bench_function("daemon/connect_status_close", |b| b.iter(connect_status));

    bench_rate(c, "daemon", "pipelined_pings", PIPELINE, || {
        rt.block_on(join_all((0..PIPELINE).map(|_| ping(&client))));
    });

    // The connection goes before the daemon is told to stop, so the stop has nothing to drain.
    drop(client);
}

criterion_group! {
    name = daemon;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(daemon);
