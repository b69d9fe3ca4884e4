//! The `http_request` action's config.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::field::{ConfigValue, action_config};

/// The methods a saved config may name (in any case).
pub const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

action_config! {
    /// One HTTP call; its output is `{status, headers, body}`.
    #[derive(Debug, Clone, Deserialize)]
    pub struct HttpRequestConfig {
        /// An `http` or `https` URL.
        pub url: String,
        /// `GET` when left out.
        pub method: Option<HttpMethod>,
        pub headers: Option<Map<String, Value>>,
        /// An array value becomes a repeated parameter (`?tag=a&tag=b`).
        pub query: Option<Map<String, Value>>,
        pub timeout_seconds: Option<f64>,
        /// The statuses that count as success; any 2xx when left out.
        pub expected_status: Option<StatusCodes>,
        /// A string is sent as it is, anything else as JSON.
        pub body: Option<Value>,
    }
}

/// An HTTP method as the config gives it. A saved config names one of [`HTTP_METHODS`]; a
/// method rendered from a template is any token, refused by the worker if the HTTP client
/// cannot send it.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct HttpMethod(pub String);

impl HttpMethod {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl ConfigValue for HttpMethod {
    fn check(key: &str, value: &Value) -> Result<(), String> {
        let Value::String(method) = value else {
            return Err(format!("{key} must be a string"));
        };
        if !HTTP_METHODS.contains(&method.to_ascii_uppercase().as_str()) {
            return Err(format!("unknown http method '{method}'"));
        }
        Ok(())
    }
}

/// The status codes that count as success. A saved config lists codes from 100 to 599.
#[derive(Debug, Clone, Deserialize)]
#[serde(transparent)]
pub struct StatusCodes(pub Vec<u16>);

impl StatusCodes {
    pub fn contains(&self, code: u16) -> bool {
        self.0.contains(&code)
    }
}

impl ConfigValue for StatusCodes {
    fn check(key: &str, value: &Value) -> Result<(), String> {
        let codes = value.as_array().is_some_and(|codes| {
            codes
                .iter()
                .all(|code| code.as_u64().is_some_and(|c| (100..=599).contains(&c)))
        });
        if !codes {
            return Err(format!("{key} must be an array of status codes"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_saved_method_is_one_of_the_list_in_any_case() {
        assert_eq!(HttpMethod::check("method", &json!("patch")), Ok(()));
        assert_eq!(
            HttpMethod::check("method", &json!("FETCH")),
            Err("unknown http method 'FETCH'".to_owned())
        );
        assert_eq!(
            HttpMethod::check("method", &json!(1)),
            Err("method must be a string".to_owned())
        );
    }

    #[test]
    fn saved_status_codes_are_from_100_to_599() {
        let check = |value| StatusCodes::check("expected_status", &value);
        assert_eq!(check(json!([100, 200, 599])), Ok(()));
        assert!(check(json!([200, 99])).is_err());
        assert!(check(json!([600])).is_err());
        assert!(check(json!(200)).is_err());
    }

    #[test]
    fn the_config_parses_with_defaults_left_out() {
        let config: HttpRequestConfig =
            serde_json::from_value(json!({"url": "https://example.com", "headers": null})).unwrap();
        assert!(config.method.is_none() && config.headers.is_none());
        assert!(serde_json::from_value::<HttpRequestConfig>(json!({"method": "GET"})).is_err());
    }
}
