use std::collections::HashSet;

use serde_json::json;

use super::*;
use crate::idempotency;

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
                || method == "post" && (path == "/api/v1/instances" || path == "/api/v1/triggers"),
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
    let links = &doc["paths"]["/api/v1/instances/{id}/pause"]["put"]["responses"]["200"]["links"];
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
