//! `event.*`: emit events and follow them live.

use std::time::Duration;

use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage, SubscriptionSink};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::error::invalid_param;
use super::types::Emitted;
use crate::daemon::Daemon;
use crate::events::{Event, TopicFilter, sql, validate_topic_text, validate_user_topic};

/// Default number of events `event.list` returns.
pub const DEFAULT_LIST: usize = 100;
/// Most events one `event.list` returns.
pub const MAX_LIST: usize = 1000;

/// `event.list`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EventList {
    /// Oldest first.
    pub events: Vec<Event>,
}

/// How long a subscriber may keep its buffer full before it is dropped as lagging.
const SEND_PATIENCE: Duration = Duration::from_secs(2);

/// Events.
#[rpc(server, client)]
pub trait EventApi {
    /// Records an event with a topic of the caller's choosing (not a reserved prefix).
    #[method(name = "event.emit", param_kind = map)]
    async fn emit(&self, topic: String, data: Option<Value>) -> RpcResult<Emitted>;

    /// Stored events after `since_seq`, oldest first, optionally of topics matching a pattern.
    #[method(name = "event.list", param_kind = map)]
    async fn list(&self, since_seq: Option<u64>, topic: Option<String>, limit: Option<usize>) -> RpcResult<EventList>;

    /// Streams events as notifications named `event`, one event each. With `since_seq`, first
    /// replays the events after it that are still kept; `topics` filters by exact name or glob.
    #[subscription(name = "event.subscribe" => "event", unsubscribe = "event.unsubscribe", item = Event, param_kind = map)]
    async fn subscribe_events(&self, topics: Option<Vec<String>>, since_seq: Option<u64>) -> SubscriptionResult;
}

/// Serves [`EventApiServer`].
pub struct EventRpc {
    /// The daemon.
    pub daemon: Daemon,
}

#[jsonrpsee::core::async_trait]
impl EventApiServer for EventRpc {
    async fn emit(&self, topic: String, data: Option<Value>) -> RpcResult<Emitted> {
        validate_user_topic(&topic).map_err(|problem| invalid_param("topic", problem))?;
        // Acknowledged once stored, so an acknowledged event survives a crash. One that cannot
        // be stored (a full disk) has reached the live subscribers already; the caller learns
        // it is not kept.
        let (event, stored) = self.daemon.events().emit_stored(topic, data.unwrap_or(Value::Null));
        stored.await.map_err(|err| {
            crate::api::error::with_kind(
                crate::api::task::codes::STORE_FAILED,
                "store_failed",
                format!("{err} (event {} reached the live subscribers but is not kept)", event.seq),
                json!({ "seq": event.seq }),
            )
        })?;
        Ok(Emitted { seq: event.seq })
    }

    async fn list(&self, since_seq: Option<u64>, topic: Option<String>, limit: Option<usize>) -> RpcResult<EventList> {
        let limit = limit.unwrap_or(DEFAULT_LIST);
        if limit == 0 || limit > MAX_LIST {
            return Err(invalid_param("limit", format!("{limit} is out of range; use 1 to {MAX_LIST}")));
        }
        if let Some(pattern) = &topic {
            validate_topic_text(pattern).map_err(|problem| invalid_param("topic", problem))?;
        }
        let since = since_seq.unwrap_or(0);
        let filter = TopicFilter::new(topic.iter().cloned().collect()).map_err(|p| invalid_param("topic", p))?;
        let pattern = topic.clone();
        let mut events = self
            .daemon
            .store()
            .read(move |conn| sql::range(conn, since, u64::MAX, pattern.as_deref(), limit))
            .await
            .map_err(|e| crate::api::task::queue_error(e.into()))?;
        // Events just emitted may not be stored yet: the in-memory window has them.
        let stored_up_to = events.last().map_or(since, |e| e.seq);
        for event in self.daemon.events().recent_after(stored_up_to) {
            if events.len() >= limit {
                break;
            }
            if filter.matches(&event.topic) && events.last().is_none_or(|last| last.seq < event.seq) {
                events.push((*event).clone());
            }
        }
        Ok(EventList { events })
    }

    async fn subscribe_events(
        &self,
        pending: PendingSubscriptionSink,
        topics: Option<Vec<String>>,
        since_seq: Option<u64>,
    ) -> SubscriptionResult {
        let filter = match TopicFilter::new(topics.unwrap_or_default()) {
            Ok(filter) => filter,
            Err(problem) => {
                pending.reject(invalid_param("topics", problem)).await;
                return Ok(());
            }
        };
        let subscription = self.daemon.events().subscribe(since_seq);
        // What is older than the in-memory window comes from the store.
        let older = match since_seq {
            Some(since) if since + 1 < subscription.window_start => {
                let before = subscription.window_start;
                self.daemon
                    .store()
                    .read(move |conn| sql::range(conn, since, before, None, usize::MAX))
                    .await
                    .unwrap_or_default()
            }
            _ => Vec::new(),
        };
        let sink = pending.accept().await?;
        let mut delivered = since_seq.unwrap_or_else(|| self.daemon.events().last_seq());
        for event in older.into_iter().map(std::sync::Arc::new).chain(subscription.backlog) {
            if filter.matches(&event.topic) {
                deliver(&sink, &event, delivered).await?;
            }
            delivered = event.seq;
        }
        let mut live = subscription.live;
        loop {
            let received = tokio::select! {
                _ = sink.closed() => return Ok(()),
                received = live.recv() => received,
            };
            match received {
                Ok(event) => {
                    if filter.matches(&event.topic) {
                        deliver(&sink, &event, delivered).await?;
                    }
                    delivered = event.seq;
                }
                Err(RecvError::Lagged(_)) => return Err(lagging(delivered).into()),
                Err(RecvError::Closed) => return Ok(()),
            }
        }
    }
}

async fn deliver(sink: &SubscriptionSink, event: &Event, delivered: u64) -> Result<(), String> {
    let message = SubscriptionMessage::from(serde_json::value::to_raw_value(event).map_err(|e| e.to_string())?);
    match sink.send_timeout(message, SEND_PATIENCE).await {
        Ok(()) => Ok(()),
        Err(jsonrpsee::core::server::SendTimeoutError::Timeout(_)) => Err(lagging(delivered)),
        Err(jsonrpsee::core::server::SendTimeoutError::Closed(_)) => Err("the connection closed".into()),
    }
}

/// The message that ends a subscription whose reader fell behind, saying how to catch up.
fn lagging(delivered: u64) -> String {
    format!(
        "subscription dropped: the client fell behind; events up to seq {delivered} were handled, subscribe again with since_seq={delivered}"
    )
}
