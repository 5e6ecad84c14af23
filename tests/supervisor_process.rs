//! The agent process layer against real processes and real signals: fake agents from
//! `tests/agents/` run under the real `steward __task-shim`.
//!
//! Nothing sleeps hoping something happened: tests wait for files the agents write, or poll
//! `/proc` with a deadline. Some tests re-run this test binary as a child process (a stand-in
//! daemon that can be SIGKILLed, or one with a different environment); the child runs one
//! named test with `STEWARD_TEST_CHILD` set, and that test does nothing otherwise.
//!
//! The async tests use a multi-thread runtime: the waits block the test's own thread, and the
//! output capture must go on meanwhile on a worker (as it does in the daemon).
#![cfg(target_os = "linux")]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use steward::supervisor::process::{
    AgentExit, AgentLaunch, OutputLimits, PromptInput, RunningAgent, SpawnError, spawn,
};

const SHIM: &str = env!("CARGO_BIN_EXE_steward");
const AGENTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/agents");
const DEADLINE: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(5);
const PROMPT: &str = "Fix the flaky test.\nThen say so.\n";
const MIB: u64 = 1024 * 1024;

/// Which child-process test to run, set only in child processes.
const CHILD_ENV: &str = "STEWARD_TEST_CHILD";

/// A temporary project with a prompt file; the fake agents leave pid files in `AGENT_DIR`.
struct Project {
    _tmp: Option<tempfile::TempDir>,
    root: PathBuf,
}

impl Project {
    fn new() -> Project {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::create_dir_all(root.join(".steward/daemon/tasks/7")).unwrap();
        std::fs::create_dir_all(root.join("agent-dir")).unwrap();
        std::fs::write(root.join(".steward/daemon/tasks/7/prompt.md"), PROMPT).unwrap();
        Project { _tmp: Some(tmp), root }
    }

    /// The project another process of this test created.
    fn existing(root: PathBuf) -> Project {
        Project { _tmp: None, root }
    }

    /// Runs `agent` (a script of `tests/agents/`) with `args`, prompt on stdin.
    fn launch(&self, agent: &str, args: &[&str]) -> AgentLaunch {
        let mut command = vec![format!("{AGENTS}/{agent}")];
        command.extend(args.iter().map(|arg| arg.to_string()));
        AgentLaunch {
            task_id: 7,
            command,
            prompt: PromptInput::Stdin,
            prompt_file: self.root.join(".steward/daemon/tasks/7/prompt.md"),
            workdir: self.root.clone(),
            project_root: self.root.clone(),
            env: vec![("AGENT_DIR".into(), self.agent_dir().display().to_string())],
            config_key: "[agent]".into(),
            output_path: self.output_path(),
            shim_executable: SHIM.into(),
        }
    }

    fn agent_dir(&self) -> PathBuf {
        self.root.join("agent-dir")
    }

    fn output_path(&self) -> PathBuf {
        self.root.join(".steward/daemon/tasks/7/output.log")
    }

    fn output(&self) -> Vec<u8> {
        std::fs::read(self.output_path()).unwrap()
    }

    fn output_text(&self) -> String {
        String::from_utf8(self.output()).unwrap()
    }

    /// Waits until the agent has written `name` into its directory.
    fn wait_for_file(&self, name: &str) {
        let path = self.agent_dir().join(name);
        wait_until(&format!("{} exists", path.display()), || path.exists());
    }

    /// The pid an agent recorded as `name.pid`, waiting for it.
    fn recorded_pid(&self, name: &str) -> i32 {
        self.wait_for_file(&format!("{name}.pid"));
        let text = std::fs::read_to_string(self.agent_dir().join(format!("{name}.pid"))).unwrap();
        text.trim().parse().unwrap()
    }

    fn release(&self) {
        std::fs::write(self.agent_dir().join("release"), "").unwrap();
    }
}

fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out after {DEADLINE:?} waiting until {what}");
        std::thread::sleep(POLL);
    }
}

async fn run(launch: AgentLaunch) -> AgentExit {
    run_with(launch, OutputLimits::default()).await
}

async fn run_with(launch: AgentLaunch, limits: OutputLimits) -> AgentExit {
    let mut agent = spawn(launch, limits).await.expect("the agent starts");
    let exit = deadline(agent.wait()).await;
    assert_reaped(&agent);
    exit
}

/// `future`, or a test failure at the deadline.
async fn deadline<T>(future: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, future).await.expect("finished before the deadline")
}

/// A process's state letter from `/proc/<pid>/stat` (`Z` for a zombie), `None` once it is gone.
fn process_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
}

/// `/proc/<pid>/stat` fields after the command name: state, ppid, pgrp, session, ...
fn stat_fields(pid: i32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    stat[stat.rfind(')').unwrap() + 1..].split_whitespace().map(str::to_owned).collect()
}

/// Zombies whose parent is `parent`.
fn zombie_children_of(parent: i32) -> BTreeSet<i32> {
    let mut zombies = BTreeSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some(close) = stat.rfind(')') else { continue };
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        if fields.first() == Some(&"Z") && fields.get(1).and_then(|ppid| ppid.parse().ok()) == Some(parent) {
            zombies.insert(pid);
        }
    }
    zombies
}

fn assert_gone(pids: &[(&str, i32)]) {
    for (name, pid) in pids {
        assert_eq!(process_state(*pid), None, "the {name} (pid {pid}) is still there");
    }
}

/// After `wait`, the shim was reaped: no zombie left behind in this process.
fn assert_reaped(agent: &RunningAgent) {
    let shim = agent.pid() as i32;
    assert_eq!(process_state(shim), None, "the shim (pid {shim}) was not reaped");
    assert!(!zombie_children_of(std::process::id() as i32).contains(&shim));
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

// --- prompt, environment, working directory ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_goes_to_stdin() {
    let project = Project::new();
    let exit = run(project.launch("echo-stdin.sh", &[])).await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(project.output_text(), PROMPT);
    assert_eq!(exit.output.total_bytes, PROMPT.len() as u64);
    assert!(!exit.output.truncated);
    assert_eq!(exit.output.last_lines, PROMPT.trim_end());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prompt_goes_as_the_last_argument() {
    let project = Project::new();
    let mut launch = project.launch("echo-args.sh", &["--print", "two words"]);
    launch.prompt = PromptInput::LastArgument(PROMPT.into());
    let exit = run(launch).await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(project.output_text(), format!("--print\ntwo words\n{PROMPT}\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prompt_too_long_for_an_argument_is_a_clear_error() {
    let project = Project::new();
    let mut launch = project.launch("echo-args.sh", &[]);
    launch.prompt = PromptInput::LastArgument("x".repeat(200 * 1024));
    let err = spawn(launch, OutputLimits::default()).await.unwrap_err();
    assert!(matches!(err, SpawnError::PromptTooLong { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the prompt (204800 bytes) is too long to pass as an argument; \
         set [agent].prompt_via = \"stdin\" in .steward/steward.toml"
    );
}

/// The daemon's environment holds NOTIFY_SOCKET (as under systemd); the agent's must not.
#[test]
fn the_agent_gets_its_environment_and_not_the_daemons_service_variables() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_checks_the_agent_environment", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "environment")
        .env("NOTIFY_SOCKET", "/run/systemd/notify")
        .env("LISTEN_FDS", "1")
        .output()
        .unwrap();
    assert!(
        output.status.success() && String::from_utf8_lossy(&output.stdout).contains("1 passed"),
        "the child test failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_checks_the_agent_environment() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("environment") {
        return;
    }
    assert_eq!(std::env::var("NOTIFY_SOCKET").as_deref(), Ok("/run/systemd/notify"));
    let project = Project::new();
    let worktree = project.root.join(".steward/worktrees/issue-3");
    std::fs::create_dir_all(&worktree).unwrap();
    let mut launch = project.launch("print-env.sh", &[]);
    launch.workdir = worktree.clone();
    launch.env.push(("EXTRA".into(), "extra value".into()));
    launch.env.push(("NOTIFY_SOCKET".into(), "/also/not/this".into()));
    let prompt_file = launch.prompt_file.clone();
    let exit = run(launch).await;
    assert!(exit.success(), "{exit:?}");
    let output = project.output_text();
    let mut printed = output.lines();
    assert_eq!(
        printed.by_ref().take(7).collect::<Vec<_>>(),
        [
            "STEWARD_TASK_ID=7".to_owned(),
            format!("STEWARD_PROJECT={}", project.root.display()),
            format!("STEWARD_PROMPT_FILE={}", prompt_file.display()),
            "EXTRA=extra value".to_owned(),
            "NOTIFY_SOCKET=<unset>".to_owned(),
            "LISTEN_FDS=<unset>".to_owned(),
            format!("PWD={}", worktree.display()),
        ]
    );
    // Its own process group, in a session that is not ours.
    let ids: Vec<i32> =
        printed.next().unwrap().split(' ').map(|field| field.split_once('=').unwrap().1.parse().unwrap()).collect();
    let (pid, pgrp, session) = (ids[0], ids[1], ids[2]);
    assert_eq!(pgrp, pid, "the agent leads its own process group");
    let our_session: i32 = stat_fields(std::process::id() as i32)[3].parse().unwrap();
    assert_ne!(session, our_session, "the agent is in the shim's session, not the daemon's");
    assert_ne!(session, pid, "the agent is not a session leader");
}

/// The shim blocks signals for its sigwait loop; the agent must start with none blocked or
/// ignored. (A shell resets its mask itself, so the agent here is `grep`, reading its own.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_starts_with_no_signal_blocked_or_ignored() {
    let project = Project::new();
    let mut launch = project.launch("unused", &[]);
    launch.command = ["grep", "-E", "^Sig(Blk|Ign):", "/proc/self/status"].map(String::from).to_vec();
    let exit = run(launch).await;
    assert!(exit.success(), "{exit:?}");
    let output = project.output_text();
    let masks: Vec<u64> =
        output.lines().map(|line| u64::from_str_radix(line.split_once('\t').unwrap().1, 16).unwrap()).collect();
    assert_eq!(masks[0], 0, "blocked signals in {output:?}");
    // glibc's posix_spawn (how cargo starts this test) marks its internal signals 32 and 33 as
    // ignored, and glibc will not let a program change them; they are none of the agent's
    // concern.
    let glibc_internal = 0b11 << 31;
    assert_eq!(masks[1] & !glibc_internal, 0, "ignored signals in {output:?}");
}

// --- exit status and output ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes_are_reported() {
    for code in [0, 1, 3, 75, 130, 255] {
        let project = Project::new();
        let exit = run(project.launch("exit-with.sh", &[&code.to_string()])).await;
        assert_eq!((exit.exit_code, exit.signal), (Some(code), None));
        assert_eq!(exit.success(), code == 0);
        assert_eq!(exit.output.last_lines, format!("about to exit {code}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn death_by_signal_is_reported_as_the_signal() {
    // 40 is a real-time signal, which nix cannot name; it must still be reported as itself.
    for (name, number) in [("KILL", 9), ("TERM", 15), ("40", 40)] {
        let project = Project::new();
        let exit = run(project.launch("die-by-signal.sh", &[name])).await;
        assert_eq!((exit.exit_code, exit.signal), (None, Some(number)), "signal {name}");
        assert!(!exit.success());
        assert_eq!(exit.output.last_lines, format!("about to die of signal {name}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdout_and_stderr_are_one_log_in_order() {
    let project = Project::new();
    let exit = run(project.launch("stdout-and-stderr.sh", &[])).await;
    assert!(exit.success());
    assert_eq!(project.output_text(), "out1\nerr1\nout2\nerr2\n");
    assert_eq!(exit.output.last_lines, "out1\nerr1\nout2\nerr2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partial_last_line_is_kept() {
    let project = Project::new();
    let exit = run(project.launch("partial-line.sh", &[])).await;
    assert_eq!(project.output_text(), "first\nsecond\npartial");
    assert_eq!(exit.output.last_lines, "first\nsecond\npartial");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overflowing_output_is_head_marker_and_tail() {
    let project = Project::new();
    let count = 100_000;
    let expected: Vec<u8> = (1..=count).map(|i| format!("{i}\n")).collect::<String>().into_bytes();
    let limits = OutputLimits { head_bytes: 1000, tail_bytes: 300 };
    let exit = run_with(project.launch("flood.sh", &["seq", &count.to_string()]), limits).await;
    assert!(exit.success());

    let dropped = expected.len() - 1300;
    let mut layout = expected[..1000].to_vec();
    if layout.last() != Some(&b'\n') {
        layout.push(b'\n');
    }
    layout.extend(
        format!("[steward: output truncated here; {dropped} bytes dropped; the last 300 bytes follow]\n").bytes(),
    );
    layout.extend_from_slice(&expected[expected.len() - 300..]);
    assert_eq!(String::from_utf8(project.output()).unwrap(), String::from_utf8(layout).unwrap());
    assert_eq!(exit.output.total_bytes, expected.len() as u64);
    assert!(exit.output.truncated);
    let last: Vec<String> = (count - 19..=count).map(|i| i.to_string()).collect();
    assert_eq!(exit.output.last_lines, last.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runaway_output_is_bounded_by_the_default_limits() {
    let project = Project::new();
    let total = 20 * MIB;
    let exit = run(project.launch("flood.sh", &["yes", &total.to_string()])).await;
    assert!(exit.success());
    assert_eq!(exit.output.total_bytes, total);
    assert!(exit.output.truncated);

    let file = project.output();
    let marker = format!("[steward: output truncated here; {} bytes dropped; the last 1 MiB follows]\n", 11 * MIB);
    assert_eq!(file.len() as u64, 9 * MIB + marker.len() as u64);
    let (head, rest) = file.split_at(8 * MIB as usize);
    let (middle, tail) = rest.split_at(marker.len());
    assert!(head.chunks(2).all(|pair| pair == b"y\n"));
    assert_eq!(std::str::from_utf8(middle).unwrap(), marker);
    assert!(tail.chunks(2).all(|pair| pair == b"y\n"));
    assert_eq!(exit.output.last_lines, ["y"; 20].join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_can_be_read_while_the_agent_runs() {
    let project = Project::new();
    let mut agent = spawn(project.launch("print-then-wait.sh", &[]), OutputLimits::default()).await.unwrap();
    wait_until("the first line is in the log", || {
        std::fs::read_to_string(project.output_path()).is_ok_and(|text| text == "first line\n")
    });
    // Waiting from another task, as a scheduler would (which needs the future to be Send).
    let waiter = tokio::spawn(async move { agent.wait().await });
    project.release();
    let exit = deadline(waiter).await.unwrap();
    assert!(exit.success());
    assert_eq!(project.output_text(), "first line\nlast line\n");
}

// --- stopping, and leaving nothing behind ---

/// The timeout path: `wait` times out, then `stop` asks with SIGTERM, which this agent and its
/// descendants ignore, and kills after the grace period; the escaped grandchild dies too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_kills_an_agent_that_ignores_sigterm_with_all_its_descendants() {
    let project = Project::new();
    let mut agent = spawn(project.launch("ignore-term.sh", &[]), OutputLimits::default()).await.unwrap();
    project.wait_for_file("ready");
    let pids = [
        ("agent", project.recorded_pid("agent")),
        ("grandchild", project.recorded_pid("child")),
        ("escaped grandchild", project.recorded_pid("escaped")),
    ];
    assert!(tokio::time::timeout(Duration::from_millis(100), agent.wait()).await.is_err(), "it runs until stopped");

    let grace = Duration::from_millis(300);
    let started = Instant::now();
    let exit = deadline(agent.stop(grace)).await;
    assert!(started.elapsed() >= grace, "SIGKILL only after the grace period");
    assert_eq!((exit.exit_code, exit.signal), (None, Some(9)));
    assert_eq!(exit.output.last_lines, "ignoring SIGTERM");
    // The shim reaps every descendant before it exits: all are gone the moment `stop` returns.
    assert_gone(&pids);
    assert_reaped(&agent);
    // Once ended, the same answer again.
    assert_eq!(agent.wait().await, exit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_lets_an_agent_stop_gracefully() {
    let project = Project::new();
    let mut agent = spawn(project.launch("graceful.sh", &[]), OutputLimits::default()).await.unwrap();
    project.wait_for_file("ready");
    let exit = deadline(agent.stop(DEADLINE)).await;
    assert_eq!((exit.exit_code, exit.signal), (Some(5), None));
    // The shell also reports that its `sleep` was terminated, in words of its own.
    let output = project.output_text();
    assert_eq!(lines(&output).first(), Some(&"waiting"));
    assert_eq!(lines(&output).last(), Some(&"got SIGTERM"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_ends_the_agent_and_all_its_descendants_at_once() {
    let project = Project::new();
    let mut agent = spawn(project.launch("spawn-grandchildren.sh", &["wait"]), OutputLimits::default()).await.unwrap();
    project.wait_for_file("ready");
    let pids = ["agent", "child", "escaped", "orphan"].map(|name| (name, project.recorded_pid(name)));
    agent.kill();
    let exit = deadline(agent.wait()).await;
    assert_eq!((exit.exit_code, exit.signal), (None, Some(9)));
    assert_gone(&pids);
    assert_reaped(&agent);
}

/// An agent that exits leaves sleepers behind: in its group, escaped with setsid, and orphaned.
/// All of them are killed, so the task ends (and its output pipe closes) with the agent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn descendants_left_behind_by_an_agent_that_exits_are_killed() {
    let project = Project::new();
    let exit = run(project.launch("spawn-grandchildren.sh", &["exit"])).await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(project.output_text(), "descendants started\n");
    let pids = ["agent", "child", "escaped", "orphan"].map(|name| (name, project.recorded_pid(name)));
    assert_gone(&pids);
}

/// Each generation is found only once its parent died and it was re-parented to the shim.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chain_of_escaped_descendants_is_killed_generation_by_generation() {
    let project = Project::new();
    let exit = run(project.launch("escape-chain.sh", &["3"])).await;
    assert!(exit.success(), "{exit:?}");
    let pids = ["level-3", "level-2", "level-1", "level-0"].map(|name| (name, project.recorded_pid(name)));
    assert_gone(&pids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_running_agent_kills_it() {
    let project = Project::new();
    let agent = spawn(project.launch("ignore-term.sh", &[]), OutputLimits::default()).await.unwrap();
    project.wait_for_file("ready");
    let pids = [
        ("shim", agent.pid() as i32),
        ("agent", project.recorded_pid("agent")),
        ("grandchild", project.recorded_pid("child")),
        ("escaped grandchild", project.recorded_pid("escaped")),
    ];
    drop(agent);
    // tokio reaps the dropped shim in the background; a zombie in between is fine.
    wait_until("every process of the dropped agent is gone", || {
        pids.iter().all(|&(_, pid)| matches!(process_state(pid), None | Some('Z')))
    });
}

/// Orphans re-parented to the shim are reaped while the agent still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shim_reaps_adopted_orphans_as_they_exit() {
    let project = Project::new();
    let mut agent = spawn(project.launch("orphan-maker.sh", &[]), OutputLimits::default()).await.unwrap();
    let orphan = project.recorded_pid("orphan");
    let shim = agent.pid() as i32;
    wait_until("the orphan has exited and been reaped", || process_state(orphan).is_none());
    assert_eq!(zombie_children_of(shim), BTreeSet::new());
    assert!(process_state(shim).is_some_and(|state| state != 'Z'), "the shim still runs");
    project.release();
    let exit = deadline(agent.wait()).await;
    assert!(exit.success());
    assert_eq!(lines(&project.output_text()), ["orphan made", "released"]);
    assert_reaped(&agent);
}

/// A stand-in daemon (this test binary, re-run) starts an agent and is SIGKILLed: the shim's
/// parent-death signal must take the agent and every descendant with it.
#[test]
fn when_the_daemon_is_killed_its_agents_die_too() {
    // The orphaned shim comes to us, not to init (which may not reap in a container): no zombie
    // is left behind, and its exit status can be checked. The other tests leave no orphans.
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let project = Project::new();
    let mut daemon = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_runs_an_agent_until_killed", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "daemon")
        .env("STEWARD_TEST_PROJECT", &project.root)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    project.wait_for_file("ready");
    let shim = project.recorded_pid("shim");
    let pids = ["agent", "child", "escaped", "orphan"].map(|name| (name, project.recorded_pid(name)));
    for (name, pid) in pids {
        assert!(process_state(pid).is_some(), "the {name} runs");
    }

    daemon.kill().unwrap(); // SIGKILL: no chance to clean up
    daemon.wait().unwrap();
    wait_until("the agent and all its descendants are gone", || {
        pids.iter().all(|&(_, pid)| process_state(pid).is_none())
    });
    // It exits as after any "kill now": with 128 + SIGKILL, the agent's fate.
    let mut status = None;
    wait_until("the shim has exited and been reaped", || {
        status = match waitpid(Pid::from_raw(shim), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => None, // ECHILD until it is re-parented to us
            Ok(other) => Some(other),
        };
        status.is_some()
    });
    assert_eq!(status, Some(WaitStatus::Exited(Pid::from_raw(shim), 137)));
    assert_eq!(process_state(shim), None);
}

#[test]
fn child_runs_an_agent_until_killed() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("daemon") {
        return;
    }
    let project = Project::existing(std::env::var_os("STEWARD_TEST_PROJECT").unwrap().into());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let agent = spawn(project.launch("spawn-grandchildren.sh", &["wait"]), OutputLimits::default()).await.unwrap();
        let shim_pid = project.agent_dir().join("shim.pid");
        std::fs::write(shim_pid.with_extension("tmp"), agent.pid().to_string()).unwrap();
        std::fs::rename(shim_pid.with_extension("tmp"), &shim_pid).unwrap();
        std::future::pending::<()>().await;
    });
}

// --- errors before anything runs ---

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_is_a_clear_error_and_nothing_is_started() {
    let project = Project::new();
    let empty_dir = project.root.join("empty-bin");
    std::fs::create_dir(&empty_dir).unwrap();
    for (config_key, expected) in [
        ("[agent]", "agent command 'claude' not found; set [agent].command in .steward/steward.toml"),
        ("[agents.review]", "agent command 'claude' not found; set [agents.review].command in .steward/steward.toml"),
    ] {
        let mut launch = project.launch("unused", &[]);
        launch.command = vec!["claude".into(), "-p".into()];
        launch.env.push(("PATH".into(), empty_dir.display().to_string()));
        launch.config_key = config_key.into();
        let err = spawn(launch, OutputLimits::default()).await.unwrap_err();
        assert_eq!(err.to_string(), expected);
        assert!(!project.output_path().exists(), "nothing was started, not even the log");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_path_is_where_the_program_is_looked_up() {
    let project = Project::new();
    let mut launch = project.launch("unused", &[]);
    launch.command = vec!["echo-args.sh".into(), "found".into()];
    launch.env.push(("PATH".into(), format!("/nonexistent:{AGENTS}")));
    let exit = run(launch).await;
    assert!(exit.success(), "{exit:?}");
    assert_eq!(project.output_text(), "found\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_program_that_is_not_executable_is_a_clear_error() {
    let project = Project::new();
    std::fs::write(project.root.join("agent.sh"), "#!/bin/sh\necho hi\n").unwrap();
    let mut launch = project.launch("unused", &[]);
    launch.command = vec!["./agent.sh".into()];
    let err = spawn(launch, OutputLimits::default()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "agent command './agent.sh' at {} is not executable (check its permissions); \
             set [agent].command in .steward/steward.toml",
            project.root.join("agent.sh").display()
        )
    );
    assert!(!project.output_path().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_working_directory_or_prompt_file_is_a_clear_error() {
    let project = Project::new();
    let mut launch = project.launch("echo-stdin.sh", &[]);
    launch.workdir = project.root.join("gone");
    let err = spawn(launch, OutputLimits::default()).await.unwrap_err();
    assert!(err.to_string().starts_with(&format!("cannot run the agent in {}: ", project.root.join("gone").display())));

    let mut launch = project.launch("echo-stdin.sh", &[]);
    launch.prompt_file = project.root.join("no-prompt.md");
    let err = spawn(launch, OutputLimits::default()).await.unwrap_err();
    assert!(err.to_string().starts_with("cannot open the prompt file "), "{err}");
    assert!(!project.output_path().exists());
}
