//! `watch ID`: the live view of one instance until it ends, then its final variables; and the
//! end of `start --wait`, which prints the same.

use serde_json::Value;

use crate::api::Instance;
use crate::cli::Output;
use crate::client::Client;
use crate::error::Result;
use crate::screen::Screen;
use crate::table::{print, print_json, span};
use crate::watch::{exit_code, follow};

pub(super) async fn run(client: &Client, id: &str, output: Output) -> Result<i32> {
    let mut screen = Screen::for_watch(output);
    let (instance, raw) = follow(client, id, &mut screen).await?;
    finished(&instance, &raw, output)
}

/// Prints how the instance ended and its final variables; answers the exit code its status
/// means (0 completed, 1 failed, 2 cancelled).
pub(super) fn finished(instance: &Instance, raw: &Value, output: Output) -> Result<i32> {
    match output {
        Output::Json => print(raw.to_string())?,
        Output::Table => {
            let took = span(
                instance
                    .started_at
                    .as_deref()
                    .or(Some(instance.created_at.as_str())),
                instance.completed_at.as_deref(),
            );
            match &instance.error {
                Some(error) => eprintln!(
                    "instance {} {} after {took}: {}: {}",
                    instance.id, instance.status, error.kind, error.message
                ),
                None => eprintln!("instance {} {} in {took}", instance.id, instance.status),
            }
            print_json(instance.output.as_ref().unwrap_or(&instance.variables))?;
        }
    }
    Ok(exit_code(&instance.status))
}
