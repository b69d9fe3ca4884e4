mod auth;
mod errors;
mod events;
mod helpers;
mod idempotency;
mod operations;
mod peer;
mod resources;
