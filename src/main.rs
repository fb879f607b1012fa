use std::process::ExitCode;

fn main() -> ExitCode {
    snapmetrics::cli::main()
}
