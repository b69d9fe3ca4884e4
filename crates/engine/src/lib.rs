//! The workflow language and its state machine, with no I/O: parsing and validating
//! definitions, rendering `{{ }}` templates, evaluating conditions, and [`decide`], the pure
//! function `(definition, instance state, input) -> (new state, commands)` that makes every
//! decision about an instance. Time and randomness come in through [`Context`]; the services
//! carry out the [`Command`]s it returns.

mod api;

pub use api::*;
