//! The watcher's thread: takes notify's events from a channel, keeps the watches in step with the
//! tree (new directories, deleted ones, `.gitignore` edits, lost events), gathers changes into
//! the batch and hands batches and problems to the sink.
//!
//! The thread blocks on the channel: without a timeout while no batch is pending (an idle watcher
//! never wakes), with `recv_timeout` until the batch's deadline otherwise. It never polls.

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use notify::EventKind;
use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind, RemoveKind, RenameMode};

use super::batch::Batch;
use super::merge::Seen;
use super::problem::{self, WATCH_LIMIT};
use super::scope::{Coverage, name_of, parent_of};
use super::tree::{Tree, Walk};
use super::{WatchProblem, WatchReport, WatchStatus};

/// Files changed this long before the last delivery are still reported by a rescan: events may
/// have been lost just before it, and file times can lag the clock slightly.
const RESCAN_MARGIN: Duration = Duration::from_secs(2);
/// How long a stopping thread waits for notify's thread to let go of the channel.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// Distinct error messages reported at most; beyond that they are only logged.
const MAX_REPORTED_ERRORS: usize = 100;

/// What the thread receives: notify's events and errors (from notify's thread), and `Stop`.
pub(super) enum Input {
    Event(notify::Event),
    Error(notify::Error),
    Stop,
}

/// What happened to a path, from notify's event kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum What {
    Created,
    Modified,
    Removed,
    MovedAway,
    MovedHere,
    /// A rename whose direction the platform did not say: decided by whether the path exists.
    Renamed,
}

/// An event reduced to what the watcher needs; `dir` is `None` when the kind does not say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Happened {
    pub what: What,
    pub dir: Option<bool>,
}

/// The event kinds that matter. Opens and closes without writing, and notify's extra
/// "both paths" rename event (its halves arrive too), do not.
pub(super) fn happened(kind: &EventKind) -> Option<Happened> {
    let (what, dir) = match kind {
        EventKind::Create(CreateKind::Folder) => (What::Created, Some(true)),
        EventKind::Create(CreateKind::File) => (What::Created, Some(false)),
        EventKind::Create(_) => (What::Created, None),
        EventKind::Modify(ModifyKind::Name(RenameMode::From)) => (What::MovedAway, None),
        EventKind::Modify(ModifyKind::Name(RenameMode::To)) => (What::MovedHere, None),
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) => return None,
        EventKind::Modify(ModifyKind::Name(_)) => (What::Renamed, None),
        EventKind::Modify(ModifyKind::Data(_)) => (What::Modified, Some(false)),
        // Metadata changes come for directories too (the event does not say which).
        EventKind::Modify(_) => (What::Modified, None),
        EventKind::Access(AccessKind::Close(AccessMode::Write)) => (What::Modified, Some(false)),
        EventKind::Access(_) => return None,
        EventKind::Remove(RemoveKind::Folder) => (What::Removed, Some(true)),
        EventKind::Remove(RemoveKind::File) => (What::Removed, Some(false)),
        EventKind::Remove(_) => (What::Removed, None),
        EventKind::Any | EventKind::Other => return None,
    };
    Some(Happened { what, dir })
}

/// What `status()` reads, written by the thread.
#[derive(Debug, Default)]
pub(super) struct SharedStatus {
    directories: AtomicUsize,
    rescans: AtomicU64,
    problem: Mutex<Option<WatchProblem>>,
}

impl SharedStatus {
    pub(super) fn snapshot(&self) -> WatchStatus {
        WatchStatus {
            directories: self.directories.load(Ordering::Relaxed),
            rescans: self.rescans.load(Ordering::Relaxed),
            problem: self.problem.lock().unwrap_or_else(PoisonError::into_inner).clone(),
        }
    }

    /// The watch limit stays the problem shown once it happened: it is the one that needs the
    /// user to act.
    fn set_problem(&self, problem: &WatchProblem) {
        let mut current = self.problem.lock().unwrap_or_else(PoisonError::into_inner);
        if problem.kind == WATCH_LIMIT || current.as_ref().is_none_or(|held| held.kind != WATCH_LIMIT) {
            *current = Some(problem.clone());
        }
    }
}

/// Everything the thread keeps.
pub(super) struct State {
    tree: Tree,
    batch: Batch,
    status: Arc<SharedStatus>,
    /// Reports waiting for the sink.
    outbox: Vec<WatchReport>,
    reported_errors: HashSet<String>,
    /// The unwatchable count last shown in the status; whether the limit was reported (once).
    limit_shown: usize,
    limit_reported: bool,
    /// When the last batch went out (start, before any), for the rescan's time window.
    last_delivery: SystemTime,
}

impl State {
    /// Takes over a tree walked at `started`; problems of the walk are queued.
    pub(super) fn new(tree: Tree, debounce: Duration, status: Arc<SharedStatus>, started: SystemTime) -> State {
        let mut state = State {
            tree,
            batch: Batch::new(debounce),
            status,
            outbox: Vec::new(),
            reported_errors: HashSet::new(),
            limit_shown: 0,
            limit_reported: false,
            last_delivery: started,
        };
        state.note_tree_work();
        state
    }

    pub(super) fn deadline(&self) -> Option<Instant> {
        self.batch.deadline()
    }

    pub(super) fn take_outbox(&mut self) -> Vec<WatchReport> {
        std::mem::take(&mut self.outbox)
    }

    pub(super) fn handle_error(&mut self, error: &notify::Error) {
        tracing::warn!(%error, "the file watcher reported an error");
        self.report_error(problem::watcher_error(error));
    }

    pub(super) fn handle_event(&mut self, event: &notify::Event) {
        if event.need_rescan() {
            tracing::warn!("the kernel's event queue overflowed; rescanning the watched tree");
            self.batch.request_rescan(Instant::now());
        }
        if let Some(happened) = happened(&event.kind) {
            for path in &event.paths {
                self.handle_path(path, happened);
            }
        }
        self.note_tree_work();
    }

    fn handle_path(&mut self, path: &Path, happened: Happened) {
        let Some(rel) = self.tree.relative(path) else { return };
        if rel.is_empty() {
            if matches!(happened.what, What::Removed | What::MovedAway) {
                let problem = problem::root_gone(self.tree.root());
                self.report_error(problem);
            }
            return;
        }
        let parent = parent_of(&rel);
        let is_watched_dir = self.tree.is_watched(&rel);
        // Events from a directory whose watch was just dropped, still queued: not ours any more.
        if !self.tree.is_watched(parent) && !is_watched_dir {
            return;
        }
        if name_of(&rel) == ".gitignore" && self.tree.is_watched(parent) {
            let found = self.tree.gitignore_changed(parent);
            self.observe_all(found);
        }
        let exists = || std::fs::symlink_metadata(path).ok().map(|metadata| metadata.is_dir());
        let what = match happened.what {
            What::Renamed if exists().is_some() => What::MovedHere,
            What::Renamed => What::MovedAway,
            what => what,
        };
        match what {
            What::Removed | What::MovedAway => {
                // Also for a directory that could not be watched (no watch, but counted).
                if is_watched_dir || happened.dir != Some(false) {
                    self.tree.forget_subtree(&rel);
                }
                let dir = if is_watched_dir { Some(true) } else { happened.dir };
                let seen = if what == What::Removed { Seen::Deleted } else { Seen::MovedAway };
                self.observe_if_reported(rel, seen, dir);
            }
            // (`Renamed` was resolved to one of its directions above.)
            What::Created | What::Modified | What::MovedHere | What::Renamed => {
                let dir = if is_watched_dir { Some(true) } else { happened.dir.or_else(exists) };
                match (dir, what) {
                    // A directory's own metadata changed: directories are not reported for that.
                    (Some(true), What::Modified) => {}
                    (Some(true), _) => self.directory_appeared(rel, what == What::MovedHere),
                    (_, What::Created) => self.observe_if_reported(rel, Seen::Created, dir),
                    (_, What::MovedHere) => self.observe_if_reported(rel, Seen::MovedHere, dir),
                    _ => self.observe_if_reported(rel, Seen::Modified, dir),
                }
            }
        }
    }

    /// A directory was created, or renamed into place: watch it (and its subdirectories), and
    /// report the files already in it, which were created before the watch could see them.
    fn directory_appeared(&mut self, rel: String, renamed: bool) {
        let coverage = self.tree.scope().classify(&rel);
        if coverage == Coverage::Outside || self.tree.exclusion().is_ignored(&rel, Some(true)) {
            return;
        }
        if !renamed && self.tree.is_watched(&rel) {
            return;
        }
        let seen = if renamed { Seen::MovedHere } else { Seen::Created };
        let found = self.tree.walk(&rel, Walk::Appeared(seen));
        self.observe_all(found);
        // A directory renamed into place is itself reported; a created one is not (its files are).
        if renamed && coverage == Coverage::Inside {
            self.batch.observe(rel, seen, Instant::now());
        }
    }

    /// Adds the change of `rel` to the batch if it is covered and not ignored.
    fn observe_if_reported(&mut self, rel: String, seen: Seen, dir: Option<bool>) {
        if self.tree.scope().classify(&rel) == Coverage::Inside && !self.tree.exclusion().is_ignored(&rel, dir) {
            self.batch.observe(rel, seen, Instant::now());
        }
    }

    fn observe_all(&mut self, found: Vec<(String, Seen)>) {
        let now = Instant::now();
        for (rel, seen) in found {
            self.batch.observe(rel, seen, now);
        }
    }

    /// Delivers the batch if its deadline has passed; a requested rescan runs first.
    pub(super) fn deliver_if_due(&mut self, now: Instant) {
        if !self.batch.is_due(now) {
            return;
        }
        if self.batch.rescan_requested() {
            let since = self.last_delivery.checked_sub(RESCAN_MARGIN).unwrap_or(SystemTime::UNIX_EPOCH);
            let found = self.tree.walk("", Walk::Rescan { since });
            tracing::info!(changed = found.len(), "rescanned after lost events");
            self.observe_all(found);
            self.status.rescans.fetch_add(1, Ordering::Relaxed);
            self.note_tree_work();
        }
        if let Some(batch) = self.batch.take() {
            self.last_delivery = SystemTime::now();
            tracing::debug!(changes = batch.changes.len(), rescan = batch.rescan, "delivering a batch");
            self.outbox.push(WatchReport::Changes(batch));
        }
    }

    /// After the tree changed: publishes the directory count and queues new problems.
    fn note_tree_work(&mut self) {
        self.status.directories.store(self.tree.watched_count(), Ordering::Relaxed);
        for problem in self.tree.take_problems() {
            self.report_error(problem);
        }
        let unwatchable = self.tree.unwatchable();
        if unwatchable > 0 && unwatchable != self.limit_shown {
            self.limit_shown = unwatchable;
            let problem = problem::watch_limit(unwatchable, problem::current_watch_limit());
            tracing::warn!(message = %problem.message, fix = %problem.fix, "inotify watch limit reached");
            self.status.set_problem(&problem);
            // Once: the status keeps the count current, the sink is not flooded.
            if !self.limit_reported {
                self.limit_reported = true;
                self.outbox.push(WatchReport::Problem(problem));
            }
        }
    }

    /// Queues `problem` unless the same message was reported before.
    fn report_error(&mut self, problem: WatchProblem) {
        if self.reported_errors.contains(&problem.message) {
            return;
        }
        if self.reported_errors.len() >= MAX_REPORTED_ERRORS {
            tracing::warn!(message = %problem.message, "too many distinct watcher problems; logging only");
            return;
        }
        tracing::warn!(message = %problem.message, fix = %problem.fix, "file watcher problem");
        self.reported_errors.insert(problem.message.clone());
        self.status.set_problem(&problem);
        self.outbox.push(WatchReport::Problem(problem));
    }
}

/// The thread's body: runs until `Stop`, then shuts notify down and waits (briefly) until its
/// thread has let go of the channel. A panic (none is expected; notify has a few internal
/// `unwrap`s) is caught and reported instead of silently ending the watching.
pub(super) fn run_thread(state: State, input: Receiver<Input>, sink: impl Fn(WatchReport)) {
    let root = state.tree.root().to_path_buf();
    let span = tracing::info_span!("watcher", root = %root.display());
    let _entered = span.enter();
    // `run` owns the state: when it returns or unwinds, notify's watcher is dropped (shut down).
    let outcome = catch_unwind(AssertUnwindSafe(|| run(state, &input, &sink)));
    let grace = Instant::now() + SHUTDOWN_GRACE;
    loop {
        match input.recv_timeout(grace.saturating_duration_since(Instant::now())) {
            Ok(_) => {}
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {
                tracing::debug!("notify's thread did not stop in time; leaving it to finish alone");
                break;
            }
        }
    }
    if outcome.is_err() {
        tracing::error!("the file watcher's thread panicked");
        sink(WatchReport::Problem(problem::stopped(&root)));
    }
}

fn run(mut state: State, input: &Receiver<Input>, sink: &impl Fn(WatchReport)) {
    loop {
        for report in state.take_outbox() {
            sink(report);
        }
        let received = match state.deadline() {
            None => input.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(deadline) => input.recv_timeout(deadline.saturating_duration_since(Instant::now())),
        };
        match received {
            Ok(Input::Event(event)) => state.handle_event(&event),
            Ok(Input::Error(error)) => state.handle_error(&error),
            Ok(Input::Stop) | Err(RecvTimeoutError::Disconnected) => return,
            Err(RecvTimeoutError::Timeout) => {}
        }
        state.deliver_if_due(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use notify::event::{DataChange, MetadataKind};

    use super::*;

    #[test]
    fn event_kinds_that_matter() {
        let happens = |what, dir| Some(Happened { what, dir });
        let cases: Vec<(EventKind, Option<Happened>)> = vec![
            (EventKind::Create(CreateKind::Folder), happens(What::Created, Some(true))),
            (EventKind::Create(CreateKind::File), happens(What::Created, Some(false))),
            (EventKind::Create(CreateKind::Any), happens(What::Created, None)),
            (EventKind::Modify(ModifyKind::Data(DataChange::Any)), happens(What::Modified, Some(false))),
            (EventKind::Modify(ModifyKind::Metadata(MetadataKind::Any)), happens(What::Modified, None)),
            (EventKind::Modify(ModifyKind::Name(RenameMode::From)), happens(What::MovedAway, None)),
            (EventKind::Modify(ModifyKind::Name(RenameMode::To)), happens(What::MovedHere, None)),
            (EventKind::Modify(ModifyKind::Name(RenameMode::Both)), None),
            (EventKind::Modify(ModifyKind::Name(RenameMode::Any)), happens(What::Renamed, None)),
            (EventKind::Access(AccessKind::Close(AccessMode::Write)), happens(What::Modified, Some(false))),
            (EventKind::Access(AccessKind::Close(AccessMode::Read)), None),
            (EventKind::Access(AccessKind::Open(AccessMode::Any)), None),
            (EventKind::Remove(RemoveKind::Folder), happens(What::Removed, Some(true))),
            (EventKind::Remove(RemoveKind::File), happens(What::Removed, Some(false))),
            (EventKind::Remove(RemoveKind::Other), happens(What::Removed, None)),
            (EventKind::Other, None),
            (EventKind::Any, None),
        ];
        for (kind, expected) in cases {
            assert_eq!(happened(&kind), expected, "{kind:?}");
        }
    }

    #[test]
    fn the_watch_limit_stays_the_problem_shown() {
        let status = SharedStatus::default();
        let error = |message: &str| WatchProblem { kind: problem::ERROR, message: message.into(), fix: String::new() };
        status.set_problem(&error("first"));
        assert_eq!(status.snapshot().problem.unwrap().message, "first");
        status.set_problem(&problem::watch_limit(2, None));
        status.set_problem(&error("later"));
        assert_eq!(status.snapshot().problem.unwrap().kind, WATCH_LIMIT);
        status.set_problem(&problem::watch_limit(3, None));
        assert!(status.snapshot().problem.unwrap().message.starts_with("3 directories"));
    }
}
