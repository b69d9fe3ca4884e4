//! The workflow language and its state machine, with no I/O: parsing and validating
//! definitions, rendering `{{ }}` templates, evaluating conditions, and [`decide`], the pure
//! function `(definition, instance state, input) -> (new state, commands)` that makes every
//! decision about an instance. Time and randomness come in through [`Context`]; the services
//! carry out the [`Command`]s it returns.

// Outside tests a failure is an error returned, or an `expect` that says why it cannot happen
// (clippy.toml allows unwrap in tests); and `pub` means exported from the crate, so what a
// newcomer sees as public is the crate's API.
#![deny(clippy::unwrap_used)]
#![warn(unreachable_pub)]

mod api;
mod condition;
mod definition;
mod duration;
mod ids;
mod json_size;
mod machine;
mod retry;
mod state;
mod template;

pub use api::*;
pub use definition::{
    DEFAULT_MAX_CONCURRENCY, Definition, MAX_DEFINITION_BYTES, MAX_PARALLEL_BRANCHES, MAX_STEPS,
    Validated, custom_actions, subflow_targets, validate,
};
pub use machine::decide;
pub use state::{InstanceMeta, InstanceState};
