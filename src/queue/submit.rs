//! Checking a submission: a pure function from what the caller sent (and the configuration) to
//! a task ready to store, or the parameter that is wrong and why.

use crate::config::Config;

/// Largest prompt accepted, in bytes.
pub const MAX_PROMPT_BYTES: usize = 1024 * 1024;
/// Priorities range over -1000..=1000.
pub const PRIORITY_RANGE: std::ops::RangeInclusive<i64> = -1000..=1000;
/// Longest time limit accepted: 30 days.
pub const MAX_TIMEOUT_S: u64 = 30 * 24 * 3600;
/// At most this many labels, each at most [`MAX_LABEL_CHARS`] characters.
pub const MAX_LABELS: usize = 32;
/// Longest label.
pub const MAX_LABEL_CHARS: usize = 100;
/// Longest source.
pub const MAX_SOURCE_CHARS: usize = 200;

/// What a caller sends to `task.submit`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Submission {
    /// What the agent is asked to do.
    pub prompt: String,
    /// Higher runs first (default 0).
    pub priority: Option<i64>,
    /// A named agent; absent or `default` means `[agent]`.
    pub agent: Option<String>,
    /// The time limit in seconds (default `[daemon].task_timeout_min` × 60).
    pub timeout_s: Option<u64>,
    /// Free-form labels.
    pub labels: Option<Vec<String>>,
    /// Who submits (`cli`, `rule:ID`, ...).
    pub source: Option<String>,
}

/// A checked submission, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTask {
    /// The prompt.
    pub prompt: String,
    /// The priority.
    pub priority: i64,
    /// The named agent, `None` for the default one.
    pub agent: Option<String>,
    /// The labels, without duplicates, in the order given.
    pub labels: Vec<String>,
    /// The source.
    pub source: Option<String>,
    /// The time limit.
    pub timeout_s: u64,
    /// Where the agent runs; `None`: the project root.
    pub workdir: Option<String>,
    /// Whether a start requeues it after the daemon stopped or crashed while it ran. A GitHub
    /// session's task is not: the session starts a new one with a prompt that says what exists.
    pub requeue: bool,
}

/// A parameter that is not acceptable: its name and the problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The parameter.
    pub param: &'static str,
    /// What is wrong and what to do.
    pub problem: String,
}

fn invalid(param: &'static str, problem: impl Into<String>) -> Invalid {
    Invalid { param, problem: problem.into() }
}

/// Checks a submission against the limits and the configuration.
pub fn check(submission: Submission, config: &Config) -> Result<NewTask, Invalid> {
    let Submission { prompt, priority, agent, timeout_s, labels, source } = submission;
    if prompt.trim().is_empty() {
        return Err(invalid("prompt", "is empty; say what the agent should do"));
    }
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(invalid(
            "prompt",
            format!(
                "is {} bytes; the limit is {MAX_PROMPT_BYTES} (put large material in a file and refer to it)",
                prompt.len()
            ),
        ));
    }
    let priority = priority.unwrap_or(0);
    if !PRIORITY_RANGE.contains(&priority) {
        return Err(invalid(
            "priority",
            format!(
                "{priority} is out of range; use an integer from {} to {}",
                PRIORITY_RANGE.start(),
                PRIORITY_RANGE.end()
            ),
        ));
    }
    let agent = match agent.as_deref() {
        None | Some("default") => None,
        Some(name) if config.agent(Some(name)).is_some() => Some(name.to_owned()),
        Some(name) => {
            return Err(invalid(
                "agent",
                format!("no agent named `{name}`; the known agents are: {}", config.agent_names().join(", ")),
            ));
        }
    };
    let timeout_s = match timeout_s {
        None => config.daemon.task_timeout_min.saturating_mul(60),
        Some(0) => return Err(invalid("timeout_s", "must be positive")),
        Some(t) if t > MAX_TIMEOUT_S => {
            return Err(invalid(
                "timeout_s",
                format!("{t} is more than the limit of {MAX_TIMEOUT_S} seconds (30 days)"),
            ));
        }
        Some(t) => t,
    };
    let mut unique: Vec<String> = Vec::new();
    for label in labels.unwrap_or_default() {
        if label.trim().is_empty() {
            return Err(invalid("labels", "a label is empty"));
        }
        if label.chars().count() > MAX_LABEL_CHARS {
            return Err(invalid("labels", format!("a label is longer than {MAX_LABEL_CHARS} characters")));
        }
        if label.chars().any(char::is_control) {
            return Err(invalid("labels", format!("label `{}` contains a control character", label.escape_debug())));
        }
        if !unique.contains(&label) {
            unique.push(label);
        }
    }
    if unique.len() > MAX_LABELS {
        return Err(invalid("labels", format!("{} labels; at most {MAX_LABELS}", unique.len())));
    }
    if let Some(source) = &source
        && (source.chars().count() > MAX_SOURCE_CHARS || source.chars().any(char::is_control))
    {
        return Err(invalid(
            "source",
            format!("must be at most {MAX_SOURCE_CHARS} characters without control characters"),
        ));
    }
    Ok(NewTask { prompt, priority, agent, labels: unique, source, timeout_s, workdir: None, requeue: true })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submission(prompt: &str) -> Submission {
        Submission { prompt: prompt.into(), ..Submission::default() }
    }

    fn error(s: Submission) -> (&'static str, String) {
        let err = check(s, &Config::default()).unwrap_err();
        (err.param, err.problem)
    }

    #[test]
    fn defaults_fill_in() {
        let task = check(submission("fix the build"), &Config::default()).unwrap();
        assert_eq!(
            task,
            NewTask {
                prompt: "fix the build".into(),
                priority: 0,
                agent: None,
                labels: vec![],
                source: None,
                timeout_s: 120 * 60,
                workdir: None,
                requeue: true,
            }
        );
    }

    #[test]
    fn prompt_must_say_something_and_stay_under_a_mebibyte() {
        assert_eq!(error(submission("")).0, "prompt");
        assert!(error(submission(" \n\t")).1.contains("empty"));
        assert!(check(submission(&"x".repeat(MAX_PROMPT_BYTES)), &Config::default()).is_ok());
        let (param, problem) = error(submission(&"x".repeat(MAX_PROMPT_BYTES + 1)));
        assert_eq!(param, "prompt");
        assert!(problem.contains("1048577 bytes"), "{problem}");
    }

    #[test]
    fn priority_bounds() {
        for ok in [-1000, 0, 1000] {
            assert!(check(Submission { priority: Some(ok), ..submission("p") }, &Config::default()).is_ok());
        }
        for bad in [-1001, 1001, i64::MAX] {
            let (param, problem) = error(Submission { priority: Some(bad), ..submission("p") });
            assert_eq!(param, "priority");
            assert!(problem.contains("from -1000 to 1000"), "{problem}");
        }
    }

    #[test]
    fn unknown_agents_are_named_with_the_known_ones() {
        let (param, problem) = error(Submission { agent: Some("reviewer".into()), ..submission("p") });
        assert_eq!(param, "agent");
        assert_eq!(problem, "no agent named `reviewer`; the known agents are: default");
        let task = check(Submission { agent: Some("default".into()), ..submission("p") }, &Config::default()).unwrap();
        assert_eq!(task.agent, None);
    }

    #[test]
    fn timeout_must_be_positive_and_bounded() {
        assert_eq!(
            error(Submission { timeout_s: Some(0), ..submission("p") }),
            ("timeout_s", "must be positive".into())
        );
        assert_eq!(error(Submission { timeout_s: Some(MAX_TIMEOUT_S + 1), ..submission("p") }).0, "timeout_s");
        let task = check(Submission { timeout_s: Some(5), ..submission("p") }, &Config::default()).unwrap();
        assert_eq!(task.timeout_s, 5);
    }

    #[test]
    fn labels_are_checked_and_deduplicated_in_order() {
        let labels =
            |l: &[&str]| Submission { labels: Some(l.iter().map(|s| s.to_string()).collect()), ..submission("p") };
        let task = check(labels(&["b", "a", "b"]), &Config::default()).unwrap();
        assert_eq!(task.labels, vec!["b", "a"]);
        assert_eq!(error(labels(&["ok", ""])).0, "labels");
        assert!(error(labels(&["a\u{7}"])).1.contains("control"));
        assert!(error(labels(&[&"x".repeat(101)])).1.contains("longer than 100"));
        let many: Vec<String> = (0..33).map(|i| i.to_string()).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert!(error(labels(&refs)).1.contains("at most 32"));
    }

    #[test]
    fn source_is_bounded() {
        assert_eq!(error(Submission { source: Some("x".repeat(201)), ..submission("p") }).0, "source");
        let task = check(Submission { source: Some("rule:auto-test".into()), ..submission("p") }, &Config::default());
        assert_eq!(task.unwrap().source.as_deref(), Some("rule:auto-test"));
    }
}
