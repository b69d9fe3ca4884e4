use std::collections::HashSet;
use std::convert::Infallible;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use chrono::{DateTime, Utc};
use futures::{Stream, StreamExt, future};
use model::{EventFilter, EventType, WorkflowEvent};
use proto::v1;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::{ApiError, Problem};
use crate::extract::{ApiQuery, IdPath, optional_uuid};
use crate::routes::tickets::StreamCaller;
use crate::state::AppState;

/// The `data:` of one server-sent event. The tenant stays out: it is the caller's own.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EventData<'a> {
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'a str,
    pub instance_id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step_id: Option<&'a str>,
    pub status: &'a str,
    pub at: DateTime<Utc>,
    /// What the event carries; `null` for some (`instance.started`).
    #[schema(value_type = Option<Object>)]
    pub data: &'a serde_json::Value,
}

/// One server-sent event as a reader sees it (the OpenAPI 3.2 and schemathesis reading of a
/// `text/event-stream` schema): its `id`, `event` (the type), and `data`, a JSON text of
/// [`EventData`].
pub(crate) fn event_schema() -> serde_json::Value {
    serde_json::json!({
        "type": "object",
        "required": ["id", "event", "data"],
        "properties": {
            "id": {"type": "string", "pattern": LAST_EVENT_ID_PATTERN},
            "event": {"type": "string"},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": "#/components/schemas/EventData"},
            },
        },
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct StreamQuery {
    /// Only this instance's events.
    #[param(value_type = Option<Uuid>)]
    pub instance_id: Option<String>,
    /// Only events of these types, comma-separated (`step.completed,instance.failed`).
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct InstanceStreamQuery {
    /// Only events of these types, comma-separated.
    #[serde(rename = "type")]
    #[param(rename = "type")]
    pub kind: Option<String>,
}

/// `?type=`: comma-separated event types; given but naming none, it admits no event.
fn parse_types(raw: Option<&str>) -> Result<Option<HashSet<EventType>>, ApiError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let names = raw.split(',').map(str::trim).filter(|n| !n.is_empty());
    model::parse_event_types(names)
        .map(Some)
        .map_err(|unknown| ApiError::invalid("/type", unknown.to_string()))
}

/// What [`last_event_id`] accepts, for the OpenAPI document: empty (none), or `<millis>` or
/// `<millis>-<seq>` of at most 19 digits each (so that each fits a u64).
pub(crate) const LAST_EVENT_ID_PATTERN: &str = "^([0-9]{1,19}(-[0-9]{1,19})?)?$";

/// `Last-Event-ID`, which must be a stream id (`<millis>-<seq>` or `<millis>`): anything else
/// is the client's mistake (400), not an unavailable bus.
fn last_event_id(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let id = value.to_str().map(str::trim).unwrap_or("?");
    let (millis, seq) = id.split_once('-').unwrap_or((id, "0"));
    let number = |s: &str| !s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit());
    match id {
        "" => Ok(None),
        _ if number(millis) && number(seq) => Ok(Some(id.to_owned())),
        _ => Err(ApiError::bad_request(
            "Last-Event-ID must be an event id such as 1764158400000-0",
        )),
    }
}

/// All events of the caller's tenant, optionally narrowed by instance and type.
#[utoipa::path(get, path = "/api/v1/events/stream", tag = "events", operation_id = "stream_events",
    params(StreamQuery, ("ticket" = Option<String>, Query, description = "instead of the `Authorization` header: a ticket from `POST /api/v1/events/tickets` (`EventSource` cannot send headers)"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses((status = 200, content_type = "text/event-stream", body = EventData,
        description = "server-sent events: `id`, `event` (the type) and `data`"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []), ()))]
pub(crate) async fn all(
    State(state): State<AppState>,
    StreamCaller(caller): StreamCaller,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<StreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let filter = EventFilter {
        tenant: caller.tenant,
        instance_id: optional_uuid(q.instance_id.as_deref(), "instance_id")?,
        types: parse_types(q.kind.as_deref())?,
    };
    stream(&state, filter, last_event_id(&headers)?).await
}

/// One instance's events; 404 when the instance is unknown to the caller's tenant.
#[utoipa::path(get, path = "/api/v1/instances/{id}/events/stream", tag = "events",
    operation_id = "stream_instance_events",
    params(("id" = Uuid, Path), InstanceStreamQuery, ("ticket" = Option<String>, Query, description = "instead of the `Authorization` header: a ticket from `POST /api/v1/events/tickets` (`EventSource` cannot send headers)"),
        ("Last-Event-ID" = Option<String>, Header, description = "resume after this event")),
    responses((status = 200, content_type = "text/event-stream", body = EventData,
        description = "server-sent events: `id`, `event` (the type) and `data`"),
        (status = "4XX", body = Problem, content_type = "application/problem+json")),
    security(("bearer" = []), ()))]
pub(crate) async fn instance(
    State(state): State<AppState>,
    StreamCaller(caller): StreamCaller,
    IdPath(id): IdPath,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<InstanceStreamQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let types = parse_types(q.kind.as_deref())?;
    let request = v1::InstanceRef { id: id.to_string() };
    state
        .scheduler
        .call(&caller, request, |mut c, r| async move {
            c.get_instance(r).await
        })
        .await?;
    let filter = EventFilter {
        tenant: caller.tenant,
        instance_id: Some(id),
        types,
    };
    stream(&state, filter, last_event_id(&headers)?).await
}

async fn stream(
    state: &AppState,
    filter: EventFilter,
    after: Option<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>> + use<>>, ApiError> {
    let events = state.events.subscribe(after).await.map_err(|e| {
        tracing::warn!(error = %e, "event bus unavailable");
        ApiError::unavailable("the event stream is unavailable, retry later")
    })?;
    // A failing bus ends the response; the client reconnects with Last-Event-ID and misses
    // nothing still in the stream.
    let events = events
        .take_while(|item| {
            if let Err(e) = item {
                tracing::warn!(error = %e, "event stream interrupted");
            }
            future::ready(item.is_ok())
        })
        .filter_map(move |item| {
            let event = match item {
                Ok(stored) if filter.admits(&stored.event) => to_sse(&stored.id, &stored.event),
                _ => None,
            };
            future::ready(event.map(Ok))
        })
        .take_until(stopped(state));
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// Completes when the gateway shuts down (graceful shutdown waits for open responses, and an
/// event stream never ends by itself) or the stream has lasted `EVENT_STREAM_MAX_SECONDS`: one
/// connection never holds a subscription for ever, a balancer gets to move it, and the client
/// (an `EventSource` does it by itself) reconnects with `Last-Event-ID` and misses nothing.
fn stopped(state: &AppState) -> impl Future<Output = ()> + Send + use<> {
    let mut stopped = state.streams_stopped.clone();
    let lifetime = state.limits.stream_lifetime;
    async move {
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => {}
            () = tokio::time::sleep(lifetime) => {}
        }
    }
}

fn to_sse(id: &str, event: &WorkflowEvent) -> Option<Event> {
    let data = EventData {
        kind: event.event_type.as_str(),
        instance_id: event.instance_id,
        step_id: event.step_id.as_deref(),
        status: &event.status,
        at: event.at,
        data: &event.data,
    };
    match Event::default()
        .id(id)
        .event(event.event_type.as_str())
        .json_data(&data)
    {
        Ok(sse) => Some(sse),
        Err(e) => {
            tracing::error!(error = %e, event_id = id, "cannot encode event");
            None
        }
    }
}
