//! The automation component: feeds the engine what happens (events, file changes, the clock)
//! and carries out what it decides (submit a task, emit an event), storing rule state with
//! each effect.
//!
//! One task owns the engine, so decisions never race: events arrive through the bus's tap (in
//! order, none lost), file changes from the watcher's thread, commands from the API, all on one
//! channel. Between inputs it sleeps until the next debounce deadline (monotonic clock) or the
//! next fire time (wall clock, see `alarm`); with nothing pending it makes no wake-ups at all.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::alarm::WallAlarm;
use super::compile::{compile, normalize_relative};
use super::engine::{Cause, Engine, Firing, MAX_CHAIN_DEPTH, Notice, Now, Outcome, UnknownRule};
use super::rule::{Action, Origin};
use super::sql;
use super::state::{AutomationStatus, StoredState, WatchState};
use super::template::Context;
use super::watch::{ChangeBatch, WatchProblem, WatchReport, WatchSettings, Watcher};
use crate::config::{Config, WatchConfig};
use crate::events::{Event, EventBus, format_time};
use crate::live_config::LiveConfig;
use crate::queue::{Queue, Submission};
use crate::store::{Store, StoreError};

/// Most task and event causes remembered; older ones are forgotten (their chains end there).
const MAX_CAUSES: usize = 10_000;
/// Most changes a `file:changed` event lists.
const MAX_EVENT_CHANGES: usize = 1000;
/// Most paths a `rule:fired` event lists.
const MAX_FIRED_PATHS: usize = 100;

/// Why an automation call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AutomationError {
    #[error(transparent)]
    UnknownRule(#[from] UnknownRule),
    #[error("storing the automation state failed: {0}")]
    Store(String),
    #[error("automation has stopped (the daemon is stopping)")]
    Stopped,
}

enum Input {
    Event(Arc<Event>),
    Files(ChangeBatch),
    Problem(WatchProblem),
    WatcherStarted {
        generation: u64,
        watcher: Result<Watcher, String>,
    },
    Status(oneshot::Sender<AutomationStatus>),
    SetEnabled {
        rule: Option<String>,
        enabled: bool,
        reply: oneshot::Sender<Result<AutomationStatus, AutomationError>>,
    },
    Reload(Arc<Config>),
    Stop(oneshot::Sender<()>),
}

/// A handle to the automation component. Cloning shares it.
#[derive(Clone)]
pub struct Automation {
    inputs: mpsc::UnboundedSender<Input>,
}

/// What the component works with.
pub struct Parts {
    pub store: Store,
    pub events: Arc<EventBus>,
    pub queue: Queue,
    pub config: LiveConfig,
    /// The project root (absolute), which the watcher watches below.
    pub root: std::path::PathBuf,
}

impl Automation {
    /// Loads the stored rule state, compiles the rules in force, starts the watcher if enabled
    /// and begins serving. Schedules that missed fire times while the daemon was down catch up
    /// (or record the skip) right away.
    pub fn start(parts: Parts) -> Result<Automation, String> {
        let (stored, enabled) = parts
            .store
            .read_now(|conn| Ok((sql::load(conn)?, sql::load_enabled(conn)?)))
            .map_err(|err| format!("cannot read the automation state: {err}"))?;
        let config = parts.config.get();
        let rules = compile(&config).map_err(|invalid| format!("{}: {}", invalid.key, invalid.problem))?;
        let (engine, outcome) = Engine::new(rules, enabled, &stored, Now::current());
        let (inputs, receiver) = mpsc::unbounded_channel();
        let (tap, tapped) = mpsc::unbounded_channel();
        parts.events.set_tap(tap);
        let automation = Automation { inputs: inputs.clone() };
        let runner = Runner {
            parts,
            engine,
            inputs,
            watch_config: config.watch.clone(),
            watcher: None,
            watcher_generation: 0,
            watch_problem: None,
            event_causes: HashMap::new(),
            task_causes: HashMap::new(),
            task_order: VecDeque::new(),
        };
        tokio::spawn(runner.run(receiver, tapped, outcome));
        Ok(automation)
    }

    /// `automation.status`.
    pub async fn status(&self) -> Result<AutomationStatus, AutomationError> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(Input::Status(reply)).map_err(|_| AutomationError::Stopped)?;
        answer.await.map_err(|_| AutomationError::Stopped)
    }

    /// `automation.enable` / `automation.disable`: one rule, or everything.
    pub async fn set_enabled(&self, rule: Option<String>, enabled: bool) -> Result<AutomationStatus, AutomationError> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(Input::SetEnabled { rule, enabled, reply }).map_err(|_| AutomationError::Stopped)?;
        answer.await.map_err(|_| AutomationError::Stopped)?
    }

    /// Puts a reloaded configuration's rules and watch settings in force.
    pub fn reload(&self, config: Arc<Config>) {
        let _ = self.inputs.send(Input::Reload(config));
    }

    /// Stops firing and watching; resolves once stopped.
    pub async fn stop(&self) {
        let (reply, answer) = oneshot::channel();
        if self.inputs.send(Input::Stop(reply)).is_ok() {
            let _ = answer.await;
        }
    }
}

struct Runner {
    parts: Parts,
    engine: Engine,
    /// For the watcher's thread to send into.
    inputs: mpsc::UnboundedSender<Input>,
    watch_config: WatchConfig,
    watcher: Option<Watcher>,
    /// Which start of the watcher is current; a start that finishes after a newer one began is
    /// thrown away.
    watcher_generation: u64,
    watch_problem: Option<WatchProblem>,
    /// Events this component emitted, by sequence number, until they come back through the tap.
    event_causes: HashMap<u64, Cause>,
    /// Tasks rules submitted, by id, until they end.
    task_causes: HashMap<u64, Cause>,
    task_order: VecDeque<u64>,
}

impl Runner {
    async fn run(
        mut self,
        mut inputs: mpsc::UnboundedReceiver<Input>,
        mut tapped: mpsc::UnboundedReceiver<Arc<Event>>,
        startup: Outcome,
    ) {
        self.start_watcher();
        self.carry_out(startup).await;
        let mut alarm = WallAlarm::new();
        loop {
            let deadline = self.engine.next_deadline();
            let fire_at = self.engine.next_fire();
            let input = tokio::select! {
                biased;
                input = inputs.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                Some(event) = tapped.recv() => Input::Event(event),
                () = sleep_until_opt(deadline) => {
                    self.on_time().await;
                    continue;
                }
                () = wall_until_opt(&mut alarm, fire_at) => {
                    self.on_time().await;
                    continue;
                }
            };
            match input {
                Input::Stop(reply) => {
                    self.stop_watcher();
                    let _ = reply.send(());
                    break;
                }
                input => self.handle(input).await,
            }
        }
        tracing::debug!("automation stopped");
    }

    async fn handle(&mut self, input: Input) {
        match input {
            Input::Event(event) => {
                let cause = self.cause_of(&event);
                let outcome = self.engine.on_event(&event, cause.as_ref(), Now::current());
                self.carry_out(outcome).await;
            }
            Input::Files(batch) => {
                self.announce_changes(&batch);
                let outcome = self.engine.on_files(&batch, Now::current());
                self.carry_out(outcome).await;
            }
            Input::Problem(problem) => {
                tracing::warn!(kind = problem.kind, message = %problem.message, fix = %problem.fix, "file watcher problem");
                self.parts.events.emit(
                    "file:watch_problem",
                    json!({ "kind": problem.kind, "message": problem.message, "fix": problem.fix }),
                );
                self.watch_problem = Some(problem);
            }
            Input::WatcherStarted { generation, watcher } => {
                if generation != self.watcher_generation {
                    drop_in_background(watcher.ok());
                    return;
                }
                match watcher {
                    Ok(watcher) => {
                        let status = watcher.status();
                        tracing::info!(directories = status.directories, "watching files");
                        self.watcher = Some(watcher);
                    }
                    Err(message) => {
                        tracing::warn!(error = %message, "the file watcher could not start");
                        let problem = WatchProblem {
                            kind: "error",
                            message,
                            fix: "check [watch].paths in .steward/steward.toml, then `steward daemon reload`"
                                .to_owned(),
                        };
                        let _ = self.inputs.send(Input::Problem(problem));
                    }
                }
            }
            Input::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Input::SetEnabled { rule, enabled, reply } => {
                let _ = reply.send(self.set_enabled(rule, enabled).await);
            }
            Input::Reload(config) => self.reload(&config).await,
            Input::Stop(reply) => {
                let _ = reply.send(());
            }
        }
    }

    async fn on_time(&mut self) {
        let outcome = self.engine.on_time(Now::current());
        self.carry_out(outcome).await;
    }

    fn status(&self) -> AutomationStatus {
        let watch = match (&self.watcher, self.watch_config.enabled) {
            (Some(watcher), _) => {
                let mut state = WatchState::from_status(self.watch_config.paths.clone(), &watcher.status());
                if state.problem.is_none() {
                    state.problem = self.watch_problem.as_ref().and_then(|p| serde_json::to_value(p).ok());
                }
                state
            }
            (None, enabled) => WatchState {
                enabled,
                paths: self.watch_config.paths.clone(),
                directories: None,
                rescans: 0,
                problem: self.watch_problem.as_ref().and_then(|p| serde_json::to_value(p).ok()),
            },
        };
        self.engine.status(watch)
    }

    async fn set_enabled(&mut self, rule: Option<String>, enabled: bool) -> Result<AutomationStatus, AutomationError> {
        let stored = self.engine.set_enabled(rule.as_deref(), enabled, Now::current())?;
        let global = rule.is_none();
        let written = self
            .parts
            .store
            .writer()
            .write(None, move |conn| {
                if global {
                    sql::save_enabled(conn, enabled)?;
                }
                stored.iter().try_for_each(|state| sql::save(conn, state))
            })
            .await;
        if let Err(err) = written {
            // The switch is in force but not stored: say so rather than pretend.
            return Err(AutomationError::Store(err.to_string()));
        }
        let what = rule.as_deref().map_or_else(|| "automation".to_owned(), |rule| format!("rule {rule}"));
        tracing::info!(what, enabled, "automation switched");
        let topic = if enabled { "rule:enabled" } else { "rule:disabled" };
        self.parts.events.emit(topic, json!({ "rule": rule }));
        Ok(self.status())
    }

    async fn reload(&mut self, config: &Config) {
        match compile(config) {
            Ok(rules) => {
                let outcome = self.engine.reload(rules, Now::current());
                self.carry_out(outcome).await;
            }
            // The configuration was validated before it was put in force; keep the rules as they
            // are rather than run half of them.
            Err(invalid) => tracing::error!(key = %invalid.key, problem = %invalid.problem, "rules not reloaded"),
        }
        if config.watch != self.watch_config {
            self.watch_config = config.watch.clone();
            self.stop_watcher();
            self.start_watcher();
        }
    }

    fn start_watcher(&mut self) {
        self.watcher_generation += 1;
        self.watch_problem = None;
        if !self.watch_config.enabled {
            return;
        }
        let generation = self.watcher_generation;
        let settings = WatchSettings {
            root: self.parts.root.clone(),
            paths: self.watch_config.paths.iter().map(|path| normalize_relative(path)).collect(),
            ignore: self.watch_config.ignore.clone(),
            debounce: std::time::Duration::from_millis(self.watch_config.debounce_ms),
        };
        let inputs = self.inputs.clone();
        let sink_inputs = inputs.clone();
        tokio::task::spawn_blocking(move || {
            let sink = move |report: WatchReport| {
                let _ = sink_inputs.send(match report {
                    WatchReport::Changes(batch) => Input::Files(batch),
                    WatchReport::Problem(problem) => Input::Problem(problem),
                });
            };
            let watcher = Watcher::start(settings, sink).map_err(|err| err.to_string());
            let _ = inputs.send(Input::WatcherStarted { generation, watcher });
        });
    }

    fn stop_watcher(&mut self) {
        drop_in_background(self.watcher.take());
    }

    /// Emits `file:changed` for a batch, so that it is in the event log and event rules see it.
    fn announce_changes(&self, batch: &ChangeBatch) {
        let listed: Vec<_> = batch.changes.iter().take(MAX_EVENT_CHANGES).collect();
        let paths: Vec<&str> = listed.iter().map(|change| change.path.as_str()).collect();
        self.parts.events.emit(
            "file:changed",
            json!({ "changes": listed, "paths": paths, "count": batch.changes.len(), "rescan": batch.rescan }),
        );
    }

    /// Which firing led to an event, if one did.
    fn cause_of(&mut self, event: &Event) -> Option<Cause> {
        if let Some(cause) = self.event_causes.remove(&event.seq) {
            return Some(cause);
        }
        if !event.topic.starts_with("task:") {
            return None;
        }
        let id = event.data.get("id").and_then(Value::as_u64)?;
        let cause = self.task_causes.get(&id).cloned();
        if matches!(event.topic.as_str(), "task:completed" | "task:failed" | "task:cancelled" | "task:timeout") {
            self.task_causes.remove(&id);
        }
        cause
    }

    fn remember_task(&mut self, id: u64, cause: Cause) {
        self.task_causes.insert(id, cause);
        self.task_order.push_back(id);
        while self.task_order.len() > MAX_CAUSES {
            if let Some(old) = self.task_order.pop_front() {
                self.task_causes.remove(&old);
            }
        }
    }

    fn remember_event(&mut self, seq: u64, cause: Cause) {
        if self.event_causes.len() >= MAX_CAUSES {
            // Every emitted event comes back through the tap at once; anything this old never will.
            let oldest = seq.saturating_sub(MAX_CAUSES as u64);
            self.event_causes.retain(|&kept, _| kept > oldest);
        }
        self.event_causes.insert(seq, cause);
    }

    async fn carry_out(&mut self, outcome: Outcome) {
        let Outcome { firings, stored, notices } = outcome;
        if !stored.is_empty() {
            self.parts
                .store
                .writer()
                .write_and_forget("rule state", move |conn| stored.iter().try_for_each(|state| sql::save(conn, state)));
        }
        for notice in notices {
            self.report(notice);
        }
        for firing in firings {
            self.execute(firing).await;
        }
    }

    fn report(&mut self, notice: Notice) {
        let Notice { rule, origin, suppression } = notice;
        match suppression.reason.as_str() {
            "missed" => {
                tracing::info!(rule, detail = %suppression.detail, "missed fire times skipped");
                let key = if origin == Origin::Schedule { "schedule" } else { "rule" };
                self.parts.events.emit("schedule:missed", json!({ key: rule, "detail": suppression.detail }));
            }
            "chain" => {
                tracing::warn!(rule, detail = %suppression.detail, "rule chain cut");
                let event = self.parts.events.emit(
                    "rule:suppressed",
                    json!({ "rule": rule, "reason": suppression.reason, "detail": suppression.detail }),
                );
                // Nothing may react to this and keep the chain going.
                self.remember_event(event.seq, Cause { rule, depth: MAX_CHAIN_DEPTH + 1 });
            }
            _ => {
                tracing::debug!(rule, reason = %suppression.reason, detail = %suppression.detail, "trigger suppressed")
            }
        }
    }

    async fn execute(&mut self, firing: Firing) {
        let Firing { rule, origin, trigger, action, occurrence, time, state } = firing;
        let cause = Cause { rule: rule.clone(), depth: occurrence.depth };
        let time_text = format_time(&time);
        let context = Context {
            paths: &occurrence.paths,
            topic: &occurrence.topic,
            rule: &rule,
            time: &time_text,
            data: &occurrence.data,
        };
        let mut fired = match origin {
            Origin::Schedule => json!({ "schedule": rule }),
            Origin::Rule => json!({ "rule": rule, "trigger": trigger.name(), "action": action.name() }),
        };
        let insert = |fired: &mut Value, key: &str, value: Value| {
            if let Value::Object(map) = fired {
                map.insert(key.to_owned(), value);
            }
        };
        if !occurrence.paths.is_empty() {
            let paths: Vec<&String> = occurrence.paths.iter().take(MAX_FIRED_PATHS).collect();
            insert(&mut fired, "paths", json!(paths));
            insert(&mut fired, "path_count", json!(occurrence.paths.len()));
        }
        if let Some(seq) = occurrence.event_seq {
            insert(&mut fired, "event", json!({ "seq": seq, "topic": occurrence.topic }));
        }
        if let Some(at) = occurrence.scheduled_for {
            insert(&mut fired, "scheduled_for", json!(format_time(&at)));
            insert(&mut fired, "catch_up", json!(occurrence.catch_up));
        }
        if occurrence.triggers > 1 {
            insert(&mut fired, "triggers", json!(occurrence.triggers));
        }
        match action {
            Action::SubmitTask { prompt, priority, agent, labels, timeout_s } => {
                let prefix = if origin == Origin::Schedule { "schedule" } else { "rule" };
                let submission = Submission {
                    prompt: prompt.render(&context),
                    priority: Some(priority),
                    agent,
                    timeout_s,
                    labels: Some(labels),
                    source: Some(format!("{prefix}:{rule}")),
                };
                let config = self.parts.config.get();
                let saved = state.clone();
                let submitted = self
                    .parts
                    .queue
                    .submit_with(submission, &config, None, move |conn, _| sql::save(conn, &saved))
                    .await;
                match submitted {
                    Ok(task) => {
                        tracing::info!(rule, task = task.id, "rule fired: task submitted");
                        self.remember_task(task.id, cause.clone());
                        insert(&mut fired, "task", json!(task.id));
                    }
                    Err(err) => {
                        self.failed(&rule, occurrence.depth, state, err.to_string());
                        return;
                    }
                }
            }
            Action::EmitEvent { topic, data } => {
                let data = data.map_or(Value::Null, |data| data.render(&context));
                let emitted = self.parts.events.emit(topic.clone(), data);
                self.remember_event(emitted.seq, cause.clone());
                tracing::info!(rule, topic, seq = emitted.seq, "rule fired: event emitted");
                insert(&mut fired, "emitted", json!({ "topic": topic, "seq": emitted.seq }));
                self.save_later(state);
            }
        }
        let topic = if origin == Origin::Schedule { "schedule:fired" } else { "rule:fired" };
        let event = self.parts.events.emit(topic, fired);
        self.remember_event(event.seq, cause);
    }

    fn save_later(&self, state: StoredState) {
        self.parts.store.writer().write_and_forget("rule state", move |conn| sql::save(conn, &state));
    }

    /// A firing whose action could not be carried out: counted (it did fire), reported.
    fn failed(&mut self, rule: &str, depth: u32, state: StoredState, error: String) {
        tracing::warn!(rule, error, "rule fired but its action failed");
        self.save_later(state);
        let event = self.parts.events.emit("rule:failed", json!({ "rule": rule, "error": error }));
        self.remember_event(event.seq, Cause { rule: rule.to_owned(), depth });
    }
}

/// A watcher's drop joins its threads; that must not hold up the runner.
fn drop_in_background(watcher: Option<Watcher>) {
    if let Some(watcher) = watcher {
        tokio::task::spawn_blocking(move || drop(watcher));
    }
}

async fn sleep_until_opt(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
        None => std::future::pending().await,
    }
}

async fn wall_until_opt(alarm: &mut WallAlarm, at: Option<chrono::DateTime<chrono::Utc>>) {
    match at {
        Some(at) => alarm.sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl From<StoreError> for AutomationError {
    fn from(err: StoreError) -> Self {
        AutomationError::Store(err.to_string())
    }
}
