//! Framing: cutting a byte stream into JSON messages.
//!
//! The wire carries JSON values separated by newlines, but a peer may also send values back to
//! back with no separator, and the operating system may split a value anywhere across reads,
//! including inside a multi-byte UTF-8 character. [`FrameDecoder`] finds message boundaries by
//! scanning bytes only (brackets, strings and escapes), so it never needs the text to be valid
//! UTF-8 or valid JSON: that is the parser's job once a whole frame is known. Its scan state is
//! kept between reads, so a large message arriving in many chunks is scanned once, not once per
//! chunk.
//!
//! A raw newline always ends a frame. Compact JSON never contains one (inside a string it must be
//! escaped), so this costs nothing for well-formed input, and a truncated or malformed line is
//! answered with a parse error at once instead of swallowing the messages after it. An object
//! or array also ends at its closing bracket, which is what lets values arrive back to back. A
//! frame that does not start with `{` or `[` (a bare scalar, or garbage) runs to the end of its
//! line; the parser then rejects it.

use std::ops::Range;

/// Error from [`FrameDecoder::next_frame`]: the message being received is larger than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("message exceeds the limit of {limit} bytes")]
pub struct FrameTooLarge {
    /// The limit that was exceeded, in bytes.
    pub limit: usize,
}

/// What the scanner is inside of, carried from one read to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scan {
    /// Between frames: skipping whitespace.
    Idle,
    /// Inside an object or array, `depth` levels deep.
    Container { depth: usize, in_string: bool, escaped: bool },
    /// Inside a top-level string value.
    TopString { escaped: bool },
    /// Inside something else (a number, a literal, garbage) that runs to the end of the line.
    Line,
}

/// Incremental splitter of a byte stream into JSON message frames.
///
/// Feed bytes with [`extend`](Self::extend), take frames with [`next_frame`](Self::next_frame)
/// until it returns `Ok(None)`, and then call [`compact`](Self::compact) to drop consumed bytes.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    /// Start of the frame being scanned (everything before it is consumed).
    start: usize,
    /// Next byte to scan.
    pos: usize,
    scan: Scan,
    max_frame: usize,
}

impl FrameDecoder {
    /// A decoder that refuses frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self { buf: Vec::new(), start: 0, pos: 0, scan: Scan::Idle, max_frame }
    }

    /// Appends received bytes.
    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The buffer to read into (append only), with room for at least `min` more bytes.
    pub fn read_buffer(&mut self, min: usize) -> &mut Vec<u8> {
        self.buf.reserve(min);
        &mut self.buf
    }

    /// Bytes received and not yet returned as part of a frame.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    /// Returns the byte range (into [`buffer`](Self::buffer)) of the next complete frame, if any.
    ///
    /// Once this returns an error the stream cannot be resynchronised: close the connection.
    pub fn next_frame(&mut self) -> Result<Option<Range<usize>>, FrameTooLarge> {
        while self.pos < self.buf.len() {
            let byte = self.buf[self.pos];
            self.pos += 1;
            if byte == b'\n' && self.scan != Scan::Idle {
                // The newline is a separator, not part of the frame.
                return self.complete(self.pos - 1).map(Some);
            }
            match &mut self.scan {
                Scan::Idle => {
                    if byte.is_ascii_whitespace() {
                        self.start = self.pos;
                        continue;
                    }
                    self.scan = match byte {
                        b'{' | b'[' => Scan::Container { depth: 1, in_string: false, escaped: false },
                        b'"' => Scan::TopString { escaped: false },
                        _ => Scan::Line,
                    };
                }
                Scan::Container { depth, in_string, escaped } => {
                    if *in_string {
                        if *escaped {
                            *escaped = false;
                        } else if byte == b'\\' {
                            *escaped = true;
                        } else if byte == b'"' {
                            *in_string = false;
                        }
                    } else {
                        match byte {
                            b'"' => *in_string = true,
                            b'{' | b'[' => *depth += 1,
                            b'}' | b']' => {
                                *depth -= 1;
                                if *depth == 0 {
                                    return self.complete(self.pos).map(Some);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Scan::TopString { escaped } => {
                    if *escaped {
                        *escaped = false;
                    } else if byte == b'\\' {
                        *escaped = true;
                    } else if byte == b'"' {
                        return self.complete(self.pos).map(Some);
                    }
                }
                Scan::Line => {}
            }
        }
        // Judged once per read rather than per byte; a frame's final newline is not part of it.
        if self.scan != Scan::Idle && self.pos - self.start > self.max_frame {
            return Err(FrameTooLarge { limit: self.max_frame });
        }
        Ok(None)
    }

    /// At end of input, what is left of a last line without its newline, if anything.
    ///
    /// It is answered like any line (a parse error when it is cut short), since a client that
    /// half-closes after an incomplete line is owed a reply.
    pub fn finish(&mut self) -> Option<Range<usize>> {
        match self.scan {
            Scan::Idle => None,
            _ => Some(self.finish_frame(self.buf.len())),
        }
    }

    /// The received bytes; frames returned by [`next_frame`](Self::next_frame) index into this.
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Drops the bytes of frames already returned. Invalidates earlier ranges.
    ///
    /// Also gives back memory after a large message, so an idle connection holds almost none.
    pub fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.drain(..self.start);
        self.pos -= self.start;
        self.start = 0;
        if self.buf.is_empty() {
            // Nothing pending: give the buffer back, so an idle connection holds none.
            self.buf = Vec::new();
            return;
        }
        // After a large message, do not keep its buffer for the small ones that follow.
        const KEEP: usize = 64 * 1024;
        if self.buf.capacity() > KEEP && self.buf.len() < self.buf.capacity() / 4 {
            self.buf.shrink_to(KEEP.max(self.buf.len()));
        }
    }

    fn complete(&mut self, end: usize) -> Result<Range<usize>, FrameTooLarge> {
        if end - self.start > self.max_frame {
            return Err(FrameTooLarge { limit: self.max_frame });
        }
        Ok(self.finish_frame(end))
    }

    fn finish_frame(&mut self, end: usize) -> Range<usize> {
        let range = self.start..end;
        self.start = self.pos;
        self.scan = Scan::Idle;
        range
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` split at the given cut points and collects frames as strings.
    fn frames_with_cuts(input: &[u8], cuts: &[usize], max: usize) -> Result<Vec<Vec<u8>>, FrameTooLarge> {
        let mut decoder = FrameDecoder::new(max);
        let mut out = Vec::new();
        let mut last = 0;
        for &cut in cuts.iter().chain(std::iter::once(&input.len())) {
            decoder.extend(&input[last..cut]);
            last = cut;
            while let Some(range) = decoder.next_frame()? {
                out.push(decoder.buffer()[range].to_vec());
            }
            decoder.compact();
        }
        if let Some(range) = decoder.finish() {
            out.push(decoder.buffer()[range].to_vec());
        }
        Ok(out)
    }

    fn frames(input: &str) -> Vec<String> {
        frames_with_cuts(input.as_bytes(), &[], usize::MAX)
            .unwrap()
            .into_iter()
            .map(|f| String::from_utf8(f).unwrap())
            .collect()
    }

    #[test]
    fn newline_separated_messages() {
        assert_eq!(frames("{\"a\":1}\n{\"b\":2}\n"), vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn messages_without_separator() {
        assert_eq!(frames("{\"a\":1}{\"b\":2}[3]"), vec!["{\"a\":1}", "{\"b\":2}", "[3]"]);
    }

    #[test]
    fn whitespace_between_frames_is_skipped_and_inside_is_kept() {
        assert_eq!(frames(" \r\n\t{ \"a\" :\t 1 }\r\n\n"), vec!["{ \"a\" :\t 1 }"]);
    }

    #[test]
    fn a_raw_newline_ends_a_truncated_message() {
        // The specification's own example of an invalid batch is answered, not waited on.
        let input = "[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1,2,4],\"id\":\"1\"},{\"jsonrpc\":\"2.0\",\"method\"\n{\"a\":1}\n";
        assert_eq!(frames(input).len(), 2);
        assert_eq!(frames("{\"s\":\"line\nbreak\"}"), vec!["{\"s\":\"line", "break\"}"]);
    }

    #[test]
    fn brackets_inside_strings_do_not_count() {
        let input = r#"{"a":"}]{[","b":"\"}"}{"c":"\\"}"#;
        assert_eq!(frames(input), vec![r#"{"a":"}]{[","b":"\"}"}"#, r#"{"c":"\\"}"#]);
    }

    #[test]
    fn escapes_of_every_kind() {
        let input = r#"{"s":"\\\"\/\b\f\n\r\t\u00e9\ud83d\ude00"}"#;
        assert_eq!(frames(input), vec![input]);
        let value: serde_json::Value = serde_json::from_str(input).unwrap();
        assert_eq!(value["s"], "\\\"/\u{8}\u{c}\n\r\té😀");
    }

    #[test]
    fn deep_nesting_is_scanned_without_recursion() {
        let depth = 100_000;
        let input = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(frames(&input).len(), 1);
    }

    #[test]
    fn scalars_and_garbage_run_to_end_of_line() {
        assert_eq!(frames("42\ngarbage here\n\"str\"{\"a\":1}"), vec!["42", "garbage here", "\"str\"", "{\"a\":1}"]);
    }

    #[test]
    fn trailing_scalar_without_newline_is_a_frame_at_end_of_input() {
        assert_eq!(frames("{}\n123"), vec!["{}", "123"]);
    }

    #[test]
    fn unfinished_message_at_end_of_input_is_still_a_frame() {
        assert_eq!(frames("{\"a\":1}\n{\"b\":"), vec!["{\"a\":1}", "{\"b\":"]);
    }

    #[test]
    fn every_single_split_point_gives_the_same_frames() {
        let input =
            "{\"jsonrpc\":\"2.0\",\"method\":\"é😀\\\"}\",\"id\":1}\n[{\"a\":[1,{\"b\":\"]\"}]}]{\"x\":\"ü\"}  7\n";
        let expected = frames_with_cuts(input.as_bytes(), &[], usize::MAX).unwrap();
        assert_eq!(expected.len(), 4);
        for cut in 0..=input.len() {
            assert_eq!(frames_with_cuts(input.as_bytes(), &[cut], usize::MAX).unwrap(), expected, "cut at {cut}");
        }
    }

    #[test]
    fn byte_at_a_time_including_inside_multibyte_characters() {
        let input = "{\"k\":\"日本語 ✓ 😀\"}\n{\"k\":\"\\u65e5\"}".as_bytes();
        let cuts: Vec<usize> = (1..input.len()).collect();
        let got = frames_with_cuts(input, &cuts, usize::MAX).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(std::str::from_utf8(&got[0]).unwrap(), "{\"k\":\"日本語 ✓ 😀\"}");
    }

    #[test]
    fn random_splits_of_random_streams_decode_identically() {
        // A small deterministic generator keeps the test reproducible without a dependency.
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let pieces = [
            r#"{"jsonrpc":"2.0","method":"a","id":1}"#,
            r#"[{"x":"[{"},{"y":"\\"}]"#,
            r#"{"s":"é\"😀"}"#,
            "{ \t }",
            r#"{"n":[[[[]]]]}"#,
        ];
        for _ in 0..500 {
            let count = 1 + (next() % 8) as usize;
            let mut stream = String::new();
            let mut expected = Vec::new();
            for _ in 0..count {
                let piece = pieces[(next() % pieces.len() as u64) as usize];
                stream.push_str(piece);
                expected.push(piece.as_bytes().to_vec());
                match next() % 3 {
                    0 => stream.push('\n'),
                    1 => stream.push_str(" \r\n"),
                    _ => {}
                }
            }
            let bytes = stream.as_bytes();
            let mut cuts: Vec<usize> =
                (0..(next() % 6)).map(|_| (next() % (bytes.len() as u64 + 1)) as usize).collect();
            cuts.sort_unstable();
            assert_eq!(
                frames_with_cuts(bytes, &cuts, usize::MAX).unwrap(),
                expected,
                "stream {stream:?} cuts {cuts:?}"
            );
        }
    }

    #[test]
    fn invalid_utf8_is_framed_and_left_to_the_parser() {
        let input = b"{\"a\":\"\xff\xfe\"}\n";
        let got = frames_with_cuts(input, &[], usize::MAX).unwrap();
        assert_eq!(got, vec![b"{\"a\":\"\xff\xfe\"}".to_vec()]);
    }

    #[test]
    fn limit_applies_to_a_single_frame_not_to_the_stream() {
        let one = r#"{"a":"0123456789"}"#;
        let many = format!("{one}\n").repeat(100);
        assert_eq!(frames_with_cuts(many.as_bytes(), &[7, 300, 999], one.len()).unwrap().len(), 100);
        assert_eq!(frames_with_cuts(one.as_bytes(), &[], one.len() - 1), Err(FrameTooLarge { limit: one.len() - 1 }));
    }

    #[test]
    fn limit_is_detected_before_the_frame_completes() {
        let mut decoder = FrameDecoder::new(1024);
        decoder.extend(b"{\"a\":\"");
        decoder.extend(&[b'x'; 2000]);
        assert_eq!(decoder.next_frame(), Err(FrameTooLarge { limit: 1024 }));
    }

    #[test]
    fn garbage_without_newline_hits_the_limit() {
        let mut decoder = FrameDecoder::new(100);
        decoder.extend(&[0xAB; 150]);
        assert_eq!(decoder.next_frame(), Err(FrameTooLarge { limit: 100 }));
    }

    #[test]
    fn compact_releases_memory_after_a_large_frame() {
        let mut decoder = FrameDecoder::new(usize::MAX);
        let big = format!("{{\"a\":\"{}\"}}\n", "x".repeat(1 << 20));
        decoder.extend(big.as_bytes());
        assert!(decoder.next_frame().unwrap().is_some());
        assert!(decoder.next_frame().unwrap().is_none());
        decoder.compact();
        assert!(decoder.buffer().is_empty());
        assert_eq!(decoder.read_buffer(0).capacity(), 0, "nothing pending, nothing held");
        assert_eq!(decoder.pending_bytes(), 0);
    }
}
