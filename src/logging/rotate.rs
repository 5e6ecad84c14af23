//! A log file rotated by size: `daemon.log` -> `daemon.log.1` -> ... -> `daemon.log.N`.
//!
//! tracing-appender only rotates by time, and a daemon that runs for weeks needs a bound on
//! disk use instead. Every formatted event reaches the file through one `write` under one lock,
//! so lines from different threads never interleave and a rotation never splits an event.
//! The file cannot log its own failures, so those go to stderr (journald under systemd,
//! `/dev/null` when detached: a failing log is not allowed to stop the daemon).

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tracing_subscriber::fmt::MakeWriter;

/// The active log file plus the policy for rotating it.
#[derive(Debug)]
pub struct SizeRotatingFile {
    path: PathBuf,
    file: File,
    size: u64,
    max_bytes: u64,
    max_files: u32,
    /// Set after a failure was printed, cleared by the next success: one message per outage
    /// instead of one per event.
    rotate_failure_reported: bool,
    write_failure_reported: bool,
}

impl SizeRotatingFile {
    /// Opens (or creates, mode 0600) `path` for appending; its current length counts toward
    /// `max_bytes`. `max_files` is the number of rotated files kept next to it.
    pub fn open(path: &Path, max_bytes: u64, max_files: u32) -> io::Result<Self> {
        let file = open_append(path)?;
        let size =
            file.metadata().map_err(|e| io::Error::new(e.kind(), format!("reading {}: {e}", path.display())))?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes,
            max_files,
            rotate_failure_reported: false,
            write_failure_reported: false,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes in the active file, as far as this writer knows.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// New limits apply from the next event; files beyond a lowered `max_files` are removed at
    /// the next rotation.
    pub fn set_limits(&mut self, max_bytes: u64, max_files: u32) {
        self.max_bytes = max_bytes;
        self.max_files = max_files;
    }

    /// Appends one complete event, rotating first when it would push the file past the limit.
    /// An event larger than the limit is still written whole, alone in a fresh file.
    pub fn write_event(&mut self, event: &[u8]) -> io::Result<()> {
        if event.is_empty() {
            return Ok(());
        }
        let len = event.len() as u64;
        if self.size > 0 && self.size.saturating_add(len) > self.max_bytes {
            match self.rotate() {
                Ok(()) => self.rotate_failure_reported = false,
                Err(e) => {
                    // Keep appending to the current file: an oversized log beats a lost event.
                    if !self.rotate_failure_reported {
                        self.rotate_failure_reported = true;
                        let message = format!("cannot rotate {}: {e}; writing on in it", self.path.display());
                        report(&message);
                        // Where `steward daemon logs` shows it, too (stderr is often nobody's).
                        let line = format!("steward: {message}\n");
                        if self.file.write_all(line.as_bytes()).is_ok() {
                            self.size += line.len() as u64;
                        }
                    }
                }
            }
        }
        self.file
            .write_all(event)
            .map_err(|e| io::Error::new(e.kind(), format!("writing {}: {e}", self.path.display())))?;
        self.size += len;
        Ok(())
    }

    /// Shifts `path.{k}` to `path.{k+1}`, the active file to `path.1`, and opens a fresh one.
    fn rotate(&mut self) -> io::Result<()> {
        // Rename over the oldest kept slot deletes it; anything past it is left over from a
        // larger `max_files` and goes too.
        remove_from(&self.path, self.max_files.saturating_add(1))?;
        if self.max_files == 0 {
            remove_if_exists(&self.path)?;
        } else {
            for k in (1..self.max_files).rev() {
                rename_if_exists(&numbered(&self.path, k), &numbered(&self.path, k + 1))?;
            }
            fs::rename(&self.path, numbered(&self.path, 1))
                .map_err(|e| io::Error::new(e.kind(), format!("renaming {}: {e}", self.path.display())))?;
        }
        // If this fails, the old handle still points at the renamed file and writes continue
        // there; the next event retries the rotation.
        self.file = open_append(&self.path)?;
        self.size = 0;
        Ok(())
    }

    fn report_write_failure(&mut self, e: &io::Error) {
        if !self.write_failure_reported {
            self.write_failure_reported = true;
            report(&format!("cannot write the log: {e}"));
        }
    }
}

/// `daemon.log` -> `daemon.log.{k}`.
pub fn numbered(path: &Path, k: u32) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(format!(".{k}"));
    PathBuf::from(name)
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io::Error::new(e.kind(), format!("opening {}: {e}", path.display())))
}

fn rename_if_exists(from: &Path, to: &Path) -> io::Result<()> {
    match fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io::Error::new(e.kind(), format!("renaming {}: {e}", from.display())))
        }
        _ => Ok(()),
    }
}

fn remove_if_exists(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io::Error::new(e.kind(), format!("removing {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}

/// Removes `path.{first}`, `path.{first+1}`, ... up to the first one that does not exist.
fn remove_from(path: &Path, first: u32) -> io::Result<()> {
    let mut k = first;
    loop {
        let old = numbered(path, k);
        if fs::symlink_metadata(&old).is_err() {
            return Ok(());
        }
        remove_if_exists(&old)?;
        k = k.saturating_add(1);
    }
}

fn report(message: &str) {
    // `eprintln!` panics when stderr is gone; the daemon must not die over its log.
    let _ = writeln!(io::stderr(), "steward: {message}");
}

/// A clonable handle to one [`SizeRotatingFile`], usable as the writer of a `fmt` layer.
#[derive(Debug, Clone)]
pub struct RotatingWriter {
    inner: Arc<Mutex<SizeRotatingFile>>,
}

impl RotatingWriter {
    pub fn new(file: SizeRotatingFile) -> Self {
        Self { inner: Arc::new(Mutex::new(file)) }
    }

    /// Changes the limits at runtime (config reload).
    pub fn set_limits(&self, max_bytes: u64, max_files: u32) {
        self.lock().set_limits(max_bytes, max_files);
    }

    pub fn path(&self) -> PathBuf {
        self.lock().path().to_path_buf()
    }

    fn lock(&self) -> MutexGuard<'_, SizeRotatingFile> {
        // A panic while holding the lock cannot leave the file half-updated in a way that
        // matters more than losing the log, so keep logging.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl<'a> MakeWriter<'a> for RotatingWriter {
    type Writer = EventWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter { target: self, buf: Vec::new() }
    }
}

/// Collects one formatted event and hands it to the file in a single write when flushed or
/// dropped, whatever pieces the formatter writes it in.
#[derive(Debug)]
pub struct EventWriter<'a> {
    target: &'a RotatingWriter,
    buf: Vec<u8>,
}

impl EventWriter<'_> {
    fn deliver(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut file = self.target.lock();
        match file.write_event(&self.buf) {
            Ok(()) => file.write_failure_reported = false,
            Err(e) => file.report_write_failure(&e),
        }
        self.buf.clear();
    }
}

impl Write for EventWriter<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.deliver();
        Ok(())
    }
}

impl Drop for EventWriter<'_> {
    fn drop(&mut self) {
        self.deliver();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<_> =
            fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        names
    }

    fn read(path: &Path) -> String {
        fs::read_to_string(path).unwrap()
    }

    /// A 40-byte event (39 characters and a newline) naming `i`.
    fn event(i: usize) -> String {
        format!("{:<39}\n", format!("event {i}"))
    }

    #[test]
    fn rotates_and_deletes_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut log = SizeRotatingFile::open(&path, 100, 2).unwrap();
        for i in 0..7 {
            log.write_event(event(i).as_bytes()).unwrap();
        }
        assert_eq!(names(dir.path()), ["daemon.log", "daemon.log.1", "daemon.log.2"]);
        assert_eq!(read(&path), event(6));
        assert_eq!(read(&numbered(&path, 1)), event(4) + &event(5));
        assert_eq!(read(&numbered(&path, 2)), event(2) + &event(3));
        assert_eq!(log.size(), 40);
    }

    #[test]
    fn counts_existing_content_and_creates_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        fs::write(&path, "x".repeat(90)).unwrap();
        let mut log = SizeRotatingFile::open(&path, 100, 2).unwrap();
        assert_eq!(log.size(), 90);
        log.write_event(event(0).as_bytes()).unwrap();
        assert_eq!(read(&numbered(&path, 1)), "x".repeat(90));
        assert_eq!(read(&path), event(0));
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn oversized_event_is_written_whole_in_a_fresh_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut log = SizeRotatingFile::open(&path, 100, 2).unwrap();
        let big = format!("{}\n", "b".repeat(249));
        log.write_event(big.as_bytes()).unwrap();
        assert_eq!(names(dir.path()), ["daemon.log"]);
        log.write_event(event(0).as_bytes()).unwrap();
        log.write_event(big.as_bytes()).unwrap();
        assert_eq!(read(&path), big);
        assert_eq!(read(&numbered(&path, 1)), event(0));
        assert_eq!(read(&numbered(&path, 2)), big);
    }

    #[test]
    fn zero_rotated_files_keeps_only_the_active_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut log = SizeRotatingFile::open(&path, 100, 0).unwrap();
        for i in 0..4 {
            log.write_event(event(i).as_bytes()).unwrap();
        }
        assert_eq!(names(dir.path()), ["daemon.log"]);
        assert_eq!(read(&path), event(2) + &event(3));
    }

    #[test]
    fn lowering_max_files_removes_the_surplus_at_the_next_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let mut log = SizeRotatingFile::open(&path, 40, 4).unwrap();
        for i in 0..5 {
            log.write_event(event(i).as_bytes()).unwrap();
        }
        assert_eq!(names(dir.path()).len(), 5);
        log.set_limits(40, 1);
        log.write_event(event(5).as_bytes()).unwrap();
        assert_eq!(names(dir.path()), ["daemon.log", "daemon.log.1"]);
        assert_eq!(read(&numbered(&path, 1)), event(4));
    }

    #[test]
    fn failed_rotation_keeps_the_event_and_retries_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let blocker = numbered(&path, 1);
        fs::create_dir(&blocker).unwrap();
        fs::write(blocker.join("keep"), "x").unwrap();

        let mut log = SizeRotatingFile::open(&path, 40, 1).unwrap();
        for i in 0..3 {
            log.write_event(event(i).as_bytes()).unwrap();
        }
        // The failure is noted once, in the file, before the event that found it.
        let note = format!(
            "steward: cannot rotate {}: renaming {}: Is a directory (os error 21); writing on in it\n",
            path.display(),
            path.display()
        );
        let kept = event(0) + &note + &event(1) + &event(2);
        assert_eq!(read(&path), kept);
        assert!(log.rotate_failure_reported);

        fs::remove_dir_all(&blocker).unwrap();
        log.write_event(event(3).as_bytes()).unwrap();
        assert_eq!(read(&blocker), kept);
        assert_eq!(read(&path), event(3));
        assert!(!log.rotate_failure_reported);
    }

    #[test]
    fn concurrent_events_never_interleave() {
        const THREADS: usize = 8;
        const EVENTS: usize = 300;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("daemon.log");
        let writer = RotatingWriter::new(SizeRotatingFile::open(&path, 4096, 1000).unwrap());

        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let writer = writer.clone();
                thread::spawn(move || {
                    for i in 0..EVENTS {
                        // Several small writes per event, as a formatter does.
                        let mut w = writer.make_writer();
                        write!(w, "thread={t} ").unwrap();
                        write!(w, "event={i} ").unwrap();
                        w.write_all(&vec![b'x'; (t * 7 + i) % 50]).unwrap();
                        w.write_all(b" end\n").unwrap();
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().unwrap();
        }

        let mut lines = 0;
        for name in names(dir.path()) {
            let text = read(&dir.path().join(name));
            assert!(text.ends_with('\n'));
            for line in text.lines() {
                let parts: Vec<_> = line.split(' ').collect();
                assert_eq!(parts.len(), 4, "interleaved line: {line:?}");
                assert!(parts[0].starts_with("thread=") && parts[1].starts_with("event="));
                assert!(parts[2].bytes().all(|b| b == b'x') && parts[3] == "end");
                lines += 1;
            }
            assert!(text.len() <= 4096 || text.lines().count() == 1);
        }
        assert_eq!(lines, THREADS * EVENTS);
    }
}
