//! `steward task get ID`.

use std::process::ExitCode;

use clap::Args;

use crate::api::TaskApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, print_json, write_stdout};

/// Options of `task get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The task id.
    pub id: u64,
}

/// Prints one task.
pub fn run(global: &GlobalArgs, args: GetArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let task = target.call(|client| async move { client.get(args.id).await })?;
    if global.json {
        print_json(&task)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!("task {}: {}\n", task.id, task.state);
    let mut row = |label: &str, value: String| out.push_str(&format!("  {label:<10} {value}\n"));
    row("priority", task.priority.to_string());
    row("agent", task.agent.clone().unwrap_or_else(|| "default".into()));
    if !task.labels.is_empty() {
        row("labels", task.labels.join(", "));
    }
    if let Some(source) = &task.source {
        row("source", source.clone());
    }
    row("created", task.created_at.clone());
    if let Some(at) = &task.started_at {
        row("started", at.clone());
    }
    if let Some(at) = &task.finished_at {
        row("finished", at.clone());
    }
    row("attempts", task.attempts.to_string());
    row("timeout", format!("{} s", task.timeout_s));
    if let Some(pid) = task.pid {
        row("pid", pid.to_string());
    }
    if let Some(code) = task.exit_code {
        row("exit code", code.to_string());
    }
    if let Some(error) = &task.error {
        row("error", error.replace('\n', "\n             "));
    }
    out.push_str("  prompt:\n");
    for line in task.prompt.lines() {
        out.push_str(&format!("    {line}\n"));
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
