//! The socket file: where it is created, what is removed, what is never touched.

mod support;

use std::os::unix::fs::{FileTypeExt, PermissionsExt};

use steward_ipc::{BindError, Server, Settings};
use support::{TestServer, wait_until};

const PING: &str = r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#;

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn start_second(path: &std::path::Path) -> Result<steward_ipc::ServerHandle, BindError> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let methods = jsonrpsee::RpcModule::new(());
    runtime.block_on(async { Server::new(Settings::default()).start(path, methods) })
}

#[test]
fn socket_is_0600_inside_a_0700_directory() {
    let server = TestServer::start(Settings::default());
    assert!(std::fs::symlink_metadata(&server.path).unwrap().file_type().is_socket());
    assert_eq!(mode(&server.path), 0o600);
    assert_eq!(mode(server.path.parent().unwrap()), 0o700);
}

#[test]
fn an_existing_open_directory_is_closed_to_others() {
    let dir = tempfile::tempdir().unwrap();
    let sock_dir = dir.path().join("open");
    std::fs::create_dir(&sock_dir).unwrap();
    std::fs::set_permissions(&sock_dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let path = sock_dir.join("s.sock");
    let server = TestServer::start_at(Settings::default(), dir, path);
    assert_eq!(mode(server.path.parent().unwrap()), 0o700);
}

#[test]
fn a_live_servers_socket_is_never_taken_over() {
    let server = TestServer::start(Settings::default());
    let err = start_second(&server.path).unwrap_err();
    assert!(matches!(err, BindError::InUse { .. }), "{err}");
    assert!(err.to_string().contains("already listening"), "{err}");
    // The first server still answers on the same file.
    assert_eq!(server.client().call(PING)["result"], 3);
}

#[test]
fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists(), "binding leaves the file behind when the listener goes away");
    let server = TestServer::start_at(Settings::default(), dir, path);
    assert_eq!(server.client().call(PING)["result"], 3);
}

#[test]
fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("regular");
    std::fs::write(&path, "precious").unwrap();
    let err = start_second(&path).unwrap_err();
    assert!(matches!(err, BindError::NotASocket { .. }), "{err}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
}

#[test]
fn a_path_too_long_for_a_socket_is_a_clear_error() {
    let path = std::path::PathBuf::from(format!("/tmp/{}/s.sock", "d".repeat(120)));
    let err = start_second(&path).unwrap_err();
    assert!(matches!(err, BindError::PathTooLong { max: 107, .. }), "{err}");
}

#[test]
fn stop_removes_the_socket_and_finishes_running_calls() {
    let server = TestServer::start(Settings::default());
    let mut client = server.client();
    client.send(r#"{"jsonrpc":"2.0","method":"sleep","params":{"ms":200},"id":"inflight"}"#);
    wait_until("the call is running", || server.observed.running.load(std::sync::atomic::Ordering::SeqCst) == 1);
    server.handle.stop();
    // The running call still gets its reply, then the connection closes.
    assert_eq!(client.recv()["id"], "inflight");
    client.expect_closed();
    server.runtime.block_on(server.handle.stopped());
    assert!(!server.path.exists());
    assert_eq!(server.handle.connections(), 0);
}

#[test]
fn stop_leaves_a_socket_that_replaced_ours() {
    let server = TestServer::start(Settings::default());
    let moved = server.path.with_extension("moved");
    std::fs::rename(&server.path, &moved).unwrap();
    let replacement = std::os::unix::net::UnixListener::bind(&server.path).unwrap();
    server.stop();
    assert!(server.path.exists(), "someone else's socket was removed");
    drop(replacement);
}
