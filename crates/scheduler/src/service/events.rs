//! `EventService`: the SSE routes' live events as gRPC server streams, for internal callers
//! (the terminal client, other services) that speak gRPC rather than HTTP. Same events, same
//! filters, same resume-from-id: the event bus's stream id is each event's `id`.

use std::collections::HashSet;
use std::pin::Pin;

use bus::EventBus;
use futures::{Stream, StreamExt, future};
use model::{EventFilter, EventType, WorkflowEvent};
use proto::v1;
use proto::v1::event_service_server::EventService;
use store::{Store, StoreError};
use tokio::sync::watch;
use tonic::{Request, Response, Status};

use super::caller::Caller;
use crate::SchedulerError;
use crate::convert;

pub(super) type EventStream = Pin<Box<dyn Stream<Item = Result<v1::Event, Status>> + Send>>;

pub(crate) struct EventApi {
    store: std::sync::Arc<dyn Store>,
    events: std::sync::Arc<dyn EventBus>,
    /// Set when the scheduler stops: graceful shutdown waits for open calls, and a watch
    /// never ends by itself.
    stopped: watch::Receiver<bool>,
}

impl EventApi {
    pub(crate) fn new(
        store: std::sync::Arc<dyn Store>,
        events: std::sync::Arc<dyn EventBus>,
        stopped: watch::Receiver<bool>,
    ) -> Self {
        Self {
            store,
            events,
            stopped,
        }
    }

    async fn watch(&self, filter: EventFilter, after_id: &str) -> Result<EventStream, Status> {
        let after = resume_id(after_id)?;
        let events = self.events.subscribe(after).await.map_err(|error| {
            tracing::warn!(error = %error, "event bus unavailable");
            Status::unavailable("the event stream is unavailable, retry later")
        })?;
        let mut stopped = self.stopped.clone();
        let stop = async move {
            let _ = stopped.wait_for(|stopped| *stopped).await;
        };
        // A failing bus ends the call with UNAVAILABLE; the caller resumes from its last id.
        let stream = events
            .scan(false, move |failed, item| {
                if *failed {
                    return future::ready(None);
                }
                let item = match item {
                    Ok(stored) if filter.admits(&stored.event) => {
                        Some(Ok(event(&stored.id, &stored.event)))
                    }
                    Ok(_) => None,
                    Err(error) => {
                        tracing::warn!(error = %error, "event stream interrupted");
                        *failed = true;
                        Some(Err(Status::unavailable("the event stream was interrupted")))
                    }
                };
                future::ready(Some(item))
            })
            .filter_map(future::ready)
            .take_until(stop);
        Ok(Box::pin(stream))
    }
}

/// The `types` of a watch: every type when none is named.
fn types(names: &[String]) -> Result<Option<HashSet<EventType>>, SchedulerError> {
    if names.is_empty() {
        return Ok(None);
    }
    model::parse_event_types(names.iter().map(String::as_str))
        .map(Some)
        .map_err(|unknown| {
            SchedulerError::invalid(&format!("/types/{}", unknown.index), unknown.to_string())
        })
}

/// `after_id`, which must be a stream id (`<millis>-<seq>` or `<millis>`) when given.
fn resume_id(text: &str) -> Result<Option<String>, SchedulerError> {
    let id = text.trim();
    if id.is_empty() {
        return Ok(None);
    }
    let (millis, seq) = id.split_once('-').unwrap_or((id, "0"));
    let number = |s: &str| !s.is_empty() && s.len() <= 20 && s.parse::<u64>().is_ok();
    if number(millis) && number(seq) && !millis.starts_with('+') && !seq.starts_with('+') {
        Ok(Some(id.to_owned()))
    } else {
        Err(SchedulerError::invalid(
            "/after_id",
            "must be an event id such as 1764158400000-0",
        ))
    }
}

fn event(id: &str, event: &WorkflowEvent) -> v1::Event {
    v1::Event {
        id: id.to_owned(),
        r#type: event.event_type.as_str().to_owned(),
        instance_id: event.instance_id.to_string(),
        step_id: event.step_id.clone(),
        status: event.status.clone(),
        at: convert::time(event.at),
        data_json: event.data.to_string(),
    }
}

#[tonic::async_trait]
impl EventService for EventApi {
    type WatchInstanceStream = EventStream;
    type WatchEventsStream = EventStream;

    async fn watch_instance(
        &self,
        request: Request<v1::WatchInstanceRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let caller = Caller::of(&request)?;
        let body = request.into_inner();
        let id = convert::id(&body.instance_id, "/instance_id")?;
        let types = types(&body.types)?;
        self.store
            .get_instance(&caller.tenant, id)
            .await
            .map_err(|error| match error {
                StoreError::NotFound { .. } => SchedulerError::NotFound("instance"),
                other => other.into(),
            })?;
        let filter = EventFilter {
            tenant: caller.tenant,
            instance_id: Some(id),
            types,
        };
        Ok(Response::new(self.watch(filter, &body.after_id).await?))
    }

    async fn watch_events(
        &self,
        request: Request<v1::WatchEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let caller = Caller::of(&request)?;
        let body = request.into_inner();
        let instance_id = match body.instance_id.trim() {
            "" => None,
            text => Some(convert::id(text, "/instance_id")?),
        };
        let filter = EventFilter {
            tenant: caller.tenant,
            instance_id,
            types: types(&body.types)?,
        };
        Ok(Response::new(self.watch(filter, &body.after_id).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_ids_are_stream_ids() {
        assert_eq!(resume_id("").unwrap(), None);
        assert_eq!(
            resume_id("1764158400000-3").unwrap().as_deref(),
            Some("1764158400000-3")
        );
        assert_eq!(
            resume_id("1764158400000").unwrap().as_deref(),
            Some("1764158400000")
        );
        for bad in ["abc", "1-", "-1", "1-x", "+1-2"] {
            assert!(resume_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn unknown_types_name_their_position() {
        let error = types(&["step.completed".into(), "nope".into()]).unwrap_err();
        assert!(error.to_string().contains("nope"), "{error}");
        assert_eq!(types(&[]).unwrap(), None);
    }
}
