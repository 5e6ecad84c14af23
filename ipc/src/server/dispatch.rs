//! From one framed message to its reply: JSON-RPC 2.0 validation, method lookup and invocation.
//!
//! The rules of the specification live here: a notification never gets a reply, not even an
//! error; an invalid request is answered with -32600 and the id when one can be read, else
//! `null`; text that is not JSON is answered with -32700; an empty batch gets one -32600 error
//! and a batch of notifications gets nothing. Every id the specification allows (string, number
//! of any form, null) is echoed as sent. jsonrpsee's `Id` cannot hold numbers such as `-1`,
//! `1.5` or `1e3`, so such calls run under a `null` placeholder and the original id is put back
//! into the reply.

use std::borrow::Cow;
use std::sync::Arc;

use futures_util::future::{BoxFuture, FutureExt, join_all};
use jsonrpsee::core::server::{
    BoundedSubscriptions, ConnectionId, Extensions, MethodCallback, MethodResponse, MethodSink, Methods,
    SubscriptionState,
};
use jsonrpsee::core::traits::IdProvider;
use jsonrpsee::types::error::ErrorCode;
use jsonrpsee::types::{ErrorObject, Id, Params};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::Batch;
use crate::error;

/// A reply ready to be queued, and the subscriptions waiting for it to be queued first.
pub(crate) struct Reply {
    pub json: Box<RawValue>,
    /// Opened once `json` is queued, so a subscription's first notification never overtakes
    /// the reply that announced the subscription.
    pub gates: Vec<oneshot::Sender<()>>,
}

impl Reply {
    fn plain(json: Box<RawValue>) -> Self {
        Self { json, gates: Vec::new() }
    }
}

/// The result of dispatching one frame.
pub(crate) enum Outcome {
    /// Answered at once (or, for `None`, nothing to answer).
    Ready(Option<Reply>),
    /// Still running; later requests of the connection may run meanwhile.
    Pending(BoxFuture<'static, Option<Reply>>),
    /// A subscription being set up: later requests of the connection wait until it is, so a
    /// subscription sees everything that the requests sent after it cause.
    Barrier(BoxFuture<'static, Option<Reply>>),
}

/// Everything a connection needs to run calls, shared by its requests.
pub(crate) struct Dispatcher {
    pub methods: Methods,
    pub conn_id: ConnectionId,
    pub extensions: Extensions,
    pub max_response_bytes: usize,
    pub subscriptions: BoundedSubscriptions,
    pub subscription_buffer: usize,
    pub id_provider: Arc<dyn IdProvider>,
    /// The connection's writer queue.
    pub outbound: mpsc::Sender<Box<RawValue>>,
    /// Cancelled when the connection is closing.
    pub closing: CancellationToken,
}

/// The members of a request object, taken raw so that their types can be checked one by one.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    jsonrpc: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    method: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    params: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    id: Option<&'a RawValue>,
}

/// Keeps `"member": null` apart from an absent member (serde would map both to `None`).
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(deserializer).map(Some)
}

/// A request id as the client wrote it.
enum RequestId<'a> {
    /// Representable by jsonrpsee, which serialises it back to the same value.
    Native(Id<'a>),
    /// A number jsonrpsee cannot hold; the raw text goes back into the reply.
    Raw(&'a str),
}

impl RequestId<'_> {
    fn parse(raw: &RawValue) -> Option<RequestId<'_>> {
        let text = raw.get();
        match text.as_bytes().first()? {
            b'"' => serde_json::from_str::<Cow<'_, str>>(text).ok().map(|s| RequestId::Native(Id::Str(s))),
            b'n' => Some(RequestId::Native(Id::Null)),
            b'-' | b'0'..=b'9' => {
                let canonical = text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
                match text.parse::<u64>() {
                    Ok(n) if canonical => Some(RequestId::Native(Id::Number(n))),
                    _ => Some(RequestId::Raw(text)),
                }
            }
            _ => None,
        }
    }

    fn for_call(&self) -> Id<'static> {
        match self {
            RequestId::Native(id) => id.clone().into_owned(),
            RequestId::Raw(_) => Id::Null,
        }
    }

    fn raw(&self) -> Option<String> {
        match self {
            RequestId::Native(_) => None,
            RequestId::Raw(text) => Some((*text).to_owned()),
        }
    }
}

/// A validated request.
struct Call<'a> {
    method: Cow<'a, str>,
    params: Option<&'a str>,
    /// `None` for a notification.
    id: Option<RequestId<'a>>,
}

fn error_reply(id: Id<'_>, raw_id: Option<&str>, err: ErrorObject<'_>) -> Reply {
    let json = MethodResponse::error(id, err).into_json();
    Reply::plain(restore_id(json, raw_id))
}

/// Puts a raw id back in place of the `null` placeholder a call ran under.
fn restore_id(json: Box<RawValue>, raw_id: Option<&str>) -> Box<RawValue> {
    let Some(raw_id) = raw_id else { return json };
    const PLACEHOLDER: &str = r#"{"jsonrpc":"2.0","id":null"#;
    let text = json.get();
    let replaced = match text.strip_prefix(PLACEHOLDER) {
        Some(rest) => format!(r#"{{"jsonrpc":"2.0","id":{raw_id}{rest}"#),
        None => {
            // jsonrpsee changed its field order: fall back to a full rewrite.
            let mut value: serde_json::Map<String, serde_json::Value> =
                serde_json::from_str(text).expect("a response is a JSON object");
            let id = serde_json::from_str(raw_id).expect("the id was parsed before");
            value.insert("id".into(), id);
            serde_json::to_string(&value).expect("serialising a map cannot fail")
        }
    };
    RawValue::from_string(replaced).expect("replacing one JSON value by another keeps JSON valid")
}

fn parse_error() -> Reply {
    error_reply(Id::Null, None, ErrorCode::ParseError.into())
}

fn invalid_request(id: Option<&RequestId<'_>>) -> Reply {
    match id {
        Some(id) => error_reply(id.for_call(), id.raw().as_deref(), ErrorCode::InvalidRequest.into()),
        None => error_reply(Id::Null, None, ErrorCode::InvalidRequest.into()),
    }
}

/// Checks a request object, or says how to answer it when it is not one.
fn validate(text: &str) -> Result<Call<'_>, Reply> {
    let envelope: Envelope<'_> = serde_json::from_str(text)
        .map_err(|e| if e.is_syntax() || e.is_eof() { parse_error() } else { invalid_request(None) })?;
    let id = match envelope.id {
        None => None,
        Some(raw) => Some(RequestId::parse(raw).ok_or_else(|| invalid_request(None))?),
    };
    let version_ok =
        envelope.jsonrpc.is_some_and(|v| serde_json::from_str::<Cow<'_, str>>(v.get()).is_ok_and(|v| v == "2.0"));
    let method = envelope.method.and_then(|m| serde_json::from_str::<Cow<'_, str>>(m.get()).ok());
    let params = match envelope.params.map(RawValue::get) {
        None | Some("null") => Some(None),
        Some(p) if p.starts_with('{') || p.starts_with('[') => Some(Some(p)),
        Some(_) => None,
    };
    match (version_ok, method, params) {
        (true, Some(method), Some(params)) => Ok(Call { method, params, id }),
        _ => Err(invalid_request(id.as_ref())),
    }
}

impl Dispatcher {
    /// Dispatches one frame: a request, a notification or a batch.
    pub fn dispatch(self: &Arc<Self>, frame: &[u8]) -> Outcome {
        let Ok(text) = std::str::from_utf8(frame) else {
            return Outcome::Ready(Some(parse_error()));
        };
        if text.starts_with('[') { self.dispatch_batch(text) } else { self.dispatch_one(text, None) }
    }

    fn dispatch_one(&self, text: &str, batch: Option<&Batch>) -> Outcome {
        match validate(text) {
            Ok(call) => self.run(call, batch),
            Err(reply) => Outcome::Ready(Some(reply)),
        }
    }

    fn dispatch_batch(self: &Arc<Self>, text: &str) -> Outcome {
        let entries: Vec<&RawValue> = match serde_json::from_str(text) {
            Ok(entries) => entries,
            Err(e) if e.is_syntax() || e.is_eof() => return Outcome::Ready(Some(parse_error())),
            Err(_) => return Outcome::Ready(Some(invalid_request(None))),
        };
        if entries.is_empty() {
            return Outcome::Ready(Some(invalid_request(None)));
        }
        let limit = self.max_response_bytes;
        let batch = Batch::new(entries.len());
        let mut outcomes = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            match self.dispatch_one(entry.get(), Some(&batch)) {
                Outcome::Barrier(setup) => {
                    // The entries after a subscription run once it is set up, as on a connection.
                    let rest: Vec<String> = entries[i + 1..].iter().map(|e| e.get().to_owned()).collect();
                    let this = self.clone();
                    return Outcome::Barrier(
                        async move {
                            outcomes.push(Outcome::Ready(setup.await));
                            for text in rest {
                                match this.dispatch_one(&text, Some(&batch)) {
                                    Outcome::Barrier(setup) => outcomes.push(Outcome::Ready(setup.await)),
                                    other => outcomes.push(other),
                                }
                            }
                            collect_batch(outcomes, limit, batch).await
                        }
                        .boxed(),
                    );
                }
                other => outcomes.push(other),
            }
        }
        if outcomes.iter().all(|o| matches!(o, Outcome::Ready(_))) {
            batch.seal();
            let replies = outcomes.into_iter().filter_map(|o| match o {
                Outcome::Ready(reply) => reply,
                Outcome::Pending(_) | Outcome::Barrier(_) => unreachable!("checked above"),
            });
            return Outcome::Ready(assemble_batch(replies, limit));
        }
        Outcome::Pending(collect_batch(outcomes, limit, batch).boxed())
    }

    fn run(&self, call: Call<'_>, batch: Option<&Batch>) -> Outcome {
        let Call { method, params, id } = call;
        let Some(callback) = self.methods.method(&method) else {
            return Outcome::Ready(
                id.map(|id| error_reply(id.for_call(), id.raw().as_deref(), ErrorCode::MethodNotFound.into())),
            );
        };
        let params = Params::new(params);
        let Some(id) = id else {
            return self.run_notification(callback, params);
        };
        let raw_id = id.raw();
        let call_id = id.for_call();
        let max = self.max_response_bytes;
        let mut ext = self.extensions.clone();
        if let Some(batch) = batch {
            ext.insert(batch.clone());
        }
        match callback {
            MethodCallback::Sync(cb) => Outcome::Ready(Some(finish(cb(call_id, params, max, ext), raw_id, max))),
            MethodCallback::Async(cb) => {
                let fut = cb(call_id, params.into_owned(), self.conn_id, max, ext);
                Outcome::Pending(async move { Some(finish(fut.await, raw_id, max)) }.boxed())
            }
            MethodCallback::Unsubscription(cb) => {
                Outcome::Ready(Some(finish(cb(call_id, params, self.conn_id, max, ext), raw_id, max)))
            }
            MethodCallback::Subscription(cb) => {
                let Some(permit) = self.subscriptions.acquire() else {
                    let err = error::too_many_subscriptions(self.subscriptions.max());
                    return Outcome::Ready(Some(error_reply(call_id, raw_id.as_deref(), err)));
                };
                let (sub_tx, sub_rx) = mpsc::channel(self.subscription_buffer);
                let (gate_tx, gate_rx) = oneshot::channel();
                tokio::spawn(forward_subscription(sub_rx, gate_rx, self.outbound.clone(), self.closing.clone()));
                let state = SubscriptionState {
                    conn_id: self.conn_id,
                    id_provider: &*self.id_provider,
                    subscription_permit: permit,
                };
                let fut = cb(call_id, params, MethodSink::new_with_limit(sub_tx, max as u32), state, ext);
                Outcome::Barrier(
                    async move {
                        let mut reply = finish(fut.await, raw_id, max);
                        reply.gates.push(gate_tx);
                        Some(reply)
                    }
                    .boxed(),
                )
            }
        }
    }

    /// Runs a notification for its effect; whatever it returns is dropped, as the spec requires.
    fn run_notification(&self, callback: &MethodCallback, params: Params<'_>) -> Outcome {
        let max = self.max_response_bytes;
        let ext = self.extensions.clone();
        match callback {
            MethodCallback::Sync(cb) => {
                drop(cb(Id::Null, params, max, ext));
                Outcome::Ready(None)
            }
            MethodCallback::Async(cb) => {
                let fut = cb(Id::Null, params.into_owned(), self.conn_id, max, ext);
                Outcome::Pending(fut.map(|_| None).boxed())
            }
            MethodCallback::Unsubscription(cb) => {
                drop(cb(Id::Null, params, self.conn_id, max, ext));
                Outcome::Ready(None)
            }
            // Nobody could ever learn the subscription id, so starting one would only leak it.
            MethodCallback::Subscription(_) => Outcome::Ready(None),
        }
    }
}

/// Turns a method's response into a reply, telling the method it went out.
fn finish(response: MethodResponse, raw_id: Option<String>, max_response_bytes: usize) -> Reply {
    let is_success = response.is_success();
    let oversized = response.as_error_code() == Some(jsonrpsee::types::error::OVERSIZED_RESPONSE_CODE);
    let (json, notify, _) = response.into_parts();
    if let Some(notify) = notify {
        notify.notify(is_success);
    }
    if oversized {
        // jsonrpsee's own error carries a bare string; ours says what the limit is, like every other.
        let id = serde_json::from_str::<serde_json::Value>(json.get()).ok().and_then(|v| {
            let id = v.get("id")?;
            serde_json::value::to_raw_value(id).ok()
        });
        let json = MethodResponse::error(Id::Null, error::response_too_large(max_response_bytes)).into_json();
        let raw = id.map(|id| id.get().to_owned()).or(raw_id);
        return Reply::plain(restore_id(json, raw.as_deref()));
    }
    Reply::plain(restore_id(json, raw_id.as_deref()))
}

/// Waits for every entry of a batch, in order; seals the batch once each entry has started.
async fn collect_batch(outcomes: Vec<Outcome>, limit: usize, batch: Batch) -> Option<Reply> {
    let joined = join_all(outcomes.into_iter().map(|o| match o {
        Outcome::Ready(reply) => futures_util::future::ready(reply).boxed(),
        Outcome::Pending(fut) | Outcome::Barrier(fut) => fut,
    }));
    let mut joined = std::pin::pin!(joined);
    let mut started = false;
    let replies = std::future::poll_fn(|cx| {
        let poll = joined.as_mut().poll(cx);
        if !started {
            // Every entry has now run up to its first wait: whatever it hands over, it has.
            started = true;
            batch.seal();
        }
        poll
    })
    .await;
    assemble_batch(replies.into_iter().flatten(), limit)
}

fn assemble_batch(replies: impl IntoIterator<Item = Reply>, limit: usize) -> Option<Reply> {
    let mut json = String::from("[");
    let mut gates = Vec::new();
    for reply in replies {
        if json.len() > 1 {
            json.push(',');
        }
        json.push_str(reply.json.get());
        gates.extend(reply.gates);
        if json.len() + 1 > limit {
            // Dropping the gates ends the subscriptions this batch started: nobody learns their ids.
            return Some(Reply::plain(MethodResponse::error(Id::Null, error::response_too_large(limit)).into_json()));
        }
    }
    if json.len() == 1 {
        return None;
    }
    json.push(']');
    let json = RawValue::from_string(json).expect("an array of JSON values is JSON");
    Some(Reply { json, gates })
}

/// Moves one subscription's messages to the connection's writer.
///
/// The first message is the reply to the subscribe call, which reaches the client through the
/// call's own reply instead (so it can also sit inside a batch). Notifications wait until that
/// reply is queued. Returning drops the receiver, which tells the subscription it is closed.
async fn forward_subscription(
    mut messages: mpsc::Receiver<Box<RawValue>>,
    gate: oneshot::Receiver<()>,
    outbound: mpsc::Sender<Box<RawValue>>,
    closing: CancellationToken,
) {
    let ready = async {
        messages.recv().await?;
        gate.await.ok()
    };
    if closing.run_until_cancelled(ready).await.flatten().is_none() {
        return;
    }
    loop {
        let next = tokio::select! {
            _ = closing.cancelled() => return,
            next = messages.recv() => next,
        };
        let Some(message) = next else { return };
        tokio::select! {
            _ = closing.cancelled() => return,
            sent = outbound.send(message) => if sent.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_id(text: &str) -> Option<String> {
        let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
        RequestId::parse(&raw).and_then(|id| id.raw())
    }

    #[test]
    fn ids_jsonrpsee_can_hold_stay_native() {
        for text in ["0", "1", "18446744073709551615", "\"a\"", "\"\"", "null", "\"\\u0041\""] {
            assert_eq!(raw_id(text), None, "{text}");
        }
    }

    #[test]
    fn other_numbers_are_echoed_raw() {
        for text in ["-1", "1.5", "1e3", "18446744073709551616", "-0", "2.0E-3"] {
            assert_eq!(raw_id(text).as_deref(), Some(text), "{text}");
        }
    }

    #[test]
    fn ids_of_other_types_are_invalid() {
        for text in ["true", "{}", "[1]"] {
            let raw: Box<RawValue> = serde_json::from_str(text).unwrap();
            assert!(RequestId::parse(&raw).is_none(), "{text}");
        }
    }

    #[test]
    fn restore_id_splices_the_raw_id() {
        let json = MethodResponse::error(Id::Null, ErrorObject::from(ErrorCode::MethodNotFound)).into_json();
        let restored = restore_id(json, Some("-1.5e2"));
        let value: serde_json::Value = serde_json::from_str(restored.get()).unwrap();
        assert!(restored.get().contains(r#""id":-1.5e2"#));
        assert_eq!(value["error"]["code"], -32601);
    }

    #[test]
    fn validation_answers_as_the_spec_says() {
        let code = |text: &str| match validate(text) {
            Ok(_) => None,
            Err(reply) => {
                let v: serde_json::Value = serde_json::from_str(reply.json.get()).unwrap();
                Some((v["error"]["code"].as_i64().unwrap(), v["id"].clone()))
            }
        };
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":"m","id":1}"#), None);
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":"m"}"#), None);
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":"m","params":null,"id":1}"#), None);
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":"m","#), Some((-32700, serde_json::Value::Null)));
        assert_eq!(code(r#"{"jsonrpc":"1.0","method":"m","id":7}"#), Some((-32600, 7.into())));
        assert_eq!(code(r#"{"method":"m","id":"x"}"#), Some((-32600, "x".into())));
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":1,"params":"bar"}"#), Some((-32600, serde_json::Value::Null)));
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":"m","params":3,"id":1}"#), Some((-32600, 1.into())));
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":"m","id":true}"#), Some((-32600, serde_json::Value::Null)));
        assert_eq!(code(r#"{"jsonrpc":"2.0","method":"m","id":1,"id":2}"#), Some((-32600, serde_json::Value::Null)));
        assert_eq!(code("42"), Some((-32600, serde_json::Value::Null)));
        assert_eq!(code("garbage"), Some((-32700, serde_json::Value::Null)));
    }
}
