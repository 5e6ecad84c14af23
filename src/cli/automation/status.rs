//! `steward automation status`.

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::api::AutomationApiClient;
use crate::automation::AutomationStatus;
use crate::cli::{GlobalArgs, Outcome, Target, print_json, write_stdout};

/// Prints the rules, the schedules and the watcher.
pub fn run(global: &GlobalArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let status = target.call(|client| async move { client.status().await })?;
    if global.json {
        print_json(&status)?;
    } else {
        write_stdout(&render(&status, Utc::now()))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The status as text for a person.
pub fn render(status: &AutomationStatus, now: DateTime<Utc>) -> String {
    let mut out = String::new();
    if status.enabled {
        out.push_str("automation: on\n");
    } else {
        out.push_str("automation: OFF (no rule or schedule fires; `steward automation enable` turns it on)\n");
    }
    let watch = &status.watch;
    let paths = watch.paths.join(", ");
    match (watch.enabled, watch.directories) {
        (false, _) => out.push_str("watch: off ([watch].enabled = false)\n"),
        (true, None) => out.push_str(&format!("watch: starting ({paths})\n")),
        (true, Some(directories)) => {
            out.push_str(&format!("watch: {directories} directories ({paths})"));
            if watch.rescans > 0 {
                out.push_str(&format!(", {} rescan(s) after the kernel queue overflowed", watch.rescans));
            }
            out.push('\n');
        }
    }
    if let Some(problem) = &watch.problem {
        let text = |key: &str| problem.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        out.push_str(&format!("  problem: {}\n  fix: {}\n", text("message"), text("fix")));
    }
    if status.rules.is_empty() && status.schedules.is_empty() {
        out.push_str("no rules or schedules ([[rules]] and [[schedule]] in .steward/steward.toml)\n");
        return out;
    }
    let mut notes = Vec::new();
    if !status.rules.is_empty() {
        out.push_str(&format!(
            "\n{:<20}  {:<3}  {:<36}  {:>5}  {:>8}  {}\n",
            "RULE", "ON", "TRIGGER", "FIRED", "LAST", "NEXT"
        ));
        for rule in &status.rules {
            out.push_str(&format!(
                "{:<20}  {:<3}  {:<36}  {:>5}  {:>8}  {}\n",
                rule.id,
                yes_no(rule.enabled),
                cut(&trigger_text(&rule.trigger), 36),
                rule.fire_count,
                ago(rule.last_fired, now),
                until(rule.next_fire, now),
            ));
            if let Some(pending) = rule.pending_until {
                notes.push(format!("{}: waiting for changes to settle, fires {}", rule.id, until(Some(pending), now)));
            }
            if let Some(suppressed) = &rule.last_suppressed {
                notes.push(format!(
                    "{}: {} trigger(s) suppressed since start; last ({}) {}",
                    rule.id, rule.suppressed, suppressed.reason, suppressed.detail
                ));
            }
        }
    }
    if !status.schedules.is_empty() {
        out.push_str(&format!(
            "\n{:<20}  {:<3}  {:<20}  {:<14}  {:>5}  {:>8}  {}\n",
            "SCHEDULE", "ON", "CRON", "ZONE", "FIRED", "LAST", "NEXT"
        ));
        for schedule in &status.schedules {
            out.push_str(&format!(
                "{:<20}  {:<3}  {:<20}  {:<14}  {:>5}  {:>8}  {}\n",
                schedule.name,
                yes_no(schedule.enabled),
                cut(&schedule.cron, 20),
                cut(&schedule.timezone, 14),
                schedule.fire_count,
                ago(schedule.last_fired, now),
                until(schedule.next_fire, now),
            ));
            if let Some(suppressed) = &schedule.last_suppressed {
                notes.push(format!("{}: {}", schedule.name, suppressed.detail));
            }
        }
    }
    if !notes.is_empty() {
        out.push('\n');
        for note in notes {
            out.push_str(&note);
            out.push('\n');
        }
    }
    out
}

fn yes_no(on: bool) -> &'static str {
    if on { "yes" } else { "no" }
}

/// `file_change src/**/*.rs`, `schedule 0 9 * * * (UTC)`, `event task:failed`.
fn trigger_text(trigger: &Value) -> String {
    let text = |key: &str| trigger.get(key).and_then(Value::as_str);
    match text("type") {
        Some("file_change") => {
            let mut out = format!("file_change {}", text("pattern").unwrap_or("?"));
            if let Some(events) = trigger.get("events").and_then(Value::as_array) {
                let names: Vec<&str> = events.iter().filter_map(Value::as_str).collect();
                out.push_str(&format!(" [{}]", names.join(",")));
            }
            out
        }
        Some("schedule") => match text("timezone") {
            Some(zone) => format!("schedule {} ({zone})", text("cron").unwrap_or("?")),
            None => format!("schedule {}", text("cron").unwrap_or("?")),
        },
        Some("event") => format!("event {}", text("topic").unwrap_or("?")),
        _ => trigger.to_string(),
    }
}

fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let kept: String = text.chars().take(width.saturating_sub(1)).collect();
    format!("{kept}…")
}

fn span(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        s => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

fn ago(time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match time {
        Some(time) => format!("{} ago", span((now - time).num_seconds().max(0))),
        None => "-".to_owned(),
    }
}

fn until(time: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match time {
        Some(time) => {
            let local = time.with_timezone(&chrono::Local).format("%Y-%m-%d %H:%M:%S");
            format!("in {} ({local})", span((time - now).num_seconds().max(0)))
        }
        None => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::automation::state::{RuleStatus, WatchState};

    #[test]
    fn status_reads_as_tables() {
        let now = DateTime::parse_from_rfc3339("2026-11-21T09:00:00Z").expect("time").with_timezone(&Utc);
        let status = AutomationStatus {
            enabled: false,
            rules: vec![RuleStatus {
                id: "auto-test".into(),
                enabled: true,
                trigger: json!({"type": "file_change", "pattern": "src/**/*.rs", "events": ["modify"]}),
                conditions: vec![],
                action: "submit_task".into(),
                fire_count: 3,
                last_fired: Some(now - chrono::Duration::minutes(5)),
                next_fire: None,
                pending_until: None,
                triggered: 4,
                suppressed: 0,
                last_suppressed: None,
            }],
            schedules: vec![],
            watch: WatchState {
                enabled: true,
                paths: vec!["src/".into()],
                directories: Some(12),
                rescans: 0,
                problem: None,
            },
        };
        let text = render(&status, now);
        assert!(text.starts_with("automation: OFF"), "{text}");
        assert!(text.contains("watch: 12 directories (src/)"), "{text}");
        assert!(text.contains("auto-test             yes  file_change src/**/*.rs [modify]"), "{text}");
        assert!(text.contains("5m ago"), "{text}");
    }
}
