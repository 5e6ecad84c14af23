//! Who may connect. In its own test binary because it changes the process umask.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use steward_ipc::Settings;
use support::TestServer;

#[test]
fn the_socket_mode_does_not_depend_on_the_umask() {
    let old = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    let server = TestServer::start(Settings::default());
    nix::sys::stat::umask(old);
    assert_eq!(std::fs::metadata(&server.path).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(server.path.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);
}

/// A process of another user is refused by peer credentials even when file permissions would let
/// it in. Needs root to run a child as another uid.
#[test]
fn a_peer_with_another_uid_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("a_peer_with_another_uid_is_refused: needs root to start a process as another user; not run");
        return;
    }
    let server = TestServer::start(Settings::default());
    // Open the file permissions on purpose, so only the peer-credential check stands in the way.
    for dir in server.path.ancestors().skip(1).take(3) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&server.path, std::fs::Permissions::from_mode(0o666)).unwrap();
    let script = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
try:
    s.sendall(b'{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}\n')
except OSError:
    pass  # refused before the request went out: the reply is already waiting
data = b''
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
"#;
    let output = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&server.path)
        .uid(65534)
        .gid(65534)
        .output()
        .expect("python3 is installed (.ci/run installs it)");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reply: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(reply["error"]["code"], steward_ipc::error::PERMISSION_DENIED);
    assert_eq!(reply["error"]["data"]["kind"], "permission_denied");
    assert_eq!(reply["error"]["data"]["peer_uid"], 65534);
    assert!(reply.get("result").is_none());
    // The owner is still served.
    assert_eq!(server.client().call(r#"{"jsonrpc":"2.0","method":"add","params":[1,2],"id":1}"#)["result"], 3);
}
