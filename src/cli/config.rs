//! `steward config check | show`.

use std::process::ExitCode;

use clap::Subcommand;
use serde_json::json;

use super::target::local_project;
use super::{Failure, GlobalArgs, Outcome, print_json};
use crate::config::Config;

/// The configuration commands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Validate .steward/steward.toml; errors name the line, the key and the fix.
    Check,
    /// Print the effective configuration, defaults filled in.
    Show,
}

/// Runs a configuration command.
pub fn run(global: &GlobalArgs, command: ConfigCommand) -> Outcome {
    let name = match command {
        ConfigCommand::Check => "config check",
        ConfigCommand::Show => "config show",
    };
    let project = local_project(global, name, "reads the configuration file")?;
    let path = project.config_file();
    let loaded = Config::load(&path);
    match (command, loaded) {
        (ConfigCommand::Check, Ok(_)) => {
            let exists = path.exists();
            if global.json {
                print_json(&json!({ "valid": true, "path": path, "exists": exists }))?;
            } else if exists {
                println!("{}: valid", path.display());
            } else {
                println!("{} does not exist: every default applies", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        (ConfigCommand::Show, Ok(config)) => {
            if global.json {
                print_json(&config)?;
            } else {
                print!("{}", config.to_toml());
            }
            Ok(ExitCode::SUCCESS)
        }
        (_, Err(err)) => {
            if global.json {
                print_json(&json!({
                    "valid": false,
                    "path": err.path,
                    "line": err.line,
                    "column": err.column,
                    "key": err.key,
                    "problem": err.problem,
                    "fix": err.fix,
                }))?;
                return Err(Failure::Silent(1));
            }
            Err(Failure::Error(err.to_string()))
        }
    }
}
