//! The event bus: every notable thing the daemon does, in order, with a sequence number.
//!
//! Events go to live subscribers through a broadcast channel, into a bounded in-memory window,
//! and (for the daemon) into the store, which keeps the newest `[daemon].event_retention`. A
//! subscriber that asks for what it missed (`since_seq`) gets a gap-free stream: the window and
//! the live feed are taken under the same lock that numbers new events, and anything older than
//! the window is read from the store.

pub mod sql;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{broadcast, mpsc};

/// One event: `{seq, time, topic, data}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Increases by one with every event, starting at 1.
    pub seq: u64,
    /// When it happened, RFC 3339 UTC.
    #[serde(with = "rfc3339")]
    pub time: DateTime<Utc>,
    /// What happened, e.g. `daemon:started`.
    pub topic: String,
    /// Details; `null` when there are none.
    pub data: Value,
}

/// Topic prefixes that only the daemon emits, so that nobody can fake its own events.
pub const RESERVED_PREFIXES: &[&str] = &["daemon:", "task:", "rule:", "schedule:", "file:", "session:", "steward:"];

/// Longest topic accepted.
pub const MAX_TOPIC_LEN: usize = 200;

/// Checks a topic given by a client for `event.emit`.
pub fn validate_user_topic(topic: &str) -> Result<(), String> {
    validate_topic_text(topic)?;
    if let Some(prefix) = RESERVED_PREFIXES.iter().find(|p| topic.starts_with(**p)) {
        return Err(format!(
            "topic `{topic}` uses the prefix `{prefix}`, which is reserved for the daemon's own events; choose another (e.g. `user:{}`)",
            &topic[prefix.len()..]
        ));
    }
    Ok(())
}

/// Checks a topic or topic pattern: non-empty, bounded, printable, no spaces.
pub fn validate_topic_text(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("topic is empty; give one such as `build:done`".into());
    }
    if topic.len() > MAX_TOPIC_LEN {
        return Err(format!("topic is {} bytes long; the limit is {MAX_TOPIC_LEN}", topic.len()));
    }
    if let Some(c) = topic.chars().find(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "topic `{}` contains {c:?}; topics have no spaces or control characters",
            topic.escape_debug()
        ));
    }
    Ok(())
}

/// Which topics a subscriber wants: exact names or globs (`*` any run, `?` one character).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicFilter {
    patterns: Vec<String>,
}

impl TopicFilter {
    /// A filter from patterns; none means every topic.
    pub fn new(patterns: Vec<String>) -> Result<Self, String> {
        for pattern in &patterns {
            validate_topic_text(pattern)?;
        }
        Ok(Self { patterns })
    }

    /// Whether an event with `topic` passes.
    pub fn matches(&self, topic: &str) -> bool {
        self.patterns.is_empty() || self.patterns.iter().any(|p| glob_matches(p.as_bytes(), topic.as_bytes()))
    }
}

/// Glob match with `*` and `?`, iterative so a hostile pattern cannot blow the stack.
fn glob_matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                backtrack = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// What a new subscriber gets: the events it asked to replay, then the live feed.
pub struct Subscription {
    /// Events after `since_seq` still in the replay window, oldest first.
    pub backlog: Vec<Arc<Event>>,
    /// Events emitted from now on.
    pub live: broadcast::Receiver<Arc<Event>>,
    /// The oldest sequence number in the window (the next one to be emitted when it is empty):
    /// anything before it must come from the store.
    pub window_start: u64,
}

struct Window {
    next_seq: u64,
    recent: VecDeque<Arc<Event>>,
}

/// The daemon's event bus. Cheap to share behind an `Arc`.
pub struct EventBus {
    window: Mutex<Window>,
    capacity: usize,
    live: broadcast::Sender<Arc<Event>>,
    persist: Option<Persist>,
    /// A consumer that must see every event, in order, however slow it is (automation): a
    /// broadcast receiver that lags loses events, this channel does not.
    tap: OnceLock<mpsc::UnboundedSender<Arc<Event>>>,
    /// The daemon's own listeners (the steward's supervisor): not counted as subscribers.
    internal: broadcast::Sender<Arc<Event>>,
}

/// Where events are kept beyond the window.
struct Persist {
    writer: crate::store::Writer,
    retention: AtomicU64,
}

/// Resolves once an event is in the store.
pub type Stored = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), crate::store::StoreError>> + Send>>;

/// Events an internal listener may fall behind by before it is told it lagged.
const INTERNAL_CAPACITY: usize = 256;

/// How many events go by between two prunes of the store.
const PRUNE_EVERY: u64 = 500;

impl EventBus {
    /// A bus that keeps the last `capacity` events in memory only.
    pub fn new(capacity: usize) -> Self {
        let (live, _) = broadcast::channel(capacity.max(16));
        Self {
            window: Mutex::new(Window { next_seq: 1, recent: VecDeque::new() }),
            capacity,
            live,
            persist: None,
            tap: OnceLock::new(),
            internal: broadcast::channel(INTERNAL_CAPACITY).0,
        }
    }

    /// A bus that also stores every event through `writer`, numbering on from `last_seq` (the
    /// newest stored), and keeps the newest `retention` in the store.
    pub fn persistent(capacity: usize, writer: crate::store::Writer, last_seq: u64, retention: u64) -> Self {
        let (live, _) = broadcast::channel(capacity.max(16));
        Self {
            window: Mutex::new(Window { next_seq: last_seq + 1, recent: VecDeque::new() }),
            capacity,
            live,
            persist: Some(Persist { writer, retention: AtomicU64::new(retention) }),
            tap: OnceLock::new(),
            internal: broadcast::channel(INTERNAL_CAPACITY).0,
        }
    }

    /// Sends every event from now on to `tap` as well (set once; later calls are ignored).
    pub fn set_tap(&self, tap: mpsc::UnboundedSender<Arc<Event>>) {
        let _ = self.tap.set(tap);
    }

    /// Changes how many events the store keeps (from the next prune on).
    pub fn set_retention(&self, retention: u64) {
        if let Some(persist) = &self.persist {
            persist.retention.store(retention, Ordering::Relaxed);
        }
    }

    fn lock(&self) -> MutexGuard<'_, Window> {
        // A panic while holding this lock leaves the window consistent (each push is whole).
        self.window.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records and broadcasts an event; returns it with its sequence number.
    pub fn emit(&self, topic: impl Into<String>, data: Value) -> Arc<Event> {
        self.record(topic.into(), data, false).0
    }

    /// [`emit`](Self::emit), and a future that resolves once the event is in the store (at once
    /// on a bus without one): for a caller that acknowledges the event to someone.
    pub fn emit_stored(&self, topic: impl Into<String>, data: Value) -> (Arc<Event>, Stored) {
        let (event, stored) = self.record(topic.into(), data, true);
        (event, stored.unwrap_or_else(|| Box::pin(std::future::ready(Ok(())))))
    }

    fn record(&self, topic: String, data: Value, awaited: bool) -> (Arc<Event>, Option<Stored>) {
        let mut window = self.lock();
        let mut stored: Option<Stored> = None;
        let event = Arc::new(Event { seq: window.next_seq, time: Utc::now(), topic, data });
        window.next_seq += 1;
        if window.recent.len() == self.capacity {
            window.recent.pop_front();
        }
        window.recent.push_back(event.clone());
        if let Some(persist) = &self.persist {
            // Handed over under the lock, so the store receives events in sequence order.
            let row = event.clone();
            if awaited {
                stored = Some(Box::pin(persist.writer.write(None, move |conn| sql::insert(conn, &row))));
            } else {
                persist.writer.write_and_forget("event", move |conn| sql::insert(conn, &row));
            }
            if event.seq.is_multiple_of(PRUNE_EVERY) {
                let keep = persist.retention.load(Ordering::Relaxed);
                persist.writer.write_and_forget("event retention", move |conn| sql::prune(conn, keep).map(drop));
            }
        }
        if let Some(tap) = self.tap.get() {
            // Under the lock, so the tap sees events in sequence order; a closed tap is a
            // consumer that has stopped.
            let _ = tap.send(event.clone());
        }
        // No receivers is fine: nobody is listening right now.
        let _ = self.internal.send(event.clone());
        let _ = self.live.send(event.clone());
        tracing::debug!(seq = event.seq, topic = %event.topic, "event");
        (event, stored)
    }

    /// Subscribes, replaying the events after `since_seq` (if given) that are still kept.
    pub fn subscribe(&self, since_seq: Option<u64>) -> Subscription {
        let window = self.lock();
        let backlog = match since_seq {
            Some(since) => window.recent.iter().filter(|e| e.seq > since).cloned().collect(),
            None => Vec::new(),
        };
        let window_start = window.recent.front().map_or(window.next_seq, |e| e.seq);
        Subscription { backlog, live: self.live.subscribe(), window_start }
    }

    /// Events from now on, for a listener inside the daemon; it is not counted among the
    /// subscribers `daemon.status` reports. A listener that falls behind is told it lagged.
    pub fn listen(&self) -> broadcast::Receiver<Arc<Event>> {
        self.internal.subscribe()
    }

    /// The events in the window with `seq > after`, oldest first.
    pub fn recent_after(&self, after: u64) -> Vec<Arc<Event>> {
        self.lock().recent.iter().filter(|e| e.seq > after).cloned().collect()
    }

    /// The sequence number of the latest event, 0 before the first.
    pub fn last_seq(&self) -> u64 {
        self.lock().next_seq - 1
    }

    /// Live subscribers right now.
    pub fn subscribers(&self) -> usize {
        self.live.receiver_count()
    }
}

/// RFC 3339 with milliseconds and `Z`, the one time format of the protocol.
pub mod rfc3339 {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialises a time.
    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true))
    }

    /// Parses a time.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text).map(|t| t.with_timezone(&Utc)).map_err(serde::de::Error::custom)
    }
}

/// Formats a time the way the protocol does.
pub fn format_time(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn globs() {
        let cases = [
            ("task:failed", "task:failed", true),
            ("task:failed", "task:failedx", false),
            ("task:*", "task:failed", true),
            ("task:*", "task:", true),
            ("task:*", "tasks:x", false),
            ("*", "anything:at:all", true),
            ("*:failed", "task:failed", true),
            ("*:failed", "task:failed:again", false),
            ("t?sk:*d", "task:started", true),
            ("t?sk:*d", "task:start", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("**", "", true),
            ("", "", true),
            ("", "x", false),
        ];
        for (pattern, topic, expected) in cases {
            assert_eq!(glob_matches(pattern.as_bytes(), topic.as_bytes()), expected, "{pattern} ~ {topic}");
        }
    }

    #[test]
    fn hostile_glob_is_fast() {
        let pattern = "*a".repeat(100) + "b";
        let text = "a".repeat(10_000);
        assert!(!glob_matches(pattern.as_bytes(), text.as_bytes()));
    }

    #[test]
    fn filter_without_patterns_passes_all() {
        let filter = TopicFilter::new(vec![]).unwrap();
        assert!(filter.matches("x"));
        let filter = TopicFilter::new(vec!["daemon:*".into(), "build:done".into()]).unwrap();
        assert!(filter.matches("daemon:started") && filter.matches("build:done") && !filter.matches("build:x"));
        assert!(TopicFilter::new(vec!["has space".into()]).is_err());
    }

    #[test]
    fn user_topics() {
        assert!(validate_user_topic("build:done").is_ok());
        assert!(validate_user_topic("user:task:failed").is_ok());
        let err = validate_user_topic("task:failed").unwrap_err();
        assert!(err.contains("reserved") && err.contains("user:failed"), "{err}");
        assert!(validate_user_topic("").unwrap_err().contains("empty"));
        assert!(validate_user_topic(&"x".repeat(201)).unwrap_err().contains("limit is 200"));
        assert!(validate_user_topic("a\nb").unwrap_err().contains("no spaces"));
    }

    #[test]
    fn sequence_numbers_and_replay_window() {
        let bus = EventBus::new(3);
        assert_eq!(bus.last_seq(), 0);
        for i in 1..=5 {
            assert_eq!(bus.emit("t", json!(i)).seq, i);
        }
        let sub = bus.subscribe(Some(0));
        assert_eq!(sub.backlog.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(sub.window_start, 3);
        assert_eq!(EventBus::new(3).subscribe(None).window_start, 1);
        assert_eq!(bus.subscribe(Some(4)).backlog.len(), 1);
        assert!(bus.subscribe(None).backlog.is_empty());
    }

    #[test]
    fn backlog_and_live_feed_join_without_gap_or_duplicate() {
        let bus = EventBus::new(100);
        bus.emit("a", Value::Null);
        let mut sub = bus.subscribe(Some(0));
        bus.emit("b", Value::Null);
        assert_eq!(sub.backlog.len(), 1);
        assert_eq!(sub.live.try_recv().unwrap().seq, 2);
        assert!(sub.live.try_recv().is_err());
    }

    #[test]
    fn events_serialise_as_the_protocol_says() {
        let bus = EventBus::new(1);
        let event = bus.emit("x:y", json!({"k": 1}));
        let value = serde_json::to_value(&*event).unwrap();
        assert_eq!(value["seq"], 1);
        assert_eq!(value["topic"], "x:y");
        let time = value["time"].as_str().unwrap();
        assert!(time.ends_with('Z') && time.len() == "2026-01-01T00:00:00.000Z".len(), "{time}");
        let back: Event = serde_json::from_value(value).unwrap();
        assert_eq!(back.seq, 1);
    }
}
