//! The server: accept connections on a local socket and serve jsonrpsee [`Methods`] on them.
//!
//! [`Server::start`] returns once the socket is bound and listening, so whoever waits for it
//! knows clients can connect. The returned [`ServerHandle`] stops the server gracefully (no new
//! connections or requests; running calls finish and their replies are flushed) or abruptly.

mod bind;
mod connection;
mod dispatch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use jsonrpsee::core::id_providers::RandomIntegerIdProvider;
use jsonrpsee::core::server::{BoundedSubscriptions, ConnectionId, Extensions, Methods};
use jsonrpsee::core::traits::IdProvider;
use tokio::net::UnixStream;
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info_span, warn};

pub use bind::{BindError, MAX_SOCKET_PATH};

use crate::Settings;
use crate::error;

/// File descriptors kept free for everything that is not a client connection.
const RESERVED_FDS: u64 = 256;

/// Who is on the other end of a connection, as the kernel reports it (SO_PEERCRED).
///
/// Methods find it in their `Extensions`, e.g. to log who asked the daemon to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerInfo {
    /// The peer's process id, when the platform reports it.
    pub pid: Option<i32>,
    /// The peer's effective user id.
    pub uid: u32,
}

/// Builds and starts a [`ServerHandle`].
#[derive(Debug)]
pub struct Server {
    settings: Settings,
    id_provider: Arc<dyn IdProvider>,
}

impl Default for Server {
    fn default() -> Self {
        Self::new(Settings::default())
    }
}

impl Server {
    /// A server with the given limits.
    pub fn new(settings: Settings) -> Self {
        Self { settings, id_provider: Arc::new(RandomIntegerIdProvider) }
    }

    /// Chooses how subscription ids are made.
    pub fn id_provider(mut self, provider: impl IdProvider + 'static) -> Self {
        self.id_provider = Arc::new(provider);
        self
    }

    /// Binds `path` and starts serving `methods`. Must be called inside a Tokio runtime.
    ///
    /// Returns only once the socket accepts connections.
    pub fn start(self, path: &Path, methods: impl Into<Methods>) -> Result<ServerHandle, BindError> {
        let (listener, socket_file) = bind::bind(path)?;
        let max_connections = fit_open_files_limit(self.settings.max_connections);
        let shared = Arc::new(Shared {
            path: path.to_owned(),
            stop: CancellationToken::new(),
            abort: CancellationToken::new(),
            tracker: TaskTracker::new(),
            open: AtomicUsize::new(0),
            max_connections,
        });
        let accept = AcceptLoop {
            listener,
            socket_file,
            methods: methods.into(),
            settings: self.settings,
            id_provider: self.id_provider,
            permits: Arc::new(Semaphore::new(max_connections)),
            uid: nix::unistd::geteuid().as_raw(),
            shared: shared.clone(),
        };
        shared.tracker.spawn(accept.run());
        Ok(ServerHandle { shared })
    }
}

struct Shared {
    path: PathBuf,
    stop: CancellationToken,
    abort: CancellationToken,
    tracker: TaskTracker,
    open: AtomicUsize,
    max_connections: usize,
}

/// Controls a running server. Cloning it gives another handle to the same server.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle").field("path", &self.shared.path).finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Connections open right now.
    pub fn connections(&self) -> usize {
        self.shared.open.load(Ordering::Relaxed)
    }

    /// The connection limit in force (the configured one, lowered if the open-files limit could
    /// not be raised to fit it).
    pub fn max_connections(&self) -> usize {
        self.shared.max_connections
    }

    /// Stops gracefully: accept nothing more, read no more requests, finish running calls and
    /// flush their replies, then close. The socket file is removed. Returns at once; await
    /// [`stopped`](Self::stopped) to know when it is done.
    pub fn stop(&self) {
        self.shared.stop.cancel();
    }

    /// Stops now: like [`stop`](Self::stop), but replies not yet written are dropped.
    pub fn abort(&self) {
        self.shared.stop.cancel();
        self.shared.abort.cancel();
    }

    /// Completes when the server has stopped and every connection is closed.
    pub async fn stopped(&self) {
        self.shared.stop.cancelled().await;
        self.shared.tracker.close();
        self.shared.tracker.wait().await;
    }
}

struct AcceptLoop {
    listener: tokio::net::UnixListener,
    socket_file: bind::SocketFile,
    methods: Methods,
    settings: Settings,
    id_provider: Arc<dyn IdProvider>,
    permits: Arc<Semaphore>,
    uid: u32,
    shared: Arc<Shared>,
}

impl AcceptLoop {
    async fn run(self) {
        let next_id = AtomicUsize::new(1);
        loop {
            let accepted = tokio::select! {
                _ = self.shared.stop.cancelled() => break,
                accepted = self.listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _)) => self.admit(stream, ConnectionId(next_id.fetch_add(1, Ordering::Relaxed))),
                Err(e) => {
                    // Out of descriptors or memory: accepting again at once would spin.
                    warn!(error = %e, "accept failed; pausing briefly");
                    tokio::select! {
                        _ = self.shared.stop.cancelled() => break,
                        _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {}
                    }
                }
            }
        }
        drop(self.listener);
        self.socket_file.remove_if_ours(&self.shared.path);
    }

    fn admit(&self, stream: UnixStream, conn_id: ConnectionId) {
        let peer = match stream.peer_cred() {
            Ok(cred) => PeerInfo { pid: cred.pid(), uid: cred.uid() },
            Err(e) => {
                debug!(error = %e, "could not read peer credentials; refusing");
                return;
            }
        };
        if peer.uid != self.uid {
            warn!(peer_uid = peer.uid, peer_pid = ?peer.pid, "refused a connection from another user");
            self.shared.tracker.spawn(connection::refuse(stream, error::permission_denied(peer.uid, self.uid)));
            return;
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            warn!(limit = self.shared.max_connections, "connection limit reached; refusing a connection");
            self.shared
                .tracker
                .spawn(connection::refuse(stream, error::too_many_connections(self.shared.max_connections)));
            return;
        };
        let (outbound, outbound_rx) = mpsc::channel(self.settings.connection_buffer);
        let mut extensions = Extensions::new();
        extensions.insert(conn_id);
        extensions.insert(peer);
        let dispatcher = Arc::new(dispatch::Dispatcher {
            methods: self.methods.clone(),
            conn_id,
            extensions,
            max_response_bytes: self.settings.max_response_bytes,
            subscriptions: BoundedSubscriptions::new(self.settings.max_subscriptions_per_connection),
            subscription_buffer: self.settings.subscription_buffer,
            id_provider: self.id_provider.clone(),
            outbound,
            closing: CancellationToken::new(),
        });
        let config = connection::ConnectionConfig {
            max_message_bytes: self.settings.max_message_bytes,
            max_requests_in_flight: self.settings.max_requests_in_flight,
            stop: self.shared.stop.clone(),
            abort: self.shared.abort.clone(),
        };
        let shared = self.shared.clone();
        shared.open.fetch_add(1, Ordering::Relaxed);
        let span = info_span!("connection", id = conn_id.0, peer_pid = ?peer.pid);
        let (read, write) = stream.into_split();
        self.shared.tracker.spawn(
            async move {
                debug!("connected");
                connection::serve(read, write, dispatcher, outbound_rx, config).await;
                shared.open.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
                debug!("disconnected");
            }
            .instrument(span),
        );
    }
}

/// Raises the soft open-files limit so that `wanted` connections fit; returns how many do.
fn fit_open_files_limit(wanted: usize) -> usize {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let needed = wanted as u64 + RESERVED_FDS;
    let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) else { return wanted };
    if soft >= needed {
        return wanted;
    }
    let target = needed.min(hard);
    let now = match setrlimit(Resource::RLIMIT_NOFILE, target, hard) {
        Ok(()) => target,
        Err(e) => {
            warn!(error = %e, soft, "could not raise the open-files limit");
            soft
        }
    };
    if now >= needed {
        return wanted;
    }
    let fitting = now.saturating_sub(RESERVED_FDS).max(1) as usize;
    warn!(wanted, fitting, open_files_limit = now, "open-files limit too low; serving fewer connections");
    fitting
}
