//! `steward task ...`: one file per command.

mod cancel;
mod get;
mod list;
mod output;
mod stats;
mod submit;

use clap::Subcommand;

use super::{GlobalArgs, Outcome};

/// The task commands.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Queue a task for an agent.
    Submit(submit::SubmitArgs),
    /// List tasks (a table, or JSON with --json).
    List(list::ListArgs),
    /// Show one task.
    Get(get::GetArgs),
    /// Cancel a queued task, or stop a running one.
    Cancel(cancel::CancelArgs),
    /// Print a task's output (-f follows it until the task ends).
    Output(output::OutputArgs),
    /// Count tasks per state.
    Stats,
}

/// Runs a task command.
pub fn run(global: &GlobalArgs, command: TaskCommand) -> Outcome {
    match command {
        TaskCommand::Submit(args) => submit::run(global, args),
        TaskCommand::List(args) => list::run(global, args),
        TaskCommand::Get(args) => get::run(global, args),
        TaskCommand::Cancel(args) => cancel::run(global, args),
        TaskCommand::Output(args) => output::run(global, args),
        TaskCommand::Stats => stats::run(global),
    }
}

/// `5s`, `3m`, `2h`, `4d` since an RFC 3339 time.
pub fn age(since: &str) -> String {
    let Ok(time) = chrono::DateTime::parse_from_rfc3339(since) else { return "?".into() };
    let seconds = (chrono::Utc::now() - time.with_timezone(&chrono::Utc)).num_seconds().max(0);
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// The first line of a prompt, cut to `width` characters.
pub fn excerpt(prompt: &str, width: usize) -> String {
    let line = prompt.lines().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    if line.chars().count() <= width {
        let more = prompt.trim().lines().count() > 1;
        return if more && line.chars().count() < width { format!("{line}…") } else { line.to_owned() };
    }
    let cut: String = line.chars().take(width.saturating_sub(1)).collect();
    format!("{cut}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts() {
        assert_eq!(excerpt("fix the build", 20), "fix the build");
        assert_eq!(excerpt("\n  fix the build\nand more", 20), "fix the build…");
        assert_eq!(excerpt("abcdefghij", 5), "abcd…");
        assert_eq!(excerpt("", 5), "");
    }

    #[test]
    fn ages() {
        let now = chrono::Utc::now();
        let at = |seconds: i64| crate::events::format_time(&(now - chrono::Duration::seconds(seconds)));
        assert_eq!(age(&at(5)), "5s");
        assert_eq!(age(&at(180)), "3m");
        assert_eq!(age(&at(7200)), "2h");
        assert_eq!(age(&at(4 * 86_400)), "4d");
        assert_eq!(age("nonsense"), "?");
    }
}
