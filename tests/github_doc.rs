//! Replays the walkthrough of `docs/github.md` against the GitHub-shaped server, so the guide
//! cannot drift from the binary.
//!
//! The page's blocks are marked as `support/replay.rs` describes; a replayed configuration gets
//! `[github].api_url` pointed at the test server. The repository the page describes is seeded
//! here; everything else comes from the page.

#[path = "support/github/mod.rs"]
mod fake;
mod harness;
#[path = "support/replay.rs"]
mod replay;

use fake::{FakeGitHub, TOKEN};
use harness::{TestProject, run_with_deadline};
use replay::{Block, blocks, console, matches, words};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/github.md");

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
    let blocks = blocks(std::path::Path::new(DOC));
    assert!(blocks.len() >= 4, "{DOC}: the walkthrough's blocks are marked");
    for block in blocks {
        match block {
            Block::Config { line, text } => {
                assert!(text.contains("[github]\n"), "{DOC}:{line}: a replayed configuration has [github]");
                let pointed = text.replacen("[github]\n", &format!("[github]\napi_url = \"{}\"\n", fake.url()), 1);
                project.write_config(&pointed);
            }
            Block::Console { line, text } => {
                console(DOC, line, &text, |doc_line, command| run(&project, doc_line, command))
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
