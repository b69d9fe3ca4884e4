//! The scheduler: the gRPC core. Owns the database through `store`, stores and validates
//! templates, creates instances, and carries out the engine's decisions: every decision and the
//! jobs and timers it makes are written in one transaction, then jobs go to the queue and events
//! to the bus. Takes worker results over gRPC (batched into group commits), fires timers and
//! re-hands jobs whose lease ran out. Keeps no workflow state in memory between requests beyond
//! caches of immutable data, so several replicas can run at once.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod application;
mod cache;
mod committer;
mod convert;
mod core;
mod create_instance;
mod error;
mod grpc_metrics;
mod hand_off;
mod health;
mod lease;
mod metrics;
mod outbox;
mod retention;
mod schedules;
mod secrets;
mod service;
mod settings;
mod signature;
mod sweeper;
mod tls;
mod trigger_config;

pub use application::Scheduler;
pub use error::SchedulerError;
pub use secrets::{SecretError, TriggerKey};
pub use settings::{GrpcTls, SchedulerSettings};
pub use signature::sign as sign_webhook;
