//! The dashboard: the web pages the gateway serves under `/ui/`. Owns the front-end (its
//! source in `web/`, plain JavaScript, built by Vite into `dist/`, which is committed) and an
//! axum router that serves the built files from inside the binary, so `make run` has the
//! dashboard with no other server, no CDN and no Node at build time. The pages talk to the
//! REST API like any client; this crate knows nothing of workflows.
//!
//! `scripts/build-ui.sh` rebuilds `dist/`; `scripts/ui-test.sh` checks that the committed
//! `dist/` is what the sources build, and drives the pages in headless Chromium.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

/// The built files, embedded at compile time.
const INDEX_HTML: &str = include_str!("../dist/index.html");
const ASSETS: &[Asset] = &[
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../dist/assets/app.js"),
    },
    Asset {
        name: "app.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../dist/assets/app.css"),
    },
];

/// Scripts and styles from this origin only (no inline code, nothing from elsewhere), API calls
/// to this origin only, and no framing: the pages hold a token.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The dashboard's routes, to merge into the gateway's router: `/ui` (redirects to `/ui/`),
/// the pages `/ui/`, `/ui/templates/{id}` and `/ui/instances/{id}` (all the same document: the
/// script draws the page the path names) and `/ui/assets/{file}`.
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", get(page))
        .route("/ui/templates/{id}", get(page))
        .route("/ui/instances/{id}", get(page))
        .route("/ui/assets/{file}", get(asset))
}

async fn page(headers: HeaderMap) -> Response {
    respond(&headers, "text/html; charset=utf-8", INDEX_HTML.as_bytes())
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|asset| asset.name == file) {
        Some(asset) => respond(&headers, asset.content_type, asset.body),
        None => not_found(),
    }
}

/// The file with its validator: the names carry no hash, so browsers revalidate (`no-cache`)
/// and get a 304 while the binary is the same.
fn respond(request: &HeaderMap, content_type: &'static str, body: &'static [u8]) -> Response {
    let etag = etag(body);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag));
    let status = if fresh {
        StatusCode::NOT_MODIFIED
    } else {
        StatusCode::OK
    };
    let mut response = if fresh {
        Response::new(Body::empty())
    } else {
        Response::new(Body::from(body))
    };
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    security_headers(headers);
    response
}

fn security_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // A stream URL carries a ticket: it must not travel on as a Referer.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// FNV-1a over the bytes: stable for one build, which is all a validator of embedded files
/// needs.
fn etag(body: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in body {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("\"{hash:016x}\"")
}

fn not_found() -> Response {
    let mut response = (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/problem+json")],
        r#"{"type":"urn:chorus:problem:not_found","title":"Not Found","status":404,"detail":"no such file of the dashboard"}"#,
    )
        .into_response();
    security_headers(response.headers_mut());
    response
}

/// The names of the embedded assets, for tests that check `dist/index.html` against them.
pub fn asset_names() -> impl Iterator<Item = &'static str> {
    ASSETS.iter().map(|asset| asset.name)
}

/// The embedded page.
pub fn index_html() -> &'static str {
    INDEX_HTML
}
