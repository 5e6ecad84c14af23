//! Creating the `.steward` layout on disk.
//!
//! `.steward/` may be committed (it holds `steward.toml`), so it gets a `.gitignore` that keeps
//! the daemon's runtime files and the session worktrees out of the repository. The daemon's own
//! directory is 0700: it holds the socket, the log and the store.

use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};

use crate::paths::Project;

/// What `.steward/.gitignore` says.
pub const GITIGNORE: &str =
    "# steward's runtime files; steward.toml is meant to be committed.\n/daemon/\n/daemon.pid\n/worktrees/\n";

/// Creates `.steward/` (with its `.gitignore`) and `.steward/daemon/` (0700) as needed.
pub fn create(project: &Project) -> io::Result<()> {
    let steward = project.steward_dir();
    let context = |what: &str, path: &std::path::Path, e: io::Error| {
        io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
    };
    match std::fs::DirBuilder::new().mode(0o755).create(&steward) {
        Ok(()) => write_gitignore(project).map_err(|e| context("writing", &steward.join(".gitignore"), e))?,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(context("creating", &steward, e)),
    }
    let daemon_dir = project.daemon_dir();
    match std::fs::DirBuilder::new().mode(0o700).create(&daemon_dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(&daemon_dir).map_err(|e| context("inspecting", &daemon_dir, e))?;
            if meta.permissions().mode() & 0o077 != 0 {
                std::fs::set_permissions(&daemon_dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| context("restricting", &daemon_dir, e))?;
            }
        }
        Err(e) => return Err(context("creating", &daemon_dir, e)),
    }
    Ok(())
}

/// Writes `.steward/.gitignore` unless one exists.
pub fn write_gitignore(project: &Project) -> io::Result<()> {
    let path = project.steward_dir().join(".gitignore");
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
        Ok(mut file) => io::Write::write_all(&mut file, GITIGNORE.as_bytes()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_the_layout_once_and_closes_the_daemon_dir() {
        let dir = tempfile::tempdir().unwrap();
        let project = Project::at(dir.path()).unwrap();
        create(&project).unwrap();
        assert_eq!(std::fs::read_to_string(project.steward_dir().join(".gitignore")).unwrap(), GITIGNORE);
        let mode = |p| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(project.daemon_dir()), 0o700);
        std::fs::set_permissions(project.daemon_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::write(project.steward_dir().join(".gitignore"), "mine\n").unwrap();
        create(&project).unwrap();
        assert_eq!(mode(project.daemon_dir()), 0o700);
        assert_eq!(std::fs::read_to_string(project.steward_dir().join(".gitignore")).unwrap(), "mine\n");
    }
}
