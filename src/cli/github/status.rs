//! `steward github status`.

use std::process::ExitCode;

use crate::api::StewardApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, print_json, write_stdout};
use crate::steward::{StewardStatus, TickReport};

/// Prints the GitHub loops' status.
pub fn run(global: &GlobalArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let status = target.call(|client| async move { client.status().await })?;
    if global.json {
        print_json(&status)?;
    } else {
        write_stdout(&render(&status))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn render(status: &StewardStatus) -> String {
    let source = if status.mode_source == "--mode" { " (from --mode)" } else { "" };
    let mut out = format!("mode: {}{source}", status.mode.name());
    if status.dry_run {
        out.push_str(", dry run (changes are reported, not made)");
    }
    out.push('\n');
    if status.kill_switch {
        out.push_str("kill switch: ON (.steward/STOP exists; no loop acts until it is removed)\n");
    }
    if let Some(repo) = &status.repo {
        out.push_str(&format!("repository: {repo}\n"));
    }
    out.push_str(&format!("sessions: {} active, {} paused\n", status.active, status.paused));
    for (name, last) in
        [("triage", &status.last_triage), ("feedback", &status.last_feedback), ("run", &status.last_run)]
    {
        let schedule = status.loops.iter().find(|l| l.r#loop == name);
        let next = match schedule.and_then(|l| l.next_tick) {
            Some(at) => format!("next {}", crate::events::format_time(&at)),
            None => "not running in this mode".to_owned(),
        };
        out.push_str(&format!("{name:<9} {next}"));
        if let Some(schedule) = schedule {
            if schedule.blocked {
                out.push_str(", blocked until someone fixes the error below");
            } else if schedule.failures > 0 {
                out.push_str(&format!(", {} failures in a row", schedule.failures));
            }
        }
        out.push('\n');
        if let Some(TickReport { started_at, outcome, summary, .. }) = last {
            out.push_str(&format!("          last {} {outcome}: {summary}\n", crate::events::format_time(started_at)));
        }
    }
    out
}
