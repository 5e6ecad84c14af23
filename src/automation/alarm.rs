//! Waiting until a wall-clock time, for schedules.
//!
//! tokio's timers count on the monotonic clock, which stops while a laptop sleeps: a 09:00 job
//! computed at 07:00 as "in two hours" would run an hour late after an hour asleep. On Linux the
//! wait is a `timerfd` on the real-time clock with an absolute expiry, which the kernel fires
//! on time across suspend and cancels when someone sets the clock, so the scheduler recomputes
//! at once; it costs no wake-up while waiting. Elsewhere, waits are cut into slices of at most
//! a minute, after which the caller recomputes against the wall clock.

use chrono::{DateTime, Utc};

/// Longest single wait without a timerfd.
#[cfg(not(target_os = "linux"))]
const SLICE: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until a wall-clock time. One per scheduler; cheap to re-arm.
pub struct WallAlarm {
    #[cfg(target_os = "linux")]
    timer: Option<tokio::io::unix::AsyncFd<linux::Timer>>,
}

impl WallAlarm {
    /// An alarm; falls back to sliced monotonic sleeps when a timerfd cannot be had.
    pub fn new() -> Self {
        #[cfg(target_os = "linux")]
        {
            let timer = linux::Timer::new()
                .and_then(linux::register)
                .inspect_err(|err| tracing::warn!(error = %err, "no timerfd; schedules recheck the clock every minute"))
                .ok();
            WallAlarm { timer }
        }
        #[cfg(not(target_os = "linux"))]
        WallAlarm {}
    }

    /// Resolves at `at`, or earlier when the clock was set (or a slice ended): the caller then
    /// looks at the clock again, so an early return is harmless and a late one is not possible.
    pub async fn sleep_until(&mut self, at: DateTime<Utc>) {
        #[cfg(target_os = "linux")]
        if let Some(timer) = &self.timer {
            match linux::wait(timer, at).await {
                Ok(()) => return,
                Err(err) => {
                    tracing::warn!(error = %err, "timerfd failed; schedules recheck the clock every minute");
                    self.timer = None;
                }
            }
        }
        let left = (at - Utc::now()).to_std().unwrap_or_default();
        #[cfg(not(target_os = "linux"))]
        let left = left.min(SLICE);
        #[cfg(target_os = "linux")]
        let left = left.min(std::time::Duration::from_secs(60));
        tokio::time::sleep(left).await;
    }
}

impl Default for WallAlarm {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, RawFd};

    use chrono::{DateTime, Utc};
    use nix::errno::Errno;
    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
    use tokio::io::unix::AsyncFd;

    /// A non-blocking timerfd on the real-time clock.
    pub(super) struct Timer(TimerFd);

    impl Timer {
        pub(super) fn new() -> io::Result<Timer> {
            let fd = TimerFd::new(ClockId::CLOCK_REALTIME, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)?;
            Ok(Timer(fd))
        }
    }

    impl AsRawFd for Timer {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }

    /// Hands the timer to tokio's reactor, readable only.
    pub(super) fn register(timer: Timer) -> io::Result<AsyncFd<Timer>> {
        // SAFETY: `Timer` owns its timerfd and never replaces or closes it while alive, so the
        // descriptor stays open and the same for as long as the `AsyncFd` holds it.
        unsafe { AsyncFd::register_with_interest(timer, tokio::io::Interest::READABLE) }.map_err(io::Error::from)
    }

    /// Arms the timer for `at` and waits until it expires or the clock is set.
    pub(super) async fn wait(timer: &AsyncFd<Timer>, at: DateTime<Utc>) -> io::Result<()> {
        // Zero would disarm the timer: a time at or before the epoch is simply "now".
        let nanos = at.timestamp_nanos_opt().unwrap_or(i64::MAX).max(1);
        let expiry = TimeSpec::new(nanos / 1_000_000_000, nanos % 1_000_000_000);
        timer.get_ref().0.set(
            Expiration::OneShot(expiry),
            TimerSetTimeFlags::TFD_TIMER_ABSTIME | TimerSetTimeFlags::TFD_TIMER_CANCEL_ON_SET,
        )?;
        loop {
            let mut guard = timer.readable().await?;
            match guard.try_io(|timer| timer.get_ref().0.wait().map_err(io::Error::from)) {
                Ok(Ok(())) => return Ok(()),
                // The clock was set: the time to wait for has moved.
                Ok(Err(err)) if err.raw_os_error() == Some(Errno::ECANCELED as i32) => return Ok(()),
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => continue,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_at_the_wall_clock_time() {
        let mut alarm = WallAlarm::new();
        let at = Utc::now() + chrono::Duration::milliseconds(50);
        alarm.sleep_until(at).await;
        assert!(Utc::now() >= at);
        // A time in the past returns at once, again and again (the timer re-arms each time).
        let past = Utc::now() - chrono::Duration::seconds(5);
        for _ in 0..3 {
            tokio::time::timeout(std::time::Duration::from_secs(5), alarm.sleep_until(past)).await.expect("at once");
        }
    }
}
