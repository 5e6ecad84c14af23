//! `steward event ...`: one file per command, and how events are shown.

mod emit;
mod list;

use clap::Subcommand;
use serde_json::Value;

use super::{GlobalArgs, Outcome};
use crate::events::{Event, format_time};

/// The event commands.
#[derive(Debug, Subcommand)]
pub enum EventCommand {
    /// Record an event with a topic of your own (event rules can react to it).
    Emit(emit::EmitArgs),
    /// Print stored events, oldest first.
    List(list::ListArgs),
}

/// Runs an event command.
pub fn run(global: &GlobalArgs, command: EventCommand) -> Outcome {
    match command {
        EventCommand::Emit(args) => emit::run(global, args),
        EventCommand::List(args) => list::run(global, args),
    }
}

/// One event as a line for a person: time, sequence number, topic, then a summary for the
/// events of automation or the data as JSON.
pub fn event_line(event: &Event) -> String {
    let head = format!("{}  {:>6}  {}", format_time(&event.time), event.seq, event.topic);
    match summary(event) {
        Some(summary) => format!("{head}  {summary}"),
        None if event.data.is_null() => head,
        None => format!("{head}  {}", event.data),
    }
}

/// `rule auto-test (file_change: src/a.rs, src/b.rs) -> task 12`, and the like.
fn summary(event: &Event) -> Option<String> {
    let data = &event.data;
    let text = |key: &str| data.get(key).and_then(Value::as_str);
    let result = || match (data.get("task").and_then(Value::as_u64), data.get("emitted")) {
        (Some(task), _) => format!(" -> task {task}"),
        (None, Some(emitted)) => format!(
            " -> event {} ({})",
            emitted.get("seq").and_then(Value::as_u64).unwrap_or_default(),
            emitted.get("topic").and_then(Value::as_str).unwrap_or_default()
        ),
        (None, None) => String::new(),
    };
    match event.topic.as_str() {
        "rule:fired" => {
            let mut why = text("trigger").unwrap_or("?").to_owned();
            if let Some(paths) = data.get("paths").and_then(Value::as_array) {
                let listed: Vec<&str> = paths.iter().filter_map(Value::as_str).take(3).collect();
                let total = data.get("path_count").and_then(Value::as_u64).unwrap_or(paths.len() as u64);
                let more = total.saturating_sub(listed.len() as u64);
                why.push_str(&format!(": {}", listed.join(", ")));
                if more > 0 {
                    why.push_str(&format!(" and {more} more"));
                }
            } else if let Some(topic) = data.get("event").and_then(|e| e.get("topic")).and_then(Value::as_str) {
                why.push_str(&format!(": {topic}"));
            } else if let Some(at) = text("scheduled_for") {
                why.push_str(&format!(": {at}"));
            }
            Some(format!("rule {} ({why}){}", text("rule")?, result()))
        }
        "schedule:fired" => {
            let at = text("scheduled_for").unwrap_or("?");
            let late = if data.get("catch_up").and_then(Value::as_bool) == Some(true) { ", catching up" } else { "" };
            Some(format!("schedule {} (for {at}{late}){}", text("schedule")?, result()))
        }
        "rule:failed" => Some(format!("rule {}: {}", text("rule")?, text("error").unwrap_or("?"))),
        "file:changed" => {
            let count = data.get("count").and_then(Value::as_u64).unwrap_or_default();
            let paths: Vec<&str> = data.get("paths")?.as_array()?.iter().filter_map(Value::as_str).take(3).collect();
            let more = count.saturating_sub(paths.len() as u64);
            let rescan =
                if data.get("rescan").and_then(Value::as_bool) == Some(true) { " (after a rescan)" } else { "" };
            let tail = if more > 0 { format!(" and {more} more") } else { String::new() };
            Some(format!("{}{tail}{rescan}", paths.join(", ")))
        }
        topic if topic.starts_with("steward:") => steward_summary(topic, data),
        _ => None,
    }
}

/// The GitHub loops' events: `would label #3: bug, steward:triaged`, `run #4: skip (...)`.
fn steward_summary(topic: &str, data: &Value) -> Option<String> {
    let text = |key: &str| data.get(key).and_then(Value::as_str);
    let number = |value: &Value, key: &str| value.get(key).and_then(Value::as_u64);
    let names = |value: Option<&Value>| -> String {
        value
            .and_then(Value::as_array)
            .map_or_else(String::new, |items| items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
    };
    match topic {
        "steward:tick" | "steward:tick_failed" => {
            Some(format!("{} {}: {}", text("loop")?, text("outcome")?, text("summary")?))
        }
        "steward:decision" => {
            let head = format!("{} #{}: {}", text("loop")?, number(data, "issue")?, text("decision")?);
            Some(match text("reason") {
                Some("selected") | None => head,
                Some(reason) => format!("{head} ({reason}: {})", text("detail").unwrap_or_default()),
            })
        }
        "steward:triaged" => {
            let mut line = format!("#{}: {}", number(data, "issue")?, names(data.get("labels")));
            if data.get("comment").and_then(Value::as_bool) == Some(true) {
                line.push_str(", commented");
            }
            let refused = names(data.get("refused"));
            if !refused.is_empty() {
                line.push_str(&format!(", refused {refused}"));
            }
            if data.get("dry_run").and_then(Value::as_bool) == Some(true) {
                line.push_str(" (dry run)");
            }
            Some(line)
        }
        "steward:triage_asked" => Some(format!("#{} -> task {}", number(data, "issue")?, number(data, "task")?)),
        "steward:dry_run" => {
            let request = data.get("request")?;
            let chars = |key: &str| request.get(key).and_then(Value::as_str).map_or(0, |body| body.chars().count());
            Some(match text("operation")? {
                "add_labels" => format!("would label #{}: {}", number(request, "issue")?, names(request.get("labels"))),
                "remove_label" => format!(
                    "would unlabel #{}: {}",
                    number(request, "issue")?,
                    request.get("label").and_then(Value::as_str)?
                ),
                "create_comment" => {
                    format!("would comment on #{} ({} characters)", number(request, "issue")?, chars("body"))
                }
                "update_comment" => {
                    format!("would edit comment {} ({} characters)", number(request, "comment_id")?, chars("body"))
                }
                "create_label" => format!("would create the label {}", request.get("name").and_then(Value::as_str)?),
                operation => format!("would {operation} {request}"),
            })
        }
        "steward:giving_up" => text("reason").map(str::to_owned),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(topic: &str, data: Value) -> Event {
        let time =
            chrono::DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z").expect("time").with_timezone(&chrono::Utc);
        Event { seq: 7, time, topic: topic.to_owned(), data }
    }

    #[test]
    fn steward_events_read_as_sentences() {
        let cases = [
            (
                event(
                    "steward:dry_run",
                    json!({"operation": "add_labels", "request": {"issue": 3, "labels": ["bug", "steward:triaged"]}}),
                ),
                "would label #3: bug, steward:triaged",
            ),
            (
                event(
                    "steward:dry_run",
                    json!({"operation": "create_comment", "request": {"issue": 3, "body": "héllo"}}),
                ),
                "would comment on #3 (5 characters)",
            ),
            (
                event(
                    "steward:dry_run",
                    json!({"operation": "create_label", "request": {"name": "steward:ready", "color": "0e8a16"}}),
                ),
                "would create the label steward:ready",
            ),
            (
                event("steward:dry_run", json!({"operation": "create_pull", "request": {"head": "b"}})),
                "would create_pull {\"head\":\"b\"}",
            ),
            (
                event(
                    "steward:decision",
                    json!({"loop": "run", "issue": 4, "decision": "skip", "reason": "not_ready", "detail": "it does not carry the ready label"}),
                ),
                "run #4: skip (not_ready: it does not carry the ready label)",
            ),
            (
                event(
                    "steward:decision",
                    json!({"loop": "run", "issue": 5, "decision": "select", "reason": "selected", "detail": "selected"}),
                ),
                "run #5: select",
            ),
            (
                event(
                    "steward:triaged",
                    json!({"issue": 2, "labels": ["perf", "steward:triaged"], "refused": ["wontfix"], "comment": true, "dry_run": false}),
                ),
                "#2: perf, steward:triaged, commented, refused wontfix",
            ),
            (
                event(
                    "steward:tick",
                    json!({"loop": "triage", "outcome": "ok", "summary": "3 open issues; triaged 3"}),
                ),
                "triage ok: 3 open issues; triaged 3",
            ),
            (event("steward:triage_asked", json!({"issue": 9, "task": 12})), "#9 -> task 12"),
        ];
        for (event, expected) in cases {
            assert_eq!(summary(&event).as_deref(), Some(expected), "{}", event.topic);
        }
        assert_eq!(summary(&event("steward:dry_run", json!({"operation": "add_labels"}))), None, "malformed: raw JSON");
    }

    #[test]
    fn automation_events_read_as_sentences() {
        let cases = [
            (
                event(
                    "rule:fired",
                    json!({"rule": "t", "trigger": "file_change", "paths": ["a", "b", "c", "d"], "path_count": 5, "task": 3}),
                ),
                "rule t (file_change: a, b, c and 2 more) -> task 3",
            ),
            (
                event(
                    "rule:fired",
                    json!({"rule": "r", "trigger": "event", "event": {"seq": 4, "topic": "task:failed"}, "emitted": {"topic": "user:x", "seq": 9}}),
                ),
                "rule r (event: task:failed) -> event 9 (user:x)",
            ),
            (
                event(
                    "schedule:fired",
                    json!({"schedule": "d", "scheduled_for": "2026-11-21T09:00:00.000Z", "catch_up": true, "task": 8}),
                ),
                "schedule d (for 2026-11-21T09:00:00.000Z, catching up) -> task 8",
            ),
            (event("file:changed", json!({"paths": ["src/a.rs"], "count": 1, "rescan": false})), "src/a.rs"),
            (event("rule:failed", json!({"rule": "r", "error": "no agent"})), "rule r: no agent"),
        ];
        for (event, expected) in cases {
            assert!(
                event_line(&event).ends_with(&format!("rule:fired  {expected}"))
                    || event_line(&event).ends_with(expected),
                "{}",
                event_line(&event)
            );
        }
        assert_eq!(event_line(&event("user:x", Value::Null)), "2026-11-21T09:00:00.000Z       7  user:x");
        assert_eq!(
            event_line(&event("user:x", json!({"a": 1}))),
            "2026-11-21T09:00:00.000Z       7  user:x  {\"a\":1}"
        );
    }
}
