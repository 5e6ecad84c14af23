//! `steward task submit PROMPT [--priority N] [--timeout MIN] [--agent NAME] [--label L] [--wait]`.

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;

use crate::api::{EventApiClient, TaskApiClient};
use crate::cli::{Failure, GlobalArgs, Outcome, Target, block_on, print_json, rpc_failure};
use crate::queue::{Task, TaskState};

/// Options of `task submit`.
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// What the agent should do; `-` reads it from standard input.
    pub prompt: String,
    /// Higher runs first (-1000 to 1000).
    #[arg(long, short, default_value_t = 0, allow_negative_numbers = true)]
    pub priority: i64,
    /// Time limit in minutes (default: [daemon].task_timeout_min).
    #[arg(long, value_name = "MIN")]
    pub timeout: Option<u64>,
    /// A named agent from [agents.NAME] (default: [agent]).
    #[arg(long)]
    pub agent: Option<String>,
    /// A label; repeatable.
    #[arg(long = "label", short, value_name = "L")]
    pub labels: Vec<String>,
    /// Wait until the task ends; exit 0 only if it completed.
    #[arg(long)]
    pub wait: bool,
}

/// Submits, and with `--wait` follows the task to its end.
pub fn run(global: &GlobalArgs, args: SubmitArgs) -> Outcome {
    let prompt = if args.prompt == "-" {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).map_err(|e| Failure::Error(format!("reading the prompt: {e}")))?;
        text
    } else {
        args.prompt.clone()
    };
    let timeout_s = args.timeout.map(|minutes| minutes.saturating_mul(60));
    let target = Target::resolve(global)?;
    if !args.wait {
        let task = block_on(async {
            let client = target.connect().await?;
            client
                .submit(prompt, Some(args.priority), args.agent, timeout_s, Some(args.labels), Some("cli".into()))
                .await
                .map_err(|err| rpc_failure(&target, err))
        })??;
        if global.json {
            print_json(&task)?;
        } else {
            println!("queued task {} (priority {})", task.id, task.priority);
        }
        return Ok(ExitCode::SUCCESS);
    }
    block_on(submit_and_wait(&target, global.json, prompt, args, timeout_s))?
}

async fn submit_and_wait(
    target: &Target,
    json: bool,
    prompt: String,
    args: SubmitArgs,
    timeout_s: Option<u64>,
) -> Outcome {
    let client = target.connect_streaming().await?;
    // Subscribed first: a subscription takes effect before the next request on the connection,
    // so not even an instant task can end unseen.
    let mut events =
        client.subscribe_events(Some(vec!["task:*".into()]), None).await.map_err(|err| rpc_failure(target, err))?;
    let task = client
        .submit(prompt, Some(args.priority), args.agent, timeout_s, Some(args.labels), Some("cli".into()))
        .await
        .map_err(|err| rpc_failure(target, err))?;
    let spinner = !json && std::io::stderr().is_terminal();
    if !json {
        eprintln!("queued task {} (priority {})", task.id, task.priority);
    }
    let start = Instant::now();
    let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
    let mut state = TaskState::Queued;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut frame = 0usize;
    loop {
        tokio::select! {
            event = events.next() => match event {
                Some(Ok(event)) if event.data["id"] == task.id => {
                    match event.topic.as_str() {
                        "task:started" => state = TaskState::Running,
                        "task:requeued" => state = TaskState::Queued,
                        topic => {
                            if let Some(end) = topic.strip_prefix("task:").and_then(TaskState::parse)
                                && (end.is_final() || end == TaskState::Interrupted)
                            {
                                break;
                            }
                        }
                    }
                }
                Some(_) => {}
                None => {
                    if spinner { eprint!("\r\x1b[K"); }
                    return Err(Failure::Error(format!(
                        "the daemon stopped before task {} ended; it runs again when the daemon restarts", task.id
                    )));
                }
            },
            _ = tick.tick(), if spinner => {
                frame = (frame + 1) % frames.len();
                eprint!("\r\x1b[K{} task {} {} ({}s)", frames[frame], task.id, state, start.elapsed().as_secs());
                let _ = std::io::stderr().flush();
            }
        }
    }
    if spinner {
        eprint!("\r\x1b[K");
    }
    let ended: Task = client.get(task.id).await.map_err(|err| rpc_failure(target, err))?;
    if json {
        print_json(&ended)?;
    } else {
        let took = start.elapsed().as_secs();
        match &ended.error {
            None => println!("task {} {} after {took}s", ended.id, ended.state),
            Some(error) => println!("task {} {} after {took}s: {error}", ended.id, ended.state),
        }
    }
    Ok(if ended.state == TaskState::Completed { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
