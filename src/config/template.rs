//! The commented `steward.toml` that `steward init` writes.
//!
//! Generated from the defaults and the bounds in `validate`, so the file a user starts from can
//! never disagree with what an absent key means; only the one-line descriptions live here.

use super::Config;
use super::validate;

const HEADER: &str = "\
# steward configuration. Every key below is set to its default: delete a key to get the
# default back. `steward config check` validates this file; `steward config show` prints the
# effective values.
";

/// One line per key saying what it does; the range is appended from `validate::INTEGER_KEYS`.
/// Order is the order of the file; a key's table is everything before its last dot.
const DESCRIPTIONS: &[(&str, &str)] = &[
    ("daemon.heartbeat_interval_s", "Seconds between two writes of .steward/daemon/heartbeat"),
    ("daemon.max_parallel_tasks", "How many agent tasks may run at the same time"),
    ("daemon.task_timeout_min", "Minutes a task may run before it is stopped and marked `timeout`"),
    ("daemon.shutdown_grace_s", "Seconds running tasks get to finish when the daemon stops, before they are killed"),
    (
        "daemon.max_message_bytes",
        "Largest message a client may send on the socket, in bytes; a larger one ends its connection",
    ),
    ("daemon.event_retention", "How many events the store keeps; older ones are deleted"),
    ("daemon.log.max_size_mb", "Size in MiB at which daemon.log is rotated to daemon.log.1"),
    ("daemon.log.max_files", "How many rotated logs (daemon.log.1 ... daemon.log.N) are kept"),
    (
        "daemon.log.level",
        "What gets logged: error, warn, info, debug or trace, or a filter such as \"info,steward_ipc=debug\"",
    ),
    ("agent.command", "What a task runs: the program, then its arguments"),
    (
        "agent.prompt_via",
        "How the prompt reaches the agent: \"stdin\", or \"arg\" (appended as the last argument; visible in ps)",
    ),
    (
        "agent.env",
        "Extra environment variables; a value may use ${VAR} or ${VAR:-default} from the daemon's environment, $$ for a $",
    ),
    ("watch.enabled", "Watch files for `file_change` rules (one kernel watch per directory)"),
    ("watch.paths", "Directories or files to watch, relative to the project root; \".\" is the whole project"),
    (
        "watch.ignore",
        "Never watched, in .gitignore syntax (.gitignore files, .git/ and .steward/ are always honoured too)",
    ),
    ("watch.debounce_ms", "Quiet time in milliseconds before a burst of changes is handed to the rules"),
    (
        "steward.mode",
        "The GitHub loops: \"off\", \"triage\" (label issues), \"feedback\" (resume paused sessions), \"run\" (work on ready issues, with feedback) or \"full\"",
    ),
    ("steward.dry_run", "Log every GitHub change as a `steward:dry_run` event instead of making it"),
    ("steward.intervals.triage_s", "Seconds between two triage passes over open issues"),
    ("steward.intervals.feedback_s", "Seconds between two looks for answers to paused sessions' questions"),
    ("steward.intervals.run_s", "Seconds between two looks for ready issues to work on"),
    ("steward.intervals.health_s", "Seconds between two checks of running sessions"),
    ("steward.intervals.idle_s", "Seconds the loops wait after the daemon starts before their first pass"),
    ("github.repo", "The repository, \"owner/name\"; empty: read from the `origin` remote"),
    ("github.api_url", "GitHub's API; for GitHub Enterprise Server \"https://HOST/api/v3\""),
    ("github.token_env", "The environment variable that holds the token (never the token itself)"),
    ("policy.allow", "Repositories (\"owner/name\") the GitHub loops may act on; empty: none, so nothing happens"),
    (
        "policy.ready_label",
        "The label that marks an issue ready; it counts only when someone with write access applied it",
    ),
    ("policy.max_active_sessions", "Issues worked on at the same time"),
    ("policy.max_paused_sessions", "Sessions that may wait for a human's answer at the same time"),
    ("policy.max_attempts", "Agent runs per session before it is handed to a human"),
    ("policy.max_session_minutes", "Wall-clock minutes one session may take"),
    ("policy.block_labels", "Issues with any of these labels are left alone"),
    ("policy.trusted_associations", "Whose comments count as answers (GitHub's author_association values)"),
    ("triage.agent", "Also ask the agent for labels and readiness (it answers JSON)"),
    ("triage.allowed_labels", "Labels triage may apply besides those of [[triage.rules]]"),
];

/// Written after the keys of a table: what the defaults cannot show, such as a named agent.
const AFTER_TABLE: &[(&str, &str)] = &[
    (
        "triage",
        "\n# Triage rules: labels for untriaged issues whose title or body matches (all conditions given must hold).\n\
         # [[triage.rules]]\n\
         # labels = [\"bug\"]\n\
         # title_regex = \"(?i)crash|panic|error\"\n",
    ),
    (
        "watch",
        "\n# Schedules submit a prompt as a task on a cron schedule: 5 fields (minute hour day month weekday),\n\
         # 6 with seconds first, or @hourly, @daily, @weekly, @monthly. Times are local unless `timezone` says.\n\
         # [[schedule]]\n\
         # name = \"daily-audit\"\n\
         # cron = \"0 9 * * MON-FRI\"\n\
         # timezone = \"UTC\"\n\
         # prompt = \"Audit the dependencies and list the outdated ones\"\n\
         # catch_up = false\n\
         \n\
         # Rules: trigger -> condition -> action (docs/automation.md has every kind). This one needs\n\
         # [watch] enabled; `steward automation disable --rule auto-test` turns it off.\n\
         # [[rules]]\n\
         # id = \"auto-test\"\n\
         # trigger = { type = \"file_change\", pattern = \"src/**/*.rs\" }\n\
         # condition = { type = \"debounce\", interval_ms = 5000 }\n\
         # action = { type = \"submit_task\", prompt = \"Run the tests for these changed files:\\n{{paths}}\" }\n",
    ),
    (
        "agent",
        "\n# Named agents: `steward task submit --agent review` runs this one. Same keys; an absent key takes\n\
     # the default shown above, not [agent]'s value. Names: letters, digits, - and _; \"default\" is reserved.\n\
     # [agents.review]\n\
     # command = [\"claude\", \"-p\", \"--model\", \"opus\"]\n\
     # prompt_via = \"stdin\"\n\
     # env = { GH_TOKEN = \"${GH_TOKEN}\" }\n",
    ),
];

/// Commented defaults written by `steward init`: every key, its default, one comment line saying
/// what it does and its range.
pub fn template() -> String {
    let defaults = toml::Value::Table(Config::defaults_table());
    let mut out = HEADER.to_owned();
    let mut current_table = None;
    for (key, description) in DESCRIPTIONS {
        let (table, name) = key.rsplit_once('.').unwrap_or(("", key));
        let Some(default) = lookup(&defaults, key) else {
            continue;
        };
        if current_table != Some(table) {
            out.push_str(after_table(current_table));
            out.push_str(&format!("\n[{table}]\n"));
            current_table = Some(table);
        }
        let range =
            validate::integer_key(key).map_or(String::new(), |bounds| format!(" ({} to {})", bounds.min, bounds.max));
        out.push_str(&format!("# {description}{range}.\n{name} = {default}\n"));
    }
    out.push_str(after_table(current_table));
    out
}

fn after_table(table: Option<&str>) -> &'static str {
    AFTER_TABLE.iter().find(|(after, _)| Some(*after) == table).map_or("", |(_, text)| text)
}

fn lookup<'v>(value: &'v toml::Value, dotted: &str) -> Option<&'v toml::Value> {
    dotted.split('.').try_fold(value, |value, key| value.get(key))
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::Path;

    use super::*;

    fn leaf_keys(table: &toml::Table, prefix: &str, out: &mut BTreeSet<String>) {
        for (key, value) in table {
            let dotted = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            match value {
                // A table of user-chosen names (`env`) is one key with an empty default.
                toml::Value::Table(inner) if !inner.is_empty() => leaf_keys(inner, &dotted, out),
                _ => {
                    out.insert(dotted);
                }
            }
        }
    }

    #[test]
    fn template_parses_to_the_defaults() {
        let parsed = Config::parse(&template(), Path::new("template")).expect("template is valid");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn every_key_is_described_and_every_integer_has_bounds() {
        let mut leaves = BTreeSet::new();
        leaf_keys(&Config::defaults_table(), "", &mut leaves);
        let described: BTreeSet<String> = DESCRIPTIONS.iter().map(|(key, _)| (*key).to_owned()).collect();
        assert_eq!(leaves, described);
        let defaults = toml::Value::Table(Config::defaults_table());
        for key in &leaves {
            let is_integer = lookup(&defaults, key).is_some_and(toml::Value::is_integer);
            assert_eq!(is_integer, validate::integer_key(key).is_some(), "{key}");
        }
    }

    #[test]
    fn template_shows_each_key_with_comment_and_range() {
        let text = template();
        assert!(text.contains("[daemon]\n"));
        assert!(text.contains("[daemon.log]\n"));
        assert!(text.contains("# How many agent tasks may run at the same time (1 to 64).\nmax_parallel_tasks = 3\n"));
        assert!(text.contains("\nlevel = \"info\"\n"));
        assert!(text.contains("(100 to 10000000).\nevent_retention = 10000\n"));
        assert!(text.contains("\n[agent]\n"));
        assert!(text.contains("its arguments.\ncommand = [\"claude\", \"-p\"]\n"));
        assert!(text.contains("\nprompt_via = \"stdin\"\n"));
        assert!(text.contains("\nenv = {}\n"));
        assert!(text.contains("\n# [agents.review]\n"));
        let examples: usize =
            AFTER_TABLE.iter().map(|(_, block)| block.lines().filter(|l| l.starts_with("# ")).count()).sum();
        let comments = text.lines().filter(|line| line.starts_with("# ")).count();
        assert_eq!(comments, 3 + DESCRIPTIONS.len() + examples);
    }

    /// The commented lines from the start of `text` up to the first line that is not one.
    fn uncomment_block(text: &str) -> String {
        text.lines().map_while(|line| line.strip_prefix("# ")).map(|line| format!("{line}\n")).collect()
    }

    #[test]
    fn the_automation_examples_are_valid_once_uncommented() {
        let text = template();
        let schedule = uncomment_block(&text[text.find("# [[schedule]]").expect("schedule example")..]);
        let rule = uncomment_block(&text[text.find("# [[rules]]").expect("rule example")..]);
        let watch = "[watch]\nenabled = true\n";
        let config = Config::parse(&format!("{watch}{schedule}{rule}"), Path::new("example")).expect("valid");
        assert_eq!(config.schedule[0].cron, "0 9 * * MON-FRI");
        assert_eq!(config.rules[0].id, "auto-test");
        let prompt = config.rules[0].action.prompt.as_deref().expect("prompt");
        assert_eq!(prompt, "Run the tests for these changed files:\n{{paths}}");
        crate::automation::compile::compile(&config).expect("compiles");
    }

    #[test]
    fn the_named_agent_example_is_valid_once_uncommented() {
        let text = template();
        let start = text.find("# [agents.review]").expect("example present");
        let uncommented = uncomment_block(&text[start..]);
        let config = Config::parse(&uncommented, Path::new("example")).expect("example is valid");
        let review = config.agent(Some("review")).expect("review agent");
        assert_eq!(review.command, ["claude", "-p", "--model", "opus"]);
        assert_eq!(review.env.get("GH_TOKEN").map(String::as_str), Some("${GH_TOKEN}"));
    }
}
