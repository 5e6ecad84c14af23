//! Detaching from the terminal, and telling the waiting parent how startup went.
//!
//! `steward daemon start` forks before any runtime or thread exists (a fork copies only the
//! calling thread, so forking after threads start can leave locks held forever in the child).
//! The child starts a new session and forks again, so the daemon is not a session leader and can
//! never acquire a controlling terminal; the middle process exits at once. The daemon reports
//! back through a pipe only when its socket accepts connections, or with the reason it could not
//! start; the parent prints that and exits with the matching code.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{ForkResult, fork, pipe2, setsid};

/// What the daemon reported to the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// Serving.
    Ready {
        /// The daemon's pid.
        pid: u32,
        /// The socket it listens on.
        socket: String,
        /// What the user should know (e.g. an unreadable store was moved aside).
        warnings: Vec<String>,
    },
    /// Another daemon already serves the project.
    AlreadyRunning {
        /// Its pid, when known.
        pid: Option<u32>,
    },
    /// Startup failed, with the reason.
    Failed(String),
}

impl Report {
    fn encode(&self) -> String {
        match self {
            Report::Ready { pid, socket, warnings } => {
                let mut text = format!("ready {pid} {socket}");
                for warning in warnings {
                    text.push_str("\nwarning ");
                    text.push_str(&warning.replace('\n', " "));
                }
                text
            }
            Report::AlreadyRunning { pid: Some(pid) } => format!("running {pid}"),
            Report::AlreadyRunning { pid: None } => "running".to_owned(),
            Report::Failed(message) => format!("failed {message}"),
        }
    }

    /// Reads what the daemon wrote; an empty message means it died before saying anything.
    pub fn decode(text: &str) -> Report {
        let (word, rest) = text.split_once(' ').unwrap_or((text, ""));
        match word {
            "ready" => {
                let mut lines = rest.split('\n');
                let first = lines.next().unwrap_or_default();
                let warnings = lines.filter_map(|l| l.strip_prefix("warning ")).map(str::to_owned).collect();
                let (pid, socket) = first.split_once(' ').unwrap_or((first, ""));
                match pid.parse() {
                    Ok(pid) => Report::Ready { pid, socket: socket.to_owned(), warnings },
                    Err(_) => Report::Failed(format!("unreadable readiness report: {text:?}")),
                }
            }
            "running" => Report::AlreadyRunning { pid: rest.trim().parse().ok() },
            "failed" => Report::Failed(rest.to_owned()),
            _ => Report::Failed(String::new()),
        }
    }
}

/// The daemon's end of the pipe to the waiting parent.
#[derive(Debug)]
pub struct ReadinessPipe {
    file: File,
}

impl ReadinessPipe {
    /// Sends the report; the parent stops waiting when the pipe closes, right after.
    pub fn send(self, report: &Report) {
        let mut file = self.file;
        // The parent may have been killed meanwhile; the daemon carries on regardless.
        let _ = file.write_all(report.encode().as_bytes());
    }
}

/// Which side of the fork we are on.
pub enum Side {
    /// The original process, with the daemon's report.
    Parent(Report),
    /// The daemon, which must report through the pipe.
    Daemon(ReadinessPipe),
}

/// Forks the daemon off. Must be called before any thread or runtime exists.
pub fn detach(working_dir: &Path) -> io::Result<Side> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: the process is single-threaded here (no runtime, no threads yet); both sides only
    // continue with ordinary code.
    match unsafe { fork() }? {
        ForkResult::Parent { child } => {
            drop(write_end);
            let mut report = String::new();
            let read = File::from(read_end).read_to_string(&mut report);
            // Reap the intermediate process, which exits right after the second fork.
            let _ = waitpid(child, None);
            read?;
            Ok(Side::Parent(Report::decode(&report)))
        }
        ForkResult::Child => {
            drop(read_end);
            become_daemon(working_dir, write_end)
        }
    }
}

fn become_daemon(working_dir: &Path, write_end: OwnedFd) -> io::Result<Side> {
    setsid()?;
    // SAFETY: still single-threaded.
    match unsafe { fork() }? {
        ForkResult::Parent { .. } => {
            // The intermediate process: its only job was to make the daemon a non-leader.
            // `_exit` skips atexit handlers and buffered output that belong to the parent.
            unsafe { libc::_exit(0) }
        }
        ForkResult::Child => {}
    }
    std::env::set_current_dir(working_dir)?;
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    let null = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null")?;
    nix::unistd::dup2_stdin(&null)?;
    nix::unistd::dup2_stdout(&null)?;
    nix::unistd::dup2_stderr(&null)?;
    Ok(Side::Daemon(ReadinessPipe { file: File::from(write_end) }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_round_trip() {
        for report in [
            Report::Ready { pid: 12, socket: "/a b/.steward/daemon/daemon.sock".into(), warnings: vec![] },
            Report::Ready { pid: 12, socket: "/s".into(), warnings: vec!["one".into(), "two words".into()] },
            Report::AlreadyRunning { pid: Some(7) },
            Report::AlreadyRunning { pid: None },
            Report::Failed("line one\nline two".into()),
        ] {
            assert_eq!(Report::decode(&report.encode()), report);
        }
        assert_eq!(Report::decode(""), Report::Failed(String::new()));
    }
}
