//! From `[[schedule]]` and `[[rules]]` as written to [`Rule`]s the engine can run, or the first
//! key that is wrong, why, and the fix.
//!
//! Pure: it reads the parsed configuration only. `config::validate` calls it, so a rule that
//! cannot work stops `steward daemon start`, `steward config check` and a reload, with the file,
//! line, key and rule named, instead of failing later on an event.

use std::collections::HashMap;
use std::time::Duration;

use globset::GlobBuilder;
use regex::RegexBuilder;

use super::cron::{Schedule, Zone};
use super::rule::{Action, Condition, Field, MatchTest, Origin, Rule, Trigger};
use super::template::{DataTemplate, Template};
use super::watch::ChangeKind;
use crate::config::{
    ActionConfig, ActionType, ConditionConfig, ConditionType, Config, Invalid, Place, RuleConfig, ScheduleConfig,
    TriggerConfig, TriggerType,
};
use crate::events::{TopicFilter, validate_topic_text, validate_user_topic};
use crate::queue::submit::{self, Submission};

/// Longest interval of a debounce or cooldown: a week.
pub const MAX_INTERVAL_MS: u64 = 7 * 24 * 3600 * 1000;
/// Longest time limit of a task a rule submits: 30 days, as for `task.submit`.
pub const MAX_TIMEOUT_MIN: u64 = 30 * 24 * 60;
/// Longest rule id.
pub const MAX_ID_CHARS: usize = 100;
/// Compiled size limit of one `match` regex, so a pathological pattern cannot eat memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Every rule and schedule of `config`, compiled: rules first, then schedules, each in file order.
pub fn compile(config: &Config) -> Result<Vec<Rule>, Invalid> {
    check_watch(config)?;
    let mut seen: HashMap<&str, String> = HashMap::new();
    let mut rules = Vec::with_capacity(config.rules.len() + config.schedule.len());
    for (index, written) in config.rules.iter().enumerate() {
        let key = format!("rules[{index}]");
        check_id(&format!("{key}.id"), &written.id, &mut seen)?;
        rules.push(compile_rule(&key, written, config)?);
    }
    for (index, written) in config.schedule.iter().enumerate() {
        let key = format!("schedule[{index}]");
        check_id(&format!("{key}.name"), &written.name, &mut seen)?;
        rules.push(compile_schedule(&key, written, config)?);
    }
    Ok(rules)
}

fn invalid(key: impl Into<String>, problem: impl Into<String>, fix: impl Into<String>, place: Place) -> Invalid {
    Invalid { key: key.into(), problem: problem.into(), fix: fix.into(), place }
}

fn check_id<'c>(key: &str, id: &'c str, seen: &mut HashMap<&'c str, String>) -> Result<(), Invalid> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if id.is_empty() || id.chars().count() > MAX_ID_CHARS || !id.chars().all(allowed) {
        let example: String = id.chars().map(|c| if allowed(c) { c } else { '-' }).take(MAX_ID_CHARS).collect();
        let example = if example.trim_matches('-').is_empty() { "auto-test".to_owned() } else { example };
        return Err(invalid(
            key,
            format!("`{key}` = {id:?} is not a valid id"),
            format!("use up to {MAX_ID_CHARS} letters, digits, `-`, `_` and `.`, e.g. {example:?}"),
            Place::Value,
        ));
    }
    if let Some(first) = seen.get(id) {
        return Err(invalid(
            key,
            format!("`{key}` = {id:?} is already used by `{first}`"),
            "give every rule and schedule its own id (`automation disable --rule ID` names one)",
            Place::Value,
        ));
    }
    seen.insert(id, key.to_owned());
    Ok(())
}

/// `[watch]`: relative paths inside the project and ignore lines that parse.
fn check_watch(config: &Config) -> Result<(), Invalid> {
    for (index, path) in config.watch.paths.iter().enumerate() {
        let key = "watch.paths";
        if let Err(problem) = relative_path_problem(path) {
            return Err(invalid(
                key,
                format!("`{key}` element {} ({path:?}) {problem}", index + 1),
                "list directories or files relative to the project root, e.g. paths = [\"src/\", \"Cargo.toml\"]; \".\" is the whole project",
                Place::Value,
            ));
        }
    }
    let mut builder = ignore::gitignore::GitignoreBuilder::new("/");
    for line in &config.watch.ignore {
        if let Err(err) = builder.add_line(None, line) {
            return Err(invalid(
                "watch.ignore",
                format!("`watch.ignore` line {line:?} is not a valid pattern: {err}"),
                "write lines as in .gitignore, e.g. \"target/\" or \"*.log\"",
                Place::Value,
            ));
        }
    }
    Ok(())
}

/// Why `path` is not a usable project-relative path, if it is not.
fn relative_path_problem(path: &str) -> Result<(), &'static str> {
    if path.starts_with('/') {
        return Err("is absolute");
    }
    if path.split('/').any(|part| part == "..") {
        return Err("leaves the project with `..`");
    }
    if path.chars().any(char::is_control) {
        return Err("contains a control character");
    }
    Ok(())
}

/// A project-relative path or pattern without `./` and trailing `/`: `""` is the whole project.
pub fn normalize_relative(path: &str) -> String {
    let mut path = path.trim();
    while let Some(rest) = path.strip_prefix("./") {
        path = rest;
    }
    let path = path.trim_end_matches('/');
    if path == "." { String::new() } else { path.to_owned() }
}

/// "an event trigger", "a schedule trigger".
fn with_article(noun: &str) -> String {
    let article = if noun.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {noun}")
}

fn not_applicable(key: &str, field: &str, what: &str, takes: &str) -> Invalid {
    invalid(
        format!("{key}.{field}"),
        format!("`{key}.{field}` does not apply to {what}"),
        format!("{} takes {takes}; remove `{field}` (or change `type`)", capitalized(what)),
        Place::Key,
    )
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

fn required(key: &str, field: &str, what: &str, example: &str) -> Invalid {
    invalid(
        key,
        format!("{what} needs `{field}`, and `{key}` has none"),
        format!("add it, e.g. `{example}`"),
        Place::Value,
    )
}

fn compile_rule(key: &str, written: &RuleConfig, config: &Config) -> Result<Rule, Invalid> {
    let trigger = compile_trigger(&format!("{key}.trigger"), &written.trigger, config)?;
    let mut conditions = Vec::with_capacity(written.condition.list.len());
    for (index, condition) in written.condition.list.iter().enumerate() {
        let condition_key =
            if written.condition.as_array { format!("{key}.condition[{index}]") } else { format!("{key}.condition") };
        conditions.push(compile_condition(&condition_key, condition)?);
    }
    let action = compile_action(&format!("{key}.action"), &written.id, &written.action, config)?;
    Ok(Rule {
        id: written.id.clone(),
        origin: Origin::Rule,
        trigger,
        conditions,
        action,
        written: serde_json::to_value(written).unwrap_or_default(),
    })
}

fn compile_trigger(key: &str, written: &TriggerConfig, config: &Config) -> Result<Trigger, Invalid> {
    let TriggerConfig { kind, pattern, events, cron, timezone, catch_up, topic } = written;
    let what = with_article(&format!("{} trigger", kind.name()));
    let present = [
        ("pattern", pattern.is_some()),
        ("events", events.is_some()),
        ("cron", cron.is_some()),
        ("timezone", timezone.is_some()),
        ("catch_up", catch_up.is_some()),
        ("topic", topic.is_some()),
    ];
    let (takes, fields): (&str, &[&str]) = match kind {
        TriggerType::FileChange => ("`pattern` and `events`", &["pattern", "events"]),
        TriggerType::Schedule => ("`cron`, `timezone` and `catch_up`", &["cron", "timezone", "catch_up"]),
        TriggerType::Event => ("`topic`", &["topic"]),
    };
    if let Some((field, _)) = present.iter().find(|(field, present)| *present && !fields.contains(field)) {
        return Err(not_applicable(key, field, &what, takes));
    }
    match kind {
        TriggerType::FileChange => {
            let pattern =
                pattern.as_deref().ok_or_else(|| required(key, "pattern", &what, "pattern = \"src/**/*.rs\""))?;
            let (normalized, glob) = compile_pattern(&format!("{key}.pattern"), pattern)?;
            if !config.watch.enabled {
                return Err(invalid(
                    key,
                    "a file_change trigger needs the file watcher, and [watch] is not enabled",
                    "set `enabled = true` in [watch] and list the directories to watch in `paths`",
                    Place::Value,
                ));
            }
            let watched: Vec<String> = config.watch.paths.iter().map(|path| normalize_relative(path)).collect();
            if !watched.iter().any(|path| pattern_reaches(&normalized, path)) {
                return Err(invalid(
                    format!("{key}.pattern"),
                    format!("pattern {pattern:?} matches nothing under [watch].paths ({})", watched_list(config)),
                    "add the directory the pattern is about to `paths` in [watch], or fix the pattern",
                    Place::Value,
                ));
            }
            let kinds = match events {
                None => None,
                Some(names) => Some(compile_kinds(&format!("{key}.events"), names)?),
            };
            Ok(Trigger::FileChange { pattern: normalized, glob, kinds })
        }
        TriggerType::Schedule => {
            let cron = cron.as_deref().ok_or_else(|| required(key, "cron", &what, "cron = \"0 9 * * MON-FRI\""))?;
            let schedule = compile_schedule_expression(key, cron, timezone.as_deref())?;
            Ok(Trigger::Schedule { schedule: Box::new(schedule), catch_up: catch_up.unwrap_or(false) })
        }
        TriggerType::Event => {
            let topic = topic.as_deref().ok_or_else(|| required(key, "topic", &what, "topic = \"task:failed\""))?;
            let filter = validate_topic_text(topic).and_then(|()| TopicFilter::new(vec![topic.to_owned()])).map_err(
                |problem| {
                    invalid(
                        format!("{key}.topic"),
                        format!("`{key}.topic`: {problem}"),
                        "write a topic such as \"task:failed\", or a glob such as \"task:*\"",
                        Place::Value,
                    )
                },
            )?;
            Ok(Trigger::Event { topic: topic.to_owned(), filter })
        }
    }
}

fn watched_list(config: &Config) -> String {
    config.watch.paths.iter().map(|path| format!("{path:?}")).collect::<Vec<_>>().join(", ")
}

fn compile_pattern(key: &str, pattern: &str) -> Result<(String, globset::GlobMatcher), Invalid> {
    if let Err(problem) = relative_path_problem(pattern) {
        return Err(invalid(
            key,
            format!("`{key}` = {pattern:?} {problem}"),
            "write a glob on the project-relative path, e.g. \"src/**/*.rs\"",
            Place::Value,
        ));
    }
    let normalized = normalize_relative(pattern);
    if normalized.is_empty() {
        return Err(invalid(
            key,
            format!("`{key}` = {pattern:?} matches no file"),
            "write a glob on the project-relative path, e.g. \"src/**/*.rs\" or \"**/*\"",
            Place::Value,
        ));
    }
    let glob = GlobBuilder::new(&normalized).literal_separator(true).backslash_escape(true).build().map_err(|err| {
        invalid(
            key,
            format!("`{key}` = {pattern:?} is not a valid glob: {}", err.kind()),
            "`*` matches within a directory, `**` across directories, `?` one character, `[abc]` and `{a,b}` alternatives; e.g. \"src/**/*.{rs,toml}\"",
            Place::Value,
        )
    })?;
    Ok((normalized, glob.compile_matcher()))
}

/// Whether a glob could match anything under watched path `watched` (both normalized): the
/// literal start of the pattern and the watched path must lie on one line of descent.
pub fn pattern_reaches(pattern: &str, watched: &str) -> bool {
    let literal_end = pattern.find(['*', '?', '[', '{', '\\']).unwrap_or(pattern.len());
    let literal = &pattern[..literal_end];
    if watched.is_empty() {
        return true;
    }
    let watched_dir = format!("{watched}/");
    watched_dir.starts_with(literal) || literal.starts_with(&watched_dir) || literal == watched
}

fn compile_kinds(key: &str, names: &[String]) -> Result<Vec<ChangeKind>, Invalid> {
    const FIX: &str = "list some of \"create\", \"modify\", \"delete\", \"rename\" (or leave `events` out for all)";
    if names.is_empty() {
        return Err(invalid(key, format!("`{key}` is empty, so nothing would trigger the rule"), FIX, Place::Value));
    }
    names
        .iter()
        .map(|name| match name.as_str() {
            "create" => Ok(ChangeKind::Create),
            "modify" => Ok(ChangeKind::Modify),
            "delete" => Ok(ChangeKind::Delete),
            "rename" => Ok(ChangeKind::Rename),
            other => Err(invalid(key, format!("`{key}`: {other:?} is not a kind of change"), FIX, Place::Value)),
        })
        .collect()
}

fn compile_schedule_expression(key: &str, cron: &str, timezone: Option<&str>) -> Result<Schedule, Invalid> {
    let zone = Zone::parse(timezone).map_err(|err| {
        invalid(format!("{key}.timezone"), format!("`{key}.timezone`: {}", err.problem), err.fix, Place::Value)
    })?;
    Schedule::parse(cron, zone).map_err(|err| {
        // Some messages quote the whole expression already.
        let problem = if err.problem.contains(&format!("`{cron}`")) {
            format!("`{key}.cron`: {}", err.problem)
        } else {
            format!("`{key}.cron` = {cron:?}: {}", err.problem)
        };
        invalid(format!("{key}.cron"), problem, err.fix, Place::InString(err.offset))
    })
}

fn compile_condition(key: &str, written: &ConditionConfig) -> Result<Condition, Invalid> {
    let ConditionConfig { kind, interval_ms, field, equals, regex } = written;
    let what = with_article(&format!("{} condition", kind.name()));
    let present = [
        ("interval_ms", interval_ms.is_some()),
        ("field", field.is_some()),
        ("equals", equals.is_some()),
        ("regex", regex.is_some()),
    ];
    let (takes, fields): (&str, &[&str]) = match kind {
        ConditionType::Always => ("nothing else", &[]),
        ConditionType::Debounce | ConditionType::Cooldown => ("`interval_ms`", &["interval_ms"]),
        ConditionType::Match => ("`field`, and `equals` or `regex`", &["field", "equals", "regex"]),
    };
    if let Some((field, _)) = present.iter().find(|(field, present)| *present && !fields.contains(field)) {
        return Err(not_applicable(key, field, &what, takes));
    }
    let interval = || -> Result<Duration, Invalid> {
        let ms = interval_ms.ok_or_else(|| required(key, "interval_ms", &what, "interval_ms = 5000"))?;
        if !(1..=MAX_INTERVAL_MS).contains(&ms) {
            return Err(invalid(
                format!("{key}.interval_ms"),
                format!("`{key}.interval_ms` = {ms} is out of range"),
                format!("use a value from 1 to {MAX_INTERVAL_MS} (a week)"),
                Place::Value,
            ));
        }
        Ok(Duration::from_millis(ms))
    };
    match kind {
        ConditionType::Always => Ok(Condition::Always),
        ConditionType::Debounce => Ok(Condition::Debounce(interval()?)),
        ConditionType::Cooldown => Ok(Condition::Cooldown(interval()?)),
        ConditionType::Match => {
            let written_field =
                field.as_deref().ok_or_else(|| required(key, "field", &what, "field = \"data.agent\""))?;
            let target = parse_field(written_field).ok_or_else(|| {
                invalid(
                    format!("{key}.field"),
                    format!("`{key}.field` = {written_field:?} is not something an event has"),
                    "use \"topic\", \"paths\", \"data\" or \"data.NAME\" (dotted for nested values, e.g. \"data.error\")",
                    Place::Value,
                )
            })?;
            let test = match (equals, regex) {
                (Some(value), None) => MatchTest::Equals(value.clone()),
                (None, Some(pattern)) => {
                    MatchTest::Regex(RegexBuilder::new(pattern).size_limit(REGEX_SIZE_LIMIT).build().map_err(|err| {
                        invalid(
                            format!("{key}.regex"),
                            format!("`{key}.regex` is not a valid regular expression: {err}"),
                            "fix the expression (syntax: https://docs.rs/regex/latest/regex/#syntax); in TOML, a literal string '...' saves escaping backslashes",
                            Place::Value,
                        )
                    })?)
                }
                (Some(_), Some(_)) => {
                    return Err(invalid(
                        format!("{key}.regex"),
                        format!("`{key}` has both `equals` and `regex`"),
                        "keep one of them; for both tests, write two match conditions in a list",
                        Place::Key,
                    ));
                }
                (None, None) => return Err(required(key, "equals` or `regex", &what, "equals = \"review\"")),
            };
            Ok(Condition::Match { field: written_field.to_owned(), target, test })
        }
    }
}

fn parse_field(field: &str) -> Option<Field> {
    match field {
        "topic" => Some(Field::Topic),
        "paths" => Some(Field::Paths),
        "data" => Some(Field::Data(Vec::new())),
        _ => {
            let keys: Vec<String> = field.strip_prefix("data.")?.split('.').map(str::to_owned).collect();
            keys.iter().all(|key| !key.is_empty()).then_some(Field::Data(keys))
        }
    }
}

fn compile_action(key: &str, rule: &str, written: &ActionConfig, config: &Config) -> Result<Action, Invalid> {
    let ActionConfig { kind, prompt, priority, agent, labels, timeout_min, topic, data } = written;
    let what = with_article(&format!("{} action", kind.name()));
    let present = [
        ("prompt", prompt.is_some()),
        ("priority", priority.is_some()),
        ("agent", agent.is_some()),
        ("labels", labels.is_some()),
        ("timeout_min", timeout_min.is_some()),
        ("topic", topic.is_some()),
        ("data", data.is_some()),
    ];
    let (takes, fields): (&str, &[&str]) = match kind {
        ActionType::SubmitTask => (
            "`prompt`, `priority`, `agent`, `labels` and `timeout_min`",
            &["prompt", "priority", "agent", "labels", "timeout_min"],
        ),
        ActionType::EmitEvent => ("`topic` and `data`", &["topic", "data"]),
    };
    if let Some((field, _)) = present.iter().find(|(field, present)| *present && !fields.contains(field)) {
        return Err(not_applicable(key, field, &what, takes));
    }
    match kind {
        ActionType::SubmitTask => {
            let prompt =
                prompt.as_deref().ok_or_else(|| required(key, "prompt", &what, "prompt = \"Run the tests\""))?;
            submit_task(key, rule, prompt, *priority, agent.clone(), labels.clone(), *timeout_min, config)
        }
        ActionType::EmitEvent => {
            let topic =
                topic.as_deref().ok_or_else(|| required(key, "topic", &what, "topic = \"user:tests-changed\""))?;
            validate_user_topic(topic).map_err(|problem| {
                invalid(
                    format!("{key}.topic"),
                    format!("`{key}.topic`: {problem}"),
                    "pick a topic of your own, such as \"user:tests-changed\"",
                    Place::Value,
                )
            })?;
            let data = match data {
                None => None,
                Some(value) => Some(DataTemplate::parse(value).map_err(|(path, err)| {
                    let at = if path.is_empty() { String::new() } else { format!(" (at `{path}`)") };
                    invalid(format!("{key}.data"), format!("`{key}.data`{at}: {}", err.problem), err.fix, Place::Value)
                })?),
            };
            Ok(Action::EmitEvent { topic: topic.to_owned(), data })
        }
    }
}

/// A submit_task action (of a rule or a schedule at `key`), checked as the queue would check the
/// task, so that a firing cannot be refused for a reason known now.
#[allow(clippy::too_many_arguments)]
fn submit_task(
    key: &str,
    rule: &str,
    prompt: &str,
    priority: Option<i64>,
    agent: Option<String>,
    labels: Option<Vec<String>>,
    timeout_min: Option<u64>,
    config: &Config,
) -> Result<Action, Invalid> {
    let template = Template::parse(prompt).map_err(|err| {
        invalid(
            format!("{key}.prompt"),
            format!("`{key}.prompt`: {}", err.problem),
            err.fix,
            Place::InString(err.offset),
        )
    })?;
    if let Some(minutes) = timeout_min
        && !(1..=MAX_TIMEOUT_MIN).contains(&minutes)
    {
        return Err(invalid(
            format!("{key}.timeout_min"),
            format!("`{key}.timeout_min` = {minutes} is out of range"),
            format!("use a value from 1 to {MAX_TIMEOUT_MIN} (30 days)"),
            Place::Value,
        ));
    }
    let timeout_s = timeout_min.map(|minutes| minutes * 60);
    let submission = Submission {
        prompt: prompt.to_owned(),
        priority,
        agent,
        timeout_s,
        labels,
        source: Some(format!("rule:{rule}")),
    };
    let checked = submit::check(submission, config).map_err(|bad| {
        let field = match bad.param {
            "timeout_s" => "timeout_min",
            other => other,
        };
        let fix = match field {
            "agent" => "use one of the agents named in the message, or add an [agents.NAME] section",
            "priority" => "use a whole number from -1000 to 1000",
            _ => "see docs/automation.md for what a submit_task action takes",
        };
        let separator = if bad.problem.starts_with("is ") || bad.problem.starts_with("must ") { " " } else { ": " };
        invalid(format!("{key}.{field}"), format!("`{key}.{field}`{separator}{}", bad.problem), fix, Place::Value)
    })?;
    Ok(Action::SubmitTask {
        prompt: template,
        priority: checked.priority,
        agent: checked.agent,
        labels: checked.labels,
        timeout_s,
    })
}

fn compile_schedule(key: &str, written: &ScheduleConfig, config: &Config) -> Result<Rule, Invalid> {
    let ScheduleConfig { name, cron, prompt, priority, agent, timezone, catch_up, timeout_min } = written;
    let schedule = compile_schedule_expression(key, cron, timezone.as_deref())?;
    let action = submit_task(key, name, prompt, Some(*priority), agent.clone(), None, *timeout_min, config)?;
    Ok(Rule {
        id: name.clone(),
        origin: Origin::Schedule,
        trigger: Trigger::Schedule { schedule: Box::new(schedule), catch_up: *catch_up },
        conditions: Vec::new(),
        action,
        written: serde_json::to_value(written).unwrap_or_default(),
    })
}
