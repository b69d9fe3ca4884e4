//! Wait steps: a duration, a time, or an event with an optional timeout.

use chrono::DateTime;
use serde_json::Value;

use super::WaitDef;
use super::checker::{Checker, check_templates};
use crate::duration::parse_duration;
use crate::template::is_template;

pub(super) fn duration_value(ck: &mut Checker, value: &Value, path: &str) -> Option<Value> {
    match value {
        Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0 && f.is_finite()) => {
            Some(value.clone())
        }
        Value::String(s) if is_template(s) => {
            check_templates(ck, value, path);
            Some(value.clone())
        }
        Value::String(s) if parse_duration(s).is_some() => Some(value.clone()),
        _ => {
            ck.error(
                path,
                "duration does not parse (use 90s, 5m, 2h, 1d, PT1M30S or seconds)",
            );
            None
        }
    }
}

pub(super) fn parse_wait(ck: &mut Checker, config: &Value, path: &str) -> Option<WaitDef> {
    match config.get("wait_type").and_then(Value::as_str) {
        Some("duration") => {
            let (value, p) = match (config.get("duration"), config.get("seconds")) {
                (Some(v), _) => (v, format!("{path}/duration")),
                (None, Some(v)) => (v, format!("{path}/seconds")),
                (None, None) => {
                    ck.error(
                        format!("{path}/duration"),
                        "duration (or seconds) is required",
                    );
                    return None;
                }
            };
            duration_value(ck, value, &p).map(WaitDef::Duration)
        }
        Some("until") => match config.get("until") {
            Some(v @ Value::String(s)) if is_template(s) => {
                check_templates(ck, v, &format!("{path}/until"));
                Some(WaitDef::Until(v.clone()))
            }
            Some(v @ Value::String(s)) if DateTime::parse_from_rfc3339(s).is_ok() => {
                Some(WaitDef::Until(v.clone()))
            }
            _ => {
                ck.error(format!("{path}/until"), "until must be an RFC 3339 time");
                None
            }
        },
        Some("event") => {
            let name = match config.get("event") {
                Some(Value::String(e)) if !e.is_empty() && !is_template(e) => e.clone(),
                _ => {
                    ck.error(format!("{path}/event"), "event must be an event name");
                    return None;
                }
            };
            let timeout = match config.get("timeout") {
                None | Some(Value::Null) => None,
                Some(v) => match v {
                    Value::Number(n) => n.as_f64().filter(|f| *f >= 0.0 && f.is_finite()),
                    Value::String(s) => parse_duration(s),
                    _ => None,
                }
                .or_else(|| {
                    ck.error(
                        format!("{path}/timeout"),
                        "timeout does not parse as a duration",
                    );
                    None
                }),
            };
            Some(WaitDef::Event { name, timeout })
        }
        Some(other) => {
            ck.error(
                format!("{path}/wait_type"),
                format!("unknown wait_type '{other}' (expected duration, until or event)"),
            );
            None
        }
        None => {
            ck.error(
                format!("{path}/wait_type"),
                "wait_type is required (duration, until or event)",
            );
            None
        }
    }
}
