use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    snapmetrics::cli::run(snapmetrics::cli::Cli::parse())
}
