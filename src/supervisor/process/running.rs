//! A started agent: asking it to stop, killing it, waiting for it, and how it ended.
//!
//! The daemon only ever signals the shim, by its pid, and only while the shim has not been
//! reaped (until then its pid cannot belong to another process). The shim turns SIGTERM into a
//! SIGTERM for the agent's process group and SIGUSR1 into a SIGKILL for all of it.

use std::io::{self, PipeReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::output::OutputSummary;
use super::shim::AgentEnd;

/// How long output may still arrive after the shim exited. The shim kills every descendant, so
/// the pipe normally ends at once; only a process that received the pipe some other way (not a
/// descendant) could hold it open.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// How long the shim gets to act on "kill now" before it is killed itself.
const KILL_PATIENCE: Duration = Duration::from_secs(5);

/// How an agent ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentExit {
    /// The agent's exit code, if it exited.
    pub exit_code: Option<i32>,
    /// The signal that killed the agent, if one did.
    pub signal: Option<i32>,
    /// What it wrote.
    pub output: OutputSummary,
}

impl AgentExit {
    /// Exit code 0: the task completed.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// `exited with code 3`, `killed by signal 9 (SIGKILL)`: for a failure message.
    pub fn describe(&self) -> String {
        match (self.exit_code, self.signal) {
            (Some(code), _) => format!("exited with code {code}"),
            (None, Some(signal)) => match Signal::try_from(signal) {
                Ok(name) => format!("killed by signal {signal} ({name})"),
                Err(_) => format!("killed by signal {signal}"),
            },
            (None, None) => "ended without an exit status".to_owned(),
        }
    }
}

/// An agent that was started. Dropping it before it ended kills it (and all it started).
#[derive(Debug)]
pub struct RunningAgent {
    task_id: u64,
    pid: u32,
    shim: tokio::process::Child,
    capture: Option<JoinHandle<OutputSummary>>,
    stop_capture: Option<oneshot::Sender<()>>,
    drain_deadline: Option<Instant>,
    report: Option<PipeReader>,
    exit: Option<AgentExit>,
}

impl RunningAgent {
    pub(super) fn new(
        task_id: u64,
        shim: tokio::process::Child,
        capture: JoinHandle<OutputSummary>,
        stop_capture: oneshot::Sender<()>,
        report: PipeReader,
    ) -> Self {
        RunningAgent {
            task_id,
            pid: shim.id().unwrap_or_default(),
            shim,
            capture: Some(capture),
            stop_capture: Some(stop_capture),
            drain_deadline: None,
            report: Some(report),
            exit: None,
        }
    }

    /// The task this agent works on.
    pub fn task_id(&self) -> u64 {
        self.task_id
    }

    /// The shim's pid (the agent is its child, in a process group of its own).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks the agent to stop: SIGTERM to its whole process group (through the shim).
    pub fn terminate(&self) {
        self.signal_shim(Signal::SIGTERM);
    }

    /// Kills the agent and everything it started (SIGKILL, through the shim).
    pub fn kill(&self) {
        self.signal_shim(Signal::SIGUSR1);
    }

    fn signal_shim(&self, signal: Signal) {
        // `id` is None once the shim was reaped, when its pid may already be someone else's.
        if let Some(pid) = self.shim.id() {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }

    /// Waits until the agent and all it started have ended and the output is written.
    ///
    /// Cancel-safe: it may be a branch of `select!` (against a timeout or a cancel request, then
    /// [`stop`](Self::stop)); once it has returned it returns the same again.
    pub async fn wait(&mut self) -> AgentExit {
        if let Some(exit) = &self.exit {
            return exit.clone();
        }
        let status = self.shim.wait().await;
        let output = self.finish_capture().await;
        let (exit_code, signal) = match self.read_report() {
            Some(AgentEnd::Exited(code)) => (Some(code), None),
            Some(AgentEnd::Signaled(signal)) => (None, Some(signal)),
            None => {
                tracing::warn!(task_id = self.task_id, pid = self.pid, ?status, "the task shim ended without a report");
                match &status {
                    Ok(status) => (status.code(), status.signal()),
                    Err(_) => (None, None),
                }
            }
        };
        let exit = AgentExit { exit_code, signal, output };
        self.exit = Some(exit.clone());
        exit
    }

    /// Asks the agent to stop, gives it `grace` to do so, then kills it and all it started.
    pub async fn stop(&mut self, grace: Duration) -> AgentExit {
        if let Some(exit) = &self.exit {
            return exit.clone();
        }
        self.terminate();
        if let Ok(exit) = tokio::time::timeout(grace, self.wait()).await {
            return exit;
        }
        self.kill();
        if let Ok(exit) = tokio::time::timeout(KILL_PATIENCE, self.wait()).await {
            return exit;
        }
        // The agent has SIGKILL as its parent-death signal.
        tracing::warn!(task_id = self.task_id, pid = self.pid, "the task shim did not stop; killing it");
        let _ = self.shim.start_kill();
        self.wait().await
    }

    async fn finish_capture(&mut self) -> OutputSummary {
        let Some(capture) = self.capture.as_mut() else {
            return OutputSummary::default();
        };
        let deadline = *self.drain_deadline.get_or_insert_with(|| Instant::now() + OUTPUT_DRAIN);
        let joined = match tokio::time::timeout_at(deadline, &mut *capture).await {
            Ok(joined) => joined,
            Err(_) => {
                tracing::warn!(task_id = self.task_id, "output still open after the agent ended; closing the log");
                if let Some(stop) = self.stop_capture.take() {
                    let _ = stop.send(());
                }
                (&mut *capture).await
            }
        };
        self.capture = None;
        joined.unwrap_or_else(|err| OutputSummary {
            log_error: Some(format!("capturing the output failed: {err}")),
            ..OutputSummary::default()
        })
    }

    /// The shim's report, read without blocking: the shim is gone, and nothing else holds the
    /// writing end.
    fn read_report(&mut self) -> Option<AgentEnd> {
        let mut reader = self.report.take()?;
        nix::fcntl::fcntl(&reader, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK)).ok()?;
        let mut bytes = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) if bytes.len() < 1024 => bytes.extend_from_slice(&buf[..n]),
                Ok(_) => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        AgentEnd::parse_report(std::str::from_utf8(&bytes).ok()?)
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        if self.exit.is_none() {
            self.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exit(exit_code: Option<i32>, signal: Option<i32>) -> AgentExit {
        AgentExit { exit_code, signal, output: OutputSummary::default() }
    }

    #[test]
    fn exits_are_described_for_people() {
        assert_eq!(exit(Some(3), None).describe(), "exited with code 3");
        assert_eq!(exit(None, Some(9)).describe(), "killed by signal 9 (SIGKILL)");
        assert_eq!(exit(None, Some(99)).describe(), "killed by signal 99");
        assert_eq!(exit(None, None).describe(), "ended without an exit status");
        assert!(exit(Some(0), None).success());
        assert!(!exit(None, Some(15)).success());
    }
}
