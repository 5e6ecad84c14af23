//! What a well-typed configuration must also satisfy: integer ranges, a usable log filter, and
//! agents that can be started (a program to run, names the environment accepts, `${VAR}` references
//! that can be read).
//!
//! Pure: it sees only the parsed [`Config`] and answers with the dotted key, the problem and the
//! fix. Finding the line is the caller's business (see `diagnose`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use super::interpolate;
use super::{AgentConfig, Config, DEFAULT_AGENT};

/// A value that parsed but is not acceptable: its dotted key (`rules[0].trigger.pattern`), the
/// problem, the fix, and where in the entry the problem is.
#[derive(Debug, PartialEq)]
pub struct Invalid {
    pub key: String,
    pub problem: String,
    pub fix: String,
    pub place: Place,
}

/// Which part of the key's entry the problem is in, so the error points at it.
#[derive(Debug, PartialEq, Clone, Copy)]
pub enum Place {
    /// The value as a whole.
    Value,
    /// The key itself: a name that is not allowed.
    Key,
    /// Byte offset into the string value, as parsed (after TOML escapes).
    InString(usize),
}

/// An integer key with its inclusive bounds and how to read it from a [`Config`].
pub(crate) struct IntegerKey {
    pub(crate) key: &'static str,
    pub(crate) min: u64,
    pub(crate) max: u64,
    get: fn(&Config) -> u64,
}

/// Every integer key of the configuration. The template and the type errors read the bounds
/// here too, so a range is written once.
pub(crate) const INTEGER_KEYS: &[IntegerKey] = &[
    IntegerKey {
        key: "daemon.heartbeat_interval_s",
        min: 1,
        max: 3600,
        get: |config| config.daemon.heartbeat_interval_s,
    },
    IntegerKey {
        key: "daemon.max_parallel_tasks",
        min: 1,
        max: 64,
        get: |config| u64::from(config.daemon.max_parallel_tasks),
    },
    IntegerKey { key: "daemon.task_timeout_min", min: 1, max: 10080, get: |config| config.daemon.task_timeout_min },
    IntegerKey { key: "daemon.shutdown_grace_s", min: 0, max: 3600, get: |config| config.daemon.shutdown_grace_s },
    IntegerKey {
        key: "daemon.max_message_bytes",
        min: 1024,
        max: 1024 * 1024 * 1024,
        get: |config| config.daemon.max_message_bytes,
    },
    IntegerKey {
        key: "daemon.event_retention",
        min: 100,
        max: 10_000_000,
        get: |config| config.daemon.event_retention,
    },
    IntegerKey { key: "daemon.log.max_size_mb", min: 1, max: 10240, get: |config| config.daemon.log.max_size_mb },
    IntegerKey { key: "daemon.log.max_files", min: 1, max: 100, get: |config| u64::from(config.daemon.log.max_files) },
    IntegerKey { key: "watch.debounce_ms", min: 10, max: 600_000, get: |config| config.watch.debounce_ms },
    IntegerKey {
        key: "steward.intervals.triage_s",
        min: 10,
        max: 86_400,
        get: |config| config.steward.intervals.triage_s,
    },
    IntegerKey {
        key: "steward.intervals.feedback_s",
        min: 5,
        max: 86_400,
        get: |config| config.steward.intervals.feedback_s,
    },
    IntegerKey { key: "steward.intervals.run_s", min: 5, max: 86_400, get: |config| config.steward.intervals.run_s },
    IntegerKey {
        key: "steward.intervals.health_s",
        min: 5,
        max: 3600,
        get: |config| config.steward.intervals.health_s,
    },
    IntegerKey { key: "steward.intervals.idle_s", min: 0, max: 3600, get: |config| config.steward.intervals.idle_s },
    IntegerKey {
        key: "policy.max_active_sessions",
        min: 1,
        max: 16,
        get: |config| u64::from(config.policy.max_active_sessions),
    },
    IntegerKey {
        key: "policy.max_paused_sessions",
        min: 0,
        max: 100,
        get: |config| u64::from(config.policy.max_paused_sessions),
    },
    IntegerKey { key: "policy.max_attempts", min: 1, max: 20, get: |config| u64::from(config.policy.max_attempts) },
    IntegerKey {
        key: "policy.max_session_minutes",
        min: 1,
        max: 10_080,
        get: |config| config.policy.max_session_minutes,
    },
];

/// The bounds of integer key `key`, if it is one.
pub(crate) fn integer_key(key: &str) -> Option<&'static IntegerKey> {
    INTEGER_KEYS.iter().find(|integer| integer.key == key)
}

/// The first problem of `config`, in the order keys appear in the template.
pub(crate) fn validate(config: &Config) -> Result<(), Invalid> {
    for integer in INTEGER_KEYS {
        let value = (integer.get)(config);
        if !(integer.min..=integer.max).contains(&value) {
            return Err(out_of_range(integer.key, &value.to_string()));
        }
    }
    check_log_level("daemon.log.level", &config.daemon.log.level)?;
    check_agent("agent", &config.agent)?;
    for (name, agent) in &config.agents {
        check_agent_name(name)?;
        check_agent(&format!("agents.{name}"), agent)?;
    }
    crate::automation::compile::compile(config)?;
    super::github_checks::check(config)?;
    Ok(())
}

/// `key` = `shown` (as written in the file) is outside the key's bounds. Also used for numbers
/// serde rejects before validation, such as a negative value for an unsigned key.
pub(crate) fn out_of_range(key: &str, shown: &str) -> Invalid {
    let fix = match integer_key(key) {
        Some(integer) => format!("use a value from {} to {}", integer.min, integer.max),
        None => "use a whole number from 0 up".to_owned(),
    };
    Invalid { key: key.to_owned(), problem: format!("`{key}` = {shown} is out of range"), fix, place: Place::Value }
}

const LEVEL_FIX: &str = "use one of error, warn, info, debug, trace (or off), \
     or a filter such as \"info,steward_ipc=debug\"";

/// `EnvFilter` alone would accept any bare word as a target name, so `"verbose"` or `"warning"`
/// would silently log nothing; a directive without `=` must therefore be a level.
fn check_log_level(key: &str, level: &str) -> Result<(), Invalid> {
    let invalid = |why: String| Invalid {
        key: key.to_owned(),
        problem: format!("`{key}` = {level:?} is not a valid log level: {why}"),
        fix: LEVEL_FIX.to_owned(),
        place: Place::Value,
    };
    if level.trim().is_empty() {
        return Err(invalid("it is empty".to_owned()));
    }
    for directive in level.split(',').map(str::trim) {
        if !directive.is_empty() && !directive.contains('=') && directive.parse::<LevelFilter>().is_err() {
            return Err(invalid(format!("`{directive}` is not a level")));
        }
    }
    EnvFilter::try_new(level).map_err(|err| invalid(err.to_string()))?;
    Ok(())
}

const COMMAND_EXAMPLE: &str = "command = [\"claude\", \"-p\"]";

/// `[agents.NAME]`: a name `--agent NAME` can carry, and not the one that means `[agent]`.
fn check_agent_name(name: &str) -> Result<(), Invalid> {
    let key = format!("agents.{name}");
    if name == DEFAULT_AGENT {
        return Err(Invalid {
            problem: format!(
                "`[{key}]`: the agent name `{DEFAULT_AGENT}` is reserved (`--agent default` means [agent])"
            ),
            fix: "to change the default agent, put these keys in [agent]; otherwise pick another name".to_owned(),
            key,
            place: Place::Key,
        });
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if name.is_empty() || !name.chars().all(allowed) {
        let example: String = name.chars().map(|c| if allowed(c) { c } else { '-' }).collect();
        let example = if example.trim_matches('-').is_empty() { "review".to_owned() } else { example };
        return Err(Invalid {
            problem: format!("`[{key}]`: {name:?} is not a valid agent name"),
            fix: format!("use only letters, digits, `-` and `_`, e.g. `[agents.{example}]`"),
            key,
            place: Place::Key,
        });
    }
    Ok(())
}

/// One agent, at `prefix` (`agent` or `agents.NAME`).
fn check_agent(prefix: &str, agent: &AgentConfig) -> Result<(), Invalid> {
    let key = format!("{prefix}.command");
    match agent.command.first() {
        None => {
            return Err(Invalid {
                problem: format!("`{key}` is empty: it needs at least the program to run"),
                fix: format!("list the program and its arguments, e.g. `{COMMAND_EXAMPLE}`"),
                key,
                place: Place::Value,
            });
        }
        Some(program) if program.trim().is_empty() => {
            return Err(Invalid {
                problem: format!("`{key}` starts with an empty program name"),
                fix: format!("make the first element the program to run, e.g. `{COMMAND_EXAMPLE}`"),
                key,
                place: Place::Value,
            });
        }
        Some(_) => {}
    }
    for (name, value) in &agent.env {
        let key = format!("{prefix}.env.{name}");
        if !interpolate::is_var_name(name) {
            let mut example: String = name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
            if !interpolate::is_var_name(&example) {
                example.insert(0, '_');
            }
            return Err(Invalid {
                problem: format!("`{key}`: {name:?} is not a valid environment variable name"),
                fix: format!("use letters, digits and `_`, not starting with a digit, e.g. `{example}`"),
                key,
                place: Place::Key,
            });
        }
        if name.starts_with("STEWARD_") {
            return Err(Invalid {
                problem: format!("`{key}`: names starting with STEWARD_ are set by steward for every task"),
                fix:
                    "pick another name; the agent gets STEWARD_TASK_ID, STEWARD_PROJECT and STEWARD_PROMPT_FILE anyway"
                        .to_owned(),
                key,
                place: Place::Key,
            });
        }
        // The value itself is not repeated: it may hold a secret, and the error goes to logs.
        if let Err(err) = interpolate::check(value) {
            return Err(Invalid {
                problem: format!("`{key}`: {}", err.problem),
                fix: err.fix,
                key,
                place: Place::InString(err.offset),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert_eq!(validate(&Config::default()), Ok(()));
    }

    #[test]
    fn every_bound_is_enforced_at_both_ends() {
        for integer in INTEGER_KEYS {
            assert!(integer.min <= (integer.get)(&Config::default()));
            assert!((integer.get)(&Config::default()) <= integer.max);
        }
        let mut config = Config::default();
        config.daemon.max_parallel_tasks = 0;
        let invalid = validate(&config).expect_err("0 is below the minimum");
        assert_eq!(invalid.key, "daemon.max_parallel_tasks");
        assert_eq!(invalid.problem, "`daemon.max_parallel_tasks` = 0 is out of range");
        assert_eq!(invalid.fix, "use a value from 1 to 64");
        config.daemon.max_parallel_tasks = 65;
        assert!(validate(&config).is_err());
        config.daemon.max_parallel_tasks = 64;
        config.daemon.shutdown_grace_s = 0;
        config.daemon.max_message_bytes = 1024 * 1024 * 1024;
        assert_eq!(validate(&config), Ok(()));
    }

    #[test]
    fn agents_are_checked_with_the_place_of_the_problem() {
        let mut config = Config::default();
        config.agent.command.clear();
        let invalid = validate(&config).expect_err("empty command");
        assert_eq!((invalid.key.as_str(), invalid.place), ("agent.command", Place::Value));

        let mut config = Config::default();
        config.agents.insert("ok".to_owned(), AgentConfig::default());
        config.agents.insert(DEFAULT_AGENT.to_owned(), AgentConfig::default());
        let invalid = validate(&config).expect_err("reserved name");
        assert_eq!((invalid.key.as_str(), invalid.place), ("agents.default", Place::Key));

        let mut config = Config::default();
        config.agent.env.insert("A".to_owned(), "x${".to_owned());
        let invalid = validate(&config).expect_err("unclosed reference");
        assert_eq!((invalid.key.as_str(), invalid.place), ("agent.env.A", Place::InString(1)));

        let mut config = Config::default();
        config.agents.insert("x".to_owned(), AgentConfig::default());
        config.agents.get_mut("x").expect("inserted").env.insert("A B".to_owned(), String::new());
        let invalid = validate(&config).expect_err("bad variable name");
        assert_eq!((invalid.key.as_str(), invalid.place), ("agents.x.env.A B", Place::Key));
        assert_eq!(invalid.fix, "use letters, digits and `_`, not starting with a digit, e.g. `A_B`");
    }

    #[test]
    fn event_retention_is_bounded() {
        let mut config = Config::default();
        for (value, ok) in [(99, false), (100, true), (10_000_000, true), (10_000_001, false)] {
            config.daemon.event_retention = value;
            assert_eq!(validate(&config).is_ok(), ok, "{value}");
        }
    }

    #[test]
    fn log_levels_and_filters() {
        for good in ["debug", "warn", "INFO", "off", "info,steward_ipc=debug", "steward=trace"] {
            assert_eq!(check_log_level("k", good), Ok(()), "{good}");
        }
        for bad in ["", " ", "verbose", "warning", "info,loud", "steward=loud"] {
            let invalid = check_log_level("k", bad).expect_err(bad);
            assert!(invalid.fix.contains("error, warn, info, debug, trace"), "{bad}");
        }
    }
}
