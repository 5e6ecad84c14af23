//! `steward daemon stop` and `steward daemon restart`.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::json;

use crate::api::DaemonApiClient;
use crate::cli::target::local_project;
use crate::cli::{Failure, GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure};
use crate::config::Config;
use crate::daemon::{lock, pidfile};
use crate::paths::Project;

/// Options of `daemon stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait for the daemon to exit (default: the grace period plus 10).
    #[arg(long, value_name = "S")]
    pub timeout: Option<u64>,
    /// Seconds running work gets before it is interrupted (default: [daemon].shutdown_grace_s).
    #[arg(long, value_name = "S")]
    pub grace: Option<u64>,
}

/// Options of `daemon restart`.
#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub stop: StopArgs,
    /// The GitHub mode for the new run, overriding `[steward].mode` (the old run's override is not kept).
    #[arg(long, value_name = "MODE", value_parser = super::start::parse_mode)]
    pub mode: Option<crate::config::Mode>,
}

/// How often the exit is checked.
const POLL: Duration = Duration::from_millis(10);

/// Stops the daemon and waits until it is gone. Not running: says so, exit 0.
pub fn run(global: &GlobalArgs, args: StopArgs) -> Outcome {
    let target = Target::resolve(global)?;
    match stop(&target, &args)? {
        Stopped::NotRunning => {
            if global.json {
                print_json(&json!({ "stopped": false, "running": false }))?;
            } else {
                println!("not running {}", target.describe());
            }
        }
        Stopped::Exited(pid) => {
            if global.json {
                print_json(&json!({ "stopped": true, "pid": pid }))?;
            } else {
                match pid {
                    Some(pid) => println!("stopped (pid {pid})"),
                    None => println!("stopped"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Stops the daemon if it runs, then starts it detached.
pub fn restart(global: &GlobalArgs, args: RestartArgs) -> Outcome {
    let RestartArgs { stop: args, mode } = args;
    // Refused before anything stops: the start half could not bring the daemon back.
    local_project(global, "daemon restart", "starts a daemon")?;
    let target = Target::resolve(global)?;
    if let Stopped::Exited(Some(pid)) = stop(&target, &args)?
        && !global.json
    {
        println!("stopped (pid {pid})");
    }
    super::start::run(global, "daemon restart", super::start::StartArgs { foreground: false, mode })
}

enum Stopped {
    NotRunning,
    Exited(Option<u32>),
}

fn stop(target: &Target, args: &StopArgs) -> Result<Stopped, Failure> {
    if let Some(project) = &target.project
        && !lock_held(project)?
    {
        return Ok(Stopped::NotRunning);
    }
    let pid = target.project.as_ref().and_then(|p| pidfile::read(&p.pid_file()));
    let asked = block_on(async {
        let client = target.connect().await?;
        client.stop(args.grace).await.map_err(|err| rpc_failure(target, err))
    })?;
    match (asked, &target.project, pid) {
        (Ok(_), _, _) => {}
        // Nobody answers on the socket: without a project there is nothing more to try.
        (Err(Failure::NotRunning(_)), None, _) => return Ok(Stopped::NotRunning),
        // The daemon holds the lock but does not answer: fall back to a signal.
        (Err(_), Some(_), Some(pid)) if pidfile::process_exists(pid) => {
            let pid_t = nix::unistd::Pid::from_raw(pid as i32);
            nix::sys::signal::kill(pid_t, nix::sys::signal::Signal::SIGTERM)
                .map_err(|e| Failure::Error(format!("cannot signal the daemon (pid {pid}): {e}")))?;
        }
        (Err(failure), _, _) => return Err(failure),
    }
    let timeout = Duration::from_secs(args.timeout.unwrap_or_else(|| default_timeout(target.project.as_ref(), args)));
    wait_for_exit(target, timeout).map_err(|()| {
        Failure::Error(format!(
            "the daemon {} has not exited after {} s; it may still be finishing work. Wait longer with `steward daemon stop --timeout S`, or end it with `kill {}`",
            target.describe(),
            timeout.as_secs(),
            pid.map_or("<pid>".to_owned(), |p| p.to_string()),
        ))
    })?;
    Ok(Stopped::Exited(pid))
}

fn default_timeout(project: Option<&Project>, args: &StopArgs) -> u64 {
    let configured = project.and_then(|p| Config::load(&p.config_file()).ok()).map(|c| c.daemon.shutdown_grace_s);
    args.grace.or(configured).unwrap_or(15) + 10
}

fn lock_held(project: &Project) -> Result<bool, Failure> {
    let path = project.lock_file();
    lock::is_held(&path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => Failure::Error(format!(
            "cannot read {}: permission denied; the daemon belongs to another user, run steward as that user",
            path.display()
        )),
        _ => Failure::Error(format!("cannot read {}: {e}", path.display())),
    })
}

/// Waits until the instance lock is free (or, with only a socket, until nothing answers).
fn wait_for_exit(target: &Target, timeout: Duration) -> Result<(), ()> {
    let deadline = Instant::now() + timeout;
    loop {
        let gone = match &target.project {
            Some(project) => !lock::is_held(&project.lock_file()).unwrap_or(false),
            None => !answers_ping(&target.socket),
        };
        if gone {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(());
        }
        std::thread::sleep(POLL);
    }
}

/// Whether something answers a ping on `socket` within a moment. A forwarded socket (ssh -L)
/// accepts connections even when nothing is behind it, so connecting proves nothing.
fn answers_ping(socket: &std::path::Path) -> bool {
    use std::io::{BufRead, BufReader, Write};
    let Ok(mut stream) = std::os::unix::net::UnixStream::connect(socket) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"{\"jsonrpc\":\"2.0\",\"method\":\"daemon.ping\",\"id\":0}\n").is_err() {
        return false;
    }
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).is_ok_and(|n| n > 0 && line.contains("\"pong\":true"))
}
