//! The REST gateway: serves the API of `docs/api.md` over HTTP (axum), authenticates callers
//! (HS256 JWT), checks the shape of requests, and maps each call onto the scheduler's gRPC
//! `WorkflowService`. It owns no workflow state and never talks to the database: the scheduler
//! decides, the gateway translates. Real-time events come straight from the event bus (SSE).

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod auth;
mod caller;
mod error;
mod extract;
mod idempotency;
mod mapping;
mod metrics;
mod openapi;
mod rate_limit;
mod routes;
mod scheduler;
mod search;
mod settings;
mod startup;
mod state;

pub use error::{ApiError, GatewayError};
pub use metrics::handle as metrics_handle;
pub use rate_limit::RateSettings;
pub use settings::{GatewaySettings, RequestLimits};
pub use startup::Gateway;
