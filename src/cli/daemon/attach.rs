//! `steward daemon attach [--output]`: follow the daemon's events (and tasks' output) live.

use std::collections::HashMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use jsonrpsee::core::client::Client;

use crate::api::{EventApiClient, TaskApiClient};
use crate::cli::{Failure, GlobalArgs, Outcome, Target, block_on, rpc_failure};
use crate::events::{Event, TopicFilter};

/// Options of `daemon attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Only events whose topic matches (exact, or a glob such as `task:*`); repeatable.
    #[arg(long = "topic", value_name = "PATTERN")]
    pub topics: Vec<String>,
    /// First replay the events after this sequence number that the daemon still keeps.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
    /// Also print the output of tasks that start while attached, each line prefixed `[#ID]`.
    #[arg(long)]
    pub output: bool,
}

/// How often the output of running tasks is read.
const OUTPUT_POLL: Duration = Duration::from_millis(200);

/// Streams events until Ctrl-C, which detaches and leaves the daemon running.
pub fn run(global: &GlobalArgs, args: AttachArgs) -> Outcome {
    let target = Target::resolve(global)?;
    block_on(follow(&target, global.json, args))?
}

async fn follow(target: &Target, json: bool, args: AttachArgs) -> Outcome {
    // One listener for the whole command: a listener only sees signals sent after it exists, so
    // making a new one per event would lose a Ctrl-C that arrives while an event is printed.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .map_err(|e| Failure::Error(format!("cannot listen for Ctrl-C: {e}")))?;
    let client = target.connect_streaming().await?;
    let filter =
        TopicFilter::new(args.topics.clone()).map_err(|problem| Failure::Usage(format!("--topic: {problem}")))?;
    // Following output needs the task events even when they are not printed.
    let topics = (!args.topics.is_empty() && !args.output).then_some(args.topics);
    let mut since = args.since;
    let mut outputs = Outputs::default();
    let mut poll = tokio::time::interval(OUTPUT_POLL);
    eprintln!("attached to steward {}; Ctrl-C detaches and leaves the daemon running", target.describe());
    loop {
        let mut events =
            client.subscribe_events(topics.clone(), since).await.map_err(|err| rpc_failure(target, err))?;
        loop {
            let next = tokio::select! {
                _ = interrupt.recv() => {
                    eprintln!("detached; the daemon keeps running");
                    return Ok(ExitCode::SUCCESS);
                }
                _ = poll.tick(), if args.output && !outputs.is_empty() => {
                    outputs.read_all(&client, json).await?;
                    continue;
                }
                next = events.next() => next,
            };
            match next {
                Some(Ok(event)) => {
                    since = Some(event.seq);
                    if args.output {
                        outputs.follow(&client, &event, json).await?;
                    }
                    if filter.matches(&event.topic) {
                        print_event(&event, json)?;
                    }
                }
                Some(Err(err)) => return Err(Failure::Error(format!("unreadable event from the daemon: {err}"))),
                None => break,
            }
        }
        if !client.is_connected() {
            eprintln!("the daemon closed the connection (it stopped)");
            return Ok(ExitCode::SUCCESS);
        }
        // The daemon dropped a subscription that fell behind: pick up where it left off.
        eprintln!("fell behind; resubscribing from seq {}", since.unwrap_or(0));
    }
}

/// Whether a task event says the attempt being followed is over.
fn is_end(topic: &str) -> bool {
    topic.starts_with("task:") && topic != "task:submitted" && topic != "task:requeued" && topic != "task:started"
}

/// The output of the tasks being followed: where each was read up to, and a started line.
#[derive(Default)]
struct Outputs {
    tasks: HashMap<u64, (u64, String)>,
}

impl Outputs {
    fn is_empty(&self) -> bool {
        self.tasks.is_empty()
    }

    /// Starts following a task that started, and finishes one that ended.
    async fn follow(&mut self, client: &Client, event: &Event, json: bool) -> Result<(), Failure> {
        let Some(id) = event.data.get("id").and_then(|id| id.as_u64()) else { return Ok(()) };
        match event.topic.as_str() {
            "task:started" => {
                self.tasks.insert(id, (0, String::new()));
            }
            topic if is_end(topic) && self.tasks.contains_key(&id) => {
                self.read(client, id, json).await?;
                if let Some((_, partial)) = self.tasks.remove(&id)
                    && !partial.is_empty()
                {
                    print_line(id, &partial, json)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    async fn read_all(&mut self, client: &Client, json: bool) -> Result<(), Failure> {
        let ids: Vec<u64> = self.tasks.keys().copied().collect();
        for id in ids {
            self.read(client, id, json).await?;
        }
        Ok(())
    }

    /// Prints the complete lines written since the last read.
    async fn read(&mut self, client: &Client, id: u64, json: bool) -> Result<(), Failure> {
        loop {
            let Some((offset, _)) = self.tasks.get(&id) else { return Ok(()) };
            let chunk = match client.output(id, Some(*offset), None).await {
                Ok(chunk) => chunk,
                // The task may be gone from view (a new store); stop following it quietly.
                Err(_) => {
                    self.tasks.remove(&id);
                    return Ok(());
                }
            };
            let Some((offset, partial)) = self.tasks.get_mut(&id) else { return Ok(()) };
            let progressed = chunk.next_offset > *offset;
            *offset = chunk.next_offset;
            partial.push_str(&chunk.data);
            while let Some(end) = partial.find('\n') {
                let line: String = partial.drain(..=end).collect();
                print_line(id, line.trim_end_matches('\n'), json)?;
            }
            if !progressed || chunk.eof {
                return Ok(());
            }
        }
    }
}

fn print_line(id: u64, line: &str, json: bool) -> Result<(), Failure> {
    let text = if json {
        serde_json::to_string(&serde_json::json!({ "task": id, "output": line }))?
    } else {
        format!("[#{id}] {line}")
    };
    write_line(&text)
}

fn print_event(event: &Event, json: bool) -> Result<(), Failure> {
    let line = if json { serde_json::to_string(event)? } else { crate::cli::event::event_line(event) };
    write_line(&line)
}

fn write_line(line: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    // A closed pipe (`attach | head`) ends the command quietly.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        return Err(Failure::Silent(0));
    }
    Ok(())
}
