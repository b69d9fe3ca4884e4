//! The configuration as a whole: defaults, rules between variables, secrets.

use super::*;

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn defaults_follow_the_readme() {
    let settings = Settings::from_vars(&vars(&[])).unwrap();
    assert_eq!(settings.port, 8081);
    assert_eq!(settings.max_concurrent_workflows, 100);
    assert_eq!(settings.tenant_max_concurrent_workflows, 100);
    assert_eq!(settings.workflow_check_interval, Duration::from_secs(10));
    assert_eq!(settings.step_retry_limit, 3);
    assert_eq!(settings.step_timeout, Duration::from_secs(300));
    assert_eq!(settings.grpc_port, 50051);
    assert_eq!(settings.worker_concurrency, 16);
    assert_eq!(settings.scheduler_urls, vec!["http://127.0.0.1:50051"]);
    assert!(settings.jwt_secret.is_none());
}

#[test]
fn the_tenant_cap_stays_under_the_global_cap() {
    let caps = |tenant: &str| {
        let settings = Settings::from_vars(&vars(&[
            ("MAX_CONCURRENT_WORKFLOWS", "10"),
            ("TENANT_MAX_CONCURRENT_WORKFLOWS", tenant),
        ]))
        .unwrap();
        settings.tenant_max_concurrent_workflows
    };
    assert_eq!(caps("3"), 3);
    assert_eq!(caps("50"), 10);
}

#[test]
fn a_bad_value_names_its_variable() {
    for (name, value) in [
        ("PORT", "eighty"),
        ("MAX_CONCURRENT_WORKFLOWS", "-1"),
        ("TENANT_MAX_CONCURRENT_WORKFLOWS", "0"),
        ("TENANT_MAX_CONCURRENT_WORKFLOWS", "many"),
        ("WORKFLOW_CHECK_INTERVAL", "0"),
        ("STEP_TIMEOUT", "soon"),
        ("STEP_RETRY_LIMIT", "0"),
        ("HTTP_ACTION_ALLOW_PRIVATE", "maybe"),
        ("DATABASE_URL", "mysql://x"),
        ("REDIS_URL", "localhost:6379"),
        ("SCHEDULER_URL", "127.0.0.1:50051"),
        ("LOG_FORMAT", "xml"),
    ] {
        let error = Settings::from_vars(&vars(&[(name, value)])).err().unwrap();
        assert_eq!(error.name, name, "{value}");
    }
}

#[test]
fn jwt_secret_is_required_where_tokens_are_verified() {
    // A worker process needs no JWT_SECRET: only the processes that verify tokens do.
    let worker = Settings::from_vars(&vars(&[("ENVIRONMENT", "production")])).unwrap();
    assert_eq!(worker.token_rules().err().unwrap().name, "JWT_SECRET");
    let settings = Settings::from_vars(&vars(&[
        ("ENVIRONMENT", "production"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ]))
    .unwrap();
    assert_eq!(settings.log_format, LogFormat::Json);
    assert_eq!(
        settings.token_rules().unwrap().max_lifetime,
        Duration::from_secs(24 * 3600)
    );
}

#[test]
fn short_and_placeholder_secrets_are_refused() {
    let error = Settings::from_vars(&vars(&[("JWT_SECRET", "sixteen-chars-ok")]))
        .err()
        .unwrap();
    assert_eq!(error.name, "JWT_SECRET");
    for (name, value) in [
        ("JWT_SECRET", "change-me-to-a-long-random-secret"),
        (
            "TRIGGER_SECRET_KEY",
            "8d6f0a4e2b1c9d7e5f3a1b0c9e8d7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
        ),
    ] {
        let error = Settings::from_vars(&vars(&[("ENVIRONMENT", "production"), (name, value)]))
            .err()
            .unwrap();
        assert_eq!(error.name, name);
        // A laptop may keep them.
        assert!(Settings::from_vars(&vars(&[(name, value)])).is_ok());
    }
}

#[test]
fn trigger_secret_key_is_32_bytes_in_hex_or_base64() {
    let hex_key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    let settings = Settings::from_vars(&vars(&[("TRIGGER_SECRET_KEY", hex_key)])).unwrap();
    let key = settings.trigger_key().unwrap();
    let sealed = key.seal(uuid::Uuid::nil(), b"secret");
    let same = scheduler::TriggerKey::parse(hex_key).unwrap();
    assert_eq!(same.open(uuid::Uuid::nil(), &sealed).unwrap(), b"secret");

    let base64_key = "ABEiM0RVZneImaq7zN3u/wARIjNEVWZ3iJmqu8zd7v8=";
    assert!(Settings::from_vars(&vars(&[("TRIGGER_SECRET_KEY", base64_key)])).is_ok());
    for bad in [
        "short",
        "00112233",
        "not base64 at all, and long enough to be tried!!",
    ] {
        let error = Settings::from_vars(&vars(&[("TRIGGER_SECRET_KEY", bad)]))
            .err()
            .unwrap();
        assert_eq!(error.name, "TRIGGER_SECRET_KEY", "{bad}");
    }
}

#[test]
fn trigger_secret_key_is_required_outside_development() {
    let production = [
        ("ENVIRONMENT", "production"),
        ("JWT_SECRET", "0123456789abcdef0123456789abcdef"),
    ];
    let settings = Settings::from_vars(&vars(&production)).unwrap();
    assert_eq!(
        settings.trigger_key().err().unwrap().name,
        "TRIGGER_SECRET_KEY"
    );
    let with_key = [
        production[0],
        production[1],
        (
            "TRIGGER_SECRET_KEY",
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        ),
    ];
    assert!(
        Settings::from_vars(&vars(&with_key))
            .unwrap()
            .trigger_key()
            .is_ok()
    );
    // In development a key is derived, but only from a JWT_SECRET.
    let bare = Settings::from_vars(&vars(&[])).unwrap();
    assert_eq!(bare.trigger_key().err().unwrap().name, "TRIGGER_SECRET_KEY");
}

#[test]
fn the_development_trigger_key_comes_from_jwt_secret() {
    let settings = Settings::from_vars(&vars(&[(
        "JWT_SECRET",
        "a-development-secret-0123456789abcdef",
    )]))
    .unwrap();
    let key = settings.trigger_key().unwrap();
    let sealed = key.seal(uuid::Uuid::nil(), b"secret");
    let derived =
        scheduler::TriggerKey::derive_from_jwt_secret("a-development-secret-0123456789abcdef");
    assert_eq!(derived.open(uuid::Uuid::nil(), &sealed).unwrap(), b"secret");
}

#[test]
fn scheduler_urls_are_a_comma_separated_list() {
    let settings = Settings::from_vars(&vars(&[(
        "SCHEDULER_URL",
        "http://a:50051, http://b:50051",
    )]))
    .unwrap();
    assert_eq!(
        settings.scheduler_urls,
        vec!["http://a:50051", "http://b:50051"]
    );
}

#[test]
fn debug_output_hides_passwords() {
    let settings = Settings::from_vars(&vars(&[
        (
            "DATABASE_URL",
            "postgres://chorus:password@localhost:5432/chorus",
        ),
        ("JWT_SECRET", "a-very-secret-value-here-0123456789"),
    ]))
    .unwrap();
    let text = format!("{settings:?}");
    assert!(!text.contains("password@"), "{text}");
    assert!(!text.contains("a-very-secret"), "{text}");
}

#[test]
fn the_environment_is_one_of_three() {
    for (text, environment) in [
        ("development", Environment::Development),
        ("test", Environment::Test),
        ("production", Environment::Production),
    ] {
        let settings = Settings::from_vars(&vars(&[("ENVIRONMENT", text)])).unwrap();
        assert_eq!(settings.environment, environment);
        assert_eq!(settings.is_development(), text == "development");
    }
    let error = Settings::from_vars(&vars(&[("ENVIRONMENT", "prod")]))
        .err()
        .unwrap();
    assert_eq!(error.name, "ENVIRONMENT");
}

#[test]
fn blank_values_read_as_unset() {
    let settings = Settings::from_vars(&vars(&[("PORT", "  "), ("WORKER_QUEUES", " , ")])).unwrap();
    assert_eq!(settings.port, 8081);
    assert_eq!(settings.worker_queues, vec!["default"]);
    let settings = Settings::from_vars(&vars(&[("PORT", " 9000 ")])).unwrap();
    assert_eq!(settings.port, 9000);
}

#[test]
fn no_secret_reaches_debug_output() {
    let settings = Settings::from_vars(&vars(&[
        ("REDIS_URL", "redis://:redis-password@localhost:6379"),
        ("WORKER_TOKEN", "worker-token-value"),
        ("SMTP_URL", "smtps://mailer:smtp-password@mail.example"),
        (
            "TRIGGER_SECRET_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
    ]))
    .unwrap();
    let text = format!("{settings:?}");
    for secret in [
        "redis-password",
        "worker-token-value",
        "smtp-password",
        "00112233",
    ] {
        assert!(!text.contains(secret), "{text}");
    }
}

/// The configuration table in README.md: each row's variables (first column) and default.
fn readme_table() -> Vec<(Vec<String>, String, String)> {
    let readme = include_str!("../../../../README.md");
    let table = readme
        .split_once("| variable | default | meaning |")
        .expect("README has a configuration table")
        .1;
    table
        .lines()
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let names = cells[1]
                .split(',')
                .map(|name| name.trim().trim_matches('`').to_owned())
                .collect();
            (names, cells[2].replace('`', ""), line.to_owned())
        })
        .collect()
}

#[test]
fn the_readme_table_matches_the_declared_variables() {
    let declared = vars::declared();
    let table = readme_table();
    for (names, default, _) in &table {
        for name in names {
            let Some(variable) = declared.iter().find(|variable| &variable.name == name) else {
                panic!("README names {name}, which the engine does not read");
            };
            if let Some(declared_default) = &variable.default {
                assert_eq!(default, declared_default, "default of {name}");
            }
        }
    }
    for vars::Declared { name, .. } in &declared {
        let mentioned = format!("`{name}`");
        assert!(
            table.iter().any(|(_, _, row)| row.contains(&mentioned)),
            "{name} is missing from README's configuration table"
        );
    }
}
