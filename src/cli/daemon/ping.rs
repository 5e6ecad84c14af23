//! `steward daemon ping`.

use std::process::ExitCode;
use std::time::Instant;

use serde_json::json;

use crate::api::DaemonApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure};

/// Asks the daemon for a pong and reports the round trip.
pub fn run(global: &GlobalArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let (pong, rtt) = block_on(async {
        let client = target.connect().await?;
        let start = Instant::now();
        let pong = client.ping().await.map_err(|err| rpc_failure(&target, err))?;
        Ok::<_, crate::cli::Failure>((pong, start.elapsed()))
    })??;
    if global.json {
        print_json(
            &json!({ "pong": pong.pong, "pid": pong.pid, "uptime_s": pong.uptime_s, "version": pong.version, "rtt_us": rtt.as_micros() as u64 }),
        )?;
    } else {
        println!(
            "pong from pid {} (steward {}, up {}) in {:.2} ms",
            pong.pid,
            pong.version,
            super::status::human_duration(pong.uptime_s),
            rtt.as_secs_f64() * 1000.0
        );
    }
    Ok(ExitCode::SUCCESS)
}
