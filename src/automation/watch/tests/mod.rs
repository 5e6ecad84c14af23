//! The watcher against real files in temporary directories and real inotify.
//!
//! Nothing sleeps hoping something happened: tests wait for the sink's reports with a deadline. To
//! show that ignored paths produce nothing, a test writes them first and a sentinel file last;
//! events are handled in order, so the batch holding the sentinel holds anything written before
//! it. Some tests re-run this test binary as a child process (alone, so threads and file
//! descriptors can be counted, or inside a user namespace with a lowered watch limit); the child
//! runs one named test with `STEWARD_WATCH_TEST_CHILD` set, and that test does nothing otherwise.

mod changes;
mod ignoring;
mod limits;

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use super::{ChangeBatch, ChangeKind, Hooks, WatchReport, WatchSettings, Watcher};

/// Small, so the suite is fast, yet long enough that a busy machine does not split a step of
/// a test (a write and a rename) into two batches.
pub(super) const DEBOUNCE: Duration = Duration::from_millis(100);
/// Generous: only a failing test waits this long.
pub(super) const DEADLINE: Duration = Duration::from_secs(20);
/// Which child-process test to run, set only in child processes.
const CHILD_ENV: &str = "STEWARD_WATCH_TEST_CHILD";

/// A temporary project directory.
pub(super) struct Project {
    _tmp: tempfile::TempDir,
    pub root: PathBuf,
}

impl Project {
    /// A project holding `files` (paths ending in `/` are directories).
    pub(super) fn new(files: &[&str]) -> Project {
        Project::new_in(tempfile::tempdir().unwrap(), files)
    }

    /// A project in memory (tmpfs) where there is one: for tests that create thousands of files,
    /// which some disks make slow.
    pub(super) fn in_memory(files: &[&str]) -> Project {
        let shm = std::path::Path::new("/dev/shm");
        let tmp = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
        Project::new_in(tmp.unwrap(), files)
    }

    fn new_in(tmp: tempfile::TempDir, files: &[&str]) -> Project {
        let root = tmp.path().canonicalize().unwrap();
        let project = Project { _tmp: tmp, root };
        for rel in files {
            match rel.strip_suffix('/') {
                Some(dir) => project.mkdir(dir),
                None => project.write(rel, "initial\n"),
            }
        }
        project
    }

    pub(super) fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// Writes `rel`, creating its directories.
    pub(super) fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    pub(super) fn append(&self, rel: &str) {
        use std::io::Write;
        let mut file = fs::OpenOptions::new().append(true).open(self.path(rel)).unwrap();
        file.write_all(b"more\n").unwrap();
    }

    pub(super) fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.path(rel)).unwrap();
    }

    pub(super) fn rename(&self, from: &str, to: &str) {
        fs::rename(self.path(from), self.path(to)).unwrap();
    }

    pub(super) fn settings(&self, paths: &[&str], ignore: &[&str]) -> WatchSettings {
        WatchSettings {
            root: self.root.clone(),
            paths: paths.iter().map(|path| path.to_string()).collect(),
            ignore: ignore.iter().map(|line| line.to_string()).collect(),
            debounce: DEBOUNCE,
        }
    }
}

/// A started watcher and what its sink received.
pub(super) struct Watching {
    pub watcher: Watcher,
    reports: Receiver<WatchReport>,
}

impl Watching {
    pub(super) fn start(project: &Project, paths: &[&str], ignore: &[&str]) -> Watching {
        Watching::start_with(project.settings(paths, ignore), Hooks::default())
    }

    pub(super) fn start_with(settings: WatchSettings, hooks: Hooks) -> Watching {
        let (sender, reports) = mpsc::channel();
        let watcher = Watcher::start_with(settings, move |report| drop(sender.send(report)), hooks).unwrap();
        Watching { watcher, reports }
    }

    /// The next report, failing the test at the deadline.
    pub(super) fn next_report(&self) -> WatchReport {
        self.reports.recv_timeout(DEADLINE).expect("a report before the deadline")
    }

    pub(super) fn next_batch(&self) -> ChangeBatch {
        match self.next_report() {
            WatchReport::Changes(batch) => batch,
            WatchReport::Problem(problem) => panic!("expected changes, got a problem: {problem:?}"),
        }
    }

    /// Batches until every path of `expected` was seen; asserts each path's first kind and that no
    /// other path came. (Usually one batch; a slow machine may split an operation in two.)
    pub(super) fn expect(&self, expected: &[(&str, ChangeKind)]) {
        let wanted: BTreeMap<&str, ChangeKind> = expected.iter().copied().collect();
        let mut seen: BTreeMap<String, ChangeKind> = BTreeMap::new();
        while !wanted.keys().all(|path| seen.contains_key(*path)) {
            for change in self.next_batch().changes {
                seen.entry(change.path).or_insert(change.kind);
            }
        }
        let seen: Vec<(&str, ChangeKind)> = seen.iter().map(|(path, kind)| (path.as_str(), *kind)).collect();
        let wanted: Vec<(&str, ChangeKind)> = wanted.into_iter().collect();
        assert_eq!(seen, wanted);
    }

    /// Nothing more is pending: what the sink got is all there was (the sink is gone).
    pub(super) fn stop(self) -> Vec<WatchReport> {
        let Watching { watcher, reports } = self;
        drop(watcher);
        let mut rest = Vec::new();
        loop {
            match reports.try_recv() {
                Ok(report) => rest.push(report),
                Err(mpsc::TryRecvError::Disconnected) => return rest,
                Err(mpsc::TryRecvError::Empty) => panic!("the sink is still alive after the watcher was dropped"),
            }
        }
    }
}

/// Holds notify's thread inside the event handler while closed.
#[derive(Default)]
pub(super) struct Gate {
    closed: Mutex<bool>,
    reopened: Condvar,
    /// Told once when a handler call is held.
    held: Mutex<Option<Sender<()>>>,
}

impl Gate {
    /// Closes the gate; the receiver hears when notify's thread is held.
    pub(super) fn close(&self) -> Receiver<()> {
        let (sender, receiver) = mpsc::channel();
        *self.held.lock().unwrap() = Some(sender);
        *self.closed.lock().unwrap() = true;
        receiver
    }

    pub(super) fn open(&self) {
        *self.closed.lock().unwrap() = false;
        self.reopened.notify_all();
    }

    pub(super) fn pass(&self) {
        let mut closed = self.closed.lock().unwrap();
        if *closed && let Some(held) = self.held.lock().unwrap().take() {
            let _ = held.send(());
        }
        while *closed {
            closed = self.reopened.wait(closed).unwrap();
        }
    }
}

pub(super) fn hooks_with_gate(gate: &Arc<Gate>) -> Hooks {
    Hooks { gate: Some(Arc::clone(gate)) }
}

/// Waits until `condition` holds, failing the test at the deadline.
pub(super) fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Whether this process is the child running test `name`.
pub(super) fn is_child(name: &str) -> bool {
    std::env::var(CHILD_ENV).as_deref() == Ok(name)
}

/// Runs test `test` (a path below this crate, e.g. `automation::watch::tests::limits::x`) alone
/// in a child process marked as `name`, through `wrapper` (a command and its arguments, which
/// must run the rest of its arguments) if given. Asserts the child passed and actually ran it.
pub(super) fn run_child(name: &str, test: &str, wrapper: &[&str]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let mut command = match wrapper.split_first() {
        Some((program, args)) => {
            let mut command = Command::new(program);
            command.args(args).arg(&exe);
            command
        }
        None => Command::new(&exe),
    };
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]).env(CHILD_ENV, name);
    let output = match command.output() {
        Ok(output) => output,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            panic!("cannot run {wrapper:?}: not installed ({error}); install util-linux, which provides `unshare`")
        }
        Err(error) => panic!("cannot run the child test {test}: {error}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "the child test {test} failed ({}):\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("1 passed"), "the child did not run {test}:\n{stdout}\n{stderr}");
    output
}

/// `module_path!()` of a test module without the crate name, for `--exact`.
pub(super) fn test_path(module: &str, test: &str) -> String {
    let below_crate = module.split_once("::").map_or(module, |(_, rest)| rest);
    format!("{below_crate}::{test}")
}

/// The path and kind of each change, for comparing.
pub(super) fn pairs(batch: &ChangeBatch) -> Vec<(&str, ChangeKind)> {
    batch.changes.iter().map(|change| (change.path.as_str(), change.kind)).collect()
}
