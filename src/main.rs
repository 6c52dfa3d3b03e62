use std::process::ExitCode;

use clap::Parser;
use kaizen_loadtest::{cli::Cli, exit};

fn main() -> ExitCode {
    // Die quietly on a closed pipe (`validate | head`), like other command-line tools.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    kaizen_loadtest::cli::unset_empty_env();
    let cli = Cli::parse();
    match kaizen_loadtest::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            // The error may quote a URL or a value: it is masked like everything else printed.
            eprintln!(
                "error: {}",
                kaizen_loadtest::redact::redact(&format!("{err:#}"))
            );
            ExitCode::from(kaizen_loadtest::exit_code_for(&err).unwrap_or(exit::RUN_ERROR))
        }
    }
}
