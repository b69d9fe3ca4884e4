//! The search filters of `GET /api/v1/instances`, checked by the gateway before any call.

use crate::helpers::*;

#[tokio::test]
async fn bad_search_filters_are_422_naming_the_parameter_before_the_scheduler_is_asked() {
    let app = spawn_app().await;
    for (query, path) in [
        ("variables.a%20b=1", "/variables.a b"),
        ("variables.=1", "/variables."),
        ("variables.list=%5B1%5D", "/variables.list"),
        ("variables.a=1&variables.a.b=2", "/variables.a.b"),
        ("created_after=yesterday", "/created_after"),
        ("created_before=2026-12-01", "/created_before"),
        ("updated_after=12%3A00", "/updated_after"),
    ] {
        let response = app
            .get(&format!("/api/v1/instances?{query}"), &token())
            .await;
        let body = problem(response, 422).await;
        assert_eq!(body["errors"][0]["path"], path, "{query}");
    }
    assert!(app.peer.seen().is_empty(), "the scheduler was asked");
}

#[tokio::test]
async fn good_search_filters_reach_the_scheduler() {
    let app = spawn_app().await;
    let response = app
        .get(
            "/api/v1/instances?variables.user.email=ann%40example.com&variables.n=3\
             &created_after=2026-12-01T00:00:00Z&created_before=2026-12-02T00:00:00%2B01:00\
             &updated_after=2026-12-01T12:00:00Z",
            &token(),
        )
        .await;
    assert_eq!(response.status(), 200);
}
