//! Cron schedules: when an expression, read on a time zone's wall clock, fires next after an instant.
//!
//! The scheduler sleeps until [`Schedule::next_after`] and nothing polls each minute, so this module is
//! one pure function of (expression, zone, instant), pinned down by table tests.
//!
//! **Why croner.** croner takes 5 or 6 fields, ORs day-of-month with day-of-week as Vixie cron does,
//! and knows names, macros and a few useful extensions. The `cron` crate needs a seconds field and
//! ANDs the two day fields, so there `0 0 13 * FRI` would mean Friday the 13th only. croner also
//! implements Vixie's daylight saving rules, but classifies a job as fixed-time only when second,
//! minute and hour are single values: `0,30 2 * * *` then skips the spring-forward day entirely and
//! `0 1-3 * * *` runs twice at 1:00 in autumn, and a gap over two hours (Pacific/Apia skipped
//! 2011-12-30) ends the schedule with an error. So croner matches wall-clock times only (searching
//! `NaiveDateTime`, where its DST code never runs) and this module maps them to instants.
//!
//! **Syntax.** 5 fields `minute hour day-of-month month day-of-week`, or 6 with a `second` first.
//! A field is `*` or a comma list of values (`5`), ranges (`1-5`) and steps on `*` or a range
//! (`*/15`, `1-10/2`). Months take `JAN`-`DEC`, days of the week `SUN`-`SAT` (any case); day of
//! week 0 and 7 are both Sunday. Ranges do not wrap (`22-2` is refused: write `22-23,0-2`), a step
//! needs `*` or a range before it (`5/15` is refused: write `5-59/15`), and a step runs from 1 to
//! the number of values in its field. Macros: `@yearly` `@annually` `@monthly` `@weekly` `@daily`
//! `@midnight` `@hourly`; `@reboot` is refused (an event rule on `daemon:started` does that job).
//! A year field is refused. croner's extensions are accepted, as they are harmless and useful:
//! `L` (last day of the month), `LW` (last weekday), `15W` (weekday nearest the 15th), `5L` (last
//! Friday), `MON#2` (second Monday), `?` (same as `*` in the day fields) and a `+` before the day of
//! week, which ANDs it with the day of month (`0 9 1-7 * +MON`: the first Monday).
//!
//! **Day of month and day of week.** When both are restricted a day matches if either matches
//! (`0 0 13 * FRI`: every 13th and every Friday); when one is `*` only the other counts. As in
//! Vixie cron and cronie, a field whose text starts with `*` counts as `*` here, so
//! `0 0 */2 * MON` means odd-numbered days that are Mondays.
//!
//! **Daylight saving time**, by Vixie cron's rules. A fixed-time job (no `*` or `/` in its
//! second, minute and hour fields, such as `30 2 * * *` or `0 1-3 * * *`) runs once for each
//! wall-clock time it names: a time skipped by a spring-forward gap runs right after the gap,
//! and a time repeated by a fall-back runs at its first occurrence only. Every other job runs at the
//! real instants whose wall clock matches: nothing inside a gap, both occurrences of a repeated
//! hour. Several times of one job that land on the same instant run once.
//!
//! **Zones.** `local` is chrono's `Local` (`TZ`, else `/etc/localtime`); `UTC`; or an IANA name,
//! from the system's tz database or, where it has none, the copy built in (see `zone.rs`).
//!
//! **Never.** An expression that can never fire (`0 0 30 2 *`) is refused by [`Schedule::parse`].
//! Whether a day matches depends only on its month's length, its day number and its weekday, and a
//! 400-year Gregorian cycle has every month length starting on every weekday, so trying those month
//! shapes decides it: at most 12 x 2 x 7 x 31 day checks, 0.16 ms in a release build (1.6 ms in a
//! debug one). croner's own search would walk to its limit, the year 5000: 7 ms for `0 0 30 2 *`,
//! 38 ms for `0 0 1 * +MON#2`. A job whose wall-clock times all fall into gaps of its zone gets
//! `None` from [`Schedule::next_after`] after 100 skipped gaps.

mod syntax;
#[cfg(test)]
mod tests;
mod zone;

use chrono::{DateTime, Datelike, Local, LocalResult, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use croner::Cron;

use syntax::{
    DAY_OF_WEEK, FIELDS, Field, Place, SHAPE, expand_macro, parse_normalized, vixie_day_rule, words, wrong_count,
};
use zone::Clock;
pub use zone::{NamedZone, Zone};

/// Why an expression or zone is not acceptable: what is wrong, the fix, and where in the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{problem}; {fix}")]
pub struct CronError {
    pub problem: String,
    pub fix: String,
    /// Byte offset into the expression (or zone name) where the problem starts; 0 for the whole.
    pub offset: usize,
}

impl CronError {
    fn new(problem: impl Into<String>, fix: impl Into<String>, offset: usize) -> CronError {
        CronError { problem: problem.into(), fix: fix.into(), offset }
    }
}

/// A parsed cron expression and the zone its fields are read in.
#[derive(Clone, Debug)]
pub struct Schedule {
    expression: String,
    zone: Zone,
    /// Matches wall-clock times; the mapping to instants is [`Schedule::next_in`]'s.
    cron: Cron,
    fixed_time: bool,
    has_seconds: bool,
}

impl Schedule {
    pub fn parse(expression: &str, zone: Zone) -> Result<Schedule, CronError> {
        let words = words(expression);
        let written = match words.first() {
            Some(&(at, word)) if word.starts_with('@') => {
                expand_macro(word, at, &words)?.split(' ').map(|field| (0, field)).collect()
            }
            _ => words,
        };
        let fields: &[&Field] = match written.len() {
            5 => &FIELDS[1..],
            6 => &FIELDS,
            0 => return Err(CronError::new("the cron expression is empty", format!("write one: {SHAPE}"), 0)),
            count => return Err(wrong_count(expression, &written, count)),
        };
        let places: Vec<Place<'_>> = written
            .iter()
            .zip(fields)
            .enumerate()
            .map(|(index, (&(offset, text), &field))| Place { field, position: index + 1, text, offset })
            .collect();
        let mut normalized = places.iter().map(Place::normalize).collect::<Result<Vec<_>, _>>()?;
        let has_seconds = normalized.len() == 6;
        if !has_seconds {
            normalized.insert(0, "0".to_owned());
        }
        let day_places: Vec<Place<'_>> = places.into_iter().filter(|place| place.field.is_date()).collect();
        vixie_day_rule(&mut normalized, &day_places);
        // No `*` or `/` in second, minute and hour: Vixie's "fixed-time job" (Vixie looks at a
        // leading `*` only; a step counts as an interval here, as the issue asks).
        let fixed_time = normalized[..3].iter().all(|field| !field.contains(['*', '/']));
        let cron = parse_normalized(&normalized, &written, fields)?;
        if !can_fire(&cron) {
            return Err(never_fires(expression, &day_places));
        }
        Ok(Schedule { expression: expression.to_owned(), zone, cron, fixed_time, has_seconds })
    }

    /// The first fire time strictly after `after`; None when it never fires again.
    ///
    /// Instants from 4999-12-29 on get `None` (croner searches no further than the year 5000);
    /// instants before the year 1 count as its start.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.zone {
            Zone::Utc => self.next_in(&Utc, after),
            Zone::Local => self.next_in(&Local, after),
            Zone::Named(zone) => self.next_in(zone, after),
        }
    }

    /// As written.
    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Whether the expression has a seconds field (6 fields), i.e. second precision.
    pub fn has_seconds(&self) -> bool {
        self.has_seconds
    }

    fn next_in<Z: Clock>(&self, zone: &Z, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Two days inside croner's years keep every offset arithmetic below in chrono's range.
        let first = NaiveDate::from_ymd_opt(1, 1, 3)?.and_hms_opt(0, 0, 0)?.and_utc();
        let last = NaiveDate::from_ymd_opt(4999, 12, 29)?.and_hms_opt(0, 0, 0)?.and_utc();
        let after = after.max(first - TimeDelta::seconds(1));
        if after >= last {
            return None;
        }
        // Fire times are whole seconds, so the search starts on the whole second after `after`.
        let whole = after.with_nanosecond(0)?;
        let wall = wall_clock(zone, whole);
        let from = wall + TimeDelta::seconds(1);
        let twins = match resolve(zone, wall) {
            LocalResult::Ambiguous(earlier, later) => Some((earlier, later)),
            _ => None,
        };
        if self.fixed_time {
            // From the later half of a repeated range, the wall-clock times still ahead in it have
            // had their (only) run in the earlier half: search from the end of the range.
            let from = match twins {
                Some((earlier, later)) if whole >= later => {
                    let end = first_second_where(whole, whole + (later - earlier), |t| !repeated(zone, t));
                    from.max(wall_clock(zone, end))
                }
                _ => from,
            };
            return self.next_fixed(zone, after, from);
        }
        let next = self.next_interval(zone, after, from);
        // From the earlier half of a repeated range, the later half lies ahead too, and its wall
        // clock restarts below `wall`, where the search above never looks.
        let in_later_half = match twins {
            Some((_, later)) if whole < later => self.next_in_later_half(zone, whole, later, wall),
            _ => None,
        };
        match (next, in_later_half) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The first wall-clock time at or after `from` that the fields match.
    fn next_wall(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        self.cron.find_next_occurrence(&from, true).ok()
    }

    fn next_fixed<Z: Clock>(&self, zone: &Z, after: DateTime<Utc>, mut from: NaiveDateTime) -> Option<DateTime<Utc>> {
        for _ in 0..MAX_SKIPS {
            let wall = self.next_wall(from)?;
            let (instant, resume) = match resolve(zone, wall) {
                LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => {
                    (instant, wall + TimeDelta::seconds(1))
                }
                LocalResult::None => gap_end(zone, wall).map(|(end, instant)| (instant, end))?,
            };
            if instant > after {
                return Some(instant);
            }
            from = resume;
        }
        None
    }

    fn next_interval<Z: Clock>(
        &self,
        zone: &Z,
        after: DateTime<Utc>,
        mut from: NaiveDateTime,
    ) -> Option<DateTime<Utc>> {
        for _ in 0..MAX_SKIPS {
            let wall = self.next_wall(from)?;
            match resolve(zone, wall) {
                LocalResult::Single(instant) if instant > after => return Some(instant),
                LocalResult::Ambiguous(earlier, later) => {
                    if let Some(instant) = [earlier, later].into_iter().find(|instant| *instant > after) {
                        return Some(instant);
                    }
                }
                LocalResult::None => {
                    from = gap_end(zone, wall)?.0;
                    continue;
                }
                LocalResult::Single(_) => {}
            }
            from = wall + TimeDelta::seconds(1);
        }
        None
    }

    /// The first match in the later half of the repeated range that `whole` (in the earlier half,
    /// at wall-clock time `wall`, repeated at `twin`) is in, at a wall-clock time up to `wall`.
    fn next_in_later_half<Z: Clock>(
        &self,
        zone: &Z,
        whole: DateTime<Utc>,
        twin: DateTime<Utc>,
        wall: NaiveDateTime,
    ) -> Option<DateTime<Utc>> {
        let change = first_second_where(
            whole,
            twin,
            |t| matches!(resolve(zone, wall_clock(zone, t)), LocalResult::Ambiguous(_, later) if t >= later),
        );
        let matched = self.next_wall(wall_clock(zone, change)).filter(|matched| *matched <= wall)?;
        match resolve(zone, matched) {
            LocalResult::Ambiguous(_, later) => Some(later),
            _ => None,
        }
    }
}

/// How many wall-clock matches a search passes over (gaps, or runs already past in a repeated
/// range) before it concludes that the job does not fire again.
const MAX_SKIPS: usize = 100;

fn wall_clock<Z: Clock>(zone: &Z, instant: DateTime<Utc>) -> NaiveDateTime {
    zone.wall_clock(instant)
}

fn resolve<Z: Clock>(zone: &Z, wall: NaiveDateTime) -> LocalResult<DateTime<Utc>> {
    zone.resolve(wall)
}

/// Whether the wall-clock time at `instant` happens twice.
fn repeated<Z: Clock>(zone: &Z, instant: DateTime<Utc>) -> bool {
    matches!(resolve(zone, wall_clock(zone, instant)), LocalResult::Ambiguous(..))
}

/// The first wall-clock time after `wall` (which a gap skips) that exists, and its instant: the
/// instant the clock jumped.
fn gap_end<Z: Clock>(zone: &Z, wall: NaiveDateTime) -> Option<(NaiveDateTime, DateTime<Utc>)> {
    let exists = |probe: NaiveDateTime| !matches!(resolve(zone, probe), LocalResult::None);
    // Gaps are usually an hour but have been a whole day (Pacific/Apia, 2011): probe doubling
    // distances, then bisect.
    let mut inside = wall;
    let mut step = TimeDelta::seconds(1);
    while !exists(wall + step) {
        inside = wall + step;
        step = step * 2;
        if step > TimeDelta::days(4) {
            return None;
        }
    }
    let end = first_second_where(inside, wall + step, exists);
    match resolve(zone, end) {
        LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => Some((end, instant)),
        LocalResult::None => None,
    }
}

/// The first whole second after `no` and up to `yes` where `holds` is true, given that it is
/// false at `no`, true at `yes`, and changes once in between.
fn first_second_where<T>(mut no: T, mut yes: T, holds: impl Fn(T) -> bool) -> T
where
    T: Copy + std::ops::Add<TimeDelta, Output = T> + std::ops::Sub<Output = TimeDelta>,
{
    while (yes - no).num_seconds() > 1 {
        let middle = no + TimeDelta::seconds((yes - no).num_seconds() / 2);
        if holds(middle) {
            yes = middle;
        } else {
            no = middle;
        }
    }
    yes
}

/// Whether some date and time matches, by trying every month shape (see "Never" in the module doc;
/// `L`, `W` and `#` also depend on nothing else).
fn can_fire(cron: &Cron) -> bool {
    let pattern = &cron.pattern;
    let times = [&pattern.seconds, &pattern.minutes, &pattern.hours];
    if times.iter().any(|field| field.values().is_empty()) {
        return false;
    }
    // 2000 is a leap year and 2001 is not; their months have every length a month can have.
    (1..=12u32).filter(|&month| pattern.month_match(month).unwrap_or(false)).any(|month| {
        [2000, 2001].into_iter().any(|year| {
            let length = days_in_month(year, month);
            (0..7u32).any(|first_weekday| {
                (1..=length).any(|day| {
                    let weekday = croner::Weekday::from_days_from_sunday(first_weekday + day - 1);
                    pattern.day_match(year, month, day, weekday).unwrap_or(false)
                })
            })
        })
    })
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let next =
        if month == 12 { NaiveDate::from_ymd_opt(year + 1, 1, 1) } else { NaiveDate::from_ymd_opt(year, month + 1, 1) };
    next.and_then(|next| next.pred_opt()).map_or(31, |last| last.day())
}

fn never_fires(expression: &str, day_places: &[Place<'_>]) -> CronError {
    let restricted: Vec<String> = day_places
        .iter()
        .filter(|place| place.text != "*" && place.text != "?")
        .map(|place| format!("{} `{}`", place.field.label, place.text))
        .collect();
    let mut fix = "pick days that those months have: February has 28 days (29 in leap years); April, June, \
         September and November have 30"
        .to_owned();
    if day_places.iter().any(|place| *place.field == DAY_OF_WEEK && place.text.starts_with('+')) {
        fix.push_str("; with `+`, one date must match both the day of month and the day of week");
    }
    CronError::new(
        format!("`{}` can never fire: no date matches {}", expression.trim(), restricted.join(" and ")),
        fix,
        day_places.first().map_or(0, |place| place.offset),
    )
}
