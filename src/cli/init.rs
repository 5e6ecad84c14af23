//! `steward init`: set a repository up for steward.

use std::process::ExitCode;

use clap::Args;
use serde_json::json;

use super::{Failure, GlobalArgs, Outcome, print_json};
use crate::atomic_file::write_atomic;
use crate::config::template;
use crate::paths::Project;

/// Options of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Overwrite an existing .steward/steward.toml.
    #[arg(long)]
    pub force: bool,
}

/// Writes `.steward/steward.toml` (commented defaults) and `.steward/.gitignore`.
pub fn run(global: &GlobalArgs, args: InitArgs) -> Outcome {
    let project = match &global.project {
        Some(dir) => Project::at(dir)?,
        None => {
            let cwd = std::env::current_dir()
                .map_err(|e| Failure::Error(format!("cannot read the current directory: {e}")))?;
            // Inside a repository, the configuration belongs at its top; elsewhere, right here.
            Project::discover(&cwd).or_else(|_| Project::at(&cwd))?
        }
    };
    let config = project.config_file();
    if config.exists() && !args.force {
        return Err(Failure::Error(format!(
            "{} already exists; edit it, or pass --force to replace it with the defaults",
            config.display()
        )));
    }
    std::fs::create_dir_all(project.steward_dir())
        .map_err(|e| Failure::Error(format!("creating {}: {e}", project.steward_dir().display())))?;
    crate::layout::write_gitignore(&project)
        .map_err(|e| Failure::Error(format!("writing {}: {e}", project.steward_dir().join(".gitignore").display())))?;
    write_atomic(&config, template().as_bytes(), 0o644).map_err(|e| Failure::Error(e.to_string()))?;
    if global.json {
        print_json(&json!({ "project": project.root(), "config": config }))?;
    } else {
        println!("wrote {} (every key with its default)", config.display());
        println!("next: `steward daemon start`, then `steward status`");
    }
    Ok(ExitCode::SUCCESS)
}
