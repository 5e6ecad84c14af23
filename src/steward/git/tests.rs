//! The adapter against real git: a bare repository as `origin`, a clone of it as the project.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::*;

/// Runs git for the test's own setup, with a fixed identity and none of the machine's config.
fn sh_git(dir: &Path, args: &[&str]) -> String {
    let mut command = Command::new("git");
    command
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com")
        .env("LC_ALL", "C")
        .stdin(std::process::Stdio::null());
    for name in REPOSITORY_ENV {
        command.env_remove(name);
    }
    let output = command.output().expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// Commits a new file in `dir` and returns the commit's sha.
fn commit(dir: &Path, subject: &str) -> String {
    let name = subject.replace(' ', "-");
    fs::write(dir.join(format!("{name}.txt")), subject).unwrap();
    sh_git(dir, &["add", "--all"]);
    sh_git(dir, &["commit", "--quiet", "-m", subject]);
    sh_git(dir, &["rev-parse", "HEAD"])
}

struct Fixture {
    _tmp: TempDir,
    tmp: PathBuf,
    origin: PathBuf,
    root: PathBuf,
}

impl Fixture {
    /// `origin.git` with one commit on `main` (which ignores `.steward/worktrees/` like a real
    /// project), and `project`, a clone of it.
    fn new() -> Fixture {
        let dir = TempDir::new().unwrap();
        let tmp = dir.path().canonicalize().unwrap();
        let origin = tmp.join("origin.git");
        let seed = tmp.join("seed");
        let root = tmp.join("project");
        sh_git(&tmp, &["init", "--quiet", "--bare", "--initial-branch=main", "origin.git"]);
        sh_git(&tmp, &["init", "--quiet", "--initial-branch=main", "seed"]);
        fs::create_dir(seed.join(".steward")).unwrap();
        fs::write(seed.join(".steward/.gitignore"), "/worktrees/\n").unwrap();
        commit(&seed, "initial");
        sh_git(&seed, &["push", "--quiet", origin.to_str().unwrap(), "main"]);
        sh_git(&tmp, &["clone", "--quiet", origin.to_str().unwrap(), "project"]);
        Fixture { _tmp: dir, tmp, origin, root }
    }

    fn origin_main(&self) -> String {
        sh_git(&self.origin, &["rev-parse", "refs/heads/main"])
    }

    /// Another clone that pushes to origin behind the project's back.
    fn other_clone(&self) -> PathBuf {
        let other = self.tmp.join("other");
        if !other.exists() {
            sh_git(&self.tmp, &["clone", "--quiet", self.origin.to_str().unwrap(), "other"]);
        }
        other
    }
}

fn current_branch(dir: &Path) -> String {
    sh_git(dir, &["symbolic-ref", "HEAD"])
}

#[test]
fn names_and_paths() {
    assert_eq!(branch_name(42), "steward/issue-42");
    assert_eq!(worktree_path(Path::new("/repo"), 42), Path::new("/repo/.steward/worktrees/issue-42"));
}

#[test]
fn a_fresh_worktree_starts_at_origin_default() {
    let fx = Fixture::new();
    let (worktree, created) = ensure_worktree(&fx.root, 7, "main").unwrap();
    assert!(created);
    assert_eq!(worktree.path, fx.root.join(".steward/worktrees/issue-7"));
    assert!(worktree.path.is_absolute());
    assert_eq!(worktree.branch, "steward/issue-7");
    assert_eq!(current_branch(&worktree.path), "refs/heads/steward/issue-7");
    assert_eq!(head_sha(&worktree.path).unwrap(), fx.origin_main());
    // Ignored in the project, so the project's own checkout stays clean.
    assert_eq!(sh_git(&fx.root, &["status", "--porcelain"]), "");
}

#[test]
fn a_relative_project_root_gives_a_canonical_path() {
    let fx = Fixture::new();
    let relative = fx.root.join("..").join("project");
    let (worktree, _) = ensure_worktree(&relative, 7, "main").unwrap();
    assert_eq!(worktree.path, fx.root.join(".steward/worktrees/issue-7"));
}

#[test]
fn a_second_call_changes_nothing() {
    let fx = Fixture::new();
    let (first, _) = ensure_worktree(&fx.root, 3, "main").unwrap();
    let sha = commit(&first.path, "work");
    let (second, created) = ensure_worktree(&fx.root, 3, "main").unwrap();
    assert!(!created);
    assert_eq!(second, first);
    assert_eq!(head_sha(&second.path).unwrap(), sha);
}

#[test]
fn a_deleted_directory_is_recreated_from_the_local_branch() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 3, "main").unwrap();
    let sha = commit(&worktree.path, "work");
    fs::remove_dir_all(&worktree.path).unwrap();

    let (again, created) = ensure_worktree(&fx.root, 3, "main").unwrap();
    assert!(created);
    assert_eq!(again, worktree);
    assert_eq!(head_sha(&again.path).unwrap(), sha);
    assert_eq!(commits_ahead(&again.path, "main", 10).unwrap(), (1, vec!["work".to_owned()]));
}

#[test]
fn a_branch_only_on_origin_is_recreated_from_it_and_tracks_it() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 5, "main").unwrap();
    let sha = commit(&worktree.path, "pushed work");
    push(&worktree.path, &worktree.branch).unwrap();
    remove_worktree(&fx.root, &worktree.path).unwrap();
    sh_git(&fx.root, &["branch", "--quiet", "-D", "steward/issue-5"]);

    let (again, created) = ensure_worktree(&fx.root, 5, "main").unwrap();
    assert!(created);
    assert_eq!(head_sha(&again.path).unwrap(), sha);
    assert_eq!(sh_git(&fx.root, &["config", "branch.steward/issue-5.remote"]), "origin");
    assert_eq!(sh_git(&fx.root, &["config", "branch.steward/issue-5.merge"]), "refs/heads/steward/issue-5");
}

#[test]
fn fetch_brings_new_commits_of_the_default_branch() {
    let fx = Fixture::new();
    let other = fx.other_clone();
    let sha = commit(&other, "upstream change");
    sh_git(&other, &["push", "--quiet", "origin", "main"]);

    fetch(&fx.root, "main").unwrap();
    let (worktree, _) = ensure_worktree(&fx.root, 1, "main").unwrap();
    assert_eq!(head_sha(&worktree.path).unwrap(), sha);
}

#[test]
fn commits_ahead_counts_and_lists_newest_first() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 2, "main").unwrap();
    assert_eq!(commits_ahead(&worktree.path, "main", 5).unwrap(), (0, vec![]));
    for subject in ["first", "second", "third"] {
        commit(&worktree.path, subject);
    }
    assert_eq!(commits_ahead(&worktree.path, "main", 2).unwrap(), (3, vec!["third".to_owned(), "second".to_owned()]));
    assert_eq!(commits_ahead(&worktree.path, "main", 0).unwrap(), (3, vec![]));
}

#[test]
fn push_puts_the_branch_on_origin_at_head() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 4, "main").unwrap();
    commit(&worktree.path, "work");
    push(&worktree.path, &worktree.branch).unwrap();
    let head = head_sha(&worktree.path).unwrap();
    assert_eq!(sh_git(&fx.origin, &["rev-parse", "refs/heads/steward/issue-4"]), head);
}

#[test]
fn push_replaces_amended_history_but_not_someone_elses_commits() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 4, "main").unwrap();
    commit(&worktree.path, "work");
    push(&worktree.path, &worktree.branch).unwrap();
    sh_git(&worktree.path, &["commit", "--quiet", "--amend", "-m", "work, amended"]);
    push(&worktree.path, &worktree.branch).unwrap();
    let amended = head_sha(&worktree.path).unwrap();
    assert_eq!(sh_git(&fx.origin, &["rev-parse", "refs/heads/steward/issue-4"]), amended);

    // Someone else pushes to the branch; steward's next rewrite must not drop their commit.
    let other = fx.other_clone();
    sh_git(&other, &["fetch", "--quiet", "origin"]);
    sh_git(&other, &["checkout", "--quiet", "-b", "steward/issue-4", "origin/steward/issue-4"]);
    let theirs = commit(&other, "human fix");
    sh_git(&other, &["push", "--quiet", "origin", "steward/issue-4"]);
    sh_git(&worktree.path, &["commit", "--quiet", "--amend", "-m", "work, amended again"]);
    let error = push(&worktree.path, &worktree.branch).unwrap_err().to_string();
    assert!(error.contains("git push --force-with-lease origin"), "{error}");
    assert!(error.contains("stale info"), "{error}");
    assert_eq!(sh_git(&fx.origin, &["rev-parse", "refs/heads/steward/issue-4"]), theirs);
}

#[test]
fn remove_worktree_removes_a_session_worktree() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 6, "main").unwrap();
    fs::write(worktree.path.join("uncommitted.txt"), "x").unwrap();
    remove_worktree(&fx.root, &worktree.path).unwrap();
    assert!(!worktree.path.exists());
    assert!(!sh_git(&fx.root, &["worktree", "list"]).contains("issue-6"));
    // Gone already: only prunes.
    remove_worktree(&fx.root, &worktree.path).unwrap();
    // The branch and its commits stay.
    sh_git(&fx.root, &["rev-parse", "--verify", "refs/heads/steward/issue-6"]);
}

#[test]
fn remove_worktree_prunes_a_vanished_worktree() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 6, "main").unwrap();
    fs::remove_dir_all(&worktree.path).unwrap();
    remove_worktree(&fx.root, &worktree.path).unwrap();
    assert!(!sh_git(&fx.root, &["worktree", "list"]).contains("issue-6"));
}

#[test]
fn remove_worktree_refuses_anything_outside_the_worktrees_directory() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 6, "main").unwrap();
    let worktrees = fx.root.join(".steward/worktrees");
    let refused = [
        fx.root.clone(),
        fx.root.join(".steward"),
        worktrees.clone(),
        worktrees.join(".."),
        worktrees.join("issue-6/../.."),
        worktrees.join("../../nothing-here/.."),
        fx.tmp.join("seed"),
        fx.origin.clone(),
        PathBuf::from("/"),
    ];
    for path in refused {
        let error = remove_worktree(&fx.root, &path).unwrap_err();
        assert!(matches!(error, GitError::OutsideWorktrees { .. }), "{}: {error}", path.display());
    }
    // A link inside the directory that leads to the project itself is judged by where it leads.
    std::os::unix::fs::symlink(&fx.root, worktrees.join("link")).unwrap();
    let error = remove_worktree(&fx.root, &worktrees.join("link")).unwrap_err();
    assert!(matches!(error, GitError::OutsideWorktrees { .. }), "{error}");
    assert!(fx.root.join(".git").exists());
    assert!(worktree.path.exists());
}

#[test]
fn remove_worktree_leaves_a_directory_that_is_not_a_worktree() {
    let fx = Fixture::new();
    let stray = fx.root.join(".steward/worktrees/stray");
    fs::create_dir_all(&stray).unwrap();
    fs::write(stray.join("keep.txt"), "mine").unwrap();
    let error = remove_worktree(&fx.root, &stray).unwrap_err();
    assert!(matches!(error, GitError::NotAWorktree { .. }), "{error}");
    assert!(stray.join("keep.txt").exists());
}

#[test]
fn remove_worktree_accepts_a_path_relative_to_the_project() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 8, "main").unwrap();
    remove_worktree(&fx.root, Path::new(".steward/worktrees/issue-8")).unwrap();
    assert!(!worktree.path.exists());
}

#[test]
fn list_worktree_dirs_lists_directories_sorted() {
    let fx = Fixture::new();
    assert_eq!(list_worktree_dirs(&fx.root).unwrap(), Vec::<PathBuf>::new());
    ensure_worktree(&fx.root, 10, "main").unwrap();
    ensure_worktree(&fx.root, 2, "main").unwrap();
    let worktrees = fx.root.join(".steward/worktrees");
    fs::write(worktrees.join("a-file"), "").unwrap();
    fs::create_dir(worktrees.join("leftover")).unwrap();
    assert_eq!(
        list_worktree_dirs(&fx.root).unwrap(),
        vec![worktrees.join("issue-10"), worktrees.join("issue-2"), worktrees.join("leftover")]
    );
}

#[test]
fn is_dirty_sees_changes_but_not_the_question() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 9, "main").unwrap();
    assert!(!is_dirty(&worktree.path).unwrap());

    fs::write(worktree.path.join(".steward/question.md"), "Which one?").unwrap();
    assert!(!is_dirty(&worktree.path).unwrap());

    fs::create_dir(worktree.path.join("new dir")).unwrap();
    fs::write(worktree.path.join("new dir/untracked.txt"), "x").unwrap();
    assert!(is_dirty(&worktree.path).unwrap());
    fs::remove_dir_all(worktree.path.join("new dir")).unwrap();
    assert!(!is_dirty(&worktree.path).unwrap());

    fs::write(worktree.path.join("initial.txt"), "changed").unwrap();
    assert!(is_dirty(&worktree.path).unwrap());
}

#[test]
fn a_failing_command_names_itself_the_directory_and_gits_message() {
    let fx = Fixture::new();
    let error = fetch(&fx.root, "no-such-branch").unwrap_err();
    let text = error.to_string();
    assert!(text.contains("git fetch --no-tags origin +refs/heads/no-such-branch"), "{text}");
    assert!(text.contains(&fx.root.display().to_string()), "{text}");
    assert!(text.contains("couldn't find remote ref"), "{text}");
    assert!(text.contains("check the default branch's name"), "{text}");

    let not_a_repo = fx.tmp.join("plain");
    fs::create_dir(&not_a_repo).unwrap();
    let text = head_sha(&not_a_repo).unwrap_err().to_string();
    assert!(text.contains("git rev-parse --verify HEAD"), "{text}");
    assert!(text.contains("not a git repository"), "{text}");
}

#[test]
fn a_missing_origin_default_branch_is_explained() {
    let fx = Fixture::new();
    let error = ensure_worktree(&fx.root, 1, "develop").unwrap_err();
    assert!(matches!(error, GitError::NoDefaultBranch { .. }), "{error}");
    let text = error.to_string();
    assert!(text.contains("refs/remotes/origin/develop"), "{text}");
    assert!(text.contains("push the default branch"), "{text}");
    assert!(!fx.root.join(".steward/worktrees/issue-1").exists());

    let (worktree, _) = ensure_worktree(&fx.root, 1, "main").unwrap();
    let error = commits_ahead(&worktree.path, "develop", 3).unwrap_err();
    assert!(matches!(error, GitError::NoDefaultBranch { .. }), "{error}");
}

#[test]
fn a_directory_in_the_way_is_an_error_and_kept() {
    let fx = Fixture::new();
    let path = worktree_path(&fx.root, 11);
    fs::create_dir_all(&path).unwrap();
    fs::write(path.join("notes.txt"), "mine").unwrap();
    let error = ensure_worktree(&fx.root, 11, "main").unwrap_err();
    assert!(matches!(error, GitError::NotAWorktree { .. }), "{error}");
    assert!(path.join("notes.txt").exists());
}

#[test]
fn an_empty_directory_in_the_way_is_used() {
    let fx = Fixture::new();
    fs::create_dir_all(worktree_path(&fx.root, 11)).unwrap();
    let (worktree, created) = ensure_worktree(&fx.root, 11, "main").unwrap();
    assert!(created);
    assert_eq!(current_branch(&worktree.path), "refs/heads/steward/issue-11");
}

#[test]
fn a_worktree_switched_to_another_branch_is_an_error() {
    let fx = Fixture::new();
    let (worktree, _) = ensure_worktree(&fx.root, 12, "main").unwrap();
    sh_git(&worktree.path, &["checkout", "--quiet", "--detach"]);
    let error = ensure_worktree(&fx.root, 12, "main").unwrap_err();
    assert!(matches!(error, GitError::WrongBranch { .. }), "{error}");
    assert!(error.to_string().contains("detached HEAD"), "{error}");
}

#[test]
fn a_project_root_that_is_itself_a_linked_worktree_works() {
    let fx = Fixture::new();
    let linked = fx.tmp.join("linked");
    sh_git(&fx.root, &["worktree", "add", "--quiet", "--detach", linked.to_str().unwrap(), "main"]);
    let (worktree, created) = ensure_worktree(&linked, 13, "main").unwrap();
    assert!(created);
    assert_eq!(worktree.path, linked.join(".steward/worktrees/issue-13"));
    let (_, created) = ensure_worktree(&linked, 13, "main").unwrap();
    assert!(!created);
    assert_eq!(list_worktree_dirs(&linked).unwrap(), vec![worktree.path.clone()]);
    remove_worktree(&linked, &worktree.path).unwrap();
    assert!(!worktree.path.exists());
    assert!(linked.join(".git").exists());
}

#[test]
fn bad_branch_names_are_refused_before_git_runs() {
    let fx = Fixture::new();
    for name in ["", "--upload-pack=evil", "a:b", "a b", "a..b", "/x", "x/"] {
        let error = fetch(&fx.root, name).unwrap_err();
        assert!(matches!(error, GitError::BadBranchName { .. }), "{name:?}: {error}");
    }
}

#[test]
fn a_command_past_its_deadline_is_killed_with_its_children() {
    let fx = Fixture::new();
    let started = Instant::now();
    // The alias starts a shell that starts `sleep`: both must die, or the pipes would stay open.
    let error = git(&fx.root)
        .args(["-c", "alias.pause=!sleep 30", "pause"])
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert!(matches!(error, GitError::TimedOut { .. }), "{error}");
    assert!(error.to_string().contains("git -c alias.pause=!sleep 30 pause"), "{error}");
}

#[test]
fn long_stderr_is_cut_to_its_end() {
    let long = format!("{}END", "x".repeat(5000));
    let cut = tail(&long, MAX_STDERR_CHARS);
    assert_eq!(cut.chars().count(), MAX_STDERR_CHARS + 1);
    assert!(cut.starts_with('…') && cut.ends_with("END"));
    assert_eq!(tail("short", MAX_STDERR_CHARS), "short");
}
