//! The answers every operation shares: the problem responses each can give, the schemas of the
//! headers the handlers check by hand, and a description on every response.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::idempotency;
use crate::routes::events;

fn parameters_in<'a>(operation: &'a Value, location: &str) -> impl Iterator<Item = &'a Value> {
    operation
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |p| p.get("in").and_then(Value::as_str) == Some(location))
}

/// The problem answers of an authenticated operation, from what it takes: every input can be
/// malformed (400) and every call needs credentials (401) and the scheduler (503); a write needs
/// a role that may write (403) and can conflict with the state (409); an id can be unknown
/// (404); a body can be too large (413), not JSON (415) or invalid (422), and so can a query
/// (422).
pub(super) fn add_problems(method: &str, operation: &mut Value) {
    if operation.get("security").is_none() {
        return;
    }
    let has_path = parameters_in(operation, "path").next().is_some();
    let has_query = parameters_in(operation, "query").next().is_some();
    let has_header = parameters_in(operation, "header").next().is_some();
    let has_body = operation.get("requestBody").is_some();
    // A stream ticket is open to every role and changes nothing: only credentials can fail.
    if operation["operationId"] == "create_stream_ticket" {
        if let Some(responses) = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
        {
            responses.remove("4XX");
            responses.insert("401".into(), json!({
                "description": "no or bad credentials",
                "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
            }));
        }
        return;
    }
    let writes = method != "get";
    let mut codes: Vec<(&str, &str)> = vec![("401", "no or bad credentials")];
    if has_path || has_query || has_header || has_body {
        codes.push(("400", "a malformed id, query, header or body"));
    }
    if writes {
        codes.push(("403", "the caller's role may not write"));
        codes.push(("409", "a conflict with the current state"));
    }
    if has_path {
        codes.push(("404", "unknown, or not the caller's tenant's"));
    }
    if has_body {
        codes.push(("413", "the body is too large"));
        codes.push(("415", "the body is not json"));
    }
    if has_body || has_query {
        codes.push(("422", "invalid content; `errors` points at each field"));
    }
    codes.push((
        "503",
        "a dependency is down; retry after `Retry-After` seconds",
    ));
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    responses.remove("4XX");
    for (code, description) in codes {
        let mut problem = json!({
            "description": description,
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        });
        if code == "503" {
            problem["headers"] = json!({"Retry-After": {
                "description": "seconds to wait before retrying",
                "schema": {"type": "integer", "minimum": 0},
            }});
        }
        responses.entry(code).or_insert(problem);
    }
}

/// The `Idempotency-Key` header wherever it is taken, as [`idempotency::from_request`] checks
/// it.
/// The headers whose rules the handlers check by hand: `Idempotency-Key` and `Last-Event-ID`
/// (a string, never `null`, of the shape the stream accepts).
pub(super) fn header_schemas(operation: &mut Value) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        if parameter.get("in").and_then(Value::as_str) != Some("header") {
            continue;
        }
        let name = parameter.get("name").and_then(Value::as_str).unwrap_or("");
        if name.eq_ignore_ascii_case(idempotency::HEADER_NAME) {
            parameter["schema"] = json!({
                "type": "string",
                "minLength": 1,
                "maxLength": idempotency::MAX_KEY_LEN,
                "pattern": idempotency::KEY_PATTERN,
            });
        } else if name.eq_ignore_ascii_case("Last-Event-ID") {
            parameter["schema"] =
                json!({"type": "string", "pattern": events::LAST_EVENT_ID_PATTERN});
        }
    }
}

pub(super) fn describe_responses(operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (code, response) in responses.iter_mut() {
        if let Some(stream) = response.pointer_mut("/content/text~1event-stream") {
            stream["schema"] = events::event_schema();
        }
        let missing = response
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing && let Some(response) = response.as_object_mut() {
            let reason = code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .and_then(|c| c.canonical_reason())
                .unwrap_or("answer");
            response.insert("description".into(), Value::String(reason.to_lowercase()));
        }
    }
}
