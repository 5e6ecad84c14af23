//! The client side: jsonrpsee's client transport over the same socket and framing.
//!
//! [`IpcClientBuilder::build`] connects and returns a jsonrpsee [`Client`], so the typed clients
//! that `#[rpc(client)]` generates work unchanged; it handles subscriptions and many calls in
//! flight. [`SequentialClient`] serves the common case of a command making a few calls one after
//! another: it implements the same `ClientT` trait without a background task or timer thread. Connection failures are told apart, because
//! each calls for a different action: no socket (nothing runs), permission denied (another
//! user's daemon), connection refused (a stale socket left by a daemon that died).

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonrpsee::core::client::{Client, ClientBuilder, ReceivedMessage, TransportReceiverT, TransportSenderT};
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use crate::codec::{FrameDecoder, FrameTooLarge};
use crate::server::MAX_SOCKET_PATH;

mod sequential;

pub use sequential::SequentialClient;

/// Why connecting failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Nothing at the path: no server runs there.
    #[error("no socket at {path}")]
    NoSocket {
        /// The socket path.
        path: PathBuf,
    },
    /// The socket or its directory is not ours to use.
    #[error("permission denied connecting to {path}")]
    PermissionDenied {
        /// The socket path.
        path: PathBuf,
    },
    /// The file exists but nothing listens on it.
    #[error("connection refused at {path}: the socket file exists but no server listens on it (stale socket)")]
    Refused {
        /// The socket path.
        path: PathBuf,
    },
    /// The path cannot be a socket address.
    #[error("socket path {path} is {len} bytes long; a Unix socket path may be at most {max} bytes")]
    PathTooLong {
        /// The socket path.
        path: PathBuf,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Anything else.
    #[error("connecting to {path}: {source}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A transport failure after connecting.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Reading or writing failed.
    #[error("socket error: {0}")]
    Io(#[from] io::Error),
    /// The server closed the connection.
    #[error("the daemon closed the connection")]
    Closed,
    /// A message from the server exceeded the client's limit.
    #[error(transparent)]
    TooLarge(#[from] FrameTooLarge),
    /// A message from the server was not UTF-8.
    #[error("the daemon sent a message that is not UTF-8")]
    InvalidUtf8,
    /// The server refused the connection (another user, or too many connections).
    #[error("the daemon refused the connection: {message}")]
    Refused {
        /// The `kind` of the server's error, e.g. `permission_denied`.
        kind: String,
        /// The server's explanation.
        message: String,
    },
}

/// A refusal is the only message that can arrive with a `null` id before any request was
/// answered; it is recognised by its `kind`, so the caller sees the server's reason instead of
/// an unmatched reply.
fn refusal(text: &str) -> Option<TransportError> {
    if !text.starts_with(r#"{"jsonrpc":"2.0","id":null,"error""#) {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let error = value.get("error")?;
    let kind = error.get("data")?.get("kind")?.as_str()?;
    if !matches!(kind, "permission_denied" | "too_many_connections") {
        return None;
    }
    let message = error.get("message")?.as_str()?.to_owned();
    Some(TransportError::Refused { kind: kind.to_owned(), message })
}

/// Connects to the socket at `path`.
pub async fn connect(path: &Path) -> Result<UnixStream, ConnectError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(ConnectError::PathTooLong { path: path.to_owned(), len, max: MAX_SOCKET_PATH });
    }
    UnixStream::connect(path).await.map_err(|source| {
        let path = path.to_owned();
        match source.kind() {
            io::ErrorKind::NotFound => ConnectError::NoSocket { path },
            io::ErrorKind::PermissionDenied => ConnectError::PermissionDenied { path },
            io::ErrorKind::ConnectionRefused => ConnectError::Refused { path },
            _ => ConnectError::Io { path, source },
        }
    })
}

/// Splits a connected stream into jsonrpsee transport halves.
pub fn transport(stream: UnixStream, max_message_bytes: usize) -> (Sender, Receiver) {
    let (read, write) = stream.into_split();
    (Sender { write }, Receiver { read, decoder: FrameDecoder::new(max_message_bytes) })
}

/// Sending half: one newline-terminated message per call.
#[derive(Debug)]
pub struct Sender {
    write: OwnedWriteHalf,
}

impl Sender {
    /// When the server refused the connection, writing may fail before the refusal is read; the
    /// refusal line is then already waiting in the socket, and it is the better explanation.
    fn refusal_behind(&self, error: io::Error) -> TransportError {
        if !matches!(error.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset) {
            return error.into();
        }
        let mut buf = [0u8; 4096];
        let stream: &UnixStream = self.write.as_ref();
        match stream.try_read(&mut buf) {
            Ok(n) => std::str::from_utf8(&buf[..n])
                .ok()
                .and_then(|text| refusal(text.lines().next().unwrap_or_default()))
                .unwrap_or(error.into()),
            Err(_) => error.into(),
        }
    }
}

impl TransportSenderT for Sender {
    type Error = TransportError;

    async fn send(&mut self, mut msg: String) -> Result<(), Self::Error> {
        msg.push('\n');
        match self.write.write_all(msg.as_bytes()).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.refusal_behind(e)),
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.write.shutdown().await?;
        Ok(())
    }
}

/// Receiving half: yields one framed message at a time.
#[derive(Debug)]
pub struct Receiver {
    read: OwnedReadHalf,
    decoder: FrameDecoder,
}

impl Receiver {
    /// A complete message already received, if any.
    fn take_message(&mut self) -> Result<Option<String>, TransportError> {
        let Some(range) = self.decoder.next_frame()? else { return Ok(None) };
        let text = std::str::from_utf8(&self.decoder.buffer()[range])
            .map(str::to_owned)
            .map_err(|_| TransportError::InvalidUtf8);
        self.decoder.compact();
        let text = text?;
        match refusal(&text) {
            Some(refused) => Err(refused),
            None => Ok(Some(text)),
        }
    }

    /// The next message from the server, as text.
    pub async fn next_message(&mut self) -> Result<String, TransportError> {
        loop {
            if let Some(text) = self.take_message()? {
                return Ok(text);
            }
            self.decoder.compact();
            self.read.readable().await?;
            match self.read.try_read_buf(self.decoder.read_buffer(16 * 1024)) {
                Ok(0) => return Err(TransportError::Closed),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl Receiver {
    /// Like [`next_message`](Self::next_message), but first polls the socket for up to `budget`
    /// without sleeping.
    ///
    /// A reply usually arrives within tens of microseconds; sleeping for it means the kernel must
    /// wake this thread again, which on a virtual machine can cost as much as the whole round
    /// trip. Between polls the thread yields, so a daemon sharing its CPU still runs.
    pub async fn next_message_polling(&mut self, budget: Duration) -> Result<String, TransportError> {
        let deadline = std::time::Instant::now() + budget;
        let mut chunk = [0u8; 16 * 1024];
        while std::time::Instant::now() < deadline {
            if let Some(text) = self.take_message()? {
                return Ok(text);
            }
            let fd = std::os::fd::AsRawFd::as_raw_fd(AsRef::<UnixStream>::as_ref(&self.read));
            match nix::sys::socket::recv(fd, &mut chunk, nix::sys::socket::MsgFlags::MSG_DONTWAIT) {
                Ok(0) => return Err(TransportError::Closed),
                Ok(n) => self.decoder.extend(&chunk[..n]),
                Err(nix::errno::Errno::EAGAIN) => std::thread::yield_now(),
                Err(nix::errno::Errno::EINTR) => {}
                Err(errno) => return Err(io::Error::from(errno).into()),
            }
        }
        self.next_message().await
    }
}

impl TransportReceiverT for Receiver {
    type Error = TransportError;

    async fn receive(&mut self) -> Result<ReceivedMessage, Self::Error> {
        self.next_message().await.map(ReceivedMessage::Text)
    }
}

/// Builds a jsonrpsee [`Client`] connected over a local socket.
#[derive(Debug, Clone)]
pub struct IpcClientBuilder {
    request_timeout: Duration,
    max_message_bytes: usize,
    max_concurrent_requests: usize,
    subscription_buffer: usize,
}

impl Default for IpcClientBuilder {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(60),
            max_message_bytes: 256 * 1024 * 1024,
            max_concurrent_requests: 1024,
            subscription_buffer: 4096,
        }
    }
}

impl IpcClientBuilder {
    /// How long a call may wait for its reply.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Largest message accepted from the server.
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// Calls in flight at once.
    pub fn max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max;
        self
    }

    /// Notifications buffered per subscription on the client side.
    pub fn subscription_buffer(mut self, max: usize) -> Self {
        self.subscription_buffer = max;
        self
    }

    /// Connects to `path`. Must be called inside a Tokio runtime.
    pub async fn build(self, path: &Path) -> Result<Client, ConnectError> {
        let stream = connect(path).await?;
        Ok(self.build_with_stream(stream))
    }

    /// Wraps an already connected stream.
    pub fn build_with_stream(self, stream: UnixStream) -> Client {
        let (sender, receiver) = transport(stream, self.max_message_bytes);
        ClientBuilder::default()
            .request_timeout(self.request_timeout)
            .max_concurrent_requests(self.max_concurrent_requests)
            .max_buffer_capacity_per_subscription(self.subscription_buffer)
            .build_with_tokio(sender, receiver)
    }
}
