//! The engine's decisions as tables over (rules, inputs, times).

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::*;
use crate::automation::watch::ChangeKind;
use crate::config::Config;

/// A fixed origin for both clocks; tests move them together.
struct Clock {
    wall: DateTime<Utc>,
    mono: Instant,
}

impl Clock {
    fn new(wall: &str) -> Self {
        Clock { wall: time(wall), mono: Instant::now() }
    }

    fn at_ms(&self, ms: u64) -> Now {
        Now { wall: self.wall + chrono::Duration::milliseconds(ms as i64), mono: self.mono + Duration::from_millis(ms) }
    }

    fn at_s(&self, seconds: u64) -> Now {
        self.at_ms(seconds * 1000)
    }
}

fn time(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).expect("time").with_timezone(&Utc)
}

const WATCH: &str = "[watch]\nenabled = true\npaths = [\".\"]\n";

fn rules(text: &str) -> Vec<Rule> {
    let config = Config::parse(text, Path::new("test.toml")).unwrap_or_else(|err| panic!("{err}"));
    crate::automation::compile::compile(&config).expect("compiles")
}

fn engine(text: &str, now: Now) -> Engine {
    Engine::new(rules(text), true, &HashMap::new(), now).0
}

fn event(seq: u64, topic: &str, data: Value) -> Event {
    Event { seq, time: time("2026-11-21T10:00:00Z"), topic: topic.to_owned(), data }
}

fn batch(changes: &[(&str, ChangeKind)]) -> ChangeBatch {
    ChangeBatch {
        changes: changes.iter().map(|(path, kind)| Change { path: (*path).to_owned(), kind: *kind }).collect(),
        rescan: false,
    }
}

fn fired(outcome: &Outcome) -> Vec<&str> {
    outcome.firings.iter().map(|firing| firing.rule.as_str()).collect()
}

#[test]
fn event_rules_fire_on_exact_topics_and_globs() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let mut engine = engine(
        r#"
        [[rules]]
        id = "exact"
        trigger = { type = "event", topic = "task:failed" }
        action = { type = "submit_task", prompt = "task {{data.id}} failed" }
        [[rules]]
        id = "glob"
        trigger = { type = "event", topic = "task:*" }
        action = { type = "emit_event", topic = "user:seen" }
        [[rules]]
        id = "other"
        trigger = { type = "event", topic = "build:done" }
        action = { type = "emit_event", topic = "user:built" }
        "#,
        clock.at_s(0),
    );
    let outcome = engine.on_event(&event(1, "task:failed", json!({"id": 4})), None, clock.at_s(1));
    assert_eq!(fired(&outcome), ["exact", "glob"]);
    let firing = &outcome.firings[0];
    assert_eq!(firing.trigger, TriggerType::Event);
    assert_eq!(firing.occurrence.event_seq, Some(1));
    assert_eq!(firing.occurrence.depth, 0);
    assert_eq!(firing.state.fire_count, 1);
    assert_eq!(firing.state.last_fired, Some(clock.at_s(1).wall));
    assert_eq!(fired(&engine.on_event(&event(2, "task:completed", Value::Null), None, clock.at_s(2))), ["glob"]);
    assert!(engine.on_event(&event(3, "tasks:x", Value::Null), None, clock.at_s(3)).firings.is_empty());
    assert_eq!(fired(&engine.on_event(&event(4, "build:done", Value::Null), None, clock.at_s(4))), ["other"]);
}

#[test]
fn a_rule_never_triggers_on_its_own_doing_and_chains_are_cut() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let mut engine = engine(
        r#"
        [[rules]]
        id = "a"
        trigger = { type = "event", topic = "user:*" }
        action = { type = "emit_event", topic = "user:ping" }
        "#,
        clock.at_s(0),
    );
    let own = Cause { rule: "a".into(), depth: 0 };
    assert!(engine.on_event(&event(1, "user:ping", Value::Null), Some(&own), clock.at_s(1)).firings.is_empty());
    // Another rule's doing continues the chain one step deeper.
    let other = Cause { rule: "b".into(), depth: 3 };
    let outcome = engine.on_event(&event(2, "user:pong", Value::Null), Some(&other), clock.at_s(1));
    assert_eq!(outcome.firings[0].occurrence.depth, 4);
    // At the limit the chain is cut, with one notice.
    let deep = Cause { rule: "b".into(), depth: MAX_CHAIN_DEPTH };
    let outcome = engine.on_event(&event(3, "user:pong", Value::Null), Some(&deep), clock.at_s(1));
    assert!(outcome.firings.is_empty());
    assert_eq!(outcome.notices.len(), 1);
    assert_eq!(outcome.notices[0].suppression.reason, "chain");
    // What follows from a cut is dropped without another notice.
    let beyond = Cause { rule: "b".into(), depth: MAX_CHAIN_DEPTH + 1 };
    let outcome = engine.on_event(&event(4, "user:pong", Value::Null), Some(&beyond), clock.at_s(1));
    assert!(outcome.firings.is_empty() && outcome.notices.is_empty());
    let status = engine.status(watch_off());
    assert_eq!((status.rules[0].triggered, status.rules[0].suppressed), (3, 2), "its own doing is no trigger");
}

fn watch_off() -> WatchState {
    WatchState { enabled: false, paths: vec![], directories: None, rescans: 0, problem: None }
}

#[test]
fn debounce_fires_once_after_activity_settles_with_every_path() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let mut engine = engine(
        &format!(
            r#"{WATCH}
            [[rules]]
            id = "tests"
            trigger = {{ type = "file_change", pattern = "src/**/*.rs" }}
            condition = {{ type = "debounce", interval_ms = 500 }}
            action = {{ type = "submit_task", prompt = "Test:\n{{{{paths}}}}" }}
            "#
        ),
        clock.at_s(0),
    );
    let outcome =
        engine.on_files(&batch(&[("src/a.rs", ChangeKind::Modify), ("README.md", ChangeKind::Modify)]), clock.at_ms(0));
    assert!(outcome.firings.is_empty());
    assert_eq!(engine.next_deadline(), Some(clock.at_ms(500).mono));
    engine.on_files(&batch(&[("src/b.rs", ChangeKind::Create)]), clock.at_ms(100));
    engine.on_files(&batch(&[("src/a.rs", ChangeKind::Modify)]), clock.at_ms(200));
    assert_eq!(engine.next_deadline(), Some(clock.at_ms(700).mono));
    assert!(engine.on_time(clock.at_ms(699)).firings.is_empty());
    let outcome = engine.on_time(clock.at_ms(700));
    assert_eq!(fired(&outcome), ["tests"]);
    let occurrence = &outcome.firings[0].occurrence;
    assert_eq!(occurrence.paths, ["src/a.rs", "src/b.rs"]);
    assert_eq!(occurrence.triggers, 3);
    assert_eq!(occurrence.topic, "file:changed");
    assert_eq!(engine.next_deadline(), None);
    assert!(engine.on_time(clock.at_s(5)).firings.is_empty());
}

#[test]
fn cooldown_lets_one_firing_through_per_interval() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let mut engine = engine(
        r#"
        [[rules]]
        id = "c"
        trigger = { type = "event", topic = "user:x" }
        condition = { type = "cooldown", interval_ms = 10000 }
        action = { type = "emit_event", topic = "user:y" }
        "#,
        clock.at_s(0),
    );
    let x = |seq| event(seq, "user:x", Value::Null);
    assert_eq!(fired(&engine.on_event(&x(1), None, clock.at_s(0))), ["c"]);
    let outcome = engine.on_event(&x(2), None, clock.at_s(1));
    assert!(outcome.firings.is_empty());
    assert_eq!(outcome.notices[0].suppression.reason, "cooldown");
    assert!(engine.on_event(&x(3), None, clock.at_ms(9999)).firings.is_empty());
    assert_eq!(fired(&engine.on_event(&x(4), None, clock.at_s(10))), ["c"]);
    let status = engine.status(watch_off());
    assert_eq!((status.rules[0].fire_count, status.rules[0].triggered, status.rules[0].suppressed), (2, 4, 2));
}

#[test]
fn cooldown_counts_from_the_stored_last_firing_across_restarts() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let text = r#"
        [[rules]]
        id = "c"
        trigger = { type = "event", topic = "user:x" }
        condition = { type = "cooldown", interval_ms = 60000 }
        action = { type = "emit_event", topic = "user:y" }
    "#;
    let mut stored = HashMap::new();
    let mut state = StoredState::new("c");
    state.last_fired = Some(clock.at_s(0).wall);
    state.fire_count = 1;
    stored.insert("c".to_owned(), state);
    let (mut engine, _) = Engine::new(rules(text), true, &stored, clock.at_s(30));
    assert!(engine.on_event(&event(1, "user:x", Value::Null), None, clock.at_s(30)).firings.is_empty());
    let outcome = engine.on_event(&event(2, "user:x", Value::Null), None, clock.at_s(61));
    assert_eq!(outcome.firings[0].state.fire_count, 2);
}

#[test]
fn match_conditions_test_topic_paths_and_data() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let mut engine = engine(
        r#"
        [[rules]]
        id = "equals"
        trigger = { type = "event", topic = "task:*" }
        condition = { type = "match", field = "data.exit_code", equals = 2 }
        action = { type = "emit_event", topic = "user:a" }
        [[rules]]
        id = "regex"
        trigger = { type = "event", topic = "task:*" }
        condition = { type = "match", field = "data.error", regex = '(?i)timed? ?out' }
        action = { type = "emit_event", topic = "user:b" }
        [[rules]]
        id = "topic"
        trigger = { type = "event", topic = "*" }
        condition = { type = "match", field = "topic", regex = ':failed$' }
        action = { type = "emit_event", topic = "user:c" }
        [[rules]]
        id = "nested"
        trigger = { type = "event", topic = "build:*" }
        condition = [
            { type = "match", field = "data.result.ok", equals = false },
            { type = "match", field = "paths", regex = '\.rs$' },
        ]
        action = { type = "emit_event", topic = "user:d" }
        "#,
        clock.at_s(0),
    );
    let cases: &[(&str, Value, &[&str])] = &[
        ("task:failed", json!({"exit_code": 2}), &["equals", "topic"]),
        ("task:failed", json!({"exit_code": 2.0}), &["equals", "topic"]),
        ("task:failed", json!({"exit_code": "2"}), &["topic"]),
        ("task:timeout", json!({"error": "Timed out after 60 s"}), &["regex"]),
        ("task:failed", json!({"error": null}), &["topic"]),
        ("build:done", json!({"result": {"ok": false}, "paths": ["a.md", "src/x.rs"]}), &["nested"]),
        ("build:done", json!({"result": {"ok": false}, "paths": ["a.md"]}), &[]),
        ("build:done", json!({"result": {"ok": true}, "paths": ["x.rs"]}), &[]),
        ("build:done", json!({"paths": ["x.rs"]}), &[]),
    ];
    for (seq, (topic, data, expected)) in cases.iter().enumerate() {
        let outcome = engine.on_event(&event(seq as u64, topic, data.clone()), None, clock.at_s(1));
        assert_eq!(fired(&outcome), *expected, "{topic} {data}");
    }
}

#[test]
fn file_rules_see_only_their_paths_and_kinds() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let mut engine = engine(
        &format!(
            r#"{WATCH}
            [[rules]]
            id = "rust"
            trigger = {{ type = "file_change", pattern = "src/**/*.rs", events = ["modify", "create"] }}
            action = {{ type = "submit_task", prompt = "{{{{paths}}}}" }}
            [[rules]]
            id = "docs"
            trigger = {{ type = "file_change", pattern = "docs/*.md" }}
            action = {{ type = "submit_task", prompt = "{{{{paths}}}}" }}
            "#
        ),
        clock.at_s(0),
    );
    let outcome = engine.on_files(
        &batch(&[
            ("docs/a.md", ChangeKind::Delete),
            ("docs/deep/b.md", ChangeKind::Modify),
            ("src/lib.rs", ChangeKind::Modify),
            ("src/old.rs", ChangeKind::Delete),
            ("src/x/y.rs", ChangeKind::Create),
            ("src/z.txt", ChangeKind::Modify),
        ]),
        clock.at_s(1),
    );
    assert_eq!(fired(&outcome), ["rust", "docs"]);
    assert_eq!(outcome.firings[0].occurrence.paths, ["src/lib.rs", "src/x/y.rs"]);
    assert_eq!(outcome.firings[1].occurrence.paths, ["docs/a.md"]);
    assert_eq!(
        outcome.firings[1].occurrence.data,
        json!({"changes": [{"path": "docs/a.md", "kind": "delete"}], "rescan": false})
    );
    assert!(engine.on_files(&batch(&[("src/old.rs", ChangeKind::Delete)]), clock.at_s(2)).firings.is_empty());
}

const DAILY: &str = r#"
    [[schedule]]
    name = "daily"
    cron = "0 9 * * *"
    timezone = "UTC"
    prompt = "Audit"
"#;

#[test]
fn a_schedule_fires_at_its_time_and_computes_the_next() {
    let clock = Clock::new("2026-11-21T08:59:59Z");
    let mut engine = engine(DAILY, clock.at_s(0));
    assert_eq!(engine.next_fire(), Some(time("2026-11-21T09:00:00Z")));
    assert!(engine.on_time(clock.at_ms(999)).firings.is_empty());
    let outcome = engine.on_time(clock.at_s(1));
    assert_eq!(fired(&outcome), ["daily"]);
    let firing = &outcome.firings[0];
    assert_eq!(firing.origin, Origin::Schedule);
    assert_eq!(firing.occurrence.scheduled_for, Some(time("2026-11-21T09:00:00Z")));
    assert!(!firing.occurrence.catch_up);
    assert_eq!(firing.state.cursor, Some(time("2026-11-21T09:00:00Z")));
    assert_eq!(engine.next_fire(), Some(time("2026-11-22T09:00:00Z")));
    // Found a little late (a busy machine): still on time, the next one follows this one.
    let outcome = engine.on_time(Clock::new("2026-11-22T09:00:30Z").at_s(0));
    assert_eq!(fired(&outcome), ["daily"]);
}

#[test]
fn a_fire_time_found_much_later_is_missed_unless_catching_up() {
    // Asleep from 08:00 to 12:00: the 09:00 run is found three hours late.
    let clock = Clock::new("2026-11-21T08:00:00Z");
    let mut skipping = engine(DAILY, clock.at_s(0));
    let outcome = skipping.on_time(Clock::new("2026-11-21T12:00:00Z").at_s(0));
    assert!(outcome.firings.is_empty());
    assert_eq!(outcome.notices[0].suppression.reason, "missed");
    assert_eq!(outcome.stored[0].cursor, Some(time("2026-11-21T12:00:00Z")));
    assert_eq!(skipping.next_fire(), Some(time("2026-11-22T09:00:00Z")));

    let mut catching_up = engine(&DAILY.replace("prompt", "catch_up = true\nprompt"), clock.at_s(0));
    // Three days asleep: one run, not three.
    let outcome = catching_up.on_time(Clock::new("2026-11-24T12:00:00Z").at_s(0));
    assert_eq!(fired(&outcome), ["daily"]);
    assert!(outcome.firings[0].occurrence.catch_up);
    assert_eq!(catching_up.next_fire(), Some(time("2026-11-25T09:00:00Z")));
}

fn stored_cursor(id: &str, cursor: &str) -> HashMap<String, StoredState> {
    let mut state = StoredState::new(id);
    state.cursor = Some(time(cursor));
    HashMap::from([(id.to_owned(), state)])
}

#[test]
fn at_start_missed_fire_times_are_skipped_or_caught_up_once() {
    let now = Clock::new("2026-11-24T12:00:00Z").at_s(0);
    // First start ever: nothing was missed; counting starts now.
    let (_, outcome) = Engine::new(rules(DAILY), true, &HashMap::new(), now);
    assert!(outcome.firings.is_empty() && outcome.notices.is_empty());
    assert_eq!(outcome.stored[0].cursor, Some(now.wall));
    // Down since the 21st, 10:00: three fire times passed; skipped by default.
    let stored = stored_cursor("daily", "2026-11-21T10:00:00Z");
    let (engine, outcome) = Engine::new(rules(DAILY), true, &stored, now);
    assert!(outcome.firings.is_empty());
    let detail = &outcome.notices[0].suppression.detail;
    assert!(detail.starts_with("3 fire time(s) since 2026-11-22T09:00:00.000Z"), "{detail}");
    assert_eq!(outcome.stored[0].cursor, Some(now.wall));
    assert_eq!(engine.next_fire(), Some(time("2026-11-25T09:00:00Z")));
    // With catch_up: exactly one run, for the first missed time, storing the cursor with it.
    let catching_up = DAILY.replace("prompt", "catch_up = true\nprompt");
    let (_, outcome) = Engine::new(rules(&catching_up), true, &stored, now);
    assert_eq!(fired(&outcome), ["daily"]);
    let firing = &outcome.firings[0];
    assert!(firing.occurrence.catch_up);
    assert_eq!(firing.occurrence.scheduled_for, Some(time("2026-11-22T09:00:00Z")));
    assert_eq!(firing.occurrence.data["missed"], 3);
    assert_eq!(firing.state.cursor, Some(now.wall));
    // Nothing missed: nothing to do.
    let (_, outcome) = Engine::new(rules(&catching_up), true, &stored_cursor("daily", "2026-11-24T09:00:00Z"), now);
    assert!(outcome.firings.is_empty() && outcome.notices.is_empty());
    // Disabled (itself or all of automation): skipped, never caught up.
    let mut off = stored.clone();
    off.get_mut("daily").expect("stored").enabled = false;
    let (_, outcome) = Engine::new(rules(&catching_up), true, &off, now);
    assert!(outcome.firings.is_empty());
    assert!(outcome.notices[0].suppression.detail.ends_with("because it is disabled"));
    let (_, outcome) = Engine::new(rules(&catching_up), false, &stored, now);
    assert!(outcome.firings.is_empty());
}

#[test]
fn switches_stop_triggers_drop_held_ones_and_name_unknown_rules() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let mut engine = engine(
        r#"
        [[rules]]
        id = "d"
        trigger = { type = "event", topic = "user:x" }
        condition = { type = "debounce", interval_ms = 100 }
        action = { type = "emit_event", topic = "user:y" }
        "#,
        clock.at_s(0),
    );
    let x = |seq| event(seq, "user:x", Value::Null);
    engine.on_event(&x(1), None, clock.at_s(0));
    let stored = engine.set_enabled(Some("d"), false, clock.at_s(0)).expect("known");
    assert_eq!(stored, [StoredState { enabled: false, ..StoredState::new("d") }]);
    assert_eq!(engine.next_deadline(), None, "the held trigger is dropped");
    engine.on_event(&x(2), None, clock.at_s(0));
    assert!(engine.on_time(clock.at_s(1)).firings.is_empty());
    engine.set_enabled(Some("d"), true, clock.at_s(1)).expect("known");
    // All of automation off: same, whatever the rule's own switch; no per-rule state changes.
    assert!(engine.set_enabled(None, false, clock.at_s(1)).expect("global").is_empty());
    assert!(!engine.enabled());
    engine.on_event(&x(3), None, clock.at_s(1));
    assert!(engine.on_time(clock.at_s(2)).firings.is_empty());
    engine.set_enabled(None, true, clock.at_s(2)).expect("global");
    engine.on_event(&x(4), None, clock.at_s(2));
    assert_eq!(fired(&engine.on_time(clock.at_s(3))), ["d"]);
    let err = engine.set_enabled(Some("nope"), false, clock.at_s(3)).expect_err("unknown");
    assert_eq!(err.to_string(), "no rule or schedule `nope`; known: d");
}

#[test]
fn enabling_a_schedule_forgives_the_times_it_was_off() {
    let clock = Clock::new("2026-11-21T08:00:00Z");
    let mut engine = engine(DAILY, clock.at_s(0));
    engine.set_enabled(Some("daily"), false, clock.at_s(0)).expect("known");
    // 09:00 passes while off: no run, and the next one is tomorrow's.
    assert!(engine.on_time(Clock::new("2026-11-21T09:00:00Z").at_s(0)).firings.is_empty());
    assert_eq!(engine.next_fire(), Some(time("2026-11-22T09:00:00Z")));
    let stored = engine.set_enabled(Some("daily"), true, Clock::new("2026-11-21T10:00:00Z").at_s(0)).expect("known");
    assert_eq!(stored[0].cursor, Some(time("2026-11-21T10:00:00Z")));
    let stored = engine.set_enabled(None, true, Clock::new("2026-11-21T11:00:00Z").at_s(0)).expect("global");
    assert_eq!(stored[0].cursor, Some(time("2026-11-21T11:00:00Z")), "schedules restart counting");
}

#[test]
fn a_reload_keeps_what_is_unchanged() {
    let clock = Clock::new("2026-11-21T10:00:00Z");
    let rule = |id: &str, ms: u64| {
        format!(
            "[[rules]]\nid = \"{id}\"\ntrigger = {{ type = \"event\", topic = \"user:x\" }}\n\
             condition = {{ type = \"debounce\", interval_ms = {ms} }}\naction = {{ type = \"emit_event\", topic = \"user:y\" }}\n"
        )
    };
    let mut engine = engine(&(rule("same", 100) + &rule("changed", 100)), clock.at_s(0));
    engine.on_event(&event(1, "user:x", Value::Null), None, clock.at_s(0));
    engine.set_enabled(Some("changed"), false, clock.at_s(0)).expect("known");
    let outcome = engine.reload(rules(&(rule("same", 100) + &rule("changed", 200) + &rule("new", 100))), clock.at_s(0));
    assert!(outcome.firings.is_empty());
    let status = engine.status(watch_off());
    let ids: Vec<(&str, bool)> = status.rules.iter().map(|rule| (rule.id.as_str(), rule.enabled)).collect();
    assert_eq!(ids, [("same", true), ("changed", false), ("new", true)]);
    assert!(status.rules[0].pending_until.is_some(), "unchanged: still holding its trigger");
    assert!(status.rules[1].pending_until.is_none(), "changed: starts afresh");
    assert_eq!(fired(&engine.on_time(clock.at_s(1))), ["same"]);
}

#[test]
fn status_lists_rules_and_schedules_apart() {
    let clock = Clock::new("2026-11-21T08:00:00Z");
    let text = format!(
        "{DAILY}\n[[rules]]\nid = \"nightly\"\ntrigger = {{ type = \"schedule\", cron = \"0 3 * * *\", timezone = \"UTC\" }}\n\
         action = {{ type = \"emit_event\", topic = \"user:n\" }}\n"
    );
    let engine = engine(&text, clock.at_s(0));
    let status = engine.status(watch_off());
    assert!(status.enabled);
    assert_eq!(status.rules.len(), 1);
    assert_eq!(status.rules[0].trigger, json!({"type": "schedule", "cron": "0 3 * * *", "timezone": "UTC"}));
    assert_eq!(status.rules[0].next_fire, Some(time("2026-11-22T03:00:00Z")));
    assert_eq!(status.rules[0].action, "emit_event");
    assert_eq!(status.schedules.len(), 1);
    let schedule = &status.schedules[0];
    assert_eq!(
        (schedule.name.as_str(), schedule.cron.as_str(), schedule.timezone.as_str()),
        ("daily", "0 9 * * *", "UTC")
    );
    assert_eq!(schedule.next_fire, Some(time("2026-11-21T09:00:00Z")));
    let json = serde_json::to_value(&status).expect("serialises");
    assert_eq!(json["schedules"][0]["next_fire"], "2026-11-21T09:00:00.000Z");
}
