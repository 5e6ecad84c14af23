//! Writing files so that readers see the old content or the new one, never a mix.
//!
//! `state.json`, the heartbeat and the PID file are read by clients while the daemon rewrites
//! them. Writing in place would let a reader (or a crash) observe a truncated file, so the new
//! content goes to a temporary file in the same directory, is synced, and is renamed over the
//! target; the rename is atomic on POSIX file systems. A crash leaves at most a stray
//! `.<name>.tmp-<pid>-<n>` next to the target, never a truncated target.

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temp files of concurrent writers inside one process; the PID in the name
/// distinguishes processes.
static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Replaces the content of `path` with `contents`, atomically, leaving the file with
/// permission bits `mode` (exactly, regardless of the umask).
///
/// If `path` is a symlink, the link itself is replaced by a regular file.
pub fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let (temp_path, file) = create_temp(path, mode).map_err(|e| with_path(path, e))?;
    let written = fill_and_sync(file, contents).and_then(|()| fs::rename(&temp_path, path));
    if let Err(e) = written {
        // Best effort: the error that matters is the one we return.
        let _ = fs::remove_file(&temp_path);
        return Err(with_path(path, e));
    }
    sync_dir(&parent_dir(path)).map_err(|e| with_path(path, e))
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("writing {}: {e}", path.display()))
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates a new temp file next to `path`, never reusing an existing one (a stale file left by
/// a crashed process with the same PID is skipped, not clobbered).
fn create_temp(path: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    let name =
        path.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let dir = parent_dir(path);
    let pid = std::process::id();
    loop {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".tmp-{pid}-{n}"));
        let temp_path = dir.join(temp_name);
        // Created with `mode` so the content is never readable more widely than intended,
        // not even for the instant before a chmod.
        match OpenOptions::new().write(true).create_new(true).mode(mode).open(&temp_path) {
            Ok(file) => {
                // The umask may have narrowed `mode`; the caller asked for exactly `mode`.
                if let Err(e) = file.set_permissions(Permissions::from_mode(mode)) {
                    let _ = fs::remove_file(&temp_path);
                    return Err(e);
                }
                return Ok((temp_path, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}

fn fill_and_sync(mut file: File, contents: &[u8]) -> io::Result<()> {
    file.write_all(contents)?;
    // Without this the rename can reach the disk before the data, and a crash then leaves an
    // empty target.
    file.sync_all()
}

/// Makes the rename itself durable.
fn sync_dir(dir: &Path) -> io::Result<()> {
    let result = File::open(dir).and_then(|d| d.sync_all());
    match result {
        // Some file systems cannot sync a directory; the rename has happened regardless.
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) || e.kind() == io::ErrorKind::Unsupported => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;
    use std::thread;

    fn temp_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn creates_then_replaces_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_atomic(&path, b"first", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"first");
        write_atomic(&path, b"second, longer", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second, longer");
        write_atomic(&path, b"", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn applies_mode_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.pid");
        write_atomic(&path, b"1", 0o600).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        write_atomic(&path, b"2", 0o644).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o644);
    }

    #[test]
    fn failure_removes_temp_file_and_names_path() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("occupied");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"x").unwrap();
        let err = write_atomic(&target, b"data", 0o600).unwrap_err();
        assert!(err.to_string().contains("occupied"), "{err}");
        assert!(temp_files(dir.path()).is_empty());
        assert!(target.is_dir());
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent").join("file");
        let err = write_atomic(&path, b"data", 0o600).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(err.to_string().contains("absent"), "{err}");
    }

    #[test]
    fn readers_never_see_a_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let old = vec![b'a'; 64 * 1024];
        let new = vec![b'b'; 96 * 1024 + 7];
        write_atomic(&path, &old, 0o644).unwrap();

        let done = Arc::new(AtomicBool::new(false));
        let readers: Vec<_> = (0..4)
            .map(|_| {
                let (path, done, old, new) = (path.clone(), done.clone(), old.clone(), new.clone());
                thread::spawn(move || {
                    let mut reads = 0u64;
                    while !done.load(Ordering::Acquire) || reads == 0 {
                        let seen = fs::read(&path).unwrap();
                        assert!(seen == old || seen == new, "partial read: {} bytes", seen.len());
                        reads += 1;
                    }
                    reads
                })
            })
            .collect();

        for i in 0..200 {
            let contents = if i % 2 == 0 { &new } else { &old };
            write_atomic(&path, contents, 0o644).unwrap();
        }
        done.store(true, Ordering::Release);
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
        assert!(temp_files(dir.path()).is_empty());
    }
}
