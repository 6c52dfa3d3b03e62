use std::process::ExitCode;

use clap::Parser;
use kaizen_loadtest::{cli::Cli, exit};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match kaizen_loadtest::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // The error may quote a URL or a value: it is masked like everything else printed.
            eprintln!("error: {}", kaizen_loadtest::redact::redact(&format!("{err:#}")));
            ExitCode::from(kaizen_loadtest::exit_code_for(&err).unwrap_or(exit::RUN_ERROR))
        }
    }
}
