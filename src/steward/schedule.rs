//! When each GitHub loop ticks next, and when the daemon gives up: pure arithmetic over the
//! loops' records, tested as tables.
//!
//! A tick that fails for a reason a retry can fix (the network, a 5xx, a rate limit) is retried
//! with exponential back-off; after [`GIVE_UP_AFTER`] such failures in a row of every running
//! loop the daemon exits non-zero so that a service manager restarts it. A failure only a person
//! can fix (no token, a rejected token, the repository not found) is retried slowly and never
//! counts towards exiting: a restart would not help, and the daemon keeps serving everything else.

use std::time::Duration;

/// Consecutive retryable failures of every running loop after which the daemon exits.
pub const GIVE_UP_AFTER: u32 = 5;

/// Longest back-off after retryable failures.
pub const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// How often a loop blocked by a failure only a person can fix tries again.
pub const BLOCKED_RETRY: Duration = Duration::from_secs(300);

/// How the last tick of a loop went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TickResult {
    /// It ran (or had nothing to do).
    Ok,
    /// It failed; a retry may succeed.
    Retryable,
    /// It failed; a person must fix something first.
    NeedsPerson,
}

/// A loop's failure record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    /// Retryable failures in a row.
    pub retryable: u32,
    /// The last failure needs a person.
    pub needs_person: bool,
}

impl Failures {
    /// The record after a tick.
    pub fn after(self, result: TickResult) -> Failures {
        match result {
            TickResult::Ok => Failures::default(),
            TickResult::Retryable => Failures { retryable: self.retryable.saturating_add(1), needs_person: false },
            TickResult::NeedsPerson => Failures { retryable: 0, needs_person: true },
        }
    }
}

/// How long until a loop's next tick.
pub fn next_delay(interval: Duration, failures: Failures) -> Duration {
    if failures.needs_person {
        return interval.max(BLOCKED_RETRY);
    }
    if failures.retryable == 0 {
        return interval;
    }
    let factor = 2u32.saturating_pow(failures.retryable.min(16));
    interval.saturating_mul(factor).min(MAX_BACKOFF.max(interval))
}

/// Whether the daemon should exit: every running loop has failed [`GIVE_UP_AFTER`] retryable
/// times in a row. No running loop: never.
pub fn give_up(running: &[Failures]) -> bool {
    !running.is_empty() && running.iter().all(|failures| failures.retryable >= GIVE_UP_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn delays() {
        let retryable = |n| Failures { retryable: n, needs_person: false };
        let cases = [
            (MINUTE, Failures::default(), 60),
            (MINUTE, retryable(1), 120),
            (MINUTE, retryable(2), 240),
            (MINUTE, retryable(5), 1920),
            (MINUTE, retryable(6), 3600),
            (MINUTE, retryable(40), 3600),
            (Duration::from_secs(7200), retryable(3), 7200),
            (MINUTE, Failures { retryable: 0, needs_person: true }, 300),
            (Duration::from_secs(900), Failures { retryable: 0, needs_person: true }, 900),
        ];
        for (interval, failures, expected) in cases {
            assert_eq!(next_delay(interval, failures), Duration::from_secs(expected), "{interval:?} {failures:?}");
        }
    }

    #[test]
    fn records() {
        let mut failures = Failures::default();
        for n in 1..=3 {
            failures = failures.after(TickResult::Retryable);
            assert_eq!(failures.retryable, n);
        }
        assert_eq!(failures.after(TickResult::NeedsPerson), Failures { retryable: 0, needs_person: true });
        assert_eq!(failures.after(TickResult::Ok), Failures::default());
    }

    #[test]
    fn giving_up_takes_every_running_loop() {
        let at = |n| Failures { retryable: n, needs_person: false };
        assert!(!give_up(&[]));
        assert!(give_up(&[at(5)]));
        assert!(!give_up(&[at(4)]));
        assert!(give_up(&[at(5), at(9)]));
        assert!(!give_up(&[at(5), at(1)]));
        assert!(!give_up(&[Failures { retryable: 0, needs_person: true }]), "a person's fix is not a restart's");
    }
}
