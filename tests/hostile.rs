//! Bad input gets a clear error and harms nothing: each case against the real daemon, which must
//! keep answering everyone else.

mod harness;

use std::io::Write;

use harness::{RawClient, TestProject, wait_until};
use serde_json::json;

const PING: &str = r#"{"jsonrpc":"2.0","method":"daemon.ping","id":"ping"}"#;

fn assert_alive(project: &TestProject) {
    assert!(harness::ping_ok(project), "the daemon stopped answering");
}

fn connections(project: &TestProject) -> u64 {
    project.call("daemon.status", json!({}))["result"]["connections"]["open"].as_u64().unwrap()
}

#[test]
fn garbage_bytes_get_a_parse_error() {
    let project = TestProject::new();
    project.start();
    let mut client = project.client();
    client.send_bytes(b"\x00\xff\xfe garbage \x07\x1b[31m\n");
    let reply = client.recv();
    assert_eq!((reply["error"]["code"].as_i64(), &reply["id"]), (Some(-32700), &json!(null)));
    // The same connection goes on working.
    assert_eq!(client.call(PING)["result"]["pong"], true);
    assert_alive(&project);
}

#[test]
fn random_bytes_never_take_the_daemon_down() {
    let project = TestProject::new();
    project.start();
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    for _ in 0..20 {
        let mut client = project.client();
        let bytes: Vec<u8> = (0..20_000)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed as u8
            })
            .collect();
        // The daemon may close the connection at any point (e.g. a garbage line over the limit).
        let _ = client.reader.get_mut().write_all(&bytes);
    }
    assert_alive(&project);
}

#[test]
fn invalid_json_gets_a_parse_error() {
    let project = TestProject::new();
    project.start();
    let mut client = project.client();
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"daemon.ping","id":1"#);
    assert_eq!(reply["error"]["code"], -32700);
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"daemon.ping","params":{"a":},"id":2}"#);
    assert_eq!(reply["error"]["code"], -32700);
    assert_eq!(client.call(PING)["id"], "ping");
}

#[test]
fn a_ten_mebibyte_line_is_refused_and_only_its_connection_closed() {
    let project = TestProject::new();
    project.start();
    let mut bystander = project.client();
    let mut client = project.client();
    let mut line = br#"{"jsonrpc":"2.0","method":"event.emit","params":{"topic":"x","data":""#.to_vec();
    line.resize(10 << 20, b'a');
    line.extend_from_slice(b"\"},\"id\":1}\n");
    let mut writer = client.stream().try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // The daemon stops reading at its limit, so this write may fail part way.
        let _ = writer.write_all(&line);
    });
    let reply = client.recv();
    assert_eq!(reply["error"]["data"], json!({"kind": "message_too_large", "limit": 4_194_304}));
    client.expect_closed();
    sender.join().unwrap();
    assert_eq!(bystander.call(PING)["result"]["pong"], true);
    assert_alive(&project);
}

#[test]
fn a_configured_message_limit_applies() {
    let project = TestProject::new();
    project.write_config("[daemon]\nmax_message_bytes = 2048\n");
    project.start();
    let mut client = project.client();
    let big = format!(
        r#"{{"jsonrpc":"2.0","method":"event.emit","params":{{"topic":"x","data":"{}"}},"id":1}}"#,
        "a".repeat(3000)
    );
    let reply = client.call(&big);
    assert_eq!(reply["error"]["data"]["limit"], 2048);
    client.expect_closed();
    assert_alive(&project);
}

#[test]
fn clients_that_never_write_cost_nothing_and_block_nobody() {
    let project = TestProject::new();
    project.start();
    let idle: Vec<RawClient> = (0..300).map(|_| project.client()).collect();
    wait_until("the daemon holds the idle connections", || connections(&project) >= 301);
    let mut busy = project.client();
    for _ in 0..200 {
        assert_eq!(busy.call(PING)["result"]["pong"], true);
    }
    drop(idle);
    wait_until("idle connections are released", || connections(&project) <= 2);
}

#[test]
fn a_client_that_disconnects_mid_message_harms_nothing() {
    let project = TestProject::new();
    project.start();
    for _ in 0..50 {
        let mut client = project.client();
        client.send_bytes(br#"{"jsonrpc":"2.0","method":"event.emit","params":{"topic":"half"#);
    }
    assert_alive(&project);
    wait_until("abandoned connections are closed", || connections(&project) == 1);
    // Nothing was half-processed: no event was emitted by the abandoned requests.
    let status = project.call("daemon.status", json!({}));
    assert_eq!(status["result"]["events"]["last_seq"], 1, "only daemon:started: {status}");
}

#[test]
fn wrong_parameter_types_and_names_are_refused_by_name() {
    let project = TestProject::new();
    project.start();
    let mut client = project.client();
    let cases = [
        (json!({"grace_s": "soon"}), "daemon.stop", "grace_s", "invalid type: string \"soon\", expected u64"),
        (json!({"grace_s": -1}), "daemon.stop", "grace_s", "invalid value: integer `-1`, expected u64"),
        (json!({"grase_s": 5}), "daemon.stop", "grase_s", "did you mean `grace_s`?"),
        (json!({"topic": 5}), "event.emit", "topic", "invalid type: integer `5`, expected a string"),
        (json!({}), "event.emit", "topic", "is required"),
        (json!({"topics": "x"}), "event.subscribe", "topics", "expected a sequence"),
        (json!({"since_seq": "1"}), "event.subscribe", "since_seq", "expected u64"),
        (json!({"extra": 1}), "daemon.status", "extra", "it takes no parameters"),
    ];
    for (params, method, param, needle) in cases {
        let request = json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 7});
        let reply = client.call(&request.to_string());
        let error = &reply["error"];
        assert_eq!(error["code"], -32602, "{request} -> {reply}");
        assert_eq!(error["data"]["kind"], "invalid_params", "{request} -> {reply}");
        assert_eq!(error["data"]["param"], param, "{request} -> {reply}");
        assert!(error["message"].as_str().unwrap().contains(needle), "{request} -> {reply}");
    }
    assert_alive(&project);
}

#[test]
fn deeply_nested_json_is_refused_not_fatal() {
    let project = TestProject::new();
    project.start();
    let mut client = project.client();
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let reply = client
        .call(&format!(r#"{{"jsonrpc":"2.0","method":"event.emit","params":{{"topic":"x","data":{nested}}},"id":1}}"#));
    assert!(reply.get("error").is_some(), "{reply}");
    assert_eq!(client.call(PING)["id"], "ping");
}

#[test]
fn a_subscriber_that_never_reads_stalls_nobody() {
    let project = TestProject::new();
    project.start();
    let mut lazy = project.client();
    lazy.send(r#"{"jsonrpc":"2.0","method":"event.subscribe","params":{},"id":1}"#);
    assert!(lazy.recv()["result"].is_number());
    // Emit far more than the lazy subscriber's buffers hold, with a big payload each.
    let payload = "p".repeat(4096);
    let mut emitter = project.client();
    for i in 0..3000 {
        let request = json!({"jsonrpc":"2.0","method":"event.emit","params":{"topic":"load:test","data":{"i": i, "p": payload}},"id":i});
        assert!(emitter.call(&request.to_string())["result"]["seq"].is_number());
    }
    let mut other = project.client();
    for _ in 0..50 {
        assert_eq!(other.call(PING)["result"]["pong"], true);
    }
    // The lazy subscriber was dropped with a note saying where to resume.
    wait_until("the lagging subscription is dropped", || {
        project.call("daemon.status", json!({}))["result"]["events"]["subscribers"] == 0
    });
    let mut last = json!(null);
    loop {
        let message = lazy.recv();
        if message["params"].get("error").is_some() {
            last = message;
            break;
        }
    }
    assert!(last["params"]["error"].as_str().unwrap().contains("subscribe again with since_seq="), "{last}");
}
