//! Reading GitHub's rate-limit answers, as its REST documentation ("Rate limits for the REST
//! API", "Exceeding the rate limit") says to:
//!
//! - a 403 or 429 with `retry-after: N`: wait N seconds;
//! - a 403 or 429 with `x-ratelimit-remaining: 0`: wait until `x-ratelimit-reset` (UTC epoch
//!   seconds);
//! - a 403 or 429 whose message says "secondary rate limit" and has neither header: wait at least
//!   a minute, longer each time it happens again;
//! - any answer with `x-ratelimit-remaining: 0`: the next request waits for the reset.
//!
//! The reset is an instant on GitHub's clock; it is turned into a wait against the answer's
//! `date` header when there is one, so a local clock that is off does not stretch or skip waits.
//! Pure functions: the client decides what to do with the answer.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use http::HeaderMap;

/// The least wait for a secondary limit without headers, doubled on each repeat.
pub(crate) const SECONDARY_FALLBACK: Duration = Duration::from_secs(60);

/// The rate-limit headers of one answer.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct RateHeaders {
    pub remaining: Option<u64>,
    /// `x-ratelimit-reset`: UTC epoch seconds.
    pub reset: Option<i64>,
    pub retry_after: Option<u64>,
    /// GitHub's clock when it answered (the `date` header).
    pub server_date: Option<DateTime<Utc>>,
}

impl RateHeaders {
    pub fn read(headers: &HeaderMap) -> RateHeaders {
        let text = |name: &str| headers.get(name).and_then(|value| value.to_str().ok()).map(str::trim);
        RateHeaders {
            remaining: text("x-ratelimit-remaining").and_then(|value| value.parse().ok()),
            reset: text("x-ratelimit-reset").and_then(|value| value.parse().ok()),
            retry_after: text("retry-after").and_then(|value| value.parse().ok()),
            server_date: text("date")
                .and_then(|value| DateTime::parse_from_rfc2822(value).ok())
                .map(|date| date.with_timezone(&Utc)),
        }
    }

    /// When the primary window this answer reports as used up reopens (on the local clock, one
    /// second after GitHub's reset to be safe), if it does report that.
    pub fn window_closed_until(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        if self.remaining != Some(0) {
            return None;
        }
        let reset = DateTime::from_timestamp(self.reset?, 0)?;
        let left = (reset - self.server_date.unwrap_or(now)).max(TimeDelta::zero());
        Some(now + left + TimeDelta::seconds(1))
    }
}

/// GitHub refused for a rate limit: wait this long before asking again.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Limited {
    pub wait: Duration,
    pub secondary: bool,
}

/// Whether an answer is a rate-limit refusal, and how long to wait. `repeats` counts the
/// secondary limits this call already met (for the doubling fallback).
pub(crate) fn limited(
    status: u16,
    headers: &RateHeaders,
    message: &str,
    repeats: u32,
    now: DateTime<Utc>,
) -> Option<Limited> {
    if status != 403 && status != 429 {
        return None;
    }
    let lower = message.to_ascii_lowercase();
    let says_secondary = lower.contains("secondary rate limit") || lower.contains("abuse detection");
    let primary = headers.remaining == Some(0);
    if let Some(seconds) = headers.retry_after {
        return Some(Limited { wait: Duration::from_secs(seconds), secondary: says_secondary || !primary });
    }
    if let Some(until) = headers.window_closed_until(now) {
        let wait = (until - now).to_std().unwrap_or_default();
        return Some(Limited { wait, secondary: says_secondary });
    }
    // A 403 that is not about limits is a permission problem; a 429 is always a limit.
    if says_secondary || status == 429 {
        let wait = SECONDARY_FALLBACK.saturating_mul(2u32.saturating_pow(repeats.min(16)));
        return Some(Limited { wait, secondary: true });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(epoch: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(epoch, 0).unwrap()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> RateHeaders {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        RateHeaders::read(&map)
    }

    #[test]
    fn reads_headers() {
        let read = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000060"),
            ("retry-after", " 7 "),
            ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ]);
        assert_eq!(read.remaining, Some(0));
        assert_eq!(read.reset, Some(1_700_000_060));
        assert_eq!(read.retry_after, Some(7));
        assert_eq!(read.server_date, Some(at(1_700_000_000)));
        assert_eq!(headers(&[("retry-after", "soon")]).retry_after, None);
    }

    #[test]
    fn decisions_follow_githubs_documentation() {
        let now = at(1_700_000_000);
        let secondary = "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.";
        let primary = "API rate limit exceeded for user ID 1.";
        let reset_in_30 = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1700000030")]);
        let cases: Vec<(u16, RateHeaders, &str, u32, Option<Limited>)> = vec![
            (
                403,
                headers(&[("retry-after", "5")]),
                secondary,
                0,
                Some(Limited { wait: Duration::from_secs(5), secondary: true }),
            ),
            (
                429,
                headers(&[("retry-after", "2")]),
                "",
                0,
                Some(Limited { wait: Duration::from_secs(2), secondary: true }),
            ),
            (403, reset_in_30.clone(), primary, 0, Some(Limited { wait: Duration::from_secs(31), secondary: false })),
            (429, reset_in_30.clone(), primary, 0, Some(Limited { wait: Duration::from_secs(31), secondary: false })),
            (403, reset_in_30, secondary, 0, Some(Limited { wait: Duration::from_secs(31), secondary: true })),
            (
                403,
                RateHeaders::default(),
                secondary,
                0,
                Some(Limited { wait: Duration::from_secs(60), secondary: true }),
            ),
            (
                403,
                RateHeaders::default(),
                secondary,
                2,
                Some(Limited { wait: Duration::from_secs(240), secondary: true }),
            ),
            (429, RateHeaders::default(), "", 0, Some(Limited { wait: Duration::from_secs(60), secondary: true })),
            (403, RateHeaders::default(), "Resource not accessible by personal access token", 0, None),
            (403, headers(&[("x-ratelimit-remaining", "12")]), "Must have admin rights", 0, None),
            (404, headers(&[("retry-after", "5")]), secondary, 0, None),
            (500, RateHeaders::default(), secondary, 0, None),
        ];
        for (status, read, message, repeats, expected) in cases {
            assert_eq!(limited(status, &read, message, repeats, now), expected, "{status} {read:?} {message}");
        }
    }

    #[test]
    fn reset_is_measured_on_githubs_clock() {
        // Our clock is 100 s ahead of GitHub's: the wait is still reset - date (+1 s).
        let ours = at(1_700_000_100);
        let read = headers(&[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", "1700000010"),
            ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
        ]);
        assert_eq!(read.window_closed_until(ours), Some(ours + TimeDelta::seconds(11)));
        // A reset already past still waits the safety second, never a negative time.
        let past = headers(&[("x-ratelimit-remaining", "0"), ("x-ratelimit-reset", "1600000000")]);
        assert_eq!(past.window_closed_until(ours), Some(ours + TimeDelta::seconds(1)));
        assert_eq!(
            headers(&[("x-ratelimit-remaining", "1"), ("x-ratelimit-reset", "1")]).window_closed_until(ours),
            None
        );
    }
}
