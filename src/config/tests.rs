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
         max_parallel_tasks, task_timeout_min, shutdown_grace_s, max_message_bytes, log"
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
    assert_eq!(err.fix, "move it below the `[daemon]` line; the top level holds only sections: [daemon]");
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
    let err = error("[daemon]\n\n[agent]\ncommand = [\"claude\"]\n");
    assert_at(&err, 3, 2, Some("agent"));
    assert_eq!(err.problem, "unknown section `[agent]`");
    assert_eq!(err.fix, "remove the [agent] section; this version of steward knows: [daemon]");

    let err = error("[deamon]\n");
    assert_eq!(err.fix, "did you mean `[daemon]`? the known sections are: [daemon]");
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
