//! A test server with a small RPC module, and a raw line client to poke it with.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use jsonrpsee::PendingSubscriptionSink;
use jsonrpsee::core::{RpcResult, SubscriptionResult};
use jsonrpsee::proc_macros::rpc;
use jsonrpsee::types::ErrorObjectOwned;
use serde_json::Value;
use steward_ipc::{Server, ServerHandle, Settings};

mod raw;

#[allow(unused_imports)]
pub use raw::{DEADLINE, RawClient, wait_until};

#[rpc(server, client)]
pub trait Probe {
    #[method(name = "echo", param_kind = map)]
    fn echo(&self, value: Value) -> RpcResult<Value>;

    #[method(name = "add", param_kind = map)]
    fn add(&self, a: i64, b: i64) -> RpcResult<i64>;

    #[method(name = "sleep", param_kind = map)]
    async fn sleep(&self, ms: u64) -> RpcResult<u64>;

    #[method(name = "fail")]
    fn fail(&self) -> RpcResult<()>;

    #[method(name = "boom")]
    fn boom(&self) -> RpcResult<()>;

    #[method(name = "big", param_kind = map)]
    fn big(&self, bytes: usize) -> RpcResult<String>;

    #[method(name = "record")]
    fn record(&self) -> RpcResult<u64>;

    #[method(name = "recorded")]
    fn recorded(&self) -> RpcResult<u64>;

    #[subscription(name = "ticks" => "tick", unsubscribe = "unticks", item = u64, param_kind = map)]
    async fn ticks(&self, count: u64) -> SubscriptionResult;

    #[subscription(name = "flood" => "flood_item", unsubscribe = "unflood", item = String)]
    async fn flood(&self) -> SubscriptionResult;

    /// The batch this call arrived in (null when alone), and whether it was sealed when the
    /// call started; answers once the batch is sealed.
    #[method(name = "batch_probe", with_extensions)]
    async fn batch_probe(&self) -> RpcResult<Value>;

    /// Tells every `listen` subscriber.
    #[method(name = "announce", param_kind = map)]
    fn announce(&self, text: String) -> RpcResult<usize>;

    /// Hears what `announce` says from the moment it is set up (its body runs asynchronously,
    /// like any async subscription).
    #[subscription(name = "listen" => "heard", unsubscribe = "unlisten", item = String)]
    async fn listen(&self) -> SubscriptionResult;
}

/// What the test methods observed.
#[derive(Default)]
pub struct Observed {
    pub records: AtomicU64,
    pub running: AtomicUsize,
    pub max_running: AtomicUsize,
    pub flood_lagged: AtomicBool,
    pub ticks_closed: AtomicU64,
}

pub struct TestApi {
    pub observed: Arc<Observed>,
    pub announcements: tokio::sync::broadcast::Sender<String>,
}

#[jsonrpsee::core::async_trait]
impl ProbeServer for TestApi {
    fn echo(&self, value: Value) -> RpcResult<Value> {
        Ok(value)
    }

    fn add(&self, a: i64, b: i64) -> RpcResult<i64> {
        Ok(a + b)
    }

    async fn sleep(&self, ms: u64) -> RpcResult<u64> {
        let now = self.observed.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.observed.max_running.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        self.observed.running.fetch_sub(1, Ordering::SeqCst);
        Ok(ms)
    }

    fn fail(&self) -> RpcResult<()> {
        Err(ErrorObjectOwned::owned(-32050, "it failed", Some(serde_json::json!({"kind": "test_failure"}))))
    }

    fn boom(&self) -> RpcResult<()> {
        panic!("boom");
    }

    fn big(&self, bytes: usize) -> RpcResult<String> {
        Ok("x".repeat(bytes))
    }

    fn record(&self) -> RpcResult<u64> {
        Ok(self.observed.records.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn recorded(&self) -> RpcResult<u64> {
        Ok(self.observed.records.load(Ordering::SeqCst))
    }

    async fn ticks(&self, pending: PendingSubscriptionSink, count: u64) -> SubscriptionResult {
        let sink = pending.accept().await?;
        for i in 0..count {
            sink.send(serde_json::value::to_raw_value(&i)?).await?;
        }
        sink.closed().await;
        self.observed.ticks_closed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn batch_probe(&self, ext: &jsonrpsee::Extensions) -> RpcResult<Value> {
        let Some(batch) = ext.get::<steward_ipc::Batch>().cloned() else { return Ok(Value::Null) };
        let sealed_at_start = batch.is_sealed();
        batch.sealed().await;
        assert!(batch.wait_sealed(std::time::Duration::ZERO));
        Ok(serde_json::json!({"id": batch.id(), "len": batch.len(), "sealed_at_start": sealed_at_start}))
    }

    fn announce(&self, text: String) -> RpcResult<usize> {
        Ok(self.announcements.send(text).unwrap_or(0))
    }

    async fn listen(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut heard = self.announcements.subscribe();
        let sink = pending.accept().await?;
        while let Ok(text) = heard.recv().await {
            sink.send(serde_json::value::to_raw_value(&text)?).await?;
        }
        Ok(())
    }

    async fn flood(&self, pending: PendingSubscriptionSink) -> SubscriptionResult {
        let mut sink = pending.accept().await?;
        let item = "y".repeat(1000);
        loop {
            match sink.try_send(serde_json::value::to_raw_value(&item)?) {
                Ok(()) => tokio::task::yield_now().await,
                Err(jsonrpsee::core::server::TrySendError::Full(_)) => {
                    self.observed.flood_lagged.store(true, Ordering::SeqCst);
                    return Ok(());
                }
                Err(jsonrpsee::core::server::TrySendError::Closed(_)) => return Ok(()),
            }
        }
    }
}

/// A server on its own runtime, in its own temporary directory.
pub struct TestServer {
    pub runtime: tokio::runtime::Runtime,
    pub handle: ServerHandle,
    pub path: PathBuf,
    pub observed: Arc<Observed>,
    pub dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start(settings: Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock").join("test.sock");
        Self::start_at(settings, dir, path)
    }

    pub fn start_at(settings: Settings, dir: tempfile::TempDir, path: PathBuf) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let observed = Arc::new(Observed::default());
        let api = TestApi { observed: observed.clone(), announcements: tokio::sync::broadcast::channel(64).0 };
        let handle = runtime.block_on(async { Server::new(settings).start(&path, api.into_rpc()) }).unwrap();
        Self { runtime, handle, path, observed, dir }
    }

    pub fn client(&self) -> RawClient {
        RawClient::connect(&self.path)
    }

    pub fn stop(&self) {
        self.handle.stop();
        self.runtime
            .block_on(async { tokio::time::timeout(DEADLINE, self.handle.stopped()).await })
            .expect("server stops in time");
    }
}

/// Proves nothing was sent before: a call sent now must be answered first.
pub trait ExpectNothingPending {
    fn expect_nothing_pending(&mut self);
}

impl ExpectNothingPending for RawClient {
    fn expect_nothing_pending(&mut self) {
        let reply = self.call(r#"{"jsonrpc":"2.0","method":"echo","params":{"value":"marker"},"id":"marker"}"#);
        assert_eq!(reply["id"], "marker", "an unexpected message arrived first: {reply}");
    }
}

pub fn error_code(reply: &Value) -> i64 {
    reply["error"]["code"].as_i64().unwrap_or_else(|| panic!("expected an error reply, got {reply}"))
}
