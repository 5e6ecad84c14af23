//! Turns what went wrong (a TOML parse error, a serde error, an [`Invalid`] value) into a
//! [`ConfigError`] that names the line, the dotted key and a fix.
//!
//! The errors carry only a message and a byte range; the spanned document tells which key the
//! range belongs to, and the defaults tell which keys exist and what type each one expects. Keys
//! named by the user (`agents.NAME`, `env.NAME`) are looked up through `schema_path`.

use std::path::Path;

use toml::de::{DeTable, DeValue};

use super::locate::{self, Entry, Hit};
use super::validate::{self, Invalid, Place};
use super::{Config, ConfigError};
use crate::suggest::closest;

const SYNTAX_FIX: &str = "correct the TOML syntax here: strings need double quotes, each \
     `key = value` goes on its own line, a section is written `[name]` (see https://toml.io)";

const GENERIC_FIX: &str = "`steward config show` prints every key with its effective value; compare this one with it";

/// A parse error from `toml`, such as an unclosed bracket or a duplicate key.
pub(super) fn syntax_error(text: &str, origin: &Path, err: &toml::de::Error) -> ConfigError {
    let span = err.span().unwrap_or(text.len()..text.len());
    // The recovering parse gives the entries around the error, to name its key.
    let (recovered, _) = DeTable::parse_recoverable(text);
    let recovered = recovered.get_ref();
    let message = err.message().trim_end();
    if message == "duplicate key" {
        return duplicate_key(text, origin, recovered, span);
    }
    let key = match locate::entry_at(recovered, span.start) {
        Some(Hit::Key(entry) | Hit::Value(entry)) => Some(entry.dotted()),
        None => None,
    };
    ConfigError::at(origin, text, span.start, key, message.to_owned(), SYNTAX_FIX.to_owned())
}

fn duplicate_key(text: &str, origin: &Path, recovered: &DeTable<'_>, span: std::ops::Range<usize>) -> ConfigError {
    let written = text.get(span.clone()).unwrap_or_default().trim();
    let name = written.trim_matches(|c| c == '"' || c == '\'');
    let path = match locate::entry_at(recovered, span.start) {
        Some(Hit::Key(entry)) if entry.is_header_table() => {
            let dotted = entry.dotted();
            return ConfigError::at(
                origin,
                text,
                span.start,
                Some(dotted.clone()),
                format!("duplicate key: the section `[{dotted}]` appears twice"),
                format!("merge the two [{dotted}] sections into one"),
            );
        }
        Some(Hit::Key(entry)) => entry.path,
        _ => {
            let mut path = locate::table_before(recovered, span.start);
            path.push(name.to_owned());
            path
        }
    };
    let dotted = locate::join_path(&path);
    let table = table_name(path.split_last().map_or(&[][..], |(_, parent)| parent));
    let mut fix = format!("keep only one `{name}` in {table}");
    if let Some(first) = locate::entry_by_key(recovered, &dotted)
        && first.key_span.start != span.start
    {
        let (line, _) = locate::line_column(text, first.key_span.start);
        fix.push_str(&format!("; the other one is on line {line}"));
    }
    ConfigError::at(origin, text, span.start, Some(dotted.clone()), format!("duplicate key `{dotted}`"), fix)
}

/// An error from serde: an unknown key, a value of the wrong type, an unrepresentable number.
pub(super) fn shape_error(text: &str, origin: &Path, document: &DeTable<'_>, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim_end();
    let offset = err.span().map_or(0, |span| span.start);
    match locate::entry_at(document, offset) {
        Some(Hit::Key(entry)) if message.starts_with("unknown field") => unknown_key(text, origin, &entry, message),
        Some(Hit::Key(entry) | Hit::Value(entry)) if message.starts_with("missing field") => {
            let name = backticked(message).into_iter().next().unwrap_or_default();
            let dotted = entry.dotted();
            let problem = format!("`{dotted}` has no `{name}`, which is required");
            let fix = missing_fix(&entry.path, &name);
            ConfigError::at(origin, text, entry.key_span.start, Some(dotted), problem, fix)
        }
        Some(Hit::Value(entry)) => wrong_value(text, origin, &entry, message, offset),
        Some(Hit::Key(entry)) => {
            let dotted = entry.dotted();
            let problem = format!("`{dotted}`: {message}");
            ConfigError::at(origin, text, offset, Some(dotted), problem, GENERIC_FIX.to_owned())
        }
        None => ConfigError::at(origin, text, offset, None, message.to_owned(), GENERIC_FIX.to_owned()),
    }
}

/// A value that parsed but failed validation, placed at its value in the file.
pub(super) fn invalid(text: &str, origin: &Path, document: &DeTable<'_>, invalid: Invalid) -> ConfigError {
    match locate::entry_by_key(document, &invalid.key) {
        Some(entry) => {
            let offset = match invalid.place {
                Place::Value => entry.value_span.start,
                Place::Key => entry.key_span.start,
                Place::InString(at) => offset_in_string(text, &entry, at),
            };
            ConfigError::at(origin, text, offset, Some(invalid.key), invalid.problem, invalid.fix)
        }
        // Only a key left at its default can be absent, and defaults are valid (tested); still,
        // the message stands without a line.
        None => ConfigError {
            path: origin.to_path_buf(),
            line: None,
            column: None,
            key: Some(invalid.key),
            problem: invalid.problem,
            fix: invalid.fix,
        },
    }
}

/// Where byte `at` of a string value lies in the text. When escapes make the written string differ
/// from its value, the position cannot be mapped cheaply and the string's start is close enough.
fn offset_in_string(text: &str, entry: &Entry<'_, '_>, at: usize) -> usize {
    let start = entry.value_span.start;
    let written = text.get(entry.value_span.clone()).unwrap_or_default();
    match entry.value {
        DeValue::String(value) if written.len() >= 2 && written.get(1..written.len() - 1) == Some(&**value) => {
            start + 1 + at
        }
        _ => start,
    }
}

fn unknown_key(text: &str, origin: &Path, entry: &Entry<'_, '_>, message: &str) -> ConfigError {
    let Some((name, parent)) = entry.path.split_last() else {
        return ConfigError::at(origin, text, entry.key_span.start, None, message.to_owned(), GENERIC_FIX.to_owned());
    };
    let accepted = accepted_keys(message, parent);
    let suggestion = closest(name, &accepted);
    let (problem, fix) = if parent.is_empty() && entry.value.is_table() {
        let sections = sections_list(&accepted);
        let fix = match suggestion {
            Some(known) => format!("did you mean `[{known}]`? the known sections are: {sections}"),
            None => {
                format!("remove the [{name}] section; this version of steward knows: {sections}")
            }
        };
        (format!("unknown section `[{name}]`"), fix)
    } else if parent.is_empty() {
        let sections = sections_list(&accepted);
        let fix = match table_holding(name) {
            Some(home) => format!("move it below the `[{}]` line", locate::join_path(&home)),
            None => "remove it".to_owned(),
        };
        (
            format!("unknown key `{name}` outside any section"),
            format!("{fix}; the top level holds only sections: {sections}"),
        )
    } else {
        let hint = match (suggestion, table_holding(name)) {
            (Some(known), _) => format!("did you mean `{known}`?"),
            (None, Some(home)) => format!("`{name}` belongs in [{}];", locate::join_path(&home)),
            (None, None) => "remove it;".to_owned(),
        };
        (
            format!("unknown key `{}`", entry.dotted()),
            format!("{hint} {} accepts: {}", table_name(parent), accepted.join(", ")),
        )
    };
    ConfigError::at(origin, text, entry.key_span.start, Some(entry.dotted()), problem, fix)
}

/// A value serde refused; `offset` is where serde says the problem is, which for an array is the
/// element at fault.
fn wrong_value(text: &str, origin: &Path, entry: &Entry<'_, '_>, message: &str, offset: usize) -> ConfigError {
    let dotted = entry.dotted();
    let shown = text.get(entry.value_span.clone()).unwrap_or_default();
    let found = entry.value.type_str();
    let mut at = entry.value_span.start;
    let (problem, fix) = match expected_at(&entry.path) {
        Some(expected) if expected.type_str() != found => (
            format!("`{dotted}` expects {}, found {}", with_article(expected.type_str()), with_article(found)),
            type_fix(entry, &expected, shown),
        ),
        // Right type, unrepresentable value: a negative or too large number for its field.
        Some(toml::Value::Integer(_)) => {
            let Invalid { problem, fix, .. } = validate::out_of_range(&dotted, shown);
            (problem, fix)
        }
        Some(toml::Value::String(_)) if message.starts_with("unknown variant") => {
            let choices = backticked_after_expected(message);
            let listed: Vec<String> = choices.iter().map(|choice| format!("{choice:?}")).collect();
            let fix = match choice_fix(&entry.path) {
                Some(fix) => fix.to_owned(),
                None => format!("use one of {}", listed.join(", ")),
            };
            (format!("`{dotted}` = {shown} is not one of {}", listed.join(", ")), fix)
        }
        Some(toml::Value::Array(example)) => {
            let element = element_at(entry.value, offset);
            let wanted = example.first().map_or("value", toml::Value::type_str);
            match element {
                Some(element) if element != wanted => {
                    at = offset;
                    let name = entry.path.last().map_or("", String::as_str);
                    (
                        format!("`{dotted}` expects an array of {wanted}s, found {} in it", with_article(element)),
                        format!(
                            "write each element as {}, e.g. `{name} = {}`",
                            with_article(wanted),
                            toml::Value::Array(example)
                        ),
                    )
                }
                _ => (format!("`{dotted}`: {message}"), GENERIC_FIX.to_owned()),
            }
        }
        _ => (format!("`{dotted}`: {message}"), GENERIC_FIX.to_owned()),
    };
    ConfigError::at(origin, text, at, Some(dotted), problem, fix)
}

/// The type of the array element of `value` at `offset`.
fn element_at(value: &DeValue<'_>, offset: usize) -> Option<&'static str> {
    match value {
        DeValue::Array(array) => {
            array.iter().find(|element| element.span().contains(&offset)).map(|element| element.get_ref().type_str())
        }
        _ => None,
    }
}

/// How to fix a value that is not one of a key's choices, for keys whose choices need saying
/// what they do.
fn choice_fix(path: &[String]) -> Option<&'static str> {
    match schema_path(path).join(".").as_str() {
        "rules.trigger.type" => {
            Some("use \"file_change\" (with pattern), \"schedule\" (with cron) or \"event\" (with topic)")
        }
        "rules.condition.type" => Some(
            "use \"always\", \"debounce\" or \"cooldown\" (with interval_ms), or \"match\" (with field, and equals or regex)",
        ),
        "rules.action.type" => Some("use \"submit_task\" (with prompt) or \"emit_event\" (with topic)"),
        "agent.prompt_via" => Some(
            "use \"stdin\" (the prompt is written to the agent's standard input) or \"arg\" (it is \
             appended to the command as its last argument, visible in ps)",
        ),
        _ => None,
    }
}

fn type_fix(entry: &Entry<'_, '_>, expected: &toml::Value, shown: &str) -> String {
    let dotted = entry.dotted();
    let name = entry.path.last().map_or("", String::as_str);
    let schema = schema_path(&entry.path);
    let schema: Vec<&str> = schema.iter().map(String::as_str).collect();
    match schema.as_slice() {
        ["rules"] => {
            return "write each rule as its own `[[rules]]` section with id, trigger and action (see docs/automation.md)"
                .to_owned();
        }
        ["schedule"] => {
            return "write each schedule as its own `[[schedule]]` section with name, cron and prompt".to_owned();
        }
        ["rules", "condition"] => {
            return "write one condition, e.g. `condition = { type = \"debounce\", interval_ms = 5000 }`, \
                    or an array of them applied in order"
                .to_owned();
        }
        ["agents"] => {
            return "a named agent is a section: write `[agents.NAME]` with command, prompt_via and env below it"
                .to_owned();
        }
        ["agent"] if entry.path.len() == 2 => {
            return format!(
                "a named agent is a section: a `[{dotted}]` line with command, prompt_via and env below it; \
                 the default agent's keys go in [agent]"
            );
        }
        ["agent", "env"] => {
            return "write a table of names and strings, e.g. `env = { GH_TOKEN = \"${GH_TOKEN}\" }`".to_owned();
        }
        ["agent", "env", _] => {
            let example = match entry.value {
                DeValue::Integer(_) | DeValue::Float(_) | DeValue::Boolean(_) => shown.trim(),
                _ => "value",
            };
            return format!("environment values are strings: put it in double quotes, e.g. `{name} = \"{example}\"`");
        }
        _ => {}
    }
    // A command written as one string: the example is that string split as a shell would.
    if let (toml::Value::Array(_), DeValue::String(written)) = (expected, entry.value)
        && !written.trim().is_empty()
    {
        let words = written.split_whitespace().map(|word| toml::Value::String(word.to_owned())).collect();
        return format!("write each part as its own string, e.g. `{name} = {}`", toml::Value::Array(words));
    }
    match expected {
        toml::Value::Integer(default) => {
            let bounds = validate::integer_key(&dotted);
            // A quoted number becomes the example, so the fix is literally "drop the quotes".
            let written = match entry.value {
                DeValue::String(written) => written.trim().parse::<i64>().ok(),
                _ => None,
            };
            let example = written
                .filter(|value| {
                    bounds.is_none_or(|b| u64::try_from(*value).is_ok_and(|v| (b.min..=b.max).contains(&v)))
                })
                .unwrap_or(*default);
            let range = bounds.map_or(String::new(), |b| format!(" from {} to {}", b.min, b.max));
            format!("write a whole number{range} without quotes, e.g. `{name} = {example}`")
        }
        toml::Value::String(_) => {
            format!("put the value in double quotes, e.g. `{name} = {expected}`")
        }
        toml::Value::Boolean(_) => {
            format!("write true or false without quotes, e.g. `{name} = {expected}`")
        }
        toml::Value::Table(_) => {
            format!("make it a section: a `[{dotted}]` line with its keys below it")
        }
        other => format!("write {} here, e.g. `{name} = {other}`", with_article(other.type_str())),
    }
}

/// The keys a table accepts, in declaration order, as serde lists them in its message
/// ("unknown field `x`, expected one of `a`, `b`"); the defaults are the fallback.
fn accepted_keys(message: &str, table: &[String]) -> Vec<String> {
    let listed = backticked_after_expected(message);
    if !listed.is_empty() {
        return listed;
    }
    match default_table_at(&schema_path(table)) {
        Some(defaults) => defaults.keys().cloned().collect(),
        None => Vec::new(),
    }
}

/// The names in backticks in a serde message, in order.
fn backticked(message: &str) -> Vec<String> {
    message.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

/// The names serde lists after "expected" (`one of `a`, `b``, `` `a` or `b` ``).
fn backticked_after_expected(message: &str) -> Vec<String> {
    message
        .rsplit_once(", expected ")
        .map(|(_, expected)| expected.split('`').skip(1).step_by(2).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The path in the defaults that describes `path`: every `[agents.NAME]` has the keys of
/// `[agent]`, and every element of an array of tables those of the sample element.
fn schema_path(path: &[String]) -> Vec<String> {
    let path = locate::without_indices(path);
    match path.as_slice() {
        [agents, _name, rest @ ..] if agents == "agents" => {
            std::iter::once("agent".to_owned()).chain(rest.iter().cloned()).collect()
        }
        _ => path,
    }
}

/// A value of the type the key at `path` expects: its default, or a stand-in where the defaults
/// have no entry (an `env` variable, the empty `agents` table).
fn expected_at(path: &[String]) -> Option<toml::Value> {
    let path = schema_path(path);
    let names: Vec<&str> = path.iter().map(String::as_str).collect();
    match names.as_slice() {
        ["agents"] => Some(toml::Value::Table(toml::Table::new())),
        ["rules" | "schedule"] => Some(toml::Value::Array(vec![toml::Value::Table(toml::Table::new())])),
        ["agent", "env", _] => Some(toml::Value::String(String::new())),
        _ => default_at(&path),
    }
}

/// The default value at `path`, which also tells the type the key expects.
fn default_at(path: &[String]) -> Option<toml::Value> {
    let (last, parent) = path.split_last()?;
    default_table_at(parent)?.get(last).cloned()
}

fn default_table_at(path: &[String]) -> Option<toml::Table> {
    let mut table = Config::defaults_table();
    // Arrays of tables are empty by default: a sample element tells their keys and types.
    table.extend(sample_elements());
    for key in path {
        match table.remove(key) {
            Some(toml::Value::Table(inner)) => table = inner,
            _ => return None,
        }
    }
    Some(table)
}

/// One typical element of each array of tables, standing in for the defaults they lack: the
/// keys it has and the types of their values, with values that make good examples in a fix.
fn sample_elements() -> toml::Table {
    const SAMPLES: &str = r#"
        [schedule]
        name = "daily-audit"
        cron = "0 9 * * *"
        prompt = "Audit the dependencies"
        priority = 0
        agent = "review"
        timezone = "Europe/Berlin"
        catch_up = false
        timeout_min = 60
        [rules]
        id = "auto-test"
        trigger = { type = "file_change", pattern = "src/**/*.rs", events = ["modify"], cron = "0 9 * * *", timezone = "UTC", catch_up = false, topic = "task:failed" }
        condition = { type = "debounce", interval_ms = 5000, field = "data.agent", regex = "^review$" }
        action = { type = "submit_task", prompt = "Run the tests", priority = 0, agent = "review", labels = ["auto"], timeout_min = 60, topic = "user:tested", data = {} }
    "#;
    SAMPLES.parse::<toml::Table>().unwrap_or_default()
}

/// How to add a key serde found missing from the table at `path`.
fn missing_fix(path: &[String], name: &str) -> String {
    let schema = schema_path(path);
    let example = match (schema.iter().map(String::as_str).collect::<Vec<_>>().as_slice(), name) {
        (["rules"], "trigger") => "trigger = { type = \"file_change\", pattern = \"src/**/*.rs\" }".to_owned(),
        (["rules"], "action") => "action = { type = \"submit_task\", prompt = \"Run the tests\" }".to_owned(),
        (_, "type") => match schema.last().map(String::as_str) {
            Some("trigger") => "type = \"file_change\" (or \"schedule\", \"event\")".to_owned(),
            Some("condition") => "type = \"debounce\" (or \"always\", \"cooldown\", \"match\")".to_owned(),
            Some("action") => "type = \"submit_task\" (or \"emit_event\")".to_owned(),
            _ => "type = ...".to_owned(),
        },
        _ => match default_at(&[schema.clone(), vec![name.to_owned()]].concat()) {
            Some(value) => format!("{name} = {value}"),
            None => format!("{name} = ..."),
        },
    };
    format!("add `{example}` to {}", table_name(path))
}

/// Names the rule or schedule an error is in ("rule `auto-test`: ..."), read from the document,
/// since a line number alone makes a person count `[[rules]]` headers.
pub(super) fn name_element(document: &DeTable<'_>, err: &mut ConfigError) {
    let Some(key) = err.key.as_deref() else { return };
    let (kind, id_key, array) = if key.starts_with("rules[") {
        ("rule", "id", "rules")
    } else if key.starts_with("schedule[") {
        ("schedule", "name", "schedule")
    } else {
        return;
    };
    let Some(index) = key[array.len() + 1..].split(']').next().and_then(|index| index.parse::<usize>().ok()) else {
        return;
    };
    let name = document
        .get(array)
        .and_then(|array| match array.get_ref() {
            DeValue::Array(elements) => elements.get(index),
            _ => None,
        })
        .and_then(|element| match element.get_ref() {
            DeValue::Table(table) => table.get(id_key),
            _ => None,
        })
        .and_then(|id| id.get_ref().as_str().map(str::to_owned));
    let label = match name {
        Some(name) => format!("{kind} `{name}`"),
        None => format!("{kind} #{} (no {id_key})", index + 1),
    };
    err.problem = format!("{label}: {}", err.problem);
}

/// The table (other than where it was written) in which key `name` exists, for a key put in
/// the wrong section.
fn table_holding(name: &str) -> Option<Vec<String>> {
    fn search(table: &toml::Table, path: &mut Vec<String>, name: &str) -> Option<Vec<String>> {
        if table.get(name).is_some_and(|value| !value.is_table()) {
            return Some(path.clone());
        }
        for (key, value) in table {
            if let toml::Value::Table(inner) = value {
                path.push(key.clone());
                if let Some(found) = search(inner, path, name) {
                    return Some(found);
                }
                path.pop();
            }
        }
        None
    }
    search(&Config::defaults_table(), &mut Vec::new(), name)
}

fn table_name(path: &[String]) -> String {
    match path {
        [] => "the top level".to_owned(),
        [array, index] if index.starts_with('[') => format!("this [[{array}]] entry"),
        _ => format!("[{}]", locate::join_path(path)),
    }
}

fn sections_list(names: &[String]) -> String {
    let sections: Vec<String> = names
        .iter()
        .map(|name| match name.as_str() {
            "agents" => "[agents.NAME]".to_owned(),
            "schedule" | "rules" => format!("[[{name}]]"),
            _ => format!("[{name}]"),
        })
        .collect();
    sections.join(", ")
}

fn with_article(kind: &str) -> String {
    match kind {
        "integer" | "array" => format!("an {kind}"),
        "float" => "a decimal number".to_owned(),
        "boolean" => "a boolean (true or false)".to_owned(),
        "datetime" => "a date-time".to_owned(),
        _ => format!("a {kind}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_lists_keys_in_declaration_order() {
        let message = "unknown field `x`, expected one of `b`, `a`, `c`";
        assert_eq!(accepted_keys(message, &[]), ["b", "a", "c"]);
        assert_eq!(accepted_keys("unknown field `x`, expected `daemon`", &[]), ["daemon"]);
        let fallback = accepted_keys("something else", &["daemon".to_owned(), "log".to_owned()]);
        assert_eq!(fallback, ["level", "max_files", "max_size_mb"]);
    }

    #[test]
    fn keys_written_in_the_wrong_table_are_found() {
        assert_eq!(table_holding("level"), Some(vec!["daemon".to_owned(), "log".to_owned()]));
        assert_eq!(table_holding("max_parallel_tasks"), Some(vec!["daemon".to_owned()]));
        assert_eq!(table_holding("log"), None);
        assert_eq!(table_holding("nope"), None);
    }
}
