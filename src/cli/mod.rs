//! The command line: one module per command group, each a thin client of the daemon's API.
//!
//! Exit codes are part of the contract: 0 ok, 1 error, 2 usage, 3 daemon not running.
//! Human output goes to stdout, errors to stderr; `--json` prints stable machine fields instead.

mod automation;
mod completions;
mod config;
mod daemon;
mod event;
mod github;
mod init;
mod man;
mod service;
mod session;
mod target;
mod task;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

pub use target::Target;

/// The version and the commit it was built from: `0.1.0 (commit 1a2b3c4d5e6f)`.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("STEWARD_COMMIT"), ")");

/// A resident daemon per git repository that keeps agent work moving.
///
/// `steward daemon start` runs the daemon for the repository you are in: a persistent priority
/// queue of agent tasks, automation rules fired by schedules, file changes and events, and the
/// GitHub modes that triage issues and work on ready ones. The other commands talk to it over its
/// socket (.steward/daemon/daemon.sock, or --socket / STEWARD_SOCKET for one forwarded over SSH).
///
/// Exit codes: 0 ok, 1 error, 2 usage, 3 the daemon is not running.
#[derive(Debug, Parser)]
#[command(name = "steward", version = VERSION, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The project directory (default: found by walking up from the current directory to a
    /// `.steward` directory, else the git top level).
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// The daemon socket to talk to (e.g. one forwarded over SSH); overrides the project's.
    #[arg(long, global = true, value_name = "PATH", env = "STEWARD_SOCKET")]
    pub socket: Option<PathBuf>,
    /// Print machine-readable JSON with stable field names.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write .steward/steward.toml with commented defaults.
    Init(init::InitArgs),
    /// Start, stop and inspect the daemon.
    #[command(subcommand)]
    Daemon(daemon::DaemonCommand),
    /// Show the daemon's status (same as `daemon status`).
    Status,
    /// Submit, list, inspect and cancel tasks.
    #[command(subcommand)]
    Task(task::TaskCommand),
    /// See rules and schedules; switch them on and off.
    #[command(subcommand)]
    Automation(automation::AutomationCommand),
    /// Emit and list events.
    #[command(subcommand)]
    Event(event::EventCommand),
    /// The GitHub modes: status, and running a loop now.
    #[command(subcommand)]
    Github(github::GithubCommand),
    /// The sessions of the GitHub modes.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Check or show the configuration.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Run the daemon under systemd or launchd.
    #[command(subcommand)]
    Service(service::ServiceCommand),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Print the manual page (or write every page into a directory).
    Man(man::ManArgs),
    /// Internal: the daemon runs one per task to supervise its agent process.
    #[command(name = "__task-shim", hide = true)]
    TaskShim(crate::supervisor::process::TaskShimArgs),
}

/// Why a command failed, which decides the exit code.
#[derive(Debug)]
pub enum Failure {
    /// Something went wrong (exit 1).
    Error(String),
    /// The command line was wrong in a way clap cannot see (exit 2).
    Usage(String),
    /// No daemon runs where one was expected (exit 3).
    NotRunning(String),
    /// The command already said what happened; only the exit code is left.
    Silent(u8),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Error(_) => 1,
            Failure::Usage(_) => 2,
            Failure::NotRunning(_) => 3,
            Failure::Silent(code) => *code,
        }
    }
}

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(err: E) -> Self {
        Failure::Error(err.to_string())
    }
}

/// What a command returns: the exit code on success (0, or the daemon's own in the daemon path).
pub type Outcome = Result<ExitCode, Failure>;

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let Cli { global, command } = cli;
    let outcome = match command {
        Command::Init(args) => init::run(&global, args),
        Command::Daemon(command) => daemon::run(&global, command),
        Command::Status => daemon::status(&global),
        Command::Task(command) => task::run(&global, command),
        Command::Automation(command) => automation::run(&global, command),
        Command::Event(command) => event::run(&global, command),
        Command::Github(command) => github::run(&global, command),
        Command::Session(command) => session::run(&global, command),
        Command::Config(command) => config::run(&global, command),
        Command::Service(command) => service::run(&global, command),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(&global, args),
        Command::TaskShim(args) => Ok(crate::supervisor::process::run_shim(args)),
    };
    match outcome {
        Ok(code) => code,
        Err(failure) => {
            match &failure {
                Failure::Error(message) | Failure::Usage(message) => eprintln!("error: {message}"),
                Failure::NotRunning(message) => eprintln!("{message}"),
                Failure::Silent(_) => {}
            }
            ExitCode::from(failure.exit_code())
        }
    }
}

/// How long ago an RFC 3339 time was, briefly (`5s`, `3m`, `2h`, `4d`).
pub(crate) fn task_age(since: &str) -> String {
    task::age(since)
}

/// The first line of a prompt, cut to `width` characters.
pub(crate) fn task_excerpt(prompt: &str, width: usize) -> String {
    task::excerpt(prompt, width)
}

/// Runs a future on a small single-threaded runtime: the client needs nothing more.
fn block_on<F: std::future::Future>(future: F) -> Result<F::Output, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Error(format!("cannot start the async runtime: {e}")))?;
    Ok(runtime.block_on(future))
}

/// Prints a value as one line of JSON.
fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Failure> {
    let mut text = serde_json::to_string(value)?;
    text.push('\n');
    write_stdout(&text)
}

/// Writes to stdout; a reader that went away (`| head`) ends the command quietly.
fn write_stdout(text: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(Failure::Silent(0)),
        Err(e) => Err(Failure::Error(format!("writing the output: {e}"))),
    }
}

/// Turns an RPC failure into a message a person can act on.
fn rpc_failure(target: &Target, err: jsonrpsee::core::client::Error) -> Failure {
    use jsonrpsee::core::client::Error;
    match err {
        Error::Call(obj) => Failure::Error(obj.message().to_owned()),
        Error::RequestTimeout => Failure::Error(format!("the daemon {} did not answer in time", target.describe())),
        Error::RestartNeeded(reason) => connection_failure(target, reason.to_string()),
        Error::Transport(reason) => connection_failure(target, reason.to_string()),
        other => Failure::Error(format!("talking to the daemon {}: {other}", target.describe())),
    }
}

/// The connection failed during a call: refused, closed early, or broken.
fn connection_failure(target: &Target, reason: String) -> Failure {
    if reason.contains("refused the connection") {
        // The async client wraps the reason; the daemon's own words are what matter.
        let reason = reason.trim_start_matches("The background task closed ");
        Failure::Error(reason.trim_end_matches("; restart required").to_owned())
    } else if closed_before_any_reply(&reason) {
        // What a stopping daemon does, and what a forwarded socket (ssh -L) does when nothing
        // listens at the far end.
        Failure::NotRunning(format!(
            "steward is not running {}: the connection was closed before any reply",
            target.describe()
        ))
    } else {
        Failure::Error(format!("lost the connection to the daemon {}: {reason}", target.describe()))
    }
}

fn closed_before_any_reply(reason: &str) -> bool {
    ["closed the connection", "Broken pipe", "Connection reset"].iter().any(|needle| reason.contains(needle))
}
