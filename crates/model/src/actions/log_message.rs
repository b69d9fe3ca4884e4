//! The `log_message` action's config.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::field::{ConfigValue, action_config};

action_config! {
    /// A line in the worker's log, with the instance and step; its output is `{logged: true}`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct LogMessageConfig {
        pub message: String,
        /// `info` when left out.
        pub level: Option<LogLevel>,
    }
}

/// A log level, named in any case; `warning` is `warn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

const LEVELS_MESSAGE: &str = "one of trace, debug, info, warn, error";

impl LogLevel {
    pub fn parse(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "trace" => Some(Self::Trace),
            "debug" => Some(Self::Debug),
            "info" => Some(Self::Info),
            "warn" | "warning" => Some(Self::Warn),
            "error" => Some(Self::Error),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name)
            .ok_or_else(|| D::Error::custom(format!("level {name:?} is not {LEVELS_MESSAGE}")))
    }
}

impl ConfigValue for LogLevel {
    fn check(key: &str, value: &Value) -> Result<(), String> {
        let Value::String(name) = value else {
            return Err(format!("{key} must be a string"));
        };
        if Self::parse(name).is_none() {
            return Err(format!("{key} must be {LEVELS_MESSAGE}"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn levels_are_read_in_any_case_and_warning_is_warn() {
        let level = |value| serde_json::from_value::<LogLevel>(value);
        assert_eq!(level(json!("WARNING")).unwrap(), LogLevel::Warn);
        assert_eq!(level(json!("Trace")).unwrap(), LogLevel::Trace);
        let err = level(json!("loud")).unwrap_err();
        assert!(err.to_string().contains("\"loud\""), "{err}");
    }

    #[test]
    fn a_saved_level_is_checked_with_the_same_list() {
        assert_eq!(LogLevel::check("level", &json!("Error")), Ok(()));
        assert_eq!(
            LogLevel::check("level", &json!("loud")),
            Err("level must be one of trace, debug, info, warn, error".to_owned())
        );
        assert_eq!(
            LogLevel::check("level", &json!(3)),
            Err("level must be a string".to_owned())
        );
    }
}
