//! What a well-typed configuration must also satisfy: integer ranges and a usable log filter.
//!
//! Pure: it sees only the parsed [`Config`] and answers with the dotted key, the problem and the
//! fix. Finding the line is the caller's business (see `diagnose`).

use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::LevelFilter;

use super::Config;

/// A value that parsed but is not acceptable.
#[derive(Debug, PartialEq)]
pub(crate) struct Invalid {
    pub(crate) key: String,
    pub(crate) problem: String,
    pub(crate) fix: String,
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
    IntegerKey { key: "daemon.log.max_size_mb", min: 1, max: 10240, get: |config| config.daemon.log.max_size_mb },
    IntegerKey { key: "daemon.log.max_files", min: 1, max: 100, get: |config| u64::from(config.daemon.log.max_files) },
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
    check_log_level("daemon.log.level", &config.daemon.log.level)
}

/// `key` = `shown` (as written in the file) is outside the key's bounds. Also used for numbers
/// serde rejects before validation, such as a negative value for an unsigned key.
pub(crate) fn out_of_range(key: &str, shown: &str) -> Invalid {
    let fix = match integer_key(key) {
        Some(integer) => format!("use a value from {} to {}", integer.min, integer.max),
        None => "use a whole number from 0 up".to_owned(),
    };
    Invalid { key: key.to_owned(), problem: format!("`{key}` = {shown} is out of range"), fix }
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
