//! When a batch is delivered, and what it holds: changes are merged per path (see `merge`) and the
//! batch is due once `debounce` has passed without a new change (trailing edge), but never later
//! than `max_wait` after its first change. Pure: the caller passes the time in.
//!
//! `max_wait` is 10 × `debounce`. Ordinary bursts (an editor's save, a `git checkout`, a code
//! generator's run) last well under ten quiet periods, so they still end in one batch on the
//! trailing edge; a tool that keeps writing forever (a log we were not told to ignore, a watch-mode
//! build writing into the tree) still yields a batch every 10 s at the default 1 s debounce instead
//! of starving the rules, and that is at most one batch per ten quiet periods, so the rule engine is
//! not flooded either. It scales with `debounce` because whoever raised the quiet period asked for
//! fewer, larger batches.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::merge::{Seen, merge};
use super::{Change, ChangeBatch};

/// How much longer than `debounce` constant activity may hold a batch back.
const MAX_WAIT_FACTOR: u32 = 10;

/// The longest a batch waits after its first change.
pub fn max_wait_for(debounce: Duration) -> Duration {
    debounce.saturating_mul(MAX_WAIT_FACTOR)
}

/// The batch being gathered.
#[derive(Debug)]
pub(super) struct Batch {
    debounce: Duration,
    max_wait: Duration,
    /// Net change per path; a `BTreeMap` so the delivered list comes out sorted by path.
    pending: BTreeMap<String, Seen>,
    /// The kernel dropped events: the next delivery rescans first.
    rescan: bool,
    /// When the first and the latest change of this batch arrived; `None` while nothing is pending.
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Batch {
    pub(super) fn new(debounce: Duration) -> Batch {
        Batch {
            debounce,
            max_wait: max_wait_for(debounce),
            pending: BTreeMap::new(),
            rescan: false,
            first: None,
            last: None,
        }
    }

    /// Adds one change of `path` seen at `now`.
    pub(super) fn observe(&mut self, path: String, seen: Seen, now: Instant) {
        self.touch(now);
        match self.pending.get(&path).copied() {
            None => {
                self.pending.insert(path, seen);
            }
            Some(earlier) => match merge(Some(earlier), seen) {
                Some(net) => {
                    self.pending.insert(path, net);
                }
                None => {
                    self.pending.remove(&path);
                }
            },
        }
    }

    /// Events were lost at `now`: the delivery must rescan, and is marked as a rescan.
    pub(super) fn request_rescan(&mut self, now: Instant) {
        self.touch(now);
        self.rescan = true;
    }

    fn touch(&mut self, now: Instant) {
        self.first.get_or_insert(now);
        self.last = Some(now);
    }

    /// Whether the next delivery must rescan first.
    pub(super) fn rescan_requested(&self) -> bool {
        self.rescan
    }

    /// When the batch is due; `None` while nothing is pending (the caller then waits without a
    /// timeout, so an idle watcher never wakes).
    /// A debounce too large to add to the clock (from an absurd `debounce_ms`) means "never".
    pub(super) fn deadline(&self) -> Option<Instant> {
        let trailing = self.last?.checked_add(self.debounce);
        let capped = self.first?.checked_add(self.max_wait);
        match (trailing, capped) {
            (Some(trailing), Some(capped)) => Some(trailing.min(capped)),
            (trailing, capped) => trailing.or(capped),
        }
    }

    pub(super) fn is_due(&self, now: Instant) -> bool {
        self.deadline().is_some_and(|deadline| now >= deadline)
    }

    /// Ends the batch: its changes sorted by path, or `None` when they all cancelled out (a file
    /// created and deleted again) and no rescan was asked for.
    pub(super) fn take(&mut self) -> Option<ChangeBatch> {
        self.first = None;
        self.last = None;
        let rescan = std::mem::take(&mut self.rescan);
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() && !rescan {
            return None;
        }
        let changes = pending.into_iter().map(|(path, seen)| Change { path, kind: seen.kind() }).collect();
        Some(ChangeBatch { changes, rescan })
    }
}

#[cfg(test)]
mod tests {
    use super::super::ChangeKind;
    use super::*;

    const DEBOUNCE: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn an_empty_batch_has_no_deadline() {
        let batch = Batch::new(DEBOUNCE);
        assert_eq!(batch.deadline(), None);
        assert!(!batch.is_due(Instant::now() + Duration::from_secs(3600)));
    }

    #[test]
    fn the_deadline_trails_the_latest_change() {
        let start = Instant::now();
        let mut batch = Batch::new(DEBOUNCE);
        batch.observe("a".into(), Seen::Modified, start);
        assert_eq!(batch.deadline(), Some(start + DEBOUNCE));
        batch.observe("b".into(), Seen::Modified, start + ms(60));
        assert_eq!(batch.deadline(), Some(start + ms(160)));
        assert!(!batch.is_due(start + ms(159)));
        assert!(batch.is_due(start + ms(160)));
    }

    #[test]
    fn constant_activity_is_cut_at_the_maximum_wait() {
        let start = Instant::now();
        let mut batch = Batch::new(DEBOUNCE);
        assert_eq!(max_wait_for(DEBOUNCE), ms(1000));
        for step in 0..=19 {
            batch.observe(format!("f{step}"), Seen::Modified, start + ms(step * 50));
        }
        // The latest change (950 ms) would push the trailing edge to 1050 ms.
        assert_eq!(batch.deadline(), Some(start + ms(1000)));
        assert!(batch.is_due(start + ms(1000)));
        let delivered = batch.take().unwrap();
        assert_eq!(delivered.changes.len(), 20);
        // The next batch starts its own clock.
        batch.observe("late".into(), Seen::Modified, start + ms(1010));
        assert_eq!(batch.deadline(), Some(start + ms(1110)));
    }

    #[test]
    fn one_entry_per_path_sorted() {
        let now = Instant::now();
        let mut batch = Batch::new(DEBOUNCE);
        batch.observe("src/b.rs".into(), Seen::Modified, now);
        batch.observe("src/a.rs".into(), Seen::Created, now);
        batch.observe("src/b.rs".into(), Seen::Modified, now);
        batch.observe("src/a.rs".into(), Seen::Modified, now);
        batch.observe("README.md".into(), Seen::MovedHere, now);
        let delivered = batch.take().unwrap();
        let expected =
            [("README.md", ChangeKind::Rename), ("src/a.rs", ChangeKind::Create), ("src/b.rs", ChangeKind::Modify)];
        let got: Vec<(&str, ChangeKind)> = delivered.changes.iter().map(|c| (c.path.as_str(), c.kind)).collect();
        assert_eq!(got, expected);
        assert!(!delivered.rescan);
        assert_eq!(batch.deadline(), None);
    }

    #[test]
    fn changes_that_cancel_out_deliver_nothing() {
        let now = Instant::now();
        let mut batch = Batch::new(DEBOUNCE);
        batch.observe("tmp".into(), Seen::Created, now);
        batch.observe("tmp".into(), Seen::Deleted, now);
        // Still due once (one wake-up), then nothing to deliver and no deadline.
        assert!(batch.is_due(now + DEBOUNCE));
        assert_eq!(batch.take(), None);
        assert_eq!(batch.deadline(), None);
    }

    #[test]
    fn a_rescan_is_delivered_even_without_changes() {
        let now = Instant::now();
        let mut batch = Batch::new(DEBOUNCE);
        batch.request_rescan(now);
        assert!(batch.rescan_requested());
        assert_eq!(batch.deadline(), Some(now + DEBOUNCE));
        assert_eq!(batch.take(), Some(ChangeBatch { changes: vec![], rescan: true }));
        assert!(!batch.rescan_requested());
    }

    #[test]
    fn an_absurd_debounce_never_falls_due_and_does_not_panic() {
        let now = Instant::now();
        for debounce in [Duration::from_millis(u64::MAX), Duration::MAX] {
            let mut batch = Batch::new(debounce);
            batch.observe("a".into(), Seen::Modified, now);
            assert!(!batch.is_due(now + Duration::from_secs(3600)), "{debounce:?}");
        }
    }

    #[test]
    fn a_zero_debounce_is_due_at_once() {
        let now = Instant::now();
        let mut batch = Batch::new(Duration::ZERO);
        batch.observe("a".into(), Seen::Modified, now);
        assert!(batch.is_due(now));
    }
}
