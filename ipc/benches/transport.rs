//! Benchmarks of the transport alone, with no daemon behind it: how fast one `ping` goes round
//! over one connection, how many pings one connection carries when many are in flight, and how
//! fast the framing cuts a stream of typical messages. A `ping` here does nothing, so these
//! figures are the floor that every steward call pays. Under them lies the machine's own floor,
//! measured first: a blocking echo between two threads over a Unix socket pair, with no
//! runtime and no JSON at all, as the scheduler places the threads and then pinned to one CPU
//! and to two (on a VM, a wake-up across vCPUs costs several times one on the same vCPU).
//!
//! The server runs on its own two-worker runtime (as in the daemon) and the client on a
//! current-thread runtime (as in the CLI), both in this process. Criterion reports a mean per
//! call with its confidence interval; because targets are about the median and the tail, each
//! latency bench first times calls one by one and prints a `steward-bench` line with the median
//! and p99 of those.
//!
//! Run: `cargo bench -p steward-ipc --bench transport`.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use jsonrpsee::RpcModule;
use jsonrpsee::core::client::{Client, ClientT};
use jsonrpsee::rpc_params;
use serde_json::json;
use steward_ipc::codec::FrameDecoder;
use steward_ipc::{IpcClientBuilder, Server, ServerHandle};
use tokio::runtime::Runtime;

mod support {
    pub mod measure;
}

use support::measure::{allowed_cpus, bench_rate, measuring, pin_thread, report_distribution};

/// Requests in flight at once in the pipelined bench: the client's default limit is 1024.
const PIPELINE: usize = 1000;
/// Chunk size of the codec bench: what one socket read typically returns.
const CHUNK: usize = 4 * 1024;

/// A server with one method and a client connected to it, each on its own runtime.
struct Fixture {
    server_rt: Runtime,
    client_rt: Runtime,
    server: ServerHandle,
    client: Option<Client>,
    _dir: tempfile::TempDir,
}

impl Fixture {
    fn start() -> Fixture {
        let dir = tempfile::tempdir().expect("a temporary directory for the socket");
        let socket = dir.path().join("bench.sock");
        let server_rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("the server runtime");
        let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("the client runtime");
        let server = {
            let _context = server_rt.enter();
            Server::default().start(&socket, ping_module()).expect("the server binds its socket")
        };
        let client = client_rt.block_on(connect(&socket));
        Fixture { server_rt, client_rt, server, client: Some(client), _dir: dir }
    }

    fn client(&self) -> &Client {
        self.client.as_ref().expect("connected until drop")
    }

    /// One `ping`, awaited.
    fn ping_once(&self) {
        self.client_rt.block_on(ping(self.client()));
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // The client goes first so that the server's graceful stop has no connection to drain.
        self.client.take();
        self.server.stop();
        self.server_rt.block_on(self.server.stopped());
    }
}

fn ping_module() -> RpcModule<()> {
    let mut module = RpcModule::new(());
    module.register_method("ping", |_, _, _| "pong").expect("one method name");
    module
}

async fn connect(socket: &Path) -> Client {
    IpcClientBuilder::default().build(socket).await.expect("the client connects")
}

async fn ping(client: &Client) {
    let pong: String = client.request("ping", rpc_params![]).await.expect("ping answers");
    black_box(pong);
}

/// The machine's floor: a 48-byte message echoed by another thread over a socket pair.
fn machine_floor(c: &mut Criterion) {
    use std::io::{Read, Write};
    let (mut client, mut server) = std::os::unix::net::UnixStream::pair().expect("a socket pair");
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let echo = std::thread::spawn(move || {
        // SAFETY: gettid has no preconditions.
        tid_tx.send(unsafe { libc::gettid() }).expect("the bench waits for the tid");
        let mut buf = [0u8; 256];
        // Ends when the client side is dropped (read returns 0).
        while let Ok(n @ 1..) = server.read(&mut buf) {
            server.write_all(&buf[..n]).expect("echo");
        }
    });
    let echo_tid = tid_rx.recv().expect("the echo thread starts");
    let message = br#"{"jsonrpc":"2.0","id":1,"method":"daemon.ping"}"#;
    let mut reply = [0u8; 256];
    let mut echo_once = || {
        client.write_all(message).expect("write");
        let mut got = 0;
        while got < message.len() {
            got += client.read(&mut reply[got..]).expect("read");
        }
    };
    let count = if measuring() { 20_000 } else { 100 };
    let mut time_each = |count: usize| -> Vec<f64> {
        for _ in 0..count / 10 {
            echo_once();
        }
        (0..count)
            .map(|_| {
                let start = Instant::now();
                echo_once();
                start.elapsed().as_secs_f64() * 1e6
            })
            .collect()
    };
    report_distribution("floor_uds_echo_rtt_us", time_each(count));
    let cpus = allowed_cpus();
    if cpus.len() >= 2 {
        for (placement, echo_cpu) in [("same_cpu", cpus[0]), ("two_cpus", cpus[1])] {
            pin_thread(0, &[cpus[0]]);
            pin_thread(echo_tid, &[echo_cpu]);
            report_distribution(&format!("floor_uds_echo_rtt_{placement}_us"), time_each(count));
        }
        pin_thread(0, &cpus);
        pin_thread(echo_tid, &cpus);
    }
    c.bench_function("floor/uds_echo_rtt", |b| b.iter(&mut echo_once));
    drop(client);
    echo.join().expect("the echo thread ends");
}

fn round_trip(c: &mut Criterion) {
    let fixture = Fixture::start();
    let count = if measuring() { 20_000 } else { 100 };
    for _ in 0..count / 10 {
        fixture.ping_once();
    }
    let rtts_us = (0..count)
        .map(|_| {
            let start = Instant::now();
            fixture.ping_once();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    report_distribution("transport_ping_rtt_us", rtts_us);

    c.bench_function("transport/ping_rtt", |b| {
        b.iter_custom(|iters| {
            fixture.client_rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    ping(fixture.client()).await;
                }
                start.elapsed()
            })
        })
    });
}

fn pipelined(c: &mut Criterion) {
    let fixture = Fixture::start();
    bench_rate(c, "transport", "pipelined_pings", PIPELINE, || {
        fixture.client_rt.block_on(join_all((0..PIPELINE).map(|_| ping(fixture.client()))));
    });
}

/// About 1 MiB of what crosses the socket: pings and their replies, submissions with escapes
/// and non-ASCII text, event notifications, and status replies. Returns the bytes and how many
/// messages they hold.
fn typical_stream() -> (Vec<u8>, usize) {
    let status = json!({
        "version": "0.1.0", "state": "running", "pid": 4242, "uptime_s": 86_399,
        "project": "/home/dev/src/steward", "socket": "/home/dev/src/steward/.steward/daemon/daemon.sock",
        "config": {"path": "/home/dev/src/steward/.steward/steward.toml", "exists": true,
                   "loaded_at": "2025-11-21T09:14:02Z", "reload_error": null},
        "log": {"path": "/home/dev/src/steward/.steward/daemon/daemon.log", "level": "info"},
        "connections": {"open": 3, "max": 1024},
        "events": {"last_seq": 123_456, "subscribers": 2},
    });
    let mut stream = Vec::new();
    let mut messages = 0;
    for id in 0u64.. {
        if stream.len() >= 1024 * 1024 {
            break;
        }
        let message = match id % 5 {
            0 => json!({"jsonrpc": "2.0", "id": id, "method": "daemon.ping"}),
            1 => {
                json!({"jsonrpc": "2.0", "id": id, "result": {"pong": true, "pid": 4242, "uptime_s": id, "version": "0.1.0"}})
            }
            2 => json!({"jsonrpc": "2.0", "id": id, "method": "task.submit", "params": {
                "prompt": format!("fix the \"flaky\" test #{id} in tests/queue.rs — then run `cargo test`\n\tand report ✓"),
                "priority": id % 10}}),
            3 => json!({"jsonrpc": "2.0", "method": "event", "params": {"subscription": 77, "result": {
                "seq": id, "topic": "task:output", "data": {"task": format!("t-{id}"), "line": "   Compiling steward v0.1.0 (/home/dev/src/steward)"}}}}),
            _ => json!({"jsonrpc": "2.0", "id": id, "result": status}),
        };
        serde_json::to_writer(&mut stream, &message).expect("JSON serialises");
        stream.push(b'\n');
        messages += 1;
    }
    (stream, messages)
}

/// Feeds `stream` to a fresh decoder in `CHUNK`-byte pieces, as reads deliver it; returns the
/// number of frames found.
fn decode_in_chunks(stream: &[u8]) -> usize {
    let mut decoder = FrameDecoder::new(4 * 1024 * 1024);
    let mut frames = 0;
    for chunk in stream.chunks(CHUNK) {
        decoder.extend(chunk);
        while let Some(range) = decoder.next_frame().expect("no frame exceeds the limit") {
            black_box(&decoder.buffer()[range]);
            frames += 1;
        }
        decoder.compact();
    }
    frames
}

fn codec(c: &mut Criterion) {
    let (stream, messages) = typical_stream();
    assert_eq!(decode_in_chunks(&stream), messages, "the decoder finds every message");
    println!(
        "steward-bench codec_stream bytes={} messages={messages} mean_message_bytes={:.0}",
        stream.len(),
        stream.len() as f64 / messages as f64
    );
    let mut group = c.benchmark_group("codec");
    group.throughput(Throughput::Bytes(stream.len() as u64));
    group.bench_function("typical_stream_4KiB_chunks/bytes", |b| b.iter(|| decode_in_chunks(black_box(&stream))));
    group.throughput(Throughput::Elements(messages as u64));
    group.bench_function("typical_stream_4KiB_chunks/messages", |b| b.iter(|| decode_in_chunks(black_box(&stream))));
    group.finish();
}

criterion_group! {
    name = benches;
    // Short runs: every figure here is stable within a few percent after 3 s on an idle machine.
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = machine_floor, round_trip, pipelined, codec
}
criterion_main!(benches);
