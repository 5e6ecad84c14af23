//! Replays the examples of `docs/protocol.md` against a real daemon, so the reference cannot drift
//! from what the binary does.
//!
//! Every fenced block whose info string is `jsonrpc` (and not `jsonrpc no-replay`) is one
//! conversation on one fresh daemon and one connection. A `-->` line is sent as it is written;
//! the `<--` lines right after it are what must arrive next. They may arrive in any order within
//! that run (replies of different requests are paired by id, not by position), and a JSON string
//! `"…"` in them matches any value. A `-->` with no `<--` after it must get no reply at all: a
//! marker request is sent and its reply must be the next message. Each conversation also ends with
//! a marker, so a reply nobody expected fails the block.

mod harness;

use std::io::BufRead;
use std::time::Duration;

use harness::TestProject;
use serde_json::Value;

/// The document under test.
const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/protocol.md");

/// Fewer replayed blocks than this means the document lost its examples, not that they passed.
const MIN_BLOCKS: usize = 28;

/// The wildcard of expected replies.
const ANY: &str = "…";

/// How long one expected message may take to arrive.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// One `-->` line and the `<--` lines after it.
struct Exchange {
    line: usize,
    send: String,
    expect: Vec<(usize, Value)>,
}

/// One replayed block.
struct Block {
    line: usize,
    exchanges: Vec<Exchange>,
}

/// The replayed blocks of the document, and how many blocks were marked `no-replay`.
fn parse(doc: &str) -> Result<(Vec<Block>, usize), String> {
    let mut blocks = Vec::new();
    let mut skipped = 0;
    let mut current: Option<(Block, bool)> = None;
    let mut in_other_fence = false;
    for (index, text) in doc.lines().enumerate() {
        let line = index + 1;
        let trimmed = text.trim_start();
        if let Some((block, replay)) = current.as_mut() {
            if trimmed.starts_with("```") {
                let (block, replay) = current.take().expect("inside a block");
                if replay {
                    if block.exchanges.is_empty() {
                        return Err(format!("{DOC}:{}: a jsonrpc block with nothing to send", block.line));
                    }
                    blocks.push(block);
                } else {
                    skipped += 1;
                }
            } else if let Some(send) = text.strip_prefix("-->") {
                block.exchanges.push(Exchange { line, send: send.trim().to_owned(), expect: Vec::new() });
            } else if let Some(reply) = text.strip_prefix("<--") {
                if !*replay {
                    continue;
                }
                let value: Value = serde_json::from_str(reply.trim())
                    .map_err(|e| format!("{DOC}:{line}: an expected reply is not JSON ({e}): {reply}"))?;
                let exchange = block
                    .exchanges
                    .last_mut()
                    .ok_or_else(|| format!("{DOC}:{line}: a `<--` line before any `-->` line"))?;
                exchange.expect.push((line, value));
            } else if *replay && !text.trim().is_empty() {
                return Err(format!("{DOC}:{line}: a jsonrpc block holds only `-->` and `<--` lines: {text}"));
            }
        } else if let Some(info) = trimmed.strip_prefix("```") {
            let mut words = info.split_whitespace();
            if !in_other_fence && words.next() == Some("jsonrpc") {
                let replay = !words.any(|word| word == "no-replay");
                current = Some((Block { line, exchanges: Vec::new() }, replay));
            } else {
                in_other_fence = !in_other_fence;
            }
        }
    }
    if let Some((block, _)) = current {
        return Err(format!("{DOC}:{}: a jsonrpc block is never closed", block.line));
    }
    Ok((blocks, skipped))
}

/// Where `actual` departs from `expected` (a JSON pointer and why), or `None` when it matches;
/// `"…"` in `expected` matches any value.
fn mismatch(expected: &Value, actual: &Value, path: &str) -> Option<String> {
    match (expected, actual) {
        (Value::String(any), _) if any == ANY => None,
        (Value::Object(want), Value::Object(got)) => {
            let mut want_keys: Vec<&String> = want.keys().collect();
            let mut got_keys: Vec<&String> = got.keys().collect();
            want_keys.sort();
            got_keys.sort();
            if want_keys != got_keys {
                return Some(format!("{path}: keys {want_keys:?} expected, got {got_keys:?}"));
            }
            want.iter().find_map(|(key, value)| mismatch(value, &got[key], &format!("{path}/{key}")))
        }
        (Value::Array(want), Value::Array(got)) => {
            if want.len() != got.len() {
                return Some(format!("{path}: {} elements expected, got {}", want.len(), got.len()));
            }
            want.iter().zip(got).enumerate().find_map(|(i, (w, g))| mismatch(w, g, &format!("{path}/{i}")))
        }
        _ if expected == actual => None,
        _ => Some(format!("{path}: {expected} expected, got {actual}")),
    }
}

/// One conversation with a fresh daemon.
struct Conversation {
    client: harness::RawClient,
    markers: usize,
}

impl Conversation {
    fn send(&mut self, line: &str) {
        self.client.send(line);
    }

    fn recv(&mut self) -> Result<Value, String> {
        let mut line = String::new();
        match self.client.reader.read_line(&mut line) {
            Ok(0) => Err("the daemon closed the connection".to_owned()),
            Ok(_) if !line.ends_with('\n') => Err(format!("a message without its final newline: {line:?}")),
            Ok(_) => serde_json::from_str(&line).map_err(|e| format!("a message that is not JSON ({e}): {line}")),
            Err(e) => Err(format!("nothing arrived within {REPLY_TIMEOUT:?} ({e})")),
        }
    }

    /// Proves that nothing was sent since the last expected message: the next one is the marker's.
    fn expect_silence(&mut self) -> Result<(), String> {
        self.markers += 1;
        let id = format!("protocol-doc-marker-{}", self.markers);
        self.send(&format!(r#"{{"jsonrpc":"2.0","method":"daemon.ping","id":"{id}"}}"#));
        let got = self.recv()?;
        if got["id"] == id.as_str() && got["result"]["pong"] == true {
            Ok(())
        } else {
            Err(format!("expected no reply, got {got}"))
        }
    }
}

/// Starts the daemon with a `PATH` that holds no program at all, so the default agent (`claude`)
/// is never found, even on a machine where it is installed: a task fails at once, always the same
/// way, and no real agent runs during the test. The document says so.
fn start_without_agents(project: &TestProject) -> Result<(), String> {
    let mut command = project.command(&["daemon", "start", "--json"]);
    command.env("PATH", project.path(".no-programs-here"));
    let output = harness::run_with_deadline(command);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let started: Value = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    if started["started"] == true {
        Ok(())
    } else {
        Err(format!("the daemon did not start: {stdout} {}", String::from_utf8_lossy(&output.stderr)))
    }
}

fn replay(block: &Block) -> Result<(), String> {
    let project = TestProject::new();
    start_without_agents(&project)?;
    let client = project.client();
    client.stream().set_read_timeout(Some(REPLY_TIMEOUT)).map_err(|e| e.to_string())?;
    let mut conversation = Conversation { client, markers: 0 };
    for exchange in &block.exchanges {
        let at = |line: usize| format!("{DOC}:{line}");
        conversation.send(&exchange.send);
        if exchange.expect.is_empty() {
            conversation
                .expect_silence()
                .map_err(|e| format!("{}: after `{}`: {e}", at(exchange.line), exchange.send))?;
            continue;
        }
        let mut pending: Vec<&(usize, Value)> = exchange.expect.iter().collect();
        while !pending.is_empty() {
            let got = conversation.recv().map_err(|e| format!("{}: waiting for this reply: {e}", at(pending[0].0)))?;
            match pending.iter().position(|(_, want)| mismatch(want, &got, "").is_none()) {
                Some(found) => {
                    pending.remove(found);
                }
                None => {
                    let (line, want) = pending[0];
                    let why = mismatch(want, &got, "").unwrap_or_default();
                    return Err(format!(
                        "{}: received {got}\n  which matches none of the replies still expected; against this one: {why}",
                        at(*line)
                    ));
                }
            }
        }
    }
    conversation.expect_silence().map_err(|e| format!("{DOC}:{}: at the end of the block: {e}", block.line))
}

#[test]
fn every_example_of_the_protocol_reference_replays() {
    let doc = std::fs::read_to_string(DOC).unwrap_or_else(|e| panic!("reading {DOC}: {e}"));
    let (blocks, skipped) = parse(&doc).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        blocks.len() >= MIN_BLOCKS,
        "{DOC} has {} replayable jsonrpc blocks ({skipped} marked no-replay); at least {MIN_BLOCKS} expected",
        blocks.len()
    );
    let failures: Vec<String> = blocks
        .iter()
        .filter_map(|block| replay(block).err().map(|e| format!("block at {DOC}:{}:\n  {e}", block.line)))
        .collect();
    assert!(failures.is_empty(), "{} of {} blocks failed:\n\n{}", failures.len(), blocks.len(), failures.join("\n\n"));
}

#[test]
fn the_wildcard_and_the_parser_behave() {
    let want: Value = serde_json::from_str(r#"{"a":"…","b":[1,"…"],"c":{"d":"…"}}"#).unwrap();
    assert_eq!(mismatch(&want, &serde_json::json!({"a":{"x":1},"b":[1,null],"c":{"d":"e"}}), ""), None);
    assert!(mismatch(&want, &serde_json::json!({"a":1,"b":[1,2],"c":{"d":1,"e":2}}), "").is_some());
    assert!(mismatch(&want, &serde_json::json!({"a":1,"b":[1],"c":{"d":1}}), "").is_some());
    assert!(mismatch(&want, &serde_json::json!({"a":1,"b":[2,2],"c":{"d":1}}), "").is_some());
    let doc = "text\n```jsonrpc\n--> {\"x\":1}\n<-- {\"y\":\"…\"}\n--> {\"z\":2}\n```\n\
               ```jsonrpc no-replay\n--> stop\n<-- not json\n```\n```text\n```jsonrpc\n```\n";
    let (blocks, skipped) = parse(doc).unwrap();
    assert_eq!((blocks.len(), skipped), (1, 1));
    assert_eq!(blocks[0].line, 2);
    assert_eq!(blocks[0].exchanges.len(), 2);
    assert_eq!(blocks[0].exchanges[0].expect.len(), 1);
    assert!(blocks[0].exchanges[1].expect.is_empty());
    assert!(parse("```jsonrpc\n<-- {}\n```\n").is_err());
    assert!(parse("```jsonrpc\n--> {}\nstray\n```\n").is_err());
}
