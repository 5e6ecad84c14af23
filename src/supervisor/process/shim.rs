//! The task shim: `steward __task-shim`, one small process per task that runs the agent and makes
//! sure nothing the agent started outlives it.
//!
//! The daemon starts the shim in a session of its own with the parent-death signal set to
//! SIGUSR1 and the signals below already blocked (see `spawn`). The shim then:
//!
//! - becomes a child subreaper (Linux), so every orphaned descendant of the agent, even one that
//!   left the agent's process group or session, is re-parented to the shim rather than to init;
//! - starts the agent in a process group of its own (group id = the agent's pid), with its
//!   stdin, stdout and stderr, an empty signal mask and default signal dispositions (std's
//!   `Command` resets only SIGPIPE), and with SIGKILL as its own parent-death signal;
//! - handles signals synchronously with `sigwait`, never in a handler:
//!   - SIGTERM ("stop gracefully"): SIGTERM, then SIGCONT, to the agent's group;
//!   - SIGUSR1 ("kill now", also what the daemon's death delivers): SIGKILL to the agent's group;
//!   - SIGCHLD: reaps adopted orphans; notices when the agent has ended;
//!   - SIGINT, SIGHUP: ignored (they are the terminal's business, not the task's);
//! - once the agent has ended: SIGKILLs what is left of its group, then every remaining child
//!   (adopted descendants in other groups), repeatedly, reaping until it has no children left,
//!   so that nothing holds the output pipe open;
//! - writes `exited <code>` or `signaled <signal>` to the report descriptor, if given, and exits
//!   with the agent's code, or 128 + N if a signal N killed it. When the agent cannot be started
//!   it says why on stderr (the task's output) and exits 127 (not found) or 126 (any other
//!   reason); 125 means the shim itself could not set up.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use nix::errno::Errno;
use nix::sys::signal::{SigSet, Signal, kill, killpg};
use nix::unistd::Pid;

/// Exit code when the agent's program does not exist (as in a shell).
const EXIT_NOT_FOUND: u8 = 127;
/// Exit code when the agent's program exists but cannot be executed (as in a shell).
const EXIT_CANNOT_EXECUTE: u8 = 126;
/// Exit code when the shim itself failed before it could start the agent.
const EXIT_SHIM_FAILED: u8 = 125;

/// Arguments of the hidden `steward __task-shim` command; only the daemon runs it.
#[derive(Debug, clap::Args)]
pub struct TaskShimArgs {
    /// The file to execute; default: the first word of the command, looked up in PATH.
    #[arg(long, value_name = "PATH")]
    pub program: Option<PathBuf>,
    /// An inherited file descriptor to report how the agent ended on.
    #[arg(long, value_name = "FD")]
    pub report_fd: Option<RawFd>,
    /// The agent's command line, its name (`argv[0]`) first.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// How the agent ended, as the shim reports it to the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentEnd {
    /// The agent exited with this code.
    Exited(i32),
    /// The agent was killed by this signal.
    Signaled(i32),
}

impl AgentEnd {
    /// The line written to the report descriptor.
    pub fn report_line(self) -> String {
        match self {
            AgentEnd::Exited(code) => format!("exited {code}\n"),
            AgentEnd::Signaled(signal) => format!("signaled {signal}\n"),
        }
    }

    /// Reads a report line back; `None` for anything else (the shim died before reporting).
    pub fn parse_report(text: &str) -> Option<AgentEnd> {
        let (word, number) = text.trim_end().split_once(' ')?;
        let number = number.parse().ok()?;
        match word {
            "exited" => Some(AgentEnd::Exited(number)),
            "signaled" => Some(AgentEnd::Signaled(number)),
            _ => None,
        }
    }

    /// The shim's own exit code: the agent's, or 128 + N for signal N, as a shell reports it.
    pub fn exit_code(self) -> u8 {
        match self {
            AgentEnd::Exited(code) => (code & 0xff) as u8,
            AgentEnd::Signaled(signal) => (128 + signal).clamp(0, 255) as u8,
        }
    }
}

/// The signals the shim takes with `sigwait`. The daemon blocks them before exec, so one sent
/// while the shim is still starting waits for it instead of killing it.
pub(super) fn shim_signals() -> SigSet {
    let mut set = SigSet::empty();
    for signal in [Signal::SIGTERM, Signal::SIGUSR1, Signal::SIGCHLD, Signal::SIGINT, Signal::SIGHUP] {
        set.add(signal);
    }
    set
}

/// Runs the shim to its end; the return value is its exit code.
pub fn run(args: TaskShimArgs) -> ExitCode {
    // Taken first, so that the agent can never inherit it.
    let mut report = args.report_fd.and_then(adopt_report_fd);
    let end = match supervise(args.program.as_deref(), &args.command) {
        Ok(end) => end,
        Err(code) => AgentEnd::Exited(i32::from(code)),
    };
    if let Some(report) = report.as_mut() {
        let _ = report.write_all(end.report_line().as_bytes());
    }
    ExitCode::from(end.exit_code())
}

/// Starts the agent and sees it through; `Err` carries the exit code when it never ran.
fn supervise(program: Option<&Path>, command: &[OsString]) -> Result<AgentEnd, u8> {
    let signals = shim_signals();
    if let Err(err) = prepare(&signals) {
        say(&format!("cannot set up the task shim: {err}"));
        return Err(EXIT_SHIM_FAILED);
    }
    let agent = start_agent(program, command)?;
    let end = wait_for_agent(agent, &signals);
    kill_everything_left(agent);
    Ok(end)
}

fn prepare(signals: &SigSet) -> nix::Result<()> {
    #[cfg(target_os = "linux")]
    nix::sys::prctl::set_child_subreaper(true)?;
    // An ignored SIGCHLD would make the kernel reap children itself and lose the agent's status.
    // SAFETY: installs no handler, only the default disposition; the shim has one thread.
    unsafe { nix::sys::signal::signal(Signal::SIGCHLD, nix::sys::signal::SigHandler::SigDfl)? };
    signals.thread_block()
}

fn start_agent(program: Option<&Path>, command: &[OsString]) -> Result<Pid, u8> {
    let Some((name, args)) = command.split_first() else {
        say("no agent command given");
        return Err(EXIT_SHIM_FAILED);
    };
    let program = program.map_or_else(|| PathBuf::from(name), Path::to_path_buf);
    let mut agent = std::process::Command::new(&program);
    agent.arg0(name).args(args).process_group(0);
    let shim = nix::unistd::getpid();
    let last_signal = last_signal_number();
    // SAFETY: the closure only makes async-signal-safe system calls and does not allocate.
    unsafe { agent.pre_exec(move || prepare_agent(shim, last_signal)) };
    match agent.spawn() {
        // The shim reaps with waitpid itself; dropping a std Child neither waits nor kills.
        Ok(child) => Ok(Pid::from_raw(child.id() as i32)),
        Err(err) => {
            say(&format!("cannot start the agent {}: {err}", program.display()));
            Err(if err.kind() == std::io::ErrorKind::NotFound { EXIT_NOT_FOUND } else { EXIT_CANNOT_EXECUTE })
        }
    }
}

/// In the agent, between fork and exec.
fn prepare_agent(shim: Pid, last_signal: libc::c_int) -> std::io::Result<()> {
    // std leaves the signal mask as it is, and the shim's blocks the very signals the agent
    // must react to.
    SigSet::empty().thread_set_mask()?;
    // Ignored dispositions survive exec too (whoever started the daemon may have set some).
    for signal in 1..=last_signal {
        if signal != libc::SIGKILL && signal != libc::SIGSTOP {
            // SAFETY: setting the default disposition is async-signal-safe. glibc refuses its
            // two internal real-time signals; that failure is harmless.
            unsafe { libc::signal(signal, libc::SIG_DFL) };
        }
    }
    #[cfg(target_os = "linux")]
    {
        // Should the shim itself be killed outright, the agent goes with it.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
        if nix::unistd::getppid() != shim {
            return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = shim;
    Ok(())
}

/// The highest signal number, real-time signals included.
fn last_signal_number() -> libc::c_int {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    return libc::SIGRTMAX();
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    return 31;
}

/// Waits for the agent to end, acting on the daemon's signals meanwhile. The agent is left a
/// zombie (on Linux) so that its pid, which is also its group's id, cannot be reused before
/// [`kill_everything_left`] has signalled the group.
fn wait_for_agent(agent: Pid, signals: &SigSet) -> AgentEnd {
    loop {
        loop {
            match ended_child() {
                Ok(Some((pid, end))) if pid == agent => return end,
                Ok(Some((pid, _))) => release(pid),
                Ok(None) => break,
                Err(Errno::EINTR) => {}
                // ECHILD: the agent is gone without a status, which cannot happen; stop here.
                Err(_) => return AgentEnd::Exited(i32::from(EXIT_SHIM_FAILED)),
            }
        }
        match signals.wait() {
            Ok(Signal::SIGTERM) => {
                signal_agent(agent, Signal::SIGTERM);
                // A stopped process acts on SIGTERM only once continued.
                signal_agent(agent, Signal::SIGCONT);
            }
            Ok(Signal::SIGUSR1) => signal_agent(agent, Signal::SIGKILL),
            _ => {}
        }
    }
}

/// The agent itself and its group; the agent may have left the group it was started in.
fn signal_agent(agent: Pid, signal: Signal) {
    let _ = killpg(agent, signal);
    let _ = kill(agent, signal);
}

// The waits below use libc directly: nix turns a death by a real-time signal into an error,
// which would lose the status (or, for the agent, misreport it).

/// A child that has ended. On Linux it is left unreaped (a zombie) until [`release`].
#[cfg(target_os = "linux")]
fn ended_child() -> nix::Result<Option<(Pid, AgentEnd)>> {
    // SAFETY: an all-zero siginfo_t is valid, and waitid only writes into it.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
    // SAFETY: as above.
    if unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) } == -1 {
        return Err(Errno::last());
    }
    // SAFETY: for SIGCHLD information (all waitid reports) si_pid and si_status are set; si_pid
    // stays 0 when no child has ended.
    let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
    if pid == 0 {
        return Ok(None);
    }
    let end = if info.si_code == libc::CLD_EXITED { AgentEnd::Exited(status) } else { AgentEnd::Signaled(status) };
    Ok(Some((Pid::from_raw(pid), end)))
}

/// A child that has ended, already reaped: without `waitid` there is no peeking. (There is no
/// subreaper either, so the agent is the only child.)
#[cfg(not(target_os = "linux"))]
fn ended_child() -> nix::Result<Option<(Pid, AgentEnd)>> {
    let mut status = 0;
    // SAFETY: waitpid only writes the status.
    match unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        pid if libc::WIFEXITED(status) => Ok(Some((Pid::from_raw(pid), AgentEnd::Exited(libc::WEXITSTATUS(status))))),
        pid => Ok(Some((Pid::from_raw(pid), AgentEnd::Signaled(libc::WTERMSIG(status))))),
    }
}

/// Reaps a child that [`ended_child`] reported.
fn release(pid: Pid) {
    #[cfg(target_os = "linux")]
    let _ = reap(pid.as_raw());
    #[cfg(not(target_os = "linux"))]
    let _ = pid;
}

/// Reaps one child that has already ended; `ECHILD` if there is none.
fn reap_ended() -> nix::Result<()> {
    let mut status = 0;
    // SAFETY: waitpid only writes the status.
    match unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) } {
        -1 => Err(Errno::last()),
        0 => Err(Errno::ECHILD),
        _ => Ok(()),
    }
}

/// Waits for the child `pid` (-1: any child) to end and reaps it.
fn reap(pid: libc::pid_t) -> nix::Result<()> {
    let mut status = 0;
    // SAFETY: waitpid only writes the status.
    match unsafe { libc::waitpid(pid, &mut status, 0) } {
        -1 => Err(Errno::last()),
        _ => Ok(()),
    }
}

/// Kills the agent's group and every other descendant, and reaps them all.
///
/// A descendant the shim may not signal (one that became another user through `sudo` or a
/// set-user-ID program) cannot be waited for either: the shim leaves when only such are left.
fn kill_everything_left(agent: Pid) {
    // While the agent is still a zombie, its group's id cannot belong to anyone else.
    let _ = killpg(agent, Signal::SIGKILL);
    release(agent);
    let shim = nix::unistd::getpid();
    loop {
        // Killing a child re-parents its own children to the shim (the subreaper), so every
        // round finds the next generation until none is left.
        let mut killed_any = false;
        for child in super::descendants::children_of(shim) {
            killed_any |= kill(child, Signal::SIGKILL).is_ok();
        }
        let reaped = if killed_any { reap(-1) } else { reap_ended() };
        match reaped {
            // Reap the rest that have ended too, to spare a scan of /proc for each.
            Ok(()) => while reap_ended().is_ok() {},
            Err(Errno::EINTR) => {}
            Err(_) => break, // ECHILD (no child left) or, without waiting, none has ended
        }
    }
}

/// A message for whoever reads the task's output.
fn say(message: &str) {
    let _ = writeln!(std::io::stderr(), "steward: {message}");
}

/// The report descriptor, made close-on-exec, or `None` if `fd` is not open.
fn adopt_report_fd(fd: RawFd) -> Option<File> {
    // SAFETY: F_SETFD on a number only reads the descriptor table; it fails if `fd` is not open.
    if fd <= 2 || unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) } == -1 {
        return None;
    }
    // SAFETY: the daemon passes a descriptor it opened for this shim alone; nothing else in the
    // shim owns it.
    Some(unsafe { File::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lines_round_trip() {
        for end in [AgentEnd::Exited(0), AgentEnd::Exited(3), AgentEnd::Exited(255), AgentEnd::Signaled(9)] {
            assert_eq!(AgentEnd::parse_report(&end.report_line()), Some(end));
        }
        assert_eq!(AgentEnd::parse_report(""), None);
        assert_eq!(AgentEnd::parse_report("exited"), None);
        assert_eq!(AgentEnd::parse_report("finished 1\n"), None);
    }

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(AgentEnd::Exited(0).exit_code(), 0);
        assert_eq!(AgentEnd::Exited(42).exit_code(), 42);
        assert_eq!(AgentEnd::Signaled(9).exit_code(), 137);
        assert_eq!(AgentEnd::Signaled(15).exit_code(), 143);
    }
}
