//! The watched directories: one non-recursive inotify watch per directory that is covered (or on
//! the way to a configured path) and not ignored, added by walking the tree ourselves so ignored
//! trees such as `target/` are never entered. The only per-directory state is its relative path;
//! files are not remembered, which keeps a 100k-file tree cheap and is why deleted files cannot be
//! found by a rescan.
//!
//! Every walk adds a directory's watch before listing it: whatever is created in it after the
//! watch raises an event, whatever was there before is in the listing, so nothing falls in
//! between (a file may be seen twice; the merge table makes that one entry).

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::ErrorKind as IoKind;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use super::WatchProblem;
use super::exclusion::Exclusion;
use super::merge::Seen;
use super::problem;
use super::scope::{Coverage, Scope, is_within, join};

/// Why a directory is walked, which decides what is reported about the files found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Walk {
    /// At start: nothing is reported.
    Start,
    /// A directory appeared (created, or renamed into place): its files are reported with this.
    Appeared(Seen),
    /// A `.gitignore` changed: watches follow the new decisions, files are not reported.
    Reconcile,
    /// Events were lost: every directory is watched again, files changed at or after `since` are
    /// reported as modified and watched directories that vanished as deleted.
    Rescan { since: SystemTime },
}

/// How adding one watch went.
enum Added {
    Watched,
    /// The directory vanished first (or is no longer a directory): nothing to watch.
    Gone,
    /// The inotify watch limit is reached.
    Limit,
    Failed(String),
}

/// The watches and what decides them.
pub(super) struct Tree {
    root: PathBuf,
    scope: Scope,
    exclusion: Exclusion,
    watcher: RecommendedWatcher,
    /// Watched directories by relative path; ordered so a subtree is one range.
    watched: BTreeSet<String>,
    /// Directories that could not be watched because of the watch limit (a set, so retrying one
    /// does not count it twice; empty unless the limit was hit).
    unwatchable: BTreeSet<String>,
    /// Problems found while walking, collected for the caller to report.
    problems: Vec<WatchProblem>,
}

impl Tree {
    pub(super) fn new(root: PathBuf, scope: Scope, exclusion: Exclusion, watcher: RecommendedWatcher) -> Tree {
        Tree {
            root,
            scope,
            exclusion,
            watcher,
            watched: BTreeSet::new(),
            unwatchable: BTreeSet::new(),
            problems: Vec::new(),
        }
    }

    pub(super) fn root(&self) -> &Path {
        &self.root
    }

    pub(super) fn scope(&self) -> &Scope {
        &self.scope
    }

    pub(super) fn exclusion(&self) -> &Exclusion {
        &self.exclusion
    }

    pub(super) fn is_watched(&self, dir: &str) -> bool {
        self.watched.contains(dir)
    }

    pub(super) fn watched_count(&self) -> usize {
        self.watched.len()
    }

    pub(super) fn unwatchable(&self) -> usize {
        self.unwatchable.len()
    }

    pub(super) fn take_problems(&mut self) -> Vec<WatchProblem> {
        std::mem::take(&mut self.problems)
    }

    /// The absolute path of `rel`.
    pub(super) fn absolute(&self, rel: &str) -> PathBuf {
        if rel.is_empty() { self.root.clone() } else { self.root.join(rel) }
    }

    /// `path` relative to the root, `'/'`-separated; `None` outside the root or not UTF-8.
    pub(super) fn relative(&self, path: &Path) -> Option<String> {
        path.strip_prefix(&self.root).ok()?.to_str().map(|rel| rel.trim_end_matches('/').to_owned())
    }

    /// Re-reads the `.gitignore` of watched directory `dir`; if the decisions changed, makes the
    /// watches below `dir` follow them. Returns what the reconciliation found (vanished
    /// directories).
    pub(super) fn gitignore_changed(&mut self, dir: &str) -> Vec<(String, Seen)> {
        if self.exclusion.load(dir) { self.walk(dir, Walk::Reconcile) } else { Vec::new() }
    }

    /// Directory `rel` was deleted or renamed away: forgets it and everything under it. notify has
    /// already dropped the watches when it saw the event, so they are not removed again.
    pub(super) fn forget_subtree(&mut self, rel: &str) {
        for set in [&mut self.watched, &mut self.unwatchable] {
            let gone: Vec<String> = subtree(set, rel).cloned().collect();
            for dir in gone {
                set.remove(&dir);
            }
        }
        self.exclusion.forget_subtree(rel);
    }

    /// Walks from directory `start` (which must be covered or leading, and not ignored), watching
    /// every directory found that should be; returns the files to report, per `mode`.
    pub(super) fn walk(&mut self, start: &str, mode: Walk) -> Vec<(String, Seen)> {
        let sweep = matches!(mode, Walk::Reconcile | Walk::Rescan { .. });
        let mut found = Vec::new();
        let mut visited = HashSet::new();
        let mut stack = vec![start.to_owned()];
        while let Some(dir) = stack.pop() {
            // A rescan re-adds known directories too: one may have been replaced unseen, and
            // adding a watch to an already watched inode costs nothing.
            if matches!(mode, Walk::Rescan { .. }) || !self.watched.contains(&dir) {
                match self.add_watch(&dir) {
                    Added::Watched => {
                        self.unwatchable.remove(&dir);
                        self.watched.insert(dir.clone());
                    }
                    Added::Gone => continue,
                    // Keep walking: the subdirectories are counted, and some may still fit.
                    Added::Limit => {
                        self.unwatchable.insert(dir.clone());
                    }
                    Added::Failed(reason) => {
                        self.problems.push(problem::unwatchable_directory(&self.absolute(&dir), &reason));
                        continue;
                    }
                }
            }
            let Some(entries) = self.list(&dir) else { continue };
            if entries.iter().any(|entry| entry.name == ".gitignore" && !entry.is_dir) {
                self.exclusion.load(&dir);
            } else {
                self.exclusion.forget(&dir);
            }
            for entry in entries {
                let rel = join(&dir, &entry.name);
                let coverage = self.scope.classify(&rel);
                if coverage == Coverage::Outside {
                    continue;
                }
                if entry.is_dir {
                    if !self.exclusion.is_ignored(&rel, Some(true)) {
                        stack.push(rel);
                    }
                    continue;
                }
                if coverage != Coverage::Inside || matches!(mode, Walk::Start | Walk::Reconcile) {
                    continue;
                }
                if self.exclusion.is_ignored(&rel, Some(false)) {
                    continue;
                }
                match mode {
                    Walk::Appeared(seen) => found.push((rel, seen)),
                    Walk::Rescan { since } => {
                        let modified = entry.entry.metadata().and_then(|metadata| metadata.modified());
                        if modified.is_ok_and(|modified| modified >= since) {
                            found.push((rel, Seen::Modified));
                        }
                    }
                    Walk::Start | Walk::Reconcile => {}
                }
            }
            if sweep {
                visited.insert(dir);
            }
        }
        if sweep {
            found.extend(self.sweep(start, &visited));
        }
        found
    }

    /// After a sweeping walk from `start`: drops the watches of directories below it that the walk
    /// no longer reached (vanished, or ignored now) and reports vanished covered ones as deleted.
    fn sweep(&mut self, start: &str, visited: &HashSet<String>) -> Vec<(String, Seen)> {
        let lost: Vec<String> =
            subtree(&self.unwatchable, start).filter(|dir| !visited.contains(*dir)).cloned().collect();
        for dir in lost {
            self.unwatchable.remove(&dir);
        }
        let stale: Vec<String> = subtree(&self.watched, start).filter(|dir| !visited.contains(*dir)).cloned().collect();
        let mut found = Vec::new();
        for dir in stale {
            let path = self.absolute(&dir);
            // notify may have dropped it already (its deletion was seen): not finding it is fine.
            let _ = self.watcher.unwatch(&path);
            self.watched.remove(&dir);
            self.exclusion.forget(&dir);
            let vanished = fs::symlink_metadata(&path).is_err_and(|error| error.kind() == IoKind::NotFound);
            if vanished && self.scope.classify(&dir) == Coverage::Inside {
                found.push((dir, Seen::Deleted));
            }
        }
        found
    }

    fn add_watch(&mut self, dir: &str) -> Added {
        match self.watcher.watch(&self.absolute(dir), RecursiveMode::NonRecursive) {
            Ok(()) => Added::Watched,
            Err(error) => match error.kind {
                notify::ErrorKind::MaxFilesWatch => Added::Limit,
                notify::ErrorKind::PathNotFound => Added::Gone,
                notify::ErrorKind::Io(io) if matches!(io.kind(), IoKind::NotFound | IoKind::NotADirectory) => {
                    Added::Gone
                }
                notify::ErrorKind::Io(io) => Added::Failed(io.to_string()),
                notify::ErrorKind::Generic(text) => Added::Failed(text),
                other => Added::Failed(format!("{other:?}")),
            },
        }
    }

    /// The entries of `dir` with UTF-8 names; `None` if it cannot be listed (a problem is noted
    /// unless it simply vanished).
    fn list(&mut self, dir: &str) -> Option<Vec<Entry>> {
        let path = self.absolute(dir);
        let reader = match fs::read_dir(&path) {
            Ok(reader) => reader,
            Err(error) if matches!(error.kind(), IoKind::NotFound | IoKind::NotADirectory) => return None,
            Err(error) => {
                self.problems.push(problem::unwatchable_directory(&path, &error.to_string()));
                return None;
            }
        };
        let mut entries = Vec::new();
        for entry in reader.flatten() {
            let Ok(file_type) = entry.file_type() else { continue };
            match entry.file_name().into_string() {
                // Symlinks are not followed: a linked directory is reported like a file.
                Ok(name) => entries.push(Entry { name, is_dir: file_type.is_dir(), entry }),
                Err(name) => tracing::debug!(dir = %path.display(), ?name, "skipping a name that is not UTF-8"),
            }
        }
        Some(entries)
    }
}

/// The directories of `set` at or under `rel`: one range of the ordered set.
fn subtree<'a>(set: &'a BTreeSet<String>, rel: &'a str) -> impl Iterator<Item = &'a String> + 'a {
    set.range::<str, _>((Bound::Included(rel), Bound::Unbounded))
        .take_while(move |dir| dir.starts_with(rel))
        .filter(move |dir| is_within(dir, rel))
}

/// One directory entry.
struct Entry {
    name: String,
    is_dir: bool,
    entry: fs::DirEntry,
}
