//! The PID file, `.steward/daemon.pid`: information for people and tools, never a lock.

use std::io;
use std::path::Path;

use crate::atomic_file::write_atomic;

/// Writes our pid.
pub fn write(path: &Path, pid: u32) -> io::Result<()> {
    write_atomic(path, format!("{pid}\n").as_bytes(), 0o644)
}

/// The pid in the file, if there is a readable one.
pub fn read(path: &Path) -> Option<u32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Removes the file if it still names `pid` (a newer daemon may have replaced it).
pub fn remove_if_ours(path: &Path, pid: u32) {
    if read(path) == Some(pid) {
        let _ = std::fs::remove_file(path);
    }
}

/// Whether a process with this pid exists.
pub fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else { return false };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        // It exists but belongs to someone else.
        Err(nix::errno::Errno::EPERM) => true,
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.pid");
        assert_eq!(read(&path), None);
        write(&path, 4242).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "4242\n");
        assert_eq!(read(&path), Some(4242));
        remove_if_ours(&path, 1);
        assert!(path.exists(), "someone else's pid file is kept");
        remove_if_ours(&path, 4242);
        assert!(!path.exists());
        std::fs::write(&path, "garbage").unwrap();
        assert_eq!(read(&path), None);
    }

    #[test]
    fn liveness() {
        assert!(process_exists(std::process::id()));
        assert!(!process_exists(u32::MAX));
    }
}
