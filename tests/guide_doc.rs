//! Replays docs/guide.md, the newcomer's first ten minutes, against the real binary in a fresh
//! repository, so the guide cannot drift from what the binary prints.

mod harness;
#[path = "support/replay.rs"]
mod replay;

use harness::{TestProject, run_with_deadline};
use replay::{Block, blocks, console, words};

const DOC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/guide.md");

#[test]
fn the_guide_replays() {
    let project = TestProject::new();
    let blocks = blocks(std::path::Path::new(DOC));
    assert!(blocks.len() >= 6, "{DOC}: the guide's blocks are marked");
    for block in blocks {
        match block {
            Block::Config { text, .. } => project.write_config(&text),
            Block::Console { line, text } => console(DOC, line, &text, |doc_line, command| {
                let words = words(command);
                assert_eq!(words[0], "steward", "{DOC}:{doc_line}: the guide's replayed commands are steward's");
                let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
                let output = run_with_deadline(project.command(&args));
                assert!(
                    output.status.success(),
                    "{DOC}:{doc_line}: `{command}` failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
                String::from_utf8_lossy(&output.stdout).lines().map(str::to_owned).collect()
            }),
        }
    }
    let status = project.run(&["status"]);
    assert_eq!(status.code, 3, "the guide ends with the daemon stopped");
}
