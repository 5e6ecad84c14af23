//! Loading and the error messages, end to end from text to `ConfigError`.

use std::path::{Path, PathBuf};

use super::*;

const ORIGIN: &str = ".steward/steward.toml";

#[allow(clippy::result_large_err)]
fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(ORIGIN))
}

fn error(text: &str) -> ConfigError {
    match parse(text) {
        Ok(config) => panic!("expected an error for {text:?}, got {config:?}"),
        Err(err) => err,
    }
}

fn assert_at(err: &ConfigError, line: usize, column: usize, key: Option<&str>) {
    assert_eq!(err.path, PathBuf::from(ORIGIN), "{err}");
    assert_eq!((err.line, err.column), (Some(line), Some(column)), "{err}");
    assert_eq!(err.key.as_deref(), key, "{err}");
}

#[test]
fn empty_and_missing_mean_defaults() {
    assert_eq!(parse("").expect("empty"), Config::default());
    assert_eq!(parse("# only a comment\n").expect("comment"), Config::default());
    assert_eq!(parse("[daemon]\n").expect("empty section"), Config::default());
    let dir = tempfile::tempdir().expect("tempdir");
    let loaded = Config::load(&dir.path().join("steward.toml")).expect("missing file");
    assert_eq!(loaded, Config::default());
}

#[test]
fn values_are_read_inline_or_as_a_section() {
    let inline = parse(
        "[daemon]\nmax_parallel_tasks = 8\nshutdown_grace_s = 0\n\
         log = { level = \"info,steward_ipc=debug\", max_files = 2 }\n",
    )
    .expect("valid");
    assert_eq!(inline.daemon.max_parallel_tasks, 8);
    assert_eq!(inline.daemon.shutdown_grace_s, 0);
    assert_eq!(inline.daemon.log.level, "info,steward_ipc=debug");
    assert_eq!(inline.daemon.log.max_files, 2);
    assert_eq!(inline.daemon.log.max_size_mb, 50);
    assert_eq!(inline.daemon.heartbeat_interval_s, 30);
    let section = parse("[daemon.log]\nmax_files = 2\nlevel = \"info,steward_ipc=debug\"\n").expect("valid");
    assert_eq!(section.daemon.log, inline.daemon.log);
}

#[test]
fn to_toml_round_trips_with_every_key() {
    let mut config = Config::default();
    config.daemon.task_timeout_min = 7;
    config.daemon.log.level = "debug".to_owned();
    let text = config.to_toml();
    for key in ["heartbeat_interval_s", "max_message_bytes", "max_size_mb", "level"] {
        assert!(text.contains(&format!("{key} = ")), "{key} missing in {text}");
    }
    assert_eq!(parse(&text).expect("round trip"), config);
}

#[test]
fn load_reports_unreadable_and_non_utf8_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    // A directory cannot be read as a file: an OS error that is not "not found".
    let err = Config::load(dir.path()).expect_err("directory");
    assert_eq!(err.path, dir.path());
    assert_eq!(err.line, None);
    assert!(err.problem.starts_with("cannot read the configuration file: "), "{err}");
    assert!(err.to_string().starts_with(&format!("{}: cannot read", dir.path().display())));

    let file = dir.path().join("steward.toml");
    std::fs::write(&file, b"[daemon]\nmax_parallel_tasks = 3 # \xff\n").expect("write");
    let err = Config::load(&file).expect_err("not utf-8");
    assert_eq!((err.line, err.column), (Some(2), Some(26)));
    assert!(err.problem.contains("UTF-8"), "{err}");
}

#[test]
fn syntax_error_uses_the_toml_message_and_position() {
    let err = error("[daemon]\nmax_parallel_tasks = 3\n[daemon.log\n");
    assert_at(&err, 3, 12, None);
    assert_eq!(err.problem, "unclosed table, expected `]`");
    assert!(err.fix.contains("TOML syntax"), "{err}");
    assert!(!err.problem.contains('\n'));

    let err = error("[daemon]\nmax_parallel_tasks = 3 4\n");
    assert_at(&err, 2, 22, Some("daemon.max_parallel_tasks"));
    assert!(err.to_string().contains("(at `daemon.max_parallel_tasks`)"), "{err}");
}

#[test]
fn unknown_key_in_daemon_suggests_and_lists() {
    let err = error("# steward\n\n[daemon]\nmax_paralel_tasks = 4\n");
    assert_at(&err, 4, 1, Some("daemon.max_paralel_tasks"));
    assert_eq!(
        err.to_string(),
        ".steward/steward.toml:4:1: unknown key `daemon.max_paralel_tasks`\n  \
         fix: did you mean `max_parallel_tasks`? [daemon] accepts: heartbeat_interval_s, \
         max_parallel_tasks, task_timeout_min, shutdown_grace_s, max_message_bytes, event_retention, log"
    );
}

#[test]
fn unknown_key_without_a_close_match_or_in_the_wrong_table() {
    let err = error("[daemon]\nfrobnicate = true\n");
    assert_at(&err, 2, 1, Some("daemon.frobnicate"));
    assert!(err.fix.starts_with("remove it; [daemon] accepts: heartbeat_interval_s,"), "{err}");

    let err = error("[daemon]\nlevel = \"debug\"\n");
    assert_eq!(err.key.as_deref(), Some("daemon.level"));
    assert!(err.fix.starts_with("`level` belongs in [daemon.log]; [daemon] accepts:"), "{err}");

    let err = error("max_parallel_tasks = 4\n");
    assert_at(&err, 1, 1, Some("max_parallel_tasks"));
    assert_eq!(err.problem, "unknown key `max_parallel_tasks` outside any section");
    assert_eq!(
        err.fix,
        "move it below the `[daemon]` line; the top level holds only sections: [daemon], [agent], [agents.NAME], [watch], [[schedule]], [[rules]], [steward], [github], [policy], [triage]"
    );
}

#[test]
fn unknown_key_in_log_table_inline_and_as_section() {
    let err = error("[daemon.log]\nmax_size_mb = 10\nlevl = \"debug\"\n");
    assert_at(&err, 3, 1, Some("daemon.log.levl"));
    assert_eq!(err.problem, "unknown key `daemon.log.levl`");
    assert_eq!(err.fix, "did you mean `level`? [daemon.log] accepts: max_size_mb, max_files, level");

    let err = error("[daemon]\nlog = { max_files = 2, levle = \"debug\" }\n");
    assert_at(&err, 2, 24, Some("daemon.log.levle"));
    assert!(err.fix.starts_with("did you mean `level`?"), "{err}");
}

#[test]
fn unknown_section_lists_the_known_ones() {
    let err = error("[daemon]\n\n[frobnicate]\nenabled = true\n");
    assert_at(&err, 3, 2, Some("frobnicate"));
    assert_eq!(err.problem, "unknown section `[frobnicate]`");
    assert_eq!(
        err.fix,
        "remove the [frobnicate] section; this version of steward knows: [daemon], [agent], [agents.NAME], [watch], [[schedule]], [[rules]], [steward], [github], [policy], [triage]"
    );

    let err = error("[deamon]\n");
    assert_eq!(
        err.fix,
        "did you mean `[daemon]`? the known sections are: [daemon], [agent], [agents.NAME], [watch], [[schedule]], [[rules]], [steward], [github], [policy], [triage]"
    );
    let err = error("[agnet]\ncommand = [\"x\"]\n");
    assert!(err.fix.starts_with("did you mean `[agent]`?"), "{err}");
}

#[test]
fn wrong_type_says_expected_and_found() {
    let err = error("[daemon]\nmax_parallel_tasks = \"3\"\n");
    assert_at(&err, 2, 22, Some("daemon.max_parallel_tasks"));
    assert_eq!(err.problem, "`daemon.max_parallel_tasks` expects an integer, found a string");
    assert_eq!(err.fix, "write a whole number from 1 to 64 without quotes, e.g. `max_parallel_tasks = 3`");

    let err = error("[daemon]\ntask_timeout_min = \"90\"\n");
    assert!(err.fix.ends_with("e.g. `task_timeout_min = 90`"), "{err}");

    let err = error("[daemon]\nheartbeat_interval_s = 1.5\n");
    assert!(err.problem.ends_with("expects an integer, found a decimal number"), "{err}");

    let err = error("[daemon.log]\nlevel = 3\n");
    assert_at(&err, 2, 9, Some("daemon.log.level"));
    assert_eq!(err.problem, "`daemon.log.level` expects a string, found an integer");
    assert_eq!(err.fix, "put the value in double quotes, e.g. `level = \"info\"`");

    let err = error("[daemon]\nlog = 3\n");
    assert_eq!(err.problem, "`daemon.log` expects a table, found an integer");
    assert_eq!(err.fix, "make it a section: a `[daemon.log]` line with its keys below it");
}

#[test]
fn negative_or_huge_number_for_an_unsigned_key_is_out_of_range() {
    let err = error("[daemon]\nmax_parallel_tasks = -3\n");
    assert_at(&err, 2, 22, Some("daemon.max_parallel_tasks"));
    assert_eq!(err.problem, "`daemon.max_parallel_tasks` = -3 is out of range");
    assert_eq!(err.fix, "use a value from 1 to 64");

    let err = error("[daemon.log]\nmax_files = 99999999999\n");
    assert_eq!(err.problem, "`daemon.log.max_files` = 99999999999 is out of range");
    assert_eq!(err.fix, "use a value from 1 to 100");
}

#[test]
fn out_of_range_points_at_the_value() {
    let err = error("[daemon]\nheartbeat_interval_s = 30\nmax_parallel_tasks = 0\n");
    assert_at(&err, 3, 22, Some("daemon.max_parallel_tasks"));
    assert_eq!(err.problem, "`daemon.max_parallel_tasks` = 0 is out of range");
    assert_eq!(err.fix, "use a value from 1 to 64");
    assert_eq!(
        err.to_string(),
        ".steward/steward.toml:3:22: `daemon.max_parallel_tasks` = 0 is out of range\n  \
         fix: use a value from 1 to 64"
    );

    let err = error("[daemon]\nlog = { max_size_mb = 20000 }\n");
    assert_at(&err, 2, 23, Some("daemon.log.max_size_mb"));
    assert_eq!(err.fix, "use a value from 1 to 10240");
}

#[test]
fn invalid_log_level_lists_the_levels() {
    let err = error("[daemon.log]\nlevel = \"verbose\"\n");
    assert_at(&err, 2, 9, Some("daemon.log.level"));
    assert!(err.problem.starts_with("`daemon.log.level` = \"verbose\" is not a valid log level"), "{err}");
    assert!(err.fix.contains("error, warn, info, debug, trace"), "{err}");

    let err = error("[daemon.log]\nlevel = \"info,steward=loud\"\n");
    assert_eq!(err.key.as_deref(), Some("daemon.log.level"));
}

#[test]
fn duplicate_key_reports_its_line_and_the_first_one() {
    let err = error("[daemon]\nmax_parallel_tasks = 3\nshutdown_grace_s = 5\nmax_parallel_tasks = 4\n");
    assert_at(&err, 4, 1, Some("daemon.max_parallel_tasks"));
    assert_eq!(err.problem, "duplicate key `daemon.max_parallel_tasks`");
    assert_eq!(err.fix, "keep only one `max_parallel_tasks` in [daemon]; the other one is on line 2");

    let err = error("[daemon]\nmax_parallel_tasks = 3\n\n[daemon]\n");
    assert_at(&err, 4, 2, Some("daemon"));
    assert!(err.problem.starts_with("duplicate key"), "{err}");
    assert_eq!(err.fix, "merge the two [daemon] sections into one");
}

#[test]
fn event_retention_bounds() {
    assert_eq!(Config::default().daemon.event_retention, 10_000);
    for good in [100, 10_000_000] {
        let config = parse(&format!("[daemon]\nevent_retention = {good}\n")).expect("in range");
        assert_eq!(config.daemon.event_retention, good);
    }
    for bad in ["99", "10000001", "-1"] {
        let err = error(&format!("[daemon]\nevent_retention = {bad}\n"));
        assert_at(&err, 2, 19, Some("daemon.event_retention"));
        assert_eq!(err.problem, format!("`daemon.event_retention` = {bad} is out of range"));
        assert_eq!(err.fix, "use a value from 100 to 10000000");
    }
}

#[test]
fn agents_are_read_with_their_own_defaults() {
    let config = parse(
        "[agent]\ncommand = [\"codex\", \"exec\"]\nprompt_via = \"arg\"\n\
         env = { GH_TOKEN = \"${GH_TOKEN}\", HOME_BIN = \"${HOME:-/root}/bin\", PRICE = \"5$\", LIT = \"$${X}\" }\n\
         [agents.review]\nprompt_via = \"arg\"\n\
         [agents.fast_1-B]\ncommand = [\"/opt/My Agent/run\"]\n[agents.fast_1-B.env]\n_X1 = \"\"\n",
    )
    .expect("valid");
    assert_eq!(config.agent.command, ["codex", "exec"]);
    assert_eq!(config.agent.prompt_via, PromptVia::Arg);
    assert_eq!(config.agent.env.len(), 4);
    assert_eq!(config.agent.env["LIT"], "$${X}");
    let review = &config.agents["review"];
    // An absent key in [agents.NAME] is the built-in default, not [agent]'s value.
    assert_eq!(review.command, ["claude", "-p"]);
    assert_eq!(review.prompt_via, PromptVia::Arg);
    assert!(review.env.is_empty());
    let fast = &config.agents["fast_1-B"];
    assert_eq!(fast.command, ["/opt/My Agent/run"]);
    assert_eq!(fast.prompt_via, PromptVia::Stdin);
    assert_eq!(fast.env["_X1"], "");

    let defaults = Config::default();
    assert_eq!(defaults.agent.command, ["claude", "-p"]);
    assert_eq!(defaults.agent.prompt_via, PromptVia::Stdin);
    assert!(defaults.agent.env.is_empty() && defaults.agents.is_empty());
    assert_eq!(parse("[agent]\n[agents]\n").expect("empty sections"), defaults);
}

#[test]
fn agent_lookup_names_and_section_keys() {
    let config =
        parse("[agent]\ncommand = [\"a\"]\n[agents.zeta]\ncommand = [\"z\"]\n[agents.review]\n").expect("valid");
    assert_eq!(config.agent(None).map(|agent| agent.command.clone()), Some(vec!["a".to_owned()]));
    assert_eq!(config.agent(Some("default")), Some(&config.agent));
    assert_eq!(config.agent(Some("zeta")).map(|agent| agent.command.clone()), Some(vec!["z".to_owned()]));
    assert_eq!(config.agent(Some("review")), Some(&AgentConfig::default()));
    assert_eq!(config.agent(Some("nope")), None);
    assert_eq!(config.agent(Some("Default")), None);
    assert_eq!(config.agent_names(), ["default", "review", "zeta"]);
    assert_eq!(Config::default().agent_names(), ["default"]);

    assert_eq!(agent_config_key(None), "[agent]");
    assert_eq!(agent_config_key(Some("default")), "[agent]");
    assert_eq!(agent_config_key(Some("review")), "[agents.review]");
}

#[test]
fn to_toml_round_trips_agents() {
    let mut config = Config::default();
    config.agent.env.insert("GH_TOKEN".to_owned(), "${GH_TOKEN:-}".to_owned());
    config.agent.prompt_via = PromptVia::Arg;
    let review = AgentConfig {
        command: vec!["claude".to_owned(), "-p".to_owned(), "say \"hi\"".to_owned()],
        ..AgentConfig::default()
    };
    config.agents.insert("review".to_owned(), review);
    config.daemon.event_retention = 500;
    let text = config.to_toml();
    for line in ["event_retention = 500", "prompt_via = \"arg\"", "[agents.review]", "GH_TOKEN = \"${GH_TOKEN:-}\""] {
        assert!(text.contains(line), "{line} missing in {text}");
    }
    assert_eq!(parse(&text).expect("round trip"), config);
    assert!(!Config::default().to_toml().contains("[agents"), "no empty [agents] table");
}

#[test]
fn command_must_name_a_program() {
    let err = error("[agent]\ncommand = []\n");
    assert_at(&err, 2, 11, Some("agent.command"));
    assert_eq!(err.problem, "`agent.command` is empty: it needs at least the program to run");
    assert_eq!(err.fix, "list the program and its arguments, e.g. `command = [\"claude\", \"-p\"]`");

    for first in ["\"\"", "\"  \""] {
        let err = error(&format!("[agents.review]\ncommand = [{first}, \"-p\"]\n"));
        assert_at(&err, 2, 11, Some("agents.review.command"));
        assert_eq!(err.problem, "`agents.review.command` starts with an empty program name");
        assert_eq!(err.fix, "make the first element the program to run, e.g. `command = [\"claude\", \"-p\"]`");
    }
    // Later arguments may be empty.
    assert_eq!(parse("[agent]\ncommand = [\"x\", \"\"]\n").expect("valid").agent.command, ["x", ""]);
}

#[test]
fn command_of_the_wrong_shape() {
    let err = error("[agent]\ncommand = \"claude -p --verbose\"\n");
    assert_at(&err, 2, 11, Some("agent.command"));
    assert_eq!(err.problem, "`agent.command` expects an array, found a string");
    assert_eq!(err.fix, "write each part as its own string, e.g. `command = [\"claude\", \"-p\", \"--verbose\"]`");

    let err = error("[agent]\ncommand = [\"claude\", 3]\n");
    assert_at(&err, 2, 22, Some("agent.command"));
    assert_eq!(err.problem, "`agent.command` expects an array of strings, found an integer in it");
    assert_eq!(err.fix, "write each element as a string, e.g. `command = [\"claude\", \"-p\"]`");
}

#[test]
fn prompt_via_is_stdin_or_arg() {
    assert_eq!(parse("[agent]\nprompt_via = \"stdin\"\n").expect("valid").agent.prompt_via, PromptVia::Stdin);
    assert_eq!(parse("[agent]\nprompt_via = \"arg\"\n").expect("valid").agent.prompt_via, PromptVia::Arg);

    let err = error("[agent]\nprompt_via = \"args\"\n");
    assert_at(&err, 2, 14, Some("agent.prompt_via"));
    assert_eq!(err.problem, "`agent.prompt_via` = \"args\" is not one of \"stdin\", \"arg\"");
    assert_eq!(
        err.fix,
        "use \"stdin\" (the prompt is written to the agent's standard input) or \"arg\" (it is appended to \
         the command as its last argument, visible in ps)"
    );
    let err = error("[agents.review]\nprompt_via = \"Stdin\"\n");
    assert_eq!(err.key.as_deref(), Some("agents.review.prompt_via"));
    assert!(err.fix.starts_with("use \"stdin\""), "{err}");

    let err = error("[agent]\nprompt_via = 1\n");
    assert_eq!(err.problem, "`agent.prompt_via` expects a string, found an integer");
    assert_eq!(err.fix, "put the value in double quotes, e.g. `prompt_via = \"stdin\"`");
}

#[test]
fn env_names_must_be_variable_names() {
    let err = error("[agent]\nenv = { GH_TOKEN = \"x\", \"GH-TOKEN\" = \"y\" }\n");
    assert_at(&err, 2, 25, Some("agent.env.GH-TOKEN"));
    assert_eq!(err.problem, "`agent.env.GH-TOKEN`: \"GH-TOKEN\" is not a valid environment variable name");
    assert_eq!(err.fix, "use letters, digits and `_`, not starting with a digit, e.g. `GH_TOKEN`");

    let err = error("[agents.x.env]\n1PASS = \"x\"\n");
    assert_at(&err, 2, 1, Some("agents.x.env.1PASS"));
    assert!(err.fix.ends_with("e.g. `_1PASS`"), "{err}");
    let err = error("[agent.env]\n\"\" = \"x\"\n");
    assert_eq!(err.key.as_deref(), Some("agent.env."));
    assert!(err.problem.contains("\"\" is not a valid environment variable name"), "{err}");

    let err = error("[agent.env]\nSTEWARD_TASK_ID = \"7\"\n");
    assert_at(&err, 2, 1, Some("agent.env.STEWARD_TASK_ID"));
    assert!(err.problem.contains("set by steward for every task"), "{err}");

    let config = parse("[agent.env]\n_A1 = \"x\"\nlower_case = \"y\"\n").expect("valid");
    assert_eq!(config.agent.env.keys().collect::<Vec<_>>(), ["_A1", "lower_case"]);
}

#[test]
fn env_values_must_be_strings() {
    let err = error("[agent]\nenv = { PORT = 8080 }\n");
    assert_at(&err, 2, 16, Some("agent.env.PORT"));
    assert_eq!(err.problem, "`agent.env.PORT` expects a string, found an integer");
    assert_eq!(err.fix, "environment values are strings: put it in double quotes, e.g. `PORT = \"8080\"`");

    let err = error("[agents.review.env]\nPATHS = [\"a\", \"b\"]\n");
    assert_at(&err, 2, 9, Some("agents.review.env.PATHS"));
    assert_eq!(err.problem, "`agents.review.env.PATHS` expects a string, found an array");

    let err = error("[agent]\nenv = [\"A=1\"]\n");
    assert_eq!(err.problem, "`agent.env` expects a table, found an array");
    assert_eq!(err.fix, "write a table of names and strings, e.g. `env = { GH_TOKEN = \"${GH_TOKEN}\" }`");
}

#[test]
fn env_references_are_checked_at_load() {
    // The column is that of the `$` inside the string.
    let err = error("[agent]\nenv = { TOKEN = \"Bearer ${GH_TOKEN\" }\n");
    assert_at(&err, 2, 25, Some("agent.env.TOKEN"));
    assert_eq!(err.problem, "`agent.env.TOKEN`: `${GH_TOKEN` is not closed");
    assert_eq!(err.fix, "end the reference with `}`, e.g. `${GH_TOKEN}`; write `$$` for a literal `$`");
    assert_eq!(
        err.to_string(),
        ".steward/steward.toml:2:25: `agent.env.TOKEN`: `${GH_TOKEN` is not closed\n  \
         fix: end the reference with `}`, e.g. `${GH_TOKEN}`; write `$$` for a literal `$`"
    );
    // Literal strings have no escapes either; with escapes, the error points at the string.
    let err = error("[agent.env]\nA = 'ab${'\n");
    assert_at(&err, 2, 8, Some("agent.env.A"));
    let err = error("[agent.env]\nA = \"\\t${\"\n");
    assert_at(&err, 2, 5, Some("agent.env.A"));

    let err = error("[agents.ci.env]\nA = \"${}\"\n");
    assert_eq!(err.key.as_deref(), Some("agents.ci.env.A"));
    assert_eq!(err.problem, "`agents.ci.env.A`: `${}` names no variable");
    let err = error("[agent.env]\nA = \"${GH-TOKEN}\"\n");
    assert_eq!(err.problem, "`agent.env.A`: `${GH-TOKEN}` does not name a variable: `GH-TOKEN` is not a valid name");
    assert!(err.fix.contains("a default is written `${NAME:-default}`"), "{err}");

    for fine in ["$HOME", "$$", "$${", "a$", "${A:-}", "${A:-x y}", "${A}${B}"] {
        assert!(parse(&format!("[agent.env]\nA = {fine:?}\n")).is_ok(), "{fine}");
    }
}

#[test]
fn agent_names_are_checked() {
    let err = error("[agent]\n[agents.default]\ncommand = [\"x\"]\n");
    assert_at(&err, 2, 9, Some("agents.default"));
    assert_eq!(
        err.problem,
        "`[agents.default]`: the agent name `default` is reserved (`--agent default` means [agent])"
    );
    assert_eq!(err.fix, "to change the default agent, put these keys in [agent]; otherwise pick another name");

    let err = error("[agents.\"code review\"]\n");
    assert_at(&err, 1, 9, Some("agents.code review"));
    assert_eq!(err.problem, "`[agents.code review]`: \"code review\" is not a valid agent name");
    assert_eq!(err.fix, "use only letters, digits, `-` and `_`, e.g. `[agents.code-review]`");
    let err = error("[agents]\n\"\" = {}\n");
    assert_eq!(err.fix, "use only letters, digits, `-` and `_`, e.g. `[agents.review]`");
    assert!(error("[agents.\"a.b\"]\n").problem.contains("not a valid agent name"));

    let config = parse("[agents.Review-2_b]\n[agents.9]\n").expect("valid names");
    assert_eq!(config.agent_names(), ["default", "9", "Review-2_b"]);
}

#[test]
fn unknown_keys_in_agent_sections() {
    let err = error("[agents.review]\ncommand = [\"x\"]\npromt_via = \"arg\"\n");
    assert_at(&err, 3, 1, Some("agents.review.promt_via"));
    assert_eq!(err.problem, "unknown key `agents.review.promt_via`");
    assert_eq!(err.fix, "did you mean `prompt_via`? [agents.review] accepts: command, prompt_via, env");

    let err = error("[agents]\nci = { command = [\"x\"], timeout = 3 }\n");
    assert_at(&err, 2, 25, Some("agents.ci.timeout"));
    assert!(err.fix.ends_with("[agents.ci] accepts: command, prompt_via, env"), "{err}");

    let err = error("[agent]\nmax_parallel_tasks = 2\n");
    assert_eq!(err.problem, "unknown key `agent.max_parallel_tasks`");
    assert_eq!(err.fix, "`max_parallel_tasks` belongs in [daemon]; [agent] accepts: command, prompt_via, env");

    let err = error("[daemon]\nprompt_via = \"arg\"\n");
    assert!(err.fix.starts_with("`prompt_via` belongs in [agent];"), "{err}");

    // Keys of an agent written straight into [agents] read as agents of that name.
    let err = error("[agents]\ncommand = [\"x\"]\n");
    assert_at(&err, 2, 11, Some("agents.command"));
    assert_eq!(err.problem, "`agents.command` expects a table, found an array");
    assert_eq!(
        err.fix,
        "a named agent is a section: a `[agents.command]` line with command, prompt_via and env below it; \
         the default agent's keys go in [agent]"
    );
    let err = error("agents = 3\n");
    assert_eq!(err.problem, "`agents` expects a table, found an integer");
}

const SUBMIT: &str = "action = { type = \"submit_task\", prompt = \"p\" }\n";

#[test]
fn shape_errors_inside_rules_name_the_rule_and_the_indexed_key() {
    let err =
        error(&format!("[[rules]]\nid = \"a\"\ntrigger = {{ type = \"file_change\", patern = \"x\" }}\n{SUBMIT}"));
    assert_at(&err, 3, 35, Some("rules[0].trigger.patern"));
    assert_eq!(err.problem, "rule `a`: unknown key `rules[0].trigger.patern`");
    assert!(err.fix.starts_with("did you mean `pattern`? [rules[0].trigger] accepts: type, pattern, events,"), "{err}");

    let err = error(&format!("[[rules]]\nid = \"a\"\ntrigger = {{ type = \"event\", topic = 3 }}\n{SUBMIT}"));
    assert_at(&err, 3, 37, Some("rules[0].trigger.topic"));
    assert_eq!(err.problem, "rule `a`: `rules[0].trigger.topic` expects a string, found an integer");
    assert_eq!(err.fix, "put the value in double quotes, e.g. `topic = \"task:failed\"`");

    let err = error(&format!("[[rules]]\nid = \"a\"\ntrigger = {{ type = \"file_chang\" }}\n{SUBMIT}"));
    assert_eq!(
        err.problem,
        "rule `a`: `rules[0].trigger.type` = \"file_chang\" is not one of \"file_change\", \"schedule\", \"event\""
    );
    assert_eq!(err.fix, "use \"file_change\" (with pattern), \"schedule\" (with cron) or \"event\" (with topic)");

    let err = error(&format!("[[rules]]\nid = \"a\"\n{SUBMIT}[[rules]]\nid = \"b\"\n{SUBMIT}"));
    assert_at(&err, 1, 1, Some("rules[0]"));
    assert_eq!(err.problem, "rule `a`: `rules[0]` has no `trigger`, which is required");
    assert_eq!(
        err.fix,
        "add `trigger = { type = \"file_change\", pattern = \"src/**/*.rs\" }` to this [[rules]] entry"
    );

    let trigger = "trigger = { type = \"event\", topic = \"x\" }\n";
    let err = error(&format!(
        "[[rules]]\nid = \"a\"\n{trigger}{SUBMIT}[[rules]]\nid = \"b\"\n{trigger}\
         condition = [{{ type = \"always\" }}, {{ type = \"debounce\", interval_ms = \"5\" }}]\n{SUBMIT}"
    ));
    assert_at(&err, 8, 70, Some("rules[1].condition[1].interval_ms"));
    assert_eq!(err.problem, "rule `b`: `rules[1].condition[1].interval_ms` expects an integer, found a string");

    let err = error("[[schedule]]\nname = \"n\"\nprompt = \"p\"\n");
    assert_eq!(err.problem, "schedule `n`: `schedule[0]` has no `cron`, which is required");
    assert_eq!(err.fix, "add `cron = \"0 9 * * *\"` to this [[schedule]] entry");

    let err = error("rules = 3\n");
    assert_eq!(err.problem, "`rules` expects an array, found an integer");
    assert!(err.fix.starts_with("write each rule as its own `[[rules]]` section"), "{err}");
}

/// A rule (or schedule) config that parses, whose problem only compiling finds.
fn compile_error(text: &str) -> ConfigError {
    error(&format!("[watch]\nenabled = true\npaths = [\"src/\"]\n[agents.review]\ncommand = [\"x\"]\n{text}"))
}

#[test]
fn rules_that_cannot_work_are_refused_with_the_fix() {
    let event = "trigger = { type = \"event\", topic = \"x\" }\n";
    let cases: &[(String, usize, &str, &str, &str)] = &[
        (
            format!("[[rules]]\nid = \"g\"\ntrigger = {{ type = \"file_change\", pattern = \"src/[a\" }}\n{SUBMIT}"),
            8,
            "rules[0].trigger.pattern",
            "rule `g`: `rules[0].trigger.pattern` = \"src/[a\" is not a valid glob",
            "`**` across directories",
        ),
        (
            format!("[[rules]]\nid = \"o\"\ntrigger = {{ type = \"file_change\", pattern = \"docs/*.md\" }}\n{SUBMIT}"),
            8,
            "rules[0].trigger.pattern",
            "rule `o`: pattern \"docs/*.md\" matches nothing under [watch].paths (\"src/\")",
            "add the directory",
        ),
        (
            format!(
                "[[rules]]\nid = \"k\"\ntrigger = {{ type = \"file_change\", pattern = \"src/*\", events = [\"write\"] }}\n{SUBMIT}"
            ),
            8,
            "rules[0].trigger.events",
            "rule `k`: `rules[0].trigger.events`: \"write\" is not a kind of change",
            "\"create\", \"modify\", \"delete\", \"rename\"",
        ),
        (
            format!(
                "[[rules]]\nid = \"n\"\ntrigger = {{ type = \"event\", topic = \"x\", pattern = \"y\" }}\n{SUBMIT}"
            ),
            8,
            "rules[0].trigger.pattern",
            "rule `n`: `rules[0].trigger.pattern` does not apply to an event trigger",
            "An event trigger takes `topic`; remove `pattern` (or change `type`)",
        ),
        (
            format!("[[rules]]\nid = \"m\"\ntrigger = {{ type = \"schedule\" }}\n{SUBMIT}"),
            8,
            "rules[0].trigger",
            "rule `m`: a schedule trigger needs `cron`, and `rules[0].trigger` has none",
            "add it, e.g. `cron = \"0 9 * * MON-FRI\"`",
        ),
        (
            format!("[[rules]]\nid = \"c\"\n{event}condition = {{ type = \"cooldown\" }}\n{SUBMIT}"),
            9,
            "rules[0].condition",
            "rule `c`: a cooldown condition needs `interval_ms`",
            "interval_ms = 5000",
        ),
        (
            format!("[[rules]]\nid = \"c\"\n{event}condition = {{ type = \"debounce\", interval_ms = 0 }}\n{SUBMIT}"),
            9,
            "rules[0].condition.interval_ms",
            "rule `c`: `rules[0].condition.interval_ms` = 0 is out of range",
            "use a value from 1 to 604800000 (a week)",
        ),
        (
            format!(
                "[[rules]]\nid = \"r\"\n{event}condition = {{ type = \"match\", field = \"data.x\", regex = \"(\" }}\n{SUBMIT}"
            ),
            9,
            "rules[0].condition.regex",
            "rule `r`: `rules[0].condition.regex` is not a valid regular expression",
            "literal string",
        ),
        (
            format!(
                "[[rules]]\nid = \"f\"\n{event}condition = {{ type = \"match\", field = \"exit_code\", equals = 1 }}\n{SUBMIT}"
            ),
            9,
            "rules[0].condition.field",
            "rule `f`: `rules[0].condition.field` = \"exit_code\" is not something an event has",
            "\"data.NAME\"",
        ),
        (
            format!(
                "[[rules]]\nid = \"b\"\n{event}condition = {{ type = \"match\", field = \"topic\", equals = \"a\", regex = \"b\" }}\n{SUBMIT}"
            ),
            9,
            "rules[0].condition.regex",
            "rule `b`: `rules[0].condition` has both `equals` and `regex`",
            "keep one of them",
        ),
        (
            format!(
                "[[rules]]\nid = \"t\"\n{event}action = {{ type = \"submit_task\", prompt = \"Fix {{{{path}}}}\" }}\n"
            ),
            9,
            "rules[0].action.prompt",
            "rule `t`: `rules[0].action.prompt`: `{{path}}` is not a known placeholder",
            "{{paths}}",
        ),
        (
            format!(
                "[[rules]]\nid = \"a\"\n{event}action = {{ type = \"submit_task\", prompt = \"p\", agent = \"revew\" }}\n"
            ),
            9,
            "rules[0].action.agent",
            "rule `a`: `rules[0].action.agent`: no agent named `revew`; the known agents are: default, review",
            "add an [agents.NAME] section",
        ),
        (
            format!(
                "[[rules]]\nid = \"p\"\n{event}action = {{ type = \"submit_task\", prompt = \"p\", priority = 5000 }}\n"
            ),
            9,
            "rules[0].action.priority",
            "rule `p`: `rules[0].action.priority`: 5000 is out of range",
            "-1000 to 1000",
        ),
        (
            format!("[[rules]]\nid = \"e\"\n{event}action = {{ type = \"emit_event\", topic = \"task:failed\" }}\n"),
            9,
            "rules[0].action.topic",
            "rule `e`: `rules[0].action.topic`: topic `task:failed` uses the prefix `task:`",
            "user:tests-changed",
        ),
        (
            format!(
                "[[rules]]\nid = \"e\"\n{event}action = {{ type = \"emit_event\", topic = \"user:x\", prompt = \"p\" }}\n"
            ),
            9,
            "rules[0].action.prompt",
            "rule `e`: `rules[0].action.prompt` does not apply to an emit_event action",
            "takes `topic` and `data`",
        ),
        (
            format!(
                "[[rules]]\nid = \"d\"\n{event}action = {{ type = \"emit_event\", topic = \"user:x\", data = {{ a = [\"{{{{nope}}}}\"] }} }}\n"
            ),
            9,
            "rules[0].action.data",
            "rule `d`: `rules[0].action.data` (at `a.0`): `{{nope}}` is not a known placeholder",
            "{{paths}}",
        ),
        (
            format!("[[rules]]\nid = \"has space\"\n{event}{SUBMIT}"),
            7,
            "rules[0].id",
            "rule `has space`: `rules[0].id` = \"has space\" is not a valid id",
            "e.g. \"has-space\"",
        ),
        (
            format!(
                "[[rules]]\nid = \"x\"\n{event}{SUBMIT}[[schedule]]\nname = \"x\"\ncron = \"@daily\"\nprompt = \"p\"\n"
            ),
            11,
            "schedule[0].name",
            "schedule `x`: `schedule[0].name` = \"x\" is already used by `rules[0].id`",
            "its own id",
        ),
        (
            "[[schedule]]\nname = \"z\"\ncron = \"@daily\"\ntimezone = \"Mars/Olympus\"\nprompt = \"p\"\n".to_owned(),
            9,
            "schedule[0].timezone",
            "schedule `z`: `schedule[0].timezone`:",
            "",
        ),
        (
            "[[schedule]]\nname = \"z\"\ncron = \"0 9 * *\"\nprompt = \"p\"\n".to_owned(),
            8,
            "schedule[0].cron",
            "schedule `z`: `schedule[0].cron`: `0 9 * *` has 4 fields",
            "",
        ),
    ];
    for (text, line, key, problem, fix) in cases {
        let err = compile_error(text);
        assert_eq!(err.key.as_deref(), Some(*key), "{err}");
        assert_eq!(err.line, Some(*line), "{err}");
        assert!(err.problem.starts_with(problem), "{problem:?}\n in {err}");
        assert!(err.fix.contains(fix), "{fix:?}\n in {err}");
    }
}

#[test]
fn a_file_rule_needs_the_watcher() {
    let err =
        error(&format!("[[rules]]\nid = \"w\"\ntrigger = {{ type = \"file_change\", pattern = \"src/*\" }}\n{SUBMIT}"));
    assert_at(&err, 3, 11, Some("rules[0].trigger"));
    assert_eq!(err.problem, "rule `w`: a file_change trigger needs the file watcher, and [watch] is not enabled");
    assert!(err.fix.starts_with("set `enabled = true` in [watch]"), "{err}");
}

#[test]
fn automation_sections_round_trip_through_config_show() {
    let text = "[watch]\nenabled = true\npaths = [\".\"]\n\
        [[schedule]]\nname = \"d\"\ncron = \"@daily\"\nprompt = \"p\"\ntimezone = \"UTC\"\n\
        [[rules]]\nid = \"a\"\ntrigger = { type = \"file_change\", pattern = \"src/**\", events = [\"create\"] }\n\
        condition = [{ type = \"match\", field = \"paths\", regex = \"rs$\" }, { type = \"cooldown\", interval_ms = 10 }]\n\
        action = { type = \"emit_event\", topic = \"user:x\", data = { n = 1, p = \"{{paths}}\" } }\n\
        [[rules]]\nid = \"b\"\ntrigger = { type = \"event\", topic = \"x\" }\n\
        condition = { type = \"match\", field = \"data.ok\", equals = false }\n{SUBMIT}";
    let text = text.replace("{SUBMIT}", SUBMIT);
    let config = parse(&text).expect("valid");
    assert_eq!(config.rules[0].condition.list.len(), 2);
    assert!(config.rules[0].condition.as_array);
    assert!(!config.rules[1].condition.as_array);
    let shown = config.to_toml();
    assert_eq!(parse(&shown).expect("round trip"), config);
}
