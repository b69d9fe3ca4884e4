//! Request limits at the gateway: event and variables sizes (413), the per-tenant request
//! rate (429 with Retry-After), an unreadable Last-Event-ID (400, never 503), and the
//! lifetime of an event stream.

use std::num::NonZeroU32;

use serde_json::json;

use crate::helpers::*;

fn limits(rate: Option<(u32, u32)>) -> gateway::RequestLimits {
    gateway::RequestLimits {
        max_event_bytes: 1000,
        max_variables_bytes: 2000,
        rate: rate.map(|(per_second, burst)| gateway::RateSettings {
            per_second: NonZeroU32::new(per_second).unwrap(),
            burst: NonZeroU32::new(burst).unwrap(),
        }),
        ..gateway::RequestLimits::default()
    }
}

#[tokio::test]
async fn event_data_and_variables_over_their_limits_answer_413_with_the_path() {
    let app = spawn_app_with_limits(limits(None)).await;
    let template = app.template("t", &token()).await;
    let instance = app.instance(&template, &token()).await;
    let big = json!({"event": "go", "data": {"pad": "x".repeat(1500)}});
    let response = app
        .post_json(
            &format!("/api/v1/instances/{instance}/events"),
            &big,
            &token(),
        )
        .await;
    let body = problem(response, 413).await;
    assert_eq!(body["errors"][0]["path"], "/data", "{body}");
    let small = json!({"event": "go", "data": {"pad": "x"}});
    let response = app
        .post_json(
            &format!("/api/v1/instances/{instance}/events"),
            &small,
            &token(),
        )
        .await;
    assert_eq!(response.status(), 202);
    let create = json!({"template_id": template, "variables": {"pad": "y".repeat(3000)}});
    let response = app.post_json("/api/v1/instances", &create, &token()).await;
    let body = problem(response, 413).await;
    assert_eq!(body["errors"][0]["path"], "/variables", "{body}");
}

#[tokio::test]
async fn one_tenants_flood_gets_429_while_another_tenant_is_served() {
    // A rate of one a second with a burst of 5: the sixth request at once is refused.
    let app = spawn_app_with_limits(limits(Some((1, 5)))).await;
    let noisy = token_for("noisy", Some("admin"));
    let quiet = token_for("quiet", Some("admin"));
    let mut refused = 0;
    let mut retry_after = None;
    let mut served = 0;
    for _ in 0..50 {
        let response = app.get("/api/v1/templates", &noisy).await;
        if response.status() == 429 {
            refused += 1;
            retry_after = response.headers().get("retry-after").cloned();
            problem(response, 429).await;
        } else {
            assert_eq!(response.status(), 200);
            served += 1;
        }
    }
    // The burst passes; a refill of one a second cannot serve 50 quick requests.
    assert!(served >= 5, "only {served} served");
    assert!(refused >= 1, "none of 50 refused");
    let seconds: u64 = retry_after.unwrap().to_str().unwrap().parse().unwrap();
    assert!(seconds >= 1);
    let response = app.get("/api/v1/templates", &quiet).await;
    assert_eq!(response.status(), 200, "the other tenant is served");
}

#[tokio::test]
async fn an_unreadable_last_event_id_answers_400() {
    let app = spawn_app().await;
    for id in ["null", "abc", "1-x", "-1", "99999999999999999999999-0"] {
        let response = app
            .http
            .get(app.url("/api/v1/events/stream"))
            .bearer_auth(token())
            .header("last-event-id", id)
            .send()
            .await
            .unwrap();
        let body = problem(response, 400).await;
        assert!(
            body["detail"].as_str().unwrap().contains("Last-Event-ID"),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_event_stream_ends_after_its_lifetime() {
    let app = spawn_app_with_limits(gateway::RequestLimits {
        stream_lifetime: std::time::Duration::from_millis(300),
        ..limits(None)
    })
    .await;
    let response = app
        .http
        .get(app.url("/api/v1/events/stream"))
        .bearer_auth(token())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), response.bytes()).await;
    assert!(
        ended.expect("the stream ended by itself").is_ok(),
        "the stream ended cleanly"
    );
}
