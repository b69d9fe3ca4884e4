//! `start TEMPLATE`: an instance created and started at once, its variables from `--vars` and
//! `--var`; with `--wait`, followed to its end.

use std::io::Read;
use std::path::Path;

use reqwest::header::{HeaderMap, HeaderValue};
use serde_json::{Map, Value, json};

use super::watch::finished;
use crate::api::{Instance, parse};
use crate::cli::{Output, StartArgs};
use crate::client::Client;
use crate::error::{CtlError, Result, exit};
use crate::screen::Screen;
use crate::table::{print, print_json};
use crate::watch::follow;

pub(super) async fn run(client: &Client, args: StartArgs, output: Output) -> Result<i32> {
    let variables = variables(args.vars_file.as_deref(), &args.vars)?;
    let template = client.resolve_template(&args.template).await?;
    let mut headers = HeaderMap::new();
    if let Some(key) = &args.idempotency_key {
        let value = HeaderValue::from_str(key).map_err(|_| {
            CtlError::Usage(format!("--idempotency-key '{key}': not a header value"))
        })?;
        headers.insert("idempotency-key", value);
    }
    let mut body = json!({"template_id": template.id, "variables": variables, "start": true});
    if let Some(version) = args.version {
        body["version"] = json!(version);
    }
    let (status, raw) = client.post("/instances", &body, headers).await?;
    let instance: Instance = parse(client, "/instances", &raw)?;
    if status == 200 {
        eprintln!(
            "instance {} was created earlier with this idempotency key",
            instance.id
        );
    }
    if !args.wait {
        match output {
            Output::Json => print_json(&raw)?,
            Output::Table => {
                print(&instance.id)?;
                eprintln!(
                    "started {} v{} as instance {} ({}); follow it with: workflow-engine ctl watch {}",
                    template.name,
                    instance.template_version,
                    instance.id,
                    instance.status,
                    instance.id
                );
            }
        }
        return Ok(exit::OK);
    }
    eprintln!(
        "started {} v{} as instance {}; waiting for it to end",
        template.name, instance.template_version, instance.id
    );
    let (instance, raw) = follow(client, &instance.id, &mut Screen::Quiet).await?;
    finished(&instance, &raw, output)
}

/// The variables: the `--vars` file's object, then each `--var` over it.
pub(super) fn variables(file: Option<&Path>, vars: &[String]) -> Result<Value> {
    let mut variables = match file {
        None => Map::new(),
        Some(path) => read_object(path)?,
    };
    for var in vars {
        let (key, value) = parse_var(var)?;
        variables.insert(key, value);
    }
    Ok(Value::Object(variables))
}

fn read_object(path: &Path) -> Result<Map<String, Value>> {
    let mut text = Vec::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_end(&mut text).map(|_| ())
    } else {
        std::fs::read(path).map(|bytes| text = bytes)
    };
    read.map_err(|source| CtlError::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    match serde_json::from_slice(&text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(CtlError::Usage(format!(
            "{}: the variables must be a JSON object",
            path.display()
        ))),
        Err(source) => Err(CtlError::FileJson {
            path: path.to_owned(),
            source,
        }),
    }
}

/// `key=value` (a string) or `key:=json` (any JSON value).
pub(super) fn parse_var(var: &str) -> Result<(String, Value)> {
    let bad = |why: &str| CtlError::Usage(format!("--var '{var}': {why}"));
    let (key, value) = var
        .split_once('=')
        .ok_or_else(|| bad("expected key=value or key:=json"))?;
    let (key, value) = match key.strip_suffix(':') {
        Some(key) => {
            let json = serde_json::from_str(value)
                .map_err(|e| bad(&format!("the value after := is not JSON ({e})")))?;
            (key, json)
        }
        None => (key, Value::String(value.to_owned())),
    };
    if key.trim().is_empty() {
        return Err(bad("the key is empty"));
    }
    Ok((key.to_owned(), value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_var_is_a_string_unless_it_says_json() {
        assert_eq!(
            parse_var("email=a=b@example.com").unwrap(),
            ("email".into(), json!("a=b@example.com"))
        );
        assert_eq!(parse_var("count:=3").unwrap(), ("count".into(), json!(3)));
        assert_eq!(
            parse_var("zip=01234").unwrap(),
            ("zip".into(), json!("01234"))
        );
        assert_eq!(
            parse_var("tags:=[\"a\"]").unwrap(),
            ("tags".into(), json!(["a"]))
        );
        assert_eq!(parse_var("empty=").unwrap(), ("empty".into(), json!("")));
        for bad in ["novalue", "=x", "n:=nope"] {
            assert!(parse_var(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn vars_override_the_file() {
        let dir = std::env::temp_dir().join(format!("ctl-vars-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("vars.json");
        std::fs::write(&file, r#"{"email": "file@example.com", "n": 1}"#).unwrap();
        let vars = variables(Some(&file), &["email=cli@example.com".into()]).unwrap();
        assert_eq!(vars, json!({"email": "cli@example.com", "n": 1}));
        std::fs::write(&file, "[1]").unwrap();
        assert!(variables(Some(&file), &[]).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }
}
