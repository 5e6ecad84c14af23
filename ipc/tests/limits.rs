//! One test per limit in `Settings`, each also showing that nothing else is affected.

mod support;

use std::sync::atomic::Ordering;
use std::time::Instant;

use steward_ipc::{Settings, error};
use support::{DEADLINE, RawClient, TestServer, error_code, wait_until};

const PING: &str = r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"ping"}"#;

fn ping(client: &mut RawClient) {
    assert_eq!(client.call(PING)["result"], 3);
}

#[test]
fn max_message_bytes_errors_closes_that_connection_only() {
    let server = TestServer::start(Settings { max_message_bytes: 1024, ..Settings::default() });
    let mut bystander = server.client();
    let mut client = server.client();

    // Exactly at the limit is fine.
    let filler = "x".repeat(1024 - r#"{"jsonrpc":"2.0","method":"echo","params":{"value":""},"id":1}"#.len());
    let at_limit = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{{"value":"{filler}"}},"id":1}}"#);
    assert_eq!(at_limit.len(), 1024);
    assert_eq!(client.call(&at_limit)["result"], filler);

    // One byte over: an error naming the limit, then the connection is closed.
    let over = format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{{"value":"{filler}x"}},"id":2}}"#);
    client.send(&over);
    let reply = client.recv();
    assert_eq!(error_code(&reply), error::MESSAGE_TOO_LARGE as i64);
    assert_eq!(reply["error"]["data"]["kind"], "message_too_large");
    assert_eq!(reply["error"]["data"]["limit"], 1024);
    client.expect_closed();

    ping(&mut bystander);
    ping(&mut server.client());
}

#[test]
fn a_ten_mebibyte_line_is_refused_without_reading_it_all() {
    let server = TestServer::start(Settings::default());
    let mut client = server.client();
    let mut line = Vec::with_capacity(10 << 20);
    line.extend_from_slice(br#"{"jsonrpc":"2.0","method":"echo","params":{"value":""#);
    line.resize(10 << 20, b'a');
    line.push(b'\n');
    // Write from another thread: the server stops reading at 4 MiB, so the write may block or fail.
    let stream = client.stream().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        use std::io::Write;
        let mut stream = stream;
        let _ = stream.write_all(&line);
    });
    let reply = client.recv();
    assert_eq!(reply["error"]["data"]["kind"], "message_too_large");
    assert_eq!(reply["error"]["data"]["limit"], Settings::DEFAULT_MAX_MESSAGE_BYTES);
    client.expect_closed();
    sender.join().unwrap();
    ping(&mut server.client());
}

#[test]
fn max_connections_refuses_extra_ones_with_an_error() {
    let server = TestServer::start(Settings { max_connections: 4, ..Settings::default() });
    let mut held: Vec<RawClient> = (0..4).map(|_| server.client()).collect();
    for client in &mut held {
        ping(client);
    }
    let mut extra = server.client();
    let reply = extra.recv();
    assert_eq!(error_code(&reply), error::TOO_MANY_CONNECTIONS as i64);
    assert_eq!(reply["error"]["data"], serde_json::json!({"kind":"too_many_connections","limit":4}));
    extra.expect_closed();

    // Closing one makes room for another.
    drop(held.pop());
    wait_until("a slot frees up", || server.handle.connections() == 3);
    let mut next = server.client();
    ping(&mut next);
    assert_eq!(server.handle.max_connections(), 4);
}

#[test]
fn max_subscriptions_per_connection() {
    let server = TestServer::start(Settings { max_subscriptions_per_connection: 2, ..Settings::default() });
    let mut client = server.client();
    let sub = r#"{"jsonrpc":"2.0","method":"ticks","params":{"count":0},"id":1}"#;
    let first = client.call(sub)["result"].clone();
    assert!(!first.is_null());
    assert!(!client.call(sub)["result"].is_null());
    let reply = client.call(sub);
    assert_eq!(error_code(&reply), error::TOO_MANY_SUBSCRIPTIONS as i64);
    assert_eq!(reply["error"]["data"]["limit"], 2);

    // Unsubscribing frees a slot.
    let reply = client.call(&format!(r#"{{"jsonrpc":"2.0","method":"unticks","params":[{first}],"id":2}}"#));
    assert_eq!(reply["result"], true);
    wait_until("the slot is released", || server.observed.ticks_closed.load(Ordering::SeqCst) == 1);
    assert!(!client.call(sub)["result"].is_null());

    // The limit is per connection.
    let mut other = server.client();
    assert!(!other.call(sub)["result"].is_null());
}

#[test]
fn max_requests_in_flight_bounds_concurrency_per_connection() {
    let server = TestServer::start(Settings { max_requests_in_flight: 2, ..Settings::default() });
    let mut client = server.client();
    for i in 0..6 {
        client.send(&format!(r#"{{"jsonrpc":"2.0","method":"sleep","params":{{"ms":30}},"id":{i}}}"#));
    }
    let mut ids: Vec<i64> = (0..6).map(|_| client.recv()["id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, (0..6).collect::<Vec<_>>());
    assert_eq!(server.observed.max_running.load(Ordering::SeqCst), 2);
}

#[test]
fn max_response_bytes_replaces_a_huge_reply_with_an_error() {
    let server = TestServer::start(Settings { max_response_bytes: 10_000, ..Settings::default() });
    let mut client = server.client();
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"big","params":{"bytes":20000},"id":1}"#);
    assert_eq!(error_code(&reply), error::RESPONSE_TOO_LARGE as i64);
    assert_eq!(reply["error"]["data"], serde_json::json!({"kind": "response_too_large", "limit": 10_000}));
    assert_eq!(reply["id"], 1);
    // A batch whose replies add up to too much gets one such error.
    let batch = format!("[{0},{0}]", r#"{"jsonrpc":"2.0","method":"big","params":{"bytes":6000},"id":3}"#);
    let reply = client.call(&batch);
    assert_eq!(reply["error"]["data"]["kind"], "response_too_large", "{reply}");
    assert_eq!(
        client.call(r#"{"jsonrpc":"2.0","method":"big","params":{"bytes":100},"id":2}"#)["result"]
            .as_str()
            .unwrap()
            .len(),
        100
    );
}

#[test]
fn a_client_that_never_reads_stalls_nobody_else() {
    let server = TestServer::start(Settings { connection_buffer: 4, max_requests_in_flight: 4, ..Settings::default() });
    // Pipeline far more replies than the socket buffers and queue can hold, and never read them.
    let mut hog = server.client();
    let request = r#"{"jsonrpc":"2.0","method":"big","params":{"bytes":65536},"id":1}"#;
    let stream = hog.stream().try_clone().unwrap();
    stream.set_write_timeout(Some(std::time::Duration::from_millis(200))).unwrap();
    let mut stream_for_writes = stream;
    let mut sent = 0;
    for _ in 0..2000 {
        use std::io::Write;
        if stream_for_writes.write_all(format!("{request}\n").as_bytes()).is_err() {
            break; // our own send buffer is full: the server stopped reading us
        }
        sent += 1;
    }
    assert!(sent < 2000, "the server kept reading a client that does not read its replies");

    let mut polite = server.client();
    let start = Instant::now();
    for _ in 0..100 {
        ping(&mut polite);
    }
    assert!(start.elapsed() < DEADLINE);
    // The hog is still served once it reads.
    assert_eq!(hog.recv()["id"], 1);
}

#[test]
fn a_subscriber_that_never_reads_is_bounded_and_stalls_nobody() {
    let server = TestServer::start(Settings { subscription_buffer: 16, connection_buffer: 4, ..Settings::default() });
    let mut slow = server.client();
    slow.send(r#"{"jsonrpc":"2.0","method":"flood","id":1}"#);
    wait_until("the flood subscription lags", || server.observed.flood_lagged.load(Ordering::SeqCst));
    let mut polite = server.client();
    for _ in 0..50 {
        ping(&mut polite);
    }
}

#[test]
fn three_hundred_idle_clients_and_one_busy_one() {
    let server = TestServer::start(Settings::default());
    let idle: Vec<RawClient> = (0..300).map(|_| server.client()).collect();
    wait_until("all idle clients are accepted", || server.handle.connections() == 300);
    let mut busy = server.client();
    for _ in 0..200 {
        ping(&mut busy);
    }
    drop(idle);
    wait_until("idle clients are released", || server.handle.connections() == 1);
}

#[test]
fn default_limits_are_the_documented_ones() {
    let settings = Settings::default();
    assert_eq!(settings.max_message_bytes, 4 * 1024 * 1024);
    assert_eq!(settings.max_connections, 1024);
}
