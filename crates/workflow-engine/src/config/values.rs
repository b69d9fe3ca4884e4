//! How one variable's text becomes a value. Each parser's error is the whole reason the
//! operator reads after the variable's name (`configuration error: NAME: reason`).

use std::str::FromStr;
use std::time::Duration;

use super::Secret;

pub(super) fn number<T: FromStr>(text: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|error| format!("'{text}' is not valid: {error}"))
}

/// A count where zero would stop the engine doing anything (slots, retries, bytes).
pub(super) fn at_least_one<T>(text: &str) -> Result<T, String>
where
    T: FromStr + PartialEq + Default,
    T::Err: std::fmt::Display,
{
    let value = number(text)?;
    if value == T::default() {
        return Err("must be at least 1".to_owned());
    }
    Ok(value)
}

/// A positive number of seconds (fractions allowed).
pub(super) fn seconds(text: &str) -> Result<Duration, String> {
    let value: f64 = number(text)?;
    if !value.is_finite() || value <= 0.0 || value > 1e9 {
        return Err(format!("'{value}' must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(value))
}

/// Days, fractions allowed (tests use a fraction of a second); 0 keeps everything.
pub(super) fn retention_days(text: &str) -> Result<Option<Duration>, String> {
    let days: f64 = number(text)?;
    if !days.is_finite() || !(0.0..=36_500.0).contains(&days) {
        return Err(format!("'{days}' must be a number of days from 0 to 36500"));
    }
    Ok((days > 0.0).then(|| Duration::from_secs_f64(days * 86_400.0)))
}

pub(super) fn boolean(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        other => Err(format!("'{other}' is not true or false")),
    }
}

/// Comma-separated, blanks dropped; an empty list reads as the default.
pub(super) fn list(text: &str) -> Result<Vec<String>, String> {
    Ok(text
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect())
}

pub(super) fn scheduler_urls(text: &str) -> Result<Vec<String>, String> {
    let urls = list(text)?;
    if let Some(url) = urls
        .iter()
        .find(|url| !(url.starts_with("http://") || url.starts_with("https://")))
    {
        return Err(format!("'{url}' must start with http:// or https://"));
    }
    Ok(urls)
}

pub(super) fn secret(text: &str) -> Result<Secret<String>, String> {
    Ok(Secret::new(text.to_owned()))
}

pub(super) fn jwt_secret(text: &str) -> Result<Secret<String>, String> {
    if text.len() < identity::MIN_SECRET_BYTES {
        return Err(format!(
            "must be at least {} bytes (openssl rand -hex 32)",
            identity::MIN_SECRET_BYTES
        ));
    }
    secret(text)
}

pub(super) fn trigger_key(text: &str) -> Result<scheduler::TriggerKey, String> {
    scheduler::TriggerKey::parse(text).map_err(|error| error.to_string())
}

pub(super) fn database_url(text: &str) -> Result<Secret<String>, String> {
    let known = ["postgres://", "postgresql://", "sqlite:"];
    if !known.iter().any(|prefix| text.starts_with(prefix)) {
        return Err("must start with postgres://, postgresql:// or sqlite:".to_owned());
    }
    secret(text)
}

pub(super) fn redis_url(text: &str) -> Result<Secret<String>, String> {
    if !(text.starts_with("redis://") || text.starts_with("rediss://")) {
        return Err("must start with redis:// or rediss://".to_owned());
    }
    secret(text)
}
