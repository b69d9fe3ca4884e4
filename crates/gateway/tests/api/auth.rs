use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use crate::helpers::*;

async fn refused(app: &TestApp, token: Option<&str>) {
    let mut request = app.http.get(app.url("/api/v1/templates"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    problem(response, 401).await;
}

#[tokio::test]
async fn a_valid_token_is_accepted() {
    let app = spawn_app().await;
    assert_eq!(app.get("/api/v1/templates", &token()).await.status(), 200);
}

#[tokio::test]
async fn no_token_is_refused() {
    let app = spawn_app().await;
    refused(&app, None).await;
    let response = app
        .http
        .get(app.url("/api/v1/templates"))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    problem(response, 401).await;
}

#[tokio::test]
async fn alg_none_is_refused() {
    let app = spawn_app().await;
    let token = forged(json!({"alg": "none", "typ": "JWT"}), valid_claims(), "");
    refused(&app, Some(&token)).await;
}

#[tokio::test]
async fn other_algorithms_are_refused() {
    let app = spawn_app().await;
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &valid_claims(),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    refused(&app, Some(&hs512)).await;
    let rs256 = forged(
        json!({"alg": "RS256", "typ": "JWT"}),
        valid_claims(),
        "c2lnbmF0dXJl",
    );
    refused(&app, Some(&rs256)).await;
}

#[tokio::test]
async fn expired_and_exp_less_tokens_are_refused() {
    let app = spawn_app().await;
    let key = EncodingKey::from_secret(SECRET.as_bytes());
    let header = Header::new(Algorithm::HS256);
    // Beyond the 30 s leeway.
    let expired = json!({"sub": "tester", "exp": now() - 120});
    refused(
        &app,
        Some(&jsonwebtoken::encode(&header, &expired, &key).unwrap()),
    )
    .await;
    let no_exp = json!({"sub": "tester"});
    refused(
        &app,
        Some(&jsonwebtoken::encode(&header, &no_exp, &key).unwrap()),
    )
    .await;
    let no_sub = json!({"exp": now() + 600});
    refused(
        &app,
        Some(&jsonwebtoken::encode(&header, &no_sub, &key).unwrap()),
    )
    .await;
    // Within the leeway it still passes.
    let barely = json!({"sub": "tester", "exp": now() - 5});
    let token = jsonwebtoken::encode(&header, &barely, &key).unwrap();
    assert_eq!(app.get("/api/v1/templates", &token).await.status(), 200);
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_refused() {
    let app = spawn_app().await;
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &valid_claims(),
        &EncodingKey::from_secret(b"some-other-secret"),
    )
    .unwrap();
    refused(&app, Some(&token)).await;
}

#[tokio::test]
async fn an_unknown_role_is_refused() {
    let app = spawn_app().await;
    refused(&app, Some(&token_for("acme", Some("superuser")))).await;
}

#[tokio::test]
async fn a_viewer_may_read_but_not_write() {
    let app = spawn_app().await;
    let viewer = token_for("acme", Some("viewer"));
    assert_eq!(app.get("/api/v1/templates", &viewer).await.status(), 200);
    let response = app
        .post_json(
            "/api/v1/templates",
            &json!({"name": "x", "definition": definition()}),
            &viewer,
        )
        .await;
    problem(response, 403).await;
    assert!(
        app.peer
            .seen()
            .iter()
            .all(|s| s.role.as_deref() == Some("viewer")),
        "the refused write never reached the scheduler"
    );
}

#[tokio::test]
async fn the_webhook_needs_a_token_too() {
    let app = spawn_app().await;
    let response = app
        .http
        .post(app.url(&format!(
            "/api/v1/triggers/webhook/{}",
            uuid::Uuid::now_v7()
        )))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    problem(response, 401).await;
}

#[tokio::test]
async fn tenant_and_role_travel_to_the_scheduler() {
    let app = spawn_app().await;
    app.get("/api/v1/templates", &token_for("globex", Some("admin")))
        .await;
    app.get("/api/v1/templates", &token_for_default()).await;
    let seen = app.peer.seen();
    assert_eq!(seen[0].tenant.as_deref(), Some("globex"));
    assert_eq!(seen[0].role.as_deref(), Some("admin"));
    assert_eq!(seen[1].tenant.as_deref(), Some("default"));
    assert_eq!(seen[1].role.as_deref(), Some("operator"));
}

fn token_for_default() -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &json!({"sub": "tester", "exp": now() + 600}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}
