//! `steward service install`: a systemd unit or launchd agent for this project's daemon.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::json;

use super::{Failure, GlobalArgs, Outcome, print_json, write_stdout};
use crate::atomic_file::write_atomic;
use crate::service::{self, LaunchAgent, SystemUnit, Target};

/// Service-manager commands.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write a systemd unit or launchd agent that runs this project's daemon, and print the
    /// commands that enable it.
    Install(InstallArgs),
}

/// Options of `service install`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("manager").required(true).args(["systemd", "launchd"])))]
pub struct InstallArgs {
    /// A systemd unit: a system unit run as you, also through sudo
    /// (/etc/systemd/system/steward-PATH.service), or with --user the user template
    /// (~/.config/systemd/user/steward@.service).
    #[arg(long)]
    pub systemd: bool,
    /// With --systemd: the user template, for `systemctl --user`.
    #[arg(long, requires = "systemd", conflicts_with = "launchd")]
    pub user: bool,
    /// A launchd agent (~/Library/LaunchAgents/dev.steward.PATH.plist), for macOS.
    #[arg(long)]
    pub launchd: bool,
    /// Write into DIR instead of the service manager's directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the file instead of writing it.
    #[arg(long)]
    pub print: bool,
    /// Replace a file that exists and differs.
    #[arg(long)]
    pub force: bool,
}

/// What to write, where, and what to run next.
struct Plan {
    file: PathBuf,
    text: String,
    /// Directories to make besides the file's own (launchd's log directory).
    extra_dirs: Vec<PathBuf>,
    next: Vec<String>,
}

/// Runs a service command.
pub fn run(global: &GlobalArgs, command: ServiceCommand) -> Outcome {
    match command {
        ServiceCommand::Install(args) => install(global, args),
    }
}

fn install(global: &GlobalArgs, args: InstallArgs) -> Outcome {
    let project = super::target::local_project(global, "service install", "installs a service for a daemon")?;
    let root = project.root().to_path_buf();
    let target = Target { bin: own_binary()?, path_env: path_env() };
    let plan = if args.launchd { launchd_plan(&args, &root, target)? } else { systemd_plan(&args, &root, target)? };
    if args.print {
        write_stdout(&plan.text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let existing = std::fs::read_to_string(&plan.file).ok();
    let status = match existing {
        Some(text) if text == plan.text => "unchanged",
        Some(_) if !args.force => {
            return Err(Failure::Error(format!(
                "{} exists and differs from what steward would write; pass --force to replace it (see the new one with \
                 --print)",
                plan.file.display()
            )));
        }
        _ => {
            let parent = plan.file.parent().unwrap_or(Path::new("."));
            for dir in std::iter::once(parent).chain(plan.extra_dirs.iter().map(PathBuf::as_path)) {
                std::fs::create_dir_all(dir).map_err(|err| cannot_write(dir, &err))?;
            }
            write_atomic(&plan.file, plan.text.as_bytes(), 0o644).map_err(|err| cannot_write(&plan.file, &err))?;
            "written"
        }
    };
    if global.json {
        print_json(&json!({ "file": plan.file, "status": status, "next": plan.next }))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = match status {
        "unchanged" => format!("{} is up to date\n", plan.file.display()),
        _ => format!("wrote {}\n", plan.file.display()),
    };
    out.push_str("next:\n");
    for line in &plan.next {
        out.push_str(&format!("  {line}\n"));
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn cannot_write(path: &Path, err: &std::io::Error) -> Failure {
    let hint = if err.kind() == std::io::ErrorKind::PermissionDenied {
        " (a system unit needs root: run it with sudo, or use --user, or --print and copy it yourself)"
    } else {
        ""
    };
    Failure::Error(format!("cannot write {}: {err}{hint}", path.display()))
}

fn systemd_plan(args: &InstallArgs, root: &Path, target: Target) -> Result<Plan, Failure> {
    if args.user {
        let dir = match &args.dir {
            Some(dir) => dir.clone(),
            None => config_home()?.join("systemd/user"),
        };
        let instance = service::user_instance_name(root);
        return Ok(Plan {
            file: dir.join("steward@.service"),
            text: service::render_user_template(&target),
            extra_dirs: Vec::new(),
            next: vec![
                "systemctl --user daemon-reload".into(),
                format!("systemctl --user enable --now {}", shell_word(&instance)),
                format!("systemctl --user status {}", shell_word(&instance)),
                "loginctl enable-linger \"$USER\"    # keeps it running while you are logged out".into(),
            ],
        });
    }
    let (user, group, home) = service_user()?;
    let unit = SystemUnit { target, project: root.to_string_lossy().into_owned(), user, group, home };
    let name = service::system_unit_name(root);
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("/etc/systemd/system"));
    Ok(Plan {
        file: dir.join(&name),
        text: service::render_system_unit(&unit),
        extra_dirs: Vec::new(),
        next: vec![
            "systemctl daemon-reload".into(),
            format!("systemctl enable --now {}", shell_word(&name)),
            format!("systemctl status {}", shell_word(&name)),
        ],
    })
}

fn launchd_plan(args: &InstallArgs, root: &Path, target: Target) -> Result<Plan, Failure> {
    if !cfg!(target_os = "macos") && args.dir.is_none() && !args.print {
        return Err(Failure::Usage(
            "launchd is macOS's service manager and this is not macOS; pass --print to see the property list, or --dir \
             DIR to write it somewhere"
                .into(),
        ));
    }
    let home = home()?;
    let agent = LaunchAgent { target, project: root.to_string_lossy().into_owned(), home: home.clone() };
    let label = service::launchd_label(root);
    let dir = args.dir.clone().unwrap_or_else(|| Path::new(&home).join("Library/LaunchAgents"));
    let file = dir.join(format!("{label}.plist"));
    let log = PathBuf::from(service::launchd_log(&home, &label));
    let next = vec![
        format!("launchctl bootstrap gui/$(id -u) {}", shell_word(&file.to_string_lossy())),
        format!("launchctl print gui/$(id -u)/{label}    # its state; output goes to {}", log.display()),
        format!("launchctl kill HUP gui/$(id -u)/{label}    # reload the configuration"),
        format!("launchctl bootout gui/$(id -u)/{label}    # stop it and unload it"),
    ];
    // The log's directory must exist before launchd opens the log; off macOS nothing will.
    let extra_dirs =
        if cfg!(target_os = "macos") { log.parent().map(Path::to_path_buf).into_iter().collect() } else { Vec::new() };
    Ok(Plan { file, text: service::render_launch_agent(&agent), extra_dirs, next })
}

/// This binary's absolute path, as the service manager must run it.
fn own_binary() -> Result<String, Failure> {
    let exe = std::env::current_exe()
        .map_err(|err| Failure::Error(format!("cannot tell where the steward binary is: {err}")))?;
    let exe = exe.canonicalize().unwrap_or(exe);
    Ok(exe.to_string_lossy().into_owned())
}

/// `PATH` as it is now, so that the agents the daemon starts are found as they are in this
/// shell; a bare default without one.
fn path_env() -> String {
    std::env::var("PATH")
        .ok()
        .filter(|path| !path.trim().is_empty())
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".to_owned())
}

fn home() -> Result<String, Failure> {
    if let Some(home) = std::env::var_os("HOME").filter(|home| !home.is_empty()) {
        return Ok(home.to_string_lossy().into_owned());
    }
    who_am_i().map(|(_, _, home)| home)
}

/// `$XDG_CONFIG_HOME`, else `~/.config`.
fn config_home() -> Result<PathBuf, Failure> {
    match std::env::var_os("XDG_CONFIG_HOME").filter(|dir| !dir.is_empty()) {
        Some(dir) => Ok(PathBuf::from(dir)),
        None => Ok(Path::new(&home()?).join(".config")),
    }
}

/// Who a system unit runs as: the user behind `sudo` when root runs this through it (writing
/// to /etc/systemd/system needs root, the daemon does not), else the user running it.
fn service_user() -> Result<(String, String, String), Failure> {
    if nix::unistd::Uid::effective().is_root()
        && let Some(name) = std::env::var("SUDO_USER").ok().filter(|name| !name.is_empty() && name != "root")
    {
        let user = nix::unistd::User::from_name(&name)
            .ok()
            .flatten()
            .ok_or_else(|| Failure::Error(format!("SUDO_USER is {name}, who has no entry in the user database")))?;
        return Ok(describe_user(user));
    }
    who_am_i()
}

fn describe_user(user: nix::unistd::User) -> (String, String, String) {
    let group =
        nix::unistd::Group::from_gid(user.gid).ok().flatten().map_or_else(|| user.gid.to_string(), |group| group.name);
    (user.name, group, user.dir.to_string_lossy().into_owned())
}

/// The user and group this command runs as, and the user's home.
fn who_am_i() -> Result<(String, String, String), Failure> {
    let uid = nix::unistd::Uid::effective();
    let user = nix::unistd::User::from_uid(uid)
        .ok()
        .flatten()
        .ok_or_else(|| Failure::Error(format!("user {uid} has no entry in the user database")))?;
    Ok(describe_user(user))
}

/// A word as a POSIX shell reads it back: single-quoted when it must be.
fn shell_word(text: &str) -> String {
    if !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_".contains(c)) {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}
