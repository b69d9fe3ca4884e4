//! One field of a built-in action's config, typed once: the worker reads a rendered value with
//! the type's `Deserialize`, the engine checks a saved value with its [`ConfigValue::check`].

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A field of a built-in action's config, as the engine checks it when a template is saved.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// The key in the config object.
    pub name: &'static str,
    /// Whether the config may leave it out (null counts as left out).
    pub optional: bool,
    check: fn(&str, &Value) -> Result<(), String>,
}

impl Field {
    /// The field `name` of type `T`, optional when `T` is.
    pub const fn of<T: ConfigValue>(name: &'static str) -> Self {
        Self {
            name,
            optional: T::OPTIONAL,
            check: T::check,
        }
    }

    /// Whether a value written literally in a saved config (neither null nor a template, whose
    /// value is known only once rendered) fits the field; if not, the problem in the words the
    /// API answers with (`url must be a string`).
    pub fn check(&self, value: &Value) -> Result<(), String> {
        (self.check)(self.name, value)
    }
}

/// The type of a config field. The check of a saved value accepts nothing the type's
/// `Deserialize` refuses (`crates/engine/tests/action_configs.rs` holds every built-in action
/// to that), so that a config accepted when saved is one the worker can read; it may refuse
/// more, where a value written out literally is a mistake that a rendered one is not (an empty
/// `cc` list, a status code of 700).
pub trait ConfigValue: DeserializeOwned {
    /// Whether a config may leave the field out (or null).
    const OPTIONAL: bool = false;

    /// Checks a value written literally in a saved config (never null, never a template):
    /// the problem, naming the field `key`, if it does not fit.
    fn check(key: &str, value: &Value) -> Result<(), String>;
}

/// The check of a type whose saved values are exactly what it deserializes from.
pub(super) fn parses_as<T: DeserializeOwned>(
    key: &str,
    value: &Value,
    expected: &str,
) -> Result<(), String> {
    match T::deserialize(value) {
        Ok(_) => Ok(()),
        Err(_) => Err(format!("{key} must be {expected}")),
    }
}

impl<T: ConfigValue> ConfigValue for Option<T> {
    const OPTIONAL: bool = true;

    fn check(key: &str, value: &Value) -> Result<(), String> {
        T::check(key, value)
    }
}

impl ConfigValue for String {
    fn check(key: &str, value: &Value) -> Result<(), String> {
        parses_as::<Self>(key, value, "a string")
    }
}

impl ConfigValue for f64 {
    fn check(key: &str, value: &Value) -> Result<(), String> {
        parses_as::<Self>(key, value, "a number")
    }
}

impl ConfigValue for Map<String, Value> {
    fn check(key: &str, value: &Value) -> Result<(), String> {
        parses_as::<Self>(key, value, "an object")
    }
}

/// Any JSON (an HTTP body, a variable's value).
impl ConfigValue for Value {
    fn check(_key: &str, _value: &Value) -> Result<(), String> {
        Ok(())
    }
}

/// Declares a built-in action's config once: the struct the worker parses and its
/// [`ActionConfig::FIELDS`](super::ActionConfig::FIELDS), in declaration order, that the engine
/// checks a saved config against. A field is optional when its type is
/// ([`ConfigValue::OPTIONAL`]); the Rust name is the key (no serde `rename`).
macro_rules! action_config {
    (
        $(#[$meta:meta])*
        pub struct $name:ident {
            $( $(#[$field_meta:meta])* pub $field:ident: $ty:ty, )*
        }
    ) => {
        $(#[$meta])*
        pub struct $name {
            $( $(#[$field_meta])* pub $field: $ty, )*
        }

        impl $crate::actions::ActionConfig for $name {
            const FIELDS: &'static [$crate::actions::Field] =
                &[$($crate::actions::Field::of::<$ty>(stringify!($field)),)*];
        }
    };
}
pub(super) use action_config;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn an_option_is_optional_and_checks_as_its_inner_type() {
        let url = Field::of::<String>("url");
        let method = Field::of::<Option<String>>("method");
        assert!(!url.optional);
        assert!(method.optional);
        assert_eq!(
            method.check(&json!(3)),
            Err("method must be a string".to_owned())
        );
        assert_eq!(url.check(&json!("https://example.com")), Ok(()));
    }

    #[test]
    fn plain_types_say_what_they_expect() {
        assert_eq!(
            Field::of::<f64>("timeout_seconds").check(&json!("5")),
            Err("timeout_seconds must be a number".to_owned())
        );
        assert_eq!(
            Field::of::<Map<String, Value>>("headers").check(&json!([])),
            Err("headers must be an object".to_owned())
        );
        assert_eq!(Field::of::<Value>("body").check(&json!([1, "x"])), Ok(()));
    }
}
