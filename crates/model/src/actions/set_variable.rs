//! The `set_variable` action's config.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::field::action_config;

action_config! {
    /// Sets variables: `name` with `value`, or `variables` (an object merged into them), or
    /// both. The engine applies it itself, with no job, and checks when it is saved that one of
    /// the forms is given; a worker handed one still outputs the values.
    #[derive(Debug, Clone, Deserialize)]
    pub struct SetVariableConfig {
        pub name: Option<String>,
        pub value: Option<Value>,
        pub variables: Option<Map<String, Value>>,
    }
}
