//! The `workflow-engine` binary's library: configuration, telemetry, and the assembly of the
//! services: one of gateway, scheduler, worker per process in the distributed deployment, or
//! all three in one process (the embedded default, on SQLite and an in-memory queue unless
//! `DATABASE_URL` and `REDIS_URL` say otherwise). Integration tests build the same [`App`].

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

pub mod app;
pub mod config;
pub mod development;
pub mod telemetry;
pub mod token;

pub use app::{App, Mode};
pub use config::Settings;
