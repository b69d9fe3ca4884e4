//! Following one instance to its end over its SSE stream (`watch`, `start --wait`): the stream
//! is opened first, then the instance and its steps are read, so nothing that happens in
//! between is missed; each event then updates the [`View`], which a [`Screen`] shows.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::api::{Instance, Step, instance_path};
use crate::client::Client;
use crate::error::{CtlError, Result, exit};
use crate::screen::Screen;
use crate::sse::EventStream;
use crate::table::parse_time;

/// Reconnections tried, one second apart, when the stream breaks before the instance ends.
const RECONNECTS: u32 = 5;
/// How often a live screen redraws with no event (running durations grow).
const TICK: Duration = Duration::from_millis(500);

/// The `data:` of one event of the stream.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct EventData {
    #[serde(rename = "type")]
    pub kind: String,
    pub step_id: Option<String>,
    pub status: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub data: Value,
}

/// One step execution as the watcher knows it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Row {
    pub key: String,
    pub step_id: String,
    pub status: String,
    pub attempt: i64,
    pub created: Option<DateTime<Utc>>,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
    /// The time of the latest change applied: an older event changes nothing.
    pub last_at: Option<DateTime<Utc>>,
}

impl Row {
    fn from_step(step: &Step) -> Self {
        let created = parse_time(&step.created_at);
        let started = step.started_at.as_deref().and_then(parse_time);
        let finished = step.completed_at.as_deref().and_then(parse_time);
        Self {
            key: step.id.clone(),
            step_id: step.step_id.clone(),
            status: step.status.clone(),
            attempt: i64::from(step.attempt),
            created,
            started,
            finished,
            last_at: finished.or(started).or(created),
        }
    }

    pub(crate) fn is_finished(&self) -> bool {
        matches!(
            self.status.as_str(),
            "completed" | "failed" | "cancelled" | "skipped"
        )
    }

    /// How long it ran (or has been running, at `now`).
    pub(crate) fn duration(&self, now: DateTime<Utc>) -> Option<chrono::Duration> {
        let from = self.started.or(self.created)?;
        let to = match self.finished {
            Some(at) => at,
            None if matches!(self.status.as_str(), "running" | "waiting") => now,
            None => return None,
        };
        Some(to - from)
    }
}

/// What is known of the instance and its steps.
#[derive(Debug, Clone)]
pub(crate) struct View {
    pub instance: Instance,
    pub rows: Vec<Row>,
    index: HashMap<String, usize>,
}

impl View {
    pub(crate) fn new(instance: Instance, steps: &[Step]) -> Self {
        let mut view = Self {
            instance,
            rows: Vec::new(),
            index: HashMap::new(),
        };
        for step in steps {
            view.index.insert(step.id.clone(), view.rows.len());
            view.rows.push(Row::from_step(step));
        }
        view
    }

    pub(crate) fn finished(&self) -> bool {
        self.instance.is_finished()
    }

    pub(crate) fn started_at(&self) -> Option<DateTime<Utc>> {
        let instance = &self.instance;
        instance
            .started_at
            .as_deref()
            .or(Some(instance.created_at.as_str()))
            .and_then(parse_time)
    }

    /// Applies an event; answers the row it changed (`None`: the instance, or nothing).
    pub(crate) fn apply(&mut self, event: &EventData) -> Applied {
        if event.kind.starts_with("instance.") {
            return self.apply_instance(event);
        }
        let Some(step_id) = event.step_id.clone() else {
            return Applied::Nothing;
        };
        let key = event
            .data
            .get("execution_id")
            .and_then(Value::as_str)
            .map_or_else(|| step_id.clone(), str::to_owned);
        let attempt = event.data.get("attempt").and_then(Value::as_i64);
        let position = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.index.insert(key.clone(), self.rows.len());
                self.rows.push(Row {
                    key,
                    step_id,
                    status: String::new(),
                    attempt: attempt.unwrap_or(1),
                    created: Some(event.at),
                    started: None,
                    finished: None,
                    last_at: None,
                });
                self.rows.len() - 1
            }
        };
        let row = &mut self.rows[position];
        let stale = row.is_finished()
            || attempt.is_some_and(|a| a < row.attempt)
            || row.last_at.is_some_and(|last| event.at < last);
        if stale {
            return Applied::Nothing;
        }
        row.status.clone_from(&event.status);
        row.last_at = Some(event.at);
        if let Some(attempt) = attempt {
            if attempt > row.attempt {
                row.created = Some(event.at);
                row.started = None;
            }
            row.attempt = attempt;
        }
        match event.status.as_str() {
            "running" => {
                row.started.get_or_insert(event.at);
            }
            "completed" | "failed" | "cancelled" | "skipped" => row.finished = Some(event.at),
            _ => {}
        }
        Applied::Step(position)
    }

    fn apply_instance(&mut self, event: &EventData) -> Applied {
        let updated = self.instance.updated_at.as_deref().and_then(parse_time);
        if self.finished() || updated.is_some_and(|u| event.at < u) {
            return Applied::Nothing;
        }
        self.instance.status.clone_from(&event.status);
        self.instance.updated_at = Some(event.at.to_rfc3339());
        if event.kind == "instance.started" && self.instance.started_at.is_none() {
            self.instance.started_at = Some(event.at.to_rfc3339());
        }
        if self.finished() {
            self.instance.completed_at = Some(event.at.to_rfc3339());
        }
        Applied::Instance
    }
}

/// What an event changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Applied {
    Nothing,
    Instance,
    Step(usize),
}

/// The exit code for an instance in this final status.
pub(crate) fn exit_code(status: &str) -> i32 {
    match status {
        "completed" => exit::OK,
        "cancelled" => exit::CANCELLED,
        _ => exit::FAILED,
    }
}

/// Follows the instance until it ends, showing it on `screen`; answers its final state and
/// raw JSON.
pub(crate) async fn follow(
    client: &Client,
    id: &str,
    screen: &mut Screen,
) -> Result<(Instance, Value)> {
    let stream_path = instance_path(id, "/events/stream")?;
    let mut stream = EventStream::new(client.stream(&stream_path, None).await?);
    let mut view = snapshot(client, id).await?;
    screen.show(&view);
    let mut tick = tokio::time::interval(TICK);
    let mut reconnects = 0;
    while !view.finished() {
        let next = tokio::select! {
            next = stream.next() => next,
            _ = tick.tick(), if screen.is_live() => {
                screen.show(&view);
                continue;
            }
        };
        match next {
            Ok(Some(event)) => {
                reconnects = 0;
                screen.event(&event.data);
                let Ok(data) = serde_json::from_str::<EventData>(&event.data) else {
                    continue;
                };
                if view.apply(&data) != Applied::Nothing {
                    screen.show(&view);
                }
            }
            Ok(None) | Err(_) if reconnects < RECONNECTS => {
                reconnects += 1;
                tokio::time::sleep(Duration::from_secs(1)).await;
                let last = stream.last_id.clone();
                if let Ok(response) = client.stream(&stream_path, last.as_deref()).await {
                    stream = EventStream::new(response);
                    stream.last_id = last;
                    view = snapshot(client, id).await?;
                    screen.show(&view);
                }
            }
            Ok(None) => {
                return Err(CtlError::Transport {
                    url: stream_path,
                    reason: "the engine ended the event stream".into(),
                });
            }
            Err(e) => return Err(e),
        }
    }
    let (instance, raw) = client.instance(id).await?;
    let (steps, _) = client.steps(id).await?;
    screen.finish(&View::new(instance.clone(), &steps));
    Ok((instance, raw))
}

async fn snapshot(client: &Client, id: &str) -> Result<View> {
    let (instance, _) = client.instance(id).await?;
    let (steps, _) = client.steps(id).await?;
    Ok(View::new(instance, &steps))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn instance(status: &str, updated: &str) -> Instance {
        serde_json::from_value(json!({"id": "i", "template_id": "t", "template_version": 1,
            "status": status, "variables": {}, "output": null, "error": null,
            "parent_instance_id": null, "created_at": "2026-12-01T10:00:00Z",
            "started_at": null, "completed_at": null, "updated_at": updated}))
        .unwrap()
    }

    fn event(kind: &str, step: Option<&str>, status: &str, at: &str, data: Value) -> EventData {
        EventData {
            kind: kind.into(),
            step_id: step.map(str::to_owned),
            status: status.into(),
            at: parse_time(at).unwrap(),
            data,
        }
    }

    #[test]
    fn events_move_steps_forward_and_never_back() {
        let mut view = View::new(instance("running", "2026-12-01T10:00:00Z"), &[]);
        let queued = event(
            "step.queued",
            Some("a"),
            "queued",
            "2026-12-01T10:00:01Z",
            json!({"execution_id": "e1", "attempt": 1}),
        );
        assert_eq!(view.apply(&queued), Applied::Step(0));
        let done = event(
            "step.completed",
            Some("a"),
            "completed",
            "2026-12-01T10:00:03Z",
            json!({"execution_id": "e1", "attempt": 1}),
        );
        assert_eq!(view.apply(&done), Applied::Step(0));
        assert_eq!(view.apply(&queued), Applied::Nothing);
        assert_eq!(view.rows[0].status, "completed");
        assert_eq!(
            view.rows[0].duration(Utc::now()),
            Some(chrono::Duration::seconds(2))
        );

        let stale = event(
            "instance.started",
            None,
            "running",
            "2026-11-30T10:00:00Z",
            Value::Null,
        );
        assert_eq!(view.apply(&stale), Applied::Nothing);
        let end = event(
            "instance.completed",
            None,
            "completed",
            "2026-12-01T10:00:04Z",
            Value::Null,
        );
        assert_eq!(view.apply(&end), Applied::Instance);
        assert!(view.finished());
        assert_eq!(
            view.instance.completed_at.as_deref().and_then(parse_time),
            Some(end.at)
        );
        assert_eq!(exit_code(&view.instance.status), exit::OK);
    }

    #[test]
    fn a_retry_is_the_same_row_with_a_new_attempt() {
        let mut view = View::new(instance("running", "2026-12-01T10:00:00Z"), &[]);
        let at = |s: u32| format!("2026-12-01T10:00:{s:02}Z");
        let data = |a: i64| json!({"execution_id": "e1", "attempt": a});
        view.apply(&event(
            "step.started",
            Some("a"),
            "running",
            &at(1),
            data(1),
        ));
        view.apply(&event(
            "step.retrying",
            Some("a"),
            "waiting",
            &at(2),
            data(1),
        ));
        view.apply(&event("step.queued", Some("a"), "queued", &at(4), data(2)));
        assert_eq!(view.rows.len(), 1);
        assert_eq!(view.rows[0].attempt, 2);
        assert_eq!(view.rows[0].status, "queued");
        assert_eq!(view.rows[0].duration(Utc::now()), None);
        assert_eq!(exit_code("failed"), exit::FAILED);
        assert_eq!(exit_code("cancelled"), exit::CANCELLED);
    }
}
