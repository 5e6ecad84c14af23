//! A blocking client that speaks raw lines, to test exactly what goes over the wire, and waiting
//! on conditions with a deadline. Shared by the tests of both packages (the root package includes
//! this file by path).
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

/// Longest any single wait may take before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// How often a condition is checked while waiting for it.
pub const POLL: Duration = Duration::from_millis(5);

/// Checks `condition` every [`POLL`] until it holds; fails the test at the deadline.
pub fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting until {what}");
        std::thread::sleep(POLL);
    }
}

/// A blocking line client.
pub struct RawClient {
    pub reader: BufReader<UnixStream>,
}

impl RawClient {
    pub fn connect(path: &Path) -> Self {
        let stream = UnixStream::connect(path).unwrap_or_else(|e| panic!("connect to {}: {e}", path.display()));
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        Self { reader: BufReader::new(stream) }
    }

    pub fn stream(&self) -> &UnixStream {
        self.reader.get_ref()
    }

    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).unwrap();
    }

    /// Sends `text` followed by a newline.
    pub fn send(&mut self, text: &str) {
        self.send_bytes(format!("{text}\n").as_bytes());
    }

    /// The next line (without its newline); fails the test at the deadline or if the connection
    /// closes first.
    pub fn recv_line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("a reply before the deadline");
        assert!(n > 0, "connection closed while a reply was expected");
        assert!(line.ends_with('\n'), "every message ends in a newline: {line:?}");
        line.pop();
        line
    }

    /// The next message, parsed.
    pub fn recv(&mut self) -> Value {
        let line = self.recv_line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("reply is JSON ({e}): {line}"))
    }

    pub fn call(&mut self, text: &str) -> Value {
        self.send(text);
        self.recv()
    }

    /// Asserts the other side closes the connection (after any lines already sent).
    pub fn expect_closed(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => panic!("expected the connection to be closed, got {e}"),
        }
    }
}
