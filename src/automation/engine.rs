//! The rule engine: which rules a file change, an event or the clock triggers, what their
//! conditions make of it, and which fire.
//!
//! Pure: it holds the compiled rules and their state, takes what happened and the time, and
//! answers with [`Firing`]s for the adapter (`runner`) to carry out and the state to store. It
//! never sleeps, reads a clock or touches the store, so every rule of the issue (debounce,
//! cooldown, missed fire times, chains of rules) is a table test.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use globset::{GlobSet, GlobSetBuilder};
use serde_json::{Value, json};

use super::rule::{Action, Condition, Field, MatchTest, Origin, Rule, Trigger};
use super::state::{
    AutomationStatus, Pending, RuleState, RuleStatus, ScheduleStatus, StoredState, Suppression, WatchState,
};
use super::template;
use super::watch::{Change, ChangeBatch};
use crate::config::TriggerType;
use crate::events::Event;

/// How long a chain of rules may grow (a rule fired by an event another rule caused, ...)
/// before the engine stops it: long enough for real pipelines, short enough that two rules
/// feeding each other stop at once.
pub const MAX_CHAIN_DEPTH: u32 = 8;

/// A fire time found this late was missed (the machine slept or the clock jumped), not merely
/// delayed, and is treated like one missed while the daemon was down.
pub const MISFIRE_GRACE: Duration = Duration::from_secs(60);

/// Most missed fire times counted when reporting them.
const MAX_MISSED_COUNTED: u64 = 10_000;

/// The two clocks: wall time for schedules and what is stored, the monotonic one for debounce.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub wall: DateTime<Utc>,
    pub mono: Instant,
}

impl Now {
    /// The current time.
    pub fn current() -> Self {
        Now { wall: Utc::now(), mono: Instant::now() }
    }
}

/// Which firing caused an event or a task: a rule never triggers on its own doing, and chains
/// are cut at [`MAX_CHAIN_DEPTH`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub rule: String,
    /// The depth of the occurrence that fired it: 0 when it started from outside.
    pub depth: u32,
}

/// What triggered a rule, as the conditions and templates see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Occurrence {
    /// The event's topic; `file:changed` for file changes, `schedule` for schedules.
    pub topic: String,
    /// The event's data (file changes: `{changes: [{path, kind}]}`; schedules: `{scheduled_for}`).
    pub data: Value,
    /// The paths concerned, without duplicates, in the order they came.
    pub paths: Vec<String>,
    /// The triggering event.
    pub event_seq: Option<u64>,
    /// Schedules: the fire time this is for.
    pub scheduled_for: Option<DateTime<Utc>>,
    /// Schedules: fired at start for fire times missed while the daemon was down.
    pub catch_up: bool,
    /// How many rules' firings led here.
    pub depth: u32,
    /// How many triggers a debounce merged into this one.
    pub triggers: u64,
}

impl Occurrence {
    fn merge(&mut self, later: Occurrence) {
        for path in later.paths {
            if !self.paths.contains(&path) {
                self.paths.push(path);
            }
        }
        self.topic = later.topic;
        self.data = later.data;
        self.event_seq = later.event_seq.or(self.event_seq);
        self.scheduled_for = later.scheduled_for.or(self.scheduled_for);
        self.depth = self.depth.max(later.depth);
        self.triggers += later.triggers;
    }
}

/// A rule that fires: what to do, why, and its state to store with the result.
#[derive(Debug, Clone)]
pub struct Firing {
    pub rule: String,
    pub origin: Origin,
    pub trigger: TriggerType,
    pub action: Action,
    pub occurrence: Occurrence,
    pub time: DateTime<Utc>,
    /// The rule's state after this firing, to be stored together with its effect.
    pub state: StoredState,
}

/// Something the adapter should report: a rule's suppressed trigger, a schedule's missed fire
/// times.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub rule: String,
    pub origin: Origin,
    pub suppression: Suppression,
}

/// What an input led to.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub firings: Vec<Firing>,
    /// States changed without a firing (a schedule's cursor after skipping missed times).
    pub stored: Vec<StoredState>,
    pub notices: Vec<Notice>,
}

/// No rule or schedule has this id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no rule or schedule `{id}`; known: {}", if known.is_empty() { "none".to_owned() } else { known.join(", ") })]
pub struct UnknownRule {
    pub id: String,
    pub known: Vec<String>,
}

/// The rules, their state, and indexes to find the rules an input concerns quickly.
pub struct Engine {
    rules: Vec<Rule>,
    states: Vec<RuleState>,
    enabled: bool,
    /// Event rules by exact topic; the rest (globs) are tried one by one.
    exact_topics: HashMap<String, Vec<usize>>,
    topic_globs: Vec<usize>,
    /// All file_change patterns at once, and the rule of each.
    file_globs: GlobSet,
    file_rules: Vec<usize>,
}

impl Engine {
    /// An engine over `rules` with what was stored (`enabled`: the global switch), starting
    /// at `now`: schedules get their next fire time, and those that missed fire times while
    /// the daemon was down catch up or skip them.
    pub fn new(rules: Vec<Rule>, enabled: bool, stored: &HashMap<String, StoredState>, now: Now) -> (Self, Outcome) {
        let states = rules
            .iter()
            .map(|rule| RuleState::new(stored.get(&rule.id).cloned().unwrap_or_else(|| StoredState::new(&rule.id))))
            .collect();
        let mut engine = Engine {
            rules,
            states,
            enabled,
            exact_topics: HashMap::new(),
            topic_globs: Vec::new(),
            file_globs: GlobSet::empty(),
            file_rules: Vec::new(),
        };
        engine.index();
        let mut outcome = Outcome::default();
        for index in 0..engine.rules.len() {
            engine.start_schedule(index, now, &mut outcome);
        }
        (engine, outcome)
    }

    /// Puts a new set of rules in force (a reload). A rule whose definition is unchanged keeps
    /// everything, including triggers held by a debounce and its next fire time; a changed one
    /// keeps its counts and flag but starts afresh; a new one starts enabled. Nothing catches up.
    pub fn reload(&mut self, rules: Vec<Rule>, now: Now) -> Outcome {
        let mut old: HashMap<String, (Rule, RuleState)> = self
            .rules
            .drain(..)
            .zip(self.states.drain(..))
            .map(|(rule, state)| (rule.id.clone(), (rule, state)))
            .collect();
        let mut outcome = Outcome::default();
        for rule in rules {
            let state = match old.remove(&rule.id) {
                Some((previous, state)) if previous.written == rule.written => state,
                Some((_, state)) => RuleState::new(state.stored),
                None => RuleState::new(StoredState::new(&rule.id)),
            };
            self.rules.push(rule);
            self.states.push(state);
        }
        self.index();
        for index in 0..self.rules.len() {
            if self.states[index].next_fire.is_none()
                && let Trigger::Schedule { schedule, .. } = &self.rules[index].trigger
            {
                self.states[index].next_fire = schedule.next_after(now.wall);
                if self.states[index].stored.cursor.is_none() {
                    self.states[index].stored.cursor = Some(now.wall);
                    outcome.stored.push(self.states[index].stored.clone());
                }
            }
        }
        outcome
    }

    fn index(&mut self) {
        self.exact_topics.clear();
        self.topic_globs.clear();
        self.file_rules.clear();
        let mut globs = GlobSetBuilder::new();
        for (index, rule) in self.rules.iter().enumerate() {
            match &rule.trigger {
                Trigger::Event { topic, .. } if !topic.contains(['*', '?']) => {
                    self.exact_topics.entry(topic.clone()).or_default().push(index);
                }
                Trigger::Event { .. } => self.topic_globs.push(index),
                Trigger::FileChange { glob, .. } => {
                    globs.add(glob.glob().clone());
                    self.file_rules.push(index);
                }
                Trigger::Schedule { .. } => {}
            }
        }
        // The globs compiled once already; building the set of them cannot fail on their account.
        self.file_globs = globs.build().unwrap_or_else(|_| GlobSet::empty());
    }

    /// The first schedule computation of a rule: the next fire time, and what to do about
    /// fire times missed since the stored cursor.
    fn start_schedule(&mut self, index: usize, now: Now, outcome: &mut Outcome) {
        let Trigger::Schedule { schedule, catch_up } = &self.rules[index].trigger else { return };
        let (schedule, catch_up) = (schedule.clone(), *catch_up);
        let state = &mut self.states[index];
        state.next_fire = schedule.next_after(now.wall);
        let Some(cursor) = state.stored.cursor else {
            // Never ran before: nothing was missed; remember where counting starts.
            state.stored.cursor = Some(now.wall);
            outcome.stored.push(state.stored.clone());
            return;
        };
        let Some(first_missed) = schedule.next_after(cursor).filter(|first| *first <= now.wall) else { return };
        let mut missed = 1;
        let mut at = first_missed;
        while missed < MAX_MISSED_COUNTED {
            match schedule.next_after(at) {
                Some(next) if next <= now.wall => {
                    missed += 1;
                    at = next;
                }
                _ => break,
            }
        }
        let count =
            if missed >= MAX_MISSED_COUNTED { format!("{MAX_MISSED_COUNTED} or more") } else { missed.to_string() };
        let occurrence = Occurrence {
            topic: "schedule".to_owned(),
            data: json!({ "scheduled_for": crate::events::format_time(&first_missed), "missed": missed }),
            paths: Vec::new(),
            event_seq: None,
            scheduled_for: Some(first_missed),
            catch_up: true,
            depth: 0,
            triggers: 1,
        };
        let since = crate::events::format_time(&first_missed);
        if catch_up && self.enabled && state.stored.enabled {
            state.stored.cursor = Some(now.wall);
            let fired = outcome.firings.len();
            self.trigger(index, occurrence, now, outcome);
            if outcome.firings.len() == fired {
                outcome.stored.push(self.states[index].stored.clone());
            }
        } else {
            let why = if !catch_up { "catch_up is off".to_owned() } else { "it is disabled".to_owned() };
            let suppression = Suppression {
                at: now.wall,
                reason: "missed".to_owned(),
                detail: format!(
                    "{count} fire time(s) since {since} passed while the daemon was not running; skipped because {why}"
                ),
            };
            let state = &mut self.states[index];
            state.stored.cursor = Some(now.wall);
            state.suppressed += 1;
            state.last_suppressed = Some(suppression.clone());
            outcome.stored.push(state.stored.clone());
            outcome.notices.push(Notice {
                rule: self.rules[index].id.clone(),
                origin: self.rules[index].origin,
                suppression,
            });
        }
    }

    /// An event happened; `cause` says which firing led to it, if one did.
    pub fn on_event(&mut self, event: &Event, cause: Option<&Cause>, now: Now) -> Outcome {
        let mut outcome = Outcome::default();
        let mut candidates: Vec<usize> = self.exact_topics.get(&event.topic).cloned().unwrap_or_default();
        candidates.extend(self.topic_globs.iter().copied().filter(|&index| match &self.rules[index].trigger {
            Trigger::Event { filter, .. } => filter.matches(&event.topic),
            _ => false,
        }));
        candidates.sort_unstable();
        for index in candidates {
            if cause.is_some_and(|cause| cause.rule == self.rules[index].id) {
                continue;
            }
            let paths = event
                .data
                .get("paths")
                .and_then(Value::as_array)
                .map_or_else(Vec::new, |paths| paths.iter().filter_map(Value::as_str).map(str::to_owned).collect());
            let occurrence = Occurrence {
                topic: event.topic.clone(),
                data: event.data.clone(),
                paths,
                event_seq: Some(event.seq),
                scheduled_for: None,
                catch_up: false,
                depth: cause.map_or(0, |cause| cause.depth + 1),
                triggers: 1,
            };
            self.trigger(index, occurrence, now, &mut outcome);
        }
        outcome
    }

    /// Files changed.
    pub fn on_files(&mut self, batch: &ChangeBatch, now: Now) -> Outcome {
        let mut matched: HashMap<usize, Vec<&Change>> = HashMap::new();
        let mut hits = Vec::new();
        for change in &batch.changes {
            self.file_globs.matches_into(&change.path, &mut hits);
            for &hit in &hits {
                let index = self.file_rules[hit];
                if let Trigger::FileChange { kinds, .. } = &self.rules[index].trigger
                    && kinds.as_ref().is_none_or(|kinds| kinds.contains(&change.kind))
                {
                    matched.entry(index).or_default().push(change);
                }
            }
        }
        let mut outcome = Outcome::default();
        let mut indexes: Vec<usize> = matched.keys().copied().collect();
        indexes.sort_unstable();
        for index in indexes {
            let changes = &matched[&index];
            let occurrence = Occurrence {
                topic: "file:changed".to_owned(),
                data: json!({ "changes": changes, "rescan": batch.rescan }),
                paths: changes.iter().map(|change| change.path.clone()).collect(),
                event_seq: None,
                scheduled_for: None,
                catch_up: false,
                depth: 0,
                triggers: 1,
            };
            self.trigger(index, occurrence, now, &mut outcome);
        }
        outcome
    }

    /// Time passed: debounces that settled and schedules that are due.
    pub fn on_time(&mut self, now: Now) -> Outcome {
        let mut outcome = Outcome::default();
        for index in 0..self.rules.len() {
            let (due, held): (Vec<Pending>, Vec<Pending>) =
                std::mem::take(&mut self.states[index].pending).into_iter().partition(|p| p.deadline <= now.mono);
            self.states[index].pending = held;
            for pending in due {
                self.advance(index, pending.occurrence, pending.stage + 1, now, &mut outcome);
            }
            self.schedule_due(index, now, &mut outcome);
        }
        outcome
    }

    fn schedule_due(&mut self, index: usize, now: Now, outcome: &mut Outcome) {
        let Trigger::Schedule { schedule, catch_up } = &self.rules[index].trigger else { return };
        let (schedule, catch_up) = (schedule.clone(), *catch_up);
        let Some(due) = self.states[index].next_fire.filter(|due| *due <= now.wall) else { return };
        let late = (now.wall - due).to_std().unwrap_or_default() > MISFIRE_GRACE;
        // On time, the next one follows this one (a short delay is made up at once); after a
        // miss, counting restarts from now, so a week asleep costs at most one run.
        let next = if late { schedule.next_after(now.wall) } else { schedule.next_after(due) };
        self.states[index].next_fire = next;
        if !self.enabled || !self.states[index].stored.enabled {
            return;
        }
        let occurrence = Occurrence {
            topic: "schedule".to_owned(),
            data: json!({ "scheduled_for": crate::events::format_time(&due) }),
            paths: Vec::new(),
            event_seq: None,
            scheduled_for: Some(due),
            catch_up: late,
            depth: 0,
            triggers: 1,
        };
        if late && !catch_up {
            let late_by = (now.wall - due).num_seconds();
            self.suppress(
                index,
                "missed",
                format!(
                    "the fire time {} was found {late_by} s late (the machine slept or the clock moved); skipped because catch_up is off",
                    crate::events::format_time(&due)
                ),
                now,
                outcome,
            );
            self.states[index].stored.cursor = Some(now.wall);
            outcome.stored.push(self.states[index].stored.clone());
            return;
        }
        self.states[index].stored.cursor = Some(if late { now.wall } else { due });
        let fired = outcome.firings.len();
        self.trigger(index, occurrence, now, outcome);
        if outcome.firings.len() == fired {
            // Held or suppressed: the cursor still moved, and a restart must know it.
            outcome.stored.push(self.states[index].stored.clone());
        }
    }

    fn trigger(&mut self, index: usize, occurrence: Occurrence, now: Now, outcome: &mut Outcome) {
        if !self.enabled || !self.states[index].stored.enabled {
            return;
        }
        self.states[index].triggered += 1;
        if occurrence.depth > MAX_CHAIN_DEPTH + 1 {
            // A consequence of a chain already cut and reported: dropped without another report,
            // which could itself start a new chain.
            self.states[index].suppressed += 1;
            return;
        }
        if occurrence.depth > MAX_CHAIN_DEPTH {
            let detail = format!(
                "{} rules fired one after another, each on what the previous one did; the chain is cut at {MAX_CHAIN_DEPTH}",
                occurrence.depth
            );
            self.suppress(index, "chain", detail, now, outcome);
            return;
        }
        self.advance(index, occurrence, 0, now, outcome);
    }

    /// Runs the conditions from `stage` on; fires when all pass.
    fn advance(&mut self, index: usize, occurrence: Occurrence, stage: usize, now: Now, outcome: &mut Outcome) {
        let conditions = self.rules[index].conditions.clone();
        for (at, condition) in conditions.iter().enumerate().skip(stage) {
            match condition {
                Condition::Always => {}
                Condition::Match { target, test, .. } => {
                    if !matches(target, test, &occurrence) {
                        return;
                    }
                }
                Condition::Cooldown(interval) => {
                    if let Some(last) = self.states[index].stored.last_fired
                        && let Some(until) = chrono::Duration::from_std(*interval).ok().map(|d| last + d)
                        && now.wall < until
                    {
                        let detail = format!(
                            "fired at {}; the cooldown allows the next firing from {}",
                            crate::events::format_time(&last),
                            crate::events::format_time(&until)
                        );
                        self.suppress(index, "cooldown", detail, now, outcome);
                        return;
                    }
                }
                Condition::Debounce(interval) => {
                    let state = &mut self.states[index];
                    let deadline = now.mono + *interval;
                    let deadline_wall = now.wall + chrono::Duration::from_std(*interval).unwrap_or_default();
                    match state.pending.iter_mut().find(|pending| pending.stage == at) {
                        Some(pending) => {
                            pending.occurrence.merge(occurrence);
                            pending.deadline = deadline;
                            pending.deadline_wall = deadline_wall;
                        }
                        None => state.pending.push(Pending { stage: at, occurrence, deadline, deadline_wall }),
                    }
                    return;
                }
            }
        }
        let firing = self.fire(index, occurrence, now);
        outcome.firings.push(firing);
    }

    fn fire(&mut self, index: usize, occurrence: Occurrence, now: Now) -> Firing {
        let rule = &self.rules[index];
        let state = &mut self.states[index];
        state.stored.fire_count += 1;
        state.stored.last_fired = Some(now.wall);
        Firing {
            rule: rule.id.clone(),
            origin: rule.origin,
            trigger: rule.trigger.kind(),
            action: rule.action.clone(),
            occurrence,
            time: now.wall,
            state: state.stored.clone(),
        }
    }

    fn suppress(&mut self, index: usize, reason: &str, detail: String, now: Now, outcome: &mut Outcome) {
        let suppression = Suppression { at: now.wall, reason: reason.to_owned(), detail };
        let state = &mut self.states[index];
        state.suppressed += 1;
        state.last_suppressed = Some(suppression.clone());
        outcome.notices.push(Notice {
            rule: self.rules[index].id.clone(),
            origin: self.rules[index].origin,
            suppression,
        });
    }

    /// When the next debounce settles.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.states.iter().flat_map(|state| state.pending.iter().map(|pending| pending.deadline)).min()
    }

    /// When the next schedule is due.
    pub fn next_fire(&self) -> Option<DateTime<Utc>> {
        self.states.iter().filter_map(|state| state.next_fire).min()
    }

    /// Turns one rule (`Some(id)`) or all of automation (`None`) on or off. Triggers a
    /// debounce holds are dropped when a rule or everything goes off. Returns what to store.
    pub fn set_enabled(
        &mut self,
        rule: Option<&str>,
        enabled: bool,
        now: Now,
    ) -> Result<Vec<StoredState>, UnknownRule> {
        let indexes: Vec<usize> = match rule {
            None => {
                self.enabled = enabled;
                (0..self.rules.len()).collect()
            }
            Some(id) => match self.rules.iter().position(|rule| rule.id == id) {
                Some(index) => {
                    self.states[index].stored.enabled = enabled;
                    vec![index]
                }
                None => {
                    return Err(UnknownRule {
                        id: id.to_owned(),
                        known: self.rules.iter().map(|rule| rule.id.clone()).collect(),
                    });
                }
            },
        };
        let mut stored = Vec::new();
        for index in indexes {
            let state = &mut self.states[index];
            if !enabled {
                state.pending.clear();
            }
            let is_schedule = matches!(self.rules[index].trigger, Trigger::Schedule { .. });
            if enabled && is_schedule {
                // Fire times passed while off are not owed: a restart must not catch them up.
                state.stored.cursor = Some(now.wall);
            }
            if rule.is_some() || (enabled && is_schedule) {
                stored.push(state.stored.clone());
            }
        }
        Ok(stored)
    }

    /// Whether automation as a whole is on.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The ids of every rule and schedule.
    pub fn ids(&self) -> Vec<String> {
        self.rules.iter().map(|rule| rule.id.clone()).collect()
    }

    /// `automation.status` (the watcher part is the adapter's).
    pub fn status(&self, watch: WatchState) -> AutomationStatus {
        let mut rules = Vec::new();
        let mut schedules = Vec::new();
        for (rule, state) in self.rules.iter().zip(&self.states) {
            match (rule.origin, &rule.trigger) {
                (Origin::Schedule, Trigger::Schedule { schedule, catch_up }) => schedules.push(ScheduleStatus {
                    name: rule.id.clone(),
                    enabled: state.stored.enabled,
                    cron: schedule.expression().to_owned(),
                    timezone: schedule.zone().name(),
                    catch_up: *catch_up,
                    next_fire: state.next_fire,
                    fire_count: state.stored.fire_count,
                    last_fired: state.stored.last_fired,
                    suppressed: state.suppressed,
                    last_suppressed: state.last_suppressed.clone(),
                }),
                _ => rules.push(RuleStatus {
                    id: rule.id.clone(),
                    enabled: state.stored.enabled,
                    trigger: rule.written.get("trigger").cloned().unwrap_or(Value::Null),
                    conditions: match rule.written.get("condition") {
                        Some(Value::Array(list)) => list.clone(),
                        Some(one) => vec![one.clone()],
                        None => Vec::new(),
                    },
                    action: rule.action.name().to_owned(),
                    fire_count: state.stored.fire_count,
                    last_fired: state.stored.last_fired,
                    next_fire: state.next_fire,
                    pending_until: state.pending.iter().map(|pending| pending.deadline_wall).max(),
                    triggered: state.triggered,
                    suppressed: state.suppressed,
                    last_suppressed: state.last_suppressed.clone(),
                }),
            }
        }
        AutomationStatus { enabled: self.enabled, rules, schedules, watch }
    }
}

/// Whether the occurrence passes a `match` condition.
fn matches(target: &Field, test: &MatchTest, occurrence: &Occurrence) -> bool {
    let values: Vec<Value> = match target {
        Field::Topic => vec![Value::String(occurrence.topic.clone())],
        Field::Paths => occurrence.paths.iter().cloned().map(Value::String).collect(),
        Field::Data(keys) => template::lookup(&occurrence.data, keys).cloned().into_iter().collect(),
    };
    values.iter().any(|value| match test {
        MatchTest::Equals(expected) => equals(value, expected),
        MatchTest::Regex(regex) => match value {
            Value::String(text) => regex.is_match(text),
            Value::Null => false,
            other => regex.is_match(&other.to_string()),
        },
    })
}

/// JSON equality, except that numbers compare by value (`1` equals `1.0`).
fn equals(value: &Value, expected: &Value) -> bool {
    match (value, expected) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => value == expected,
    }
}

#[cfg(test)]
mod tests;
