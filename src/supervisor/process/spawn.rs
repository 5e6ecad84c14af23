//! Starting an agent: check everything that can be checked first, then start the shim.
//!
//! Every error here happens before any process exists, and its text is the message the user
//! sees (e.g. `agent command 'claude' not found; set [agent].command in .steward/steward.toml`).
//!
//! The shim is started from one dedicated thread that lives as long as the daemon. Linux sends
//! the parent-death signal when the *thread* that forked a child exits, not the process; forking
//! from whatever thread runs the caller would tie agents to that thread's life (a blocking-pool
//! thread of tokio exits after ten idle seconds). With the dedicated thread the signal comes
//! exactly when the daemon process dies.

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::sync::mpsc;

use nix::unistd::Pid;
use tokio::net::unix::pipe;
use tokio::sync::oneshot;

use super::output::{self, BoundedLog, OutputLimits};
use super::resolve::{ResolveError, resolve_program};
use super::running::RunningAgent;
use super::shim::shim_signals;

/// Variables of the daemon's environment that describe the daemon's own service, not the agent's:
/// with `NOTIFY_SOCKET` an agent could tell systemd the daemon is ready, reloading or stopping.
const DAEMON_ONLY_ENV: [&str; 6] =
    ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC"];

/// How the agent gets its prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptInput {
    /// On stdin, read from the prompt file.
    Stdin,
    /// As the last argument (visible in `ps`); stdin is `/dev/null`.
    LastArgument(String),
}

/// Everything needed to start one agent.
#[derive(Debug, Clone)]
pub struct AgentLaunch {
    /// The task, for `STEWARD_TASK_ID` and for logs.
    pub task_id: u64,
    /// The program and its arguments, e.g. `["claude", "-p"]`.
    pub command: Vec<String>,
    /// How the prompt is passed.
    pub prompt: PromptInput,
    /// The prompt file (`STEWARD_PROMPT_FILE`; stdin in [`PromptInput::Stdin`] mode).
    pub prompt_file: PathBuf,
    /// The agent's working directory: the project root or a session worktree.
    pub workdir: PathBuf,
    /// The project root (`STEWARD_PROJECT`).
    pub project_root: PathBuf,
    /// Extra environment, in order (a later entry wins). Its `PATH`, if any, is also where the
    /// program is looked up.
    pub env: Vec<(String, String)>,
    /// The configuration table the command came from, for messages: `[agent]`, `[agents.review]`.
    pub config_key: String,
    /// Where stdout and stderr go (`.steward/daemon/tasks/<id>/output.log`); replaced if present.
    pub output_path: PathBuf,
    /// The steward executable to run as the shim: [`shim_executable`] in the daemon,
    /// `env!("CARGO_BIN_EXE_steward")` in tests.
    pub shim_executable: PathBuf,
}

/// Why an agent could not be started. Nothing was left running.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("{source}; set {config_key}.command in .steward/steward.toml")]
    Program { config_key: String, source: ResolveError },
    #[error("cannot run the agent in {}: {source}", path.display())]
    Workdir { path: PathBuf, source: io::Error },
    #[error("cannot open the prompt file {}: {source}", path.display())]
    PromptFile { path: PathBuf, source: io::Error },
    #[error("cannot create the output log {}: {source}", path.display())]
    OutputLog { path: PathBuf, source: io::Error },
    #[error(
        "the prompt ({bytes} bytes) is too long to pass as an argument; \
         set {config_key}.prompt_via = \"stdin\" in .steward/steward.toml"
    )]
    PromptTooLong { bytes: usize, config_key: String },
    #[error("cannot start the task shim {}: {source}", path.display())]
    Shim { path: PathBuf, source: io::Error },
}

/// The executable the daemon should give as [`AgentLaunch::shim_executable`]: the running
/// binary itself. On Linux that is `/proc/self/exe`, which still works after the file on disk
/// was replaced by an upgrade or deleted (`current_exe` would then name a missing file).
pub fn shim_executable() -> io::Result<PathBuf> {
    let proc_exe = Path::new("/proc/self/exe");
    if cfg!(target_os = "linux") && proc_exe.exists() {
        return Ok(proc_exe.to_path_buf());
    }
    std::env::current_exe()
}

/// Starts the agent of `launch` under a shim, with its output captured into
/// `launch.output_path` within `limits`. Must be called within a tokio runtime.
pub async fn spawn(launch: AgentLaunch, limits: OutputLimits) -> Result<RunningAgent, SpawnError> {
    let program = check_program(&launch)?;
    let stdin = match &launch.prompt {
        PromptInput::Stdin => Stdio::from(
            File::open(&launch.prompt_file)
                .map_err(|source| SpawnError::PromptFile { path: launch.prompt_file.clone(), source })?,
        ),
        PromptInput::LastArgument(_) => Stdio::null(),
    };
    let log_file = create_output_log(&launch.output_path)
        .map_err(|source| SpawnError::OutputLog { path: launch.output_path.clone(), source })?;
    let shim_error = |source| SpawnError::Shim { path: launch.shim_executable.clone(), source };
    let (output_reader, output_writer) = io::pipe().map_err(shim_error)?;
    let (report_reader, report_writer) = io::pipe().map_err(shim_error)?;
    let report_writer = OwnedFd::from(report_writer);

    let mut command = shim_command(&launch, &program, report_writer.as_raw_fd());
    command.stdin(stdin);
    command.stdout(output_writer.try_clone().map_err(shim_error)?);
    command.stderr(output_writer);
    let spawned = spawn_on_spawner_thread(command).await;
    // The shim has its copies now (or none); the pipes must end when the shim's do.
    drop(report_writer);
    let child = spawned.map_err(|source| match &launch.prompt {
        PromptInput::LastArgument(prompt) if source.raw_os_error() == Some(libc::E2BIG) => {
            SpawnError::PromptTooLong { bytes: prompt.len(), config_key: launch.config_key.clone() }
        }
        _ => shim_error(source),
    })?;

    let (stop_capture, stop_rx) = oneshot::channel();
    let capture = match pipe::Receiver::from_owned_fd(OwnedFd::from(output_reader)) {
        Ok(receiver) => tokio::spawn(output::capture(receiver, BoundedLog::new(log_file, limits), stop_rx)),
        Err(err) => {
            // Not expected for a fresh pipe. The read end is closed now, so the agent's writes
            // fail (EPIPE) instead of blocking, and the summary says why the log is empty.
            let mut log = BoundedLog::new(log_file, limits);
            log.note_error(err);
            tokio::spawn(async move { log.finish() })
        }
    };
    tracing::debug!(task_id = launch.task_id, pid = child.id(), program = %program.display(), "agent started");
    Ok(RunningAgent::new(launch.task_id, child, capture, stop_capture, report_reader))
}

/// Resolves the program against the agent's PATH and working directory.
fn check_program(launch: &AgentLaunch) -> Result<PathBuf, SpawnError> {
    let workdir = &launch.workdir;
    match std::fs::metadata(workdir) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            let source = io::Error::new(io::ErrorKind::NotADirectory, "not a directory");
            return Err(SpawnError::Workdir { path: workdir.clone(), source });
        }
        Err(source) => return Err(SpawnError::Workdir { path: workdir.clone(), source }),
    }
    let agent_path: Option<OsString> = match launch.env.iter().rev().find(|(key, _)| key == "PATH") {
        Some((_, value)) => Some(value.into()),
        None => std::env::var_os("PATH"),
    };
    let program = launch.command.first().map(String::as_str).unwrap_or_default();
    resolve_program(program, workdir, agent_path.as_deref())
        .map_err(|source| SpawnError::Program { config_key: launch.config_key.clone(), source })
}

fn create_output_log(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // The output may hold secrets the agent printed.
    OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

/// `steward __task-shim --report-fd N --program PATH -- COMMAND... [PROMPT]`, with the agent's
/// environment and working directory (the shim passes both on).
fn shim_command(launch: &AgentLaunch, program: &Path, report_fd: RawFd) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(&launch.shim_executable);
    command.arg0("steward").arg("__task-shim");
    command.arg("--report-fd").arg(report_fd.to_string());
    command.arg("--program").arg(program);
    command.arg("--").args(&launch.command);
    if let PromptInput::LastArgument(prompt) = &launch.prompt {
        command.arg(prompt);
    }
    command.current_dir(&launch.workdir);
    command.envs(launch.env.iter().map(|(key, value)| (key, value)));
    command.env("STEWARD_TASK_ID", launch.task_id.to_string());
    command.env("STEWARD_PROJECT", &launch.project_root);
    command.env("STEWARD_PROMPT_FILE", &launch.prompt_file);
    for key in DAEMON_ONLY_ENV {
        command.env_remove(key);
    }
    let daemon = nix::unistd::getpid();
    // SAFETY: the closure only makes async-signal-safe system calls and does not allocate.
    unsafe { command.pre_exec(move || prepare_shim(daemon, report_fd)) };
    command
}

/// In the shim, between fork and exec (std has already emptied the signal mask).
fn prepare_shim(daemon: Pid, report_fd: RawFd) -> io::Result<()> {
    // A session (and group) of its own: a Ctrl-C or hangup at the daemon's terminal never
    // reaches the task, and an agent cannot grab that terminal.
    nix::unistd::setsid()?;
    #[cfg(target_os = "linux")]
    {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGUSR1)?;
        // The daemon may have died before the line above; then nobody would send the signal.
        if nix::unistd::getppid() != daemon {
            return Err(io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = daemon;
    // Blocked signals stay pending across exec until the shim's sigwait takes them.
    shim_signals().thread_block()?;
    // Keep the report pipe open across exec, in this child only.
    // SAFETY: F_SETFD on a descriptor this process holds.
    if unsafe { libc::fcntl(report_fd, libc::F_SETFD, 0) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

type SpawnJob = Box<dyn FnOnce() + Send>;

/// Spawns `command` from the spawner thread, inside the caller's runtime (tokio's child
/// reaping needs it).
async fn spawn_on_spawner_thread(mut command: tokio::process::Command) -> io::Result<tokio::process::Child> {
    let runtime = tokio::runtime::Handle::current();
    let (done, result) = oneshot::channel();
    let job: SpawnJob = Box::new(move || {
        let _context = runtime.enter();
        let child = command.spawn();
        // Closes the parent's copies of the shim's stdio before anyone waits for end of output.
        drop(command);
        if let Err(Ok(orphan)) = done.send(child) {
            // The caller gave up waiting: nobody would supervise this shim, so stop it now.
            if let Some(pid) = orphan.id() {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGUSR1);
            }
        }
    });
    if let Err(mpsc::SendError(job)) = spawner().send(job) {
        // The thread could not be started: fork from here, with the thread-lifetime caveat above.
        job();
    }
    result.await.unwrap_or_else(|_| Err(io::Error::other("the spawner thread stopped")))
}

/// The sender to the spawner thread, which is started on first use and never ends.
fn spawner() -> &'static mpsc::Sender<SpawnJob> {
    static SPAWNER: OnceLock<mpsc::Sender<SpawnJob>> = OnceLock::new();
    SPAWNER.get_or_init(|| {
        let (sender, jobs) = mpsc::channel::<SpawnJob>();
        let started = std::thread::Builder::new().name("steward-spawner".into()).spawn(move || {
            for job in jobs {
                job();
            }
        });
        if let Err(err) = started {
            // `jobs` was dropped with the closure, so every send fails and runs the job inline.
            tracing::warn!(error = %err, "cannot start the spawner thread; agents are spawned from runtime threads");
        }
        sender
    })
}
