//! `event.*`: emit events and follow them live.

use std::time::Duration;

use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::{PendingSubscriptionSink, SubscriptionMessage, SubscriptionSink};
use serde_json::Value;
use tokio::sync::broadcast::error::RecvError;

use super::error::invalid_param;
use super::types::Emitted;
use crate::daemon::Daemon;
use crate::events::{Event, TopicFilter, validate_user_topic};

/// How long a subscriber may keep its buffer full before it is dropped as lagging.
const SEND_PATIENCE: Duration = Duration::from_secs(2);

/// Events.
#[rpc(server, client)]
pub trait EventApi {
    /// Records an event with a topic of the caller's choosing (not a reserved prefix).
    #[method(name = "event.emit", param_kind = map)]
    fn emit(&self, topic: String, data: Option<Value>) -> RpcResult<Emitted>;

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
    fn emit(&self, topic: String, data: Option<Value>) -> RpcResult<Emitted> {
        validate_user_topic(&topic).map_err(|problem| invalid_param("topic", problem))?;
        let event = self.daemon.events().emit(topic, data.unwrap_or(Value::Null));
        Ok(Emitted { seq: event.seq })
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
        let sink = pending.accept().await?;
        let mut delivered = since_seq.unwrap_or_else(|| self.daemon.events().last_seq());
        for event in subscription.backlog {
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
