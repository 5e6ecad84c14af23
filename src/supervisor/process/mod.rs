//! One agent process under supervision: start it, capture its output within bounds, stop it,
//! and leave nothing behind.
//!
//! Each agent runs under a small shim, `steward __task-shim` (the daemon's own binary run
//! again): the daemon cannot adopt the agent's orphans itself, and a daemon killed by SIGKILL
//! cannot clean up after itself, but a shim per task can do both:
//!
//! ```text
//! daemon ── shim (own session; parent-death signal SIGUSR1; subreaper)
//!             └── agent (own process group; parent-death signal SIGKILL)
//!                   └── whatever the agent starts
//! ```
//!
//! - [`spawn`] checks the program, the working directory, the prompt file and the output log
//!   before anything is forked, so configuration mistakes are one clear error.
//! - [`RunningAgent::terminate`] asks for a graceful stop (SIGTERM to the agent's group),
//!   [`RunningAgent::kill`] kills everything, [`RunningAgent::stop`] does one then the other
//!   after a grace period, and [`RunningAgent::wait`] returns once every process of the task is
//!   gone and its output is written.
//! - If the daemon dies, even by SIGKILL, the kernel sends the shim SIGUSR1 and the shim kills
//!   the agent and all its descendants (Linux; elsewhere there is no parent-death signal).
//!
//! Output: stdout and stderr share one pipe into a bounded log (see [`output`]).
//!
//! [`spawn`] must run inside a tokio runtime with its I/O and signal drivers enabled
//! (`enable_all`). It forks from a dedicated thread, not the caller's (see `spawn.rs` for why).

mod descendants;
pub mod output;
mod resolve;
mod running;
mod shim;
mod spawn;

pub use output::{OutputLimits, OutputSummary};
pub use resolve::{ResolveError, resolve_program};
pub use running::{AgentExit, RunningAgent};
pub use shim::{TaskShimArgs, run as run_shim};
pub use spawn::{AgentLaunch, PromptInput, SpawnError, shim_executable, spawn};
