//! The store: SQLite at `.steward/daemon/steward.db`, the source of truth for tasks and events.
//!
//! WAL mode with `synchronous = FULL`: a commit is on disk when it returns, so an acknowledged
//! write survives `kill -9` and power loss, and readers never block the writer. All writes go
//! through one [`Writer`] thread that commits in groups; reads use a small pool of read-only
//! connections on the blocking pool. A store that cannot be opened as ours (not a database,
//! corrupt, or written by a newer steward) is moved aside under a name that says when and why,
//! never overwritten, and the daemon starts with an empty one.

pub(crate) mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use rusqlite::{Connection, OpenFlags};

pub use writer::Writer;

/// Why the store failed. Cloneable: one failed commit answers every caller in its group.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// SQLite reported an error (for example a full disk).
    #[error("the store failed: {0}")]
    Sqlite(String),
    /// The writer thread has stopped (the daemon is stopping).
    #[error("the store's writer has stopped")]
    WriterGone,
    /// The file could not be opened or prepared.
    #[error("cannot open the store {path}: {message}")]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Sqlite(format!(
                "{e}: the disk that holds .steward/daemon/steward.db has no space left; nothing was written. Free \
                 some space and try again (the daemon goes on and needs no restart)"
            )),
            Some(rusqlite::ErrorCode::ReadOnly | rusqlite::ErrorCode::CannotOpen) => StoreError::Sqlite(format!(
                "{e}: .steward/daemon/steward.db (or its directory) cannot be written; check its permissions and the \
                 file system's free space"
            )),
            _ => StoreError::Sqlite(e.to_string()),
        }
    }
}

/// Read connections kept open for reuse.
const READERS: usize = 2;
/// Page cache of a read connection, in KiB: reads are small pages of an indexed table.
const READER_CACHE_KIB: i64 = 512;
/// Page cache of the write connection, in KiB: enough for the indexes' hot pages.
const WRITER_CACHE_KIB: i64 = 1024;

/// The opened store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    writer: Writer,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

/// A store just opened, and anything its user must be told about it.
pub struct Opened {
    /// The store.
    pub store: Store,
    /// What happened to an unusable store file, if anything (to report at start).
    pub warnings: Vec<String>,
}

/// Why an existing file is not usable as our store.
enum Unusable {
    Corrupt(String),
    Newer(i64),
}

impl Store {
    /// Opens (creating or migrating) the store at `path`; an unusable file is moved aside.
    pub fn open(path: &Path) -> Result<Opened, StoreError> {
        let open_error = |message: String| StoreError::Open { path: path.to_owned(), message };
        let mut warnings = Vec::new();
        let conn = match open_checked(path) {
            Ok(conn) => conn,
            Err(Err(e)) => return Err(open_error(e.to_string())),
            Err(Ok(unusable)) => {
                let (aside, why) = move_aside(path, &unusable).map_err(|e| open_error(e.to_string()))?;
                let warning = format!(
                    "{} {why}; it was moved to {} and the daemon started with an empty store",
                    path.display(),
                    aside.display()
                );
                tracing::error!("{warning}");
                warnings.push(warning);
                open_checked(path).map_err(|e| match e {
                    Ok(Unusable::Corrupt(message)) => open_error(message),
                    Ok(Unusable::Newer(version)) => open_error(format!("still at version {version}")),
                    Err(e) => open_error(e.to_string()),
                })?
            }
        };
        let mut conn = conn;
        schema::migrate(&mut conn).map_err(|e| open_error(format!("preparing the schema: {e}")))?;
        let (writer, thread) = Writer::start(conn).map_err(|e| open_error(format!("starting the writer: {e}")))?;
        let store = Store {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                writer,
                thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
            }),
        };
        Ok(Opened { store, warnings })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The writer.
    pub fn writer(&self) -> &Writer {
        &self.inner.writer
    }

    /// Commits what was handed over, folds the write-ahead log into the database and closes
    /// every connection, so that a stopped daemon leaves only `steward.db`. Blocks until done;
    /// later writes fail.
    pub fn close(&self) {
        self.inner.readers.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.inner.writer.close();
        let thread = self.inner.thread.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!("the store's writer ended with a panic");
        }
    }

    /// Runs `read` on a read-only connection, off the async threads.
    pub async fn read<T, F>(&self, read: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&inner.path)?,
            };
            let result = read(&conn).map_err(StoreError::from);
            let mut pool = inner.readers.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < READERS && inner.thread.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Sqlite(format!("a read failed: {e}")))?
    }

    /// Runs `read` on a read-only connection on the calling thread (for startup and tests).
    pub fn read_now<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, StoreError> {
        let conn = open_reader(&self.inner.path)?;
        Ok(read(&conn)?)
    }
}

/// Brings an in-memory connection to the current schema, for tests of the SQL modules.
#[cfg(test)]
pub(crate) fn migrate_for_tests(conn: &mut Connection) {
    schema::migrate(conn).expect("the schema applies");
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "foreign_keys", true)
}

fn open_reader(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    configure(&conn)?;
    // Negative: a size in KiB rather than in pages.
    conn.pragma_update(None, "cache_size", -READER_CACHE_KIB)?;
    Ok(conn)
}

/// Opens the write connection and checks that the file is a store this version can use.
/// `Err(Ok(_))`: the file is unusable and should be moved aside; `Err(Err(_))`: another failure.
fn open_checked(path: &Path) -> Result<Connection, Result<Unusable, rusqlite::Error>> {
    let conn = Connection::open(path).map_err(Err)?;
    let corrupt = |e: rusqlite::Error| -> Result<Unusable, rusqlite::Error> {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                Ok(Unusable::Corrupt(e.to_string()))
            }
            _ => Err(e),
        }
    };
    configure(&conn).map_err(corrupt)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0)).map_err(corrupt)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(mode, "the store is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(corrupt)?;
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB).map_err(corrupt)?;
    let version = schema::version(&conn).map_err(corrupt)?;
    if version > schema::CURRENT {
        return Err(Ok(Unusable::Newer(version)));
    }
    // Touch every table's root page, so that a damaged file is found now rather than mid-write.
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get::<_, i64>(0)).map_err(corrupt)?;
    let integrity: String = conn.query_row("PRAGMA quick_check(1)", [], |row| row.get(0)).map_err(corrupt)?;
    if integrity != "ok" {
        return Err(Ok(Unusable::Corrupt(format!("integrity check: {integrity}"))));
    }
    Ok(conn)
}

/// Renames the store (and its WAL and shared-memory files) to `steward.db.corrupt-<time>`.
fn move_aside(path: &Path, why: &Unusable) -> std::io::Result<(PathBuf, String)> {
    let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "steward.db".into());
    let aside = path.with_file_name(format!("{name}.corrupt-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        let to = PathBuf::from(format!("{}{suffix}", aside.display()));
        match std::fs::rename(&from, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    let why = match why {
        Unusable::Corrupt(message) => format!("could not be read as a steward store ({message})"),
        Unusable::Newer(version) => format!(
            "was written by a newer steward (schema version {version}; this one knows up to {})",
            schema::CURRENT
        ),
    };
    Ok((aside, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn a_fresh_store_is_created_in_wal_mode_at_the_current_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steward.db");
        let opened = Store::open(&path).unwrap();
        assert!(opened.warnings.is_empty());
        let (mode, version) = opened
            .store
            .read_now(|c| {
                let mode: String = c.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
                Ok((mode, schema::version(c)?))
            })
            .unwrap();
        assert_eq!((mode.as_str(), version), ("wal", schema::CURRENT));
    }

    #[test]
    fn writes_are_committed_before_they_are_acknowledged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steward.db");
        let store = Store::open(&path).unwrap().store;
        runtime().block_on(async {
            let writes = (0..200).map(|i| {
                store.writer().write(None, move |c| {
                    c.execute("INSERT INTO events (seq, time, topic, data) VALUES (?1, 't', 'x', 'null')", [i])
                })
            });
            for result in futures_util::future::join_all(writes).await {
                assert_eq!(result.unwrap(), 1);
            }
            // Visible to a new reader, i.e. committed.
            let n: i64 = store.read(|c| c.query_row("SELECT count(*) FROM events", [], |r| r.get(0))).await.unwrap();
            assert_eq!(n, 200);
        });
    }

    #[test]
    fn a_failing_job_is_rolled_back_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("steward.db")).unwrap().store;
        runtime().block_on(async {
            let insert = |seq: i64| {
                store.writer().write(None, move |c| {
                    c.execute("INSERT INTO events (seq, time, topic, data) VALUES (?1, 't', 'x', 'null')", [seq])?;
                    // A second statement of the same job fails (duplicate key) after the first ran.
                    c.execute("INSERT INTO events (seq, time, topic, data) VALUES (?1, 't', 'x', 'null')", [seq])
                })
            };
            let good = store.writer().write(None, |c| {
                c.execute("INSERT INTO events (seq, time, topic, data) VALUES (100, 't', 'x', 'null')", [])
            });
            let (bad, good) = futures_util::join!(insert(1), good);
            assert!(bad.is_err());
            assert_eq!(good.unwrap(), 1);
            let seqs: Vec<i64> = store
                .read(|c| c.prepare("SELECT seq FROM events ORDER BY seq")?.query_map([], |r| r.get(0))?.collect())
                .await
                .unwrap();
            assert_eq!(seqs, vec![100], "the failed job left nothing behind");
        });
    }

    #[test]
    fn a_file_that_is_not_a_database_is_moved_aside_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steward.db");
        std::fs::write(&path, b"this is not a database, it is 42 bytes of text".repeat(100)).unwrap();
        let opened = Store::open(&path).unwrap();
        assert_eq!(opened.warnings.len(), 1);
        assert!(opened.warnings[0].contains("could not be read as a steward store"), "{}", opened.warnings[0]);
        let aside: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("steward.db.corrupt-"))
            .collect();
        assert_eq!(aside.len(), 1);
        assert!(std::fs::read(aside[0].path()).unwrap().starts_with(b"this is not a database"));
        assert_eq!(opened.store.read_now(schema::version).unwrap(), schema::CURRENT);
    }

    #[test]
    fn a_store_from_a_newer_version_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steward.db");
        {
            let conn = Connection::open(&path).unwrap();
            conn.pragma_update(None, "user_version", schema::CURRENT + 7).unwrap();
        }
        let opened = Store::open(&path).unwrap();
        assert!(opened.warnings[0].contains("newer steward"), "{}", opened.warnings[0]);
        assert_eq!(opened.store.read_now(schema::version).unwrap(), schema::CURRENT);
    }
}

#[cfg(test)]
mod close_tests {
    use super::*;

    #[test]
    fn close_commits_what_was_handed_over_and_leaves_only_the_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("steward.db");
        let store = Store::open(&path).unwrap().store;
        store.writer().write_and_forget("test", |c| {
            c.execute("INSERT INTO events (seq, time, topic, data) VALUES (1, 't', 'x', 'null')", []).map(drop)
        });
        store.read_now(|c| c.query_row("SELECT 1", [], |_| Ok(()))).unwrap();
        store.close();
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["steward.db"], "the log and shared memory files are gone");
        let conn = Connection::open(&path).unwrap();
        let n: i64 = conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}

#[cfg(test)]
mod batch_tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn the_calls_of_one_batch_are_committed_in_one_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("steward.db")).unwrap().store;
        let groups = Arc::new(Mutex::new(Vec::new()));
        let seen = groups.clone();
        store.writer().observe_commits(move |jobs| seen.lock().unwrap().push(jobs));
        let batch = steward_ipc::Batch::new(3);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let insert = |seq: i64| {
            store.writer().write(Some(batch.clone()), move |c| {
                c.execute("INSERT INTO events (seq, time, topic, data) VALUES (?1, 't', 'x', 'null')", [seq])
            })
        };
        // The first call's job arrives alone; the writer must wait for the rest of the batch.
        let first = insert(1);
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (second, third) = (insert(2), insert(3));
        batch.seal();
        runtime.block_on(async {
            let (a, b, c) = futures_util::join!(first, second, third);
            assert_eq!((a.unwrap(), b.unwrap(), c.unwrap()), (1, 1, 1));
        });
        // The observer hears of the group just after the callers are answered.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while groups.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(*groups.lock().unwrap(), vec![3], "one commit for the three calls of the batch");
    }
}
