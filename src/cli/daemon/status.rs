//! `steward status` / `steward daemon status`.

use std::process::ExitCode;

use serde_json::json;

use crate::api::DaemonApiClient;
use crate::api::types::DaemonStatus;
use crate::cli::{Failure, GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure};

/// Prints the status; exit 3 when the daemon is not running.
pub fn run(global: &GlobalArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let status = block_on(async {
        let client = target.connect().await?;
        client.status().await.map_err(|err| rpc_failure(&target, err))
    })?;
    match status {
        Ok(status) => {
            if global.json {
                print_json(&status)?;
            } else {
                print!("{}", render(&status));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(Failure::NotRunning(message)) if global.json => {
            print_json(&json!({
                "running": false,
                "project": target.project.as_ref().map(|p| p.root()),
                "socket": target.socket,
                "reason": message,
            }))?;
            Err(Failure::Silent(3))
        }
        Err(failure) => Err(failure),
    }
}

/// The human summary.
fn render(status: &DaemonStatus) -> String {
    let config = &status.config;
    let config_note = match (&config.reload_error, config.exists) {
        (Some(error), _) => format!("(last reload refused, previous configuration in force: {error})"),
        (None, true) => format!("(loaded {})", config.loaded_at),
        (None, false) => "(absent: defaults apply)".to_owned(),
    };
    let mut out = format!(
        "steward {}: {} (pid {}, up {})\n",
        status.version,
        serde_json::to_value(status.state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
        status.pid,
        human_duration(status.uptime_s)
    );
    let rows = [
        ("project", status.project.display().to_string()),
        ("socket", status.socket.display().to_string()),
        ("config", format!("{} {config_note}", config.path.display())),
        ("log", format!("{} (level {})", status.log.path.display(), status.log.level)),
        ("connections", format!("{} open (limit {})", status.connections.open, status.connections.max)),
        ("events", format!("{} so far, {} live subscribers", status.events.last_seq, status.events.subscribers)),
        ("tasks", tasks_summary(status)),
        ("automation", automation_summary(status)),
    ];
    for (label, value) in rows {
        out.push_str(&format!("  {label:<12} {value}\n"));
    }
    for task in &status.tasks.running {
        let pid = task.pid.map_or(String::new(), |pid| format!(", pid {pid}"));
        let since = crate::cli::task_age(&task.started_at);
        out.push_str(&format!(
            "    #{} running {since}{pid}: {}\n",
            task.id,
            crate::cli::task_excerpt(&task.prompt, 60)
        ));
    }
    out
}

fn automation_summary(status: &DaemonStatus) -> String {
    let Some(automation) = &status.automation else { return "not running".to_owned() };
    let count = |total: usize, on: usize, what: &str| {
        let plural = if total == 1 { "" } else { "s" };
        if on == total { format!("{total} {what}{plural}") } else { format!("{total} {what}{plural} ({on} on)") }
    };
    let mut out = format!(
        "{}, {}, {}",
        if automation.enabled { "on" } else { "OFF" },
        count(automation.rules, automation.rules_enabled, "rule"),
        count(automation.schedules, automation.schedules_enabled, "schedule")
    );
    if let Some(next) = &automation.next {
        let when = chrono::DateTime::parse_from_rfc3339(&next.at)
            .map(|at| {
                let seconds = (at.to_utc() - chrono::Utc::now()).num_seconds().max(0);
                format!("in {}", human_duration(seconds as u64))
            })
            .unwrap_or_else(|_| next.at.clone());
        out.push_str(&format!("; next: {} {when}", next.id));
    }
    if let Some(directories) = automation.watched_directories {
        out.push_str(&format!("; watching {directories} directories"));
    }
    if let Some(problem) = &automation.watch_problem {
        out.push_str(&format!("\n               watch problem: {problem} (see `steward automation status`)"));
    }
    out
}

fn tasks_summary(status: &DaemonStatus) -> String {
    let tasks = &status.tasks;
    match &tasks.counts {
        None => format!("(counts unavailable), {} of {} slots busy", tasks.running.len(), tasks.max_parallel),
        Some(c) => format!(
            "{} queued, {} running (of {} slots), {} completed, {} failed, {} cancelled, {} timeout, {} interrupted",
            c.queued, c.running, tasks.max_parallel, c.completed, c.failed, c.cancelled, c.timeout, c.interrupted
        ),
    }
}

/// `3d04h`, `2h03m`, `5m12s`, `42s`.
pub fn human_duration(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(312), "5m12s");
        assert_eq!(human_duration(7380), "2h03m");
        assert_eq!(human_duration(3 * 86_400 + 4 * 3600 + 59), "3d04h");
    }
}
