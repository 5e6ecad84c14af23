//! The git adapter of the GitHub sessions: fetching the default branch, one worktree per issue
//! (`.steward/worktrees/issue-N` on branch `steward/issue-N`), what a session committed, pushing it.
//!
//! Every function is blocking and runs `git -C <dir>` directly, never through a shell; callers
//! wrap it in `spawn_blocking`. git never gets a terminal or stdin, so it cannot stop to ask for
//! credentials, and each command has a deadline after which it is killed with everything it
//! started. Errors name the command, the directory and git's own message.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Deadline of commands that only touch the local repository.
const LOCAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Deadline of commands that talk to `origin` or check out a whole tree.
const LONG_TIMEOUT: Duration = Duration::from_secs(600);

/// How long to wait for git's output once git itself has ended. A helper git started in the
/// background can keep the pipes open; its output is not worth blocking the session for.
const OUTPUT_GRACE: Duration = Duration::from_secs(5);

/// Most characters of git's stderr kept in an error message (the end, where git says why).
const MAX_STDERR_CHARS: usize = 2000;

/// The file a session writes its question to; it is never part of the work.
const QUESTION_FILE: &str = ".steward/question.md";

/// Variables that would point git at another repository than the `-C` directory (they are set
/// when the daemon or the tests are started from a git hook).
const REPOSITORY_ENV: [&str; 8] = [
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_PREFIX",
];

/// What to do about a failure, chosen by a phrase of git's message (git runs with `LC_ALL=C`).
const ADVICE: &[(&str, &str)] = &[
    ("not a git repository", "the directory must be inside a git checkout"),
    ("terminal prompts disabled", CREDENTIALS),
    ("could not read Username", CREDENTIALS),
    ("Authentication failed", CREDENTIALS),
    ("Permission denied (publickey)", CREDENTIALS),
    ("Host key verification failed", "add origin's host key to the known_hosts of the user running steward"),
    ("Could not resolve host", "check the network and the URL of `origin` (git remote -v)"),
    ("does not appear to be a git repository", "check that the `origin` remote exists and is right (git remote -v)"),
    ("couldn't find remote ref", "the branch does not exist on origin; check the default branch's name"),
    (
        "stale info",
        "the branch on origin changed since steward last pushed it; fetch it and keep those commits, \
         or delete the branch on origin",
    ),
    ("already checked out at", IN_OTHER_WORKTREE),
    ("is already used by worktree", IN_OTHER_WORKTREE),
    ("missing but locked worktree", "unlock it with `git worktree unlock <path>`, then run `git worktree prune`"),
    ("index.lock", "another git process works in this repository; if none does, delete the stale .lock file"),
];

const CREDENTIALS: &str =
    "git needs credentials for origin; set up a credential helper or an SSH key for the user running steward";

const IN_OTHER_WORKTREE: &str =
    "the branch is checked out in another worktree; remove that worktree or switch it to another branch";

/// A session's working copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Worktree {
    /// Absolute and canonical.
    pub path: PathBuf,
    /// `steward/issue-N`.
    pub branch: String,
}

/// Why a git step failed.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    #[error("cannot run `{command}` in {}: {source}; check that git is installed and on PATH", dir.display())]
    Spawn { command: String, dir: PathBuf, source: io::Error },
    #[error("`{command}` failed in {} ({status}): {}{}", dir.display(), stderr_or_silence(stderr), advice_suffix(*advice))]
    Failed { command: String, dir: PathBuf, status: String, stderr: String, advice: Option<&'static str> },
    #[error("`{command}` in {} did not finish within {after:?} and was killed; {advice}", dir.display())]
    TimedOut { command: String, dir: PathBuf, after: Duration, advice: &'static str },
    #[error("`{command}` in {} printed {output:?}, which is not what steward expects from git", dir.display())]
    Unexpected { command: String, dir: PathBuf, output: String },
    #[error(
        "{} has no refs/remotes/origin/{branch}; push the default branch `{branch}` to origin, \
         check that `origin` is the right remote and `{branch}` its default branch, then fetch again",
        dir.display()
    )]
    NoDefaultBranch { dir: PathBuf, branch: String },
    #[error(
        "{} exists but is not a worktree of the repository at {}; move it away (steward never deletes it)",
        path.display(),
        root.display()
    )]
    NotAWorktree { path: PathBuf, root: PathBuf },
    #[error("the worktree {} is on {found}, not on {expected}; check out {expected} there or remove the worktree", path.display())]
    WrongBranch { path: PathBuf, expected: String, found: String },
    #[error("refusing to remove {}: only directories inside {} are steward's worktrees", path.display(), worktrees.display())]
    OutsideWorktrees { path: PathBuf, worktrees: PathBuf },
    #[error("invalid branch name {name:?}; use a plain git branch name such as `main`")]
    BadBranchName { name: String },
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
}

fn stderr_or_silence(stderr: &str) -> &str {
    if stderr.is_empty() { "git printed no message" } else { stderr }
}

fn advice_suffix(advice: Option<&'static str>) -> String {
    advice.map(|advice| format!("; {advice}")).unwrap_or_default()
}

/// `steward/issue-N`.
pub fn branch_name(issue: u64) -> String {
    format!("steward/issue-{issue}")
}

/// `<project_root>/.steward/worktrees/issue-N`.
pub fn worktree_path(project_root: &Path, issue: u64) -> PathBuf {
    worktrees_dir(project_root).join(format!("issue-{issue}"))
}

fn worktrees_dir(project_root: &Path) -> PathBuf {
    project_root.join(".steward").join("worktrees")
}

/// Fetches `origin <default_branch>` in the main checkout.
pub fn fetch(project_root: &Path, default_branch: &str) -> Result<(), GitError> {
    check_branch_name(default_branch)?;
    // An explicit refspec updates the remote-tracking ref even in single-branch clones.
    let refspec = format!("+refs/heads/{default_branch}:refs/remotes/origin/{default_branch}");
    git(project_root).long().args(["fetch", "--no-tags", "origin"]).arg(refspec).run()?;
    Ok(())
}

/// Makes sure the issue's worktree exists on its branch, idempotently, and returns whether it
/// created anything. An existing worktree is kept as it is; a vanished one is recreated from the
/// local branch, else from the branch on origin, else as a new branch from
/// `origin/<default_branch>`. A directory at the path that is not a worktree of this repository
/// is an error and is left alone (an empty directory is used).
pub fn ensure_worktree(project_root: &Path, issue: u64, default_branch: &str) -> Result<(Worktree, bool), GitError> {
    check_branch_name(default_branch)?;
    let root = canonical(project_root)?;
    let branch = branch_name(issue);
    let path = resolve(&worktree_path(&root, issue));
    let registered = registered_worktrees(&root)?;
    let entry = registered.iter().find(|entry| resolve(&entry.path) == path);
    let exists = fs::symlink_metadata(&path).is_ok();

    if let Some(entry) = entry.filter(|entry| exists && !entry.prunable) {
        let expected = format!("refs/heads/{branch}");
        return match &entry.branch {
            Some(found) if *found == expected => Ok((Worktree { path, branch }, false)),
            found => Err(GitError::WrongBranch {
                path,
                expected: branch,
                found: found.as_ref().map_or("a detached HEAD".to_owned(), |found| format!("branch {found}")),
            }),
        };
    }
    if exists && !is_empty_dir(&path) {
        return Err(GitError::NotAWorktree { path, root });
    }
    // Stale registrations (this path's or another that holds the branch) block `worktree add`.
    git(&root).args(["worktree", "prune"]).run()?;

    let local = format!("refs/heads/{branch}");
    let remote = format!("refs/remotes/origin/{branch}");
    if ref_exists(&root, &local)? {
        git(&root).long().args(["worktree", "add"]).arg(&path).arg(&branch).run()?;
    } else if ref_exists(&root, &remote)? {
        git(&root).args(["branch", "--track"]).arg(&branch).arg(&remote).run()?;
        git(&root).long().args(["worktree", "add"]).arg(&path).arg(&branch).run()?;
    } else {
        let base = format!("refs/remotes/origin/{default_branch}");
        if !ref_exists(&root, &base)? {
            return Err(GitError::NoDefaultBranch { dir: root, branch: default_branch.to_owned() });
        }
        // No upstream: the branch does not follow the default branch, it is pushed under its own name.
        git(&root).long().args(["worktree", "add", "--no-track", "-b"]).arg(&branch).arg(&path).arg(&base).run()?;
    }
    Ok((Worktree { path: canonical(&path)?, branch }, true))
}

/// Commits on HEAD of the worktree that `origin/<default_branch>` lacks: how many, and the
/// subjects of up to `max` of them, newest first.
pub fn commits_ahead(worktree: &Path, default_branch: &str, max: usize) -> Result<(u64, Vec<String>), GitError> {
    check_branch_name(default_branch)?;
    let base = format!("refs/remotes/origin/{default_branch}");
    if !ref_exists(worktree, &base)? {
        return Err(GitError::NoDefaultBranch { dir: worktree.to_owned(), branch: default_branch.to_owned() });
    }
    let range = format!("{base}..HEAD");
    let command = git(worktree).args(["rev-list", "--count", &range, "--"]);
    let output = command.run()?;
    let count = output.trim().parse::<u64>().map_err(|_| command.unexpected(&output))?;
    if count == 0 || max == 0 {
        return Ok((count, Vec::new()));
    }
    let subjects = git(worktree)
        .args(["log", "--no-show-signature", "--format=%s"])
        .arg(format!("--max-count={max}"))
        .args([range.as_str(), "--"])
        .run()?;
    Ok((count, subjects.lines().map(str::to_owned).collect()))
}

/// The commit checked out in the worktree (`git rev-parse HEAD`).
pub fn head_sha(worktree: &Path) -> Result<String, GitError> {
    let command = git(worktree).args(["rev-parse", "--verify", "HEAD"]);
    let output = command.run()?;
    let sha = output.trim();
    if sha.is_empty() || !sha.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(command.unexpected(&output));
    }
    Ok(sha.to_owned())
}

/// Pushes the branch to the same name on origin. Rewritten history is pushed over the old one,
/// but only while origin still has what steward pushed last (`--force-with-lease`), so commits
/// someone else pushed to the branch are never lost.
pub fn push(worktree: &Path, branch: &str) -> Result<(), GitError> {
    check_branch_name(branch)?;
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    git(worktree).long().args(["push", "--force-with-lease", "origin"]).arg(refspec).run()?;
    Ok(())
}

/// Whether the worktree has uncommitted changes, tracked or untracked; the session's question
/// file does not count.
pub fn is_dirty(worktree: &Path) -> Result<bool, GitError> {
    // Optional locks off: an agent's own git commands in the worktree must not collide with ours.
    let output = git(worktree)
        .args(["--no-optional-locks", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--no-renames"])
        .run_bytes()?;
    // Each entry is `XY <path>`, NUL-terminated; without renames there is one path per entry.
    Ok(output
        .split(|&byte| byte == 0)
        .filter(|entry| !entry.is_empty())
        .any(|entry| entry.get(3..) != Some(QUESTION_FILE.as_bytes())))
}

/// Removes a session's worktree (`git worktree remove --force`, then `git worktree prune`).
/// Only paths strictly inside `<project_root>/.steward/worktrees/` are accepted, never the
/// main checkout. A path that no longer exists only prunes; a directory there that is not a
/// registered worktree is left alone and reported.
pub fn remove_worktree(project_root: &Path, path: &Path) -> Result<(), GitError> {
    let root = canonical(project_root)?;
    let worktrees = resolve(&worktrees_dir(&root));
    let target = resolve(&if path.is_absolute() { path.to_owned() } else { root.join(path) });
    let outside = GitError::OutsideWorktrees { path: path.to_owned(), worktrees: worktrees.clone() };
    if target == worktrees || !target.starts_with(&worktrees) || target == root || has_parent_step(&target) {
        return Err(outside);
    }
    if fs::symlink_metadata(&target).is_err() {
        git(&root).args(["worktree", "prune"]).run()?;
        return Ok(());
    }
    let registered = registered_worktrees(&root)?;
    // The first entry is the main checkout.
    if registered.first().is_some_and(|main| resolve(&main.path) == target) {
        return Err(outside);
    }
    if !registered.iter().any(|entry| resolve(&entry.path) == target) {
        return Err(GitError::NotAWorktree { path: target, root });
    }
    git(&root).long().args(["worktree", "remove", "--force"]).arg(&target).run()?;
    git(&root).args(["worktree", "prune"]).run()?;
    Ok(())
}

/// The directories directly under `<project_root>/.steward/worktrees/`, absolute and sorted;
/// none when that directory does not exist.
pub fn list_worktree_dirs(project_root: &Path) -> Result<Vec<PathBuf>, GitError> {
    let dir = worktrees_dir(&canonical(project_root)?);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(GitError::Io { path: dir, source }),
    };
    let mut dirs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| GitError::Io { path: dir.clone(), source })?;
        let file_type = entry.file_type().map_err(|source| GitError::Io { path: entry.path(), source })?;
        if file_type.is_dir() {
            dirs.push(entry.path());
        }
    }
    dirs.sort();
    Ok(dirs)
}

/// One entry of `git worktree list --porcelain`.
#[derive(Debug)]
struct Registered {
    path: PathBuf,
    /// `refs/heads/...`, or `None` when detached (or bare).
    branch: Option<String>,
    /// git knows the directory is gone.
    prunable: bool,
}

/// The worktrees of the repository that `dir` belongs to, the main checkout first.
fn registered_worktrees(dir: &Path) -> Result<Vec<Registered>, GitError> {
    let output = git(dir).args(["worktree", "list", "--porcelain"]).run_bytes()?;
    let mut entries: Vec<Registered> = Vec::new();
    for line in output.split(|&byte| byte == b'\n') {
        if let Some(path) = line.strip_prefix(b"worktree ") {
            let path = PathBuf::from(OsStr::from_bytes(path));
            entries.push(Registered { path, branch: None, prunable: false });
        } else if let Some(entry) = entries.last_mut() {
            if let Some(branch) = line.strip_prefix(b"branch ") {
                entry.branch = Some(String::from_utf8_lossy(branch).into_owned());
            } else if line.starts_with(b"prunable") {
                entry.prunable = true;
            }
        }
    }
    Ok(entries)
}

/// Whether `refname` (a full name such as `refs/heads/main`) exists in the repository of `dir`.
fn ref_exists(dir: &Path, refname: &str) -> Result<bool, GitError> {
    let command = git(dir).args(["show-ref", "--verify", "--quiet", refname]);
    let finished = command.output()?;
    match finished.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => Err(command.failed(&finished)),
    }
}

/// Rejects names git would read as an option or that would break a refspec; git checks the rest.
fn check_branch_name(name: &str) -> Result<(), GitError> {
    let bad = name.is_empty()
        || name.starts_with(['-', '/'])
        || name.ends_with('/')
        || name.contains("..")
        || name.chars().any(|c| c == ':' || c.is_whitespace() || c.is_control());
    if bad { Err(GitError::BadBranchName { name: name.to_owned() }) } else { Ok(()) }
}

fn canonical(path: &Path) -> Result<PathBuf, GitError> {
    fs::canonicalize(path).map_err(|source| GitError::Io { path: path.to_owned(), source })
}

/// The canonical form of `path` when it exists; otherwise its parent's canonical form joined with
/// its name, or the path itself when the parent does not exist either.
fn resolve(path: &Path) -> PathBuf {
    if let Ok(path) = fs::canonicalize(path) {
        return path;
    }
    match (path.parent(), path.file_name()) {
        (Some(parent), Some(name)) => fs::canonicalize(parent).map_or_else(|_| path.to_owned(), |p| p.join(name)),
        _ => path.to_owned(),
    }
}

/// Whether a path still has `..` in it (it was not resolved), so its place cannot be trusted.
fn has_parent_step(path: &Path) -> bool {
    path.components().any(|component| component == Component::ParentDir)
}

fn is_empty_dir(path: &Path) -> bool {
    fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// One git invocation: `git -C <dir> <args>`.
struct Git<'a> {
    dir: &'a Path,
    args: Vec<OsString>,
    timeout: Duration,
}

fn git(dir: &Path) -> Git<'_> {
    Git { dir, args: Vec::new(), timeout: LOCAL_TIMEOUT }
}

/// What git printed and how it ended.
struct Finished {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Git<'_> {
    fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    fn args<S: AsRef<OsStr>>(mut self, args: impl IntoIterator<Item = S>) -> Self {
        self.args.extend(args.into_iter().map(|arg| arg.as_ref().to_owned()));
        self
    }

    /// For commands that talk to origin or write a whole tree.
    fn long(mut self) -> Self {
        self.timeout = LONG_TIMEOUT;
        self
    }

    #[cfg(test)]
    fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The command as the user would type it, without `-C`: the directory is reported on its own.
    fn describe(&self) -> String {
        let mut text = String::from("git");
        for arg in &self.args {
            text.push(' ');
            text.push_str(&arg.to_string_lossy());
        }
        text
    }

    /// Runs the command; a non-zero exit is an error. Returns stdout.
    fn run(&self) -> Result<String, GitError> {
        self.run_bytes().map(|stdout| String::from_utf8_lossy(&stdout).into_owned())
    }

    fn run_bytes(&self) -> Result<Vec<u8>, GitError> {
        let finished = self.output()?;
        if finished.status.success() { Ok(finished.stdout) } else { Err(self.failed(&finished)) }
    }

    /// Runs the command to its end or its deadline, whatever its exit status.
    fn output(&self) -> Result<Finished, GitError> {
        let mut command = Command::new("git");
        command
            .arg("-C")
            .arg(self.dir)
            .args(&self.args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("LC_ALL", "C")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout also kills the ssh or helper git started.
            .process_group(0);
        for name in REPOSITORY_ENV {
            command.env_remove(name);
        }
        // The unit tests must not see the machine's git configuration (identity, hooks, defaults).
        #[cfg(test)]
        command.env("GIT_CONFIG_GLOBAL", "/dev/null").env("GIT_CONFIG_NOSYSTEM", "1");

        let spawn_error = |source| GitError::Spawn { command: self.describe(), dir: self.dir.to_owned(), source };
        let mut child = command.spawn().map_err(spawn_error)?;
        // Both pipes are drained while git runs, so a large output can never block it.
        let (sender, receiver) = mpsc::channel();
        let readers = [
            child.stdout.take().map(|pipe| drain(pipe, 0, sender.clone())),
            child.stderr.take().map(|pipe| drain(pipe, 1, sender.clone())),
        ];
        drop(sender);
        let kill = |child: &mut std::process::Child| {
            let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
            let _ = child.wait();
        };
        if let Some(Err(source)) = readers.into_iter().flatten().find(Result::is_err) {
            kill(&mut child);
            return Err(spawn_error(source));
        }

        let started = Instant::now();
        let mut pause = Duration::from_millis(1);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if started.elapsed() >= self.timeout => {
                    kill(&mut child);
                    return Err(GitError::TimedOut {
                        command: self.describe(),
                        dir: self.dir.to_owned(),
                        after: self.timeout,
                        advice: if self.timeout >= LONG_TIMEOUT {
                            "check the network and that git reaches origin without asking for credentials"
                        } else {
                            "look for another git process stuck in this repository"
                        },
                    });
                }
                Ok(None) => {
                    thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(source) => {
                    kill(&mut child);
                    return Err(spawn_error(source));
                }
            }
        };

        let mut streams = [Vec::new(), Vec::new()];
        let deadline = Instant::now() + OUTPUT_GRACE;
        for _ in 0..2 {
            match receiver.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok((index, bytes)) => streams[index] = bytes,
                Err(_) => break,
            }
        }
        let [stdout, stderr] = streams;
        Ok(Finished { status, stdout, stderr })
    }

    fn failed(&self, finished: &Finished) -> GitError {
        let stderr = tail(String::from_utf8_lossy(&finished.stderr).trim(), MAX_STDERR_CHARS);
        let advice = ADVICE.iter().find(|(phrase, _)| stderr.contains(phrase)).map(|(_, advice)| *advice);
        GitError::Failed {
            command: self.describe(),
            dir: self.dir.to_owned(),
            status: finished.status.to_string(),
            stderr,
            advice,
        }
    }

    fn unexpected(&self, output: &str) -> GitError {
        GitError::Unexpected { command: self.describe(), dir: self.dir.to_owned(), output: tail(output.trim(), 200) }
    }
}

/// Reads a pipe to its end on a thread of its own and sends `(index, bytes)`.
fn drain(
    mut pipe: impl Read + Send + 'static,
    index: usize,
    sender: mpsc::Sender<(usize, Vec<u8>)>,
) -> io::Result<thread::JoinHandle<()>> {
    thread::Builder::new().name("git-output".into()).spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        let _ = sender.send((index, bytes));
    })
}

/// The last `max` characters of `text`, marked when cut.
fn tail(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().skip(count - max).collect();
    format!("…{cut}")
}

#[cfg(test)]
mod tests;
