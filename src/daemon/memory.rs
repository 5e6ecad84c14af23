//! Giving freed memory back to the operating system.
//!
//! glibc keeps memory freed by a thread in that thread's arena for reuse, so after a burst (a
//! batch of 10,000 submissions builds tens of megabytes of requests and replies) the daemon
//! would stay that large for its whole life. `malloc_trim` returns what is free. It runs once a
//! burst has settled and with every heartbeat; when nothing is free it costs microseconds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

/// How long after a burst to wait before trimming, so the burst's replies are gone too.
const SETTLE: Duration = Duration::from_millis(200);

/// Asks for a trim after a burst of work.
#[derive(Clone, Default)]
pub struct Trimmer {
    burst: Arc<Notify>,
}

impl Trimmer {
    /// Says a burst of work just happened.
    pub fn after_burst(&self) {
        self.burst.notify_one();
    }

    /// Trims once each burst has settled, until the runtime ends.
    pub async fn run(self) {
        loop {
            self.burst.notified().await;
            tokio::time::sleep(SETTLE).await;
            trim();
        }
    }
}

/// Limits glibc to two arenas: with one per thread, memory freed by one thread is not reused
/// by the others and the heap fragments. Call before the daemon's threads start.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Returns free memory to the operating system now.
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it is safe to call at any
    // time from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}
