//! `steward task list [--state S] [--limit N] [--after ID]`.

use std::process::ExitCode;

use clap::Args;

use crate::api::TaskApiClient;
use crate::cli::{GlobalArgs, Outcome, Target, print_json, write_stdout};

/// Options of `task list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only tasks in this state (queued, running, completed, failed, cancelled, timeout, interrupted).
    #[arg(long)]
    pub state: Option<String>,
    /// At most this many tasks (1 to 1000).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// Start after this task id (for the next page).
    #[arg(long, value_name = "ID")]
    pub after: Option<u64>,
}

/// Prints a page of tasks.
pub fn run(global: &GlobalArgs, args: ListArgs) -> Outcome {
    let target = Target::resolve(global)?;
    let page = target.call(|client| async move { client.list(args.state, Some(args.limit), args.after).await })?;
    if global.json {
        print_json(&page)?;
        return Ok(ExitCode::SUCCESS);
    }
    if page.tasks.is_empty() {
        write_stdout("no tasks\n")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = format!("{:>6}  {:<11}  {:>4}  {:>4}  {}\n", "ID", "STATE", "PRI", "AGE", "PROMPT");
    for task in &page.tasks {
        out.push_str(&format!(
            "{:>6}  {:<11}  {:>4}  {:>4}  {}\n",
            task.id,
            task.state.as_str(),
            task.priority,
            super::age(&task.created_at),
            super::excerpt(&task.prompt, 60)
        ));
    }
    if let Some(next) = page.next_after_id {
        out.push_str(&format!("(more: steward task list --after {next})\n"));
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}
