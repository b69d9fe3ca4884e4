//! The dashboard's routes: the pages, the assets the built page names, their content types and
//! security headers, the validators, and 404s as problem documents.

use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

async fn fetch(path: &str, etag: Option<&str>) -> (StatusCode, axum::http::HeaderMap, Vec<u8>) {
    let mut request = Request::get(path);
    if let Some(etag) = etag {
        request = request.header(header::IF_NONE_MATCH, etag);
    }
    let response = ui::router::<()>()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, headers, body.to_vec())
}

#[tokio::test]
async fn every_page_path_is_the_same_document_with_a_strict_policy() {
    for path in [
        "/ui/",
        "/ui/templates/0198c0de-0000-7000-8000-000000000001",
        "/ui/instances/0198c0de-0000-7000-8000-000000000002",
    ] {
        let (status, headers, body) = fetch(path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
        let policy = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"));
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(String::from_utf8(body).unwrap(), ui::index_html());
    }
    let (status, headers, _) = fetch("/ui", None).await;
    assert_eq!(status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(headers[header::LOCATION], "/ui/");
}

#[tokio::test]
async fn the_page_names_exactly_the_embedded_assets() {
    let html = ui::index_html();
    assert!(
        !html.contains("<script>"),
        "no inline script: the policy forbids it"
    );
    for name in ui::asset_names() {
        assert!(
            html.contains(&format!("/ui/assets/{name}")),
            "index.html does not load {name}"
        );
    }
    let referenced = html.matches("/ui/assets/").count();
    assert_eq!(referenced, ui::asset_names().count());
}

#[tokio::test]
async fn assets_have_their_types_and_revalidate() {
    let (status, headers, body) = fetch("/ui/assets/app.js", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache");
    assert!(!body.is_empty());
    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    let (status, _, body) = fetch("/ui/assets/app.js", Some(&etag)).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    let (status, headers, _) = fetch("/ui/assets/app.css", Some("\"other\"")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
}

#[tokio::test]
async fn unknown_files_are_problems() {
    for path in ["/ui/assets/nope.js", "/ui/assets/..%2Findex.html"] {
        let (status, headers, body) = fetch(path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 404);
    }
}
