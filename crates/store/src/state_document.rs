//! The engine's state of an instance as storage holds it: the JSON text of the `state` column,
//! never parsed here. The scheduler decodes it straight into its own type and encodes it back
//! once per decision, so a step costs one parse and one print of the state instead of the
//! text → `Value` → clone → typed round trips a `serde_json::Value` column would need.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::StoreError;

#[derive(Debug, Clone)]
pub struct StateDocument(Box<RawValue>);

impl StateDocument {
    /// The document of a value (the engine's state, or any JSON in tests).
    pub fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Self, StoreError> {
        serde_json::value::to_raw_value(value)
            .map(Self)
            .map_err(|error| StoreError::Corrupt(format!("instance state: {error}")))
    }

    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, StoreError> {
        serde_json::from_str(self.0.get())
            .map_err(|error| StoreError::Corrupt(format!("instance state: {error}")))
    }

    /// Checks that column text is JSON, keeping it as it is.
    pub(crate) fn from_text(text: String) -> Result<Self, StoreError> {
        RawValue::from_string(text)
            .map(Self)
            .map_err(|error| StoreError::Corrupt(format!("instance state: {error}")))
    }

    pub fn as_str(&self) -> &str {
        self.0.get()
    }
}
