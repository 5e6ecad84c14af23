//! Which calls arrived together in one JSON-RPC batch.
//!
//! Every call of a batch finds a [`Batch`] in its `Extensions`. The batch is *sealed* once every
//! one of its calls has been started (polled once), so a method that hands work to a single
//! writer can wait for the seal and then knows that the batch's other calls have handed over
//! theirs too: a batch of writes can become one transaction.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// The batch a call arrived in.
#[derive(Debug, Clone)]
pub struct Batch {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    id: u64,
    len: usize,
    sealed: Mutex<bool>,
    changed: Condvar,
    notify: tokio::sync::Notify,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl Batch {
    /// A batch of `len` calls. The server makes these; another transport, or a test, may too.
    pub fn new(len: usize) -> Self {
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        Self {
            inner: Arc::new(Inner {
                id,
                len,
                sealed: Mutex::new(false),
                changed: Condvar::new(),
                notify: tokio::sync::Notify::new(),
            }),
        }
    }

    /// Unique within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// How many entries the batch had (valid or not).
    pub fn len(&self) -> usize {
        self.inner.len
    }

    /// Whether the batch had no entries (never true: an empty batch is refused).
    pub fn is_empty(&self) -> bool {
        self.inner.len == 0
    }

    /// Whether every call of the batch has been started.
    pub fn is_sealed(&self) -> bool {
        *self.inner.sealed.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Blocks the calling thread until the batch is sealed or `timeout` passes; returns whether
    /// it is sealed. For threads outside the async runtime, such as a database writer.
    pub fn wait_sealed(&self, timeout: Duration) -> bool {
        let sealed = self.inner.sealed.lock().unwrap_or_else(|p| p.into_inner());
        let (sealed, _) = self
            .inner
            .changed
            .wait_timeout_while(sealed, timeout, |sealed| !*sealed)
            .unwrap_or_else(|p| p.into_inner());
        *sealed
    }

    /// Completes once the batch is sealed.
    pub async fn sealed(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_sealed() {
                return;
            }
            notified.await;
        }
    }

    /// Marks every call of the batch as started.
    pub fn seal(&self) {
        *self.inner.sealed.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.inner.changed.notify_all();
        self.inner.notify.notify_waiters();
    }
}
