//! The single writer: one thread owns the write connection and commits work in groups.
//!
//! Durability costs one fsync per commit. Committing each change on its own would cap the daemon
//! at a few thousand changes per second and make every caller wait for its own fsync; instead,
//! whatever is waiting when the writer is free goes into one transaction, each job in its own
//! savepoint (a failing job is rolled back alone), and every caller is answered only after the
//! COMMIT returned. Calls that arrived in one JSON-RPC batch are waited for and committed
//! together: the batch is sealed once all its calls have handed over their jobs.

use std::sync::{Arc, OnceLock, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;
use steward_ipc::Batch;
use tokio::sync::oneshot;

use super::StoreError;

/// One caller's work: run inside the group's transaction, then told how the COMMIT went.
trait Pending: Send {
    /// Runs the work; false when it failed (its savepoint is then rolled back).
    fn run(&mut self, conn: &Connection) -> bool;
    /// Answers the caller. Also called for work that never ran because the group failed first.
    fn complete(self: Box<Self>, commit: Result<(), StoreError>);
}

struct Job {
    pending: Box<dyn Pending>,
    batch: Option<Batch>,
}

/// What the writer thread receives.
enum Message {
    Job(Job),
    /// Checkpoint the log into the database and end the thread, closing the connection.
    Close,
}

/// Run on the writer thread once the work is committed, whether or not anyone still waits.
type OnCommit<T> = Box<dyn FnOnce(&T) + Send>;

/// Work whose caller waits for the result.
struct Awaited<T, F> {
    work: Option<F>,
    result: Option<rusqlite::Result<T>>,
    on_commit: Option<OnCommit<T>>,
    reply: oneshot::Sender<Result<T, StoreError>>,
}

impl<T, F> Pending for Awaited<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> rusqlite::Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = self.work.take().map(|work| work(conn));
        let ok = matches!(result, Some(Ok(_)));
        self.result = result;
        ok
    }

    fn complete(self: Box<Self>, commit: Result<(), StoreError>) {
        let answer = match (self.result, commit) {
            (Some(Err(e)), _) => Err(StoreError::from(e)),
            (_, Err(e)) => Err(e),
            (Some(Ok(value)), Ok(())) => {
                if let Some(on_commit) = self.on_commit {
                    on_commit(&value);
                }
                Ok(value)
            }
            (None, Ok(())) => Err(StoreError::Sqlite("the write was not run".into())),
        };
        let _ = self.reply.send(answer);
    }
}

/// Work nobody waits for; a failure is logged.
struct Forgotten<F> {
    what: &'static str,
    work: Option<F>,
    result: Option<rusqlite::Result<()>>,
}

impl<F> Pending for Forgotten<F>
where
    F: FnOnce(&Connection) -> rusqlite::Result<()> + Send,
{
    fn run(&mut self, conn: &Connection) -> bool {
        let result = self.work.take().map(|work| work(conn));
        let ok = matches!(result, Some(Ok(())));
        self.result = result;
        ok
    }

    fn complete(self: Box<Self>, commit: Result<(), StoreError>) {
        let outcome = match self.result {
            Some(Err(e)) => Err(StoreError::from(e)),
            _ => commit,
        };
        if let Err(e) = outcome {
            tracing::warn!(what = self.what, error = %e, "store write failed");
        }
    }
}

/// How long the writer waits for a batch's other calls before committing without them.
const BATCH_PATIENCE: Duration = Duration::from_secs(1);

/// Told the size of each committed group (for example to give memory back after a burst).
type CommitObserver = Box<dyn Fn(usize) + Send + Sync>;

/// A handle to the writer thread. Cloning it is cheap; the thread ends when every handle is gone.
#[derive(Clone)]
pub struct Writer {
    jobs: mpsc::Sender<Message>,
    observer: Arc<OnceLock<CommitObserver>>,
}

impl Writer {
    /// Starts the writer on its own thread with `conn`.
    pub(super) fn start(conn: Connection) -> std::io::Result<(Writer, JoinHandle<()>)> {
        let (jobs, queue) = mpsc::channel();
        let observer = Arc::new(OnceLock::new());
        let observed = observer.clone();
        let thread =
            std::thread::Builder::new().name("steward-writer".into()).spawn(move || run(conn, queue, observed))?;
        Ok((Writer { jobs, observer }, thread))
    }

    /// Calls `observer` with the number of jobs after each committed group (set once).
    pub fn observe_commits(&self, observer: impl Fn(usize) + Send + Sync + 'static) {
        let _ = self.observer.set(Box::new(observer));
    }

    /// Hands `work` to the writer at once (before the returned future is polled) and resolves
    /// with its result once it is committed, i.e. durable.
    pub fn write<T, F>(&self, batch: Option<Batch>, work: F) -> impl Future<Output = Result<T, StoreError>> + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        self.submit_job(batch, work, None)
    }

    /// Like [`write`](Self::write), and once the work is committed, `on_commit` runs on the
    /// writer thread with its result, even if the caller has stopped waiting. For what must
    /// follow a durable change (announcing it), it cannot be lost with a dropped caller.
    pub fn write_then<T, F, C>(
        &self,
        batch: Option<Batch>,
        work: F,
        on_commit: C,
    ) -> impl Future<Output = Result<T, StoreError>> + use<T, F, C>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
        C: FnOnce(&T) + Send + 'static,
    {
        self.submit_job(batch, work, Some(Box::new(on_commit)))
    }

    fn submit_job<T, F>(
        &self,
        batch: Option<Batch>,
        work: F,
        on_commit: Option<OnCommit<T>>,
    ) -> impl Future<Output = Result<T, StoreError>> + use<T, F>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let pending = Box::new(Awaited { work: Some(work), result: None, on_commit, reply });
        let sent = self.jobs.send(Message::Job(Job { pending, batch })).is_ok();
        async move {
            if !sent {
                return Err(StoreError::WriterGone);
            }
            answer.await.unwrap_or(Err(StoreError::WriterGone))
        }
    }

    /// Hands `work` to the writer without waiting for it; a failure is logged.
    pub fn write_and_forget<F>(&self, what: &'static str, work: F)
    where
        F: FnOnce(&Connection) -> rusqlite::Result<()> + Send + 'static,
    {
        let pending = Box::new(Forgotten { what, work: Some(work), result: None });
        if self.jobs.send(Message::Job(Job { pending, batch: None })).is_err() {
            tracing::warn!(what, "store writer is gone; write dropped");
        }
    }

    /// Ends the writer once what was handed over before is committed: the write-ahead log is
    /// folded into the database and the connection closed. Later writes fail.
    pub(super) fn close(&self) {
        let _ = self.jobs.send(Message::Close);
    }
}

fn run(mut conn: Connection, queue: mpsc::Receiver<Message>, observer: Arc<OnceLock<CommitObserver>>) {
    let mut closing = false;
    while !closing {
        let first = match queue.recv() {
            Ok(Message::Job(job)) => job,
            Ok(Message::Close) | Err(_) => break,
        };
        let mut jobs = vec![first];
        closing |= drain(&queue, &mut jobs);
        // Calls of one batch go into one transaction: wait until every call of each batch in
        // hand has handed over its job.
        loop {
            let waiting: Vec<Batch> =
                jobs.iter().filter_map(|job| job.batch.clone()).filter(|batch| !batch.is_sealed()).collect();
            if waiting.is_empty() {
                break;
            }
            for batch in waiting {
                if !batch.wait_sealed(BATCH_PATIENCE) {
                    tracing::warn!(batch = batch.id(), "a batch was not sealed in time; committing what arrived");
                }
            }
            closing |= drain(&queue, &mut jobs);
            if closing || jobs.iter().filter_map(|job| job.batch.as_ref()).all(Batch::is_sealed) {
                break;
            }
        }
        let size = jobs.len();
        commit_group(&mut conn, jobs);
        if let Some(observe) = observer.get() {
            observe(size);
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "could not checkpoint the store's log at close");
    }
}

/// Takes the jobs waiting; true when a close request was among them (what follows it is left).
fn drain(queue: &mpsc::Receiver<Message>, jobs: &mut Vec<Job>) -> bool {
    while let Ok(message) = queue.try_recv() {
        match message {
            Message::Job(job) => jobs.push(job),
            Message::Close => return true,
        }
    }
    false
}

fn commit_group(conn: &mut Connection, jobs: Vec<Job>) {
    let mut pending: Vec<Box<dyn Pending>> = jobs.into_iter().map(|job| job.pending).collect();
    let outcome = (|| -> rusqlite::Result<()> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for job in &mut pending {
            tx.execute_batch("SAVEPOINT job")?;
            if !job.run(&tx) {
                tx.execute_batch("ROLLBACK TO job")?;
            }
            tx.execute_batch("RELEASE job")?;
        }
        tx.commit()
    })();
    let outcome = outcome.map_err(StoreError::from);
    if let Err(e) = &outcome {
        tracing::error!(error = %e, jobs = pending.len(), "commit failed; the whole group is rolled back");
    }
    for job in pending {
        job.complete(outcome.clone());
    }
}
