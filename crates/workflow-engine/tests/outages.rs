//! Calm under outages: the split services (gateway, scheduler, worker) run with Postgres and
//! Redis reached through proxies (`testkit::proxy`) that the test cuts and restores, so the
//! shared servers never stop. Instances are started under load before and during the outage;
//! while Postgres is cut the API answers 503 with `Retry-After` within 2 s and `/health` names
//! the database; after the restore every instance completes, each step once, and a client that
//! retried its refused requests with the same `Idempotency-Key` has exactly one instance per
//! key. Only the split services are tested: the embedded engine has no dependency to lose.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Backend, Options, TestApp};
use serde_json::{Value, json};
use testkit::proxy::{FaultProxy, address_of};

/// The answer the issue asks for while a dependency is down.
const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long each dependency stays cut.
const OUTAGE: Duration = Duration::from_secs(4);
/// Instances started before the cut; more are started by the load during it.
const BEFORE_CUT: usize = 20;

struct Outage {
    app: TestApp,
    database: FaultProxy,
    redis: FaultProxy,
}

async fn spawn() -> Outage {
    let database_url = testkit::fresh_postgres_url().await.expect("a database");
    let database = FaultProxy::start(address_of(&database_url, 5432).await.expect("address"))
        .await
        .expect("the database proxy");
    let redis_url = testkit::redis_url();
    let redis = FaultProxy::start(address_of(&redis_url, 6379).await.expect("address"))
        .await
        .expect("the redis proxy");
    let app = TestApp::spawn_with(
        Backend::Distributed,
        Options {
            database_url: Some(database.url_for(&database_url)),
            vars: vec![
                ("REDIS_URL", redis.url_for(&redis_url)),
                // Deliveries lost with a connection come back after the lease, not 30 s later.
                ("JOB_LEASE_SECONDS", "3".to_owned()),
            ],
            ..Options::default()
        },
    )
    .await;
    Outage {
        app,
        database,
        redis,
    }
}

/// A step before, a timer across the outage, a step after.
async fn create_template(app: &TestApp) -> String {
    app.create_template(
        "through-the-outage",
        json!({"steps": [
            {"id": "first", "type": "action", "config": {"action": "log_message", "message": "started"}, "next_steps": ["pause"]},
            {"id": "pause", "type": "wait", "config": {"wait_type": "duration", "duration": "1s"}, "next_steps": ["last"]},
            {"id": "last", "type": "action", "config": {"action": "noop"}}
        ]}),
    )
    .await
}

/// What one `POST /api/v1/instances` answered.
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: Value,
    took: Duration,
}

async fn start_keyed(app: &TestApp, template_id: &str, key: &str) -> Answer {
    let began = Instant::now();
    let response = app
        .client
        .post(app.url("/api/v1/instances"))
        .bearer_auth(&app.token)
        .header("Idempotency-Key", key)
        .json(&json!({"template_id": template_id, "variables": {"key": key}, "start": true}))
        .send()
        .await
        .expect("the gateway answers");
    answer(response, began).await
}

async fn get(app: &TestApp, path: &str) -> Answer {
    let began = Instant::now();
    let response = app
        .client
        .get(app.url(path))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("the gateway answers");
    answer(response, began).await
}

async fn answer(response: reqwest::Response, began: Instant) -> Answer {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        retry_after,
        body,
        took: began.elapsed(),
    }
}

/// Starts an instance under a new key every 50 ms until stopped, keeping each key's first
/// answer (a refusal is retried after the outage, as a client would).
fn load(
    app: Arc<TestApp>,
    template_id: String,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<BTreeMap<String, u16>> {
    tokio::spawn(async move {
        let mut answers = BTreeMap::new();
        let mut n = 0;
        while !stop.load(Ordering::Relaxed) {
            let key = format!("load-{n}");
            n += 1;
            let answer = start_keyed(&app, &template_id, &key).await;
            assert!(
                matches!(answer.status, 201 | 503),
                "a start under load answered {} {}",
                answer.status,
                answer.body
            );
            answers.insert(key, answer.status);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        answers
    })
}

/// Waits for `/health` to answer `status` with `check` in `checks`.
async fn wait_health(app: &TestApp, status: u16, check: (&str, &str)) {
    let mut last = Value::Null;
    for _ in 0..200 {
        let health = get(app, "/health").await;
        if health.status == status && health.body["checks"][check.0] == check.1 {
            return;
        }
        last = health.body;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/health never answered {status} with {check:?}; last: {last}");
}

/// Retries every key whose start was refused, then checks that each key has one instance,
/// that no other instance exists, and that each completed running every step once.
async fn every_instance_completes(app: &TestApp, template_id: &str, keys: BTreeSet<String>) {
    let mut ids = BTreeSet::new();
    for key in &keys {
        let mut started = start_keyed(app, template_id, key).await;
        for _ in 0..50 {
            if started.status != 503 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            started = start_keyed(app, template_id, key).await;
        }
        assert!(
            matches!(started.status, 200 | 201),
            "retrying {key} answered {} {}",
            started.status,
            started.body
        );
        assert_eq!(started.body["variables"]["key"], key.as_str());
        ids.insert(started.body["id"].as_str().expect("an id").to_owned());
    }
    assert_eq!(ids.len(), keys.len(), "one instance per key");

    let listed = app.get("/api/v1/instances?limit=500").await;
    assert_eq!(listed.0, 200, "{}", listed.1);
    let listed: BTreeSet<String> = listed.1["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(listed, ids, "no instance lost, none started twice");

    for id in &ids {
        let finished = app.wait_finished(id).await;
        assert_eq!(finished["status"], "completed", "{finished}");
        let steps: Vec<String> = app
            .steps(id)
            .await
            .iter()
            .map(|step| step["step_id"].as_str().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(steps, ["first", "pause", "last"], "each step once in {id}");
    }
}

/// Starts the instances before the cut and the load; answers the keys used so far.
async fn start_before_cut(app: &TestApp, template_id: &str) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for n in 0..BEFORE_CUT {
        let key = format!("before-{n}");
        let started = start_keyed(app, template_id, &key).await;
        assert_eq!(started.status, 201, "{}", started.body);
        keys.insert(key);
    }
    keys
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_postgres_outage_is_answered_503_and_every_instance_completes() {
    let Outage {
        app,
        database,
        redis: _redis,
    } = spawn().await;
    let app = Arc::new(app);
    let template_id = create_template(&app).await;
    let mut keys = start_before_cut(&app, &template_id).await;
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(app.clone(), template_id.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    database.cut().await;
    let cut_at = Instant::now();
    let mut probes = 0;
    while cut_at.elapsed() < OUTAGE {
        let key = format!("probe-{probes}");
        probes += 1;
        keys.insert(key.clone());
        let started = start_keyed(&app, &template_id, &key).await;
        let listed = get(&app, "/api/v1/instances?limit=5").await;
        for (what, answer) in [("POST", &started), ("GET", &listed)] {
            assert_eq!(
                answer.status, 503,
                "{what} while the database is cut: {}",
                answer.body
            );
            assert!(
                answer.retry_after.is_some(),
                "{what} 503 without Retry-After"
            );
            assert!(
                answer.took < ANSWER_WITHIN,
                "{what} took {:?} to answer 503",
                answer.took
            );
        }
    }
    wait_health(&app, 503, ("database", "unavailable")).await;

    database.restore().await.expect("the proxy listens again");
    wait_health(&app, 200, ("database", "ok")).await;
    stop.store(true, Ordering::Relaxed);
    let loaded = loader.await.expect("the load ran");
    assert!(
        loaded.values().any(|status| *status == 503),
        "the load met the outage"
    );
    keys.extend(loaded.into_keys());
    every_instance_completes(&app, &template_id, keys).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redis_outage_is_named_by_health_and_every_instance_completes() {
    let Outage {
        app,
        database: _database,
        redis,
    } = spawn().await;
    let app = Arc::new(app);
    let template_id = create_template(&app).await;
    let mut keys = start_before_cut(&app, &template_id).await;
    let stop = Arc::new(AtomicBool::new(false));
    let loader = load(app.clone(), template_id.clone(), stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;

    redis.cut().await;
    let cut_at = Instant::now();
    let mut probes = 0;
    while cut_at.elapsed() < OUTAGE {
        let key = format!("probe-{probes}");
        probes += 1;
        keys.insert(key.clone());
        // The state is in Postgres: starting and reading go on; the jobs wait for Redis.
        let started = start_keyed(&app, &template_id, &key).await;
        let listed = get(&app, "/api/v1/instances?limit=5").await;
        for (what, answer) in [("POST", &started), ("GET", &listed)] {
            assert!(
                matches!(answer.status, 200 | 201 | 503),
                "{what} while redis is cut: {} {}",
                answer.status,
                answer.body
            );
            assert!(
                answer.status != 503 || answer.retry_after.is_some(),
                "{what} 503 without Retry-After"
            );
            assert!(
                answer.took < ANSWER_WITHIN,
                "{what} took {:?} to answer",
                answer.took
            );
        }
    }
    wait_health(&app, 503, ("redis", "unavailable")).await;

    redis.restore().await.expect("the proxy listens again");
    wait_health(&app, 200, ("redis", "ok")).await;
    stop.store(true, Ordering::Relaxed);
    keys.extend(loader.await.expect("the load ran").into_keys());
    every_instance_completes(&app, &template_id, keys).await;
}
