//! What a trigger's `config` may hold, checked at creation with paths under `/config`.
//! A webhook: `{secret?}` (made up when absent, at least 16 characters when given). A schedule:
//! `{cron, timezone?, variables?}`, the cron expression of 5 fields or 6 with seconds first,
//! the timezone an IANA name (UTC by default), the variables the input of each instance.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use model::FieldError;
use serde_json::{Map, Value};

use crate::SchedulerError;

pub(crate) const MIN_SECRET_LENGTH: usize = 16;
pub(crate) const MAX_SECRET_LENGTH: usize = 256;

/// A checked webhook configuration.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Webhook {
    /// The caller's own secret, if it gave one.
    pub secret: Option<String>,
}

/// A checked schedule.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub pattern: String,
    pub cron: Cron,
    pub timezone: Tz,
    pub variables: Value,
}

fn invalid(errors: Vec<FieldError>) -> SchedulerError {
    SchedulerError::Invalid {
        message: format!("the trigger's config has {} problem(s)", errors.len()),
        errors,
    }
}

fn object(config: &Value) -> Result<&Map<String, Value>, SchedulerError> {
    config
        .as_object()
        .ok_or_else(|| SchedulerError::invalid("/config", "must be a JSON object"))
}

/// Unknown keys are refused, so a typo (`crон`, `timzone`) surfaces at creation.
fn unknown_keys(config: &Map<String, Value>, known: &[&str]) -> Vec<FieldError> {
    config
        .keys()
        .filter(|key| !known.contains(&key.as_str()))
        .map(|key| {
            FieldError::new(
                format!("/config/{key}"),
                format!("unknown field; expected one of {}", known.join(", ")),
            )
        })
        .collect()
}

impl Webhook {
    pub(crate) fn from_config(config: &Value) -> Result<Self, SchedulerError> {
        let config = object(config)?;
        let mut errors = unknown_keys(config, &["secret"]);
        let secret = match config.get("secret") {
            None | Some(Value::Null) => None,
            Some(Value::String(secret)) => {
                let length = secret.chars().count();
                if length < MIN_SECRET_LENGTH {
                    errors.push(FieldError::new(
                        "/config/secret",
                        format!("must be at least {MIN_SECRET_LENGTH} characters"),
                    ));
                } else if length > MAX_SECRET_LENGTH {
                    errors.push(FieldError::new(
                        "/config/secret",
                        format!("must be at most {MAX_SECRET_LENGTH} characters"),
                    ));
                }
                Some(secret.clone())
            }
            Some(_) => {
                errors.push(FieldError::new("/config/secret", "must be a string"));
                None
            }
        };
        if !errors.is_empty() {
            return Err(invalid(errors));
        }
        Ok(Self { secret })
    }
}

impl Schedule {
    pub(crate) fn from_config(config: &Value) -> Result<Self, SchedulerError> {
        let config = object(config)?;
        let mut errors = unknown_keys(config, &["cron", "timezone", "variables"]);
        let cron = match config.get("cron") {
            Some(Value::String(pattern)) => match parse_cron(pattern) {
                Ok(cron) => Some((pattern.trim().to_owned(), cron)),
                Err(message) => {
                    errors.push(FieldError::new("/config/cron", message));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new("/config/cron", "must be a string"));
                None
            }
            None => {
                errors.push(FieldError::new("/config/cron", "is required"));
                None
            }
        };
        let timezone = match config.get("timezone") {
            None | Some(Value::Null) => Some(Tz::UTC),
            Some(Value::String(name)) => match Tz::from_str(name) {
                Ok(timezone) => Some(timezone),
                Err(_) => {
                    errors.push(FieldError::new(
                        "/config/timezone",
                        format!("'{name}' is not an IANA time zone (such as Europe/Paris)"),
                    ));
                    None
                }
            },
            Some(_) => {
                errors.push(FieldError::new("/config/timezone", "must be a string"));
                None
            }
        };
        let variables = match config.get("variables") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(value @ Value::Object(_)) => value.clone(),
            Some(_) => {
                errors.push(FieldError::new(
                    "/config/variables",
                    "must be a JSON object",
                ));
                Value::Null
            }
        };
        let (Some((pattern, cron)), Some(timezone), true) = (cron, timezone, errors.is_empty())
        else {
            return Err(invalid(errors));
        };
        let schedule = Self {
            pattern,
            cron,
            timezone,
            variables,
        };
        if schedule.next_after(Utc::now()).is_none() {
            return Err(SchedulerError::invalid(
                "/config/cron",
                "the expression never matches a future time",
            ));
        }
        Ok(schedule)
    }

    /// The configuration as stored and shown.
    pub(crate) fn to_config(&self) -> Value {
        serde_json::json!({
            "cron": self.pattern,
            "timezone": self.timezone.name(),
            "variables": self.variables,
        })
    }

    /// The first tick strictly after `at`.
    pub(crate) fn next_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.timezone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|tick| tick.with_timezone(&Utc))
    }

    /// The last tick at or before `at`.
    pub(crate) fn latest_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = at.with_timezone(&self.timezone);
        self.cron
            .find_previous_occurrence(&local, true)
            .ok()
            .map(|tick| tick.with_timezone(&Utc))
    }
}

fn parse_cron(pattern: &str) -> Result<Cron, String> {
    let fields = pattern.split_whitespace().count();
    if !(5..=6).contains(&fields) {
        return Err(format!(
            "has {fields} field(s); expected 5 (minute hour day month weekday) or 6 (seconds first)"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build()
        .parse(pattern)
        .map_err(|error| format!("not a cron expression: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn paths(error: SchedulerError) -> Vec<String> {
        match error {
            SchedulerError::Invalid { errors, .. } => errors.into_iter().map(|e| e.path).collect(),
            other => panic!("not a validation error: {other}"),
        }
    }

    #[test]
    fn five_and_six_field_expressions_are_schedules() {
        let five = Schedule::from_config(&json!({"cron": "*/5 * * * *"})).unwrap();
        assert_eq!(five.timezone, Tz::UTC);
        assert_eq!(five.variables, json!({}));
        let six = Schedule::from_config(&json!({
            "cron": "30 0 9 * * MON-FRI", "timezone": "Europe/Paris", "variables": {"a": 1}
        }))
        .unwrap();
        assert_eq!(
            six.to_config(),
            json!({"cron": "30 0 9 * * MON-FRI", "timezone": "Europe/Paris", "variables": {"a": 1}})
        );
    }

    #[test]
    fn bad_schedules_name_the_field() {
        for (config, path) in [
            (json!({}), "/config/cron"),
            (json!({"cron": 5}), "/config/cron"),
            (json!({"cron": "* * * *"}), "/config/cron"),
            (json!({"cron": "* * * * * * 2030"}), "/config/cron"),
            (json!({"cron": "61 * * * *"}), "/config/cron"),
            (json!({"cron": "not a cron at all"}), "/config/cron"),
            (json!({"cron": "0 0 30 2 *"}), "/config/cron"),
            (
                json!({"cron": "* * * * *", "timezone": "Mars/Olympus"}),
                "/config/timezone",
            ),
            (
                json!({"cron": "* * * * *", "variables": [1]}),
                "/config/variables",
            ),
            (
                json!({"cron": "* * * * *", "timezon": "UTC"}),
                "/config/timezon",
            ),
        ] {
            let error = Schedule::from_config(&config).err().unwrap();
            assert_eq!(paths(error), [path], "{config}");
        }
        assert_eq!(
            paths(Schedule::from_config(&json!([])).err().unwrap()),
            ["/config"]
        );
    }

    #[test]
    fn ticks_follow_the_time_zone() {
        let schedule =
            Schedule::from_config(&json!({"cron": "0 9 * * *", "timezone": "America/New_York"}))
                .unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        // 09:00 in New York in January is 14:00 UTC.
        assert_eq!(
            schedule.next_after(at),
            Some(Utc.with_ymd_and_hms(2026, 1, 15, 14, 0, 0).unwrap())
        );
        assert_eq!(
            schedule.latest_until(at),
            Some(Utc.with_ymd_and_hms(2026, 1, 14, 14, 0, 0).unwrap())
        );
    }

    #[test]
    fn seconds_are_optional_and_ticks_are_strictly_later() {
        let every_second = Schedule::from_config(&json!({"cron": "* * * * * *"})).unwrap();
        let at = Utc.with_ymd_and_hms(2026, 1, 15, 12, 0, 0).unwrap();
        assert_eq!(
            every_second.next_after(at),
            Some(at + chrono::Duration::seconds(1))
        );
        assert_eq!(every_second.latest_until(at), Some(at));
        let every_minute = Schedule::from_config(&json!({"cron": "* * * * *"})).unwrap();
        assert_eq!(
            every_minute.next_after(at),
            Some(at + chrono::Duration::minutes(1))
        );
    }

    #[test]
    fn webhook_secrets_are_checked() {
        assert_eq!(
            Webhook::from_config(&json!({})).unwrap(),
            Webhook { secret: None }
        );
        let own = Webhook::from_config(&json!({"secret": "0123456789abcdef"})).unwrap();
        assert_eq!(own.secret.as_deref(), Some("0123456789abcdef"));
        for config in [
            json!({"secret": "short"}),
            json!({"secret": 12}),
            json!({"secret": "x".repeat(MAX_SECRET_LENGTH + 1)}),
        ] {
            assert_eq!(
                paths(Webhook::from_config(&config).err().unwrap()),
                ["/config/secret"]
            );
        }
        assert_eq!(
            paths(
                Webhook::from_config(&json!({"cron": "* * * * *"}))
                    .err()
                    .unwrap()
            ),
            ["/config/cron"]
        );
    }
}
