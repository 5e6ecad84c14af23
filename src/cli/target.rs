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
    pub fn resolve(global: &GlobalArgs) -> Result<Target, Failure> {
        if let Some(socket) = &global.socket {
            let project = global.project.as_deref().map(Project::at).transpose()?;
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
