//! Reading a task's output log in pieces, as `task.output` returns it.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Largest piece one call returns.
pub const MAX_CHUNK: usize = 1024 * 1024;
/// The piece size when none is asked for.
pub const DEFAULT_CHUNK: usize = 64 * 1024;

/// `task.output`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutputChunk {
    /// The text from `offset` (bytes that are not UTF-8 are replaced).
    pub data: String,
    /// Where the next piece starts.
    pub next_offset: u64,
    /// True once the task has ended and everything was read.
    pub eof: bool,
}

/// Reads up to `limit` bytes at `offset`. The piece never ends inside a UTF-8 character, so
/// concatenating the pieces gives the log's text. `finished` says whether the task has ended.
pub fn read(path: &Path, offset: u64, limit: usize, finished: bool) -> std::io::Result<OutputChunk> {
    // At least one whole character always fits, so every call makes progress.
    let limit = if limit == 0 { DEFAULT_CHUNK } else { limit.clamp(4, MAX_CHUNK) };
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(OutputChunk { data: String::new(), next_offset: offset, eof: finished });
        }
        Err(e) => return Err(e),
    };
    let len = file.metadata()?.len();
    let start = offset.min(len);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::with_capacity(limit.min((len - start) as usize));
    file.take(limit as u64).read_to_end(&mut bytes)?;
    let mut end = bytes.len();
    // Hold back an incomplete character at the end: the next piece starts with it whole.
    if start + (end as u64) < len || !finished {
        end = complete_prefix(&bytes);
    }
    let next_offset = start + end as u64;
    let data = String::from_utf8_lossy(&bytes[..end]).into_owned();
    Ok(OutputChunk { data, next_offset, eof: finished && next_offset >= len })
}

/// The length of the longest prefix that does not end inside a multi-byte character.
fn complete_prefix(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=3.min(n) {
        let byte = bytes[n - back];
        if byte & 0b1100_0000 != 0b1000_0000 {
            // A lead byte (or ASCII): does its character fit in what we have?
            let width = match byte {
                b if b < 0x80 => 1,
                b if b >= 0xF0 => 4,
                b if b >= 0xE0 => 3,
                b if b >= 0xC0 => 2,
                _ => 1,
            };
            return if back >= width { n } else { n - back };
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_concatenate_to_the_whole_text_even_across_characters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let text = "héllo wörld 😀 — ünïcödé\n".repeat(20);
        std::fs::write(&path, &text).unwrap();
        for limit in [1, 2, 3, 5, 7, 64] {
            let (mut offset, mut out) = (0, String::new());
            loop {
                let chunk = read(&path, offset, limit, true).unwrap();
                out.push_str(&chunk.data);
                assert!(chunk.next_offset > offset || chunk.eof, "progress at {offset} with limit {limit}");
                offset = chunk.next_offset;
                if chunk.eof {
                    break;
                }
            }
            assert_eq!(out, text, "limit {limit}");
        }
    }

    #[test]
    fn a_running_task_is_never_at_eof_and_a_missing_log_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let chunk = read(&path, 0, 10, false).unwrap();
        assert_eq!((chunk.data.as_str(), chunk.next_offset, chunk.eof), ("", 0, false));
        assert!(read(&path, 0, 10, true).unwrap().eof);
        std::fs::write(&path, "abc").unwrap();
        let chunk = read(&path, 0, 10, false).unwrap();
        assert_eq!((chunk.data.as_str(), chunk.eof), ("abc", false));
        let chunk = read(&path, 3, 10, true).unwrap();
        assert_eq!((chunk.data.as_str(), chunk.next_offset, chunk.eof), ("", 3, true));
    }

    #[test]
    fn a_cut_character_is_held_back_while_the_log_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        std::fs::write(&path, &"ab\u{e9}".as_bytes()[..3]).unwrap();
        let chunk = read(&path, 0, 10, false).unwrap();
        assert_eq!((chunk.data.as_str(), chunk.next_offset), ("ab", 2));
        // Invalid bytes in a finished log are replaced rather than held back forever.
        std::fs::write(&path, b"ab\xff\xfe").unwrap();
        let chunk = read(&path, 0, 10, true).unwrap();
        assert_eq!((chunk.data.as_str(), chunk.eof), ("ab\u{fffd}\u{fffd}", true));
    }
}
