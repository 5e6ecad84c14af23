//! `steward man`: the manual pages, made from the same definitions as `--help`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory};

use super::{Cli, Failure, GlobalArgs, Outcome, print_json, write_stdout};

/// Options of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write steward.1 and one page per subcommand (steward-task-submit.1, ...) into DIR
    /// instead of printing steward.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Prints steward.1 on stdout, or writes every page into `--dir`.
pub fn run(global: &GlobalArgs, args: ManArgs) -> Outcome {
    let command = Cli::command();
    let Some(dir) = args.dir else {
        let mut out = Vec::new();
        clap_mangen::Man::new(command).render(&mut out)?;
        write_stdout(&String::from_utf8_lossy(&out))?;
        return Ok(ExitCode::SUCCESS);
    };
    std::fs::create_dir_all(&dir).map_err(|err| Failure::Error(format!("cannot create {}: {err}", dir.display())))?;
    clap_mangen::generate_to(command, &dir)
        .map_err(|err| Failure::Error(format!("cannot write the manual pages into {}: {err}", dir.display())))?;
    let mut pages: Vec<String> = std::fs::read_dir(&dir)?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("steward") && name.ends_with(".1"))
        .collect();
    pages.sort();
    if global.json {
        print_json(&serde_json::json!({ "dir": dir, "pages": pages }))?;
    } else {
        write_stdout(&format!(
            "wrote {} manual pages into {}\nread one with: man {}/steward.1\n",
            pages.len(),
            dir.display(),
            dir.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
