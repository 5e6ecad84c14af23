//! Replays the walkthrough of `docs/github.md` against the GitHub-shaped server, so the guide
//! cannot drift from the binary.
//!
//! The page's replayed blocks are marked: `<!-- replay: config -->` before a `toml` block makes
//! it the project's configuration (with `[github].api_url` pointed at the test server), and
//! `<!-- replay -->` before a `console` block runs its `$ ` lines in order and compares what each
//! prints with the lines under it, where `…` matches anything. The repository the page describes
//! is seeded here; everything else comes from the page.

#[path = "support/github/mod.rs"]
mod fake;
mod harness;

use fake::{FakeGitHub, TOKEN};
use harness::{TestProject, run_with_deadline};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/github.md");

enum Block {
    Config { line: usize, text: String },
    Console { line: usize, text: String },
}

fn blocks() -> Vec<Block> {
    let doc = std::fs::read_to_string(DOC).expect("docs/github.md is readable");
    let lines: Vec<&str> = doc.lines().collect();
    let mut blocks = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let (fence, config) = match line.trim() {
            "<!-- replay: config -->" => ("```toml", true),
            "<!-- replay -->" => ("```console", false),
            _ => continue,
        };
        assert_eq!(lines.get(index + 1).map(|l| l.trim()), Some(fence), "{DOC}:{}: {fence} must follow", index + 1);
        let body: Vec<&str> = lines[index + 2..].iter().take_while(|l| l.trim() != "```").copied().collect();
        let text = body.join("\n") + "\n";
        let line = index + 3;
        blocks.push(if config { Block::Config { line, text } } else { Block::Console { line, text } });
    }
    blocks
}

/// Whether `actual` is `pattern` with each `…` standing for any text.
fn matches(pattern: &str, actual: &str) -> bool {
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
fn words(command: &str) -> Vec<String> {
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

/// Runs one `$ ` line and returns its output lines.
fn run(project: &TestProject, doc_line: usize, command: &str) -> Vec<String> {
    let command = command.split(" #").next().unwrap().trim();
    if let Some(assignment) = command.strip_prefix("export ") {
        assert!(assignment.starts_with("GITHUB_TOKEN="), "{DOC}:{doc_line}: only the token is exported: {command}");
        return Vec::new();
    }
    let words = words(command);
    let output = match words[0].as_str() {
        "steward" => {
            let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
            let mut steward = project.command(&args);
            steward.env("GITHUB_TOKEN", TOKEN);
            run_with_deadline(steward)
        }
        "touch" | "rm" => {
            let mut shell = std::process::Command::new(&words[0]);
            shell.args(&words[1..]).current_dir(project.root());
            run_with_deadline(shell)
        }
        other => panic!("{DOC}:{doc_line}: the replay does not run `{other}`"),
    };
    assert!(
        output.status.success(),
        "{DOC}:{doc_line}: `{command}` failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
}

#[test]
fn the_walkthrough_replays() {
    let fake = FakeGitHub::start();
    fake.issue("App crashes on start", "Since 2.1 it exits at once.", "octo");
    fake.issue("Typo in the README", "The README says `stewrd`.", "octo");
    fake.issue("Add a dark mode", "", "octo");
    let project = TestProject::new();
    let blocks = blocks();
    assert!(blocks.len() >= 4, "{DOC}: the walkthrough's blocks are marked");
    for block in blocks {
        match block {
            Block::Config { line, text } => {
                assert!(text.contains("[github]\n"), "{DOC}:{line}: a replayed configuration has [github]");
                let pointed = text.replacen("[github]\n", &format!("[github]\napi_url = \"{}\"\n", fake.url()), 1);
                project.write_config(&pointed);
            }
            Block::Console { line, text } => {
                let lines: Vec<&str> = text.lines().collect();
                let mut index = 0;
                while index < lines.len() {
                    let doc_line = line + index;
                    let command = lines[index].strip_prefix("$ ").unwrap_or_else(|| {
                        panic!("{DOC}:{doc_line}: expected a `$ ` command, found {:?}", lines[index])
                    });
                    let expected: Vec<&str> =
                        lines[index + 1..].iter().take_while(|l| !l.starts_with("$ ")).copied().collect();
                    let actual = run(&project, doc_line, command);
                    let same = expected.len() == actual.len()
                        && expected.iter().zip(&actual).all(|(pattern, line)| matches(pattern, line));
                    assert!(
                        same,
                        "{DOC}:{doc_line}: `{command}` printed\n{}\nbut the page shows\n{}",
                        actual.join("\n"),
                        expected.join("\n")
                    );
                    index += 1 + expected.len();
                }
            }
        }
    }
    // What the page says happened, happened.
    assert_eq!(fake.labels_of(1), ["bug", "steward:triaged"]);
    assert_eq!(fake.labels_of(2), ["documentation", "steward:triaged"]);
    assert_eq!(fake.labels_of(3), ["steward:triaged"]);
    assert!(fake.repo_labels().iter().any(|label| label.name == "steward:ready"));
    assert!(!project.path(".steward/STOP").exists());
}

#[test]
fn ellipses_match_what_varies_and_nothing_else() {
    assert!(matches("triage ok: 3 (… ms)", "triage ok: 3 (12 ms)"));
    assert!(matches("…  steward:triaged  #1", "2026-11-21T09:00:00.000Z      7  steward:triaged  #1"));
    assert!(!matches("triage ok: 3 (… ms)", "triage failed: 3 (12 ms)"));
    assert!(!matches("a…b", "a"));
    assert!(matches("same", "same") && !matches("same", "same "));
    assert_eq!(
        words(r#"steward event list --topic "steward:*""#),
        ["steward", "event", "list", "--topic", "steward:*"]
    );
}
