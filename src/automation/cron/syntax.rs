//! Reading a cron expression: the words, macros and the six fields, each checked on its own so
//! that an error names the field, points at the bad part and says what to write instead; then
//! the normalized fields go to croner.

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use super::CronError;
use crate::suggest::closest;

pub(super) const MACROS: [(&str, &str); 7] = [
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    // croner lacks @midnight.
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

pub(super) const SHAPE: &str = "a cron expression has 5 fields (minute hour day-of-month month day-of-week) or 6 (a \
     second first), such as `0 9 * * MON-FRI`";
/// Whether `token` is a plain decimal number (`str::parse` would also take a sign).
pub(super) fn is_number(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit())
}

/// The whitespace-separated words of `text`, with their byte offsets.
pub(super) fn words(text: &str) -> Vec<(usize, &str)> {
    text.split_whitespace().map(|word| (word.as_ptr() as usize - text.as_ptr() as usize, word)).collect()
}

pub(super) fn expand_macro(word: &str, at: usize, words: &[(usize, &str)]) -> Result<&'static str, CronError> {
    const LIST: &str = "@yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly";
    if word.eq_ignore_ascii_case("@reboot") {
        return Err(CronError::new(
            "`@reboot` names no time of day: it means \"when the daemon starts\"",
            "use an event rule on the topic `daemon:started` instead of a schedule",
            at,
        ));
    }
    let Some(&(_, fields)) = MACROS.iter().find(|(name, _)| name.eq_ignore_ascii_case(word)) else {
        let names: Vec<String> = MACROS.iter().map(|(name, _)| name.to_string()).chain(["@reboot".into()]).collect();
        let fix = match closest(word, &names) {
            Some(name) => format!("did you mean `{name}`? The macros are {LIST}"),
            None => format!("use one of {LIST}, or fields: {SHAPE}"),
        };
        return Err(CronError::new(format!("unknown macro `{word}`"), fix, at));
    };
    if let Some(&(extra, _)) = words.get(1) {
        return Err(CronError::new(
            format!("`{word}` is followed by more text"),
            format!("a macro stands alone: remove what follows it, or write fields instead ({fields})"),
            extra,
        ));
    }
    Ok(fields)
}

pub(super) fn wrong_count(expression: &str, words: &[(usize, &str)], count: usize) -> CronError {
    let text = expression.trim();
    if count == 7 {
        return CronError::new(
            format!("`{text}` has 7 fields; a year field is not supported"),
            format!("remove the year (the last field): {SHAPE}"),
            words[6].0,
        );
    }
    let problem = format!("`{text}` has {count} field{}", if count == 1 { "" } else { "s" });
    let offset = if count > 7 { words[6].0 } else { words.first().map_or(0, |word| word.0) };
    let fix = match MACROS.iter().find(|(name, _)| name[1..].eq_ignore_ascii_case(text)) {
        Some((name, _)) => format!("did you mean the macro `{name}`?"),
        None => SHAPE.to_owned(),
    };
    CronError::new(problem, fix, offset)
}

/// A field as written, with what it is and where it stands.
#[derive(Clone, Copy)]
pub(super) struct Place<'a> {
    pub(super) field: &'static Field,
    /// 1-based, as the person counts the fields they wrote.
    pub(super) position: usize,
    pub(super) text: &'a str,
    pub(super) offset: usize,
}

/// What one field of an expression holds.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Field {
    pub(super) label: &'static str,
    pub(super) low: u32,
    pub(super) high: u32,
    /// The highest value a range may end on without coming round again: Sunday is 0 and 7.
    pub(super) cycle_high: u32,
    pub(super) plural: &'static str,
    /// The next larger unit, which a step does not carry into.
    pub(super) carry: &'static str,
    /// Names for `low`, `low + 1`, ...
    pub(super) names: &'static [&'static str],
    pub(super) range: &'static str,
}

pub(super) const SECOND: Field = Field {
    label: "second",
    low: 0,
    high: 59,
    cycle_high: 59,
    plural: "seconds",
    carry: "minute",
    names: &[],
    range: "seconds go from 0 to 59",
};
pub(super) const MINUTE: Field =
    Field { label: "minute", plural: "minutes", carry: "hour", range: "minutes go from 0 to 59", ..SECOND };
pub(super) const HOUR: Field = Field {
    label: "hour",
    high: 23,
    cycle_high: 23,
    plural: "hours",
    carry: "day",
    range: "hours go from 0 to 23",
    ..SECOND
};
pub(super) const DAY_OF_MONTH: Field = Field {
    label: "day-of-month",
    low: 1,
    high: 31,
    cycle_high: 31,
    plural: "days",
    carry: "month",
    names: &[],
    range: "days of the month go from 1 to 31",
};
pub(super) const MONTH: Field = Field {
    label: "month",
    low: 1,
    high: 12,
    cycle_high: 12,
    plural: "months",
    carry: "year",
    names: &["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"],
    range: "months go from 1 to 12, or JAN to DEC",
};
pub(super) const DAY_OF_WEEK: Field = Field {
    label: "day-of-week",
    low: 0,
    high: 7,
    cycle_high: 6,
    plural: "days of the week",
    carry: "week",
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    range: "days of the week go from 0 to 7 (0 and 7 are Sunday), or SUN to SAT",
};
pub(super) const FIELDS: [&Field; 6] = [&SECOND, &MINUTE, &HOUR, &DAY_OF_MONTH, &MONTH, &DAY_OF_WEEK];

impl Field {
    /// Whether the field chooses days, as opposed to times of day.
    pub(super) fn is_date(&self) -> bool {
        [DAY_OF_MONTH, MONTH, DAY_OF_WEEK].contains(self)
    }
}

impl Place<'_> {
    /// An error about `part`, found `at` bytes into this field.
    pub(super) fn error(&self, part: &str, at: usize, what: &str, fix: impl Into<String>) -> CronError {
        let (position, label, text) = (self.position, self.field.label, self.text);
        let problem = if part == text {
            format!("field {position} ({label}) `{text}` {what}")
        } else {
            format!("field {position} ({label}) `{text}`: `{part}` {what}")
        };
        CronError::new(problem, fix, self.offset + at)
    }

    /// The field as croner reads it: numbers instead of names, `*` instead of `?`, or an error
    /// that says what is wrong in words.
    pub(super) fn normalize(&self) -> Result<String, CronError> {
        let (mut text, mut at, mut out) = (self.text, 0, String::new());
        if let Some(rest) = text.strip_prefix('+').filter(|_| *self.field == DAY_OF_WEEK) {
            (text, at) = (rest, 1);
            out.push('+');
        }
        if text.is_empty() {
            let fix = "write days of the week after it, as in `+MON`: it makes a date match both day fields";
            return Err(self.error(self.text, 0, "has nothing after `+`", fix));
        }
        let day_field = *self.field == DAY_OF_MONTH || *self.field == DAY_OF_WEEK;
        if text == "?" && day_field {
            out.push('*');
            return Ok(out);
        }
        for (index, item) in text.split(',').enumerate() {
            let item_at = at;
            at += item.len() + 1;
            if item.is_empty() {
                let fix = "write one value or range between each pair of commas, and none around them";
                return Err(self.error(self.text, 0, "has an empty list item", fix));
            }
            if index > 0 {
                out.push(',');
            }
            out.push_str(&self.item(item, item_at, text.contains(','), day_field)?);
        }
        Ok(out)
    }

    pub(super) fn item(&self, item: &str, at: usize, in_list: bool, day_field: bool) -> Result<String, CronError> {
        let upper = item.to_ascii_uppercase();
        if let Some(special) = self.extension(item, &upper, at)? {
            return Ok(special);
        }
        if item == "?" {
            let fix = if day_field {
                "write `?` alone, as the whole field"
            } else {
                "`?` is for the day-of-month and day-of-week fields; write `*` here"
            };
            return Err(self.error(item, at, "is not allowed here", fix));
        }
        for (separator, fix) in
            [('/', "write one step, as in `*/15` or `1-30/5`"), ('-', "a range is two values, as in `1-5`")]
        {
            if item.matches(separator).count() > 1 {
                return Err(self.error(item, at, &format!("has more than one `{separator}`"), fix));
            }
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (item, None),
        };
        let (low, high) = (self.field.low, self.field.cycle_high);
        let base_text = if base == "*" {
            if in_list && step.is_none() {
                let fix =
                    format!("`*` already means every value; write `*` alone or list only the {}", self.field.plural);
                return Err(self.error(item, at, "cannot be part of a list", fix));
            }
            "*".to_owned()
        } else if let Some((start, end)) = base.split_once('-') {
            let first = self.value(start, at, false)?;
            let last = self.value(end, at + start.len() + 1, first > 0)?;
            if first > last {
                let fix = if *self.field == DAY_OF_WEEK && last == 0 {
                    format!("Sunday is also 7: write `{start}-7`")
                } else {
                    format!("ranges do not wrap around: write `{first}-{high},{low}-{last}`")
                };
                return Err(self.error(base, at, "runs backwards", fix));
            }
            format!("{first}-{last}")
        } else {
            let value = self.value(base, at, false)?;
            if let Some(step) = step {
                let fix =
                    format!("a step needs `*` or a range before it: write `{value}-{high}/{step}`, or `*/{step}`");
                return Err(self.error(item, at, "steps from a single value", fix));
            }
            value.to_string()
        };
        let Some(step) = step else { return Ok(base_text) };
        let step_at = at + base.len() + 1;
        let count = self.field.cycle_high - self.field.low + 1;
        if step.is_empty() {
            return Err(self.error(
                item,
                at,
                "is missing its step",
                format!("write a number after `/`, as in `{base}/2`"),
            ));
        }
        if !is_number(step) {
            return Err(self.error(step, step_at, "is not a number", "a step is a whole number, as in `*/15`"));
        }
        match step.parse::<u32>() {
            Ok(number) if (1..=count).contains(&number) => Ok(format!("{base_text}/{number}")),
            Ok(0) => Err(self.error(item, step_at, "has a step of 0, which never advances", "use a step of 1 or more")),
            _ => Err(self.error(
                item,
                step_at,
                "has a step larger than the field",
                format!("steps go from 1 to {count}; a step does not carry into the next {}", self.field.carry),
            )),
        }
    }

    /// croner's day extensions (`L`, `LW`, `15W`, `5L`, `MON#2`), normalized; `None` when `item`
    /// is not one.
    pub(super) fn extension(&self, item: &str, upper: &str, at: usize) -> Result<Option<String>, CronError> {
        // The suffix or `#` follows one day; croner has no meaning for `1-5W` or `*/2#1`.
        let single = |stem: &str, example: &str| -> Result<u32, CronError> {
            if stem.contains(['-', '/', '*', ',']) {
                return Err(self.error(
                    item,
                    at,
                    "applies a suffix to more than one day",
                    format!("write it after a single day, as in `{example}`"),
                ));
            }
            self.value(stem, at, false)
        };
        let stem = item.get(..item.len().saturating_sub(1)).unwrap_or_default();
        let (of_month, of_week) = (*self.field == DAY_OF_MONTH, *self.field == DAY_OF_WEEK);
        let extension = match upper {
            "L" | "LW" if of_month => upper.to_owned(),
            _ if of_month && upper.len() > 1 && upper.ends_with('W') => format!("{}W", single(stem, "15W")?),
            _ if of_month && upper.len() > 1 && upper.ends_with('L') => {
                let fix = "write `L` alone for the last day of the month; `5L` (the last Friday) goes in the day-of-week field";
                return Err(self.error(item, at, "is not a day of the month", fix));
            }
            "L" if of_week => {
                let fix = "write the last occurrence of a day as `5L` or `FRIL` (the last Friday of the month)";
                return Err(self.error(item, at, "needs a day before it", fix));
            }
            _ if of_week && upper.len() > 1 && upper.ends_with('L') => format!("{}L", single(stem, "FRIL")?),
            _ if of_week && item.contains('#') => {
                let (day, nth) = item.split_once('#').unwrap_or((item, ""));
                let day = single(day, "MON#2")?;
                match nth.parse::<u32>() {
                    Ok(occurrence @ 1..=5) if is_number(nth) => format!("{day}#{occurrence}"),
                    _ => {
                        let fix =
                            "write the nth weekday of the month as `MON#2` (the second Monday), with 1 to 5 after `#`";
                        return Err(self.error(item, at, "has an occurrence that is not 1 to 5", fix));
                    }
                }
            }
            _ => return Ok(None),
        };
        Ok(Some(extension))
    }

    /// A number or a name, in range; `range_end` reads `SUN` as 7, so `FRI-SUN` works.
    pub(super) fn value(&self, token: &str, at: usize, range_end: bool) -> Result<u32, CronError> {
        let (low, high) = (self.field.low, self.field.high);
        if token.is_empty() {
            return Err(self.error(self.text, 0, "is missing a number", self.field.range));
        }
        if is_number(token) {
            return match token.parse::<u32>() {
                Ok(value) if (low..=high).contains(&value) => Ok(value),
                _ => Err(self.error(token, at, "is out of range", self.field.range)),
            };
        }
        let names = self.field.names;
        let upper = token.to_ascii_uppercase();
        if let Some(index) = names.iter().position(|name| *name == upper) {
            let value = self.field.low + index as u32;
            return Ok(if range_end && *self.field == DAY_OF_WEEK && value == 0 { 7 } else { value });
        }
        if token.chars().all(|c| c.is_ascii_alphabetic()) {
            let fix = match names.iter().find(|name| upper.starts_with(*name)) {
                Some(name) => format!("names are three letters: write `{name}`"),
                None => self.field.range.to_owned(),
            };
            let what = if names.is_empty() { "is not a number" } else { "is not a name this field knows" };
            return Err(self.error(token, at, what, fix));
        }
        let fix = format!(
            "{}; a field is `*`, or values, ranges (`1-5`) and steps (`*/15`) joined by commas",
            self.field.range
        );
        Err(self.error(token, at, "is not a number", fix))
    }
}

/// Vixie cron (and cronie) decide between OR and AND for the two day fields on each field's first
/// character: `*/2` counts as `*`. croner looks for exactly `*`, so the AND is spelled out with its
/// `+`, which has the same meaning.
pub(super) fn vixie_day_rule(normalized: &mut [String], day_places: &[Place<'_>]) {
    let written = |field: Field| day_places.iter().find(|place| *place.field == field).map_or("*", |place| place.text);
    let (day_of_month, day_of_week) = (written(DAY_OF_MONTH), written(DAY_OF_WEEK));
    let exactly_any = |text: &str| text == "*" || text == "?";
    if exactly_any(day_of_month) || exactly_any(day_of_week) || day_of_week.starts_with('+') {
        return;
    }
    if day_of_month.starts_with('*') || day_of_week.starts_with('*') {
        normalized[5].insert(0, '+');
    }
}

pub(super) fn parse_normalized(
    normalized: &[String],
    written: &[(usize, &str)],
    fields: &[&Field],
) -> Result<Cron, CronError> {
    let parser = CronParser::builder().seconds(Seconds::Optional).year(Year::Disallowed).build();
    parser.parse(&normalized.join(" ")).map_err(|error| {
        // The checks above should leave croner nothing to refuse. Should they miss a case, croner's
        // message is technical, so find the field it refuses by parsing each alone among `*`s.
        let culprit = (0..6).find(|&index| {
            let mut alone = ["*"; 6];
            alone[0] = "0";
            alone[index] = &normalized[index];
            parser.parse(&alone.join(" ")).is_err()
        });
        let shift = 6 - written.len();
        match culprit.filter(|index| *index >= shift).map(|index| (index, written[index - shift])) {
            Some((index, (offset, text))) => {
                let field = fields[index - shift];
                CronError::new(
                    format!("field {} ({}) `{text}` is not valid: {error}", index - shift + 1, field.label),
                    field.range,
                    offset,
                )
            }
            None => CronError::new(format!("the expression is not valid: {error}"), SHAPE, 0),
        }
    })
}
