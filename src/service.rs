//! Service-manager definitions for a project's daemon: systemd units and launchd property
//! lists, rendered from plain data. Writing them is `steward service install`'s business
//! (src/cli/service.rs); the files under `packaging/` are these renderings for example inputs,
//! kept identical by a test.

use std::path::Path;

/// What a unit or property list is made for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The steward binary, absolute.
    pub bin: String,
    /// `PATH` for the daemon and its agents (service managers start with a bare one).
    pub path_env: String,
}

/// A system unit for one project, run as `user`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SystemUnit {
    pub target: Target,
    /// The project root, absolute.
    pub project: String,
    pub user: String,
    pub group: String,
    /// The user's home: systemd's `%h` in a system unit is root's, whatever `User=` says.
    pub home: String,
}

/// How long systemd and launchd wait for the daemon to stop before killing what is left: more
/// than the default `daemon.shutdown_grace_s` (15 s) plus the daemon's own cleanup.
pub const STOP_TIMEOUT_S: u32 = 90;

/// The unit name of a system unit: `steward-<escaped path>.service`.
pub fn system_unit_name(project: &Path) -> String {
    format!("steward-{}.service", escape_path(project))
}

/// The instance of the user template for a project: `steward@<escaped path>.service`.
pub fn user_instance_name(project: &Path) -> String {
    format!("steward@{}.service", escape_path(project))
}

/// A path as `systemd-escape --path` writes it: no leading or trailing `/`, the others `-`,
/// anything but ASCII letters, digits, `:`, `_` and `.` (not leading) as `\xNN`; `/` alone is `-`.
pub fn escape_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    let parts: Vec<&str> = text.split('/').filter(|part| !part.is_empty() && *part != ".").collect();
    if parts.is_empty() {
        return "-".to_owned();
    }
    let joined = parts.join("/");
    let mut out = String::with_capacity(joined.len());
    for (index, byte) in joined.bytes().enumerate() {
        match byte {
            b'/' => out.push('-'),
            b'.' if index == 0 => out.push_str("\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b':' | b'_' | b'.' => out.push(byte as char),
            other => out.push_str(&format!("\\x{other:02x}")),
        }
    }
    out
}

/// `%` doubled: systemd expands specifiers in most settings.
fn specifiers(text: &str) -> String {
    text.replace('%', "%%")
}

/// One word of a command line or list setting, quoted when it must be.
fn word(text: &str) -> String {
    let text = specifiers(text);
    if text.is_empty() || text.chars().any(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '\\' | ';')) {
        format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        text
    }
}

const HARDENING: &str = "\
# Hardening: the daemon and its agents may write the project, the user's home (agents keep
# their caches and credentials there) and the temporary directories (the daemon's socket lives in
# /tmp/steward-UID when the project's path is too long for one, so /tmp is not made private).
# Everything else is read-only.
NoNewPrivileges=yes
ProtectSystem=strict
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
LockPersonality=yes
";

/// The `[Service]` lines both units share after their own. `workdir` (a whole setting's value),
/// `project_word` (one word of `ExecStart=`) and `environment_file` are unit text already:
/// escaped, or specifiers such as `%f`.
fn service_common(target: &Target, workdir: &str, project_word: &str, environment_file: &str) -> String {
    format!(
        "\
Type=notify
NotifyAccess=main
WorkingDirectory={workdir}
# The GitHub token and anything else the daemon and agents need, one NAME=value per line.
EnvironmentFile=-{environment_file}
Environment={path}
ExecStart={bin} --project {project_word} daemon start --foreground
ExecReload=/bin/kill -HUP $MAINPID
Restart=on-failure
RestartSec=5
# The daemon gives running tasks daemon.shutdown_grace_s to finish, then stops them itself;
# systemd signals only the daemon and kills whatever is left after TimeoutStopSec.
KillMode=mixed
TimeoutStopSec={STOP_TIMEOUT_S}
",
        path = word(&format!("PATH={}", target.path_env)),
        bin = word(&target.bin),
    )
}

const UNIT_HEAD: &str = "\
Documentation=man:steward(1)
After=network-online.target
Wants=network-online.target
# A daemon that keeps failing at start (a broken configuration) stops being restarted.
StartLimitIntervalSec=300
StartLimitBurst=5
";

/// A system unit (`/etc/systemd/system/steward-<escaped>.service`) for one project.
pub fn render_system_unit(unit: &SystemUnit) -> String {
    let writable =
        [unit.project.as_str(), unit.home.as_str(), "/tmp", "/var/tmp"].iter().map(|p| word(p)).collect::<Vec<_>>();
    format!(
        "\
# steward for {project}, as a system service (written by `steward service install --systemd`).
# Change settings with `systemctl edit {name}` rather than here.
[Unit]
Description=steward daemon for {project_spec}
{UNIT_HEAD}
[Service]
User={user}
Group={group}
{common}{HARDENING}ReadWritePaths={writable}

[Install]
WantedBy=multi-user.target
",
        project = unit.project,
        name = system_unit_name(Path::new(&unit.project)),
        project_spec = specifiers(&unit.project),
        user = specifiers(&unit.user),
        group = specifiers(&unit.group),
        common = service_common(
            &unit.target,
            &specifiers(&unit.project),
            &word(&unit.project),
            &specifiers(&format!("{}/.config/steward/environment", unit.home))
        ),
        writable = writable.join(" "),
    )
}

/// The user template (`~/.config/systemd/user/steward@.service`): one instance per project,
/// named by its escaped path (`%f` gives the path back).
pub fn render_user_template(target: &Target) -> String {
    let common = service_common(target, "%f", "%f", "%h/.config/steward/environment");
    format!(
        "\
# steward as a user service, one instance per project (written by `steward service install
# --systemd --user`). The instance name is the project's path, escaped:
#   systemctl --user enable --now \"steward@$(systemd-escape --path /path/to/project).service\"
[Unit]
Description=steward daemon for %f
{UNIT_HEAD}
[Service]
{common}{HARDENING}ReadWritePaths=%f %h /tmp /var/tmp

[Install]
WantedBy=default.target
"
    )
}

/// A launchd agent for one project (`~/Library/LaunchAgents/<label>.plist`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchAgent {
    pub target: Target,
    pub project: String,
    /// The user's home, for the log file under `~/Library/Logs/steward/`.
    pub home: String,
}

/// The launchd label of a project's agent: `dev.steward.` and the path's parts.
pub fn launchd_label(project: &Path) -> String {
    let parts: Vec<String> = project
        .to_string_lossy()
        .split('/')
        .filter(|part| !part.is_empty())
        .map(|part| {
            part.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' }).collect()
        })
        .collect();
    if parts.is_empty() { "dev.steward.root".to_owned() } else { format!("dev.steward.{}", parts.join(".")) }
}

/// Where launchd writes the daemon's stdout and stderr (launchd does not create directories:
/// the installer makes `~/Library/Logs/steward`).
pub fn launchd_log(home: &str, label: &str) -> String {
    format!("{home}/Library/Logs/steward/{label}.log")
}

fn xml(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The property list of a project's launchd agent.
pub fn render_launch_agent(agent: &LaunchAgent) -> String {
    let label = launchd_label(Path::new(&agent.project));
    let log = launchd_log(&agent.home, &label);
    let arguments: String =
        [agent.target.bin.as_str(), "--project", agent.project.as_str(), "daemon", "start", "--foreground"]
            .iter()
            .map(|argument| format!("\t\t<string>{}</string>\n", xml(argument)))
            .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<!-- steward for {project_comment}, as a launchd agent, written by `steward service install`. -->
<plist version="1.0">
<dict>
	<key>Label</key>
	<string>{label}</string>
	<key>ProgramArguments</key>
	<array>
{arguments}	</array>
	<key>WorkingDirectory</key>
	<string>{project}</string>
	<key>EnvironmentVariables</key>
	<dict>
		<key>PATH</key>
		<string>{path}</string>
	</dict>
	<key>RunAtLoad</key>
	<true/>
	<!-- Restarted when it exits with an error (a crash, giving up on GitHub), not after a stop. -->
	<key>KeepAlive</key>
	<dict>
		<key>SuccessfulExit</key>
		<false/>
	</dict>
	<key>ThrottleInterval</key>
	<integer>10</integer>
	<!-- Running tasks get daemon.shutdown_grace_s to finish when the daemon stops. -->
	<key>ExitTimeOut</key>
	<integer>{STOP_TIMEOUT_S}</integer>
	<key>StandardOutPath</key>
	<string>{log}</string>
	<key>StandardErrorPath</key>
	<string>{log}</string>
</dict>
</plist>
"#,
        project_comment = xml(&agent.project).replace("--", "- -"),
        project = xml(&agent.project),
        path = xml(&agent.target.path_env),
        log = xml(&log),
    )
}

#[cfg(test)]
mod tests;
