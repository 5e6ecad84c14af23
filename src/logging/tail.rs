//! Reading the daemon log for `steward daemon logs [-f] [-n N]`.
//!
//! This runs in the client and reads the files directly, so it works whether or not the daemon
//! runs. The log can be 50 MB, so the last lines are found by reading backwards in blocks.
//! Following polls the file: the writer renames the file away when it rotates, so the follower
//! finishes the old file through its open handle, then continues with the new file from its
//! start. `Follower::poll` is one non-blocking step, which lets tests drive it without timing.

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::rotate::numbered;

/// How far back each read goes when looking for the last lines.
const BLOCK: u64 = 64 * 1024;
/// At most this much is read per poll, so following a huge file from its start streams it.
const POLL_READ_LIMIT: u64 = 1024 * 1024;
/// How often [`Follower::wait_lines`] looks for new lines.
pub const POLL_INTERVAL: Duration = Duration::from_millis(150);

/// The last `n` lines of the log at `path`, oldest first, continuing into the newest rotated
/// file (`path.1`) when the current one holds fewer. A missing file has no lines.
pub fn last_lines(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let lines = match open_if_exists(path)? {
        Some(file) => {
            let end = file.metadata().map_err(|e| with_path(path, e))?.len();
            read_tail(&file, end, n, BLOCK).map_err(|e| with_path(path, e))?
        }
        None => Vec::new(),
    };
    prepend_rotated(path, lines, n)
}

/// The last `n` lines, then a follower that continues exactly where they end: no line is lost
/// or repeated between the two, even while the daemon writes.
pub fn last_lines_then_follow(path: &Path, n: usize) -> io::Result<(Vec<String>, Follower)> {
    let follower = follow(path, true);
    let lines = match &follower.current {
        Some(open) => read_tail(&open.file, open.pos, n, BLOCK).map_err(|e| with_path(path, e))?,
        None => Vec::new(),
    };
    Ok((prepend_rotated(path, lines, n)?, follower))
}

/// Starts following `path`: from its current end when `from_end`, else from its start. A
/// missing file is waited for.
pub fn follow(path: &Path, from_end: bool) -> Follower {
    let mut follower =
        Follower { path: path.to_path_buf(), current: None, partial: Vec::new(), poll_interval: POLL_INTERVAL };
    // Errors other than absence surface at the first poll, which opens again.
    if let Ok(Some(mut open)) = OpenLog::open(path) {
        if from_end {
            open.pos = open.file.metadata().map(|m| m.len()).unwrap_or(0);
        }
        follower.current = Some(open);
    }
    follower
}

/// Yields the lines appended to a log file, across rotations and truncations.
#[derive(Debug)]
pub struct Follower {
    path: PathBuf,
    current: Option<OpenLog>,
    /// Bytes of a line whose newline has not been written yet.
    partial: Vec<u8>,
    poll_interval: Duration,
}

impl Follower {
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Blocks until at least one new complete line exists, and returns all that do.
    pub fn wait_lines(&mut self) -> io::Result<Vec<String>> {
        loop {
            let lines = self.poll()?;
            if !lines.is_empty() {
                return Ok(lines);
            }
            thread::sleep(self.poll_interval);
        }
    }

    /// Returns the complete lines appended since the last call, without waiting.
    pub fn poll(&mut self) -> io::Result<Vec<String>> {
        let on_disk = match fs::metadata(&self.path) {
            Ok(meta) => Some(FileId::of(&meta)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(with_path(&self.path, e)),
        };
        let mut lines = Vec::new();
        if let Some(open) = &mut self.current {
            let replaced = on_disk != Some(open.id);
            if !replaced {
                let len = open.file.metadata().map_err(|e| with_path(&self.path, e))?.len();
                if len < open.pos {
                    open.pos = 0;
                    self.partial.clear();
                }
            }
            let at_end = open.read_new(&mut self.partial, &mut lines).map_err(|e| with_path(&self.path, e))?;
            if replaced && at_end {
                // Nothing more will be appended to a rotated file: its unterminated last line
                // is complete.
                if !self.partial.is_empty() {
                    lines.push(String::from_utf8_lossy(&self.partial).into_owned());
                    self.partial.clear();
                }
                self.current = None;
            } else if replaced {
                return Ok(lines);
            }
        }
        if self.current.is_none()
            && on_disk.is_some()
            && let Some(mut open) = OpenLog::open(&self.path)?
        {
            open.read_new(&mut self.partial, &mut lines).map_err(|e| with_path(&self.path, e))?;
            self.current = Some(open);
        }
        Ok(lines)
    }
}

/// Which file a path names; it changes when the log is rotated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    fn of(meta: &fs::Metadata) -> Self {
        Self { dev: meta.dev(), ino: meta.ino() }
    }
}

#[derive(Debug)]
struct OpenLog {
    file: File,
    id: FileId,
    pos: u64,
}

impl OpenLog {
    fn open(path: &Path) -> io::Result<Option<Self>> {
        let Some(file) = open_if_exists(path)? else {
            return Ok(None);
        };
        let id = FileId::of(&file.metadata().map_err(|e| with_path(path, e))?);
        Ok(Some(Self { file, id, pos: 0 }))
    }

    /// Reads what was appended since `pos` (up to a limit), moving complete lines to `lines`.
    /// Returns whether the end of the file was reached.
    fn read_new(&mut self, partial: &mut Vec<u8>, lines: &mut Vec<String>) -> io::Result<bool> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut read_total = 0u64;
        loop {
            if read_total >= POLL_READ_LIMIT {
                return Ok(false);
            }
            let n = self.file.read_at(&mut buf, self.pos)?;
            if n == 0 {
                return Ok(true);
            }
            self.pos += n as u64;
            read_total += n as u64;
            partial.extend_from_slice(&buf[..n]);
            take_lines(partial, lines);
        }
    }
}

/// Moves every newline-terminated line from `partial` to `lines`.
fn take_lines(partial: &mut Vec<u8>, lines: &mut Vec<String>) {
    let Some(last_newline) = partial.iter().rposition(|&b| b == b'\n') else {
        return;
    };
    let rest = partial.split_off(last_newline + 1);
    lines.extend(partial[..last_newline].split(|&b| b == b'\n').map(|line| String::from_utf8_lossy(line).into_owned()));
    *partial = rest;
}

/// The last `n` lines of `file[..end]`, reading backwards `block` bytes at a time.
fn read_tail(file: &File, end: u64, n: usize, block: u64) -> io::Result<Vec<String>> {
    if n == 0 || end == 0 {
        return Ok(Vec::new());
    }
    let mut last = [0u8; 1];
    file.read_exact_at(&mut last, end - 1)?;
    // The final newline ends the last line rather than separating it from another.
    let trailing = usize::from(last[0] == b'\n');
    let mut data: Vec<u8> = Vec::new();
    let mut start = end;
    let mut newlines = 0;
    // `n` separators guarantee `n` whole lines after the first, possibly partial, segment.
    while start > 0 && newlines < n + trailing {
        let block_start = start.saturating_sub(block);
        let mut chunk = vec![0u8; (start - block_start) as usize];
        file.read_exact_at(&mut chunk, block_start)?;
        newlines += chunk.iter().filter(|&&b| b == b'\n').count();
        chunk.extend_from_slice(&data);
        data = chunk;
        start = block_start;
    }
    let content = &data[..data.len() - trailing];
    let segments: Vec<&[u8]> = content.split(|&b| b == b'\n').collect();
    let skip = segments.len().saturating_sub(n);
    Ok(segments[skip..].iter().map(|line| String::from_utf8_lossy(line).into_owned()).collect())
}

/// Completes `lines` (the tail of the current file) with the end of `path.1`.
fn prepend_rotated(path: &Path, lines: Vec<String>, n: usize) -> io::Result<Vec<String>> {
    if lines.len() >= n {
        return Ok(lines);
    }
    let rotated = numbered(path, 1);
    let Some(file) = open_if_exists(&rotated)? else {
        return Ok(lines);
    };
    let end = file.metadata().map_err(|e| with_path(&rotated, e))?.len();
    let mut older = read_tail(&file, end, n - lines.len(), BLOCK).map_err(|e| with_path(&rotated, e))?;
    older.extend(lines);
    Ok(older)
}

fn open_if_exists(path: &Path) -> io::Result<Option<File>> {
    match File::open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(with_path(path, e)),
    }
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::rotate::SizeRotatingFile;
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::sync::mpsc;
    use std::time::Instant;

    fn append(path: &Path, text: &str) {
        let mut file = OpenOptions::new().append(true).create(true).open(path).unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn numbered_lines(range: std::ops::Range<usize>) -> Vec<String> {
        range.map(|i| format!("line {i}")).collect()
    }

    #[test]
    fn last_lines_of_missing_and_tiny_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        assert!(last_lines(&path, 10).unwrap().is_empty());
        fs::write(&path, "").unwrap();
        assert!(last_lines(&path, 10).unwrap().is_empty());
        fs::write(&path, "\n").unwrap();
        assert_eq!(last_lines(&path, 10).unwrap(), [""]);
        fs::write(&path, "a\nb\nc").unwrap();
        assert_eq!(last_lines(&path, 2).unwrap(), ["b", "c"]);
        assert_eq!(last_lines(&path, 10).unwrap(), ["a", "b", "c"]);
        assert!(last_lines(&path, 0).unwrap().is_empty());
    }

    #[test]
    fn read_tail_matches_a_full_read_at_every_block_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let text: String = (0..300).map(|i| format!("line {i} {}\n", "x".repeat(i % 13))).collect();
        fs::write(&path, &text).unwrap();
        let all: Vec<&str> = text.lines().collect();
        let file = File::open(&path).unwrap();
        let end = text.len() as u64;
        for block in [1, 2, 7, 64, 4096] {
            for n in [1, 2, 5, 299, 300, 301] {
                let expected = &all[all.len().saturating_sub(n)..];
                assert_eq!(read_tail(&file, end, n, block).unwrap(), expected, "{block} {n}");
            }
        }
    }

    #[test]
    fn last_lines_continue_into_the_rotated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        fs::write(numbered(&path, 2), "too old\n").unwrap();
        fs::write(numbered(&path, 1), "line 0\nline 1\nline 2\n").unwrap();
        fs::write(&path, "line 3\nline 4\n").unwrap();
        assert_eq!(last_lines(&path, 2).unwrap(), numbered_lines(3..5));
        assert_eq!(last_lines(&path, 4).unwrap(), numbered_lines(1..5));
        assert_eq!(last_lines(&path, 50).unwrap(), numbered_lines(0..5));
        fs::remove_file(&path).unwrap();
        assert_eq!(last_lines(&path, 2).unwrap(), numbered_lines(1..3));
    }

    #[test]
    fn follow_from_end_yields_only_complete_new_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        fs::write(&path, "old\n").unwrap();
        let mut follower = follow(&path, true);
        assert!(follower.poll().unwrap().is_empty());
        append(&path, "a\nb");
        assert_eq!(follower.poll().unwrap(), ["a"]);
        append(&path, "\n");
        assert_eq!(follower.poll().unwrap(), ["b"]);

        let mut from_start = follow(&path, false);
        assert_eq!(from_start.poll().unwrap(), ["old", "a", "b"]);
    }

    #[test]
    fn follow_waits_for_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut follower = follow(&path, true);
        assert!(follower.poll().unwrap().is_empty());
        fs::write(&path, "first\n").unwrap();
        assert_eq!(follower.poll().unwrap(), ["first"]);
    }

    #[test]
    fn follow_finishes_a_rotated_file_then_reads_the_new_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        fs::write(&path, "1\n").unwrap();
        let mut follower = follow(&path, false);
        assert_eq!(follower.poll().unwrap(), ["1"]);
        append(&path, "2\n3");
        fs::rename(&path, numbered(&path, 1)).unwrap();
        assert_eq!(follower.poll().unwrap(), ["2", "3"]);
        fs::write(&path, "4\n").unwrap();
        assert_eq!(follower.poll().unwrap(), ["4"]);
    }

    #[test]
    fn follow_restarts_after_truncation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        fs::write(&path, "aaaa\nbbbb\n").unwrap();
        let mut follower = follow(&path, false);
        assert_eq!(follower.poll().unwrap(), ["aaaa", "bbbb"]);
        fs::write(&path, "c\n").unwrap();
        assert_eq!(follower.poll().unwrap(), ["c"]);
    }

    #[test]
    fn follow_sees_every_event_across_real_rotations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut log = SizeRotatingFile::open(&path, 30, 1).unwrap();
        let (backlog, mut follower) = last_lines_then_follow(&path, 5).unwrap();
        assert!(backlog.is_empty());
        let mut seen = Vec::new();
        for line in numbered_lines(0..20) {
            log.write_event(format!("{line}\n").as_bytes()).unwrap();
            seen.extend(follower.poll().unwrap());
        }
        assert_eq!(seen, numbered_lines(0..20));

        let (backlog, mut follower) = last_lines_then_follow(&path, 3).unwrap();
        assert_eq!(backlog, numbered_lines(17..20));
        log.write_event(b"line 20\n").unwrap();
        assert_eq!(follower.poll().unwrap(), ["line 20"]);
    }

    #[test]
    fn wait_lines_returns_once_a_line_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut follower = follow(&path, true).with_poll_interval(Duration::from_millis(5));
        let (sender, receiver) = mpsc::channel();
        let waiter = thread::spawn(move || sender.send(follower.wait_lines().unwrap()));
        fs::write(&path, "hello\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let lines = receiver
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .expect("the follower saw no line before the deadline");
        assert_eq!(lines, ["hello"]);
        waiter.join().unwrap().unwrap();
    }
}
