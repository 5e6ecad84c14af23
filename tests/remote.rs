//! Remote use over SSH, against a real OpenSSH server on 127.0.0.1: the daemon's socket is
//! forwarded with `ssh -L`, and the client runs from a directory that is no project, with only
//! `STEWARD_SOCKET` to go by. Also: the commands that only work on the daemon's machine refuse a
//! socket that is not their project's own.
//!
//! Without `sshd`, `ssh` or `ssh-keygen` the tunnel test says what is missing and passes, unless
//! `STEWARD_TEST_REQUIRE_SSH=1` (set by `.ci/run`) makes that a failure.

mod harness;

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{BIN, DEADLINE, POLL, Ran, TestProject, kill, process_exists, run_with_deadline, wait_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// What the remote test needs from OpenSSH.
struct Tools {
    sshd: PathBuf,
    ssh: PathBuf,
    keygen: PathBuf,
}

impl Tools {
    /// The three programs, or the names of the missing ones.
    fn find() -> Result<Tools, Vec<&'static str>> {
        // sshd usually lives in an sbin directory that is not on a user's PATH.
        let sshd = find_program("sshd", &["/usr/sbin", "/usr/local/sbin", "/sbin"]);
        let ssh = find_program("ssh", &["/usr/bin", "/usr/local/bin"]);
        let keygen = find_program("ssh-keygen", &["/usr/bin", "/usr/local/bin"]);
        match (sshd, ssh, keygen) {
            (Some(sshd), Some(ssh), Some(keygen)) => Ok(Tools { sshd, ssh, keygen }),
            (sshd, ssh, keygen) => {
                Err([("sshd", sshd.is_none()), ("ssh", ssh.is_none()), ("ssh-keygen", keygen.is_none())]
                    .into_iter()
                    .filter_map(|(name, missing)| missing.then_some(name))
                    .collect())
            }
        }
    }

    /// The tools, or `None` after saying what is missing (a failure where they are required).
    fn or_explain(test: &str) -> Option<Tools> {
        let missing = match Tools::find() {
            Ok(tools) => return Some(tools),
            Err(missing) => missing,
        };
        let message = format!(
            "{test}: not run: {} not found (sshd is looked for on PATH and in /usr/sbin, /usr/local/sbin, /sbin). \
             Install OpenSSH to run it: apt-get install openssh-server openssh-client",
            missing.join(", ")
        );
        assert!(std::env::var_os("STEWARD_TEST_REQUIRE_SSH").is_none(), "STEWARD_TEST_REQUIRE_SSH is set: {message}");
        eprintln!("{message}");
        None
    }
}

/// An absolute path to `name`: on PATH, else in one of `also`.
fn find_program(name: &str, also: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(also.iter().map(PathBuf::from))
        .filter(|dir| dir.is_absolute())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A child's standard error, gathered on a thread so that it never blocks the child, and so
/// that a failure can show it.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<(String, bool)>>);

impl Log {
    fn collect(output: impl Read + Send + 'static) -> Log {
        let log = Log::default();
        let shared = log.0.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { break };
                let mut shared = shared.lock().unwrap();
                shared.0.push_str(&line);
                shared.0.push('\n');
            }
            shared.lock().unwrap().1 = true;
        });
        log
    }

    fn text(&self) -> String {
        self.0.lock().unwrap().0.clone()
    }

    /// Whether everything the child wrote has been read (its end of the pipe is closed).
    fn complete(&self) -> bool {
        self.0.lock().unwrap().1
    }
}

/// A child process that is killed and reaped when dropped, also when the test panics.
struct Running {
    child: Child,
    log: Log,
}

impl Running {
    fn spawn(mut command: Command) -> Running {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
        let log = Log::collect(child.stderr.take().unwrap());
        Running { child, log }
    }

    fn exited(&mut self) -> bool {
        self.child.try_wait().unwrap().is_some()
    }

    /// Exited, and all it said has been read.
    fn exited_and_said_all(&mut self) -> bool {
        self.exited() && self.log.complete()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a short program to completion (within the deadline) and fails the test if it fails.
fn must_succeed(command: Command) {
    let description = format!("{command:?}");
    let output = run_with_deadline(command);
    assert!(output.status.success(), "{description} failed: {}", String::from_utf8_lossy(&output.stderr));
}

fn ran(output: Output) -> Ran {
    Ran {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Polls `condition` until it gives an answer, failing the test with `context()` at the deadline.
fn wait_for<T>(what: &str, context: impl Fn() -> String, mut condition: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(answer) = condition() {
            return answer;
        }
        assert!(start.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting until {what}\n{}", context());
        std::thread::sleep(POLL);
    }
}

/// A real sshd on 127.0.0.1, with its own host key, configuration and one authorized user key,
/// all in a temporary directory.
struct SshServer {
    // First, so that sshd is gone before its directory is removed.
    process: Running,
    dir: tempfile::TempDir,
    port: u16,
}

impl SshServer {
    fn start(tools: &Tools) -> SshServer {
        let dir = tempfile::tempdir().unwrap();
        for key in ["host_key", "user_key"] {
            let mut keygen = Command::new(&tools.keygen);
            keygen.args(["-q", "-t", "ed25519", "-N", "", "-C", "steward-test", "-f"]).arg(dir.path().join(key));
            must_succeed(keygen);
        }
        std::fs::copy(dir.path().join("user_key.pub"), dir.path().join("authorized_keys")).unwrap();
        // A port that was free a moment ago can be taken before sshd binds it, and sshd run as
        // root needs a directory the distribution's service would have created: both are seen in
        // sshd's own words and dealt with, a few times at most.
        let mut problems = Vec::new();
        for _ in 0..3 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(&config, sshd_config(dir.path(), port)).unwrap();
            let mut command = Command::new(&tools.sshd);
            command.arg("-D").arg("-e").arg("-f").arg(&config);
            let mut process = Running::spawn(command);
            let log = process.log.clone();
            let listening = wait_for(
                "sshd listens or exits",
                || format!("sshd said:\n{}", log.text()),
                || {
                    if log.text().contains("Server listening on") {
                        Some(true)
                    } else if process.exited_and_said_all() {
                        Some(false)
                    } else {
                        None
                    }
                },
            );
            if listening {
                return SshServer { process, dir, port };
            }
            let said = process.log.text();
            if let Some(missing) =
                said.lines().find_map(|line| line.strip_prefix("Missing privilege separation directory: "))
            {
                eprintln!("sshd run as root needs {missing} (its service creates it); creating it");
                std::fs::create_dir_all(missing.trim()).unwrap();
            } else if !said.contains("Address already in use") {
                panic!("sshd did not start:\n{said}");
            }
            problems.push(said);
        }
        panic!("sshd did not start in three attempts:\n{}", problems.join("\n"));
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ssh -N -L local:remote` to this server as the current user, once `local` answers a ping.
    fn forward(&mut self, tools: &Tools, local: &Path, remote: &Path) -> Running {
        let mut command = Command::new(&tools.ssh);
        command
            .args(["-N", "-F", "/dev/null"])
            .args(["-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no", "-o", "ExitOnForwardFailure=yes"])
            .args(["-o", "StreamLocalBindUnlink=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"])
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", self.path("known_hosts").display()))
            .arg("-i")
            .arg(self.path("user_key"))
            .args(["-p", &self.port.to_string(), "-L"])
            .arg(format!("{}:{}", local.display(), remote.display()))
            .arg("127.0.0.1");
        let mut tunnel = Running::spawn(command);
        let (ssh_log, sshd_log) = (tunnel.log.clone(), self.process.log.clone());
        let said = || format!("ssh said:\n{}\nsshd said:\n{}", ssh_log.text(), sshd_log.text());
        wait_for("the forwarded socket answers a ping", said, || {
            assert!(!tunnel.exited_and_said_all() && !self.process.exited(), "ssh or sshd exited\n{}", said());
            answers_ping(local).then_some(())
        });
        tunnel
    }
}

fn sshd_config(dir: &Path, port: u16) -> String {
    format!(
        "ListenAddress 127.0.0.1:{port}\n\
         HostKey {dir}/host_key\n\
         AuthorizedKeysFile {dir}/authorized_keys\n\
         PidFile {dir}/sshd.pid\n\
         StrictModes no\n\
         UsePAM no\n\
         PermitRootLogin prohibit-password\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         AllowStreamLocalForwarding yes\n\
         X11Forwarding no\n\
         PermitTTY no\n\
         PrintMotd no\n\
         UseDNS no\n",
        dir = dir.display()
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Whether a daemon answers `daemon.ping` on `socket`. A forwarded socket accepts connections
/// before (and after) anything answers behind it, so accepting proves nothing.
fn answers_ping(socket: &Path) -> bool {
    let Ok(mut stream) = UnixStream::connect(socket) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":1}\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok_and(|n| n > 0 && line.contains("\"pong\":true"))
}

/// `steward ARGS` from `dir`, with only `socket` to find the daemon.
fn via(socket: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .current_dir(dir)
        .env("STEWARD_SOCKET", socket)
        .env_remove("NOTIFY_SOCKET")
        .env_remove("XDG_RUNTIME_DIR");
    command
}

#[test]
fn a_daemon_is_driven_through_an_ssh_forwarded_socket() {
    let Some(tools) = Tools::or_explain("a_daemon_is_driven_through_an_ssh_forwarded_socket") else { return };
    let project = TestProject::new();
    project.write_config("[agent]\ncommand = [\"sh\", \"-c\", \"cat; echo; echo done\"]\n");
    let pid = project.start();
    // Where the daemon really listens, as docs/remote.md tells users to find it on the host.
    let status = project.run(&["daemon", "status", "--json"]).json();
    let remote_socket = PathBuf::from(status["socket"].as_str().unwrap());

    let mut server = SshServer::start(&tools);
    let elsewhere = tempfile::tempdir().unwrap();
    let local = elsewhere.path().join("steward.sock");
    let tunnel = server.forward(&tools, &local, &remote_socket);
    let run = |args: &[&str]| ran(run_with_deadline(via(&local, elsewhere.path(), args)));

    let status = run(&["status", "--json"]).json();
    assert_eq!(status["pid"], pid);
    assert_eq!(status["project"], project.root().display().to_string());
    assert!(run(&["status"]).ok().contains("running"));
    assert_eq!(run(&["daemon", "ping", "--json"]).json()["pid"], pid);

    // attach streams the events of a task submitted through the same tunnel.
    let mut attach = via(&local, elsewhere.path(), &["daemon", "attach", "--json"]);
    attach.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut attach = attach.spawn().unwrap();
    let events = harness::Lines::new(attach.stdout.take().unwrap());
    let attach_log = Log::collect(attach.stderr.take().unwrap());
    wait_until("attach subscribes", || {
        project.call("daemon.status", json!({}))["result"]["events"]["subscribers"].as_u64() == Some(1)
    });
    let task = run(&["task", "submit", "--wait", "--json", "hello over ssh"]).json();
    assert_eq!(task["state"], "completed", "{task}");
    let id = task["id"].as_u64().unwrap();
    let mut topics = Vec::new();
    while topics.last().map(String::as_str) != Some("task:completed") {
        let event: Value = serde_json::from_str(&events.next()).unwrap();
        if event["data"]["id"] == id {
            topics.push(event["topic"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(topics, ["task:submitted", "task:started", "task:completed"]);
    kill(attach.id(), Signal::SIGINT);
    assert!(harness::wait_exit(&mut attach).success(), "Ctrl-C detaches: {}", attach_log.text());
    assert!(attach_log.text().contains("detached"), "{}", attach_log.text());

    let listed = run(&["task", "list", "--json"]).json();
    let tasks = listed["tasks"].as_array().unwrap();
    assert!(tasks.iter().any(|task| task["id"] == id && task["prompt"] == "hello over ssh"), "{listed}");
    assert!(run(&["task", "list"]).ok().contains("hello over ssh"));
    assert_eq!(run(&["task", "get", &id.to_string(), "--json"]).json()["state"], "completed");
    assert_eq!(run(&["task", "output", &id.to_string()]).ok(), "hello over ssh\ndone\n");
    let queued = run(&["task", "submit", "--json", "--priority", "5", "another"]).json();
    assert_eq!(queued["priority"], 5);
    for args in [
        &["task", "stats"][..],
        &["automation", "status"],
        &["session", "list"],
        &["github", "status"],
        &["event", "emit", "remote:hello"],
        &["daemon", "reload"],
    ] {
        run(args).ok();
    }
    assert!(run(&["event", "list", "--json"]).ok().contains("remote:hello"));

    // What only works on the daemon's machine refuses, and says where to run it.
    for (args, says) in [
        (&["daemon", "start"][..], "`steward daemon start` starts a daemon on this machine"),
        (&["daemon", "logs"], "`steward daemon logs` reads the daemon's log file on this machine"),
    ] {
        let refused = run(args);
        refused.code(2);
        assert!(refused.stderr.contains(says), "{}", refused.stderr);
        assert!(refused.stderr.contains("run it on the daemon's machine"), "{}", refused.stderr);
    }

    // ssh leaves its socket file behind when it exits: the client says what that means, and a
    // new forward with StreamLocalBindUnlink replaces the file.
    drop(tunnel);
    assert!(local.exists(), "ssh removed its socket file on exit; docs/remote.md says it does not");
    let refused = run(&["status"]);
    refused.code(3);
    assert!(
        refused.stderr.contains("the socket refuses connections; if ssh forwarded it, that ssh has exited"),
        "{}",
        refused.stderr
    );
    let _tunnel = server.forward(&tools, &local, &remote_socket);
    assert_eq!(run(&["status", "--json"]).json()["pid"], pid);

    // Stopping works through the tunnel too; afterwards the forward accepts but nobody answers.
    assert!(run(&["daemon", "stop", "--timeout", "10"]).ok().starts_with("stopped"));
    // Stop returns once the daemon no longer answers, which can be a moment before it is gone.
    wait_until("the daemon exits", || !process_exists(pid));
    let gone = run(&["status"]);
    gone.code(3);
    assert!(gone.stderr.contains("the connection was closed before any reply"), "{}", gone.stderr);
}

#[test]
fn commands_of_the_daemons_machine_refuse_another_socket() {
    let project = TestProject::new();
    let pid = project.start();
    let elsewhere = tempfile::tempdir().unwrap();
    let other = elsewhere.path().join("forwarded.sock");
    let refusals = [
        (&["daemon", "start"][..], "`steward daemon start` starts a daemon"),
        (&["daemon", "run"], "`steward daemon run` starts a daemon"),
        (&["daemon", "restart"], "`steward daemon restart` starts a daemon"),
        (&["daemon", "logs"], "`steward daemon logs` reads the daemon's log file"),
        (&["config", "check"], "`steward config check` reads the configuration file"),
        (&["config", "show"], "`steward config show` reads the configuration file"),
        (&["service", "install", "--systemd", "--print"], "`steward service install` installs a service for a daemon"),
    ];
    // In the project with someone else's socket, and from a directory that is no project.
    for dir in [project.root(), elsewhere.path()] {
        for (args, says) in refusals {
            let refused = ran(run_with_deadline(via(&other, dir, args)));
            refused.code(2);
            let expected = format!(
                "{says} on this machine; --socket (or STEWARD_SOCKET) points at another daemon's socket ({}): \
                 run it on the daemon's machine, or leave out --socket and unset STEWARD_SOCKET",
                other.display()
            );
            assert!(refused.stderr.contains(&expected), "{args:?} from {}: {}", dir.display(), refused.stderr);
        }
    }
    let mut with_flag = project.command(&["daemon", "start", "--socket"]);
    with_flag.arg(&other);
    ran(run_with_deadline(with_flag)).code(2);
    assert!(process_exists(pid) && harness::ping_ok(&project), "a refused restart stopped nothing");

    // The project's own socket, however it is spelled, is no reason to refuse.
    for own in [project.socket(), PathBuf::from(".steward/daemon/daemon.sock")] {
        let started = ran(run_with_deadline(via(&own, project.root(), &["daemon", "start"])));
        assert_eq!(started.ok().trim(), format!("already running (pid {pid})"));
        must_succeed(via(&own, project.root(), &["daemon", "logs", "-n", "1"]));
        must_succeed(via(&own, project.root(), &["config", "check"]));
    }

    // --project with another socket talks to that socket only: this project's daemon is not
    // "not running" because of it, and is not stopped.
    let mut stop = project.command(&["daemon", "stop", "--project"]);
    stop.arg(project.root()).arg("--socket").arg(&other);
    let stopped = ran(run_with_deadline(stop));
    assert!(stopped.ok().contains(&format!("not running at {}", other.display())), "{}", stopped.stdout);
    assert!(process_exists(pid) && harness::ping_ok(&project));
}
