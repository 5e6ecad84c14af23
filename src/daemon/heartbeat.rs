//! The heartbeat file and `state.json`, rewritten every `heartbeat_interval_s`.
//!
//! Both are written atomically, so a tool reading them sees a whole file. A reload (applied or
//! refused) rewrites them at once, so `state.json` never hides a refused configuration and the
//! period follows the new value without waiting for the old one to end.

use std::io;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Daemon;
use crate::atomic_file::write_atomic;

/// Writes the heartbeat and the status snapshot now.
pub fn write_now(daemon: &Daemon) -> io::Result<()> {
    let project = daemon.project();
    let heartbeat = serde_json::to_vec(&daemon.heartbeat()).map_err(io::Error::other)?;
    write_atomic(&project.heartbeat_file(), &heartbeat, 0o644)?;
    write_state(daemon)
}

/// Writes `state.json` now.
pub fn write_state(daemon: &Daemon) -> io::Result<()> {
    let mut state = serde_json::to_vec_pretty(&daemon.status()).map_err(io::Error::other)?;
    state.push(b'\n');
    write_atomic(&daemon.project().state_file(), &state, 0o644)
}

/// Rewrites both files every period until `stop`.
pub async fn run(daemon: Daemon, stop: CancellationToken) {
    loop {
        let period = Duration::from_secs(daemon.config().daemon.heartbeat_interval_s);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = daemon.reload_done() => {}
            _ = tokio::time::sleep(period) => {}
        }
        let writer = daemon.clone();
        match tokio::task::spawn_blocking(move || write_now(&writer)).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!(error = %err, "could not write the heartbeat"),
            Err(err) => tracing::warn!(error = %err, "heartbeat writer failed"),
        }
    }
}
