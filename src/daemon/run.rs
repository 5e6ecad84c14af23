//! The daemon's life: take the lock, write the PID file, listen, report ready, serve until asked
//! to stop, then stop in order.
//!
//! Everything that can fail before clients could connect is reported to whoever started the
//! daemon (the waiting parent, or the terminal / service manager in the foreground) and exits 1.
//! After that, failures are logged and the daemon keeps serving.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use steward_ipc::{Server, ServerHandle};
use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

use super::detach::{ReadinessPipe, Report};
use super::instance::Components;
use super::lock::{self, Acquired};
use super::{Daemon, heartbeat, log_settings, memory, notify, pidfile};
use crate::api;
use crate::api::types::RunState;
use crate::config::Config;
use crate::events::EventBus;
use crate::live_config::LiveConfig;
use crate::logging::LogHandle;
use crate::paths::Project;
use crate::queue::Queue;
use crate::store::{Opened, Store};
use crate::supervisor::Supervisor;

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
    /// `daemon start --mode`: the GitHub mode for this run, whatever the configuration says.
    pub mode: Option<crate::config::Mode>,
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
                    Report::Ready { pid, socket, warnings } => {
                        for warning in warnings {
                            let _ = writeln!(std::io::stderr(), "warning: {warning}");
                        }
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
    let Launch { project, config, socket, mode } = launch;
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
    memory::limit_arenas();
    let runtime =
        match tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("steward").enable_all().build()
        {
            Ok(runtime) => runtime,
            Err(err) => {
                pidfile::remove_if_ours(&pid_file, pid);
                return reporter.send(Report::Failed(format!("cannot start the async runtime: {err}")));
            }
        };
    let lock_file = (project.lock_file(), lock.file_id().ok());
    let code = runtime.block_on(run(project, socket, config, mode, log, reporter, lock_file));
    runtime.shutdown_timeout(Duration::from_secs(2));
    pidfile::remove_if_ours(&pid_file, pid);
    drop(lock);
    code
}

/// Events kept in memory for `event.subscribe {since_seq}`; older ones come from the store.
const EVENT_WINDOW: usize = 1024;
/// A commit group this large counts as a burst after which memory is given back.
const BURST_JOBS: usize = 256;

/// Opens the store and builds the components around it.
fn assemble(
    project: Project,
    socket: PathBuf,
    config: Config,
    log: LogHandle,
) -> Result<(Daemon, Vec<String>), String> {
    let Opened { store, warnings } = Store::open(&project.db_file()).map_err(|e| e.to_string())?;
    // A large group of writes means a burst of requests and replies just went through.
    let trimmer = memory::Trimmer::default();
    let after_burst = trimmer.clone();
    store.writer().observe_commits(move |jobs| {
        if jobs >= BURST_JOBS {
            after_burst.after_burst();
        }
    });
    tokio::spawn(trimmer.run());
    let last_seq = store.read_now(crate::events::sql::last_seq).map_err(|e| e.to_string())?;
    let events =
        Arc::new(EventBus::persistent(EVENT_WINDOW, store.writer().clone(), last_seq, config.daemon.event_retention));
    let config = LiveConfig::new(config);
    let shim =
        crate::supervisor::process::shim_executable().map_err(|e| format!("cannot find this executable: {e}"))?;
    let supervisor = Supervisor::new(store.clone(), events.clone(), project.clone(), config.clone(), shim);
    let queue = Queue::new(store.clone(), events.clone(), supervisor.clone(), project.clone());
    let components = Components { config, store, events, queue, supervisor };
    Ok((Daemon::new(project, socket, components, Some(log)), warnings))
}

async fn run(
    project: Project,
    socket: PathBuf,
    config: Config,
    mode: Option<crate::config::Mode>,
    log: LogHandle,
    reporter: Reporter,
    lock_file: (PathBuf, Option<lock::FileId>),
) -> ExitCode {
    // Handlers are installed before anyone can learn we are ready, so an early SIGTERM stops
    // us cleanly instead of killing us.
    let signals = (signal(SignalKind::terminate()), signal(SignalKind::interrupt()), signal(SignalKind::hangup()));
    let (mut term, mut int, mut hup) = match signals {
        (Ok(term), Ok(int), Ok(hup)) => (term, int, hup),
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return reporter.send(Report::Failed(format!("cannot install signal handlers: {e}")));
        }
    };
    let (daemon, warnings) = match assemble(project, socket.clone(), config, log) {
        Ok(assembled) => assembled,
        Err(message) => return reporter.send(Report::Failed(message)),
    };
    daemon.set_mode_override(mode);
    // Tasks a previous daemon left are settled before anyone can ask about them.
    if let Err(err) = daemon.supervisor().recover().await {
        return reporter.send(Report::Failed(format!("cannot recover the tasks of the previous run: {err}")));
    }
    // Before the socket opens, so that no client finds the rules missing. Schedules that catch
    // up queue their tasks now; the supervisor runs them once it starts below.
    let parts = crate::automation::Parts {
        store: daemon.store().clone(),
        events: daemon.event_bus(),
        queue: daemon.queue().clone(),
        config: daemon.live_config().clone(),
        root: daemon.project().root().to_owned(),
    };
    match crate::automation::Automation::start(parts) {
        Ok(automation) => daemon.attach_automation(automation),
        Err(err) => return reporter.send(Report::Failed(err)),
    }
    // Also before the socket opens: `steward.*` is served from the first request on.
    let stopper = daemon.clone();
    daemon.attach_steward(crate::steward::Steward::start(crate::steward::Parts {
        store: daemon.store().clone(),
        events: daemon.event_bus(),
        queue: daemon.queue().clone(),
        config: daemon.live_config().clone(),
        project: daemon.project().clone(),
        mode_override: mode,
        give_up: Box::new(move |reason| stopper.request_failure_stop(&reason)),
    }));
    let settings = steward_ipc::Settings {
        max_message_bytes: usize::try_from(daemon.config().daemon.max_message_bytes).unwrap_or(usize::MAX),
        ..steward_ipc::Settings::default()
    };
    let server = match Server::new(settings).start(&socket, api::methods(daemon.clone())) {
        Ok(server) => server,
        Err(err) => return reporter.send(Report::Failed(format!("cannot listen: {err}"))),
    };
    daemon.attach_server(server.clone());
    let pid = std::process::id();
    daemon.events().emit(
        "daemon:started",
        json!({ "pid": pid, "socket": socket, "version": env!("CARGO_PKG_VERSION"), "warnings": warnings }),
    );
    if let Err(err) = heartbeat::write_now(&daemon).await {
        tracing::warn!(error = %err, "could not write the heartbeat and state.json");
    }
    tracing::info!(pid, socket = %socket.display(), project = %daemon.project().root().display(), "ready");
    let _ = notify::ready();
    let _ = notify::status("serving");
    reporter.send(Report::Ready { pid, socket: socket.display().to_string(), warnings });
    tokio::spawn(daemon.supervisor().clone().run());
    // Opening and checking the store allocated more than serving needs.
    memory::trim();

    let heartbeat_stop = CancellationToken::new();
    tokio::spawn(heartbeat::run(daemon.clone(), heartbeat_stop.clone()));
    if let (path, Some(locked)) = lock_file {
        tokio::spawn(watch_home(daemon.clone(), path, locked, heartbeat_stop.clone()));
    }
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
    if daemon.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// How often the daemon checks that its lock file is still there.
const HOME_CHECK: Duration = Duration::from_secs(5);

/// Stops the daemon (exit 1) once its lock file is gone or replaced: someone removed
/// `.steward/` (or `.steward/daemon/`) under it. Its store, socket and log went with it, and a
/// new daemon could now start beside it; stopping is the one safe answer, and a service manager
/// then starts a fresh daemon, which recreates `.steward/`.
async fn watch_home(daemon: Daemon, path: PathBuf, locked: lock::FileId, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(HOME_CHECK) => {}
            () = stop.cancelled() => return,
        }
        let check = path.clone();
        let ours = tokio::task::spawn_blocking(move || lock::still_ours(&check, locked)).await.unwrap_or(true);
        if !ours {
            let reason = format!(
                "{} was removed or replaced while the daemon ran (was .steward/ deleted?); stopping so that a new \
                 daemon can start there",
                path.display()
            );
            tracing::error!(%reason);
            eprintln!("steward: {reason}");
            daemon.request_failure_stop(&reason);
            return;
        }
    }
}

/// Stops in order: take no new work, say so, give running tasks their grace and interrupt
/// them, close connections, and leave an accurate state behind.
async fn stop(daemon: &Daemon, server: &ServerHandle, heartbeat_stop: CancellationToken) {
    let grace_s = daemon.stop_grace_s();
    // Rules and the GitHub loops stop first: nothing fires into a queue that no longer takes work.
    if let Some(automation) = daemon.automation() {
        automation.stop().await;
    }
    if let Some(steward) = daemon.steward() {
        steward.stop().await;
    }
    daemon.queue().stop_accepting();
    daemon.set_run_state(RunState::Stopping);
    let _ = notify::stopping();
    daemon.events().emit("daemon:stopping", json!({ "grace_s": grace_s }));
    write_state(daemon).await;
    daemon.supervisor().shutdown(Duration::from_secs(grace_s)).await;
    server.stop();
    if tokio::time::timeout(SERVER_DRAIN, server.stopped()).await.is_err() {
        tracing::warn!("connections did not finish in time; closing them");
        server.abort();
        let _ = tokio::time::timeout(Duration::from_secs(1), server.stopped()).await;
    }
    heartbeat_stop.cancel();
    daemon.set_run_state(RunState::Stopped);
    write_state(daemon).await;
    // The writer commits in order before it closes: every event before this is stored too.
    let store = daemon.store().clone();
    if tokio::task::spawn_blocking(move || store.close()).await.is_err() {
        tracing::warn!("the store did not close cleanly; its log is replayed at the next start");
    }
    tracing::info!("stopped");
}

async fn write_state(daemon: &Daemon) {
    if let Err(err) = heartbeat::write_state(daemon).await {
        tracing::warn!(error = %err, "could not write state.json");
    }
}
