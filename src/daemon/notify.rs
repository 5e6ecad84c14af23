//! systemd readiness notification (`sd_notify`), without linking libsystemd.
//!
//! Under a `Type=notify` unit systemd passes a datagram socket in `NOTIFY_SOCKET`; the daemon
//! sends newline-separated `KEY=VALUE` assignments to it when it is ready, reloading or
//! stopping. Outside systemd (variable unset, launchd, a terminal) every call is a no-op that
//! returns `Ok(false)`, so callers never need to know how they were started.

use std::ffi::OsStr;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::Path;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Sends `state` to the service manager; `Ok(false)` when there is none to tell.
pub fn notify(state: &str) -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(socket) if !socket.is_empty() => send_to(&socket, state).map(|()| true),
        _ => Ok(false),
    }
}

/// Startup finished: the socket accepts connections. Also names the main PID so that systemd
/// tracks this process even if it was started through a wrapper.
pub fn ready() -> io::Result<bool> {
    notify(&ready_state(std::process::id()))
}

/// Shutdown began.
pub fn stopping() -> io::Result<bool> {
    notify("STOPPING=1")
}

/// A configuration reload began; send [`ready`] when it is done. systemd (`Type=notify-reload`)
/// requires the monotonic timestamp to match the reload to the request.
pub fn reloading() -> io::Result<bool> {
    notify(&reloading_state(monotonic_usec()?))
}

/// A one-line human status shown by `systemctl status`.
pub fn status(message: &str) -> io::Result<bool> {
    notify(&status_state(message))
}

fn ready_state(pid: u32) -> String {
    format!("READY=1\nMAINPID={pid}")
}

fn reloading_state(monotonic_usec: u64) -> String {
    format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}")
}

fn status_state(message: &str) -> String {
    // A newline would start a new assignment; keep the message a single value.
    format!("STATUS={}", message.replace(['\n', '\r'], " "))
}

/// `CLOCK_MONOTONIC` in microseconds, the clock systemd compares reload timestamps against.
fn monotonic_usec() -> io::Result<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    Ok(secs * 1_000_000 + nanos / 1_000)
}

/// Sends one datagram to `socket`, a filesystem path or (Linux) `@abstract-name`.
fn send_to(socket: &OsStr, state: &str) -> io::Result<()> {
    let sender = UnixDatagram::unbound()?;
    let sent = send_datagram(&sender, socket, state.as_bytes()).map_err(|e| {
        io::Error::new(e.kind(), format!("notifying the service manager at {}: {e}", Path::new(socket).display()))
    })?;
    if sent != state.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!(
                "notifying the service manager at {}: sent {sent} of {} bytes",
                Path::new(socket).display(),
                state.len()
            ),
        ));
    }
    Ok(())
}

#[cfg(target_os = "linux")]
fn send_datagram(sender: &UnixDatagram, socket: &OsStr, data: &[u8]) -> io::Result<usize> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::SocketAddr;

    match socket.as_bytes().strip_prefix(b"@") {
        Some(name) => sender.send_to_addr(data, &SocketAddr::from_abstract_name(name)?),
        None => sender.send_to(data, socket),
    }
}

#[cfg(not(target_os = "linux"))]
fn send_datagram(sender: &UnixDatagram, socket: &OsStr, data: &[u8]) -> io::Result<usize> {
    use std::os::unix::ffi::OsStrExt;

    if socket.as_bytes().starts_with(b"@") {
        return Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets exist only on Linux"));
    }
    sender.send_to(data, socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receive(listener: &UnixDatagram) -> String {
        let mut buf = [0u8; 512];
        let n = listener.recv(&mut buf).unwrap();
        String::from_utf8(buf[..n].to_vec()).unwrap()
    }

    #[test]
    fn sends_one_datagram_to_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notify.sock");
        let listener = UnixDatagram::bind(&path).unwrap();

        send_to(path.as_os_str(), &ready_state(123)).unwrap();
        assert_eq!(receive(&listener), "READY=1\nMAINPID=123");
        send_to(path.as_os_str(), "STOPPING=1").unwrap();
        assert_eq!(receive(&listener), "STOPPING=1");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sends_to_an_abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        use std::os::unix::net::SocketAddr;

        let name = format!("steward-notify-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();

        send_to(OsStr::new(&format!("@{name}")), &status_state("idle")).unwrap();
        assert_eq!(receive(&listener), "STATUS=idle");
    }

    #[test]
    fn missing_socket_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("absent.sock");
        let err = send_to(path.as_os_str(), "READY=1").unwrap_err();
        assert!(err.to_string().contains("absent.sock"), "{err}");
    }

    #[test]
    fn state_texts() {
        assert_eq!(reloading_state(42), "RELOADING=1\nMONOTONIC_USEC=42");
        assert_eq!(status_state("two\nlines"), "STATUS=two lines");
        let first = monotonic_usec().unwrap();
        assert!(first > 0);
        assert!(monotonic_usec().unwrap() >= first);
    }
}
