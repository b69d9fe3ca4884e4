//! `pause`, `resume`, `cancel` and `send-event`: one call each, the instance's new status.

use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::api::{Instance, instance_path, parse};
use crate::cli::Output;
use crate::client::Client;
use crate::error::{CtlError, Result, exit};
use crate::table::{print, print_json};

/// `action` is the API's: `pause`, `resume` or `cancel`.
pub(super) async fn change(client: &Client, id: &str, action: &str, output: Output) -> Result<i32> {
    let path = instance_path(id, &format!("/{action}"))?;
    let raw = client.put(&path, None).await?;
    match output {
        Output::Json => print_json(&raw)?,
        Output::Table => {
            let instance: Instance = parse(client, &path, &raw)?;
            print(format!("instance {} {}", instance.id, instance.status))?;
        }
    }
    Ok(exit::OK)
}

pub(super) async fn send_event(
    client: &Client,
    id: &str,
    event: &str,
    data: Option<&str>,
    output: Output,
) -> Result<i32> {
    let path = instance_path(id, "/events")?;
    let mut body = json!({ "event": event });
    if let Some(data) = data {
        let data: Value = serde_json::from_str(data)
            .map_err(|e| CtlError::Usage(format!("--data: not JSON ({e})")))?;
        body["data"] = data;
    }
    let (_, raw) = client.post(&path, &body, HeaderMap::new()).await?;
    match output {
        Output::Json => print_json(&raw)?,
        Output::Table => print(format!("event '{event}' sent to instance {}", id.trim()))?,
    }
    Ok(exit::OK)
}
