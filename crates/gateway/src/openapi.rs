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
use crate::routes::trigger_configs::{CreateTriggerBody, TriggerDto, TriggerType};
use crate::routes::{
    events, health, instances, ops, templates, tickets, trigger_configs, triggers,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "Chorus Workflow Engine", description = "The REST API of the gateway."),
    paths(
        templates::create, templates::list, templates::get, templates::update, templates::delete,
        instances::create, instances::list, instances::get, instances::start, instances::pause,
        instances::resume, instances::cancel, instances::steps, instances::send_event,
        trigger_configs::create, trigger_configs::list, trigger_configs::get,
        trigger_configs::delete, triggers::webhook, events::all, events::instance, tickets::create,
        health::ready, health::live, ops::metrics, ops::openapi_json,
    ),
    components(schemas(
        Problem, ProblemField, TemplateDto, WarningDto, InstanceDto, StepErrorDto,
        StepExecutionDto, CreateTemplateBody, UpdateTemplateBody, CreateInstanceBody,
        SendEventBody, Accepted, WebhookAccepted, health::Health, CreateTriggerBody, TriggerDto, TriggerType,
        tickets::TicketDto,
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
            header_schemas(operation);
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
fn header_schemas(operation: &mut Value) {
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

fn describe_responses(operation: &mut Value) {
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

/// A link: the target operation (by path and method), the parameters that take the id, and
/// the body field that does.
struct LinkSpec {
    name: &'static str,
    path: &'static str,
    method: &'static str,
    parameter: Option<&'static str>,
    body_field: Option<&'static str>,
}

const fn to(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    parameter: &'static str,
) -> LinkSpec {
    LinkSpec {
        name,
        path,
        method,
        parameter: Some(parameter),
        body_field: None,
    }
}

const FROM_TEMPLATE: &[LinkSpec] = &[
    to("GetTemplate", "get", "/api/v1/templates/{id}", "id"),
    to("UpdateTemplate", "put", "/api/v1/templates/{id}", "id"),
    to("DeleteTemplate", "delete", "/api/v1/templates/{id}", "id"),
    to("ListInstances", "get", "/api/v1/instances", "template_id"),
    LinkSpec {
        name: "CreateInstance",
        path: "/api/v1/instances",
        method: "post",
        parameter: None,
        body_field: Some("template_id"),
    },
    to(
        "Webhook",
        "post",
        "/api/v1/triggers/webhook/{template_id}",
        "template_id",
    ),
    LinkSpec {
        name: "CreateTrigger",
        path: "/api/v1/triggers",
        method: "post",
        parameter: None,
        body_field: Some("template_id"),
    },
    to("ListTriggers", "get", "/api/v1/triggers", "template_id"),
];

const FROM_TRIGGER: &[LinkSpec] = &[
    to("GetTrigger", "get", "/api/v1/triggers/{id}", "id"),
    to("DeleteTrigger", "delete", "/api/v1/triggers/{id}", "id"),
];

const FROM_INSTANCE: &[LinkSpec] = &[
    to("GetInstance", "get", "/api/v1/instances/{id}", "id"),
    to("StartInstance", "put", "/api/v1/instances/{id}/start", "id"),
    to("PauseInstance", "put", "/api/v1/instances/{id}/pause", "id"),
    to(
        "ResumeInstance",
        "put",
        "/api/v1/instances/{id}/resume",
        "id",
    ),
    to(
        "CancelInstance",
        "put",
        "/api/v1/instances/{id}/cancel",
        "id",
    ),
    to("ListSteps", "get", "/api/v1/instances/{id}/steps", "id"),
    to("SendEvent", "post", "/api/v1/instances/{id}/events", "id"),
    to(
        "ListChildren",
        "get",
        "/api/v1/instances",
        "parent_instance_id",
    ),
];

/// The answers that are a template or an instance, and where its id is in them: a created,
/// read or changed one (a paused instance leads to resume), and the newest of a list.
fn link_sources(
    path: &str,
    method: &str,
) -> Option<(&'static [LinkSpec], &'static [&'static str], &'static str)> {
    const ID: &str = "$response.body#/id";
    const FIRST: &str = "$response.body#/items/0/id";
    Some(match (path, method) {
        ("/api/v1/templates", "post") => (FROM_TEMPLATE, &["201"], ID),
        ("/api/v1/templates/{id}", "put") => (FROM_TEMPLATE, &["200"], ID),
        ("/api/v1/templates", "get") => (FROM_TEMPLATE, &["200"], FIRST),
        ("/api/v1/templates/{id}", "get") => (FROM_TEMPLATE, &["200"], ID),
        ("/api/v1/instances", "post") => (FROM_INSTANCE, &["201", "200"], ID),
        ("/api/v1/triggers", "post") => (FROM_TRIGGER, &["201"], ID),
        ("/api/v1/triggers", "get") => (FROM_TRIGGER, &["200"], FIRST),
        ("/api/v1/triggers/{id}", "get") => (FROM_TRIGGER, &["200"], ID),
        ("/api/v1/instances", "get") => (FROM_INSTANCE, &["200"], FIRST),
        (
            "/api/v1/instances/{id}"
            | "/api/v1/instances/{id}/start"
            | "/api/v1/instances/{id}/pause"
            | "/api/v1/instances/{id}/resume"
            | "/api/v1/instances/{id}/cancel",
            "get" | "put",
        ) => (FROM_INSTANCE, &["200"], ID),
        _ => return None,
    })
}

fn add_links(
    path: &str,
    method: &str,
    operation: &mut Value,
    operation_ids: &BTreeMap<(String, String), String>,
) {
    let Some((specs, codes, expression)) = link_sources(path, method) else {
        return;
    };
    let mut links = Map::new();
    for spec in specs {
        // A link to an operation the document does not have would break clients that follow it.
        let Some(id) = operation_ids.get(&(spec.path.to_string(), spec.method.to_string())) else {
            continue;
        };
        let mut link = json!({"operationId": id});
        if let Some(parameter) = spec.parameter {
            link["parameters"] = json!({ parameter: expression });
        }
        if let Some(field) = spec.body_field {
            link["requestBody"] = json!({ field: expression });
        }
        links.insert(spec.name.to_string(), link);
    }
    for code in codes {
        if let Some(response) = operation.pointer_mut(&format!("/responses/{code}")) {
            response["links"] = Value::Object(links.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                if METHODS.contains(&method.as_str()) {
                    out.push((path.clone(), method.clone(), operation));
                }
            }
        }
        out
    }

    #[test]
    fn every_operation_has_a_unique_id_and_described_answers() {
        let doc = document().unwrap();
        let mut ids = HashSet::new();
        for (path, method, operation) in operations(&doc) {
            let id = operation["operationId"].as_str().unwrap();
            assert!(
                ids.insert(id.to_string()),
                "{method} {path}: duplicate id {id}"
            );
            for (code, response) in operation["responses"].as_object().unwrap() {
                let description = response["description"].as_str().unwrap_or_default();
                assert!(!description.is_empty(), "{method} {path} {code}");
            }
        }
    }

    #[test]
    fn authenticated_operations_list_their_problem_answers() {
        let doc = document().unwrap();
        for (path, method, operation) in operations(&doc) {
            if operation.get("security").is_none() {
                continue;
            }
            let responses = operation["responses"].as_object().unwrap();
            assert!(!responses.contains_key("4XX"), "{method} {path}");
            if operation["operationId"] == "create_stream_ticket" {
                let codes: Vec<&String> = responses.keys().collect();
                assert_eq!(
                    codes,
                    ["201", "401"],
                    "any role may ask, nothing else can fail"
                );
                continue;
            }
            for code in ["400", "401", "503"] {
                let schema = &responses[code]["content"]["application/problem+json"]["schema"];
                assert_eq!(
                    schema["$ref"], "#/components/schemas/Problem",
                    "{method} {path} {code}"
                );
            }
            assert_eq!(
                responses.contains_key("403"),
                method != "get",
                "{method} {path}"
            );
            let has_path_id = path.contains('{');
            assert_eq!(
                responses.contains_key("404"),
                has_path_id
                    || method == "post"
                        && (path == "/api/v1/instances" || path == "/api/v1/triggers"),
                "{method} {path}"
            );
        }
        let create = &doc["paths"]["/api/v1/templates"]["post"]["responses"];
        for code in ["409", "413", "415", "422"] {
            assert!(create.get(code).is_some(), "{code}");
        }
    }

    #[test]
    fn query_parameters_are_optional_and_bounded() {
        let doc = document().unwrap();
        let list = doc["paths"]["/api/v1/instances"]["get"]["parameters"]
            .as_array()
            .unwrap();
        for parameter in list {
            assert_eq!(parameter["in"], "query", "{parameter}");
            assert_eq!(parameter["required"], false, "{parameter}");
        }
        let by_name = |name: &str| list.iter().find(|p| p["name"] == name).unwrap();
        assert_eq!(by_name("limit")["schema"]["minimum"], 1);
        assert_eq!(by_name("limit")["schema"]["maximum"], 500);
        assert_eq!(by_name("cursor")["schema"]["format"], "uuid");
        let statuses = by_name("status")["schema"]["enum"].as_array().unwrap();
        assert_eq!(statuses.len(), model::InstanceStatus::ALL.len());
        assert!(statuses.contains(&json!("cancelled")));
    }

    #[test]
    fn last_event_id_is_a_string_of_the_shape_the_streams_accept() {
        let doc = document().unwrap();
        for path in [
            "/api/v1/events/stream",
            "/api/v1/instances/{id}/events/stream",
        ] {
            let parameters = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let header = parameters
                .iter()
                .find(|p| p["name"] == "Last-Event-ID")
                .unwrap();
            assert_eq!(
                header["schema"],
                json!({"type": "string", "pattern": events::LAST_EVENT_ID_PATTERN}),
                "{path}"
            );
            let event = &doc["paths"][path]["get"]["responses"]["200"]["content"]["text/event-stream"]
                ["schema"];
            assert_eq!(
                event["properties"]["data"]["contentSchema"]["$ref"],
                "#/components/schemas/EventData"
            );
        }
    }

    #[test]
    fn the_idempotency_key_is_described_where_it_is_taken() {
        let doc = document().unwrap();
        for (path, method) in [
            ("/api/v1/instances", "post"),
            ("/api/v1/triggers/webhook/{template_id}", "post"),
        ] {
            let parameters = doc["paths"][path][method]["parameters"].as_array().unwrap();
            let key = parameters
                .iter()
                .find(|p| p["name"] == idempotency::HEADER_NAME)
                .unwrap();
            assert_eq!(key["schema"]["pattern"], idempotency::KEY_PATTERN, "{path}");
            assert_eq!(
                key["schema"]["maxLength"],
                idempotency::MAX_KEY_LEN,
                "{path}"
            );
            assert_eq!(key["schema"]["type"], "string", "{path}");
        }
    }

    #[test]
    fn created_resources_link_to_the_operations_that_take_their_id() {
        let doc = document().unwrap();
        let links = &doc["paths"]["/api/v1/templates"]["post"]["responses"]["201"]["links"];
        assert_eq!(links["GetTemplate"]["operationId"], "get_template");
        assert_eq!(
            links["GetTemplate"]["parameters"]["id"],
            "$response.body#/id"
        );
        assert_eq!(
            links["CreateInstance"]["requestBody"]["template_id"],
            "$response.body#/id"
        );
        let links = &doc["paths"]["/api/v1/instances"]["post"]["responses"]["201"]["links"];
        for (name, id) in [
            ("StartInstance", "start_instance"),
            ("SendEvent", "send_event"),
        ] {
            assert_eq!(links[name]["operationId"], id);
        }
        let links =
            &doc["paths"]["/api/v1/instances/{id}/pause"]["put"]["responses"]["200"]["links"];
        assert_eq!(links["ResumeInstance"]["operationId"], "resume_instance");
        let links = &doc["paths"]["/api/v1/instances"]["get"]["responses"]["200"]["links"];
        assert_eq!(
            links["GetInstance"]["parameters"]["id"],
            "$response.body#/items/0/id"
        );
        // Every link names an operation of the document.
        let ids: HashSet<_> = operations(&doc)
            .iter()
            .map(|(_, _, o)| o["operationId"].as_str().unwrap().to_string())
            .collect();
        for (_, _, operation) in operations(&doc) {
            for response in operation["responses"].as_object().unwrap().values() {
                for link in response["links"]
                    .as_object()
                    .into_iter()
                    .flat_map(|l| l.values())
                {
                    assert!(
                        ids.contains(link["operationId"].as_str().unwrap()),
                        "{link}"
                    );
                }
            }
        }
    }

    #[test]
    fn bodies_state_their_constraints() {
        let doc = document().unwrap();
        let schemas = &doc["components"]["schemas"];
        for (schema, field) in [
            ("CreateTemplateBody", "name"),
            ("UpdateTemplateBody", "name"),
            ("SendEventBody", "event"),
        ] {
            let property = &schemas[schema]["properties"][field];
            assert_eq!(
                property["pattern"],
                crate::mapping::NAME_PATTERN,
                "{schema}"
            );
            assert_eq!(property["minLength"], 1, "{schema}");
        }
        let create = &schemas["CreateTemplateBody"];
        assert_eq!(
            create["properties"]["name"]["maxLength"],
            crate::mapping::MAX_NAME_LENGTH
        );
        assert_eq!(
            create["properties"]["definition"]["required"],
            json!(["steps"])
        );
        assert_eq!(create["additionalProperties"], false);
        assert_eq!(
            schemas["CreateInstanceBody"]["properties"]["version"]["minimum"],
            1
        );
        assert!(
            schemas["CreateInstanceBody"]["properties"]["variables"]["type"]
                .as_array()
                .unwrap()
                .contains(&json!("object"))
        );
    }
}
