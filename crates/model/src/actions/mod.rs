//! The built-in actions and their configs, each config typed once: the worker parses a job's
//! rendered config into its struct (serde), and the engine checks a saved definition's config
//! against the same struct's [`ActionConfig::FIELDS`] (required fields, types, allowed
//! values), so that the two cannot disagree about what a config is.

mod field;
mod http_request;
mod log_message;
mod send_email;
mod set_variable;

use serde::de::DeserializeOwned;

pub use field::{ConfigValue, Field};
pub use http_request::{HTTP_METHODS, HttpMethod, HttpRequestConfig, StatusCodes};
pub use log_message::{LogLevel, LogMessageConfig};
pub use send_email::{HtmlFlag, Recipients, SendEmailConfig};
pub use set_variable::SetVariableConfig;

/// A built-in action's config: what the worker parses, and the fields the engine checks.
pub trait ActionConfig: DeserializeOwned {
    /// The fields, in declaration order: each one's key, whether it may be left out, its check.
    const FIELDS: &'static [Field];
}

/// The actions the platform runs itself; any other action name is a custom action, whose job
/// goes to the queue of that name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuiltinAction {
    HttpRequest,
    SendEmail,
    LogMessage,
    SetVariable,
    Noop,
}

impl BuiltinAction {
    pub const ALL: [Self; 5] = [
        Self::HttpRequest,
        Self::SendEmail,
        Self::LogMessage,
        Self::SetVariable,
        Self::Noop,
    ];

    /// The built-in action of this name, if it is one.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|action| action.name() == name)
    }

    /// The name a definition's `config.action` gives.
    pub const fn name(self) -> &'static str {
        match self {
            Self::HttpRequest => "http_request",
            Self::SendEmail => "send_email",
            Self::LogMessage => "log_message",
            Self::SetVariable => "set_variable",
            Self::Noop => "noop",
        }
    }

    /// Whether a worker of the default queue runs it: all but `set_variable`, which the engine
    /// applies itself, at once, with no job.
    pub const fn runs_on_worker(self) -> bool {
        !matches!(self, Self::SetVariable)
    }

    /// The fields of its config (`noop` reads none).
    pub const fn fields(self) -> &'static [Field] {
        match self {
            Self::HttpRequest => HttpRequestConfig::FIELDS,
            Self::SendEmail => SendEmailConfig::FIELDS,
            Self::LogMessage => LogMessageConfig::FIELDS,
            Self::SetVariable => SetVariableConfig::FIELDS,
            Self::Noop => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_custom() {
        for action in BuiltinAction::ALL {
            assert_eq!(BuiltinAction::from_name(action.name()), Some(action));
        }
        assert_eq!(BuiltinAction::from_name("resize_image"), None);
        assert_eq!(BuiltinAction::from_name("HTTP_REQUEST"), None);
    }

    #[test]
    fn fields_follow_the_struct_and_its_types() {
        let fields: Vec<(&str, bool)> = BuiltinAction::LogMessage
            .fields()
            .iter()
            .map(|field| (field.name, field.optional))
            .collect();
        assert_eq!(fields, [("message", false), ("level", true)]);
        assert!(!BuiltinAction::SetVariable.runs_on_worker());
        assert!(BuiltinAction::Noop.runs_on_worker());
    }
}
