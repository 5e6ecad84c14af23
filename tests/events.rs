//! The event API against the real daemon: emit, subscribe with filters and replay, unsubscribe,
//! and how parameters must be given.

mod harness;

use harness::TestProject;
use serde_json::{Value, json};

fn request(method: &str, params: Value, id: u64) -> String {
    json!({"jsonrpc": "2.0", "method": method, "params": params, "id": id}).to_string()
}

#[test]
fn subscribers_get_matching_events_in_order() {
    let project = TestProject::new();
    project.start();
    let mut subscriber = project.client();
    let sub = subscriber.call(&request("event.subscribe", json!({"topics": ["build:*"]}), 1))["result"].clone();
    let mut emitter = project.client();
    for (i, topic) in ["build:started", "lint:done", "build:done"].iter().enumerate() {
        let reply = emitter.call(&request("event.emit", json!({"topic": topic, "data": {"i": i}}), 2));
        assert!(reply["result"]["seq"].as_u64().unwrap() >= 2, "{reply}");
    }
    let first = subscriber.recv();
    assert_eq!(first["method"], "event");
    assert_eq!(first["params"]["subscription"], sub);
    assert_eq!(first["params"]["result"]["topic"], "build:started");
    assert_eq!(first["params"]["result"]["data"], json!({"i": 0}));
    let second = subscriber.recv();
    assert_eq!(second["params"]["result"]["topic"], "build:done", "lint:done is filtered out");
    assert_eq!(
        second["params"]["result"]["seq"].as_u64().unwrap(),
        first["params"]["result"]["seq"].as_u64().unwrap() + 2
    );
}

#[test]
fn since_seq_replays_what_was_missed() {
    let project = TestProject::new();
    project.start();
    let mut emitter = project.client();
    let seqs: Vec<u64> = (0..5)
        .map(|i| {
            emitter.call(&request("event.emit", json!({"topic": "user:n", "data": i}), 1))["result"]["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    let mut subscriber = project.client();
    subscriber.call(&request("event.subscribe", json!({"since_seq": seqs[1]}), 1));
    let replayed: Vec<u64> = (0..3).map(|_| subscriber.recv()["params"]["result"]["seq"].as_u64().unwrap()).collect();
    assert_eq!(replayed, seqs[2..].to_vec());
}

#[test]
fn a_subscription_sees_an_emit_pipelined_right_behind_it() {
    let project = TestProject::new();
    project.start();
    let mut client = project.client();
    client.send_bytes(
        format!(
            "{}\n{}\n",
            request("event.subscribe", json!({"topics": ["user:*"]}), 1),
            request("event.emit", json!({"topic": "user:right-behind"}), 2)
        )
        .as_bytes(),
    );
    let messages: Vec<Value> = (0..3).map(|_| client.recv()).collect();
    assert_eq!(messages[0]["id"], 1, "{messages:?}");
    assert!(messages.iter().any(|m| m["params"]["result"]["topic"] == "user:right-behind"), "{messages:?}");
}

#[test]
fn unsubscribe_by_name_or_position() {
    let project = TestProject::new();
    project.start();
    let mut client = project.client();
    let status = |p: &TestProject| p.call("daemon.status", json!({}))["result"]["events"]["subscribers"].as_u64();
    let a = client.call(&request("event.subscribe", json!({}), 1))["result"].clone();
    let b = client.call(&request("event.subscribe", json!({}), 2))["result"].clone();
    assert_eq!(client.call(&request("event.unsubscribe", json!({"subscription": a}), 3))["result"], true);
    assert_eq!(client.call(&request("event.unsubscribe", json!([b]), 4))["result"], true);
    assert_eq!(client.call(&request("event.unsubscribe", json!({"subscription": a}), 5))["result"], false);
    let reply = client.call(&request("event.unsubscribe", json!({"id": a}), 6));
    assert_eq!(reply["error"]["data"]["param"], "id", "{reply}");
    let reply = client.call(&request("event.unsubscribe", json!({}), 7));
    assert_eq!(reply["error"]["data"]["param"], "subscription", "{reply}");
    harness::wait_until("both subscriptions are gone", || status(&project) == Some(0));
}

#[test]
fn parameters_are_named_and_an_empty_array_means_none() {
    let project = TestProject::new();
    project.start();
    let mut client = project.client();
    assert_eq!(client.call(&request("daemon.ping", json!([]), 1))["result"]["pong"], true);
    let reply = client.call(&request("event.emit", json!(["user:x"]), 2));
    assert_eq!(reply["error"]["code"], -32602);
    assert_eq!(reply["error"]["data"]["kind"], "invalid_params");
    assert!(reply["error"]["message"].as_str().unwrap().contains("takes named parameters"), "{reply}");
    let reply = client.call(&request("daemon.ping", json!([1]), 3));
    assert!(reply["error"]["message"].as_str().unwrap().contains("it takes none"), "{reply}");
}
