//! Integration-test harness: temporary git repositories driven through the real `steward` binary.
//!
//! Every wait has a deadline and polls a condition; nothing sleeps hoping something happened.
//! Dropping a [`TestProject`] stops its daemon (and kills it if it will not stop), so no test
//! leaves a daemon behind.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use serde_json::Value;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_steward");

#[path = "../../ipc/tests/support/raw.rs"]
mod raw;

// Each test binary uses its own part of the harness.
#[allow(unused_imports)]
pub use raw::{DEADLINE, POLL, RawClient, wait_until};

/// Runs a command to completion, failing the test if it outlives the deadline.
pub fn run_with_deadline(mut command: Command) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the steward binary starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stderr.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("command {command:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(POLL);
    };
    Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

/// What a finished command printed and returned.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Ran {
    pub fn of(output: Output) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Asserts exit code 0 and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        &self.stdout
    }

    /// Asserts the exit code.
    pub fn code(&self, expected: i32) -> &Self {
        assert_eq!(self.code, expected, "unexpected exit code\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }

    /// stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| panic!("stdout is JSON ({e}): {}", self.stdout))
    }
}

/// A temporary git repository to run steward in.
pub struct TestProject {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl TestProject {
    /// A fresh repository (`git init`) in a temporary directory.
    pub fn new() -> Self {
        Self::in_dir(tempfile::tempdir().unwrap(), None)
    }

    /// A clone of a fresh bare repository (`origin`, beside it) whose `main` has one commit.
    pub fn with_origin() -> (Self, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let origin = dir.path().join("origin.git");
        let root = dir.path().join("project");
        let git = |args: &[&str], cwd: &Path| {
            let status = Command::new("git")
                .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
                .args(args)
                .current_dir(cwd)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("git is installed");
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q", "--bare", "-b", "main", origin.to_str().unwrap()], dir.path());
        git(&["clone", "-q", origin.to_str().unwrap(), root.to_str().unwrap()], dir.path());
        std::fs::write(root.join("README.md"), "widgets\n").unwrap();
        git(&["checkout", "-q", "-b", "main"], &root);
        git(&["add", "README.md"], &root);
        git(&["commit", "-q", "-m", "First"], &root);
        git(&["push", "-q", "origin", "main"], &root);
        let root = root.canonicalize().unwrap();
        (Self { dir, root }, origin)
    }

    /// A repository at `relative` below a fresh temporary directory (for long paths).
    pub fn nested(relative: &str) -> Self {
        Self::in_dir(tempfile::tempdir().unwrap(), Some(relative))
    }

    /// A fresh repository in a temporary directory under `parent` (e.g. a small file system).
    pub fn inside(parent: &Path) -> Self {
        Self::in_dir(tempfile::tempdir_in(parent).unwrap(), None)
    }

    fn in_dir(dir: tempfile::TempDir, relative: Option<&str>) -> Self {
        let root = match relative {
            Some(relative) => dir.path().join(relative),
            None => dir.path().to_owned(),
        };
        std::fs::create_dir_all(&root).unwrap();
        let root = root.canonicalize().unwrap();
        let git = Command::new("git").args(["init", "-q"]).current_dir(&root).status().expect("git is installed");
        assert!(git.success());
        Self { dir, root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    pub fn socket(&self) -> PathBuf {
        self.path(".steward/daemon/daemon.sock")
    }

    /// A `steward` command in this project, isolated from the caller's environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .current_dir(&self.root)
            .env_remove("STEWARD_SOCKET")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("XDG_RUNTIME_DIR");
        command
    }

    /// Runs `steward ARGS` here to completion.
    pub fn run(&self, args: &[&str]) -> Ran {
        Ran::of(run_with_deadline(self.command(args)))
    }

    /// Starts the daemon and returns its pid.
    pub fn start(&self) -> u32 {
        let ran = self.run(&["daemon", "start", "--json"]);
        let out = ran.json();
        assert_eq!(out["started"], true, "start failed: {} {}", ran.stdout, ran.stderr);
        out["pid"].as_u64().unwrap() as u32
    }

    /// The pid in the PID file.
    pub fn pid_file(&self) -> Option<u32> {
        std::fs::read_to_string(self.path(".steward/daemon.pid")).ok()?.trim().parse().ok()
    }

    /// Writes `.steward/steward.toml`.
    pub fn write_config(&self, text: &str) {
        std::fs::create_dir_all(self.path(".steward")).unwrap();
        std::fs::write(self.path(".steward/steward.toml"), text).unwrap();
    }

    /// A raw line client on the project's socket.
    pub fn client(&self) -> RawClient {
        RawClient::connect(&self.socket())
    }

    /// Sends one request and returns the reply.
    pub fn call(&self, method: &str, params: Value) -> Value {
        let request = serde_json::json!({"jsonrpc": "2.0", "method": method, "params": params, "id": 1});
        self.client().call(&request.to_string())
    }
}

impl Drop for TestProject {
    fn drop(&mut self) {
        let Some(pid) = self.pid_file() else { return };
        if !process_exists(pid) {
            return;
        }
        let stopped = run_with_deadline(self.command(&["daemon", "stop", "--timeout", "10"]));
        if !stopped.status.success() && process_exists(pid) {
            kill(pid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Whether a process exists (and is not a zombie).
pub fn process_exists(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

pub fn kill(pid: u32, signal: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
}

/// `daemon.ping` over a fresh connection answers.
pub fn ping_ok(project: &TestProject) -> bool {
    let reply = project.call("daemon.ping", serde_json::json!({}));
    reply["result"]["pong"] == true
}

/// Waits for a child to exit; kills it and fails the test at the deadline.
pub fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("child {} did not exit within {DEADLINE:?}", child.id());
        }
        std::thread::sleep(POLL);
    }
}

/// Lines of a child's output, read on a thread so that waiting for one has a deadline.
pub struct Lines {
    lines: std::sync::mpsc::Receiver<String>,
}

impl Lines {
    pub fn new(output: impl Read + Send + 'static) -> Self {
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(output).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { lines }
    }

    /// The next line; fails the test at the deadline or if the output ends first.
    pub fn next(&self) -> String {
        self.lines.recv_timeout(DEADLINE).expect("a line of output before the deadline")
    }
}
