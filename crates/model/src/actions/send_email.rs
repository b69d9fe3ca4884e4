//! The `send_email` action's config.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use super::field::{ConfigValue, action_config};

action_config! {
    /// One email. The worker echoes the config as its output when no SMTP server is set, so it
    /// serializes as it was given.
    #[derive(Debug, Clone, Deserialize, Serialize)]
    pub struct SendEmailConfig {
        pub to: Recipients,
        pub subject: String,
        pub body: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub cc: Option<Recipients>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub bcc: Option<Recipients>,
        /// The worker's own address when left out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pub from: Option<String>,
        #[serde(default)]
        pub html: HtmlFlag,
    }
}

/// One string (which may list several addresses, as a mail header does) or a list of them. A
/// saved list must name someone; a list rendered from a template may be empty (no `cc`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Recipients {
    One(String),
    Many(Vec<String>),
}

impl Recipients {
    /// Each string as given, before it is parsed into addresses.
    pub fn entries(&self) -> Vec<&str> {
        match self {
            Self::One(one) => vec![one.as_str()],
            Self::Many(many) => many.iter().map(String::as_str).collect(),
        }
    }
}

impl ConfigValue for Recipients {
    fn check(key: &str, value: &Value) -> Result<(), String> {
        let fits = match value {
            Value::String(_) => true,
            Value::Array(items) => !items.is_empty() && items.iter().all(Value::is_string),
            _ => false,
        };
        if !fits {
            return Err(format!("{key} must be a string or an array of strings"));
        }
        Ok(())
    }
}

/// Whether the body is HTML; null or left out is plain text. A saved config may give a boolean
/// or any string (docs/workflow-language.md has always said "bool or string"), but the worker
/// reads a boolean only: a string must be a template that renders to one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct HtmlFlag(pub bool);

impl<'de> Deserialize<'de> for HtmlFlag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let flag = Option::<bool>::deserialize(deserializer)?;
        Ok(Self(flag.unwrap_or_default()))
    }
}

impl ConfigValue for HtmlFlag {
    const OPTIONAL: bool = true;

    fn check(key: &str, value: &Value) -> Result<(), String> {
        if !(value.is_boolean() || value.is_string()) {
            return Err(format!("{key} must be a boolean or a string"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn saved_recipients_are_a_string_or_a_non_empty_list_of_strings() {
        let check = |value| Recipients::check("to", &value);
        assert_eq!(check(json!("a@example.com, b@example.com")), Ok(()));
        assert_eq!(check(json!(["a@example.com"])), Ok(()));
        assert_eq!(
            check(json!([])),
            Err("to must be a string or an array of strings".to_owned())
        );
        assert!(check(json!(["a@example.com", 5])).is_err());
        assert!(check(json!(5)).is_err());
    }

    #[test]
    fn the_config_serializes_as_given_with_html_defaulted() {
        let config: SendEmailConfig = serde_json::from_value(json!({
            "to": ["a@example.com"], "subject": "s", "body": "b", "html": null
        }))
        .unwrap();
        assert_eq!(
            serde_json::to_value(&config).unwrap(),
            json!({"to": ["a@example.com"], "subject": "s", "body": "b", "html": false})
        );
        assert_eq!(config.to.entries(), ["a@example.com"]);
    }
}
