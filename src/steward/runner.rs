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
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::context::{Context, TickError, TickOutcome};
use super::policy::{self, Loop, Skip};
use super::schedule::{self, Failures, TickResult};
use super::session::SessionState;
use super::{LoopStatus, StewardStatus, TickReport, sql, tick_feedback, tick_run, tick_triage};
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
    Stop(oneshot::Sender<()>),
}

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
        let mut runner = Runner {
            parts,
            loops: BTreeMap::new(),
            client: None,
            labels_ready: false,
            decisions: HashMap::new(),
            repo: None,
            gave_up: false,
            last: HashMap::new(),
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
        loop {
            let next = self.loops.values().map(|record| record.next).min();
            let input = tokio::select! {
                input = inputs.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
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
        let mode = self.mode(config);
        let kill_switch = self.parts.project.steward_dir().join("STOP").exists();
        if !r#loop.active_in(mode) {
            return Ok(TickOutcome::Skipped(Skip::ModeOff { mode, r#loop }));
        }
        if kill_switch {
            return Ok(TickOutcome::Skipped(Skip::KillSwitch));
        }
        let repo = crate::github::resolve_repo(&config.github, self.parts.project.root()).map_err(TickError::from)?;
        self.repo = Some(repo.to_string());
        if let Err(skip) = policy::gates(mode, r#loop, kill_switch, &repo.to_string(), &config.policy.allow) {
            return Ok(TickOutcome::Skipped(skip));
        }
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
        let mut context = Context {
            config: config.clone(),
            github,
            store: self.parts.store.clone(),
            queue: self.parts.queue.clone(),
            events: self.parts.events.clone(),
            decisions: &mut self.decisions,
            changes: 0,
        };
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
