//! `steward daemon attach`: follow the daemon's events live.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;

use crate::api::EventApiClient;
use crate::cli::{Failure, GlobalArgs, Outcome, Target, block_on, rpc_failure};
use crate::events::{Event, format_time};

/// Options of `daemon attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Only events whose topic matches (exact, or a glob such as `task:*`); repeatable.
    #[arg(long = "topic", value_name = "PATTERN")]
    pub topics: Vec<String>,
    /// First replay the events after this sequence number that the daemon still keeps.
    #[arg(long, value_name = "SEQ")]
    pub since: Option<u64>,
}

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
    let topics = (!args.topics.is_empty()).then_some(args.topics);
    let mut since = args.since;
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
                next = events.next() => next,
            };
            match next {
                Some(Ok(event)) => {
                    since = Some(event.seq);
                    print_event(&event, json)?;
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

fn print_event(event: &Event, json: bool) -> Result<(), Failure> {
    let line = if json {
        serde_json::to_string(event)?
    } else if event.data.is_null() {
        format!("{}  {:>6}  {}", format_time(&event.time), event.seq, event.topic)
    } else {
        format!("{}  {:>6}  {}  {}", format_time(&event.time), event.seq, event.topic, event.data)
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (`attach | head`) ends the command quietly.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        return Err(Failure::Silent(0));
    }
    Ok(())
}
