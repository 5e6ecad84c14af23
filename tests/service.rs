//! `steward service install`: the units and property lists it writes are checked by the tools
//! that read them (`systemd-analyze verify`, Python's plistlib), and the command line they hold
//! is run the way the service manager runs it.

mod harness;

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::{TestProject, kill, wait_until};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

/// Whether `tool` is installed; says plainly what is missing when it is not.
fn have(tool: &str, package: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        eprintln!("SKIPPED: `{tool}` is not installed here (apt-get install {package}); CI installs it");
    }
    found
}

fn install(project: &TestProject, args: &[&str]) -> (PathBuf, Value) {
    let mut full = vec!["service", "install", "--json"];
    full.extend_from_slice(args);
    let ran = project.run(&full);
    let report = ran.json();
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    (PathBuf::from(report["file"].as_str().unwrap()), report)
}

/// `systemd-analyze verify` passes without a single complaint (it exits 0 on many of them).
fn verify(args: &[&str], unit: &Path, runtime_dir: &Path) {
    let output = Command::new("systemd-analyze")
        .args(args)
        .args(["verify", "--man=no"])
        .arg(unit)
        .env("XDG_RUNTIME_DIR", runtime_dir)
        .output()
        .unwrap();
    let complaints = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && complaints.trim().is_empty(), "{}: {complaints}", unit.display());
}

fn setting<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('=')).unwrap_or_else(|| panic!("{key} in {unit}"))
}

/// Runs a unit's `ExecStart=` as systemd would (its working directory, `PATH`, a notify
/// socket), waits for READY=1, reloads as `ExecReload=` does, and stops it with SIGTERM.
fn run_like_systemd(project: &TestProject, unit: &str, instance_path: &str) {
    let expand = |text: &str| text.replace("%f", instance_path);
    let exec = expand(setting(unit, "ExecStart"));
    let words: Vec<&str> = exec.split_whitespace().collect();
    let path = setting(unit, "Environment").strip_prefix("PATH=").unwrap().to_owned();
    let notify_dir = tempfile::tempdir().unwrap();
    let notify_path = notify_dir.path().join("notify.sock");
    let notify = UnixDatagram::bind(&notify_path).unwrap();
    notify.set_read_timeout(Some(harness::DEADLINE)).unwrap();
    let mut child = Command::new(words[0])
        .args(&words[1..])
        .current_dir(expand(setting(unit, "WorkingDirectory")))
        .env_clear()
        .env("PATH", path)
        .env("NOTIFY_SOCKET", &notify_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 512];
    let n = notify.recv(&mut buf).expect("READY=1 arrives");
    assert!(String::from_utf8_lossy(&buf[..n]).contains("READY=1"));
    assert!(harness::ping_ok(project));
    assert_eq!(setting(unit, "ExecReload"), "/bin/kill -HUP $MAINPID");
    kill(child.id(), Signal::SIGHUP);
    wait_until("the daemon reloads on SIGHUP", || {
        let events = project.call("event.list", json!({ "topic": "daemon:reloaded" }));
        !events["result"]["events"].as_array().unwrap().is_empty()
    });
    kill(child.id(), Signal::SIGTERM);
    assert!(harness::wait_exit(&mut child).success(), "a stop is a clean exit: Restart=on-failure leaves it down");
}

#[test]
fn the_system_unit_verifies_and_its_command_runs_the_daemon() {
    let project = TestProject::new();
    let units = tempfile::tempdir().unwrap();
    let dir = units.path().to_str().unwrap();
    let (file, report) = install(&project, &["--systemd", "--dir", dir]);
    let root = project.root().to_str().unwrap();
    if have("systemd-escape", "systemd") {
        let escaped = Command::new("systemd-escape").args(["--path", root]).output().unwrap();
        let name = format!("steward-{}.service", String::from_utf8_lossy(&escaped.stdout).trim());
        assert_eq!(file.file_name().unwrap().to_str().unwrap(), name, "named as systemd-escape names the path");
    }
    assert_eq!(report["status"], "written");
    let next = report["next"].to_string();
    assert!(next.contains("systemctl daemon-reload") && next.contains("systemctl enable --now steward-"), "{next}");
    let unit = std::fs::read_to_string(&file).unwrap();
    assert_eq!(setting(&unit, "WorkingDirectory"), root);
    assert_eq!(setting(&unit, "Type"), "notify");
    assert!(setting(&unit, "ExecStart").starts_with(&format!("{} --project {root}", harness::BIN)), "{unit}");
    if have("systemd-analyze", "systemd") {
        let runtime = tempfile::tempdir().unwrap();
        verify(&[], &file, runtime.path());
    }
    run_like_systemd(&project, &unit, root);
}

#[test]
fn the_user_template_verifies_as_an_instance_and_runs_the_daemon() {
    let project = TestProject::new();
    let units = tempfile::tempdir().unwrap();
    let (file, report) = install(&project, &["--systemd", "--user", "--dir", units.path().to_str().unwrap()]);
    assert_eq!(file.file_name().unwrap(), "steward@.service");
    let root = project.root().to_str().unwrap();
    let instance = report["next"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|line| line.as_str()?.strip_prefix("systemctl --user enable --now "))
        .unwrap()
        .trim_matches('\'')
        .to_owned();
    assert!(instance.starts_with("steward@") && instance.ends_with(".service"), "{instance}");
    let unit = std::fs::read_to_string(&file).unwrap();
    if have("systemd-analyze", "systemd") {
        // The instance, as `systemctl --user enable` would load it: a link to the template.
        let link = units.path().join(&instance);
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let runtime = tempfile::tempdir().unwrap();
        verify(&["--user"], &link, runtime.path());
        verify(&["--user"], &file, runtime.path());
    }
    run_like_systemd(&project, &unit, root);
}

#[test]
fn installing_again_is_idempotent_and_never_clobbers_an_edited_unit() {
    let project = TestProject::new();
    let units = tempfile::tempdir().unwrap();
    let dir = units.path().to_str().unwrap();
    let (file, _) = install(&project, &["--systemd", "--dir", dir]);
    let (_, again) = install(&project, &["--systemd", "--dir", dir]);
    assert_eq!(again["status"], "unchanged");
    std::fs::write(&file, "[Service]\nExecStart=/bin/true\n").unwrap();
    let refused = project.run(&["service", "install", "--systemd", "--dir", dir]);
    assert_eq!(refused.code, 1);
    assert!(refused.stderr.contains("exists and differs") && refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "[Service]\nExecStart=/bin/true\n");
    let printed = project.run(&["service", "install", "--systemd", "--print"]);
    assert!(printed.ok().contains("Type=notify"));
    let (_, forced) = install(&project, &["--systemd", "--dir", dir, "--force"]);
    assert_eq!(forced["status"], "written");
    assert!(std::fs::read_to_string(&file).unwrap().contains("Type=notify"));
    let usage = project.run(&["service", "install"]);
    assert_eq!(usage.code, 2, "{}", usage.stderr);
}

#[test]
fn the_launchd_agent_is_a_property_list_with_the_keys_launchd_needs() {
    let project = TestProject::new();
    let agents = tempfile::tempdir().unwrap();
    let (file, _) = install(&project, &["--launchd", "--dir", agents.path().to_str().unwrap()]);
    assert!(file.extension().is_some_and(|ext| ext == "plist"));
    if !have("python3", "python3") {
        return;
    }
    let parsed = Command::new("python3")
        .args(["-c", "import json, plistlib, sys; print(json.dumps(plistlib.load(open(sys.argv[1], 'rb'))))"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(parsed.status.success(), "plistlib: {}", String::from_utf8_lossy(&parsed.stderr));
    let plist: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    let root = project.root().to_str().unwrap();
    assert_eq!(plist["Label"].as_str().unwrap(), file.file_stem().unwrap().to_str().unwrap());
    assert_eq!(plist["ProgramArguments"], json!([harness::BIN, "--project", root, "daemon", "start", "--foreground"]));
    assert_eq!(plist["WorkingDirectory"], root);
    assert_eq!(plist["RunAtLoad"], true);
    assert_eq!(plist["KeepAlive"], json!({ "SuccessfulExit": false }));
    assert!(plist["StandardOutPath"].as_str().unwrap().ends_with(".log"));
    assert_eq!(plist["StandardOutPath"], plist["StandardErrorPath"]);
    assert!(plist["EnvironmentVariables"]["PATH"].as_str().is_some_and(|path| !path.is_empty()));
    assert!(plist["ExitTimeOut"].as_u64().unwrap() > 15, "more than the default shutdown grace");
}

#[test]
fn through_sudo_the_system_unit_runs_as_the_user_behind_it() {
    if !nix::unistd::Uid::effective().is_root() {
        eprintln!("SKIPPED: only root sees SUDO_USER honoured; CI runs as root");
        return;
    }
    let project = TestProject::new();
    let mut command = project.command(&["service", "install", "--systemd", "--print"]);
    command.env("SUDO_USER", "nobody");
    let output = harness::run_with_deadline(command);
    let unit = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(setting(&unit, "User"), "nobody");
    let mut command = project.command(&["service", "install", "--systemd", "--print"]);
    command.env("SUDO_USER", "no-such-user-here");
    let output = harness::run_with_deadline(command);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("SUDO_USER is no-such-user-here"));
}
