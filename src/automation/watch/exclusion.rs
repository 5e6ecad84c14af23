//! Ignore decisions: whether a project-relative path is left out of watching and reporting.
//!
//! A path is ignored when it or any ancestor directory is. The watcher never enters an ignored
//! directory, so every watched directory is known not to be ignored, and deciding about an entry
//! of a watched directory only has to look at the entry itself. For one entry the sources are
//! asked in this order, and the first that has an opinion decides:
//!
//! 1. `.git` and `.steward`, at any depth, always (git's database, and steward's own state, which
//!    the daemon writes all the time); nothing can re-include them.
//! 2. The `[watch] ignore` lines, relative to the root. A `!` line here wins over `.gitignore`, so
//!    a generated directory that git ignores can still be watched.
//! 3. The `.gitignore` files of the entry's directory and its ancestors, deepest first (git's
//!    precedence: a nested file overrides its parents; within a file the last matching line wins).
//! 4. `.git/info/exclude`, read at start (the daemon restarts the watcher on reload).
//!
//! Cost per event: one hash lookup per ancestor directory of the path, plus one glob-set match for
//! each of the (usually few) `.gitignore` files found on the way; no allocation, no file access.
//! The `.gitignore` files are read while walking (only where a directory listing shows one) and
//! re-read when an event touches one; an unchanged file (same digest) changes nothing.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::WatchError;
use super::scope::{is_within, name_of, parent_of};

/// Names never watched, at any depth.
const ALWAYS_IGNORED: [&str; 2] = [".git", ".steward"];

/// Everything the decisions are made from.
#[derive(Debug)]
pub(super) struct Exclusion {
    root: PathBuf,
    configured: Gitignore,
    exclude: Gitignore,
    /// Non-empty `.gitignore` files by the project-relative directory that holds them.
    nested: HashMap<String, Nested>,
}

#[derive(Debug)]
struct Nested {
    matcher: Gitignore,
    /// Of the file's text: a rewrite with the same content (an editor's save) changes nothing.
    digest: u64,
}

impl Exclusion {
    /// The configured lines and `.git/info/exclude`; `.gitignore` files are added by `load`.
    pub(super) fn new(root: &Path, lines: &[String]) -> Result<Exclusion, WatchError> {
        let mut builder = GitignoreBuilder::new(root);
        for line in lines {
            builder
                .add_line(None, line)
                .map_err(|error| WatchError::InvalidIgnore { line: line.clone(), reason: error.to_string() })?;
        }
        let configured = builder
            .build()
            .map_err(|error| WatchError::InvalidIgnore { line: lines.join("\n"), reason: error.to_string() })?;
        let exclude_file = root.join(".git/info/exclude");
        let exclude = parse(root, &read_or_empty(&exclude_file), &exclude_file);
        Ok(Exclusion { root: root.to_path_buf(), configured, exclude, nested: HashMap::new() })
    }

    /// Whether the entry `rel` of a directory that is itself not ignored is ignored. `is_dir` is
    /// `None` when the type cannot be known (the path is gone): then it is ignored if it would be
    /// as either a file or a directory.
    pub(super) fn is_ignored(&self, rel: &str, is_dir: Option<bool>) -> bool {
        if rel.is_empty() {
            return false;
        }
        if ALWAYS_IGNORED.contains(&name_of(rel)) {
            return true;
        }
        match is_dir {
            Some(is_dir) => self.decide(rel, is_dir),
            None => self.decide(rel, false) || self.decide(rel, true),
        }
    }

    /// Whether `rel` or any of its ancestors is ignored, with the `.gitignore` files loaded so far.
    pub(super) fn is_path_ignored(&self, rel: &str, is_dir: Option<bool>) -> bool {
        rel.match_indices('/').any(|(slash, _)| self.is_ignored(&rel[..slash], Some(true)))
            || self.is_ignored(rel, is_dir)
    }

    fn decide(&self, rel: &str, is_dir: bool) -> bool {
        if let Some(decided) = decision(self.configured.matched(rel, is_dir)) {
            return decided;
        }
        if !self.nested.is_empty() {
            let mut dir = parent_of(rel);
            loop {
                if let Some(nested) = self.nested.get(dir) {
                    let below = if dir.is_empty() { rel } else { &rel[dir.len() + 1..] };
                    if let Some(decided) = decision(nested.matcher.matched(below, is_dir)) {
                        return decided;
                    }
                }
                if dir.is_empty() {
                    break;
                }
                dir = parent_of(dir);
            }
        }
        self.exclude.matched(rel, is_dir).is_ignore()
    }

    /// Reads the `.gitignore` of directory `dir` (or notes that it has none). Returns whether the
    /// decisions may have changed.
    pub(super) fn load(&mut self, dir: &str) -> bool {
        let dir_path = if dir.is_empty() { self.root.clone() } else { self.root.join(dir) };
        let file = dir_path.join(".gitignore");
        let text = read_or_empty(&file);
        let digest = digest_of(&text);
        if self.nested.get(dir).is_some_and(|nested| nested.digest == digest) {
            return false;
        }
        let matcher = parse(&dir_path, &text, &file);
        if matcher.is_empty() {
            return self.nested.remove(dir).is_some();
        }
        self.nested.insert(dir.to_owned(), Nested { matcher, digest });
        true
    }

    /// Directory `dir` has no `.gitignore` (its listing shows none).
    pub(super) fn forget(&mut self, dir: &str) {
        self.nested.remove(dir);
    }

    /// Directory `dir` and everything under it is no longer watched.
    pub(super) fn forget_subtree(&mut self, dir: &str) {
        self.nested.retain(|held, _| !is_within(held, dir));
    }
}

/// A match's verdict: `Some(true)` ignored, `Some(false)` re-included, `None` no opinion.
fn decision<T>(matched: Match<T>) -> Option<bool> {
    match matched {
        Match::None => None,
        Match::Ignore(_) => Some(true),
        Match::Whitelist(_) => Some(false),
    }
}

/// The file's text; a missing or unreadable file counts as empty (an unreadable one is logged:
/// watching goes on with what can be read).
fn read_or_empty(file: &Path) -> String {
    match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(error) if matches!(error.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
            String::new()
        }
        Err(error) => {
            tracing::warn!(file = %file.display(), %error, "cannot read an ignore file; its lines are not applied");
            String::new()
        }
    }
}

/// `text` as gitignore lines relative to `dir`. A bad line is logged and skipped, as git does.
fn parse(dir: &Path, text: &str, source: &Path) -> Gitignore {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut builder = GitignoreBuilder::new(dir);
    for line in text.lines() {
        if let Err(error) = builder.add_line(Some(source.to_path_buf()), line) {
            tracing::warn!(file = %source.display(), line, %error, "skipping an invalid ignore line");
        }
    }
    builder.build().unwrap_or_else(|error| {
        tracing::warn!(file = %source.display(), %error, "cannot use an ignore file; its lines are not applied");
        Gitignore::empty()
    })
}

fn digest_of(text: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    text.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    struct Tree {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    impl Tree {
        fn new(files: &[(&str, &str)]) -> Tree {
            let tmp = tempfile::tempdir().unwrap();
            let root = tmp.path().canonicalize().unwrap();
            for (rel, text) in files {
                let path = root.join(rel);
                fs::create_dir_all(path.parent().unwrap()).unwrap();
                fs::write(path, text).unwrap();
            }
            Tree { _tmp: tmp, root }
        }

        fn exclusion(&self, lines: &[&str], dirs_with_gitignore: &[&str]) -> Exclusion {
            let lines: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
            let mut exclusion = Exclusion::new(&self.root, &lines).unwrap();
            for dir in dirs_with_gitignore {
                exclusion.load(dir);
            }
            exclusion
        }
    }

    /// (path, is_dir, ignored)
    fn check(exclusion: &Exclusion, cases: &[(&str, Option<bool>, bool)]) {
        for (rel, is_dir, ignored) in cases {
            assert_eq!(exclusion.is_ignored(rel, *is_dir), *ignored, "{rel:?} (dir: {is_dir:?})");
        }
    }

    #[test]
    fn git_and_steward_are_always_ignored() {
        let tree = Tree::new(&[(".gitignore", "!.git\n!.steward/\n")]);
        let exclusion = tree.exclusion(&["!.git", "!.steward"], &[""]);
        check(
            &exclusion,
            &[
                (".git", Some(true), true),
                (".git", Some(false), true),
                (".steward", Some(true), true),
                ("sub/.git", Some(false), true),
                ("sub/.steward", None, true),
                (".github", Some(true), false),
                ("", Some(true), false),
            ],
        );
    }

    #[test]
    fn configured_lines_use_gitignore_syntax_from_the_root() {
        let tree = Tree::new(&[]);
        let exclusion = tree.exclusion(&["target/", "*.log", "/build", "docs/*.tmp", "# a comment", ""], &[]);
        check(
            &exclusion,
            &[
                ("target", Some(true), true),
                ("target", Some(false), false),
                ("target", None, true),
                ("a/target", Some(true), true),
                ("out.log", Some(false), true),
                ("a/b/out.log", Some(false), true),
                ("build", Some(true), true),
                ("a/build", Some(true), false),
                ("docs/x.tmp", Some(false), true),
                ("docs/a/x.tmp", Some(false), false),
                ("src/main.rs", Some(false), false),
            ],
        );
    }

    #[test]
    fn nested_gitignore_files_override_their_parents() {
        let tree = Tree::new(&[
            (".gitignore", "*.gen\n/out\nsecret/\n"),
            ("a/.gitignore", "!keep.gen\n/local\n"),
            ("a/b/.gitignore", "keep.gen\n"),
        ]);
        let exclusion = tree.exclusion(&[], &["", "a", "a/b"]);
        check(
            &exclusion,
            &[
                ("x.gen", Some(false), true),
                ("a/x.gen", Some(false), true),
                ("a/keep.gen", Some(false), false),
                ("a/c/keep.gen", Some(false), false),
                ("a/b/keep.gen", Some(false), true),
                ("out", Some(true), true),
                ("a/out", Some(true), false),
                ("a/local", Some(false), true),
                ("local", Some(false), false),
                ("a/b/local", Some(false), false),
                ("a/b/secret", Some(true), true),
                ("a/b/main.rs", Some(false), false),
            ],
        );
    }

    #[test]
    fn configured_lines_win_over_gitignore_and_exclude_comes_last() {
        let tree = Tree::new(&[
            (".gitignore", "generated/\n!notes.txt\n"),
            (".git/info/exclude", "scratch/\nnotes.txt\n*.bak\n"),
        ]);
        let exclusion = tree.exclusion(&["!generated/"], &[""]);
        check(
            &exclusion,
            &[
                ("generated", Some(true), false),
                ("scratch", Some(true), true),
                ("notes.txt", Some(false), false),
                ("a.bak", Some(false), true),
            ],
        );
    }

    #[test]
    fn a_path_is_ignored_when_an_ancestor_is() {
        let tree = Tree::new(&[]);
        let exclusion = tree.exclusion(&["target/", "*.log"], &[]);
        assert!(exclusion.is_path_ignored("target/debug/build/x.rs", Some(false)));
        assert!(exclusion.is_path_ignored("logs.log/inner.txt", Some(false)));
        assert!(exclusion.is_path_ignored("src/.git/config", Some(false)));
        assert!(!exclusion.is_path_ignored("src/target.rs", Some(false)));
        assert!(!exclusion.is_path_ignored("src", Some(true)));
    }

    #[test]
    fn reloading_reports_whether_anything_changed() {
        let tree = Tree::new(&[("a/.gitignore", "*.tmp\n")]);
        let mut exclusion = tree.exclusion(&[], &[]);
        assert!(!exclusion.is_ignored("a/x.tmp", Some(false)));
        assert!(exclusion.load("a"));
        assert!(exclusion.is_ignored("a/x.tmp", Some(false)));
        assert!(!exclusion.load("a"), "the same text again");
        fs::write(tree.root.join("a/.gitignore"), "*.bak\n").unwrap();
        assert!(exclusion.load("a"));
        assert!(!exclusion.is_ignored("a/x.tmp", Some(false)));
        assert!(exclusion.is_ignored("a/x.bak", Some(false)));
        fs::write(tree.root.join("a/.gitignore"), "# only a comment\n").unwrap();
        assert!(exclusion.load("a"), "emptied");
        assert!(!exclusion.load("a"), "still empty");
        fs::remove_file(tree.root.join("a/.gitignore")).unwrap();
        assert!(!exclusion.load("a"), "deleting an empty file changes nothing");
        assert!(!exclusion.load("missing"));
    }

    #[test]
    fn forgetting_a_subtree_drops_its_files() {
        let tree = Tree::new(&[("a/.gitignore", "x\n"), ("a/b/.gitignore", "y\n"), ("ab/.gitignore", "z\n")]);
        let mut exclusion = tree.exclusion(&[], &["a", "a/b", "ab"]);
        exclusion.forget_subtree("a");
        check(&exclusion, &[("a/x", Some(false), false), ("a/b/y", Some(false), false), ("ab/z", Some(false), true)]);
        exclusion.forget("ab");
        check(&exclusion, &[("ab/z", Some(false), false)]);
    }

    #[test]
    fn bad_configured_lines_are_refused_with_the_line() {
        let error = Exclusion::new(Path::new("/project"), &["src/[z-a]".to_string()]).unwrap_err();
        match error {
            WatchError::InvalidIgnore { line, reason } => {
                assert_eq!(line, "src/[z-a]");
                assert!(!reason.is_empty());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_bad_line_in_a_gitignore_file_is_skipped() {
        let tree = Tree::new(&[(".gitignore", "src/[z-a]\n*.tmp\n")]);
        let exclusion = tree.exclusion(&[], &[""]);
        check(&exclusion, &[("x.tmp", Some(false), true), ("src/a", Some(false), false)]);
    }
}
