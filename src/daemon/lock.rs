//! The single-instance lock: an flock on `.steward/daemon/.lock` held for the daemon's whole life.
//!
//! The lock is the truth about liveness: the kernel releases it when the process dies, however
//! it dies, so a stale PID file or socket can never make a dead daemon look alive. Clients probe
//! it with a shared lock, which never blocks a daemon that holds it; a starting daemon takes it
//! exclusively and retries briefly, so that a client's probe in the same instant is not taken
//! for another daemon.
//!
//! `nix::fcntl::Flock` owns its file, so the lock can be retried in a loop and kept in a struct
//! without borrowing tricks (fd-lock's guard borrows its lock).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};

/// Proof that this process is the project's daemon. Dropping it releases the lock.
#[derive(Debug)]
pub struct InstanceLock {
    _flock: Flock<File>,
}

/// The result of trying to become the daemon.
#[derive(Debug)]
pub enum Acquired {
    /// We hold the lock.
    Held(InstanceLock),
    /// Another process holds it.
    Busy,
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)
}

/// Takes the lock, retrying for up to `patience` while someone else holds it only briefly.
///
/// `holder_is_a_daemon` is asked after each failed attempt whether to stop waiting at once (for
/// example because the PID file names a live daemon).
pub fn acquire(path: &Path, patience: Duration, mut holder_is_a_daemon: impl FnMut() -> bool) -> io::Result<Acquired> {
    let deadline = Instant::now() + patience;
    let mut file = open(path)?;
    loop {
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => return Ok(Acquired::Held(InstanceLock { _flock: flock })),
            Err((returned, Errno::EWOULDBLOCK)) => {
                if holder_is_a_daemon() || Instant::now() >= deadline {
                    return Ok(Acquired::Busy);
                }
                file = returned;
                std::thread::sleep(Duration::from_millis(10));
            }
            Err((_, errno)) => return Err(errno.into()),
        }
    }
}

/// Which file a path names: device and inode.
pub type FileId = (u64, u64);

impl InstanceLock {
    /// The locked file's identity, to tell later whether the path still names it.
    pub fn file_id(&self) -> io::Result<FileId> {
        use std::os::unix::fs::MetadataExt;
        let meta = self._flock.metadata()?;
        Ok((meta.dev(), meta.ino()))
    }
}

/// Whether `path` still names the file this daemon locked. `false` when it is gone or another
/// file took its place (the project's `.steward` was removed, or moved and recreated): from then
/// on another daemon could lock the new file, and two would serve one project.
pub fn still_ours(path: &Path, locked: FileId) -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).is_ok_and(|meta| (meta.dev(), meta.ino()) == locked)
}

/// Whether a daemon holds the lock. A missing lock file means no daemon.
pub fn is_held(path: &Path) -> io::Result<bool> {
    let file = match OpenOptions::new().read(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    };
    match Flock::lock(file, FlockArg::LockSharedNonblock) {
        Ok(_shared) => Ok(false),
        Err((_, Errno::EWOULDBLOCK)) => Ok(true),
        Err((_, errno)) => Err(errno.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_knows_when_its_file_is_gone_or_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let Acquired::Held(lock) = acquire(&path, Duration::ZERO, || false).unwrap() else { panic!("not held") };
        let id = lock.file_id().unwrap();
        assert!(still_ours(&path, id));
        std::fs::remove_file(&path).unwrap();
        assert!(!still_ours(&path, id), "removed");
        std::fs::write(&path, "").unwrap();
        assert!(!still_ours(&path, id), "replaced by another file");
    }

    #[test]
    fn one_holder_at_a_time_and_probes_do_not_steal_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        assert!(!is_held(&path).unwrap());
        let Acquired::Held(lock) = acquire(&path, Duration::ZERO, || false).unwrap() else { panic!("free lock") };
        assert!(is_held(&path).unwrap());
        assert!(matches!(acquire(&path, Duration::from_millis(30), || false).unwrap(), Acquired::Busy));
        assert!(is_held(&path).unwrap(), "a probe must not release or take the lock");
        drop(lock);
        assert!(!is_held(&path).unwrap());
        assert!(matches!(acquire(&path, Duration::ZERO, || false).unwrap(), Acquired::Held(_)));
    }

    #[test]
    fn giving_up_early_when_told_the_holder_is_a_daemon() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        let _held = acquire(&path, Duration::ZERO, || false).unwrap();
        let start = Instant::now();
        assert!(matches!(acquire(&path, Duration::from_secs(30), || true).unwrap(), Acquired::Busy));
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_brief_probe_does_not_turn_a_start_away() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".lock");
        std::fs::write(&path, "").unwrap();
        let probe = Flock::lock(File::open(&path).unwrap(), FlockArg::LockSharedNonblock).unwrap();
        let releaser = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            drop(probe);
        });
        assert!(matches!(acquire(&path, Duration::from_secs(5), || false).unwrap(), Acquired::Held(_)));
        releaser.join().unwrap();
    }
}
