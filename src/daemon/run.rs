//! The daemon's life: take the lock, write the PID file, listen, report ready, serve until asked
//! to stop, then stop in order.
//!
//! Everything that can fail before clients could connect is reported to whoever started the
//! daemon (the waiting parent, or the terminal / service manager in the foreground) and exits 1.
//! After that, failures are logged and the daemon keeps serving.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use steward_ipc::{Server, ServerHandle};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::detach::{ReadinessPipe, Report};
use super::lock::{self, Acquired};
use super::{Daemon, heartbeat, log_settings, notify, pidfile};
use crate::api;
use crate::api::types::RunState;
use crate::config::Config;
use crate::paths::Project;

/// How long a second daemon waits for the lock while it may only be a client's brief probe.
const LOCK_PATIENCE: Duration = Duration::from_secs(2);
/// How long connections get to finish their calls and flush replies when the daemon stops.
const SERVER_DRAIN: Duration = Duration::from_secs(5);

/// What to start.
pub struct Launch {
    /// The project to serve.
    pub project: Project,
    /// Its validated configuration.
    pub config: Config,
    /// Where to listen.
    pub socket: PathBuf,
}

/// Who learns how startup went.
pub enum Reporter {
    /// A parent waiting on a pipe (`daemon start`).
    Pipe(ReadinessPipe),
    /// The terminal or service manager (`daemon start --foreground`).
    Foreground,
}

impl Reporter {
    fn send(self, report: Report) -> ExitCode {
        let code = match &report {
            Report::Failed(_) => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        };
        match self {
            Reporter::Pipe(pipe) => pipe.send(&report),
            Reporter::Foreground => {
                // Output may be closed under a service manager; that must not stop the daemon.
                let _ = match &report {
                    Report::Ready { pid, socket } => {
                        writeln!(std::io::stdout(), "started (pid {pid}, socket {socket})")
                    }
                    Report::AlreadyRunning { pid: Some(pid) } => {
                        writeln!(std::io::stdout(), "already running (pid {pid})")
                    }
                    Report::AlreadyRunning { pid: None } => writeln!(std::io::stdout(), "already running"),
                    Report::Failed(message) => writeln!(std::io::stderr(), "error: {message}"),
                };
            }
        }
        code
    }
}

/// Runs the daemon to the end; the return value is the process exit code.
pub fn serve(launch: Launch, reporter: Reporter) -> ExitCode {
    let Launch { project, config, socket } = launch;
    let foreground = matches!(reporter, Reporter::Foreground);
    if let Err(err) = crate::layout::create(&project) {
        return reporter.send(Report::Failed(format!("cannot prepare {}: {err}", project.steward_dir().display())));
    }
    let pid = std::process::id();
    let pid_file = project.pid_file();
    let holder_is_a_daemon = || pidfile::read(&pid_file).is_some_and(|p| p != pid && pidfile::process_exists(p));
    let lock = match lock::acquire(&project.lock_file(), LOCK_PATIENCE, holder_is_a_daemon) {
        Ok(Acquired::Held(lock)) => lock,
        Ok(Acquired::Busy) => return reporter.send(Report::AlreadyRunning { pid: pidfile::read(&pid_file) }),
        Err(err) => {
            let path = project.lock_file();
            return reporter.send(Report::Failed(format!("cannot lock {}: {err}", path.display())));
        }
    };
    if let Err(err) = pidfile::write(&pid_file, pid) {
        return reporter.send(Report::Failed(format!("cannot write {}: {err}", pid_file.display())));
    }
    let settings = log_settings(&project, &config);
    let log = match if foreground {
        crate::logging::init_foreground_logging(&settings, true)
    } else {
        crate::logging::init_daemon_logging(&settings)
    } {
        Ok(log) => log,
        Err(err) => {
            pidfile::remove_if_ours(&pid_file, pid);
            return reporter.send(Report::Failed(err.to_string()));
        }
    };
    crate::logging::log_panics();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("steward").enable_all().build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                pidfile::remove_if_ours(&pid_file, pid);
                return reporter.send(Report::Failed(format!("cannot start the async runtime: {err}")));
            }
        };
    let daemon = Daemon::new(project, socket, config, Some(log));
    let code = runtime.block_on(run(daemon, reporter));
    runtime.shutdown_timeout(Duration::from_secs(2));
    pidfile::remove_if_ours(&pid_file, pid);
    drop(lock);
    code
}

async fn run(daemon: Daemon, reporter: Reporter) -> ExitCode {
    let status = daemon.status();
    let socket = status.socket.clone();
    // Handlers are installed before anyone can learn we are ready, so an early SIGTERM stops
    // us cleanly instead of killing us.
    let signals = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()));
    let (mut term, mut int, mut hup) = match signals {
        (Ok(term), Ok(int), Ok(hup)) => (term, int, hup),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return reporter.send(Report::Failed(format!("cannot install signal handlers: {e}")));
        }
    };
    let settings = steward_ipc::Settings {
        max_message_bytes: usize::try_from(daemon.config().daemon.max_message_bytes).unwrap_or(usize::MAX),
        ..steward_ipc::Settings::default()
    };
    let server = match Server::new(settings).start(&socket, api::methods(daemon.clone())) {
        Ok(server) => server,
        Err(err) => return reporter.send(Report::Failed(format!("cannot listen: {err}"))),
    };
    daemon.attach_server(server.clone());
    daemon.events().emit("daemon:started", json!({ "pid": status.pid, "socket": socket, "version": status.version }));
    if let Err(err) = heartbeat::write_now(&daemon) {
        tracing::warn!(error = %err, "could not write the heartbeat and state.json");
    }
    tracing::info!(pid = status.pid, socket = %socket.display(), project = %status.project.display(), "ready");
    let _ = notify::ready();
    let _ = notify::status("serving");
    reporter.send(Report::Ready { pid: status.pid, socket: socket.display().to_string() });

    let heartbeat_stop = CancellationToken::new();
    tokio::spawn(heartbeat::run(daemon.clone(), heartbeat_stop.clone()));
    loop {
        tokio::select! {
            _ = term.recv() => { daemon.request_stop(None, "SIGTERM"); }
            _ = int.recv() => { daemon.request_stop(None, "SIGINT"); }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading the configuration");
                let daemon = daemon.clone();
                tokio::spawn(async move { daemon.reload().await });
            }
            _ = daemon.stop_requested() => break,
        }
    }
    stop(&daemon, &server, heartbeat_stop).await;
    ExitCode::SUCCESS
}

/// Stops in order: say so, let work finish, close connections, leave an accurate state behind.
async fn stop(daemon: &Daemon, server: &ServerHandle, heartbeat_stop: CancellationToken) {
    let grace_s = daemon.stop_grace_s();
    daemon.set_run_state(RunState::Stopping);
    let _ = notify::stopping();
    daemon.events().emit("daemon:stopping", json!({ "grace_s": grace_s }));
    write_state(daemon);
    server.stop();
    if tokio::time::timeout(SERVER_DRAIN, server.stopped()).await.is_err() {
        tracing::warn!("connections did not finish in time; closing them");
        server.abort();
        let _ = tokio::time::timeout(Duration::from_secs(1), server.stopped()).await;
    }
    heartbeat_stop.cancel();
    daemon.set_run_state(RunState::Stopped);
    write_state(daemon);
    tracing::info!("stopped");
}

fn write_state(daemon: &Daemon) {
    if let Err(err) = heartbeat::write_state(daemon) {
        tracing::warn!(error = %err, "could not write state.json");
    }
}
