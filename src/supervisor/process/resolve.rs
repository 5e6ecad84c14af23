//! Finding the agent's program the way a shell would, before anything is spawned.
//!
//! A name with a `/` is a path relative to the agent's working directory; any other name is
//! looked up in the `PATH` the agent will get (not necessarily the daemon's). Resolving first
//! turns a typo in `[agent].command` into one clear error instead of a task that fails after
//! a fork, and the shim then executes exactly the file that was checked.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::unistd::{AccessFlags, access};

/// What `execvp` searches when `PATH` is not set at all (glibc's and the BSDs' choice).
const DEFAULT_PATH: &str = "/bin:/usr/bin";

/// Why the agent's program cannot be run. The text completes a sentence that the caller ends
/// with the configuration key to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// The command list was empty.
    #[error("agent command is empty")]
    Empty,
    /// A bare name that no `PATH` directory holds.
    #[error("agent command '{program}' not found")]
    NotOnPath { program: String },
    /// A path (the name has a `/`) with no file behind it.
    #[error("agent command '{program}' not found at {}", path.display())]
    NoSuchFile { program: String, path: PathBuf },
    /// The file exists but is a directory.
    #[error("agent command '{program}' at {} is a directory", path.display())]
    IsDirectory { program: String, path: PathBuf },
    /// The file exists but this user may not execute it.
    #[error("agent command '{program}' at {} is not executable (check its permissions)", path.display())]
    NotExecutable { program: String, path: PathBuf },
}

/// Finds the file `program` names, as a shell would for a process started in `workdir` with
/// `PATH` set to `path_var`. The result is absolute when `workdir` is.
///
/// `PATH` entries that are empty or relative count from `workdir`, like the agent's own lookups
/// would. Directories and non-executable files on `PATH` are skipped; if nothing executable is
/// found but a non-executable file was, that file is reported (as a shell says "permission
/// denied" rather than "not found").
pub fn resolve_program(program: &str, workdir: &Path, path_var: Option<&OsStr>) -> Result<PathBuf, ResolveError> {
    if program.is_empty() {
        return Err(ResolveError::Empty);
    }
    if program.contains('/') {
        // Collecting the components drops the `.` of `./agent`, for tidier messages.
        let path: PathBuf = workdir.join(program).components().collect();
        return match classify(&path) {
            Candidate::Executable => Ok(path),
            Candidate::Missing => Err(ResolveError::NoSuchFile { program: program.to_owned(), path }),
            Candidate::Directory => Err(ResolveError::IsDirectory { program: program.to_owned(), path }),
            Candidate::NotExecutable => Err(ResolveError::NotExecutable { program: program.to_owned(), path }),
        };
    }
    let path_var = path_var.unwrap_or(OsStr::new(DEFAULT_PATH));
    let mut not_executable = None;
    for dir in path_var.as_bytes().split(|&b| b == b':') {
        let dir = if dir.is_empty() { workdir.to_path_buf() } else { workdir.join(OsStr::from_bytes(dir)) };
        let candidate = dir.join(program);
        match classify(&candidate) {
            Candidate::Executable => return Ok(candidate),
            Candidate::NotExecutable if not_executable.is_none() => not_executable = Some(candidate),
            _ => {}
        }
    }
    match not_executable {
        Some(path) => Err(ResolveError::NotExecutable { program: program.to_owned(), path }),
        None => Err(ResolveError::NotOnPath { program: program.to_owned() }),
    }
}

enum Candidate {
    Executable,
    Missing,
    Directory,
    NotExecutable,
}

fn classify(path: &Path) -> Candidate {
    match std::fs::metadata(path) {
        Err(_) => Candidate::Missing,
        Ok(meta) if meta.is_dir() => Candidate::Directory,
        // access(2) rather than the mode bits: it knows the uid, ACLs and noexec mounts.
        Ok(_) if access(path, AccessFlags::X_OK).is_ok() => Candidate::Executable,
        Ok(_) => Candidate::NotExecutable,
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    struct Dirs {
        _tmp: tempfile::TempDir,
        root: PathBuf,
    }

    /// `root/work` is the working directory; `root/a` and `root/b` are PATH directories.
    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for dir in ["work", "a", "b"] {
            std::fs::create_dir(root.join(dir)).unwrap();
        }
        Dirs { _tmp: tmp, root }
    }

    fn file(path: &Path, mode: u32) {
        std::fs::write(path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    fn path_of(dirs: &[&Path]) -> std::ffi::OsString {
        std::env::join_paths(dirs).unwrap()
    }

    #[test]
    fn a_bare_name_is_found_in_the_first_path_directory_that_has_it() {
        let d = dirs();
        file(&d.root.join("a/agent"), 0o755);
        file(&d.root.join("b/agent"), 0o755);
        let path = path_of(&[&d.root.join("a"), &d.root.join("b")]);
        assert_eq!(resolve_program("agent", &d.root.join("work"), Some(&path)), Ok(d.root.join("a/agent")));
    }

    #[test]
    fn directories_and_non_executable_files_on_path_are_skipped() {
        let d = dirs();
        std::fs::create_dir(d.root.join("a/agent")).unwrap();
        file(&d.root.join("b/agent"), 0o755);
        let path = path_of(&[&d.root.join("a"), &d.root.join("b")]);
        assert_eq!(resolve_program("agent", &d.root.join("work"), Some(&path)), Ok(d.root.join("b/agent")));

        std::fs::remove_dir(d.root.join("a/agent")).unwrap();
        file(&d.root.join("a/agent"), 0o644);
        assert_eq!(resolve_program("agent", &d.root.join("work"), Some(&path)), Ok(d.root.join("b/agent")));
    }

    #[test]
    fn a_name_on_no_path_directory_is_not_found() {
        let d = dirs();
        let path = path_of(&[&d.root.join("a"), &d.root.join("b")]);
        let err = resolve_program("claude", &d.root.join("work"), Some(&path)).unwrap_err();
        assert_eq!(err, ResolveError::NotOnPath { program: "claude".into() });
        assert_eq!(err.to_string(), "agent command 'claude' not found");
    }

    #[test]
    fn only_a_directory_on_path_is_not_found() {
        let d = dirs();
        std::fs::create_dir(d.root.join("a/agent")).unwrap();
        let path = path_of(&[&d.root.join("a")]);
        assert_eq!(
            resolve_program("agent", &d.root.join("work"), Some(&path)),
            Err(ResolveError::NotOnPath { program: "agent".into() })
        );
    }

    #[test]
    fn only_a_non_executable_file_on_path_is_reported_as_such() {
        // No execute bit at all: not executable even for root.
        let d = dirs();
        file(&d.root.join("b/agent"), 0o644);
        let path = path_of(&[&d.root.join("a"), &d.root.join("b")]);
        let err = resolve_program("agent", &d.root.join("work"), Some(&path)).unwrap_err();
        let agent = d.root.join("b/agent");
        assert_eq!(err, ResolveError::NotExecutable { program: "agent".into(), path: agent.clone() });
        assert_eq!(
            err.to_string(),
            format!("agent command 'agent' at {} is not executable (check its permissions)", agent.display())
        );
    }

    #[test]
    fn empty_and_relative_path_entries_count_from_the_working_directory() {
        let d = dirs();
        std::fs::create_dir(d.root.join("work/bin")).unwrap();
        file(&d.root.join("work/bin/agent"), 0o755);
        file(&d.root.join("work/here"), 0o755);
        let work = d.root.join("work");
        assert_eq!(resolve_program("agent", &work, Some(OsStr::new("bin"))), Ok(work.join("bin/agent")));
        assert_eq!(resolve_program("here", &work, Some(OsStr::new("/nonexistent:"))), Ok(work.join("here")));
    }

    #[test]
    fn a_name_with_a_slash_is_relative_to_the_working_directory_and_path_is_not_searched() {
        let d = dirs();
        std::fs::create_dir(d.root.join("work/tools")).unwrap();
        file(&d.root.join("work/tools/agent"), 0o755);
        file(&d.root.join("a/agent"), 0o755);
        let work = d.root.join("work");
        let path = path_of(&[&d.root.join("a")]);
        assert_eq!(resolve_program("./tools/agent", &work, Some(&path)), Ok(work.join("tools/agent")));
        assert_eq!(resolve_program("tools/agent", &work, Some(&path)), Ok(work.join("tools/agent")));
        let err = resolve_program("./agent", &work, Some(&path)).unwrap_err();
        assert_eq!(err, ResolveError::NoSuchFile { program: "./agent".into(), path: work.join("agent") });
    }

    #[test]
    fn an_absolute_path_is_taken_as_it_is() {
        let d = dirs();
        file(&d.root.join("b/agent"), 0o755);
        let absolute = d.root.join("b/agent");
        let program = absolute.to_str().unwrap();
        assert_eq!(resolve_program(program, &d.root.join("work"), None), Ok(absolute));
    }

    #[test]
    fn a_path_to_a_directory_is_reported_as_a_directory() {
        let d = dirs();
        let work = d.root.join("work");
        assert_eq!(
            resolve_program("../a", &work, None),
            Err(ResolveError::IsDirectory { program: "../a".into(), path: work.join("../a") })
        );
    }

    #[test]
    fn without_path_the_default_directories_are_searched() {
        let d = dirs();
        assert_eq!(resolve_program("sh", &d.root.join("work"), None), Ok(PathBuf::from("/bin/sh")));
    }

    #[test]
    fn an_empty_program_is_an_error() {
        let d = dirs();
        assert_eq!(resolve_program("", &d.root.join("work"), None), Err(ResolveError::Empty));
    }
}
