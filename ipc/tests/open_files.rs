//! The open-files limit is raised to fit `max_connections`, or the connection limit is lowered to
//! fit the open-files limit. In its own test binary because the limit is process-wide.

mod support;

use nix::sys::resource::{Resource, getrlimit, setrlimit};
use steward_ipc::Settings;
use support::TestServer;

#[test]
fn the_soft_limit_is_raised_and_a_low_hard_limit_lowers_the_connection_limit() {
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(hard >= 2048, "this test needs a hard open-files limit of at least 2048 (it is {hard})");

    // A soft limit too low for the default 1024 connections is raised to fit them.
    setrlimit(Resource::RLIMIT_NOFILE, 300, hard).unwrap();
    let server = TestServer::start(Settings::default());
    let (soft, _) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
    assert!(soft >= 1024 + 256, "soft limit stayed at {soft}");
    assert_eq!(server.handle.max_connections(), 1024);
    server.stop();

    // When even the hard limit is too low, fewer connections are served rather than failing
    // later with "too many open files". Lowering the hard limit needs no privilege; raising it
    // back does, so this part runs last.
    setrlimit(Resource::RLIMIT_NOFILE, 600, 600).unwrap();
    let server = TestServer::start(Settings::default());
    assert_eq!(server.handle.max_connections(), 600 - 256);
    assert_eq!(server.client().call(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#)["result"], 3);
    server.stop();
}
