//! The API's rules through the whole stack: tenants, roles, versions, idempotency, errors.

mod common;

use common::{Backend, TestApp, token_for};
use serde_json::{Value, json};

fn quick_definition(message: &str) -> Value {
    json!({"steps": [{"id": "log", "type": "action", "config": {"action": "log_message", "message": message}}]})
}

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn another_tenant_sees_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template("private", quick_definition("mine"))
        .await;
    let instance = app.start_instance(&template, json!({})).await;
    app.wait_finished(&instance).await;
    let pending = {
        let (status, body) = app
            .post("/api/v1/instances", &json!({"template_id": template}))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    };

    let other = token_for("mallory", "other-tenant", "admin");
    use reqwest::Method;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/templates/{template}"), None),
        (
            Method::PUT,
            format!("/api/v1/templates/{template}"),
            Some(json!({"description": "x"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/templates/{template}"),
            None,
        ),
        (Method::GET, format!("/api/v1/instances/{instance}"), None),
        (
            Method::GET,
            format!("/api/v1/instances/{instance}/steps"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/instances/{pending}/start"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/instances/{pending}/pause"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/instances/{pending}/resume"),
            None,
        ),
        (
            Method::PUT,
            format!("/api/v1/instances/{pending}/cancel"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/instances/{pending}/events"),
            Some(json!({"event": "x"})),
        ),
        (
            Method::GET,
            format!("/api/v1/instances/{pending}/events/stream"),
            None,
        ),
        (
            Method::POST,
            "/api/v1/instances".to_owned(),
            Some(json!({"template_id": template})),
        ),
        (
            Method::POST,
            format!("/api/v1/triggers/webhook/{template}"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in routes {
        let (status, answer) = call(&app, &other, method.clone(), &path, body).await;
        assert_eq!(status, 404, "{method} {path}: {answer}");
        assert_eq!(answer["status"], 404, "problem+json: {answer}");
    }
    let (_, templates) = call(&app, &other, Method::GET, "/api/v1/templates", None).await;
    assert_eq!(templates["items"], json!([]));
    let (_, instances) = call(&app, &other, Method::GET, "/api/v1/instances", None).await;
    assert_eq!(instances["items"], json!([]));
    // Nothing of the owner's changed.
    let (status, body) = app.get(&format!("/api/v1/instances/{pending}")).await;
    assert_eq!((status, body["status"].clone()), (200, json!("pending")));
}
on_both_backends!(another_tenant_sees_nothing);

async fn viewers_only_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template("readable", quick_definition("hi"))
        .await;
    let viewer = token_for("vera", "default", "viewer");
    use reqwest::Method;
    let (status, body) = call(
        &app,
        &viewer,
        Method::POST,
        "/api/v1/templates",
        Some(json!({"name": "x", "definition": quick_definition("x")})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = call(
        &app,
        &viewer,
        Method::POST,
        "/api/v1/instances",
        Some(json!({"template_id": template})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = call(
        &app,
        &viewer,
        Method::GET,
        &format!("/api/v1/templates/{template}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, list) = app.get("/api/v1/instances").await;
    assert_eq!(list["items"], json!([]), "the viewer created nothing");
}
on_both_backends!(viewers_only_read);

async fn instances_pin_their_template_version(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template("versioned", quick_definition("version one"))
        .await;
    let first = app
        .post("/api/v1/instances", &json!({"template_id": template}))
        .await
        .1["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, updated) = app
        .put(
            &format!("/api/v1/templates/{template}"),
            Some(&json!({"definition": quick_definition("version two")})),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["version"], 2);
    let (_, old) = app
        .get(&format!("/api/v1/templates/{template}?version=1"))
        .await;
    assert_eq!(
        old["definition"]["steps"][0]["config"]["message"],
        "version one"
    );

    let (status, _) = app
        .put(&format!("/api/v1/instances/{first}/start"), None)
        .await;
    assert_eq!(status, 200);
    let finished = app.wait_finished(&first).await;
    assert_eq!(finished["template_version"], 1);
    let steps = app.steps(&first).await;
    assert_eq!(steps[0]["input"]["message"], "version one");

    let second = app.start_instance(&template, json!({})).await;
    app.wait_finished(&second).await;
    assert_eq!(
        app.steps(&second).await[0]["input"]["message"],
        "version two"
    );

    // Deleted: new instances are refused, the template is gone from reads.
    let (status, _) = call(
        &app,
        &app.token,
        reqwest::Method::DELETE,
        &format!("/api/v1/templates/{template}"),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let (status, body) = app
        .post("/api/v1/instances", &json!({"template_id": template}))
        .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = app.get(&format!("/api/v1/templates/{template}")).await;
    assert_eq!(status, 404);
    // Instances made before keep their template.
    let (status, body) = app.get(&format!("/api/v1/instances/{first}")).await;
    assert_eq!((status, body["status"].clone()), (200, json!("completed")));
}
on_both_backends!(instances_pin_their_template_version);

async fn idempotency_keys_answer_the_same_instance(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = app
        .create_template("idempotent", quick_definition("once"))
        .await;
    let body = json!({"template_id": template, "variables": {"n": 1}});
    let send = |body: Value| {
        app.client
            .post(app.url("/api/v1/instances"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let first = send(body.clone()).await.unwrap();
    assert_eq!(first.status(), 201);
    let first: Value = first.json().await.unwrap();
    let again = send(body.clone()).await.unwrap();
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    let other = send(json!({"template_id": template, "variables": {"n": 2}}))
        .await
        .unwrap();
    assert_eq!(other.status(), 409);
    assert_eq!(
        other.headers()["content-type"].to_str().unwrap(),
        "application/problem+json"
    );
    let (_, list) = app.get("/api/v1/instances").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}
on_both_backends!(idempotency_keys_answer_the_same_instance);

async fn invalid_definitions_list_every_problem_with_its_path(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "broken", "definition": {"steps": [
                {"id": "a", "type": "action", "config": {"action": "log_message", "message": "x"}, "next_steps": ["log_sucess"]},
                {"id": "a", "type": "teleport"}
            ]}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let paths: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"/definition/steps/0/next_steps/0"),
        "{paths:?}"
    );
    assert!(
        paths.iter().any(|p| p.starts_with("/definition/steps/1")),
        "{paths:?}"
    );
    let (status, body) = app
        .post(
            "/api/v1/templates",
            &json!({"name": "x", "definition": {"steps": []}, "colour": "red"}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (_, list) = app.get("/api/v1/templates").await;
    assert_eq!(list["items"], json!([]), "nothing was stored");
}
on_both_backends!(invalid_definitions_list_every_problem_with_its_path);

async fn lists_page_newest_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut made = Vec::new();
    for n in 0..5 {
        made.push(
            app.create_template(&format!("t{n}"), quick_definition("x"))
                .await,
        );
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut path = "/api/v1/templates?limit=2".to_owned();
    loop {
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_owned());
        }
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/templates?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, made);
}
on_both_backends!(lists_page_newest_first);
