//! Instance variables: `set_variable`, `output_variable` and their size limit.

use model::StepError;
use serde_json::{Map, Value};

use super::{Machine, invalid_config};
use crate::json_size::json_fits;

impl Machine<'_> {
    /// Applies a rendered `set_variable` config; its output is the values set.
    pub(super) fn set_variables(&mut self, config: &Value) -> Result<Value, StepError> {
        let mut set = Map::new();
        if let Some(vars) = config.get("variables") {
            let Value::Object(vars) = vars else {
                return Err(invalid_config("set_variable variables must be an object"));
            };
            set.extend(vars.clone());
        }
        if let Some(name) = config.get("name") {
            let Value::String(name) = name else {
                return Err(invalid_config("set_variable name must be a string"));
            };
            set.insert(
                name.clone(),
                config.get("value").cloned().unwrap_or(Value::Null),
            );
        }
        if !self.variables_fit(set.iter().map(|(k, v)| (k.as_str(), v))) {
            return Err(self.variables_too_large());
        }
        for (k, v) in &set {
            self.set_variable(k, v.clone());
        }
        Ok(Value::Object(set))
    }

    /// Whether the variables with `set` applied stay within `MAX_VARIABLES_BYTES`: every
    /// decision, list and read carries them, so they may not grow step by step without end.
    pub(super) fn variables_fit<'v>(
        &self,
        set: impl Iterator<Item = (&'v str, &'v Value)>,
    ) -> bool {
        let mut vars = match &self.st.variables {
            Value::Object(vars) => vars.clone(),
            _ => Map::new(),
        };
        let mut changed = false;
        for (name, value) in set {
            vars.insert(name.to_owned(), value.clone());
            changed = true;
        }
        !changed || json_fits(&vars, self.settings.max_variables_bytes)
    }

    pub(super) fn variables_too_large(&self) -> StepError {
        StepError::new(
            "output_too_large",
            format!(
                "the instance's variables would be larger than {} bytes",
                self.settings.max_variables_bytes
            ),
            false,
        )
    }

    pub(super) fn set_variable(&mut self, name: &str, value: Value) {
        if !self.st.variables.is_object() {
            self.st.variables = Value::Object(Map::new());
        }
        if let Value::Object(vars) = &mut self.st.variables {
            vars.insert(name.to_owned(), value);
        }
    }
}
