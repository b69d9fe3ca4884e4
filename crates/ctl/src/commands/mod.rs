//! One module per group of commands; each answers the process's exit code.

mod apply;
mod completions;
mod inspect;
mod lifecycle;
mod start;
mod validate;
mod watch;

use crate::cli::{Cli, Command};
use crate::client::Client;
use crate::error::Result;

/// Runs a parsed command line.
pub(crate) async fn run(cli: Cli) -> Result<i32> {
    let global = cli.global;
    let output = global.output;
    // Built by the commands that talk to the engine only: `validate` and `completions` work
    // with no server, whatever --url says.
    let client = || Client::new(&global.url, global.token.clone());
    match cli.command {
        Command::Validate { files } => validate::run(&files, output),
        Command::Completions { shell } => completions::run(shell),
        Command::Apply { files } => apply::run(&client()?, &files, output).await,
        Command::Start(args) => start::run(&client()?, args, output).await,
        Command::Get { id } => inspect::get(&client()?, &id, output).await,
        Command::Steps { id } => inspect::steps(&client()?, &id, output).await,
        Command::List(args) => inspect::list(&client()?, args, output).await,
        Command::Pause { id } => lifecycle::change(&client()?, &id, "pause", output).await,
        Command::Resume { id } => lifecycle::change(&client()?, &id, "resume", output).await,
        Command::Cancel { id } => lifecycle::change(&client()?, &id, "cancel", output).await,
        Command::SendEvent { id, event, data } => {
            lifecycle::send_event(&client()?, &id, &event, data.as_deref(), output).await
        }
        Command::Watch { id } => watch::run(&client()?, &id, output).await,
    }
}
