//! Creating the listening socket safely.
//!
//! The socket file is created with mode 0600 from its first instant (interprocess sets the mode
//! on the socket before `bind`, so no umask race leaves it open), inside a directory that is
//! ours and closed to others. An existing socket file is removed only when nothing answers on
//! it: a live server's socket is never taken over. The file we created is remembered by device
//! and inode, so that on shutdown we remove our socket and never one that replaced it.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use interprocess::local_socket::{GenericFilePath, ListenerOptions, ToFsName};
use interprocess::os::unix::local_socket::ListenerOptionsExt;

/// Why the server could not listen.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Another process answers on the socket.
    #[error("another server is already listening on {path}")]
    InUse {
        /// The socket path.
        path: PathBuf,
    },
    /// Something that is not a socket sits where the socket should go.
    #[error("{path} exists and is not a socket; move it away or choose another socket path")]
    NotASocket {
        /// The path.
        path: PathBuf,
    },
    /// The socket's directory belongs to someone else.
    #[error("refusing to listen in {dir}: it is owned by uid {owner}, not by uid {uid}")]
    ForeignDirectory {
        /// The directory.
        dir: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our uid.
        uid: u32,
    },
    /// The path does not fit in a socket address.
    #[error("socket path {path} is {len} bytes long; a Unix socket path may be at most {max} bytes")]
    PathTooLong {
        /// The path.
        path: PathBuf,
        /// Its length in bytes.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Any other failure, with what we were doing.
    #[error("{action} {path}: {source}")]
    Io {
        /// What failed, e.g. "creating directory".
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// Longest path that fits `sockaddr_un.sun_path` with its terminating NUL.
pub const MAX_SOCKET_PATH: usize = 107;

/// Identity of the socket file we created, to remove exactly that file later.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SocketFile {
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Removes the socket at `path` if it is still the file we created.
    pub(crate) fn remove_if_ours(&self, path: &Path) {
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(path) {
                    tracing::warn!(path = %path.display(), error = %e, "could not remove the socket file");
                }
            }
            Ok(_) => tracing::info!(path = %path.display(), "socket file was replaced by another; leaving it"),
            Err(_) => {}
        }
    }
}

/// Binds a listener at `path` with mode 0600 in a 0700 directory.
pub(crate) fn bind(path: &Path) -> Result<(tokio::net::UnixListener, SocketFile), BindError> {
    let len = path.as_os_str().len();
    if len > MAX_SOCKET_PATH {
        return Err(BindError::PathTooLong { path: path.to_owned(), len, max: MAX_SOCKET_PATH });
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        prepare_directory(dir)?;
    }
    clear_stale_socket(path)?;

    let io_err = |action, source| BindError::Io { action, path: path.to_owned(), source };
    let name = path.to_fs_name::<GenericFilePath>().map_err(|e| io_err("naming socket", e))?;
    let listener = ListenerOptions::new()
        .name(name)
        .mode(0o600)
        .reclaim_name(false)
        .try_overwrite(false)
        .create_sync_as::<interprocess::os::unix::uds_local_socket::Listener>()
        .map_err(|e| match e.kind() {
            io::ErrorKind::AddrInUse => BindError::InUse { path: path.to_owned() },
            _ => io_err("listening on", e),
        })?;
    let std_listener: std::os::unix::net::UnixListener = listener.into();
    std_listener.set_nonblocking(true).map_err(|e| io_err("configuring", e))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| io_err("inspecting", e))?;
    let tokio_listener = tokio::net::UnixListener::from_std(std_listener).map_err(|e| io_err("registering", e))?;
    Ok((tokio_listener, SocketFile { dev: meta.dev(), ino: meta.ino() }))
}

/// Creates the socket's directory as 0700, or checks that the existing one is ours and closes it.
fn prepare_directory(dir: &Path) -> Result<(), BindError> {
    let io_err = |action, source| BindError::Io { action, path: dir.to_owned(), source };
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| io_err("creating directory", e))?;
    }
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io_err("creating directory", e)),
    }
    let meta = std::fs::metadata(dir).map_err(|e| io_err("inspecting directory", e))?;
    if !meta.is_dir() {
        return Err(io_err("using directory", io::Error::from(io::ErrorKind::NotADirectory)));
    }
    let uid = nix::unistd::geteuid().as_raw();
    if meta.uid() != uid {
        return Err(BindError::ForeignDirectory { dir: dir.to_owned(), owner: meta.uid(), uid });
    }
    if meta.mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io_err("restricting permissions of", e))?;
    }
    Ok(())
}

/// Removes a socket file nobody answers on; refuses when someone does or when it is not a socket.
fn clear_stale_socket(path: &Path) -> Result<(), BindError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(BindError::Io { action: "inspecting", path: path.to_owned(), source: e }),
    };
    if !meta.file_type().is_socket() {
        return Err(BindError::NotASocket { path: path.to_owned() });
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(BindError::InUse { path: path.to_owned() }),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!(path = %path.display(), "removing stale socket (nothing listens on it)");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(BindError::Io { action: "removing stale socket", path: path.to_owned(), source: e }),
            }
        }
        Err(e) => Err(BindError::Io { action: "probing existing socket", path: path.to_owned(), source: e }),
    }
}
