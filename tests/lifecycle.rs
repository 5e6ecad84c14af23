//! The daemon's life, driven through the real binary: start, already running, concurrent starts,
//! stale files after `kill -9`, invalid configuration, long paths, stop, signals, reload,
//! foreground mode with sd_notify.

mod harness;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use harness::{TestProject, kill, process_exists, wait_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn state_json(project: &TestProject) -> Value {
    serde_json::from_str(&std::fs::read_to_string(project.path(".steward/daemon/state.json")).unwrap()).unwrap()
}

/// Pids of live processes whose working directory is the project root (the daemon and any
/// still-running CLI processes).
fn processes_in(project: &TestProject) -> Vec<u32> {
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == project.root()) && process_exists(pid) {
            pids.push(pid);
        }
    }
    pids
}

#[test]
fn start_reports_ready_only_when_the_socket_answers() {
    let project = TestProject::new();
    let ran = project.run(&["daemon", "start"]);
    let out = ran.ok();
    let pid: u32 = out.trim().strip_prefix("started (pid ").unwrap().split(',').next().unwrap().parse().unwrap();
    assert_eq!(out.trim(), format!("started (pid {pid}, socket {})", project.socket().display()));
    // Ready means ready: the socket answers at once, no waiting.
    assert!(harness::ping_ok(&project));
    assert_eq!(project.pid_file(), Some(pid));
    assert_eq!(mode(&project.socket()), 0o600);
    assert_eq!(mode(&project.path(".steward/daemon")), 0o700);
    let state = state_json(&project);
    assert_eq!((state["state"].as_str(), state["pid"].as_u64()), (Some("running"), Some(pid as u64)));
    assert_eq!(state["socket"], project.socket().display().to_string());
    let heartbeat: Value =
        serde_json::from_str(&std::fs::read_to_string(project.path(".steward/daemon/heartbeat")).unwrap()).unwrap();
    assert_eq!(heartbeat["pid"], pid);
    assert!(heartbeat["timestamp"].as_str().unwrap().ends_with('Z'));
    assert_eq!(std::fs::read_to_string(project.path(".steward/.gitignore")).unwrap(), steward::layout::GITIGNORE);
}

#[test]
fn a_second_start_says_already_running_and_changes_nothing() {
    let project = TestProject::new();
    let pid = project.start();
    let ran = project.run(&["daemon", "start"]);
    assert_eq!(ran.ok().trim(), format!("already running (pid {pid})"));
    assert_eq!(project.pid_file(), Some(pid));
    // The losing start's forked child may still be exiting; then only the daemon is left.
    wait_until("only the daemon is left", || processes_in(&project) == vec![pid]);
    assert!(harness::ping_ok(&project));
}

#[test]
fn concurrent_starts_make_exactly_one_daemon() {
    let project = TestProject::new();
    let outputs: Vec<Value> = std::thread::scope(|scope| {
        let runs: Vec<_> = (0..6).map(|_| scope.spawn(|| project.run(&["daemon", "start", "--json"]))).collect();
        runs.into_iter().map(|run| run.join().unwrap().json()).collect()
    });
    let started: Vec<&Value> = outputs.iter().filter(|o| o["started"] == true).collect();
    assert_eq!(started.len(), 1, "exactly one start wins: {outputs:?}");
    let pid = started[0]["pid"].as_u64().unwrap();
    for other in outputs.iter().filter(|o| o["started"] == false) {
        assert_eq!(other["already_running"], true);
        assert_eq!(other["pid"].as_u64(), Some(pid), "the losers name the winner: {outputs:?}");
    }
    wait_until("only the daemon is left", || processes_in(&project) == vec![pid as u32]);
}

#[test]
fn stale_pid_file_and_socket_after_kill_9_do_not_block_a_start() {
    let project = TestProject::new();
    let pid = project.start();
    kill(pid, Signal::SIGKILL);
    wait_until("the daemon is gone", || !process_exists(pid));
    assert!(project.socket().exists() && project.pid_file() == Some(pid), "kill -9 leaves both behind");

    let status = project.run(&["status"]);
    status.code(3);
    assert!(status.stderr.contains("stale socket"), "{}", status.stderr);

    let new_pid = project.start();
    assert_ne!(new_pid, pid);
    assert!(harness::ping_ok(&project));
    assert_eq!(project.pid_file(), Some(new_pid));
}

#[test]
fn an_invalid_configuration_refuses_to_start_and_detaches_nothing() {
    let project = TestProject::new();
    project.write_config("[daemon]\nmax_parallel_tasks = 0\n");
    let ran = project.run(&["daemon", "start"]);
    ran.code(1);
    assert!(
        ran.stderr.contains("steward.toml:2:22: `daemon.max_parallel_tasks` = 0 is out of range"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("fix: use a value from 1 to 64"), "{}", ran.stderr);
    assert!(project.pid_file().is_none());
    assert!(!project.socket().exists());
    assert!(processes_in(&project).is_empty());

    project.write_config("[daemon]\nmax_paralel_tasks = 2\n");
    let ran = project.run(&["daemon", "start"]);
    ran.code(1);
    assert!(ran.stderr.contains("did you mean `max_parallel_tasks`?"), "{}", ran.stderr);
}

#[test]
fn a_project_path_too_long_for_a_socket_uses_the_fallback() {
    let deep = ["a-rather-long-directory-name-for-testing-socket-paths"; 3].join("/");
    let project = TestProject::nested(&deep);
    assert!(project.socket().as_os_str().len() > 107);
    let pid = project.start();
    let state = state_json(&project);
    let socket = std::path::PathBuf::from(state["socket"].as_str().unwrap());
    let uid = nix::unistd::geteuid().as_raw();
    assert!(socket.starts_with(format!("/tmp/steward-{uid}")), "{}", socket.display());
    assert_eq!(mode(&socket), 0o600);
    assert_eq!(mode(socket.parent().unwrap()), 0o700);
    // Clients find it through state.json.
    let status = project.run(&["status", "--json"]);
    assert_eq!(status.json()["pid"], pid);
    project.run(&["daemon", "stop"]).ok();
    assert!(!socket.exists());
}

#[test]
fn stop_returns_only_when_the_daemon_is_gone_and_cleans_up() {
    let project = TestProject::new();
    let pid = project.start();
    let ran = project.run(&["daemon", "stop"]);
    assert_eq!(ran.ok().trim(), format!("stopped (pid {pid})"));
    assert!(!process_exists(pid), "stop returned while the daemon still ran");
    assert!(!project.socket().exists());
    assert!(project.pid_file().is_none());
    assert_eq!(state_json(&project)["state"], "stopped");
    let ran = project.run(&["daemon", "stop"]);
    assert!(ran.ok().contains("not running"));
    let ran = project.run(&["daemon", "stop", "--json"]);
    assert_eq!(ran.json(), json!({"stopped": false, "running": false}));
}

#[test]
fn status_exits_3_when_not_running() {
    let project = TestProject::new();
    let ran = project.run(&["status"]);
    ran.code(3);
    assert_eq!(
        ran.stderr.trim(),
        format!("steward is not running in {} (no socket at {})", project.root().display(), project.socket().display())
    );
    let ran = project.run(&["daemon", "status", "--json"]);
    ran.code(3);
    let out = ran.json();
    assert_eq!(out["running"], false);
    assert_eq!(out["socket"], project.socket().display().to_string());
    project.run(&["daemon", "ping"]).code(3);
}

#[test]
fn sigterm_and_sigint_stop_gracefully() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let project = TestProject::new();
        let pid = project.start();
        let mut subscriber = project.client();
        subscriber.send(r#"{"jsonrpc":"2.0","method":"event.subscribe","params":{},"id":1}"#);
        assert!(subscriber.recv()["result"].is_number());
        kill(pid, signal);
        // Subscribers hear about the stop before the connection closes.
        let note = subscriber.recv();
        assert_eq!(note["params"]["result"]["topic"], "daemon:stopping", "{note}");
        subscriber.expect_closed();
        wait_until("the daemon exits", || !process_exists(pid));
        assert!(!project.socket().exists());
        assert!(project.pid_file().is_none());
        assert_eq!(state_json(&project)["state"], "stopped");
        let log = std::fs::read_to_string(project.path(".steward/daemon/daemon.log")).unwrap();
        assert!(log.contains("stop requested") && log.contains("stopped"), "{log}");
    }
}

#[test]
fn sighup_reloads_and_an_invalid_file_keeps_the_old_configuration() {
    let project = TestProject::new();
    let pid = project.start();
    let status = |p: &TestProject| p.call("daemon.status", json!({}))["result"].clone();
    assert_eq!(status(&project)["config"]["heartbeat_interval_s"], 30);

    project.write_config("[daemon]\nheartbeat_interval_s = 1\n");
    kill(pid, Signal::SIGHUP);
    wait_until("the reload applies", || status(&project)["config"]["heartbeat_interval_s"] == 1);
    assert_eq!(status(&project)["config"]["exists"], true);
    // The heartbeat follows the new period.
    let read = || std::fs::read_to_string(project.path(".steward/daemon/heartbeat")).unwrap();
    let first = read();
    wait_until("the heartbeat is rewritten", || read() != first);

    project.write_config("[daemon]\nheartbeat_interval_s = \"fast\"\n");
    kill(pid, Signal::SIGHUP);
    wait_until("the refusal is recorded", || status(&project)["config"]["reload_error"].is_string());
    let current = status(&project);
    assert_eq!(current["config"]["heartbeat_interval_s"], 1, "the previous configuration stays in force");
    assert!(current["config"]["reload_error"].as_str().unwrap().contains("steward.toml:2:"), "{current}");
    assert!(harness::ping_ok(&project));
}

#[test]
fn reload_command_reports_success_and_refusal() {
    let project = TestProject::new();
    project.start();
    assert_eq!(project.run(&["daemon", "reload"]).ok().trim(), "reloaded the configuration");
    project.write_config("[daemon]\nmax_message_bytes = 2048\n");
    let out = project.run(&["daemon", "reload"]).ok().to_owned();
    assert!(out.contains("daemon.max_message_bytes take effect only after `steward daemon restart`"), "{out}");
    // The setting the daemon started with is what counts: a second reload still says so.
    let out = project.run(&["daemon", "reload"]).ok().to_owned();
    assert!(out.contains("daemon.max_message_bytes take effect only after"), "{out}");
    project.write_config("[daemon\n");
    let ran = project.run(&["daemon", "reload"]);
    ran.code(1);
    // A refusal shows in state.json at once, not at the next heartbeat.
    wait_until("state.json records the refusal", || state_json(&project)["config"]["reload_error"].is_string());
    assert!(
        ran.stderr.contains("kept its previous configuration") && ran.stderr.contains("steward.toml:1:"),
        "{}",
        ran.stderr
    );
    let ran = project.run(&["daemon", "reload", "--json"]);
    ran.code(1);
    assert_eq!(ran.json()["reloaded"], false);
}

#[test]
fn restart_replaces_the_daemon() {
    let project = TestProject::new();
    let pid = project.start();
    let out = project.run(&["daemon", "restart"]).ok().to_owned();
    assert!(out.contains(&format!("stopped (pid {pid})")) && out.contains("started (pid "), "{out}");
    let new_pid = project.pid_file().unwrap();
    assert_ne!(new_pid, pid);
    assert!(!process_exists(pid));
    assert!(harness::ping_ok(&project));
}

#[test]
fn foreground_mode_notifies_systemd_and_stops_on_sigterm() {
    let project = TestProject::new();
    let notify_dir = tempfile::tempdir().unwrap();
    let notify_path = notify_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(harness::DEADLINE)).unwrap();
    let mut child = project
        .command(&["daemon", "start", "--foreground"])
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 arrives");
    let ready = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(ready.contains("READY=1") && ready.contains(&format!("MAINPID={}", child.id())), "{ready}");
    assert!(harness::ping_ok(&project), "ready was sent before the socket answered");
    assert_eq!(project.run(&["daemon", "start"]).ok().trim(), format!("already running (pid {})", child.id()));

    kill(child.id(), Signal::SIGTERM);
    let stopping = loop {
        let n = notify.recv(&mut buf).expect("STOPPING=1 arrives");
        let message = String::from_utf8_lossy(&buf[..n]).into_owned();
        if message.contains("STOPPING=1") {
            break message;
        }
    };
    assert!(stopping.starts_with("STOPPING=1"));
    let status = harness::wait_exit(&mut child);
    assert!(status.success());
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(stdout.starts_with(&format!("started (pid {}", child.id())), "{stdout}");
}

#[test]
fn attach_streams_events_and_ctrl_c_detaches() {
    let project = TestProject::new();
    let pid = project.start();
    let mut attach =
        project.command(&["daemon", "attach", "--json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let lines = harness::Lines::new(attach.stdout.take().unwrap());
    // attach subscribes asynchronously: keep emitting until the first event shows up.
    let seen = Arc::new(AtomicBool::new(false));
    let emitter = {
        let (socket, seen) = (project.socket(), seen.clone());
        std::thread::spawn(move || {
            let mut client = harness::RawClient::connect(&socket);
            let mut i = 0;
            while !seen.load(Ordering::SeqCst) {
                let reply = client.call(&format!(
                    r#"{{"jsonrpc":"2.0","method":"event.emit","params":{{"topic":"build:done","data":{{"n":{i}}}}},"id":1}}"#
                ));
                assert!(reply["result"]["seq"].is_number());
                i += 1;
            }
        })
    };
    let line = lines.next();
    let event: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(event["topic"], "build:done");
    assert!(event["seq"].is_number() && event["time"].is_string());
    seen.store(true, Ordering::SeqCst);
    kill(attach.id(), Signal::SIGINT);
    let status = harness::wait_exit(&mut attach);
    assert!(status.success(), "Ctrl-C detaches with exit 0");
    emitter.join().unwrap();
    assert!(process_exists(pid), "the daemon keeps running after attach detaches");
    assert!(harness::ping_ok(&project));
}

#[test]
fn logs_show_the_last_lines_and_follow() {
    let project = TestProject::new();
    project.start();
    let out = project.run(&["daemon", "logs", "-n", "5"]).ok().to_owned();
    assert!(out.contains("ready"), "{out}");
    let mut follow = project.command(&["daemon", "logs", "-f", "-n", "0"]).stdout(Stdio::piped()).spawn().unwrap();
    let lines = harness::Lines::new(follow.stdout.take().unwrap());
    // `-n 0` starts at the end of the log as it is when the follower opens it: wait for that.
    let log = project.path(".steward/daemon/daemon.log");
    let fds = format!("/proc/{}/fd", follow.id());
    wait_until("the follower has the log open", || {
        std::fs::read_dir(&fds)
            .map(|entries| entries.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == log)))
            .unwrap_or(false)
    });
    project.run(&["daemon", "reload"]).ok();
    let line = lines.next();
    assert!(line.contains("configuration reloaded"), "{line}");
    follow.kill().unwrap();
    harness::wait_exit(&mut follow);
}

#[test]
fn start_refuses_a_socket_override() {
    let project = TestProject::new();
    let ran = project.run(&["daemon", "start", "--socket", "/tmp/elsewhere.sock"]);
    ran.code(2);
    assert!(ran.stderr.contains("`steward daemon start` starts a daemon on this machine"), "{}", ran.stderr);
    let mut command = project.command(&["daemon", "start"]);
    command.env("STEWARD_SOCKET", "/tmp/elsewhere.sock");
    let ran = harness::run_with_deadline(command);
    assert_eq!(ran.status.code(), Some(2));
}

#[test]
fn commands_find_the_project_from_a_subdirectory_and_by_socket() {
    let project = TestProject::new();
    let pid = project.start();
    std::fs::create_dir_all(project.path("src/deep")).unwrap();
    let mut command = project.command(&["status", "--json"]);
    command.current_dir(project.path("src/deep"));
    let ran = harness::run_with_deadline(command);
    let status: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(status["pid"], pid);
    // From anywhere, with only the socket (as through an SSH tunnel).
    let mut command = std::process::Command::new(harness::BIN);
    command.args(["daemon", "ping", "--json"]).current_dir("/").env("STEWARD_SOCKET", project.socket());
    let ran = harness::run_with_deadline(command);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    let pong: Value = serde_json::from_slice(&ran.stdout).unwrap();
    assert_eq!(pong["pid"], pid);
}

#[test]
fn a_client_of_another_user_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("a_client_of_another_user_is_refused: needs root to run a client as another user; not run");
        return;
    }
    let project = TestProject::new();
    project.start();
    // Open the file permissions on purpose, so only the peer-credential check stands in the way.
    for dir in project.socket().ancestors().skip(1).take_while(|d| *d != Path::new("/tmp") && *d != Path::new("/")) {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(project.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    let mut command = std::process::Command::new(harness::BIN);
    command.args(["daemon", "ping"]).current_dir("/").env("STEWARD_SOCKET", project.socket());
    std::os::unix::process::CommandExt::uid(&mut command, 65534);
    std::os::unix::process::CommandExt::gid(&mut command, 65534);
    let ran = harness::run_with_deadline(command);
    assert_eq!(ran.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains("refused the connection: permission denied"), "{stderr}");
    // Stopping another user's daemon fails with a reason, not a bare OS error.
    let mut command = std::process::Command::new(harness::BIN);
    command.args(["daemon", "stop", "--project"]).arg(project.root()).current_dir("/");
    std::os::unix::process::CommandExt::uid(&mut command, 65534);
    let ran = harness::run_with_deadline(command);
    assert_eq!(ran.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains("belongs to another user"), "{stderr}");
    assert!(harness::ping_ok(&project));
}

/// A socket forwarder like `ssh -L`: accepts even when nothing listens at the far end, and then
/// closes the connection at once.
fn forward(from: std::path::PathBuf, to: std::path::PathBuf) {
    let listener = std::os::unix::net::UnixListener::bind(&from).unwrap();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { return };
            let Ok(upstream) = std::os::unix::net::UnixStream::connect(&to) else { continue };
            for (mut a, mut b) in [(client.try_clone().unwrap(), upstream.try_clone().unwrap()), (upstream, client)] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

#[test]
fn stop_and_status_through_a_forwarded_socket() {
    let project = TestProject::new();
    let pid = project.start();
    let dir = tempfile::tempdir().unwrap();
    let forwarded = dir.path().join("fwd.sock");
    forward(forwarded.clone(), project.socket());
    let remote = |args: &[&str]| {
        let mut command = std::process::Command::new(harness::BIN);
        command.args(args).current_dir("/").env("STEWARD_SOCKET", &forwarded);
        harness::run_with_deadline(command)
    };
    let ran = remote(&["status", "--json"]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&ran.stdout).unwrap()["pid"], pid);
    let ran = remote(&["daemon", "stop", "--timeout", "10"]);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    // With only a socket, stop returns once the daemon stops answering; the process may take a
    // moment longer to be gone.
    wait_until("the daemon exits", || !process_exists(pid));
    // The forwarder still accepts, but nothing answers: that is "not running".
    let ran = remote(&["daemon", "ping"]);
    assert_eq!(ran.status.code(), Some(3), "{}", String::from_utf8_lossy(&ran.stderr));
}

#[test]
fn heartbeat_keeps_time() {
    let project = TestProject::new();
    project.write_config("[daemon]\nheartbeat_interval_s = 1\n");
    project.start();
    let read = || -> Value {
        serde_json::from_str(&std::fs::read_to_string(project.path(".steward/daemon/heartbeat")).unwrap()).unwrap()
    };
    let first = read();
    wait_until("the heartbeat advances", || read()["timestamp"] != first["timestamp"]);
    let state = state_json(&project);
    assert_eq!(state["config"]["heartbeat_interval_s"], 1);
}
