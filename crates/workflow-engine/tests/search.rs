//! Searching instances through the REST API, on both backends: time bounds and
//! `variables.<path>=<value>` equality, typed as JSON scalars, combined with the other filters
//! and paged; bad filters are problems naming their parameter.

mod common;

use common::{Backend, TestApp};
use serde_json::{Value, json};

/// `application/x-www-form-urlencoded` of the pairs: unreserved bytes as they are, every other
/// byte percent-encoded (so `+`, `&`, `=`, quotes and spaces arrive as written).
fn encode(query: &[(&str, &str)]) -> String {
    let escape = |text: &str| {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    query
        .iter()
        .map(|(k, v)| format!("{}={}", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

async fn search(app: &TestApp, query: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .client
        .get(app.url(&format!("/api/v1/instances?{}", encode(query))))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("request failed");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The ids a search answers, newest first.
async fn found(app: &TestApp, query: &[(&str, &str)]) -> Vec<String> {
    let (status, body) = search(app, query).await;
    assert_eq!(status, 200, "{query:?}: {body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn create(app: &TestApp, template_id: &str, variables: Value) -> Value {
    let (status, body) = app
        .post(
            "/api/v1/instances",
            &json!({"template_id": template_id, "variables": variables}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body
}

fn id(instance: &Value) -> String {
    instance["id"].as_str().unwrap().to_owned()
}

async fn variables_are_matched_by_path_type_and_value(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template(
            "search",
            json!({"steps": [{"id": "a", "type": "action", "config": {"action": "noop"}}]}),
        )
        .await;
    let ann = create(&app, &template, json!({"email": "ann@example.com", "order": {"total": 42, "express": true, "note": null}, "code": "42"})).await;
    let bob = create(
        &app,
        &template,
        json!({"email": "bob@example.com", "order": {"total": 42.0, "express": false}, "code": 42}),
    )
    .await;
    let eve = create(
        &app,
        &template,
        json!({"email": "eve@example.com", "order": {"total": 7}, "tags-list": {"a_b": "x y"}}),
    )
    .await;

    assert_eq!(
        found(&app, &[("variables.email", "ann@example.com")]).await,
        [id(&ann)]
    );
    // Numbers by value (42 = 42.0), newest first.
    assert_eq!(
        found(&app, &[("variables.order.total", "42")]).await,
        [id(&bob), id(&ann)]
    );
    // The text "42" is the number; the quoted "42" is the string.
    assert_eq!(found(&app, &[("variables.code", "42")]).await, [id(&bob)]);
    assert_eq!(
        found(&app, &[("variables.code", "\"42\"")]).await,
        [id(&ann)]
    );
    assert_eq!(
        found(&app, &[("variables.order.express", "true")]).await,
        [id(&ann)]
    );
    assert_eq!(
        found(&app, &[("variables.order.express", "false")]).await,
        [id(&bob)]
    );
    assert_eq!(
        found(&app, &[("variables.order.note", "null")]).await,
        [id(&ann)]
    );
    assert_eq!(
        found(&app, &[("variables.tags-list.a_b", "x y")]).await,
        [id(&eve)]
    );
    // All filters hold, with the other filters too.
    let both = [
        ("variables.order.total", "42"),
        ("variables.email", "bob@example.com"),
    ];
    assert_eq!(found(&app, &both).await, [id(&bob)]);
    let with_status = [
        ("variables.email", "bob@example.com"),
        ("status", "running"),
    ];
    assert!(found(&app, &with_status).await.is_empty());
    let with_template = [
        ("variables.email", "bob@example.com"),
        ("template_id", template.as_str()),
    ];
    assert_eq!(found(&app, &with_template).await, [id(&bob)]);
    assert!(
        found(&app, &[("variables.email", "nobody@example.com")])
            .await
            .is_empty()
    );
    // A path that leads into a value that is not an object matches nothing.
    assert!(found(&app, &[("variables.email.x", "1")]).await.is_empty());

    // Pages keep the filter.
    let (_, first) = search(&app, &[("variables.order.total", "42"), ("limit", "1")]).await;
    assert_eq!(first["items"][0]["id"], bob["id"]);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let next = [
        ("variables.order.total", "42"),
        ("limit", "1"),
        ("cursor", cursor.as_str()),
    ];
    assert_eq!(found(&app, &next).await, [id(&ann)]);
}
on_both_backends!(variables_are_matched_by_path_type_and_value);

async fn times_bound_creation_and_update(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template(
            "times",
            json!({"steps": [{"id": "a", "type": "action", "config": {"action": "noop"}}]}),
        )
        .await;
    let first = create(&app, &template, json!({"n": 1})).await;
    let second = create(&app, &template, json!({"n": 2})).await;
    let third = create(&app, &template, json!({"n": 3})).await;
    let at = |i: &Value| i["created_at"].as_str().unwrap().to_owned();

    assert_eq!(
        found(&app, &[("created_after", &at(&first))]).await,
        [id(&third), id(&second)]
    );
    assert_eq!(
        found(&app, &[("created_before", &at(&third))]).await,
        [id(&second), id(&first)]
    );
    let between = [
        ("created_after", at(&first)),
        ("created_before", at(&third)),
    ];
    let between: Vec<(&str, &str)> = between.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(found(&app, &between).await, [id(&second)]);

    // Starting one updates it after every creation.
    let (status, body) = app
        .put(&format!("/api/v1/instances/{}/start", id(&first)), None)
        .await;
    assert_eq!(status, 200, "{body}");
    app.wait_finished(&id(&first)).await;
    assert_eq!(
        found(&app, &[("updated_after", &at(&third))]).await,
        [id(&first)]
    );
    // Offsets are times like any other.
    assert_eq!(
        found(&app, &[("created_after", "2000-01-01T01:00:00+01:00")])
            .await
            .len(),
        3
    );
    assert!(
        found(&app, &[("created_after", "2999-01-01T00:00:00Z")])
            .await
            .is_empty()
    );
}
on_both_backends!(times_bound_creation_and_update);

async fn bad_filters_name_their_parameter(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (query, path) in [
        (vec![("variables.a b", "1")], "/variables.a b"),
        (vec![("variables.", "1")], "/variables."),
        (vec![("variables.a..b", "1")], "/variables.a..b"),
        (vec![("variables.a'b", "1")], "/variables.a'b"),
        (vec![("variables.list", "[1]")], "/variables.list"),
        (vec![("variables.obj", "{\"a\": 1}")], "/variables.obj"),
        (
            vec![("variables.a", "1"), ("variables.a.b", "2")],
            "/variables.a.b",
        ),
        (
            vec![("variables.a", "1"), ("variables.a", "2")],
            "/variables.a",
        ),
        (vec![("created_after", "yesterday")], "/created_after"),
        (
            vec![("created_before", "2026-13-01T00:00:00Z")],
            "/created_before",
        ),
        (vec![("updated_after", "2026-12-01")], "/updated_after"),
    ] {
        let (status, body) = search(&app, &query).await;
        assert_eq!(status, 422, "{query:?}: {body}");
        assert_eq!(body["type"], "urn:chorus:problem:invalid");
        assert_eq!(body["errors"][0]["path"], path, "{query:?}: {body}");
    }
}
on_both_backends!(bad_filters_name_their_parameter);
