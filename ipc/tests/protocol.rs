//! JSON-RPC 2.0 as the specification says it, over a real socket.

mod support;

use serde_json::{Value, json};
use steward_ipc::Settings;
use support::{ExpectNothingPending, TestServer, error_code};

fn server() -> TestServer {
    TestServer::start(Settings::default())
}

#[test]
fn single_call_with_named_and_positional_params() {
    let server = server();
    let mut client = server.client();
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"add","params":{"a":2,"b":3},"id":1}"#);
    assert_eq!(reply, json!({"jsonrpc":"2.0","id":1,"result":5}));
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"add","params":[40,2],"id":2}"#);
    assert_eq!(reply["result"], 42);
}

#[test]
fn ids_of_every_allowed_type_are_echoed_exactly() {
    let server = server();
    let mut client = server.client();
    for id in [
        r#""abc""#,
        r#""""#,
        r#""ü😀""#,
        "0",
        "7",
        "18446744073709551615",
        "18446744073709551616",
        "-1",
        "1.5",
        "1e3",
        "-2.5E-3",
        "null",
    ] {
        client.send(&format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{{"value":1}},"id":{id}}}"#));
        let line = client.recv_line();
        assert!(line.contains(&format!(r#""id":{id}"#)), "id {id} not echoed as sent: {line}");
        let reply: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(reply["result"], 1);
        // Also on errors.
        client.send(&format!(r#"{{"jsonrpc":"2.0","method":"nope","id":{id}}}"#));
        let line = client.recv_line();
        assert!(line.contains(&format!(r#""id":{id}"#)), "id {id} not echoed on error: {line}");
    }
}

#[test]
fn notifications_never_get_a_reply_not_even_an_error() {
    let server = server();
    let mut client = server.client();
    client.send(r#"{"jsonrpc":"2.0","method":"record"}"#);
    client.send(r#"{"jsonrpc":"2.0","method":"no_such_method"}"#);
    client.send(r#"{"jsonrpc":"2.0","method":"add","params":{"a":"x"}}"#);
    client.send(r#"{"jsonrpc":"2.0","method":"boom-not-registered","params":[1]}"#);
    client.send(r#"{"jsonrpc":"2.0","method":"ticks","params":{"count":3}}"#);
    client.expect_nothing_pending();
    // The valid notification ran.
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"recorded","id":1}"#);
    assert_eq!(reply["result"], 1);
}

#[test]
fn standard_errors() {
    let server = server();
    let mut client = server.client();
    let cases: [(&str, i64, Value); 9] = [
        (r#"{"jsonrpc":"2.0","method":"nope","id":1}"#, -32601, json!(1)),
        (r#"{"jsonrpc":"2.0","method":"add","params":{"a":"x","b":1},"id":2}"#, -32602, json!(2)),
        (r#"{"jsonrpc":"2.0","method":"add","params":{"a":1},"id":3}"#, -32602, json!(3)),
        (r#"{"jsonrpc":"2.0","method":"add","params":"1,2","id":4}"#, -32600, json!(4)),
        (r#"{"jsonrpc":"1.0","method":"add","id":5}"#, -32600, json!(5)),
        (r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#, -32600, Value::Null),
        (r#"{"jsonrpc":"2.0","method":"foobar,"params":"bar","baz]"#, -32700, Value::Null),
        (r#"{"jsonrpc":"2.0","method":"echo","id":{"a":1}}"#, -32600, Value::Null),
        ("\"just a string\"", -32600, Value::Null),
    ];
    for (request, code, id) in cases {
        let reply = client.call(request);
        assert_eq!(error_code(&reply), code, "{request} -> {reply}");
        assert_eq!(reply["id"], id, "{request} -> {reply}");
        assert_eq!(reply["jsonrpc"], "2.0");
    }
}

#[test]
fn application_errors_keep_code_message_and_data() {
    let server = server();
    let mut client = server.client();
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"fail","id":9}"#);
    assert_eq!(
        reply,
        json!({"jsonrpc":"2.0","id":9,"error":{"code":-32050,"message":"it failed","data":{"kind":"test_failure"}}})
    );
}

#[test]
fn batches() {
    let server = server();
    let mut client = server.client();

    // Mixed: calls answered in order, notifications skipped, invalid entries answered.
    let reply = client.call(concat!(
        r#"[{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"1"},"#,
        r#"{"jsonrpc":"2.0","method":"record"},"#,
        r#"{"jsonrpc":"2.0","method":"sleep","params":{"ms":20},"id":"2"},"#,
        r#"{"foo":"boo"},"#,
        r#"{"jsonrpc":"2.0","method":"nope","id":"5"},"#,
        "1]",
    ));
    let replies = reply.as_array().expect("a batch reply is an array");
    assert_eq!(replies.len(), 5, "{reply}");
    assert_eq!(replies[0], json!({"jsonrpc":"2.0","id":"1","result":3}));
    assert_eq!(replies[1]["result"], 20);
    assert_eq!((error_code(&replies[2]), &replies[2]["id"]), (-32600, &Value::Null));
    assert_eq!((error_code(&replies[3]), &replies[3]["id"]), (-32601, &json!("5")));
    assert_eq!(error_code(&replies[4]), -32600);

    // Empty batch: one error, not an array.
    let reply = client.call("[]");
    assert_eq!(error_code(&reply), -32600);
    assert_eq!(reply["id"], Value::Null);

    // Invalid JSON batch: one parse error.
    let reply = client.call(r#"[{"jsonrpc":"2.0","method":"sum","params":[1,2,4],"id":"1"},{"jsonrpc":"2.0","method""#);
    assert_eq!(error_code(&reply), -32700);

    // Only notifications: no reply at all.
    client.send(r#"[{"jsonrpc":"2.0","method":"record"},{"jsonrpc":"2.0","method":"record"}]"#);
    client.expect_nothing_pending();
    assert_eq!(client.call(r#"{"jsonrpc":"2.0","method":"recorded","id":1}"#)["result"], 3);
}

#[test]
fn framing_without_separators_and_with_odd_whitespace() {
    let server = server();
    let mut client = server.client();
    client.send_bytes(
        br#"{"jsonrpc":"2.0","method":"add","params":[1,1],"id":1}{"jsonrpc":"2.0","method":"add","params":[2,2],"id":2}"#,
    );
    client.send_bytes(b"\r\n\t  {\"jsonrpc\": \"2.0\",\"method\":\"add\",\"params\":[3,3],\"id\":3}  \n");
    let mut results: Vec<i64> = (0..3).map(|_| client.recv()["result"].as_i64().unwrap()).collect();
    results.sort();
    assert_eq!(results, vec![2, 4, 6]);
}

#[test]
fn a_message_split_across_writes_even_inside_a_character() {
    let server = server();
    let mut client = server.client();
    let request = r#"{"jsonrpc":"2.0","method":"echo","params":{"value":"é😀 ünïcödé"},"id":1}"#.as_bytes();
    for byte in request {
        client.send_bytes(std::slice::from_ref(byte));
    }
    client.send_bytes(b"\n");
    assert_eq!(client.recv()["result"], "é😀 ünïcödé");
}

#[test]
fn invalid_utf8_is_a_parse_error_and_the_stream_continues() {
    let server = server();
    let mut client = server.client();
    client.send_bytes(b"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"value\":\"\xff\"},\"id\":1}\n");
    assert_eq!(error_code(&client.recv()), -32700);
    assert_eq!(client.call(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#)["result"], 3);
}

#[test]
fn garbage_lines_get_parse_errors_and_the_next_line_is_served() {
    let server = server();
    let mut client = server.client();
    client.send_bytes(b"\x00\x01garbage\xfe\n");
    assert_eq!(error_code(&client.recv()), -32700);
    client.send("not json at all");
    assert_eq!(error_code(&client.recv()), -32700);
    client.send("42");
    assert_eq!(error_code(&client.recv()), -32600);
    assert_eq!(client.call(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#)["result"], 3);
}

#[test]
fn deeply_nested_json_is_refused_not_fatal() {
    let server = server();
    let mut client = server.client();
    let depth = 10_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let reply = client.call(&format!(r#"{{"jsonrpc":"2.0","method":"echo","params":{{"value":{nested}}},"id":1}}"#));
    assert!(reply.get("error").is_some(), "{reply}");
    assert_eq!(client.call(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#)["result"], 3);
}

#[test]
fn replies_may_overtake_slower_calls() {
    let server = server();
    let mut client = server.client();
    client.send(r#"{"jsonrpc":"2.0","method":"sleep","params":{"ms":300},"id":"slow"}"#);
    client.send(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"fast"}"#);
    assert_eq!(client.recv()["id"], "fast");
    assert_eq!(client.recv()["id"], "slow");
}

#[test]
fn half_closed_client_still_gets_every_reply() {
    let server = server();
    let mut client = server.client();
    client.send(r#"{"jsonrpc":"2.0","method":"sleep","params":{"ms":50},"id":1}"#);
    client.send_bytes(br#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#);
    client.stream().shutdown(std::net::Shutdown::Write).unwrap();
    let mut ids: Vec<i64> = (0..2).map(|_| client.recv()["id"].as_i64().unwrap()).collect();
    ids.sort();
    assert_eq!(ids, vec![1, 2]);
    client.expect_closed();
}

#[test]
fn subscriptions_notify_on_the_same_connection_after_the_reply() {
    let server = server();
    let mut client = server.client();
    let reply = client.call(r#"{"jsonrpc":"2.0","method":"ticks","params":{"count":3},"id":1}"#);
    let sub = reply["result"].clone();
    assert!(sub.is_number() || sub.is_string(), "{reply}");
    for i in 0..3 {
        let note = client.recv();
        assert_eq!(note, json!({"jsonrpc":"2.0","method":"tick","params":{"subscription":sub,"result":i}}));
    }
    let reply = client.call(&format!(r#"{{"jsonrpc":"2.0","method":"unticks","params":[{sub}],"id":2}}"#));
    assert_eq!(reply["result"], true);
    support::wait_until("the subscription ends", || {
        server.observed.ticks_closed.load(std::sync::atomic::Ordering::SeqCst) == 1
    });
    client.expect_nothing_pending();
}

#[test]
fn a_subscription_inside_a_batch_is_answered_in_the_batch() {
    let server = server();
    let mut client = server.client();
    let reply = client.call(
        r#"[{"jsonrpc":"2.0","method":"ticks","params":{"count":2},"id":"s"},{"jsonrpc":"2.0","method":"add","params":[1,2],"id":"a"}]"#,
    );
    let replies = reply.as_array().unwrap();
    assert_eq!(replies[0]["id"], "s");
    assert_eq!(replies[1]["result"], 3);
    let sub = replies[0]["result"].clone();
    assert_eq!(client.recv()["params"], json!({"subscription":sub,"result":0}));
    assert_eq!(client.recv()["params"], json!({"subscription":sub,"result":1}));
}

#[test]
fn a_panicking_method_closes_only_its_connection() {
    let server = server();
    let mut other = server.client();
    let mut client = server.client();
    client.send(r#"{"jsonrpc":"2.0","method":"boom","id":1}"#);
    client.expect_closed();
    assert_eq!(other.call(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#)["result"], 3);
    let mut fresh = server.client();
    assert_eq!(fresh.call(r#"{"jsonrpc":"2.0","method":"add","params":[2,2],"id":3}"#)["result"], 4);
}

#[test]
fn a_client_that_leaves_mid_message_harms_nothing() {
    let server = server();
    for _ in 0..20 {
        let mut client = server.client();
        client.send_bytes(br#"{"jsonrpc":"2.0","method":"echo","params":{"value":"half"#);
        drop(client);
    }
    let mut client = server.client();
    assert_eq!(client.call(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#)["result"], 3);
    support::wait_until("abandoned connections are closed", || server.handle.connections() == 1);
}

#[test]
fn a_subscription_takes_effect_before_later_requests_run() {
    let server = server();
    for _ in 0..50 {
        let mut client = server.client();
        // Both in one write: the announcement must not overtake the subscription's set-up.
        client.send_bytes(
            b"{\"jsonrpc\":\"2.0\",\"method\":\"listen\",\"id\":1}\n{\"jsonrpc\":\"2.0\",\"method\":\"announce\",\"params\":{\"text\":\"hi\"},\"id\":2}\n",
        );
        let messages: Vec<serde_json::Value> = (0..3).map(|_| client.recv()).collect();
        assert_eq!(messages[0]["id"], 1, "the subscribe reply comes first: {messages:?}");
        assert!(messages.iter().any(|m| m["id"] == 2 && m["result"].as_u64() >= Some(1)), "{messages:?}");
        assert!(messages.iter().any(|m| m["method"] == "heard" && m["params"]["result"] == "hi"), "{messages:?}");
    }
}

#[test]
fn inside_a_batch_too_a_subscription_sees_the_entries_after_it() {
    let server = server();
    let mut client = server.client();
    let reply = client.call(concat!(
        r#"[{"jsonrpc":"2.0","method":"listen","id":"l"},"#,
        r#"{"jsonrpc":"2.0","method":"announce","params":{"text":"in batch"},"id":"a"}]"#
    ));
    let replies = reply.as_array().unwrap();
    assert_eq!(replies[0]["id"], "l");
    assert_eq!(replies[1]["result"], 1, "the listener was set up before the announcement: {reply}");
    assert_eq!(client.recv()["params"]["result"], "in batch");
}

#[test]
fn calls_of_a_batch_share_a_batch_that_is_sealed_once_all_have_started() {
    let server = server();
    let mut client = server.client();
    let probe = r#"{"jsonrpc":"2.0","method":"batch_probe","id":1}"#;
    assert_eq!(client.call(probe)["result"], Value::Null, "a call on its own has no batch");
    let reply = client
        .call(&format!("[{probe},{probe},{},{probe}]", r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":2}"#));
    let replies = reply.as_array().unwrap();
    let probes: Vec<&Value> = replies.iter().filter(|r| r["result"].is_object()).map(|r| &r["result"]).collect();
    assert_eq!(probes.len(), 3, "{reply}");
    for probe in &probes {
        assert_eq!(probe["id"], probes[0]["id"]);
        assert_eq!(probe["len"], 4);
        assert_eq!(probe["sealed_at_start"], false, "sealed before every entry had started: {reply}");
    }
    let again = client.call(&format!("[{probe},{probe}]"));
    assert_ne!(again[0]["result"]["id"], probes[0]["id"], "each batch is its own");
}
