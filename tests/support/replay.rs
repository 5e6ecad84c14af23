//! Replaying a page of the documentation: its marked blocks are run against the real binary and
//! what each command prints is compared with what the page shows.
//!
//! `<!-- replay: config -->` before a `toml` block makes it the project's configuration;
//! `<!-- replay -->` before a `console` block runs its `$ ` lines in order and compares what each
//! prints with the lines under it, where `…` matches anything.
#![allow(dead_code)]

use std::path::Path;

/// A marked block and the line of the page its text starts on.
pub enum Block {
    Config { line: usize, text: String },
    Console { line: usize, text: String },
}

/// The marked blocks of `page`, in order.
pub fn blocks(page: &Path) -> Vec<Block> {
    let doc = std::fs::read_to_string(page).unwrap_or_else(|err| panic!("{}: {err}", page.display()));
    let page = page.display();
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let (fence, config) = match line.trim() {
            "<!-- replay: config -->" => ("```toml", true),
            "<!-- replay -->" => ("```console", false),
            _ => continue,
        };
        assert_eq!(lines.get(index + 1).map(|l| l.trim()), Some(fence), "{page}:{}: {fence} must follow", index + 1);
        let body: Vec<&str> = lines[index + 2..].iter().take_while(|l| l.trim() != "```").copied().collect();
        let text = body.join("\n") + "\n";
        let line = index + 3;
        blocks.push(if config { Block::Config { line, text } } else { Block::Console { line, text } });
    }
    blocks
}

/// Whether `actual` is `pattern` with each `…` standing for any text.
pub fn matches(pattern: &str, actual: &str) -> bool {
    let parts: Vec<&str> = pattern.split('…').collect();
    if parts.len() == 1 {
        return pattern == actual;
    }
    let Some(mut rest) = actual.strip_prefix(parts[0]) else { return false };
    for (index, part) in parts.iter().enumerate().skip(1) {
        if index == parts.len() - 1 {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

/// `steward a "b c"` as words (double quotes group, as in the page's commands).
pub fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut any) = (String::new(), false, false);
    for c in command.chars() {
        match c {
            '"' => (quoted, any) = (!quoted, true),
            ' ' if !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// Runs the `$ ` lines of a console block with `run` (which gets the page line and the command)
/// and fails where what it printed is not what the page shows.
pub fn console(page: &str, line: usize, text: &str, mut run: impl FnMut(usize, &str) -> Vec<String>) {
    let lines: Vec<&str> = text.lines().collect();
    let mut index = 0;
    while index < lines.len() {
        let doc_line = line + index;
        let command = lines[index]
            .strip_prefix("$ ")
            .unwrap_or_else(|| panic!("{page}:{doc_line}: expected a `$ ` command, found {:?}", lines[index]));
        let expected: Vec<&str> = lines[index + 1..].iter().take_while(|l| !l.starts_with("$ ")).copied().collect();
        let actual = run(doc_line, command);
        let same = expected.len() == actual.len()
            && expected.iter().zip(&actual).all(|(pattern, line)| matches(pattern, line));
        assert!(
            same,
            "{page}:{doc_line}: `{command}` printed\n{}\nbut the page shows\n{}",
            actual.join("\n"),
            expected.join("\n")
        );
        index += 1 + expected.len();
    }
}
