//! Which daemon a command talks to, and connecting to it with errors that say what to do.

use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonrpsee::core::client::Client;
use steward_ipc::{ConnectError, IpcClientBuilder, SequentialClient};

use super::{Failure, GlobalArgs};
use crate::api::types::DaemonStatus;
use crate::daemon::{lock, pidfile};
use crate::paths::{Project, SocketEnv, fits_socket_address};

/// How long a command waits for one reply (a reload reads a file; a stop returns at once).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// The daemon a command addresses: a project's, or whatever listens on `--socket`.
#[derive(Debug, Clone)]
pub struct Target {
    /// The socket to connect to.
    pub socket: PathBuf,
    /// The project, unless only a socket was given.
    pub project: Option<Project>,
}

impl Target {
    /// From the global options: `--socket` (or `STEWARD_SOCKET`) wins; else the project's socket.
    /// With both, the project counts only when the socket is its own: its lock and PID file say
    /// nothing about a daemon on another machine.
    pub fn resolve(global: &GlobalArgs) -> Result<Target, Failure> {
        if let Some(socket) = &global.socket {
            let project = global.project.as_deref().map(Project::at).transpose()?;
            let project = project.filter(|project| is_own_socket(project, socket));
            return Ok(Target { socket: socket.clone(), project });
        }
        let project = resolve_project(global)?;
        Ok(Target { socket: client_socket_path(&project), project: Some(project) })
    }

    /// "in PROJECT" or "at SOCKET", for messages.
    pub fn describe(&self) -> String {
        match &self.project {
            Some(project) => format!("in {}", project.root().display()),
            None => format!("at {}", self.socket.display()),
        }
    }

    /// Connects for a few calls in a row, or explains why not.
    pub async fn connect(&self) -> Result<SequentialClient, Failure> {
        let client = SequentialClient::connect(&self.socket).await.map_err(|err| self.connect_failure(err))?;
        Ok(client.request_timeout(REQUEST_TIMEOUT))
    }

    /// Connects, makes one call with the client, and explains a failure of either.
    pub fn call<T, F, Fut>(&self, call: F) -> Result<T, Failure>
    where
        F: FnOnce(SequentialClient) -> Fut,
        Fut: std::future::Future<Output = Result<T, jsonrpsee::core::client::Error>>,
    {
        super::block_on(async {
            let client = self.connect().await?;
            call(client).await.map_err(|err| super::rpc_failure(self, err))
        })?
    }

    /// Connects for subscriptions (and calls in flight at once), or explains why not.
    pub async fn connect_streaming(&self) -> Result<Client, Failure> {
        IpcClientBuilder::default()
            .request_timeout(REQUEST_TIMEOUT)
            .build(&self.socket)
            .await
            .map_err(|err| self.connect_failure(err))
    }

    fn connect_failure(&self, err: ConnectError) -> Failure {
        let socket = self.socket.display();
        match err {
            ConnectError::NoSocket { .. } => {
                if let Some(holder) = self.lock_holder() {
                    return Failure::Error(format!(
                        "the daemon {} ({holder}) holds the lock but has no socket at {socket}; it may be starting or stuck (see `steward daemon logs`)",
                        self.describe()
                    ));
                }
                Failure::NotRunning(format!("steward is not running {} (no socket at {socket})", self.describe()))
            }
            // `ssh -L` leaves its socket file behind when it exits, and only a local daemon
            // would replace it.
            ConnectError::Refused { .. } if self.project.is_none() => Failure::NotRunning(format!(
                "steward is not running at {socket}: the socket refuses connections; if ssh forwarded it, that ssh has exited: \
                 forward it again (`-o StreamLocalBindUnlink=yes` replaces the old socket file)"
            )),
            ConnectError::Refused { .. } => Failure::NotRunning(format!(
                "steward is not running {}: {socket} is a stale socket left by a daemon that exited (connection refused); `steward daemon start` replaces it",
                self.describe()
            )),
            ConnectError::PermissionDenied { .. } => Failure::Error(format!(
                "permission denied connecting to {socket}: the daemon belongs to another user; run steward as that user"
            )),
            other => Failure::Error(other.to_string()),
        }
    }

    /// "pid N" when a daemon of the project holds the instance lock.
    fn lock_holder(&self) -> Option<String> {
        let project = self.project.as_ref()?;
        if !lock::is_held(&project.lock_file()).ok()? {
            return None;
        }
        Some(match pidfile::read(&project.pid_file()) {
            Some(pid) => format!("pid {pid}"),
            None => "unknown pid".to_owned(),
        })
    }
}

/// The project named by `--project`, else the one around the current directory.
pub fn resolve_project(global: &GlobalArgs) -> Result<Project, Failure> {
    match &global.project {
        Some(dir) => Ok(Project::at(dir)?),
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| Failure::Error(format!("cannot read the current directory: {e}")))?;
            Ok(Project::discover(&cwd)?)
        }
    }
}

/// The project of a command that works on this machine (starts a daemon, reads the project's
/// files) rather than through the socket. `--socket` (or `STEWARD_SOCKET`) naming any socket but
/// the local project's own means the daemon lives elsewhere, out of this command's reach: refuse,
/// rather than act on a local project the user did not mean. `works` says what the command does,
/// as in "`steward daemon start` starts a daemon on this machine".
pub fn local_project(global: &GlobalArgs, command: &str, works: &str) -> Result<Project, Failure> {
    let Some(requested) = &global.socket else { return resolve_project(global) };
    match resolve_project(global) {
        Ok(project) if is_own_socket(&project, requested) => Ok(project),
        // A --project that cannot be used says so; a missing project here is the usual remote case.
        Err(failure) if global.project.is_some() => Err(failure),
        _ => Err(Failure::Usage(format!(
            "`steward {command}` {works} on this machine; --socket (or STEWARD_SOCKET) points at another daemon's socket ({}): \
             run it on the daemon's machine, or leave out --socket and unset STEWARD_SOCKET",
            requested.display()
        ))),
    }
}

/// Whether `socket` is where the project's daemon listens: the path it binds, or the one it
/// recorded. Compared by real directory, so a relative spelling or a symlinked directory counts.
fn is_own_socket(project: &Project, socket: &Path) -> bool {
    let own = [project.socket_path(&SocketEnv::from_process()), client_socket_path(project)];
    let requested = real_socket_path(socket);
    own.iter().any(|own| own == socket || (requested.is_some() && real_socket_path(own) == requested))
}

/// The socket path with its directory resolved (the socket itself need not exist).
fn real_socket_path(socket: &Path) -> Option<PathBuf> {
    let name = socket.file_name()?;
    let dir = socket.parent().filter(|dir| !dir.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(dir.canonicalize().ok()?.join(name))
}

/// Where a client finds the project's daemon: the default path when it fits a socket address,
/// else the path the daemon recorded in `state.json`, else the computed fallback.
pub fn client_socket_path(project: &Project) -> PathBuf {
    let default = project.default_socket_path();
    if fits_socket_address(&default) {
        return default;
    }
    recorded_socket(&project.state_file()).unwrap_or_else(|| project.socket_path(&SocketEnv::from_process()))
}

fn recorded_socket(state_file: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(state_file).ok()?;
    let status: DaemonStatus = serde_json::from_str(&text).ok()?;
    Some(status.socket)
}
