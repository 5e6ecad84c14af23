//! The daemon's file watcher for `[watch]`: turns inotify events under the configured paths into
//! batches of project-relative changes (`src/main.rs` modified, `src/old.rs` deleted) that the
//! rule engine matches against globs such as `src/**/*.rs`.
//!
//! It uses notify's raw watcher, not `notify-debouncer-*`: the debouncers wake on a fixed tick
//! even when nothing happens, and an idle daemon must make zero wake-ups; they also add up to a
//! tick of latency. Here the batching thread blocks on a channel (without a timeout when nothing
//! is pending, until the batch's deadline otherwise), so a batch goes out `debounce` after the
//! last change and an idle watcher sleeps.
//!
//! Each directory is watched on its own, non-recursively: notify's recursive mode would walk and
//! watch ignored trees such as `target/` and `node_modules/`, one kernel watch per directory.
//! The parts:
//! - `scope`: which paths are configured; a path inside one, on the way to one, or outside.
//! - `exclusion`: ignore decisions (`.git/`, `.steward/`, `[watch] ignore`, `.gitignore` files).
//! - `merge` and `batch`: one entry per path with merged kinds; when a batch is due.
//! - `tree`: the watches, and the walks that add them (at start, for new directories, after a
//!   `.gitignore` edit, after lost events).
//! - `event_loop`: the thread; `problem`: what the user is told when something goes wrong.
//!
//! Known limits: deleted files are not found by the rescan that follows a kernel queue overflow
//! (only a snapshot of every file could tell, and the watcher keeps no per-file state; deleted
//! directories are found). Symlinked directories are not followed. Names that are not UTF-8 are
//! skipped. `.git/info/exclude` is read at start only (a configuration reload restarts the
//! watcher); `.gitignore` edits apply at once.

mod batch;
mod event_loop;
mod exclusion;
mod merge;
pub mod problem;
mod scope;
mod tree;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

use notify::Watcher as _;
use serde::{Deserialize, Serialize};

use event_loop::{Input, SharedStatus, State};
use exclusion::Exclusion;
use scope::Scope;
use tree::{Tree, Walk};

pub use batch::max_wait_for;

/// What to watch, from `[watch]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchSettings {
    /// The project root, absolute and canonical.
    pub root: PathBuf,
    /// Project-relative directories or files; `"."` or `""` (or an empty list) is the whole
    /// project. They may not exist yet: they are picked up when they appear.
    pub paths: Vec<String>,
    /// Lines in `.gitignore` syntax, relative to the root.
    pub ignore: Vec<String>,
    /// Quiet time before a batch is delivered; see `max_wait_for` for the longest wait.
    pub debounce: Duration,
}

/// What happened to a path, net over a batch (see the merge table in `merge.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    Create,
    Modify,
    Delete,
    /// Renamed to or away from this path. A save by an editor that writes a temporary file and
    /// renames it over the original shows up as `rename` of the original.
    Rename,
}

/// One changed path.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Project-relative, `'/'`-separated, no leading `./`. A file, or a directory that was itself
    /// deleted or renamed (directories are not reported otherwise).
    pub path: String,
    pub kind: ChangeKind,
}

/// Changes gathered over one quiet period.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeBatch {
    /// Sorted by path, one entry per path.
    pub changes: Vec<Change>,
    /// The kernel dropped events and the tree was rescanned: files modified since shortly before
    /// the previous batch are listed as `modify`, deletions of files may be missing.
    pub rescan: bool,
}

/// Something the user should know about the watcher.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatchProblem {
    /// `"watch_limit"` (see `problem::WATCH_LIMIT`) or `"error"`.
    pub kind: &'static str,
    /// What happened.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// The watcher's state for `status` output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatchStatus {
    /// Directories with a watch.
    pub directories: usize,
    /// Rescans after the kernel's event queue overflowed.
    pub rescans: u64,
    /// The problem to show: the watch limit once it was hit, else the latest error.
    pub problem: Option<WatchProblem>,
}

/// What the sink receives.
#[derive(Clone, Debug, PartialEq)]
pub enum WatchReport {
    Changes(ChangeBatch),
    /// Reported once per distinct problem (the watch limit once in all).
    Problem(WatchProblem),
}

/// Why the watcher could not start.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the project root {root} is not an absolute path; start the watcher with the canonical project root")]
    RootNotAbsolute { root: PathBuf },
    #[error(
        "the [watch] path `{path}` is outside the project {root}; list paths relative to the project root, without `..`"
    )]
    PathOutsideRoot { root: PathBuf, path: String },
    #[error("the [watch] ignore line `{line}` is not valid gitignore syntax ({reason}); fix or remove the line")]
    InvalidIgnore { line: String, reason: String },
    #[error(
        "cannot start watching {root}: {source}; if inotify instances are exhausted, raise the limit with \
         `sudo sysctl fs.inotify.max_user_instances=1024`"
    )]
    Init {
        root: PathBuf,
        #[source]
        source: notify::Error,
    },
    #[error("cannot watch the project root {root}: {reason}; check that the directory exists and is readable")]
    Root { root: PathBuf, reason: String },
    #[error("cannot start the file watcher's thread for {root}: {source}; the system is short of threads or memory")]
    Thread {
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    input: Option<Sender<Input>>,
    thread: Option<JoinHandle<()>>,
    status: Arc<SharedStatus>,
    root: PathBuf,
}

impl Watcher {
    /// Walks the configured paths, adds one watch per directory, then delivers reports to `sink`
    /// from the watcher's own thread. Blocking (it walks the tree): call it in `spawn_blocking`.
    ///
    /// Problems found while walking (the watch limit, unreadable directories) do not fail the
    /// start: they are reported to `sink` first, and everything that could be watched is.
    /// `sink` must not wait for whoever drops the watcher: the drop waits for the thread.
    pub fn start(settings: WatchSettings, sink: impl Fn(WatchReport) + Send + 'static) -> Result<Watcher, WatchError> {
        Watcher::start_with(settings, sink, Hooks::default())
    }

    fn start_with(
        settings: WatchSettings,
        sink: impl Fn(WatchReport) + Send + 'static,
        hooks: Hooks,
    ) -> Result<Watcher, WatchError> {
        let WatchSettings { root, paths, ignore, debounce } = settings;
        if !root.is_absolute() {
            return Err(WatchError::RootNotAbsolute { root });
        }
        let scope = Scope::new(&root, &paths)?;
        let exclusion = Exclusion::new(&root, &ignore)?;
        let started = SystemTime::now();
        let (input, receiver) = mpsc::channel();
        let handler = event_handler(input.clone(), hooks);
        let notify_watcher = notify::RecommendedWatcher::new(handler, notify::Config::default())
            .map_err(|source| WatchError::Init { root: root.clone(), source })?;
        let mut tree = Tree::new(root.clone(), scope, exclusion, notify_watcher);
        tree.walk("", Walk::Start);
        if !tree.is_watched("") && tree.unwatchable() == 0 {
            let problems = tree.take_problems();
            let reason = problems
                .first()
                .map_or("it does not exist or is not a directory".to_owned(), |problem| problem.message.clone());
            return Err(WatchError::Root { root, reason });
        }
        for target in tree.scope().targets() {
            let is_dir = std::fs::metadata(tree.absolute(target)).ok().map(|metadata| metadata.is_dir());
            if tree.exclusion().is_path_ignored(target, is_dir) {
                let why = "a [watch] path is ignored (by .gitignore or [watch] ignore); it is not watched";
                tracing::warn!(path = %target, "{why}");
            }
        }
        tracing::info!(root = %root.display(), directories = tree.watched_count(), "watching");
        let status = Arc::new(SharedStatus::default());
        let state = State::new(tree, debounce, Arc::clone(&status), started);
        let thread = std::thread::Builder::new()
            .name("steward-watch".to_owned())
            .spawn(move || event_loop::run_thread(state, receiver, sink))
            .map_err(|source| WatchError::Thread { root: root.clone(), source })?;
        Ok(Watcher { input: Some(input), thread: Some(thread), status, root })
    }

    pub fn status(&self) -> WatchStatus {
        self.status.snapshot()
    }
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("root", &self.root).field("status", &self.status()).finish()
    }
}

impl Drop for Watcher {
    /// Stops the thread and waits for it: notify's watches are removed and its thread has let go
    /// of the channel (bounded by a short grace period) before this returns; the sink is dropped.
    fn drop(&mut self) {
        if let Some(input) = self.input.take() {
            // Fails only if the thread is gone already, which is what we want.
            let _ = input.send(Input::Stop);
        }
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!(root = %self.root.display(), "the file watcher's thread ended with a panic");
        }
    }
}

/// The closure notify calls on its own thread: forwards what matters, drops the rest (opens and
/// reads are most of the traffic) without touching the channel.
fn event_handler(input: Sender<Input>, hooks: Hooks) -> impl FnMut(notify::Result<notify::Event>) + Send + 'static {
    move |result| {
        hooks.before_event();
        let forwarded = match result {
            Ok(event) if event.need_rescan() || event_loop::happened(&event.kind).is_some() => Input::Event(event),
            Ok(_) => return,
            Err(error) => Input::Error(error),
        };
        // Fails only while stopping, when nobody listens any more.
        let _ = input.send(forwarded);
    }
}

/// Test instrumentation of the event path; nothing in normal builds.
#[derive(Clone, Default)]
struct Hooks {
    /// Holds notify's thread inside the handler, so a test can overflow the kernel's queue.
    #[cfg(test)]
    gate: Option<Arc<tests::Gate>>,
}

impl Hooks {
    fn before_event(&self) {
        #[cfg(test)]
        if let Some(gate) = &self.gate {
            gate.pass();
        }
    }
}
