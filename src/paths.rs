//! Where a project keeps its files: finding the project root, and every path under `.steward/`.
//!
//! Only computes paths; it never creates a directory. Discovery is a few `stat` calls per
//! ancestor and never runs `git`, because `steward status` has a budget of a few milliseconds.

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

/// The longest socket path a Unix socket address holds: `sun_path` is 108 bytes with the NUL.
const MAX_SOCKET_PATH_BYTES: usize = 107;

/// Longest project-name part of a fallback socket name, to keep the fallback short.
const MAX_SOCKET_NAME_BYTES: usize = 24;

/// A steward project: the directory that holds (or will hold) `.steward/`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Project {
    /// Absolute and canonical, so the fallback socket name is the same from any working directory.
    root: PathBuf,
}

/// Why no project could be found or used.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error(
        "not inside a steward project or a git repository (looked upward from {dir}); \
         run `steward init` in your repository or pass --project DIR"
    )]
    NotFound { dir: PathBuf },
    #[error(
        "cannot use {dir} as the starting directory: {source}; \
         cd into your repository or pass --project DIR"
    )]
    Start { dir: PathBuf, source: io::Error },
    #[error("project directory {dir} does not exist; pass an existing directory to --project")]
    Missing { dir: PathBuf },
    #[error("project path {dir} is not a directory; pass the repository's root directory to --project")]
    NotADirectory { dir: PathBuf },
    #[error(
        "cannot open project directory {dir}: {source}; \
         check its permissions or pass another --project"
    )]
    Unreadable { dir: PathBuf, source: io::Error },
}

/// What the fallback socket location depends on, passed in so that tests are pure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketEnv {
    pub xdg_runtime_dir: Option<PathBuf>,
    pub uid: u32,
}

impl SocketEnv {
    /// `XDG_RUNTIME_DIR` and the effective uid of this process.
    pub fn from_process() -> SocketEnv {
        SocketEnv {
            xdg_runtime_dir: std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
            uid: nix::unistd::geteuid().as_raw(),
        }
    }

    /// `$XDG_RUNTIME_DIR/steward` when that variable is usable, else `/tmp/steward-<uid>`.
    fn fallback_dir(&self) -> PathBuf {
        match &self.xdg_runtime_dir {
            // Absolute implies non-empty; a relative value would depend on the working directory.
            Some(dir) if dir.is_absolute() => dir.join("steward"),
            _ => self.tmp_dir(),
        }
    }

    fn tmp_dir(&self) -> PathBuf {
        PathBuf::from(format!("/tmp/steward-{}", self.uid))
    }
}

impl Project {
    /// Walk up from `start` looking for a `.steward` directory; if none, the nearest ancestor that
    /// holds a `.git` entry (a directory, or a file in worktrees and submodules).
    pub fn discover(start: &Path) -> Result<Project, ProjectError> {
        let start = start.canonicalize().map_err(|source| ProjectError::Start { dir: start.to_path_buf(), source })?;
        let mut nearest_git = None;
        for dir in start.ancestors() {
            if dir.join(".steward").is_dir() {
                return Ok(Project::new(dir));
            }
            if nearest_git.is_none() && std::fs::symlink_metadata(dir.join(".git")).is_ok() {
                nearest_git = Some(dir);
            }
        }
        match nearest_git {
            Some(dir) => Ok(Project::new(dir)),
            None => Err(ProjectError::NotFound { dir: start }),
        }
    }

    /// `--project DIR`: `dir` must exist and be a directory; there is no upward walk.
    pub fn at(dir: &Path) -> Result<Project, ProjectError> {
        let unreadable = |source| ProjectError::Unreadable { dir: dir.to_path_buf(), source };
        let metadata = std::fs::metadata(dir).map_err(|err| match err.kind() {
            io::ErrorKind::NotFound => ProjectError::Missing { dir: dir.to_path_buf() },
            _ => unreadable(err),
        })?;
        if !metadata.is_dir() {
            return Err(ProjectError::NotADirectory { dir: dir.to_path_buf() });
        }
        let root = dir.canonicalize().map_err(unreadable)?;
        Ok(Project { root })
    }

    fn new(root: &Path) -> Project {
        Project { root: root.to_path_buf() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn steward_dir(&self) -> PathBuf {
        self.root.join(".steward")
    }

    pub fn config_file(&self) -> PathBuf {
        self.steward_dir().join("steward.toml")
    }

    pub fn pid_file(&self) -> PathBuf {
        self.steward_dir().join("daemon.pid")
    }

    pub fn daemon_dir(&self) -> PathBuf {
        self.steward_dir().join("daemon")
    }

    pub fn lock_file(&self) -> PathBuf {
        self.daemon_dir().join(".lock")
    }

    pub fn heartbeat_file(&self) -> PathBuf {
        self.daemon_dir().join("heartbeat")
    }

    pub fn state_file(&self) -> PathBuf {
        self.daemon_dir().join("state.json")
    }

    pub fn log_file(&self) -> PathBuf {
        self.daemon_dir().join("daemon.log")
    }

    pub fn db_file(&self) -> PathBuf {
        self.daemon_dir().join("steward.db")
    }

    pub fn tasks_dir(&self) -> PathBuf {
        self.daemon_dir().join("tasks")
    }

    pub fn worktrees_dir(&self) -> PathBuf {
        self.steward_dir().join("worktrees")
    }

    pub fn default_socket_path(&self) -> PathBuf {
        self.daemon_dir().join("daemon.sock")
    }

    /// Where the daemon binds: the default path when it fits a Unix socket address, else
    /// `<name>-<hash>.sock` in `$XDG_RUNTIME_DIR/steward/` or `/tmp/steward-<uid>/`.
    pub fn socket_path(&self, env: &SocketEnv) -> PathBuf {
        let default = self.default_socket_path();
        if fits_socket_address(&default) {
            return default;
        }
        let file_name = self.fallback_socket_name();
        let fallback = env.fallback_dir().join(&file_name);
        if fits_socket_address(&fallback) {
            fallback
        } else {
            // Only an absurdly long XDG_RUNTIME_DIR gets here; this one is always about 70 bytes.
            env.tmp_dir().join(file_name)
        }
    }

    /// `<name>-<hash>.sock`: the name so a person can tell sockets apart, the hash of the whole
    /// root so two projects with the same directory name never share a socket.
    fn fallback_socket_name(&self) -> String {
        let name = self.root.file_name().map_or_else(|| "root".to_owned(), sanitize_name);
        let hash = fnv1a_64(self.root.as_os_str().as_encoded_bytes());
        format!("{name}-{hash:016x}.sock")
    }
}

/// Whether `path` fits in a Unix socket address (at most 107 bytes).
pub fn fits_socket_address(path: &Path) -> bool {
    path.as_os_str().len() <= MAX_SOCKET_PATH_BYTES
}

/// Keeps `[A-Za-z0-9._-]`, replaces every other character with `_`, cuts to 24 bytes.
fn sanitize_name(name: &OsStr) -> String {
    name.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(MAX_SOCKET_NAME_BYTES)
        .collect()
}

/// FNV-1a, 64 bits. Written out because the socket name must stay the same across steward
/// versions, Rust versions and machines, which `std`'s hashers do not promise.
fn fnv1a_64(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    bytes.iter().fold(OFFSET_BASIS, |hash, byte| (hash ^ u64::from(*byte)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn canonical(path: &Path) -> PathBuf {
        path.canonicalize().expect("canonicalize")
    }

    fn env(xdg: Option<&str>) -> SocketEnv {
        SocketEnv { xdg_runtime_dir: xdg.map(PathBuf::from), uid: 1000 }
    }

    #[test]
    fn discovers_steward_dir_from_a_nested_subdirectory() {
        let temp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(temp.path().join(".steward")).expect("mkdir");
        let nested = temp.path().join("src/deep/er");
        fs::create_dir_all(&nested).expect("mkdir");
        let found = Project::discover(&nested).expect("found");
        assert_eq!(found.root(), canonical(temp.path()));
    }

    #[test]
    fn steward_dir_wins_over_a_nearer_git_entry() {
        let temp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(temp.path().join(".steward")).expect("mkdir");
        let repo = temp.path().join("vendor/repo");
        fs::create_dir_all(repo.join(".git")).expect("mkdir");
        let found = Project::discover(&repo.join(".git")).expect("found");
        assert_eq!(found.root(), canonical(temp.path()));
    }

    #[test]
    fn git_entry_may_be_a_file_and_the_nearest_one_wins() {
        let temp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(temp.path().join(".git")).expect("mkdir");
        let worktree = temp.path().join("worktrees/feature");
        fs::create_dir_all(worktree.join("src")).expect("mkdir");
        fs::write(worktree.join(".git"), "gitdir: ../../.git/worktrees/feature\n").expect("write");
        let found = Project::discover(&worktree.join("src")).expect("found");
        assert_eq!(found.root(), canonical(&worktree));
    }

    #[test]
    fn no_project_found_says_what_to_do() {
        // Assumes no `.steward` or `.git` above the system temp directory.
        let temp = tempfile::tempdir().expect("tempdir");
        let err = Project::discover(temp.path()).expect_err("nothing there");
        assert!(matches!(err, ProjectError::NotFound { .. }), "{err}");
        let expected = format!(
            "not inside a steward project or a git repository (looked upward from {}); \
             run `steward init` in your repository or pass --project DIR",
            canonical(temp.path()).display()
        );
        assert_eq!(err.to_string(), expected);
        let err = Project::discover(&temp.path().join("gone")).expect_err("missing start");
        assert!(matches!(err, ProjectError::Start { .. }), "{err}");
    }

    #[test]
    fn at_takes_a_directory_as_is_and_rejects_missing_paths_and_files() {
        let temp = tempfile::tempdir().expect("tempdir");
        fs::create_dir(temp.path().join(".steward")).expect("mkdir");
        fs::create_dir(temp.path().join("sub")).expect("mkdir");
        let project = Project::at(&temp.path().join("sub/../sub")).expect("directory");
        assert_eq!(project.root(), canonical(&temp.path().join("sub")));

        let missing = temp.path().join("nope");
        let err = Project::at(&missing).expect_err("missing");
        assert!(matches!(err, ProjectError::Missing { .. }), "{err}");
        let expected =
            format!("project directory {} does not exist; pass an existing directory to --project", missing.display());
        assert_eq!(err.to_string(), expected);

        let file = temp.path().join("file.txt");
        fs::write(&file, "x").expect("write");
        let err = Project::at(&file).expect_err("file");
        assert!(matches!(err, ProjectError::NotADirectory { .. }), "{err}");
        assert!(err.to_string().contains("is not a directory"), "{err}");
    }

    #[test]
    fn layout_follows_the_design() {
        let project = Project::new(Path::new("/srv/repo"));
        let expected = [
            (project.steward_dir(), ".steward"),
            (project.config_file(), ".steward/steward.toml"),
            (project.pid_file(), ".steward/daemon.pid"),
            (project.daemon_dir(), ".steward/daemon"),
            (project.lock_file(), ".steward/daemon/.lock"),
            (project.heartbeat_file(), ".steward/daemon/heartbeat"),
            (project.state_file(), ".steward/daemon/state.json"),
            (project.log_file(), ".steward/daemon/daemon.log"),
            (project.db_file(), ".steward/daemon/steward.db"),
            (project.tasks_dir(), ".steward/daemon/tasks"),
            (project.worktrees_dir(), ".steward/worktrees"),
            (project.default_socket_path(), ".steward/daemon/daemon.sock"),
        ];
        for (actual, relative) in expected {
            assert_eq!(actual, Path::new("/srv/repo").join(relative));
        }
    }

    #[test]
    fn short_project_uses_the_default_socket() {
        let temp = tempfile::tempdir().expect("tempdir");
        let project = Project::at(temp.path()).expect("directory");
        let socket = project.socket_path(&env(Some("/run/user/1000")));
        assert_eq!(socket, project.default_socket_path());
    }

    #[test]
    fn long_project_falls_back_to_xdg_then_tmp() {
        let temp = tempfile::tempdir().expect("tempdir");
        let mut deep = temp.path().to_path_buf();
        while deep.as_os_str().len() <= MAX_SOCKET_PATH_BYTES {
            deep.push("a-rather-long-directory-name");
        }
        deep.push("My Project é");
        fs::create_dir_all(&deep).expect("mkdir");
        let project = Project::at(&deep).expect("directory");
        assert!(!fits_socket_address(&project.default_socket_path()));

        let hash = fnv1a_64(project.root().as_os_str().as_encoded_bytes());
        let name = format!("My_Project__-{hash:016x}.sock");
        let xdg = project.socket_path(&env(Some("/run/user/1000")));
        assert_eq!(xdg, Path::new("/run/user/1000/steward").join(&name));
        let tmp = Path::new("/tmp/steward-1000").join(&name);
        assert_eq!(project.socket_path(&env(None)), tmp);
        assert_eq!(project.socket_path(&env(Some(""))), tmp);
        assert_eq!(project.socket_path(&env(Some("run/user/1000"))), tmp);
        let absurd = format!("/{}", "x".repeat(200));
        assert_eq!(project.socket_path(&env(Some(&absurd))), tmp);
    }

    #[test]
    fn fallback_name_is_sanitised_and_cut_to_24_bytes() {
        let root = format!("/{}/über repo:v2.0_final-final-final", "p".repeat(120));
        let socket = Project::new(Path::new(&root)).socket_path(&env(None));
        let file_name = socket.file_name().and_then(OsStr::to_str).expect("utf-8");
        let (name, rest) = file_name.split_at(MAX_SOCKET_NAME_BYTES);
        assert_eq!(name, "_ber_repo_v2.0_final-fin");
        assert_eq!(rest.len(), "-".len() + 16 + ".sock".len());
        assert!(rest.starts_with('-') && rest.ends_with(".sock"), "{rest}");
        assert!(fits_socket_address(&socket));
    }

    #[test]
    fn fits_socket_address_at_the_limit() {
        let at_limit = format!("/{}", "s".repeat(106));
        assert!(fits_socket_address(Path::new(&at_limit)));
        assert!(!fits_socket_address(Path::new(&format!("{at_limit}s"))));
    }

    #[test]
    fn fnv1a_matches_the_reference_vectors() {
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
        // Pinned: a changed name would strand clients of running daemons after an upgrade.
        let project = Project::new(Path::new("/home/alice/src/steward"));
        assert_eq!(project.fallback_socket_name(), "steward-d038764ccd2c8964.sock");
    }
}
