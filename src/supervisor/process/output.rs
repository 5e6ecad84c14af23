//! The agent's combined stdout and stderr, written to a log file that a runaway agent cannot
//! grow without bound.
//!
//! The first `head_bytes` go to the file as they arrive, so the log can be read (and followed)
//! while the task runs. Past that, only the last `tail_bytes` are kept in memory; when the output
//! ends they are appended after a marker line that says how much was dropped:
//!
//! ```text
//! <the first head_bytes bytes of output>
//! [steward: output truncated here; N bytes dropped; the last 1 MiB follows]
//! <the last tail_bytes bytes of output>
//! ```
//!
//! A newline is inserted before the marker only when the head does not end with one. When the
//! output fits in `head_bytes + tail_bytes` nothing is dropped and the file is the output,
//! byte for byte. If the daemon dies mid-task the file holds the head only.

use std::collections::VecDeque;
use std::io::{self, Write};

use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

/// How many lines of the end of the output a failure message quotes, at most.
const LAST_LINES: usize = 20;
/// How many bytes those lines may take, at most.
const LAST_LINES_BYTES: usize = 4 * 1024;
/// One read from the pipe.
const READ_CHUNK: usize = 64 * 1024;
/// Reads still attempted once told to stop, so that what is already in the pipe is kept
/// without chasing a writer that never stops.
const FINAL_READS: usize = 16;

/// How much of an agent's output is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Bytes written to the log as they come (default 8 MiB).
    pub head_bytes: u64,
    /// Bytes from the end of the output appended when the task ends (default 1 MiB).
    pub tail_bytes: u64,
}

impl Default for OutputLimits {
    fn default() -> Self {
        OutputLimits { head_bytes: 8 * MIB, tail_bytes: MIB }
    }
}

/// What the agent wrote, in numbers, and how it ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutputSummary {
    /// Every byte the agent (and its children) wrote to stdout and stderr.
    pub total_bytes: u64,
    /// Whether bytes were dropped between the head and the tail.
    pub truncated: bool,
    /// The last lines of output (at most 20 lines and 4 KiB), for a failure message. Invalid
    /// UTF-8 is replaced; a final newline is removed.
    pub last_lines: String,
    /// Writing the log failed (e.g. the disk is full); the output was still read to the end so
    /// that the agent never blocks, and counted, but the file is incomplete.
    pub log_error: Option<String>,
}

/// The marker line between head and tail, without its newline.
pub fn truncation_marker(dropped_bytes: u64, tail_bytes: u64) -> String {
    if tail_bytes == 0 {
        return format!("[steward: output truncated here; {dropped_bytes} bytes dropped]");
    }
    let tail = if tail_bytes.is_multiple_of(MIB) {
        format!("{} MiB follows", tail_bytes / MIB)
    } else if tail_bytes.is_multiple_of(KIB) {
        format!("{} KiB follow", tail_bytes / KIB)
    } else {
        format!("{tail_bytes} bytes follow")
    };
    format!("[steward: output truncated here; {dropped_bytes} bytes dropped; the last {tail}]")
}

/// The log being written: the head straight to `out`, the tail and the last lines in memory.
pub struct BoundedLog<W: Write> {
    out: W,
    head_limit: u64,
    head_written: u64,
    head_ends_with_newline: bool,
    total: u64,
    tail: Ring,
    recent: Ring,
    error: Option<io::Error>,
}

impl<W: Write> BoundedLog<W> {
    pub fn new(out: W, limits: OutputLimits) -> Self {
        BoundedLog {
            out,
            head_limit: limits.head_bytes,
            head_written: 0,
            head_ends_with_newline: true,
            total: 0,
            tail: Ring::new(usize::try_from(limits.tail_bytes).unwrap_or(usize::MAX)),
            recent: Ring::new(LAST_LINES_BYTES),
            error: None,
        }
    }

    /// Takes the next bytes of output.
    pub fn write(&mut self, chunk: &[u8]) {
        self.total += chunk.len() as u64;
        self.recent.push(chunk);
        let head_room = usize::try_from(self.head_limit - self.head_written).unwrap_or(usize::MAX);
        let (head, rest) = chunk.split_at(head_room.min(chunk.len()));
        if !head.is_empty() {
            self.head_written += head.len() as u64;
            self.head_ends_with_newline = head.ends_with(b"\n");
            self.write_out(head);
        }
        self.tail.push(rest);
    }

    /// Notes a failure to read the output; the summary reports it.
    pub fn note_error(&mut self, err: io::Error) {
        self.error.get_or_insert(err);
    }

    /// Appends the marker and the tail (if the head overflowed) and summarises.
    pub fn finish(mut self) -> OutputSummary {
        let beyond_head = self.total - self.head_written;
        let tail = self.tail.contiguous().to_vec();
        let dropped = beyond_head - tail.len() as u64;
        if dropped > 0 {
            let separator = if self.head_ends_with_newline { "" } else { "\n" };
            let marker = format!("{separator}{}\n", truncation_marker(dropped, self.tail.capacity as u64));
            self.write_out(marker.as_bytes());
        }
        self.write_out(&tail);
        if self.error.is_none()
            && let Err(err) = self.out.flush()
        {
            self.error = Some(err);
        }
        OutputSummary {
            total_bytes: self.total,
            truncated: dropped > 0,
            last_lines: last_lines(self.recent.contiguous(), self.total > LAST_LINES_BYTES as u64),
            log_error: self.error.map(|err| err.to_string()),
        }
    }

    fn write_out(&mut self, bytes: &[u8]) {
        // After the first failure the file is known to be incomplete; stop touching it.
        if self.error.is_none()
            && let Err(err) = self.out.write_all(bytes)
        {
            self.error = Some(err);
        }
    }
}

/// The last [`LAST_LINES`] lines of `window`, the end of the output. When the window does not
/// start at the start of the output (`cut`), its first, partial line is left out unless it is
/// the only one.
fn last_lines(window: &[u8], cut: bool) -> String {
    let mut text = window.strip_suffix(b"\n").unwrap_or(window);
    if cut && let Some(newline) = text.iter().position(|&b| b == b'\n') {
        text = &text[newline + 1..];
    }
    let mut start = 0;
    let mut newlines = 0;
    for (i, &byte) in text.iter().enumerate().rev() {
        if byte == b'\n' {
            newlines += 1;
            if newlines == LAST_LINES {
                start = i + 1;
                break;
            }
        }
    }
    String::from_utf8_lossy(&text[start..]).into_owned()
}

/// The last `capacity` bytes pushed.
struct Ring {
    capacity: usize,
    bytes: VecDeque<u8>,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        Ring { capacity, bytes: VecDeque::new() }
    }

    fn push(&mut self, chunk: &[u8]) {
        if chunk.len() >= self.capacity {
            self.bytes.clear();
            self.bytes.extend(&chunk[chunk.len() - self.capacity..]);
        } else {
            let excess = (self.bytes.len() + chunk.len()).saturating_sub(self.capacity);
            self.bytes.drain(..excess);
            self.bytes.extend(chunk);
        }
    }

    fn contiguous(&mut self) -> &[u8] {
        self.bytes.make_contiguous()
    }
}

/// Reads the agent's output until the end of the pipe (every writer has closed it) or until
/// `stop` fires, and writes the log.
///
/// The file is written synchronously from the task: writes go to the page cache in chunks of at
/// most 64 KiB, which is cheaper than handing each one to the blocking pool.
pub(super) async fn capture<W: Write>(
    mut pipe: pipe::Receiver,
    mut log: BoundedLog<W>,
    mut stop: oneshot::Receiver<()>,
) -> OutputSummary {
    let mut buf = vec![0u8; READ_CHUNK];
    loop {
        tokio::select! {
            biased;
            read = pipe.read(&mut buf) => match read {
                Ok(0) => return log.finish(),
                Ok(n) => log.write(&buf[..n]),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    log.note_error(err);
                    return log.finish();
                }
            },
            _ = &mut stop => break,
        }
    }
    for _ in 0..FINAL_READS {
        match pipe.try_read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => log.write(&buf[..n]),
        }
    }
    log.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(head_bytes: u64, tail_bytes: u64) -> OutputLimits {
        OutputLimits { head_bytes, tail_bytes }
    }

    /// Feeds `output` in chunks of `chunk` bytes; returns the file and the summary.
    fn run(output: &[u8], limits: OutputLimits, chunk: usize) -> (Vec<u8>, OutputSummary) {
        let mut file = Vec::new();
        let mut log = BoundedLog::new(&mut file, limits);
        for piece in output.chunks(chunk.max(1)) {
            log.write(piece);
        }
        let summary = log.finish();
        (file, summary)
    }

    fn numbered_lines(count: usize) -> Vec<u8> {
        (1..=count).map(|i| format!("line {i}\n")).collect::<String>().into_bytes()
    }

    #[test]
    fn output_within_the_head_is_the_file() {
        let output = numbered_lines(10);
        for chunk in [1, 7, 1000] {
            let (file, summary) = run(&output, limits(1000, 100), chunk);
            assert_eq!(file, output);
            assert_eq!(summary.total_bytes, output.len() as u64);
            assert!(!summary.truncated);
            assert_eq!(summary.log_error, None);
        }
    }

    #[test]
    fn output_within_head_and_tail_is_the_file_without_a_marker() {
        let output = numbered_lines(30);
        for chunk in [1, 13, 4096] {
            let (file, summary) = run(&output, limits(100, output.len() as u64 - 100), chunk);
            assert_eq!(file, output, "chunk {chunk}");
            assert!(!summary.truncated);
        }
    }

    #[test]
    fn overflowing_output_keeps_head_marker_and_tail() {
        let output = numbered_lines(1000);
        for chunk in [1, 3, 64, 250, 100_000] {
            let (file, summary) = run(&output, limits(100, 50), chunk);
            let dropped = output.len() - 150;
            let mut expected = output[..100].to_vec();
            // "line 1\n" ... the head ends mid-line, so the marker starts on its own line.
            assert_ne!(expected.last(), Some(&b'\n'));
            expected.extend_from_slice(
                format!("\n[steward: output truncated here; {dropped} bytes dropped; the last 50 bytes follow]\n")
                    .as_bytes(),
            );
            expected.extend_from_slice(&output[output.len() - 50..]);
            assert_eq!(String::from_utf8_lossy(&file), String::from_utf8_lossy(&expected), "chunk {chunk}");
            assert_eq!(summary.total_bytes, output.len() as u64);
            assert!(summary.truncated);
        }
    }

    #[test]
    fn a_head_ending_in_a_newline_gets_no_extra_one() {
        let output = b"aaaa\nbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\ncc\n".to_vec();
        let (file, _) = run(&output, limits(5, 3), 4);
        let dropped = output.len() - 8;
        let expected =
            format!("aaaa\n[steward: output truncated here; {dropped} bytes dropped; the last 3 bytes follow]\ncc\n");
        assert_eq!(String::from_utf8(file).unwrap(), expected);
    }

    #[test]
    fn no_tail_means_a_marker_only() {
        let (file, summary) = run(b"0123456789", limits(4, 0), 3);
        assert_eq!(String::from_utf8(file).unwrap(), "0123\n[steward: output truncated here; 6 bytes dropped]\n");
        assert!(summary.truncated);
    }

    #[test]
    fn the_marker_names_the_tail_in_the_largest_exact_unit() {
        assert_eq!(
            truncation_marker(5, MIB),
            "[steward: output truncated here; 5 bytes dropped; the last 1 MiB follows]"
        );
        assert_eq!(
            truncation_marker(5, 3 * KIB),
            "[steward: output truncated here; 5 bytes dropped; the last 3 KiB follow]"
        );
        assert_eq!(
            truncation_marker(5, 1000),
            "[steward: output truncated here; 5 bytes dropped; the last 1000 bytes follow]"
        );
    }

    #[test]
    fn last_lines_are_the_last_twenty() {
        let (_, summary) = run(&numbered_lines(100), limits(50, 50), 9);
        let expected: Vec<String> = (81..=100).map(|i| format!("line {i}")).collect();
        assert_eq!(summary.last_lines, expected.join("\n"));
    }

    #[test]
    fn last_lines_keep_a_partial_last_line() {
        let (_, summary) = run(b"one\ntwo\nthree", limits(1000, 10), 2);
        assert_eq!(summary.last_lines, "one\ntwo\nthree");
        let (_, summary) = run(b"", limits(1000, 10), 2);
        assert_eq!(summary.last_lines, "");
    }

    #[test]
    fn last_lines_stay_within_four_kib_and_start_on_a_line() {
        let long_line = "x".repeat(3000);
        let output = format!("{long_line}\n{long_line}\nend\n");
        let (_, summary) = run(output.as_bytes(), limits(100, 100), 512);
        assert_eq!(summary.last_lines, format!("{long_line}\nend"));

        let huge_line = "y".repeat(10_000);
        let (_, summary) = run(huge_line.as_bytes(), limits(100, 100), 512);
        assert_eq!(summary.last_lines, "y".repeat(LAST_LINES_BYTES));
    }

    #[test]
    fn last_lines_replace_invalid_utf8() {
        let (_, summary) = run(b"ok\n\xff\xfe bad\n", limits(100, 100), 3);
        assert_eq!(summary.last_lines, "ok\n\u{fffd}\u{fffd} bad");
    }

    struct FailingWriter {
        accepted: usize,
        limit: usize,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.accepted >= self.limit {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.limit - self.accepted);
            self.accepted += n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failing_log_is_reported_and_the_output_still_counted() {
        let mut log = BoundedLog::new(FailingWriter { accepted: 0, limit: 10 }, limits(100, 10));
        for _ in 0..50 {
            log.write(b"0123456789");
        }
        let summary = log.finish();
        assert_eq!(summary.total_bytes, 500);
        assert!(summary.truncated);
        assert_eq!(summary.log_error.as_deref(), Some("disk full"));
    }
}
