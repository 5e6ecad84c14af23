//! The one-call-at-a-time client: the same typed clients without a background task.

mod support;

use jsonrpsee::core::client::ClientT;
use jsonrpsee::rpc_params;
use steward_ipc::Settings;
use support::TestServer;

/// The calls of the test server without its subscriptions: what a one-call-at-a-time client serves.
#[jsonrpsee::proc_macros::rpc(client)]
trait Calls {
    #[method(name = "add", param_kind = map)]
    fn add(&self, a: i64, b: i64) -> jsonrpsee::core::RpcResult<i64>;
    #[method(name = "fail")]
    fn fail(&self) -> jsonrpsee::core::RpcResult<()>;
    #[method(name = "recorded")]
    fn recorded(&self) -> jsonrpsee::core::RpcResult<u64>;
}

#[test]
fn sequential_client_calls_errors_and_batches() {
    use jsonrpsee::core::params::BatchRequestBuilder;
    use steward_ipc::SequentialClient;
    let server = TestServer::start(Settings::default());
    server.runtime.block_on(async {
        let client = SequentialClient::connect(&server.path).await.unwrap();
        assert_eq!(client.add(2, 40).await.unwrap(), 42);
        let err = client.fail().await.unwrap_err();
        let jsonrpsee::core::client::Error::Call(obj) = err else { panic!("expected a call error, got {err}") };
        assert_eq!(obj.code(), -32050);
        // A method returning () has a `null` result.
        client.notification("record", rpc_params![]).await.unwrap();
        assert_eq!(client.recorded().await.unwrap(), 1);
        // Calls from several tasks are served in turn.
        let results = futures_util::future::join_all((0..20).map(|i| client.add(i, 1))).await;
        assert_eq!(results.into_iter().map(Result::unwrap).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
        // A batch whose replies come back out of order (the sleep finishes last) is put in order.
        let mut batch = BatchRequestBuilder::new();
        batch.insert("sleep", jsonrpsee::rpc_params![50]).unwrap();
        batch.insert("add", jsonrpsee::rpc_params![1, 2]).unwrap();
        batch.insert("nope", jsonrpsee::rpc_params![]).unwrap();
        let replies = client.batch_request::<serde_json::Value>(batch).await.unwrap();
        let replies: Vec<_> = replies.into_iter().collect();
        assert_eq!(replies[0].as_ref().unwrap(), &serde_json::json!(50));
        assert_eq!(replies[1].as_ref().unwrap(), &serde_json::json!(3));
        assert_eq!(replies[2].as_ref().unwrap_err().code(), -32601);
    });
}

#[test]
fn sequential_client_reports_refusals_and_a_vanished_server() {
    use steward_ipc::SequentialClient;
    let server = TestServer::start(Settings { max_connections: 1, ..Settings::default() });
    let holder = server.runtime.block_on(async { SequentialClient::connect(&server.path).await.unwrap() });
    server.runtime.block_on(async {
        assert_eq!(holder.add(1, 1).await.unwrap(), 2);
        let refused = SequentialClient::connect(&server.path).await.unwrap();
        let err = refused.add(1, 1).await.unwrap_err().to_string();
        assert!(err.contains("refused the connection") && err.contains("1 connections"), "{err}");
    });
    server.stop();
    server.runtime.block_on(async {
        let err = holder.add(1, 1).await.unwrap_err();
        assert!(matches!(err, jsonrpsee::core::client::Error::Transport(_)), "{err}");
        // And it stays broken, with the same reason, instead of misreading later bytes.
        let again = holder.add(1, 1).await.unwrap_err();
        assert_eq!(again.to_string(), err.to_string());
    });
}
