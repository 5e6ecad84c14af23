//! The steward binary: parse the command line, run the command (client or daemon).

use clap::Parser;

fn main() -> std::process::ExitCode {
    steward::cli::run(steward::cli::Cli::parse())
}
