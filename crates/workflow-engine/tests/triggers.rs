//! Triggers end to end: trigger configurations over REST, webhook calls signed with a
//! trigger's secret, and cron schedules that start one instance per tick however many
//! schedulers run.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use common::{Backend, Options, TestApp, token_for};
use serde_json::{Value, json};
use workflow_engine::{App, Mode, Settings};

const TRIGGER_SECRET_KEY: &str = "3b9e1c7a5d2f8e4b6a0c9d1e7f3a5b8c2d4e6f0a1b3c5d7e9f2a4b6c8d0e1f3a";

async fn spawn(backend: Backend) -> TestApp {
    TestApp::spawn_with(
        backend,
        Options {
            vars: vec![("TRIGGER_SECRET_KEY", TRIGGER_SECRET_KEY.to_owned())],
            ..Options::default()
        },
    )
    .await
}

fn quick_definition() -> Value {
    json!({"steps": [
        {"id": "hello", "type": "action", "config": {"action": "log_message", "message": "hello {{ variables.order }}"}}
    ]})
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.expect("request failed");
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create_trigger(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    send(
        app.client
            .post(app.url("/api/v1/triggers"))
            .bearer_auth(token)
            .json(body),
    )
    .await
}

/// A webhook trigger on `template_id`, created by the app's admin: the answer, with its secret.
async fn create_webhook(app: &TestApp, template_id: &str) -> Value {
    let (status, created) = create_trigger(
        app,
        &app.token,
        &json!({"template_id": template_id, "type": "webhook"}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    created
}

/// A webhook call signed with `secret`, `timestamp` seconds since the epoch.
fn signed_call(
    app: &TestApp,
    template_id: &str,
    secret: &str,
    timestamp: i64,
    body: &str,
) -> reqwest::RequestBuilder {
    let timestamp = timestamp.to_string();
    let signature = scheduler::sign_webhook(secret.as_bytes(), &timestamp, body.as_bytes());
    webhook_call(app, template_id, &signature, &timestamp, body)
}

fn webhook_call(
    app: &TestApp,
    template_id: &str,
    signature: &str,
    timestamp: &str,
    body: &str,
) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(&format!("/api/v1/triggers/webhook/{template_id}")))
        .header("content-type", "application/json")
        .header("x-signature", signature)
        .header("x-signature-timestamp", timestamp)
        .body(body.to_owned())
}

async fn webhook_secret_is_shown_once_and_signs_calls(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("orders", quick_definition()).await;
    let created = create_webhook(&app, &template_id).await;
    assert_eq!(created["type"], "webhook");
    assert_eq!(created["enabled"], true);
    assert_eq!(created["template_id"], template_id.as_str());
    let secret = created["config"]["secret"]
        .as_str()
        .expect("the secret is shown at creation")
        .to_owned();
    assert!(secret.len() >= 32, "{secret}");
    let trigger_id = created["id"].as_str().unwrap().to_owned();

    // Never again: not by id, not in the list.
    let (status, fetched) = app.get(&format!("/api/v1/triggers/{trigger_id}")).await;
    assert_eq!(status, 200, "{fetched}");
    assert!(fetched["config"].get("secret").is_none(), "{fetched}");
    assert!(!fetched.to_string().contains(&secret));
    let (status, listed) = app.get("/api/v1/triggers").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"][0]["id"], trigger_id.as_str());
    assert!(!listed.to_string().contains(&secret));
    // Nor in the database: it is stored encrypted.
    if backend == Backend::Distributed {
        let stored = stored_trigger_text(&app, &trigger_id).await;
        assert!(!stored.contains(&secret), "{stored}");
    }

    // A signed call, no token: the instance runs with the body as its variables.
    let body = r#"{"order": 42, "items": ["a", "b"]}"#;
    let (status, accepted) = send(signed_call(
        &app,
        &template_id,
        &secret,
        Utc::now().timestamp(),
        body,
    ))
    .await;
    assert_eq!(status, 202, "{accepted}");
    let instance_id = accepted["instance_id"].as_str().unwrap().to_owned();
    let instance = app.wait_finished(&instance_id).await;
    assert_eq!(instance["status"], "completed", "{instance}");
    assert_eq!(
        instance["variables"],
        json!({"order": 42, "items": ["a", "b"]})
    );
    assert_eq!(instance["template_id"], template_id.as_str());

    // A wrong secret, a changed body, a stale or future timestamp: 401.
    let now = Utc::now().timestamp();
    let wrong_secret = signed_call(&app, &template_id, "whsec_not-the-right-secret", now, body);
    assert_eq!(send(wrong_secret).await.0, 401);
    let timestamp = now.to_string();
    let signature = scheduler::sign_webhook(secret.as_bytes(), &timestamp, body.as_bytes());
    let tampered = webhook_call(
        &app,
        &template_id,
        &signature,
        &timestamp,
        r#"{"order": 43, "items": ["a", "b"]}"#,
    );
    assert_eq!(send(tampered).await.0, 401);
    // The timestamp is part of what is signed.
    let moved = webhook_call(&app, &template_id, &signature, &(now - 1).to_string(), body);
    assert_eq!(send(moved).await.0, 401);
    // Well past the five minutes either way: the test's own run time must not matter.
    for offset in [-330, 330] {
        let stale = signed_call(
            &app,
            &template_id,
            &secret,
            Utc::now().timestamp() + offset,
            body,
        );
        let (status, problem) = send(stale).await;
        assert_eq!(status, 401, "{offset}: {problem}");
    }
    let malformed = webhook_call(&app, &template_id, "sha256=nothex", &timestamp, body);
    assert_eq!(send(malformed).await.0, 401);
    // A signature without its timestamp.
    let half = app
        .client
        .post(app.url(&format!("/api/v1/triggers/webhook/{template_id}")))
        .header("content-type", "application/json")
        .header("x-signature", &signature)
        .body(body.to_owned());
    assert_eq!(send(half).await.0, 401);
    // Another template's webhook: no trigger there, no match.
    let other_template = app.create_template("other", quick_definition()).await;
    let elsewhere = signed_call(&app, &other_template, &secret, now, body);
    assert_eq!(send(elsewhere).await.0, 401);
    // Neither a signature nor a token.
    let anonymous = app
        .client
        .post(app.url(&format!("/api/v1/triggers/webhook/{template_id}")))
        .json(&json!({"order": 1}));
    assert_eq!(send(anonymous).await.0, 401);

    // A token still works as before.
    let (status, accepted) = app
        .post(
            &format!("/api/v1/triggers/webhook/{template_id}"),
            &json!({"order": 7}),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let instance = app
        .wait_finished(accepted["instance_id"].as_str().unwrap())
        .await;
    assert_eq!(instance["variables"], json!({"order": 7}));

    // A deleted trigger's secret no longer opens the door.
    let (status, _) = send(
        app.client
            .delete(app.url(&format!("/api/v1/triggers/{trigger_id}")))
            .bearer_auth(&app.token),
    )
    .await;
    assert_eq!(status, 204);
    let after_delete = signed_call(&app, &template_id, &secret, Utc::now().timestamp(), body);
    assert_eq!(send(after_delete).await.0, 401);
    let (status, _) = app.get(&format!("/api/v1/triggers/{trigger_id}")).await;
    assert_eq!(status, 404);
}
on_both_backends!(webhook_secret_is_shown_once_and_signs_calls);

async fn stored_trigger_text(app: &TestApp, trigger_id: &str) -> String {
    use sqlx::Row;
    let pool = sqlx::PgPool::connect(&app.database_url).await.unwrap();
    let row = sqlx::query(
        "SELECT config::text AS config, encode(secret_ciphertext, 'escape') AS secret \
         FROM workflow.triggers WHERE id = $1::uuid",
    )
    .bind(trigger_id)
    .fetch_one(&pool)
    .await
    .unwrap();
    let config: String = row.get("config");
    let secret: Option<String> = row.get("secret");
    assert!(secret.is_some(), "the secret is stored");
    format!("{config} {}", secret.unwrap_or_default())
}

async fn signed_webhooks_are_idempotent_and_use_the_callers_secret(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("orders", quick_definition()).await;
    let (status, problem) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": template_id, "type": "webhook", "config": {"secret": "too-short"}}),
    )
    .await;
    assert_eq!(status, 422, "{problem}");
    assert_eq!(problem["errors"][0]["path"], "/config/secret", "{problem}");

    let secret = "my-own-webhook-secret-0123";
    let (status, created) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": template_id, "type": "webhook", "config": {"secret": secret}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["config"]["secret"], secret);

    let body = r#"{"order": 1}"#;
    let now = Utc::now().timestamp();
    let first = signed_call(&app, &template_id, secret, now, body).header("idempotency-key", "k-1");
    let (status, accepted) = send(first).await;
    assert_eq!(status, 202, "{accepted}");
    let replay =
        signed_call(&app, &template_id, secret, now, body).header("idempotency-key", "k-1");
    let (status, again) = send(replay).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["instance_id"], accepted["instance_id"]);
    let other_body = r#"{"order": 2}"#;
    let conflict =
        signed_call(&app, &template_id, secret, now, other_body).header("idempotency-key", "k-1");
    assert_eq!(send(conflict).await.0, 409);

    let (status, instances) = app
        .get(&format!("/api/v1/instances?template_id={template_id}"))
        .await;
    assert_eq!(status, 200, "{instances}");
    assert_eq!(
        instances["items"].as_array().unwrap().len(),
        1,
        "{instances}"
    );
}
on_both_backends!(signed_webhooks_are_idempotent_and_use_the_callers_secret);

async fn triggers_belong_to_their_tenant(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("orders", quick_definition()).await;
    let created = create_webhook(&app, &template_id).await;
    let trigger_id = created["id"].as_str().unwrap();
    let secret = created["config"]["secret"].as_str().unwrap();

    let globex = token_for("mallory", "globex", "admin");
    let path = format!("/api/v1/triggers/{trigger_id}");
    let (status, _) = send(app.client.get(app.url(&path)).bearer_auth(&globex)).await;
    assert_eq!(status, 404);
    let (status, _) = send(app.client.delete(app.url(&path)).bearer_auth(&globex)).await;
    assert_eq!(status, 404);
    let (status, listed) = send(
        app.client
            .get(app.url("/api/v1/triggers"))
            .bearer_auth(&globex),
    )
    .await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["items"], json!([]));
    // Nor can another tenant hang a trigger on this tenant's template.
    let (status, problem) = create_trigger(
        &app,
        &globex,
        &json!({"template_id": template_id, "type": "webhook"}),
    )
    .await;
    assert_eq!(status, 404, "{problem}");

    // A signed call lands in the trigger's tenant.
    let call = signed_call(&app, &template_id, secret, Utc::now().timestamp(), "{}");
    let (status, accepted) = send(call).await;
    assert_eq!(status, 202, "{accepted}");
    let instance_path = format!(
        "/api/v1/instances/{}",
        accepted["instance_id"].as_str().unwrap()
    );
    let (status, _) = app.get(&instance_path).await;
    assert_eq!(status, 200);
    let (status, _) = send(app.client.get(app.url(&instance_path)).bearer_auth(&globex)).await;
    assert_eq!(status, 404);
}
on_both_backends!(triggers_belong_to_their_tenant);

async fn viewers_read_triggers_but_do_not_change_them(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("orders", quick_definition()).await;
    let viewer = token_for("vera", "default", "viewer");
    let (status, problem) = create_trigger(
        &app,
        &viewer,
        &json!({"template_id": template_id, "type": "webhook"}),
    )
    .await;
    assert_eq!(status, 403, "{problem}");

    let (status, created) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": template_id, "type": "schedule", "config": {"cron": "0 0 1 1 *"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let path = format!("/api/v1/triggers/{}", created["id"].as_str().unwrap());
    let (status, fetched) = send(app.client.get(app.url(&path)).bearer_auth(&viewer)).await;
    assert_eq!(status, 200, "{fetched}");
    assert_eq!(
        fetched["config"],
        json!({"cron": "0 0 1 1 *", "timezone": "UTC", "variables": {}})
    );
    let (status, _) = send(app.client.delete(app.url(&path)).bearer_auth(&viewer)).await;
    assert_eq!(status, 403);
    let (status, _) = app.get(&path).await;
    assert_eq!(status, 200);
}
on_both_backends!(viewers_read_triggers_but_do_not_change_them);

async fn bad_trigger_configurations_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("orders", quick_definition()).await;
    for (body, path) in [
        (
            json!({"template_id": template_id, "type": "schedule", "config": {"cron": "61 * * * *"}}),
            "/config/cron",
        ),
        (
            json!({"template_id": template_id, "type": "schedule", "config": {"cron": "* * * *"}}),
            "/config/cron",
        ),
        (
            json!({"template_id": template_id, "type": "schedule", "config": {}}),
            "/config/cron",
        ),
        (
            json!({"template_id": template_id, "type": "schedule", "config": {"cron": "* * * * *", "timezone": "Moon/Tranquility"}}),
            "/config/timezone",
        ),
        (
            json!({"template_id": template_id, "type": "schedule", "config": {"cron": "* * * * *", "variables": 3}}),
            "/config/variables",
        ),
        (
            json!({"template_id": template_id, "type": "email", "config": {}}),
            "/type",
        ),
    ] {
        let (status, problem) = create_trigger(&app, &app.token, &body).await;
        assert_eq!(status, 422, "{body}: {problem}");
        assert_eq!(problem["errors"][0]["path"], path, "{body}: {problem}");
    }
    let (status, problem) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": template_id, "type": "webhook", "secret": "misplaced-secret-0123"}),
    )
    .await;
    assert_eq!(status, 422, "unknown fields are refused: {problem}");
    let (status, _) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": uuid::Uuid::now_v7(), "type": "webhook"}),
    )
    .await;
    assert_eq!(status, 404);
}
on_both_backends!(bad_trigger_configurations_are_refused);

async fn triggers_page_newest_first(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("orders", quick_definition()).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let created = create_webhook(&app, &template_id).await;
        ids.push(created["id"].as_str().unwrap().to_owned());
    }
    ids.reverse();
    let (status, first) = app.get("/api/v1/triggers?limit=2").await;
    assert_eq!(status, 200, "{first}");
    let first_ids: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(first_ids, [ids[0].as_str(), ids[1].as_str()]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    let (status, rest) = app
        .get(&format!("/api/v1/triggers?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["items"][0]["id"], ids[2].as_str());
    assert_eq!(rest["next_cursor"], Value::Null);
}
on_both_backends!(triggers_page_newest_first);

/// `?type=` filters by one of the two types; an empty or unknown one is refused by name, not
/// read as "any type" (schemathesis found `?type=` answered 200).
async fn the_trigger_type_filter_is_checked(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("orders", quick_definition()).await;
    create_webhook(&app, &template_id).await;

    let (status, webhooks) = app.get("/api/v1/triggers?type=webhook").await;
    assert_eq!(status, 200, "{webhooks}");
    assert_eq!(webhooks["items"].as_array().unwrap().len(), 1);
    let (status, schedules) = app.get("/api/v1/triggers?type=schedule").await;
    assert_eq!(status, 200, "{schedules}");
    assert_eq!(schedules["items"], json!([]));
    for bad in ["", "cron"] {
        let (status, problem) = app.get(&format!("/api/v1/triggers?type={bad}")).await;
        assert_eq!(status, 422, "{bad:?}: {problem}");
        assert_eq!(problem["errors"][0]["path"], "/type", "{problem}");
    }
}
on_both_backends!(the_trigger_type_filter_is_checked);

async fn instances_of(app: &TestApp, template_id: &str) -> Vec<Value> {
    let (status, listed) = app
        .get(&format!(
            "/api/v1/instances?template_id={template_id}&limit=500"
        ))
        .await;
    assert_eq!(status, 200, "{listed}");
    listed["items"].as_array().cloned().unwrap_or_default()
}

async fn a_schedule_starts_an_instance_each_tick(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("ticker", quick_definition()).await;
    let started = Utc::now();
    let (status, created) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": template_id, "type": "schedule",
                "config": {"cron": "* * * * * *", "variables": {"order": "tick"}}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["config"]["timezone"], "UTC");
    let trigger_path = format!("/api/v1/triggers/{}", created["id"].as_str().unwrap());

    let mut seen = Vec::new();
    for _ in 0..200 {
        seen = instances_of(&app, &template_id).await;
        if seen.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen.len() >= 3, "only {} instances: {seen:?}", seen.len());
    let (status, _) = send(
        app.client
            .delete(app.url(&trigger_path))
            .bearer_auth(&app.token),
    )
    .await;
    assert_eq!(status, 204);
    let stopped = Utc::now();

    let instances = instances_of(&app, &template_id).await;
    // One per tick: no more than the ticks between creation and deletion.
    let ticks = stopped.timestamp() - started.timestamp() + 1;
    assert!(
        instances.len() as i64 <= ticks,
        "{} instances in {ticks} ticks",
        instances.len()
    );
    for instance in instances.iter().take(3) {
        let id = instance["id"].as_str().unwrap();
        let finished = app.wait_finished(id).await;
        assert_eq!(finished["status"], "completed", "{finished}");
        assert_eq!(finished["variables"], json!({"order": "tick"}));
    }
    // Deleted: no more ticks.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        instances_of(&app, &template_id).await.len(),
        instances.len()
    );
}
on_both_backends!(a_schedule_starts_an_instance_each_tick);

async fn a_schedule_stops_when_its_template_is_deleted(backend: Backend) {
    let app = spawn(backend).await;
    let template_id = app.create_template("doomed", quick_definition()).await;
    let (status, created) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": template_id, "type": "schedule", "config": {"cron": "* * * * * *"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert!(created["next_fire_at"].is_string(), "{created}");
    let (status, _) = send(
        app.client
            .delete(app.url(&format!("/api/v1/templates/{template_id}")))
            .bearer_auth(&app.token),
    )
    .await;
    assert_eq!(status, 204);

    let path = format!("/api/v1/triggers/{}", created["id"].as_str().unwrap());
    let mut trigger = Value::Null;
    for _ in 0..100 {
        let (status, body) = app.get(&path).await;
        assert_eq!(status, 200, "{body}");
        trigger = body;
        if trigger.get("next_fire_at").is_none() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(trigger.get("next_fire_at").is_none(), "{trigger}");
    let before = instances_of(&app, &template_id).await.len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(instances_of(&app, &template_id).await.len(), before);
}
on_both_backends!(a_schedule_stops_when_its_template_is_deleted);

/// Two schedulers share a database only on Postgres (the embedded SQLite file is one process's).
macro_rules! on_postgres {
    ($behaviour:ident) => {
        mod $behaviour {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn distributed() {
                super::$behaviour(common::Backend::Distributed).await;
            }
        }
    };
}

/// Runs another scheduler on the test's database until the returned sender is dropped.
async fn second_scheduler(app: &TestApp) -> tokio::sync::oneshot::Sender<()> {
    let vars: HashMap<String, String> = [
        ("HOST", "127.0.0.1".to_owned()),
        ("GRPC_PORT", "0".to_owned()),
        ("ENVIRONMENT", "test".to_owned()),
        ("JWT_SECRET", common::JWT_SECRET.to_owned()),
        ("LOG_FORMAT", "pretty".to_owned()),
        ("WORKFLOW_CHECK_INTERVAL", "1".to_owned()),
        ("DATABASE_URL", app.database_url.clone()),
        ("REDIS_URL", testkit::redis_url()),
        ("REDIS_PREFIX", testkit::unique_prefix()),
        ("TRIGGER_SECRET_KEY", TRIGGER_SECRET_KEY.to_owned()),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let settings = Settings::from_vars(&vars).unwrap();
    let scheduler = App::build(&settings, Mode::Scheduler).await.unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(error) = scheduler.run_until_stopped(shutdown).await {
            eprintln!("second scheduler ended with an error: {error:#}");
        }
    });
    stop
}

async fn two_schedulers_start_one_instance_per_tick(backend: Backend) {
    let app = spawn(backend).await;
    let _second = second_scheduler(&app).await;
    let template_id = app.create_template("ticker", quick_definition()).await;
    let started = Utc::now();
    let (status, created) = create_trigger(
        &app,
        &app.token,
        &json!({"template_id": template_id, "type": "schedule", "config": {"cron": "* * * * * *"}}),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let path = format!("/api/v1/triggers/{}", created["id"].as_str().unwrap());
    let (status, _) = send(app.client.delete(app.url(&path)).bearer_auth(&app.token)).await;
    assert_eq!(status, 204);
    let stopped = Utc::now();

    let instances = instances_of(&app, &template_id).await;
    let ticks = stopped.timestamp() - started.timestamp() + 1;
    // Two schedulers each firing every tick would make about twice as many.
    assert!(instances.len() >= 3, "{} instances", instances.len());
    assert!(
        instances.len() as i64 <= ticks,
        "{} instances in {ticks} ticks: a tick fired twice",
        instances.len()
    );
}
on_postgres!(two_schedulers_start_one_instance_per_tick);
