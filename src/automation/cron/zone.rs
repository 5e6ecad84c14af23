//! The time zone a schedule's fields are read in, and the two questions the search asks of it:
//! what the wall clock shows at an instant, and which instants show a given wall-clock time.
//!
//! **Named zones come from jiff's tz database reader**, not from a crate that compiles the
//! database into Rust tables: such tables hold a pointer in every transition, so the loader must
//! relocate all of them in every process, which cost each idle daemon 1.3 MiB of private memory
//! whether or not it had a schedule. jiff reads the system's database (`TZDIR`, else
//! `/usr/share/zoneinfo`) when a zone is first named, and falls back to a copy of the database
//! built into the binary as plain bytes when the system has none, so `timezone = "Europe/Berlin"`
//! works on a machine without tzdata too.

use chrono::{DateTime, Local, LocalResult, NaiveDateTime, TimeDelta, TimeZone, Utc};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone as JiffZone};

use super::CronError;
use crate::suggest::closest;

/// The time zone a schedule's fields are read in.
#[derive(Clone, Debug, PartialEq)]
pub enum Zone {
    /// The system's zone: `TZ`, else `/etc/localtime`.
    Local,
    Utc,
    /// An IANA zone, such as `Europe/Berlin`.
    Named(NamedZone),
}

impl Zone {
    /// `None` or `local` -> [`Zone::Local`]; `UTC`, `Etc/UTC` or `Z` -> [`Zone::Utc`]; an IANA
    /// name such as `Europe/Berlin` -> [`Zone::Named`]. Names are matched case-insensitively
    /// (`europe/berlin` is Europe/Berlin); an unknown name gets the closest IANA name as its fix.
    pub fn parse(name: Option<&str>) -> Result<Zone, CronError> {
        let Some(name) = name else { return Ok(Zone::Local) };
        let name = name.trim();
        if name.eq_ignore_ascii_case("local") {
            return Ok(Zone::Local);
        }
        if ["UTC", "Etc/UTC", "Z"].iter().any(|utc| name.eq_ignore_ascii_case(utc)) {
            return Ok(Zone::Utc);
        }
        if let Some(zone) = NamedZone::find(name) {
            return Ok(Zone::Named(zone));
        }
        Err(unknown_zone(name))
    }

    /// How status output names it: `local`, `UTC`, `Europe/Berlin`.
    pub fn name(&self) -> String {
        match self {
            Zone::Local => "local".to_owned(),
            Zone::Utc => "UTC".to_owned(),
            Zone::Named(zone) => zone.name.clone(),
        }
    }
}

/// An IANA zone and its canonical name.
#[derive(Clone, Debug)]
pub struct NamedZone {
    name: String,
    zone: JiffZone,
}

impl PartialEq for NamedZone {
    fn eq(&self, other: &NamedZone) -> bool {
        self.name == other.name
    }
}

impl NamedZone {
    /// The zone of that name, in any case (`america/new_york`), named as the database spells it.
    pub fn find(name: &str) -> Option<NamedZone> {
        let zone = jiff::tz::db().get(name).ok()?;
        let name = zone.iana_name()?.to_owned();
        Some(NamedZone { name, zone })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

fn unknown_zone(name: &str) -> CronError {
    const EXAMPLES: &str = "an IANA name such as `Europe/Berlin` or `America/New_York`, or `local` or `UTC`";
    if name.is_empty() {
        return CronError::new("the time zone is empty", format!("write {EXAMPLES}"), 0);
    }
    let mut known: Vec<String> = jiff::tz::db().available().map(|name| name.as_str().to_owned()).collect();
    known.sort_unstable();
    // People write the city alone or with spaces ("new york"); the edit distance to the full name
    // is too large for that, so those two shapes are looked up first.
    let underscored = name.replace(' ', "_");
    let city = |known: &&String| known.rsplit('/').next().is_some_and(|city| city.eq_ignore_ascii_case(&underscored));
    let suggestion = NamedZone::find(&underscored)
        .map(|zone| zone.name)
        .or_else(|| known.iter().find(city).cloned())
        .or_else(|| {
            let lowered: Vec<String> = known.iter().map(|known| known.to_lowercase()).collect();
            closest(name, &lowered).and_then(NamedZone::find).map(|zone| zone.name)
        });
    let fix = match suggestion {
        Some(zone) => format!("did you mean `{zone}`?"),
        None => format!("use {EXAMPLES}"),
    };
    CronError::new(format!("unknown time zone `{name}`"), fix, 0)
}

/// What the search needs of a zone.
pub(super) trait Clock {
    /// What the zone's wall clock shows at `instant`.
    fn wall_clock(&self, instant: DateTime<Utc>) -> NaiveDateTime;
    /// The instants at which the wall clock shows `wall`: one, two (a repeated hour, earlier
    /// first) or none (a skipped one).
    fn resolve(&self, wall: NaiveDateTime) -> LocalResult<DateTime<Utc>>;
}

fn chrono_wall_clock<Z: TimeZone>(zone: &Z, instant: DateTime<Utc>) -> NaiveDateTime {
    instant.with_timezone(zone).naive_local()
}

fn chrono_resolve<Z: TimeZone>(zone: &Z, wall: NaiveDateTime) -> LocalResult<DateTime<Utc>> {
    zone.from_local_datetime(&wall).map(|instant| instant.with_timezone(&Utc))
}

impl Clock for Utc {
    fn wall_clock(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        chrono_wall_clock(self, instant)
    }

    fn resolve(&self, wall: NaiveDateTime) -> LocalResult<DateTime<Utc>> {
        chrono_resolve(self, wall)
    }
}

impl Clock for Local {
    fn wall_clock(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        chrono_wall_clock(self, instant)
    }

    fn resolve(&self, wall: NaiveDateTime) -> LocalResult<DateTime<Utc>> {
        chrono_resolve(self, wall)
    }
}

/// Schedules search years 1 to 5000 only (see [`super::Schedule::next_after`]), well inside the
/// years jiff covers (-9999 to 9999); an instant or wall-clock time outside those is read at
/// offset zero rather than failing.
impl Clock for NamedZone {
    fn wall_clock(&self, instant: DateTime<Utc>) -> NaiveDateTime {
        let offset = jiff::Timestamp::from_second(instant.timestamp()).map_or(Offset::UTC, |t| self.zone.to_offset(t));
        instant.naive_utc() + seconds(offset)
    }

    fn resolve(&self, wall: NaiveDateTime) -> LocalResult<DateTime<Utc>> {
        let at = |offset: Offset| (wall - seconds(offset)).and_utc();
        let Some(civil) = civil(wall) else { return LocalResult::Single(wall.and_utc()) };
        match self.zone.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => LocalResult::Single(at(offset)),
            // The clock went back from `before` to `after`: `before` is the larger offset, so its
            // instant is the earlier one.
            AmbiguousOffset::Fold { before, after } => LocalResult::Ambiguous(at(before), at(after)),
            AmbiguousOffset::Gap { .. } => LocalResult::None,
        }
    }
}

fn seconds(offset: Offset) -> TimeDelta {
    TimeDelta::seconds(offset.seconds().into())
}

fn civil(wall: NaiveDateTime) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    let small = |value: u32| i8::try_from(value).ok();
    jiff::civil::DateTime::new(
        i16::try_from(wall.year()).ok()?,
        small(wall.month())?,
        small(wall.day())?,
        small(wall.hour())?,
        small(wall.minute())?,
        small(wall.second())?,
        i32::try_from(wall.nanosecond()).ok()?,
    )
    .ok()
}
