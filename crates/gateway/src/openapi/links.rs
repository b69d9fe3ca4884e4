//! Links from a created or read resource to the operations that take its id, so a client (or a
//! fuzzer's stateful phase) can follow them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// `(path, method)` → operationId, for links.
pub(super) fn operation_ids(document: &Value) -> BTreeMap<(String, String), String> {
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

pub(super) fn add_links(
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
