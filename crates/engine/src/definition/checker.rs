//! The helpers every parser shares: the error collector and the common field checks.

use std::collections::HashMap;

use model::FieldError;
use model::actions::Field;
use serde_json::{Map, Value};

use crate::template::{self, is_template};

pub(super) struct Checker {
    pub(super) errors: Vec<FieldError>,
}

impl Checker {
    pub(super) fn error(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(path, message));
    }
}

pub(super) fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

pub(super) fn positive_number(ck: &mut Checker, value: Option<&Value>, path: &str) -> Option<f64> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_f64() {
            Some(f) if f > 0.0 && f.is_finite() => Some(f),
            _ => {
                ck.error(path, "must be a positive number");
                None
            }
        },
        Some(_) => {
            ck.error(path, "must be a positive number");
            None
        }
    }
}

pub(super) fn step_ref(
    ck: &mut Checker,
    value: &Value,
    path: &str,
    index: &HashMap<String, usize>,
) -> Option<usize> {
    match value {
        Value::String(id) => match index.get(id) {
            Some(&i) => Some(i),
            None => {
                ck.error(path, format!("unknown step '{id}'"));
                None
            }
        },
        _ => {
            ck.error(path, "must be a step id (string)");
            None
        }
    }
}

pub(super) fn check_templates(ck: &mut Checker, value: &Value, path: &str) {
    let mut found = Vec::new();
    template::check_value(value, path, &mut found);
    for (p, m) in found {
        ck.error(p, m);
    }
}

/// Checks one field of a built-in action's config by its model [`Field`]: present unless
/// optional (null counts as absent), and of its type. A template string is accepted for any
/// field, since its value is known only once rendered.
pub(super) fn check_field(ck: &mut Checker, obj: &Map<String, Value>, path: &str, field: &Field) {
    match obj.get(field.name) {
        None | Some(Value::Null) => {
            if !field.optional {
                ck.error(
                    format!("{path}/{}", field.name),
                    format!("{} is required", field.name),
                );
            }
        }
        Some(value) => check_present(ck, value, path, field),
    }
}

/// Checks a value given for `field`, null included; a template string is accepted.
pub(super) fn check_present(ck: &mut Checker, value: &Value, path: &str, field: &Field) {
    if let Value::String(text) = value
        && is_template(text)
    {
        return;
    }
    if let Err(message) = field.check(value) {
        ck.error(format!("{path}/{}", field.name), message);
    }
}
