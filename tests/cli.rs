//! The command line outside the daemon: init, config, completions, usage errors, exit codes.

mod harness;

use harness::TestProject;
use serde_json::json;

#[test]
fn init_writes_commented_defaults_once() {
    let project = TestProject::new();
    std::fs::create_dir_all(project.path("sub/dir")).unwrap();
    let mut command = project.command(&["init"]);
    command.current_dir(project.path("sub/dir"));
    let ran = harness::run_with_deadline(command);
    assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
    // Inside a repository, the configuration goes to its top.
    let config = std::fs::read_to_string(project.path(".steward/steward.toml")).unwrap();
    assert!(config.contains("heartbeat_interval_s = 30") && config.contains("# "), "{config}");
    assert_eq!(std::fs::read_to_string(project.path(".steward/.gitignore")).unwrap(), steward::layout::GITIGNORE);
    // The template is a valid configuration equal to the defaults.
    assert_eq!(
        project.run(&["config", "check"]).ok().trim(),
        format!("{}: valid", project.path(".steward/steward.toml").display())
    );

    let again = project.run(&["init"]);
    again.code(1);
    assert!(again.stderr.contains("already exists") && again.stderr.contains("--force"), "{}", again.stderr);
    std::fs::write(project.path(".steward/steward.toml"), "# mine\n").unwrap();
    project.run(&["init", "--force"]).ok();
    assert!(std::fs::read_to_string(project.path(".steward/steward.toml")).unwrap().contains("heartbeat_interval_s"));
}

#[test]
fn config_check_names_line_key_and_fix() {
    let project = TestProject::new();
    let ran = project.run(&["config", "check"]);
    assert!(ran.ok().contains("does not exist: every default applies"));
    project.write_config("[daemon]\nheartbeat_interval_s = 30\nshutdown_grace_s = \"ten\"\n");
    let ran = project.run(&["config", "check"]);
    ran.code(1);
    assert!(ran.stderr.contains("steward.toml:3:"), "{}", ran.stderr);
    assert!(ran.stderr.contains("`daemon.shutdown_grace_s` expects an integer, found a string"), "{}", ran.stderr);
    assert!(ran.stderr.contains("fix: "), "{}", ran.stderr);
    let ran = project.run(&["config", "check", "--json"]);
    ran.code(1);
    let out = ran.json();
    assert_eq!(
        (out["valid"].as_bool(), out["line"].as_u64(), out["key"].as_str()),
        (Some(false), Some(3), Some("daemon.shutdown_grace_s"))
    );
    assert!(out["fix"].is_string());
    project.write_config("[frobnicate]\nenabled = true\n");
    let ran = project.run(&["config", "check"]);
    ran.code(1);
    assert!(ran.stderr.contains("unknown section `[frobnicate]`"), "{}", ran.stderr);
}

#[test]
fn config_show_prints_the_effective_configuration() {
    let project = TestProject::new();
    project.write_config("[daemon]\nmax_parallel_tasks = 7\n");
    let out = project.run(&["config", "show"]).ok().to_owned();
    assert!(out.contains("max_parallel_tasks = 7") && out.contains("heartbeat_interval_s = 30"), "{out}");
    let out = project.run(&["config", "show", "--json"]).json();
    assert_eq!(out["daemon"]["max_parallel_tasks"], 7);
    assert_eq!(out["daemon"]["log"], json!({"max_size_mb": 50, "max_files": 5, "level": "info"}));
}

/// Every command of the CLI (DESIGN.md §5 and the additions documented in docs/).
const COMMANDS: &[&str] = &[
    "init",
    "status",
    "daemon start",
    "daemon run",
    "daemon stop",
    "daemon restart",
    "daemon status",
    "daemon ping",
    "daemon reload",
    "daemon attach",
    "daemon logs",
    "task submit",
    "task list",
    "task get",
    "task cancel",
    "task output",
    "task stats",
    "automation status",
    "automation enable",
    "automation disable",
    "event emit",
    "event list",
    "github status",
    "github tick",
    "session list",
    "session get",
    "session resume",
    "session cancel",
    "config check",
    "config show",
    "service install",
    "completions",
    "man",
];

#[test]
fn completions_cover_every_command() {
    let project = TestProject::new();
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = project.run(&["completions", shell]).ok().to_owned();
        assert!(out.len() > 1000, "{shell}: {out}");
        for command in COMMANDS {
            let word = command.rsplit(' ').next().unwrap();
            assert!(out.contains(word), "the {shell} completion lacks `{command}`");
        }
        // fish writes `-l project`, the others `--project`.
        for option in ["project", "socket", "json", "priority", "foreground"] {
            assert!(out.contains(option), "the {shell} completion lacks --{option}");
        }
    }
    project.run(&["completions", "tcsh"]).code(2);
}

#[test]
fn man_pages_cover_every_command() {
    let project = TestProject::new();
    let page = project.run(&["man"]).ok().to_owned();
    assert!(page.starts_with(".ie") && page.contains(".TH steward 1"), "{page}");
    for command in COMMANDS {
        assert!(page.contains(command.split(' ').next().unwrap()), "steward.1 lacks {command}");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = project.run(&["man", "--dir", dir.path().to_str().unwrap(), "--json"]).json();
    let pages: Vec<String> = out["pages"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_owned()).collect();
    for command in COMMANDS {
        let name = format!("steward-{}.1", command.replace(' ', "-"));
        assert!(pages.contains(&name), "no page {name} in {pages:?}");
        let text = std::fs::read_to_string(dir.path().join(&name)).unwrap();
        assert!(text.contains(".SH SYNOPSIS"), "{name}");
    }
    assert!(pages.contains(&"steward.1".to_owned()));
    assert!(!pages.iter().any(|page| page.contains("task-shim")), "internal commands have no page");
}

#[test]
fn usage_errors_exit_2() {
    let project = TestProject::new();
    project.run(&["daemon", "frobnicate"]).code(2);
    project.run(&["--no-such-flag"]).code(2);
    project.run(&["daemon", "logs", "-n", "many"]).code(2);
    let help = project.run(&["--help"]);
    assert!(help.ok().contains("daemon"));
    assert!(project.run(&["--version"]).ok().starts_with("steward "));
}

#[test]
fn outside_any_project_the_error_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(harness::BIN);
    command.arg("status").current_dir(dir.path()).env_remove("STEWARD_SOCKET");
    let ran = harness::run_with_deadline(command);
    assert_eq!(ran.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(stderr.contains("steward init") && stderr.contains("--project"), "{stderr}");

    let mut command = std::process::Command::new(harness::BIN);
    command.args(["status", "--project", "/no/such/dir"]).current_dir(dir.path());
    let ran = harness::run_with_deadline(command);
    assert_eq!(ran.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&ran.stderr).contains("/no/such/dir"));
}

#[test]
fn a_socket_nobody_listens_on_is_not_running() {
    let project = TestProject::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gone.sock");
    let ran = project.run(&["status", "--socket", path.to_str().unwrap()]);
    ran.code(3);
    assert!(ran.stderr.contains(&format!("no socket at {}", path.display())), "{}", ran.stderr);
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let project = TestProject::new();
    let version = project.run(&["--version"]).ok().trim().to_owned();
    let expected_commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map_or("unknown".to_owned(), |output| String::from_utf8_lossy(&output.stdout).trim().to_owned());
    assert_eq!(version, format!("steward {} (commit {expected_commit})", env!("CARGO_PKG_VERSION")));
}

/// Every key `config show` prints is in docs/config.md: in the keys table by its full name, or,
/// for agent sections, in the agents table by its own name.
#[test]
fn every_configuration_key_is_documented() {
    let project = TestProject::new();
    project.write_config("[agents.fast]\ncommand = [\"true\"]\n");
    let shown = project.run(&["config", "show", "--json"]).json();
    fn walk(prefix: &str, value: &serde_json::Value, keys: &mut Vec<String>) {
        match value.as_object() {
            Some(table) if !table.is_empty() => {
                for (key, inner) in table {
                    let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                    walk(&name, inner, keys);
                }
            }
            _ => keys.push(prefix.to_owned()),
        }
    }
    let mut keys = Vec::new();
    walk("", &shown, &mut keys);
    assert!(keys.len() > 30, "{keys:?}");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/config.md")).unwrap();
    let agents_table = &doc[doc.find("## Agents").expect("an Agents section")..];
    for key in &keys {
        let documented = match key.strip_prefix("agent.").or_else(|| key.strip_prefix("agents.fast.")) {
            Some(field) => agents_table.contains(&format!("| `{field}` |")),
            None => doc.contains(&format!("| `{key}` |")),
        };
        assert!(documented, "`{key}` is not documented in docs/config.md");
    }
}
