//! Completion as the client sees it: one Server-Sent Events stream of
//! `instance.completed|failed|cancelled` (`GET /api/v1/events/stream`), opened before any
//! instance starts and followed for the whole run. The moment an instance counts as finished is
//! the client's clock when its event is parsed: no polling interval enters the figures, and
//! one connection serves any number of instances. Should the stream miss an instance (a
//! reconnect past the replay buffer), waiting falls back to `GET /instances/{id}` after a stall,
//! and the report counts how often it did.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Deserialize;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::client::Client;

/// No event for this long while instances are outstanding: ask for them one by one.
const STALL: Duration = Duration::from_secs(3);
/// Instances asked for per stall.
const POLL_BATCH: usize = 200;

#[derive(Debug, Clone, Copy)]
pub struct Finish {
    pub completed: bool,
    pub seen: Instant,
}

#[derive(Default)]
struct Shared {
    finished: Mutex<HashMap<String, Finish>>,
    notify: Notify,
}

impl Shared {
    fn record(&self, instance_id: String, finish: Finish) {
        let mut finished = self.finished.lock().unwrap_or_else(|e| e.into_inner());
        finished.entry(instance_id).or_insert(finish);
        drop(finished);
        self.notify.notify_waiters();
    }
}

pub struct Watch {
    shared: Arc<Shared>,
    reader: JoinHandle<()>,
}

/// The last of a set of instances to finish.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub last_seen: Instant,
    pub failed: usize,
    /// Instances found finished by asking, not by the stream.
    pub polled: usize,
}

impl Watch {
    /// Opens the stream (its headers are in when this returns) and follows it.
    pub async fn open(client: Arc<Client>) -> anyhow::Result<Watch> {
        let response = client.open_finish_stream(None).await?;
        let shared = Arc::new(Shared::default());
        let reader = tokio::spawn(follow(client, response, shared.clone()));
        Ok(Watch { shared, reader })
    }

    /// Waits until every one of `ids` has finished.
    pub async fn wait_for(
        &self,
        client: &Client,
        ids: &[String],
        timeout: Duration,
    ) -> anyhow::Result<Outcome> {
        let deadline = Instant::now() + timeout;
        let mut last_progress = Instant::now();
        let mut known = 0;
        let mut polled = 0;
        loop {
            let notified = self.shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (found, missing) = self.lookup(ids);
            if missing.is_empty() {
                let last_seen = found
                    .iter()
                    .map(|f| f.seen)
                    .max()
                    .unwrap_or_else(Instant::now);
                let failed = found.iter().filter(|f| !f.completed).count();
                return Ok(Outcome {
                    last_seen,
                    failed,
                    polled,
                });
            }
            if found.len() > known {
                known = found.len();
                last_progress = Instant::now();
            }
            if Instant::now() > deadline {
                bail!(
                    "{} of {} instances unfinished after {timeout:?}",
                    missing.len(),
                    ids.len()
                );
            }
            if last_progress.elapsed() > STALL {
                for id in missing.iter().take(POLL_BATCH) {
                    let instance = client.instance(id).await?;
                    if instance.is_finished() {
                        polled += 1;
                        let finish = Finish {
                            completed: instance.status == "completed",
                            seen: Instant::now(),
                        };
                        self.shared.record(instance.id, finish);
                    }
                }
                last_progress = Instant::now();
            }
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            }
        }
    }

    fn lookup(&self, ids: &[String]) -> (Vec<Finish>, Vec<String>) {
        let finished = self
            .shared
            .finished
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut found = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match finished.get(id) {
                Some(finish) => found.push(*finish),
                None => missing.push(id.clone()),
            }
        }
        (found, missing)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

#[derive(Deserialize)]
struct EventData {
    #[serde(rename = "type")]
    kind: String,
    instance_id: Option<String>,
}

/// Reads the stream for as long as the watch lives, resuming after the last event id when the
/// connection ends.
async fn follow(client: Arc<Client>, mut response: reqwest::Response, shared: Arc<Shared>) {
    let mut parser = SseParser::default();
    loop {
        match response.chunk().await {
            Ok(Some(bytes)) => {
                for event in parser.push(&bytes) {
                    let Ok(data) = serde_json::from_str::<EventData>(&event.data) else {
                        continue;
                    };
                    let Some(instance_id) = data.instance_id else {
                        continue;
                    };
                    let finish = Finish {
                        completed: data.kind == "instance.completed",
                        seen: Instant::now(),
                    };
                    shared.record(instance_id, finish);
                }
            }
            Ok(None) | Err(_) => loop {
                tokio::time::sleep(Duration::from_millis(100)).await;
                match client.open_finish_stream(parser.last_id.as_deref()).await {
                    Ok(next) => {
                        response = next;
                        break;
                    }
                    Err(error) => eprintln!("bench: event stream: {error:#}, retrying"),
                }
            },
        }
    }
}

#[derive(Debug, PartialEq)]
pub struct SseEvent {
    pub data: String,
}

/// Server-Sent Events framing: `field: value` lines, an empty line ends an event, `:` lines
/// are comments (keep-alives).
#[derive(Default)]
struct SseParser {
    pending: Vec<u8>,
    data: Vec<String>,
    last_id: Option<String>,
}

impl SseParser {
    fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        self.pending.extend_from_slice(bytes);
        let mut events = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if line.is_empty() {
                if !self.data.is_empty() {
                    events.push(SseEvent {
                        data: self.data.join("\n"),
                    });
                    self.data.clear();
                }
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "data" => self.data.push(value.to_owned()),
                "id" => self.last_id = Some(value.to_owned()),
                _ => {}
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_framed_across_chunks() {
        let mut parser = SseParser::default();
        assert!(
            parser
                .push(b": keep-alive\n\nid: 17-0\nevent: instance.comp")
                .is_empty()
        );
        let events = parser.push(b"leted\r\ndata: {\"type\":\"instance.completed\",\r\n\r\n");
        assert_eq!(
            events,
            [SseEvent {
                data: "{\"type\":\"instance.completed\",".into()
            }]
        );
        assert_eq!(parser.last_id.as_deref(), Some("17-0"));
        let events = parser.push(b"data: a\ndata: b\n\n");
        assert_eq!(events[0].data, "a\nb");
    }

    #[tokio::test]
    async fn waiting_ends_when_every_instance_was_seen() {
        let shared = Arc::new(Shared::default());
        let watch = Watch {
            shared: shared.clone(),
            reader: tokio::spawn(async {}),
        };
        let client = Client::new("http://127.0.0.1:9", "unused");
        let ids = ["a".to_owned(), "b".to_owned()];
        let first = Instant::now();
        shared.record(
            "a".into(),
            Finish {
                completed: true,
                seen: first,
            },
        );
        let recorder = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            recorder.record(
                "b".into(),
                Finish {
                    completed: false,
                    seen: Instant::now(),
                },
            );
        });
        let outcome = watch
            .wait_for(&client, &ids, Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!((outcome.failed, outcome.polled), (1, 0));
        assert!(outcome.last_seen > first);
    }
}
