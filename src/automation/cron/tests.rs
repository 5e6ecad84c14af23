use chrono::{SecondsFormat, TimeZone};

use super::syntax::{FIELDS, parse_normalized};
use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap_or_else(|error| panic!("bad instant {text}: {error}")).to_utc()
}

fn zone(name: &str) -> Zone {
    Zone::parse(Some(name)).unwrap_or_else(|error| panic!("bad zone {name}: {error}"))
}

fn schedule(expression: &str, zone_name: &str) -> Schedule {
    Schedule::parse(expression, zone(zone_name)).unwrap_or_else(|error| panic!("`{expression}`: {error}"))
}

/// The next `count` fire times after `after`, each search starting at the previous answer.
fn fires(schedule: &Schedule, after: DateTime<Utc>, count: usize) -> Vec<String> {
    let mut fired = Vec::new();
    let mut from = after;
    while fired.len() < count {
        let Some(next) = schedule.next_after(from) else { break };
        fired.push(next.to_rfc3339_opts(SecondsFormat::AutoSi, true));
        from = next;
    }
    fired
}

/// (expression, zone, after, the next fire times): every row is also a claim about cron.
const FIRES: &[(&str, &str, &str, &[&str])] = &[
    // 2026-01-01 is a Thursday.
    // Day of month OR day of week, when both are restricted.
    (
        "0 0 13 * FRI",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z"],
    ),
    (
        "0 0 13 * *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"],
    ),
    (
        "0 0 * * FRI",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-16T00:00:00Z"],
    ),
    ("0 0 ? * MON", "UTC", "2026-01-01T00:00:00Z", &["2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z"]),
    ("0 0 13 * ?", "UTC", "2026-01-01T00:00:00Z", &["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"]),
    (
        "0 0 1-31/2 * MON",
        "UTC",
        "2026-01-01T00:00:00Z",
        &[
            "2026-01-03T00:00:00Z",
            "2026-01-05T00:00:00Z",
            "2026-01-07T00:00:00Z",
            "2026-01-09T00:00:00Z",
            "2026-01-11T00:00:00Z",
            "2026-01-12T00:00:00Z",
        ],
    ),
    // A field starting with `*` counts as `*` (Vixie): odd days that are Mondays.
    (
        "0 0 */2 * MON",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-05T00:00:00Z", "2026-01-19T00:00:00Z", "2026-02-09T00:00:00Z", "2026-02-23T00:00:00Z"],
    ),
    ("0 0 13 * */1", "UTC", "2026-01-01T00:00:00Z", &["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"]),
    // `+` ANDs them: the 1st or 15th when it is a Monday.
    (
        "0 0 1,15 * +MON",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-06-01T00:00:00Z", "2026-06-15T00:00:00Z", "2027-02-01T00:00:00Z", "2027-02-15T00:00:00Z"],
    ),
    // Names, any case, in lists and ranges.
    (
        "0 9 * JAN,mar mon-fri",
        "UTC",
        "2026-01-30T12:00:00Z",
        &["2026-03-02T09:00:00Z", "2026-03-03T09:00:00Z", "2026-03-04T09:00:00Z"],
    ),
    (
        "0 0 * * SAT-SUN",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z"],
    ),
    ("0 0 1 Dec *", "UTC", "2026-01-01T00:00:00Z", &["2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z"]),
    // Macros.
    ("@yearly", "UTC", "2026-01-01T00:00:00Z", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]),
    ("@annually", "UTC", "2026-06-01T00:00:00Z", &["2027-01-01T00:00:00Z"]),
    ("@monthly", "UTC", "2026-01-01T00:00:00Z", &["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]),
    ("@weekly", "UTC", "2026-01-01T00:00:00Z", &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
    ("@daily", "UTC", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
    ("@MIDNIGHT", "UTC", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
    ("  @hourly  ", "UTC", "2026-01-01T00:00:00Z", &["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]),
    // Ranges, steps and lists.
    (
        "10-30/10 8-10 * * *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-01T08:10:00Z", "2026-01-01T08:20:00Z", "2026-01-01T08:30:00Z", "2026-01-01T09:10:00Z"],
    ),
    (
        "5,35 */12 * * *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-01T00:05:00Z", "2026-01-01T00:35:00Z", "2026-01-01T12:05:00Z", "2026-01-01T12:35:00Z"],
    ),
    (
        "*/15 * * * *",
        "UTC",
        "2026-01-01T00:07:00Z",
        &["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"],
    ),
    (
        "0 0 1 */5 *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-06-01T00:00:00Z", "2026-11-01T00:00:00Z", "2027-01-01T00:00:00Z"],
    ),
    // Strictly after, also from a fraction of a second.
    ("* * * * *", "UTC", "2026-01-01T00:00:00Z", &["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]),
    ("* * * * *", "UTC", "2026-01-01T00:00:59.999Z", &["2026-01-01T00:01:00Z"]),
    // Six fields: seconds first.
    (
        "* * * * * *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"],
    ),
    ("* * * * * *", "UTC", "2026-01-01T00:00:00.5Z", &["2026-01-01T00:00:01Z"]),
    (
        "*/5 * * * * *",
        "UTC",
        "2026-01-01T00:00:03Z",
        &["2026-01-01T00:00:05Z", "2026-01-01T00:00:10Z", "2026-01-01T00:00:15Z"],
    ),
    ("30 0 9 * * *", "UTC", "2026-01-01T00:00:00Z", &["2026-01-01T09:00:30Z", "2026-01-02T09:00:30Z"]),
    ("59 59 23 31 12 *", "UTC", "2026-01-01T00:00:00Z", &["2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z"]),
    // February 29 waits for leap years, and 2100 is not one.
    ("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]),
    ("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", &["2104-02-29T00:00:00Z"]),
    // The 31st skips short months.
    (
        "0 0 31 * *",
        "UTC",
        "2026-01-31T00:00:00Z",
        &["2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"],
    ),
    // Year boundary.
    ("59 23 31 12 *", "UTC", "2026-06-01T00:00:00Z", &["2026-12-31T23:59:00Z", "2027-12-31T23:59:00Z"]),
    ("0 0 * * *", "UTC", "2026-12-31T12:00:00Z", &["2027-01-01T00:00:00Z"]),
    // Day of week 7 is Sunday, also at the end of a range.
    ("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", &["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
    (
        "0 0 * * 5-7",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"],
    ),
    (
        "0 0 * * FRI-SUN",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-09T00:00:00Z"],
    ),
    ("0 0 * * 0-7", "UTC", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]),
    // croner's extensions.
    (
        "0 0 L * *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"],
    ),
    ("0 0 L 2 *", "UTC", "2027-03-01T00:00:00Z", &["2028-02-29T00:00:00Z"]),
    (
        "0 0 LW * *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-31T00:00:00Z"],
    ),
    (
        "0 0 15W * *",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-15T00:00:00Z", "2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z"],
    ),
    (
        "0 0 * * MON#1",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-05T00:00:00Z", "2026-02-02T00:00:00Z", "2026-03-02T00:00:00Z"],
    ),
    (
        "0 0 * * 5L",
        "UTC",
        "2026-01-01T00:00:00Z",
        &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"],
    ),
    ("0 0 * * sunl", "UTC", "2026-01-01T00:00:00Z", &["2026-01-25T00:00:00Z", "2026-02-22T00:00:00Z"]),
    ("0 9 1-7 * +MON", "UTC", "2026-01-01T00:00:00Z", &["2026-01-05T09:00:00Z", "2026-02-02T09:00:00Z"]),
    // Rare but possible: February 29 on a Monday (2016, then 2044).
    ("0 0 29 2 +MON", "UTC", "2026-01-01T00:00:00Z", &["2044-02-29T00:00:00Z"]),
    // New York, spring forward on 2026-03-08: 02:00 EST (07:00Z) becomes 03:00 EDT.
    // A fixed time in the gap runs once, right after it; one that exists runs as usual.
    (
        "30 2 * * *",
        "America/New_York",
        "2026-03-07T12:00:00Z",
        &["2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z", "2026-03-10T06:30:00Z"],
    ),
    (
        "0,30 2 * * *",
        "America/New_York",
        "2026-03-07T12:00:00Z",
        &["2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z", "2026-03-09T06:30:00Z"],
    ),
    (
        "0 1-3 * * *",
        "America/New_York",
        "2026-03-07T12:00:00Z",
        &["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-09T05:00:00Z", "2026-03-09T06:00:00Z"],
    ),
    ("30 2 8 3 *", "America/New_York", "2026-01-01T00:00:00Z", &["2026-03-08T07:00:00Z", "2027-03-08T07:30:00Z"]),
    // Intervals run on real times only: nothing in the gap.
    (
        "*/30 * * * *",
        "America/New_York",
        "2026-03-08T06:00:00Z",
        &["2026-03-08T06:30:00Z", "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"],
    ),
    (
        "0 * * * *",
        "America/New_York",
        "2026-03-08T05:30:00Z",
        &["2026-03-08T06:00:00Z", "2026-03-08T07:00:00Z", "2026-03-08T08:00:00Z"],
    ),
    ("*/20 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", &["2026-03-09T06:00:00Z", "2026-03-09T06:20:00Z"]),
    // New York, fall back on 2026-11-01: 02:00 EDT (06:00Z) becomes 01:00 EST, so 01:xx happens twice.
    // A fixed time runs at its first occurrence only.
    (
        "30 1 * * *",
        "America/New_York",
        "2026-10-31T12:00:00Z",
        &["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z", "2026-11-03T06:30:00Z"],
    ),
    (
        "0,30 1 * * *",
        "America/New_York",
        "2026-10-31T12:00:00Z",
        &["2026-11-01T05:00:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:00:00Z"],
    ),
    (
        "0 0-2 * * *",
        "America/New_York",
        "2026-10-31T12:00:00Z",
        &["2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-02T05:00:00Z"],
    ),
    // ... also when the search starts inside the second occurrence.
    ("30 1 * * *", "America/New_York", "2026-11-01T06:10:00Z", &["2026-11-02T06:30:00Z"]),
    ("30 1 * * *", "America/New_York", "2026-11-01T06:40:00Z", &["2026-11-02T06:30:00Z"]),
    ("0 2 * * *", "America/New_York", "2026-11-01T06:10:00Z", &["2026-11-01T07:00:00Z", "2026-11-02T07:00:00Z"]),
    ("15 1,2 * * *", "America/New_York", "2026-11-01T06:30:00Z", &["2026-11-01T07:15:00Z", "2026-11-02T06:15:00Z"]),
    // An interval runs at both occurrences.
    (
        "*/30 * * * *",
        "America/New_York",
        "2026-11-01T04:45:00Z",
        &[
            "2026-11-01T05:00:00Z",
            "2026-11-01T05:30:00Z",
            "2026-11-01T06:00:00Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T07:00:00Z",
        ],
    ),
    (
        "0 * * * *",
        "America/New_York",
        "2026-11-01T04:30:00Z",
        &["2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"],
    ),
    // ... also from inside the first occurrence, past the time (01:45 EDT is behind, 01:45 EST ahead).
    ("45 * * * *", "America/New_York", "2026-11-01T05:50:00Z", &["2026-11-01T06:45:00Z", "2026-11-01T07:45:00Z"]),
    ("*/20 * * * *", "America/New_York", "2026-11-01T05:50:00Z", &["2026-11-01T06:00:00Z", "2026-11-01T06:20:00Z"]),
    (
        "*/30 30 1 * * *",
        "America/New_York",
        "2026-11-01T05:00:00Z",
        &[
            "2026-11-01T05:30:00Z",
            "2026-11-01T05:30:30Z",
            "2026-11-01T06:30:00Z",
            "2026-11-01T06:30:30Z",
            "2026-11-02T06:30:00Z",
        ],
    ),
    // Berlin: 02:00 CET becomes 03:00 CEST on 2026-03-29, 03:00 CEST becomes 02:00 CET on 2026-10-25.
    ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z", &["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
    (
        "*/30 * * * *",
        "Europe/Berlin",
        "2026-03-29T00:15:00Z",
        &["2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"],
    ),
    ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", &["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
    (
        "*/30 * * * *",
        "Europe/Berlin",
        "2026-10-25T00:15:00Z",
        &["2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"],
    ),
    // Lord Howe moves by half an hour: 02:00 +10:30 becomes 02:30 +11 on 2026-10-04 and
    // 02:00 +11 becomes 01:30 +10:30 on 2026-04-05.
    ("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z", &["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]),
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2026-10-03T15:00:00Z",
        &["2026-10-03T15:15:00Z", "2026-10-03T15:30:00Z", "2026-10-03T15:45:00Z"],
    ),
    ("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z", &["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"]),
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2026-04-04T14:20:00Z",
        &[
            "2026-04-04T14:30:00Z",
            "2026-04-04T14:45:00Z",
            "2026-04-04T15:00:00Z",
            "2026-04-04T15:15:00Z",
            "2026-04-04T15:30:00Z",
        ],
    ),
    // Santiago skips its midnight on 2026-09-06 (00:00 -04 becomes 01:00 -03) and repeats
    // 23:xx on 2026-04-04: a daily midnight job still runs once each day.
    (
        "0 0 * * *",
        "America/Santiago",
        "2026-09-04T12:00:00Z",
        &["2026-09-05T04:00:00Z", "2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"],
    ),
    (
        "0 * * * *",
        "America/Santiago",
        "2026-09-06T02:30:00Z",
        &["2026-09-06T03:00:00Z", "2026-09-06T04:00:00Z", "2026-09-06T05:00:00Z"],
    ),
    (
        "30 23 * * *",
        "America/Santiago",
        "2026-04-03T12:00:00Z",
        &["2026-04-04T02:30:00Z", "2026-04-05T02:30:00Z", "2026-04-06T03:30:00Z"],
    ),
    ("0 0 * * *", "America/Santiago", "2026-04-03T12:00:00Z", &["2026-04-04T03:00:00Z", "2026-04-05T04:00:00Z"]),
    // Havana skips 00:xx on 2026-03-08 and repeats it on 2026-11-01.
    (
        "0 0 * * *",
        "America/Havana",
        "2026-03-06T12:00:00Z",
        &["2026-03-07T05:00:00Z", "2026-03-08T05:00:00Z", "2026-03-09T04:00:00Z"],
    ),
    ("0 0 * * *", "America/Havana", "2026-10-31T12:00:00Z", &["2026-11-01T04:00:00Z", "2026-11-02T05:00:00Z"]),
    ("0 0 * * SUN", "America/Havana", "2026-03-01T12:00:00Z", &["2026-03-08T05:00:00Z", "2026-03-15T04:00:00Z"]),
    // Apia skipped all of 2011-12-30 (-10 became +14): a day-long gap still runs once after it.
    (
        "0 12 * * *",
        "Pacific/Apia",
        "2011-12-28T00:00:00Z",
        &["2011-12-28T22:00:00Z", "2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T22:00:00Z"],
    ),
    (
        "0 */6 * * *",
        "Pacific/Apia",
        "2011-12-29T20:00:00Z",
        &["2011-12-29T22:00:00Z", "2011-12-30T04:00:00Z", "2011-12-30T10:00:00Z", "2011-12-30T16:00:00Z"],
    ),
];

#[test]
fn fire_times_follow_the_table() {
    let mut wrong = Vec::new();
    for (expression, zone_name, after, expected) in FIRES {
        let fired = fires(&schedule(expression, zone_name), at(after), expected.len());
        if fired != *expected {
            wrong.push(format!("`{expression}` in {zone_name} after {after}:\n   got {fired:?}\n  want {expected:?}"));
        }
    }
    assert!(wrong.is_empty(), "{} of {} rows differ:\n{}", wrong.len(), FIRES.len(), wrong.join("\n"));
}

/// (expression, offset, problem, a phrase of the fix)
const REFUSED: &[(&str, usize, &str, &str)] = &[
    ("", 0, "the cron expression is empty", "5 fields (minute hour day-of-month month day-of-week)"),
    (" \t ", 0, "the cron expression is empty", "such as `0 9 * * MON-FRI`"),
    // Field counts.
    (
        "0 9 * *",
        0,
        "`0 9 * *` has 4 fields",
        "5 fields (minute hour day-of-month month day-of-week) or 6 (a second first)",
    ),
    ("daily", 0, "`daily` has 1 field", "did you mean the macro `@daily`?"),
    ("0 9 * * * * 2026", 12, "`0 9 * * * * 2026` has 7 fields; a year field is not supported", "remove the year"),
    ("1 2 3 4 5 6 7 8", 12, "`1 2 3 4 5 6 7 8` has 8 fields", "or 6 (a second first)"),
    // Out of range, per field, with 5 and with 6 fields.
    ("60 * * * *", 0, "field 1 (minute) `60` is out of range", "minutes go from 0 to 59"),
    ("* 25 * * *", 2, "field 2 (hour) `25` is out of range", "hours go from 0 to 23"),
    ("* * 0 * *", 4, "field 3 (day-of-month) `0` is out of range", "days of the month go from 1 to 31"),
    ("* * 32 * *", 4, "field 3 (day-of-month) `32` is out of range", "days of the month go from 1 to 31"),
    ("* * * 13 *", 6, "field 4 (month) `13` is out of range", "months go from 1 to 12, or JAN to DEC"),
    ("* * * 0 *", 6, "field 4 (month) `0` is out of range", "months go from 1 to 12"),
    ("* * * * 8", 8, "field 5 (day-of-week) `8` is out of range", "0 to 7 (0 and 7 are Sunday), or SUN to SAT"),
    ("61 * * * * *", 0, "field 1 (second) `61` is out of range", "seconds go from 0 to 59"),
    ("0 60 * * * *", 2, "field 2 (minute) `60` is out of range", "minutes go from 0 to 59"),
    ("0 0 24 * * *", 4, "field 3 (hour) `24` is out of range", "hours go from 0 to 23"),
    ("  0 25 * * *", 4, "field 2 (hour) `25` is out of range", "hours go from 0 to 23"),
    ("0 1,25 * * *", 4, "field 2 (hour) `1,25`: `25` is out of range", "hours go from 0 to 23"),
    ("0 20-25 * * *", 5, "field 2 (hour) `20-25`: `25` is out of range", "hours go from 0 to 23"),
    ("99999999999 * * * *", 0, "field 1 (minute) `99999999999` is out of range", "minutes go from 0 to 59"),
    // Names.
    ("0 9 * FOO *", 6, "field 4 (month) `FOO` is not a name this field knows", "JAN to DEC"),
    ("0 9 * January *", 6, "field 4 (month) `January` is not a name this field knows", "write `JAN`"),
    ("0 9 * * MONDAY", 8, "field 5 (day-of-week) `MONDAY` is not a name this field knows", "write `MON`"),
    ("0 9 * * JAN", 8, "field 5 (day-of-week) `JAN` is not a name this field knows", "SUN to SAT"),
    ("0 9 * MON *", 6, "field 4 (month) `MON` is not a name this field knows", "JAN to DEC"),
    ("0 noon * * *", 2, "field 2 (hour) `noon` is not a number", "hours go from 0 to 23"),
    ("é * * * *", 0, "field 1 (minute) `é` is not a number", "a field is `*`, or values, ranges"),
    // Steps.
    ("*/0 * * * *", 2, "field 1 (minute) `*/0` has a step of 0, which never advances", "a step of 1 or more"),
    ("0 9 * * 1-5/0", 12, "field 5 (day-of-week) `1-5/0` has a step of 0, which never advances", "1 or more"),
    ("*/ * * * *", 0, "field 1 (minute) `*/` is missing its step", "as in `*/2`"),
    ("*/x * * * *", 2, "field 1 (minute) `*/x`: `x` is not a number", "as in `*/15`"),
    ("*/90 * * * *", 2, "field 1 (minute) `*/90` has a step larger than the field", "steps go from 1 to 60"),
    ("0 */25 * * *", 4, "field 2 (hour) `*/25` has a step larger than the field", "does not carry into the next day"),
    ("5/15 * * * *", 0, "field 1 (minute) `5/15` steps from a single value", "write `5-59/15`, or `*/15`"),
    ("1/2/3 * * * *", 0, "field 1 (minute) `1/2/3` has more than one `/`", "write one step"),
    // Ranges and lists.
    ("0 5-1 * * *", 2, "field 2 (hour) `5-1` runs backwards", "ranges do not wrap around: write `5-23,0-1`"),
    ("0 0 * * 5-0", 8, "field 5 (day-of-week) `5-0` runs backwards", "Sunday is also 7: write `5-7`"),
    ("0 0 * * FRI-MON", 8, "field 5 (day-of-week) `FRI-MON` runs backwards", "write `5-6,0-1`"),
    ("0 0 * DEC-JAN *", 6, "field 4 (month) `DEC-JAN` runs backwards", "write `12-12,1-1`"),
    ("1-2-3 * * * *", 0, "field 1 (minute) `1-2-3` has more than one `-`", "two values"),
    ("1- * * * *", 0, "field 1 (minute) `1-` is missing a number", "minutes go from 0 to 59"),
    ("1,,2 * * * *", 0, "field 1 (minute) `1,,2` has an empty list item", "between each pair of commas"),
    ("5, * * * *", 0, "field 1 (minute) `5,` has an empty list item", "none around them"),
    ("*,5 * * * *", 0, "field 1 (minute) `*,5`: `*` cannot be part of a list", "list only the minutes"),
    ("? * * * *", 0, "field 1 (minute) `?` is not allowed here", "write `*` here"),
    ("0 0 ?,1 * *", 4, "field 3 (day-of-month) `?,1`: `?` is not allowed here", "as the whole field"),
    // Extensions used wrongly.
    ("0 0 * * L", 8, "field 5 (day-of-week) `L` needs a day before it", "`5L` or `FRIL`"),
    ("0 0 5L * *", 4, "field 3 (day-of-month) `5L` is not a day of the month", "write `L` alone"),
    ("0 0 * * MON#6", 8, "field 5 (day-of-week) `MON#6` has an occurrence that is not 1 to 5", "`MON#2`"),
    ("0 0 * * 1-5#2", 8, "field 5 (day-of-week) `1-5#2` applies a suffix to more than one day", "as in `MON#2`"),
    ("0 0 1-5W * *", 4, "field 3 (day-of-month) `1-5W` applies a suffix to more than one day", "as in `15W`"),
    ("0 0 32W * *", 4, "field 3 (day-of-month) `32W`: `32` is out of range", "1 to 31"),
    ("0 0 * * +", 8, "field 5 (day-of-week) `+` has nothing after `+`", "as in `+MON`"),
    // Macros.
    (
        "@reboot",
        0,
        "`@reboot` names no time of day: it means \"when the daemon starts\"",
        "event rule on the topic `daemon:started`",
    ),
    ("  @REBOOT", 2, "`@reboot` names no time of day: it means \"when the daemon starts\"", "`daemon:started`"),
    ("@dialy", 0, "unknown macro `@dialy`", "did you mean `@daily`?"),
    (
        "@sometimes",
        0,
        "unknown macro `@sometimes`",
        "@yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly",
    ),
    ("@daily 5", 7, "`@daily` is followed by more text", "a macro stands alone"),
    // Expressions that can never fire.
    (
        "0 0 30 2 *",
        4,
        "`0 0 30 2 *` can never fire: no date matches day-of-month `30` and month `2`",
        "February has 28 days",
    ),
    ("0 0 31 4 *", 4, "`0 0 31 4 *` can never fire: no date matches day-of-month `31` and month `4`", "have 30"),
    (
        "0 0 0 31 APR,jun,9,11 *",
        6,
        "`0 0 0 31 APR,jun,9,11 *` can never fire: no date matches day-of-month `31` and month `APR,jun,9,11`",
        "have 30",
    ),
    ("0 0 30W 2 *", 4, "`0 0 30W 2 *` can never fire: no date matches day-of-month `30W` and month `2`", "February"),
    (
        "0 0 1 * +MON#2",
        4,
        "`0 0 1 * +MON#2` can never fire: no date matches day-of-month `1` and day-of-week `+MON#2`",
        "with `+`, one date must match both",
    ),
];

#[test]
fn refused_expressions_say_what_and_where() {
    let mut wrong = Vec::new();
    for &(expression, offset, problem, fix) in REFUSED {
        match Schedule::parse(expression, Zone::Utc) {
            Ok(_) => wrong.push(format!("`{expression}` was accepted")),
            Err(error) if error.problem != problem || error.offset != offset || !error.fix.contains(fix) => wrong
                .push(format!("`{expression}`:\n   got {error:?}\n  want {problem:?} at {offset}, fix with {fix:?}")),
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{} of {} rows differ:\n{}", wrong.len(), REFUSED.len(), wrong.join("\n"));
}

#[test]
fn a_field_croner_refuses_is_still_named() {
    // The field checks leave croner nothing to refuse, so hand it a field they would have caught.
    let normalized: Vec<String> = ["0", "0", "5/15", "*", "*", "*"].map(str::to_owned).into();
    let written = [(0, "0"), (2, "5/15"), (7, "*"), (9, "*"), (11, "*")];
    let error = parse_normalized(&normalized, &written, &FIELDS[1..]).unwrap_err();
    assert!(error.problem.starts_with("field 2 (hour) `5/15` is not valid: "), "{error:?}");
    assert_eq!((error.fix.as_str(), error.offset), ("hours go from 0 to 23", 2));
}

#[test]
fn an_error_reads_as_one_sentence() {
    let error = Schedule::parse("* 25 * * *", Zone::Utc).unwrap_err();
    assert_eq!(error.to_string(), "field 2 (hour) `25` is out of range; hours go from 0 to 23");
}

#[test]
fn a_schedule_tells_what_it_was_made_from() {
    let berlin = zone("Europe/Berlin");
    let five = Schedule::parse(" 0 9 * * MON-FRI ", berlin.clone()).unwrap();
    assert_eq!(five.expression(), " 0 9 * * MON-FRI ");
    assert_eq!(five.zone(), &berlin);
    assert!(!five.has_seconds());
    assert!(Schedule::parse("*/5 * * * * *", Zone::Utc).unwrap().has_seconds());
    assert!(!Schedule::parse("@hourly", Zone::Local).unwrap().has_seconds());
}

/// A name as written, and the zone's name or the problem and a phrase of the fix.
type ZoneRow = (Option<&'static str>, Result<&'static str, (&'static str, &'static str)>);

const ZONES: &[ZoneRow] = &[
    (None, Ok("local")),
    (Some("local"), Ok("local")),
    (Some(" LOCAL "), Ok("local")),
    (Some("UTC"), Ok("UTC")),
    (Some("utc"), Ok("UTC")),
    (Some("Etc/UTC"), Ok("UTC")),
    (Some("Z"), Ok("UTC")),
    (Some("Europe/Berlin"), Ok("Europe/Berlin")),
    (Some("europe/berlin"), Ok("Europe/Berlin")),
    (Some("AMERICA/NEW_YORK"), Ok("America/New_York")),
    (Some("Australia/Lord_Howe"), Ok("Australia/Lord_Howe")),
    (Some("GMT"), Ok("GMT")),
    (Some("Europe/Berln"), Err(("unknown time zone `Europe/Berln`", "did you mean `Europe/Berlin`?"))),
    (Some("Berlin"), Err(("unknown time zone `Berlin`", "did you mean `Europe/Berlin`?"))),
    (Some("new york"), Err(("unknown time zone `new york`", "did you mean `America/New_York`?"))),
    (Some("America/New York"), Err(("unknown time zone `America/New York`", "did you mean `America/New_York`?"))),
    (Some("Mars/Olympus_Mons"), Err(("unknown time zone `Mars/Olympus_Mons`", "an IANA name such as `Europe/Berlin`"))),
    (Some(""), Err(("the time zone is empty", "`local` or `UTC`"))),
];

#[test]
fn zones_are_named_as_iana_does() {
    for &(written, expected) in ZONES {
        match (Zone::parse(written), expected) {
            (Ok(zone), Ok(name)) => assert_eq!(zone.name(), name, "{written:?}"),
            (Err(error), Err((problem, fix))) => {
                assert_eq!(error.problem, problem, "{written:?}");
                assert!(error.fix.contains(fix), "{written:?}: {error:?}");
                assert_eq!(error.offset, 0);
            }
            (got, _) => panic!("{written:?}: got {got:?}, want {expected:?}"),
        }
    }
    assert_eq!(zone("Europe/Berlin"), Zone::Named(NamedZone::find("europe/BERLIN").unwrap()));
    assert_eq!(zone("utc"), Zone::Utc);
}

#[test]
fn utc_and_zones_at_utc_agree() {
    // Etc/UTC and Abidjan never leave offset 0; London is at 0 until 2026-03-29.
    let expressions = ["0 9 * * MON-FRI", "*/15 * * * *", "30 2 * * *", "0 0 L * *", "*/7 * * * * *", "@weekly"];
    let winter = |fired: Vec<String>| -> Vec<String> {
        fired.into_iter().filter(|fired| at(fired) < at("2026-03-28T00:00:00Z")).collect()
    };
    for expression in expressions {
        let utc = winter(fires(&schedule(expression, "UTC"), at("2026-01-01T00:00:00Z"), 20));
        for zone_name in ["Etc/UTC", "Africa/Abidjan", "Europe/London"] {
            let named = winter(fires(&schedule(expression, zone_name), at("2026-01-01T00:00:00Z"), 20));
            assert_eq!(named, utc, "`{expression}` in {zone_name}");
        }
    }
}

#[test]
fn local_is_the_system_zone() {
    // The test cannot choose the system's zone; every zone in use has whole-minute offsets.
    let every_minute = Schedule::parse("* * * * *", Zone::Local).unwrap();
    let after = at("2026-05-05T10:00:30Z");
    let next = every_minute.next_after(after).unwrap();
    assert_eq!(next, at("2026-05-05T10:01:00Z"));
}

/// (zone, an instant where its clock changes): two days around each are checked by brute force.
const CHANGES: &[(&str, &str)] = &[
    ("America/New_York", "2026-03-08T07:00:00Z"),
    ("America/New_York", "2026-11-01T06:00:00Z"),
    ("Europe/Berlin", "2026-03-29T01:00:00Z"),
    ("Europe/Berlin", "2026-10-25T01:00:00Z"),
    ("Australia/Lord_Howe", "2026-04-04T15:00:00Z"),
    ("Australia/Lord_Howe", "2026-10-03T15:30:00Z"),
    ("America/Santiago", "2026-04-05T03:00:00Z"),
    ("America/Santiago", "2026-09-06T04:00:00Z"),
    ("America/Havana", "2026-03-08T05:00:00Z"),
    ("America/Havana", "2026-11-01T05:00:00Z"),
    ("Pacific/Apia", "2011-12-30T10:00:00Z"),
    ("UTC", "2026-06-01T00:00:00Z"),
];

const AROUND_CHANGES: &[&str] = &[
    "30 2 * * *",
    "0,30 2 * * *",
    "0 1-3 * * *",
    "45 1 * * *",
    "0 0 * * *",
    "30 23 * * *",
    "15,45 0-3 * * *",
    "0-59 1-2 * * *",
    "*/15 * * * *",
    "0 * * * *",
    "59 * * * *",
    "* 2 * * *",
    "*/7 2 * * *",
    "*/20 1-2 * * *",
    "0 */5 * * *",
];

/// Every fire time strictly between `start` and `end`, by walking every minute and applying the
/// rules of the module doc directly: a check of the search, independent of how it skips ahead.
fn brute_force(schedule: &Schedule, tz: chrono_tz::Tz, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<String> {
    let matches = |wall: NaiveDateTime| schedule.cron.is_time_matching(&wall).unwrap();
    let minute = TimeDelta::minutes(1);
    let mut fired = std::collections::BTreeSet::new();
    if schedule.fixed_time {
        // Each wall-clock time it names runs once: at its first instant, or when the gap ends.
        let mut wall = start.naive_utc() - TimeDelta::days(1);
        while wall < end.naive_utc() + TimeDelta::days(1) {
            if matches(wall) {
                let mut exists = wall;
                let instant = loop {
                    match tz.from_local_datetime(&exists) {
                        LocalResult::Single(instant) | LocalResult::Ambiguous(instant, _) => break instant.to_utc(),
                        LocalResult::None => exists += minute,
                    }
                };
                if start < instant && instant < end {
                    fired.insert(instant);
                }
            }
            wall += minute;
        }
    } else {
        // Every real instant whose wall clock it names.
        let mut instant = start + minute;
        while instant < end {
            if matches(instant.with_timezone(&tz).naive_local()) {
                fired.insert(instant);
            }
            instant += minute;
        }
    }
    fired.into_iter().map(|instant| instant.to_rfc3339_opts(SecondsFormat::AutoSi, true)).collect()
}

#[test]
fn fire_times_around_clock_changes_match_brute_force() {
    let mut wrong = Vec::new();
    for &(zone_name, change) in CHANGES {
        let tz: chrono_tz::Tz = zone_name.parse().unwrap();
        let (start, end) = (at(change) - TimeDelta::hours(30), at(change) + TimeDelta::hours(30));
        for expression in AROUND_CHANGES {
            let schedule = schedule(expression, zone_name);
            let expected = brute_force(&schedule, tz, start, end);
            let mut searched = fires(&schedule, start, expected.len() + 1);
            searched.retain(|fired| at(fired) < end);
            if searched != expected {
                wrong.push(format!(
                    "`{expression}` in {zone_name} near {change}:\n   got {searched:?}\n  want {expected:?}"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn croner_agrees_where_it_classifies_jobs_alike() {
    // croner's own zoned search, for jobs that both call fixed-time (single values) or interval
    // (wildcards). Apia is left out: croner gives up on its day-long gap.
    let alike = ["30 2 * * *", "45 1 * * *", "0 0 * * *", "30 23 * * *", "*/15 * * * *", "0 * * * *", "* 2 * * *"];
    for &(zone_name, change) in CHANGES.iter().filter(|(zone_name, _)| *zone_name != "Pacific/Apia") {
        let tz: chrono_tz::Tz = zone_name.parse().unwrap();
        for expression in alike {
            let ours = schedule(expression, zone_name);
            let theirs: Cron = expression.parse().unwrap();
            let mut from = (at(change) - TimeDelta::hours(30)).with_timezone(&tz);
            for _ in 0..40 {
                let want = theirs.find_next_occurrence(&from, false).unwrap();
                assert_eq!(
                    ours.next_after(from.to_utc()),
                    Some(want.to_utc()),
                    "`{expression}` in {zone_name} after {from}"
                );
                from = want;
            }
        }
    }
}

#[test]
fn any_instant_is_safe() {
    let every_second = schedule("* * * * * *", "America/New_York");
    assert_eq!(every_second.next_after(DateTime::<Utc>::MAX_UTC), None);
    assert_eq!(every_second.next_after(at("5000-01-01T00:00:00Z")), None);
    let first = every_second.next_after(DateTime::<Utc>::MIN_UTC).unwrap();
    assert!(first.to_rfc3339().starts_with("0001-01-0"), "{first}");
    assert!(every_second.next_after(at("4999-06-01T00:00:00Z")).is_some());
}

/// A small deterministic generator, so a failure reproduces.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// A field that is often valid and sometimes not: cron's shapes with random numbers, or junk.
fn random_field(random: &mut XorShift) -> String {
    const JUNK: &[&str] =
        &["*", "/", ",", "-", "#", "L", "W", "?", "+", "@", "MON", "sun", "jan", "LW", "é", "*/", "-7"];
    let n = random.below(32);
    let (m, k) = (n + random.below(12), random.below(10));
    match random.below(20) {
        0..=8 => "*".to_owned(),
        9 => format!("*/{k}"),
        10 | 11 => n.to_string(),
        12 => format!("{n}-{m}"),
        13 => format!("{n},{m}"),
        14 => format!("{n}-{m}/{k}"),
        15 => ["L", "LW", "?", "MON-FRI", "+SAT", "jan", "FRI#3", "5L"][random.below(8)].to_owned(),
        16 => format!("{k}W"),
        17 => format!("{}#{}", random.below(8), random.below(7)),
        _ => (0..1 + random.below(3)).map(|_| JUNK[random.below(JUNK.len())]).collect(),
    }
}

#[test]
fn random_input_never_panics() {
    let zones = [Zone::Utc, zone("America/New_York"), zone("Australia/Lord_Howe")];
    let instants = [at("2026-03-08T06:59:59Z"), at("2026-11-01T05:30:00Z"), at("2026-12-31T23:59:59.9Z")];
    let mut random = XorShift(0x2545_f491_4f6c_dd1d);
    let mut accepted = 0;
    for round in 0..3000 {
        let text: String = if round % 3 == 0 {
            // Any printable text.
            (0..random.below(24)).map(|_| char::from(b' ' + random.below(95) as u8)).collect()
        } else {
            // 4 to 7 fields in cron's own shapes.
            let count = 4 + random.below(4);
            (0..count).map(|_| random_field(&mut random)).collect::<Vec<_>>().join(" ")
        };
        if round % 10 == 0 {
            // Unknown names cost an edit distance to every IANA name, so fewer of them.
            let _ = Zone::parse(Some(&text));
        }
        let Ok(schedule) = Schedule::parse(&text, zones[round % zones.len()].clone()) else { continue };
        accepted += 1;
        for after in instants {
            if let Some(next) = schedule.next_after(after) {
                assert!(next > after, "`{text}` after {after} gave {next}");
            }
        }
    }
    assert!(accepted > 50, "only {accepted} random expressions parsed: the generator no longer reaches the search");
}
