use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{Map, Value, json};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{Problem, ProblemField};
use crate::idempotency;
use crate::mapping::{
    Accepted, CreateInstanceBody, CreateTemplateBody, InstanceDto, SendEventBody, StepErrorDto,
    StepExecutionDto, TemplateDto, UpdateTemplateBody, WarningDto, WebhookAccepted,
};
use crate::routes::{events, health, instances, ops, templates, triggers};

#[derive(OpenApi)]
#[openapi(
    info(title = "Chorus Workflow Engine", description = "The REST API of the gateway."),
    paths(
        templates::create, templates::list, templates::get, templates::update, templates::delete,
        instances::create, instances::list, instances::get, instances::start, instances::pause,
        instances::resume, instances::cancel, instances::steps, instances::send_event,
        triggers::webhook, events::all, events::instance,
        health::ready, health::live, ops::metrics, ops::openapi_json,
    ),
    components(schemas(
        Problem, ProblemField, TemplateDto, WarningDto, InstanceDto, StepErrorDto,
        StepExecutionDto, CreateTemplateBody, UpdateTemplateBody, CreateInstanceBody,
        SendEventBody, Accepted, WebhookAccepted, health::Health,
    )),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI 3.1 document of the API, generated from the handlers and their types, then
/// completed by [`refine`] with what holds for every operation alike.
pub fn document() -> Result<Value, serde_json::Error> {
    let mut document = serde_json::to_value(ApiDoc::openapi())?;
    refine(&mut document);
    Ok(document)
}

/// Adds what the handlers' annotations leave to one place: the problem answers each operation
/// can give, the `Idempotency-Key` rule, a description on every response (OpenAPI requires
/// one), and the links from a created resource to the operations that take its id (so a client,
/// or a fuzzer's stateful phase, can follow them).
fn refine(document: &mut Value) {
    let operation_ids = operation_ids(document);
    let Some(paths) = document.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, operation) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            add_problems(method, operation);
            idempotency_key(operation);
            describe_responses(operation);
            add_links(path, method, operation, &operation_ids);
        }
    }
}

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// `(path, method)` → operationId, for links.
fn operation_ids(document: &Value) -> BTreeMap<(String, String), String> {
    let mut ids = BTreeMap::new();
    let Some(paths) = document.get("paths").and_then(Value::as_object) else {
        return ids;
    };
    for (path, item) in paths {
        let Some(item) = item.as_object() else {
            continue;
        };
        for (method, operation) in item {
            if let Some(id) = operation.get("operationId").and_then(Value::as_str) {
                ids.insert((path.clone(), method.clone()), id.to_string());
            }
        }
    }
    ids
}

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
fn add_problems(method: &str, operation: &mut Value) {
    if operation.get("security").is_none() {
        return;
    }
    let has_path = parameters_in(operation, "path").next().is_some();
    let has_query = parameters_in(operation, "query").next().is_some();
    let has_header = parameters_in(operation, "header").next().is_some();
    let has_body = operation.get("requestBody").is_some();
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
    codes.push(("503", "a dependency is down; retry after `Retry-After` seconds"));
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
fn idempotency_key(operation: &mut Value) {
    let Some(parameters) = operation
        .get_mut("parameters")
        .and_then(Value::as_array_mut)
    else {
        return;
    };
    for parameter in parameters {
        let is_key = parameter.get("in").and_then(Value::as_str) == Some("header")
            && parameter
                .get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(idempotency::HEADER_NAME));
        if is_key {
            parameter["schema"] = json!({
                "type": "string",
                "minLength": 1,
                "maxLength": idempotency::MAX_KEY_LEN,
                "pattern": idempotency::KEY_PATTERN,
            });
        }
    }
}

fn describe_responses(operation: &mut Value) {
    let Some(responses) = operation
        .get_mut("responses")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (code, response) in responses.iter_mut() {
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

/// A link: the target operation (by path and method) and how its inputs come from the answer.
struct LinkSpec {
    name: &'static str,
    path: &'static str,
    method: &'static str,
    parameters: &'static [(&'static str, &'static str)],
    body: Option<fn() -> Value>,
}

const CREATED_ID: &str = "$response.body#/id";

const FROM_TEMPLATE: &[LinkSpec] = &[
    LinkSpec { name: "GetTemplate", path: "/api/v1/templates/{id}", method: "get", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "UpdateTemplate", path: "/api/v1/templates/{id}", method: "put", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "DeleteTemplate", path: "/api/v1/templates/{id}", method: "delete", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "ListInstances", path: "/api/v1/instances", method: "get", parameters: &[("template_id", CREATED_ID)], body: None },
    LinkSpec { name: "CreateInstance", path: "/api/v1/instances", method: "post", parameters: &[], body: Some(|| json!({"template_id": CREATED_ID})) },
    LinkSpec { name: "Webhook", path: "/api/v1/triggers/webhook/{template_id}", method: "post", parameters: &[("template_id", CREATED_ID)], body: None },
];

const FROM_INSTANCE: &[LinkSpec] = &[
    LinkSpec { name: "GetInstance", path: "/api/v1/instances/{id}", method: "get", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "StartInstance", path: "/api/v1/instances/{id}/start", method: "put", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "PauseInstance", path: "/api/v1/instances/{id}/pause", method: "put", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "ResumeInstance", path: "/api/v1/instances/{id}/resume", method: "put", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "CancelInstance", path: "/api/v1/instances/{id}/cancel", method: "put", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "ListSteps", path: "/api/v1/instances/{id}/steps", method: "get", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "SendEvent", path: "/api/v1/instances/{id}/events", method: "post", parameters: &[("id", CREATED_ID)], body: None },
    LinkSpec { name: "ListChildren", path: "/api/v1/instances", method: "get", parameters: &[("parent_instance_id", CREATED_ID)], body: None },
];

fn add_links(
    path: &str,
    method: &str,
    operation: &mut Value,
    operation_ids: &BTreeMap<(String, String), String>,
) {
    let (specs, codes): (&[LinkSpec], &[&str]) = match (path, method) {
        ("/api/v1/templates", "post") => (FROM_TEMPLATE, &["201"]),
        ("/api/v1/templates/{id}", "put") => (FROM_TEMPLATE, &["200"]),
        ("/api/v1/instances", "post") => (FROM_INSTANCE, &["201", "200"]),
        _ => return,
    };
    let mut links = Map::new();
    for spec in specs {
        // A link to an operation the document does not have would break clients that follow it.
        let Some(id) = operation_ids.get(&(spec.path.to_string(), spec.method.to_string())) else {
            continue;
        };
        let mut link = json!({"operationId": id});
        if !spec.parameters.is_empty() {
            link["parameters"] = spec
                .parameters
                .iter()
                .map(|(name, expression)| ((*name).to_string(), json!(expression)))
                .collect::<Map<_, _>>()
                .into();
        }
        if let Some(body) = spec.body {
            link["requestBody"] = body();
        }
        links.insert(spec.name.to_string(), link);
    }
    for code in codes {
        if let Some(response) = operation.pointer_mut(&format!("/responses/{code}")) {
            response["links"] = Value::Object(links.clone());
        }
    }
}
