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
pub async fn write_now(daemon: &Daemon) -> io::Result<()> {
    let heartbeat = serde_json::to_vec(&daemon.heartbeat()).map_err(io::Error::other)?;
    let path = daemon.project().heartbeat_file();
    blocking(move || write_atomic(&path, &heartbeat, 0o644)).await?;
    write_state(daemon).await
}

/// Writes `state.json` now.
pub async fn write_state(daemon: &Daemon) -> io::Result<()> {
    let mut state = serde_json::to_vec_pretty(&daemon.status().await).map_err(io::Error::other)?;
    state.push(b'\n');
    let path = daemon.project().state_file();
    blocking(move || write_atomic(&path, &state, 0o644)).await
}

async fn blocking(write: impl FnOnce() -> io::Result<()> + Send + 'static) -> io::Result<()> {
    tokio::task::spawn_blocking(write).await.map_err(io::Error::other)?
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
        if let Err(err) = write_now(&daemon).await {
            tracing::warn!(error = %err, "could not write the heartbeat");
        }
        super::memory::trim();
    }
}
