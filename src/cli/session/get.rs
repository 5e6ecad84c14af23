//! `steward session get ID`.

use std::process::ExitCode;

use clap::Args;

use crate::api::StewardApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, print_json, write_stdout};
use crate::events::format_time;

/// Options of `session get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The session id.
    pub id: u64,
}

/// Prints one session and its log.
pub fn run(global: &GlobalArgs, args: GetArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let session = target.call(|client| async move { client.get(args.id).await })?;
    if global.json {
        print_json(&session)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!(
        "session {} on #{} of {}: {} (attempts {})\n  branch    {}\n  worktree  {}\n",
        session.id,
        session.issue,
        session.repo,
        session.state.name(),
        session.attempts,
        session.branch,
        session.worktree
    );
    if let Some(task) = session.task {
        out.push_str(&format!("  task      {task}\n"));
    }
    if let Some(pull) = session.pull {
        out.push_str(&format!("  pull      #{pull}\n"));
    }
    if let Some(question) = &session.question {
        out.push_str(&format!("  question  {}\n", question.lines().next().unwrap_or_default()));
    }
    if let Some(error) = &session.last_error {
        out.push_str(&format!("  error     {error}\n"));
    }
    out.push_str(&format!(
        "  created   {}\n  updated   {}\n",
        format_time(&session.created_at),
        format_time(&session.updated_at)
    ));
    if !session.log.is_empty() {
        out.push_str("log:\n");
        for entry in &session.log {
            out.push_str(&format!("  {}  {:<10}  {}\n", format_time(&entry.at), entry.kind, entry.text));
        }
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
