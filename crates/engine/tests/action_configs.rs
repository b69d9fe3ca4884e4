//! The built-in actions' configs are typed once, in `model::actions`: the worker reads a job's
//! rendered config with the type's serde, and the engine checks a saved one against the same
//! type's fields. These tests hold the two together: a config accepted when saved is one the
//! worker reads, and a field the worker cannot do without is one the engine requires, at its
//! JSON path.

use model::actions::{
    BuiltinAction, HttpRequestConfig, LogMessageConfig, SendEmailConfig, SetVariableConfig,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A config of each built-in action with every field it reads given, as the worker receives it
/// once rendered. The match has no catch-all, so a new built-in action needs an example here.
fn example(action: BuiltinAction) -> Value {
    match action {
        BuiltinAction::HttpRequest => json!({
            "url": "https://example.com/users", "method": "post",
            "headers": {"x-api-key": "k1"}, "query": {"tag": ["a", "b"]},
            "timeout_seconds": 2.5, "expected_status": [200, 201], "body": {"name": "ada"}
        }),
        BuiltinAction::SendEmail => json!({
            "to": ["ada@example.com"], "subject": "Welcome", "body": "Hello",
            "cc": "grace@example.com", "bcc": ["ops@example.com"],
            "from": "Chorus <noreply@example.com>", "html": true
        }),
        BuiltinAction::LogMessage => json!({"message": "order shipped", "level": "warn"}),
        BuiltinAction::SetVariable => json!({"name": "total", "value": 42, "variables": {"a": 1}}),
        BuiltinAction::Noop => json!({}),
    }
}

/// Whether the worker's type for `action` reads `config`.
fn worker_reads(action: BuiltinAction, config: &Value) -> Result<(), String> {
    fn read<T: DeserializeOwned>(config: &Value) -> Result<(), String> {
        T::deserialize(config)
            .map(drop)
            .map_err(|err| err.to_string())
    }
    match action {
        BuiltinAction::HttpRequest => read::<HttpRequestConfig>(config),
        BuiltinAction::SendEmail => read::<SendEmailConfig>(config),
        BuiltinAction::LogMessage => read::<LogMessageConfig>(config),
        BuiltinAction::SetVariable => read::<SetVariableConfig>(config),
        // The worker reads nothing of a noop's config.
        BuiltinAction::Noop => Ok(()),
    }
}

/// The errors of saving a one-step definition running `action` with `config`, as
/// `(path, message)`; none when it is accepted.
fn save_errors(action: BuiltinAction, config: &Value) -> Vec<(String, String)> {
    let mut config = config.clone();
    config["action"] = json!(action.name());
    let definition = json!({"steps": [{"id": "a", "type": "action", "config": config}]});
    match engine::validate(&definition) {
        Ok(_) => Vec::new(),
        Err(errors) => errors.into_iter().map(|e| (e.path, e.message)).collect(),
    }
}

fn without(config: &Value, key: &str) -> Value {
    let mut config = config.clone();
    config
        .as_object_mut()
        .expect("examples are objects")
        .remove(key);
    config
}

#[test]
fn every_example_is_accepted_when_saved_and_read_by_the_worker() {
    for action in BuiltinAction::ALL {
        let config = example(action);
        assert_eq!(save_errors(action, &config), [], "{}", action.name());
        assert_eq!(worker_reads(action, &config), Ok(()), "{}", action.name());
    }
}

#[test]
fn a_field_the_worker_cannot_do_without_is_required_when_saved_at_its_path() {
    let mut required = Vec::new();
    for action in BuiltinAction::ALL {
        let config = example(action);
        for key in config.as_object().expect("examples are objects").keys() {
            let config = without(&config, key);
            if worker_reads(action, &config).is_ok() {
                continue;
            }
            required.push(format!("{}.{key}", action.name()));
            assert!(
                save_errors(action, &config).contains(&(
                    format!("/steps/0/config/{key}"),
                    format!("{key} is required")
                )),
                "{}: the worker needs {key} but saving without it is {:?}",
                action.name(),
                save_errors(action, &config)
            );
        }
    }
    // The test means something only if the worker does need fields.
    assert!(
        required.contains(&"http_request.url".to_owned()),
        "{required:?}"
    );
    assert!(
        required.contains(&"send_email.to".to_owned()),
        "{required:?}"
    );
}

#[test]
fn the_fields_the_engine_checks_are_the_ones_the_worker_reads() {
    for action in BuiltinAction::ALL {
        let config = example(action);
        for field in action.fields() {
            assert!(
                config.get(field.name).is_some(),
                "{}: the example lacks {}",
                action.name(),
                field.name
            );
            let read = worker_reads(action, &without(&config, field.name));
            assert_eq!(
                read.is_ok(),
                field.optional,
                "{}.{}: optional when saved is {}, but the worker reading it without gives {read:?}",
                action.name(),
                field.name,
                field.optional
            );
        }
    }
}

/// Values of every JSON type and of the edges the checks draw (methods, levels, status codes,
/// recipient lists).
fn probes() -> Vec<Value> {
    vec![
        json!(null),
        json!(true),
        json!(0),
        json!(7),
        json!(-1),
        json!(2.5),
        json!(""),
        json!("text"),
        json!("put"),
        json!("TRACE"),
        json!("Warning"),
        json!("loud"),
        json!("ada@example.com"),
        json!([]),
        json!([200]),
        json!([99]),
        json!([600]),
        json!([70000]),
        json!(["ada@example.com"]),
        json!([1, "x"]),
        json!([{}]),
        json!({}),
        json!({"k": "v"}),
    ]
}

#[test]
fn a_value_accepted_when_saved_is_one_the_worker_reads() {
    let mut accepted = 0;
    for action in BuiltinAction::ALL {
        let example = example(action);
        for key in example.as_object().expect("examples are objects").keys() {
            for probe in probes() {
                // Documented on `HtmlFlag`: a string is accepted when saved, as the language
                // has always allowed, but must be a template rendering to a boolean.
                if action == BuiltinAction::SendEmail && key == "html" && probe.is_string() {
                    continue;
                }
                let mut config = example.clone();
                config[key.as_str()] = probe.clone();
                if !save_errors(action, &config).is_empty() {
                    continue;
                }
                accepted += 1;
                assert_eq!(
                    worker_reads(action, &config),
                    Ok(()),
                    "{}.{key} = {probe} is accepted when saved",
                    action.name()
                );
            }
        }
    }
    assert!(accepted > 0);
}
