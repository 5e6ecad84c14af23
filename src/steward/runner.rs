//! The steward component: one task owns the loops' schedule and runs one tick at a time, so two
//! loops never act on GitHub at once and a manual `steward.tick` never races a scheduled one.
//!
//! Each tick passes the gates first (the mode includes the loop, no kill switch, the repository
//! is known and allowed); a closed gate means not a single call to GitHub. A tick that fails is
//! logged, reported as an event and retried later (see `schedule`); it never takes the daemon
//! down, except that retryable failures of every loop for long enough make the daemon exit so
//! that its service manager restarts it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::json;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::context::{Context, RepoFacts, TickError, TickOutcome};
use super::policy::{self, Loop, Skip};
use super::schedule::{self, Failures, TickResult};
use super::session::{Session, SessionEvent, SessionState};
use super::{LoopStatus, StewardStatus, TickReport, gc, sessions, sql, tick_feedback, tick_run, tick_triage};
use crate::config::{Config, Mode};
use crate::events::EventBus;
use crate::github::{DryRunSink, GitHub, RepoId, Settings};
use crate::live_config::LiveConfig;
use crate::paths::Project;
use crate::queue::Queue;
use crate::store::Store;

/// Why a steward call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StewardError {
    #[error("the GitHub loops have stopped (the daemon is stopping)")]
    Stopped,
    #[error("no session {0}")]
    NoSession(u64),
    /// The session is in a state where the request means nothing.
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Store(String),
}

/// What the component works with.
pub struct Parts {
    pub store: Store,
    pub events: Arc<EventBus>,
    pub queue: Queue,
    pub config: LiveConfig,
    pub project: Project,
    /// `daemon start --mode`.
    pub mode_override: Option<Mode>,
    /// Called once when every loop keeps failing: the daemon should exit non-zero.
    pub give_up: Box<dyn Fn(String) + Send + Sync>,
}

enum Input {
    Tick { r#loop: Loop, reply: oneshot::Sender<TickReport> },
    Status(oneshot::Sender<StewardStatus>),
    Reload,
    Session { id: u64, event: SessionEvent, reply: oneshot::Sender<Result<Session, StewardError>> },
    Stop(oneshot::Sender<()>),
}

/// How often finished sessions' worktrees are collected.
const GC_EVERY: Duration = Duration::from_secs(300);

/// A handle to the GitHub loops. Cloning shares it.
#[derive(Clone)]
pub struct Steward {
    inputs: mpsc::UnboundedSender<Input>,
    /// Cancels a tick in progress when the daemon stops (a rate-limit wait can be long).
    stopping: CancellationToken,
}

impl Steward {
    /// Starts the component; loops of the mode in force tick after `[steward].intervals.idle_s`.
    pub fn start(parts: Parts) -> Steward {
        let (inputs, receiver) = mpsc::unbounded_channel();
        let parts_idle = parts.config.get().steward.intervals.idle_s;
        let mut runner = Runner {
            parts,
            loops: BTreeMap::new(),
            client: None,
            labels_ready: false,
            decisions: HashMap::new(),
            repo: None,
            gave_up: false,
            last: HashMap::new(),
            facts: RepoFacts::default(),
            health_next: Instant::now() + Duration::from_secs(parts_idle),
            gc_next: Instant::now(),
        };
        runner.reschedule();
        let stopping = CancellationToken::new();
        tokio::spawn(runner.run(receiver, stopping.clone()));
        Steward { inputs, stopping }
    }

    /// Runs one tick of `loop` now and reports how it went.
    pub async fn tick(&self, r#loop: Loop) -> Result<TickReport, StewardError> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(Input::Tick { r#loop, reply }).map_err(|_| StewardError::Stopped)?;
        answer.await.map_err(|_| StewardError::Stopped)
    }

    /// `steward.status`.
    pub async fn status(&self) -> Result<StewardStatus, StewardError> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(Input::Status(reply)).map_err(|_| StewardError::Stopped)?;
        answer.await.map_err(|_| StewardError::Stopped)
    }

    /// The configuration was reloaded: the mode, intervals or GitHub settings may have changed.
    pub fn reload(&self) {
        let _ = self.inputs.send(Input::Reload);
    }

    /// `session.resume` (`SessionEvent::Resume`) or `session.cancel` (`SessionEvent::Cancel`).
    pub async fn session(&self, id: u64, event: SessionEvent) -> Result<Session, StewardError> {
        let (reply, answer) = oneshot::channel();
        self.inputs.send(Input::Session { id, event, reply }).map_err(|_| StewardError::Stopped)?;
        answer.await.map_err(|_| StewardError::Stopped)?
    }

    /// Stops ticking; a tick in progress is abandoned where it is (each of its steps is safe to
    /// repeat at the next start).
    pub async fn stop(&self) {
        self.stopping.cancel();
        let (reply, answer) = oneshot::channel();
        if self.inputs.send(Input::Stop(reply)).is_ok() {
            let _ = answer.await;
        }
    }
}

/// A running loop's record.
struct LoopRecord {
    next: Instant,
    failures: Failures,
}

/// What the GitHub client was built from; a change rebuilds it.
#[derive(Clone, PartialEq)]
struct ClientKey {
    api_url: String,
    repo: RepoId,
    token_env: String,
    dry_run: bool,
}

pub(super) struct Runner {
    parts: Parts,
    loops: BTreeMap<Loop, LoopRecord>,
    client: Option<(ClientKey, GitHub)>,
    /// steward's own labels exist in the repository (checked once per client).
    labels_ready: bool,
    /// The last decision reported per loop and issue, so that an unchanged one is not reported
    /// at every tick.
    decisions: HashMap<(Loop, u64), String>,
    repo: Option<String>,
    gave_up: bool,
    /// The last report of each loop, by name.
    last: HashMap<String, TickReport>,
    /// The repository's default branch and the token's login, for the client in use.
    facts: RepoFacts,
    /// When live sessions are looked at next (`intervals.health_s`), in modes that run them.
    health_next: Instant,
    /// When finished sessions' worktrees are collected next.
    gc_next: Instant,
}

impl Runner {
    fn mode(&self, config: &Config) -> Mode {
        self.parts.mode_override.unwrap_or(config.steward.mode)
    }

    fn interval(config: &Config, r#loop: Loop) -> Duration {
        let intervals = &config.steward.intervals;
        Duration::from_secs(match r#loop {
            Loop::Triage => intervals.triage_s,
            Loop::Feedback => intervals.feedback_s,
            Loop::Run => intervals.run_s,
        })
    }

    /// Brings the set of running loops in line with the mode: new ones tick after `idle_s`.
    fn reschedule(&mut self) {
        let config = self.parts.config.get();
        let mode = self.mode(&config);
        let idle = Duration::from_secs(config.steward.intervals.idle_s);
        self.loops.retain(|r#loop, _| r#loop.active_in(mode));
        for r#loop in Loop::ALL.into_iter().filter(|r#loop| r#loop.active_in(mode)) {
            self.loops
                .entry(r#loop)
                .or_insert_with(|| LoopRecord { next: Instant::now() + idle, failures: Failures::default() });
        }
    }

    async fn run(mut self, mut inputs: mpsc::UnboundedReceiver<Input>, stopping: CancellationToken) {
        // A session's agent starting or ending moves the session on now, not at the next
        // supervisor tick.
        let mut task_events = Some(self.parts.events.listen());
        loop {
            let config = self.parts.config.get();
            let sessions_run = Loop::Run.active_in(self.mode(&config));
            let next = self
                .loops
                .values()
                .map(|record| record.next)
                .chain([self.gc_next])
                .chain(sessions_run.then_some(self.health_next))
                .min();
            let input = tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                event = next_event(&mut task_events) => {
                    match event {
                        Ok(event) => {
                            if let Some(task) = session_task_event(&event.topic, &event.data)
                                && sessions_run
                                && self.is_session_task(task).await
                            {
                                self.health_next = Instant::now();
                            }
                        }
                        // Missed some: one look at the sessions catches up.
                        Err(broadcast::error::RecvError::Lagged(_)) => self.health_next = Instant::now(),
                        Err(broadcast::error::RecvError::Closed) => task_events = None,
                    }
                    continue;
                }
                () = sleep_until(next) => {
                    tokio::select! {
                        () = self.run_due() => {}
                        () = stopping.cancelled() => {}
                    }
                    continue;
                }
            };
            match input {
                Input::Tick { r#loop, reply } => {
                    tokio::select! {
                        report = self.tick(r#loop) => {
                            let _ = reply.send(report);
                        }
                        () = stopping.cancelled() => {}
                    }
                }
                Input::Status(reply) => {
                    let status = self.status().await;
                    let _ = reply.send(status);
                }
                Input::Reload => {
                    self.reschedule();
                    self.client = None;
                    self.labels_ready = false;
                }
                Input::Session { id, event, reply } => {
                    tokio::select! {
                        result = self.session_request(id, event) => {
                            let _ = reply.send(result);
                        }
                        () = stopping.cancelled() => {}
                    }
                }
                Input::Stop(reply) => {
                    let _ = reply.send(());
                    break;
                }
            }
        }
        tracing::debug!("steward loops stopped");
    }

    /// Ticks every loop that is due, one after the other.
    async fn run_due(&mut self) {
        let now = Instant::now();
        let due: Vec<Loop> = self.loops.iter().filter(|(_, record)| record.next <= now).map(|(l, _)| *l).collect();
        for r#loop in due {
            self.tick(r#loop).await;
        }
        let config = self.parts.config.get();
        if Loop::Run.active_in(self.mode(&config)) && self.health_next <= Instant::now() {
            self.health(&config).await;
            self.health_next = Instant::now() + Duration::from_secs(config.steward.intervals.health_s);
        }
        if self.gc_next <= Instant::now() {
            let removed = gc::collect_garbage(&self.parts.store, self.parts.project.root()).await;
            if !removed.is_empty() {
                let paths: Vec<String> = removed.iter().map(|path| path.display().to_string()).collect();
                self.parts.events.emit("steward:worktrees_removed", json!({ "paths": paths }));
            }
            self.gc_next = Instant::now() + GC_EVERY;
        }
    }

    /// Whether `task` is the agent of a session still going.
    async fn is_session_task(&self, task: u64) -> bool {
        match self.parts.store.read(sql::live).await {
            Ok(live) => live.iter().any(|session| session.task == Some(task)),
            Err(error) => {
                tracing::warn!(%error, "could not read the sessions");
                false
            }
        }
    }

    /// The supervisor tick: live sessions move on (agents that ended, checks that finished,
    /// sessions past their time) between the run loop's ticks.
    async fn health(&mut self, config: &Arc<Config>) {
        let result = match self.context_parts(Loop::Run, config).await {
            Ok(Some(github)) => {
                let mut context = self.context(config, github);
                sessions::advance_all(&mut context).await.map(|_| ())
            }
            Ok(None) => Ok(()),
            Err(error) => Err(error),
        };
        if let Err(error) = result {
            tracing::warn!(error = %error.message, "supervisor tick failed; trying again at the next one");
        }
    }

    /// `session.resume` and `session.cancel`: the transition is stored at once; what it does on
    /// GitHub follows now when the gates are open, else once they are.
    async fn session_request(&mut self, id: u64, event: SessionEvent) -> Result<Session, StewardError> {
        let session = self
            .parts
            .store
            .read(move |conn| sql::get(conn, id))
            .await
            .map_err(|error| StewardError::Store(error.to_string()))?
            .ok_or(StewardError::NoSession(id))?;
        let config = self.parts.config.get();
        let limits = super::session::Limits { max_attempts: config.policy.max_attempts };
        if let Err(refused) = super::session::transition(session.state, session.attempts, &event, limits) {
            return Err(StewardError::Refused(refused.to_string()));
        }
        if event == SessionEvent::Resume {
            let (repo, issue) = (session.repo.clone(), session.issue);
            let live =
                self.parts.store.read(sql::live).await.map_err(|error| StewardError::Store(error.to_string()))?;
            if let Some(other) =
                live.iter().find(|s| s.id != id && s.repo.eq_ignore_ascii_case(&repo) && s.issue == issue)
            {
                return Err(StewardError::Refused(format!(
                    "session {} already works on issue #{issue}; cancel it first",
                    other.id
                )));
            }
        }
        if event == SessionEvent::Cancel
            && let Some(task) = session.task
        {
            // Local, so it happens even while the gates are closed.
            let _ = self.parts.queue.cancel(task).await;
        }
        let github = match self.context_parts(Loop::Run, &config).await {
            Ok(github) => github,
            Err(error) => {
                tracing::warn!(error = %error.message, "the session's GitHub steps wait for the next tick");
                None
            }
        };
        let result = match github {
            Some(github) => {
                let mut context = self.context(&config, github);
                sessions::apply(&mut context, session, event).await
            }
            None => sessions::apply_offline(&self.parts.store, &self.parts.events, &config, session, event).await,
        };
        result.map_err(|error| StewardError::Store(error.message))
    }

    /// One tick of `loop`: gates, then the loop's work; reported as an event and remembered.
    pub(super) async fn tick(&mut self, r#loop: Loop) -> TickReport {
        let started_at = Utc::now();
        let started = Instant::now();
        let config = self.parts.config.get();
        let result = self.try_tick(r#loop, &config).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let (report, outcome) = match result {
            Ok(TickOutcome::Skipped(skip)) => (
                TickReport {
                    r#loop: r#loop.name().into(),
                    started_at,
                    duration_ms,
                    outcome: "skipped".into(),
                    summary: format!("nothing done: {}", skip.describe()),
                    considered: 0,
                    changes: 0,
                    error: None,
                },
                TickResult::Ok,
            ),
            Ok(TickOutcome::Done { summary, considered, changes }) => (
                TickReport {
                    r#loop: r#loop.name().into(),
                    started_at,
                    duration_ms,
                    outcome: "ok".into(),
                    summary,
                    considered,
                    changes,
                    error: None,
                },
                TickResult::Ok,
            ),
            Err(TickError { message, needs_person, changes }) => {
                tracing::warn!(r#loop = r#loop.name(), error = %message, needs_person, "tick failed");
                (
                    TickReport {
                        r#loop: r#loop.name().into(),
                        started_at,
                        duration_ms,
                        outcome: "failed".into(),
                        summary: format!("failed: {message}"),
                        considered: 0,
                        changes,
                        error: Some(message),
                    },
                    if needs_person { TickResult::NeedsPerson } else { TickResult::Retryable },
                )
            }
        };
        let interval = Self::interval(&config, r#loop);
        if let Some(record) = self.loops.get_mut(&r#loop) {
            record.failures = record.failures.after(outcome);
            record.next = Instant::now() + schedule::next_delay(interval, record.failures);
        }
        let failures = self.loops.get(&r#loop).map_or(0, |record| record.failures.retryable);
        let mut event = serde_json::to_value(&report).unwrap_or_default();
        if let Some(map) = event.as_object_mut() {
            map.insert("failures".into(), json!(failures));
        }
        let topic = if report.outcome == "failed" { "steward:tick_failed" } else { "steward:tick" };
        self.parts.events.emit(topic, event);
        self.remember(report.clone());
        self.check_give_up();
        report
    }

    /// Makes the daemon exit once every running loop keeps failing (manual ticks count too).
    fn check_give_up(&mut self) {
        let failures: Vec<Failures> = self.loops.values().map(|record| record.failures).collect();
        if self.gave_up || !schedule::give_up(&failures) {
            return;
        }
        self.gave_up = true;
        let reason = format!(
            "every GitHub loop failed {} times in a row; exiting so that the service manager restarts the daemon",
            schedule::GIVE_UP_AFTER
        );
        tracing::error!("{reason}");
        self.parts.events.emit("steward:giving_up", json!({ "reason": reason }));
        (self.parts.give_up)(reason);
    }

    fn remember(&mut self, report: TickReport) {
        self.last.insert(report.r#loop.clone(), report);
    }

    /// The gates, the client, then the loop's own work.
    async fn try_tick(&mut self, r#loop: Loop, config: &Arc<Config>) -> Result<TickOutcome, TickError> {
        let github = match self.gates(r#loop, config)? {
            Err(skip) => return Ok(TickOutcome::Skipped(skip)),
            Ok(repo) => self.ready_client(config, repo).await?,
        };
        let mut context = self.context(config, github);
        let result = match r#loop {
            Loop::Triage => tick_triage::run(&mut context).await,
            Loop::Run => tick_run::run(&mut context).await,
            Loop::Feedback => tick_feedback::run(&mut context).await,
        };
        let changes = context.changes;
        result.map_err(|mut err| {
            err.changes = changes;
            err
        })
    }

    /// The gates of `loop`: the repository when they are open, why not when one is closed (then
    /// no request may be made).
    fn gates(&mut self, r#loop: Loop, config: &Arc<Config>) -> Result<Result<RepoId, Skip>, TickError> {
        let mode = self.mode(config);
        let kill_switch = self.parts.project.steward_dir().join("STOP").exists();
        if !r#loop.active_in(mode) {
            return Ok(Err(Skip::ModeOff { mode, r#loop }));
        }
        if kill_switch {
            return Ok(Err(Skip::KillSwitch));
        }
        let repo = crate::github::resolve_repo(&config.github, self.parts.project.root()).map_err(TickError::from)?;
        self.repo = Some(repo.to_string());
        Ok(policy::gates(mode, r#loop, kill_switch, &repo.to_string(), &config.policy.allow).map(|()| repo))
    }

    /// The client once the gates of `loop` are open; `None` while one is closed.
    async fn context_parts(&mut self, r#loop: Loop, config: &Arc<Config>) -> Result<Option<GitHub>, TickError> {
        match self.gates(r#loop, config)? {
            Err(_) => Ok(None),
            Ok(repo) => self.ready_client(config, repo).await.map(Some),
        }
    }

    /// The client, with steward's labels made sure of once per client.
    async fn ready_client(&mut self, config: &Arc<Config>, repo: RepoId) -> Result<GitHub, TickError> {
        let github = self.client(config, repo)?;
        if !self.labels_ready {
            let labels: Vec<crate::github::Label> = super::LABELS
                .iter()
                .map(|(name, color, description)| crate::github::Label {
                    name: (*name).into(),
                    color: (*color).into(),
                    description: (*description).into(),
                })
                .collect();
            github.ensure_labels(&labels).await.map_err(TickError::from)?;
            self.labels_ready = true;
        }
        Ok(github)
    }

    fn context(&mut self, config: &Arc<Config>, github: GitHub) -> Context<'_> {
        Context {
            config: config.clone(),
            github,
            store: self.parts.store.clone(),
            queue: self.parts.queue.clone(),
            events: self.parts.events.clone(),
            decisions: &mut self.decisions,
            changes: 0,
            project_root: self.parts.project.root().to_owned(),
            facts: &mut self.facts,
        }
    }

    /// The GitHub client for the configuration in force, built on first use and after a change.
    fn client(&mut self, config: &Config, repo: RepoId) -> Result<GitHub, TickError> {
        let key = ClientKey {
            api_url: config.github.api_url.clone(),
            repo: repo.clone(),
            token_env: config.github.token_env.clone(),
            dry_run: config.steward.dry_run,
        };
        if let Some((built, client)) = &self.client
            && *built == key
        {
            return Ok(client.clone());
        }
        let settings = Settings::from_config(&config.github, self.parts.project.root(), config.steward.dry_run)
            .map_err(TickError::from)?;
        let events = self.parts.events.clone();
        let sink: DryRunSink = Arc::new(move |operation, what| {
            tracing::info!(operation, %what, "dry run: GitHub change not made");
            events.emit("steward:dry_run", json!({ "operation": operation, "request": what }));
        });
        let client = GitHub::new(Settings { repo, ..settings }, sink).map_err(TickError::from)?;
        self.client = Some((key, client.clone()));
        self.labels_ready = false;
        self.facts = RepoFacts::default();
        Ok(client)
    }

    async fn status(&self) -> StewardStatus {
        let config = self.parts.config.get();
        let (active, paused) = match self.parts.store.read(sql::live).await {
            Ok(sessions) => (
                sessions.iter().filter(|s| s.state.is_active()).count() as u32,
                sessions.iter().filter(|s| s.state == SessionState::Paused).count() as u32,
            ),
            Err(err) => {
                tracing::warn!(error = %err, "could not count sessions for the status");
                (0, 0)
            }
        };
        let now = Instant::now();
        let loops = self
            .loops
            .iter()
            .map(|(r#loop, record)| LoopStatus {
                r#loop: r#loop.name().into(),
                next_tick: chrono::Duration::from_std(record.next.saturating_duration_since(now))
                    .ok()
                    .map(|left| Utc::now() + left),
                failures: record.failures.retryable,
                blocked: record.failures.needs_person,
            })
            .collect();
        StewardStatus {
            mode: self.mode(&config),
            mode_source: if self.parts.mode_override.is_some() { "--mode".into() } else { "config".into() },
            kill_switch: self.parts.project.steward_dir().join("STOP").exists(),
            dry_run: config.steward.dry_run,
            repo: self.repo.clone(),
            last_triage: self.last.get("triage").cloned(),
            last_feedback: self.last.get("feedback").cloned(),
            last_run: self.last.get("run").cloned(),
            active,
            paused,
            loops,
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// The next event on the bus, or never once it is closed.
async fn next_event(
    events: &mut Option<broadcast::Receiver<Arc<crate::events::Event>>>,
) -> Result<Arc<crate::events::Event>, broadcast::error::RecvError> {
    match events {
        Some(events) => events.recv().await,
        None => std::future::pending().await,
    }
}

/// The task an event says started or ended, for the topics that can move a session on.
fn session_task_event(topic: &str, data: &serde_json::Value) -> Option<u64> {
    const TOPICS: &[&str] =
        &["task:started", "task:completed", "task:failed", "task:timeout", "task:cancelled", "task:interrupted"];
    TOPICS.contains(&topic).then(|| data["id"].as_u64()).flatten()
}
