//! `workflow-engine ctl`: the terminal client over the REST API, for operators and CI
//! pipelines. It owns the command line (`cli`), the HTTP calls and the reading of problem
//! documents (`client`, `problem`, `api`), the commands (`commands`), tables (`table`) and the
//! live view of an instance from its server-sent events (`sse`, `watch`, `screen`).
//!
//! It depends on `engine` and `model` only, to validate definitions offline exactly as the
//! API does, and on reqwest for HTTP; never on the gateway, scheduler or worker: it sees the
//! engine as any client does. Settings come from `WORKFLOW_URL` and `WORKFLOW_TOKEN` (or
//! `--url`, `--token`), nothing of the engine's own configuration. Exit codes: [`exit`].

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod api;
pub mod cli;
mod client;
mod commands;
mod error;
mod files;
mod problem;
mod screen;
mod sse;
mod table;
mod token;
mod watch;

use std::ffi::OsString;

use clap::Parser;

pub use cli::Cli;
pub use error::{CtlError, exit};

/// Runs `workflow-engine ctl` with the arguments after `ctl`; answers the exit code. Usage
/// errors exit with [`exit::USAGE`] (clap's own code, 2, means a cancelled instance here).
pub async fn main(args: Vec<OsString>) -> i32 {
    let argv = std::iter::once(OsString::from("workflow-engine ctl")).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    run(cli).await
}

/// Runs a parsed command line; errors are printed to standard error.
pub async fn run(cli: Cli) -> i32 {
    match commands::run(cli).await {
        Ok(code) => code,
        Err(error) => {
            report(&error);
            error.exit_code()
        }
    }
}

fn report(error: &CtlError) {
    eprintln!("error: {error}");
    if let Some(hint) = error.hint() {
        eprintln!("hint: {hint}");
    }
}
