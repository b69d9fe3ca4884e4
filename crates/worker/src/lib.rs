//! The worker service: takes jobs from the job queue, runs their action (the built-in actions
//! live here, one per file under `actions`), heartbeats long ones, reports each result to the
//! scheduler over gRPC (`WorkerService`), and only then acknowledges the job. Knows nothing of
//! workflows: a job is an action, a rendered config and a deadline.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod actions;
mod consumer;
mod error;
mod execute;
mod metrics;
mod scheduler;
mod settings;
mod worker;

pub use actions::BreakerSettings;
pub use error::WorkerError;
pub use settings::{WorkerSettings, default_consumer_name};
pub use worker::Worker;
