//! A setting the engine cannot use stops the binary with one line on stderr naming the variable,
//! and a non-zero exit, even with `RUST_BACKTRACE=1` (set on many developer machines).

use std::process::{Command, Output};

fn run(args: &[&str], vars: &[(&str, &str)]) -> Output {
    let scratch = std::env::temp_dir().join(format!("wf-config-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_workflow-engine"))
        .args(args)
        // Only the variables under test: a developer's own DATABASE_URL or JWT_SECRET must
        // neither hide the error nor let the command do real work.
        .env_clear()
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .envs(vars.iter().copied())
        .current_dir(&scratch)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&scratch).unwrap();
    output
}

fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_bad_value_is_one_line_naming_the_variable() {
    for (name, value) in [
        ("PORT", "eighty"),
        ("STEP_TIMEOUT", "soon"),
        ("ENVIRONMENT", "prod"),
        ("JWT_SECRET", "too-short"),
        ("DATABASE_URL", "mysql://chorus:password@db/chorus"),
        ("RETENTION_DAYS", "-1"),
    ] {
        let output = run(&["migrate"], &[(name, value)]);
        let lines = stderr_lines(&output);
        assert_eq!(output.status.code(), Some(2), "{name}: {lines:?}");
        assert_eq!(lines.len(), 1, "{name}: {lines:?}");
        assert!(
            lines[0].starts_with(&format!("configuration error: {name}: ")),
            "{lines:?}"
        );
        // The value may be a credential: a rejected URL is not echoed back.
        assert!(!lines[0].contains("password"), "{lines:?}");
    }
}

#[test]
fn a_setting_missing_for_a_service_is_one_line_naming_the_variable() {
    // Found only once the service is chosen, after parsing: still one line, no backtrace.
    let output = run(&["token"], &[("ENVIRONMENT", "production")]);
    let lines = stderr_lines(&output);
    assert_eq!(output.status.code(), Some(1), "{lines:?}");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("error: JWT_SECRET: "), "{lines:?}");
}

#[test]
fn help_lists_the_variables_with_their_defaults() {
    let output = run(&["--help"], &[]);
    assert!(output.status.success(), "{output:?}");
    let help = String::from_utf8_lossy(&output.stdout);
    for expected in [
        "  PORT\n",
        "[default: 8081]",
        "  JWT_SECRET\n",
        "  OTEL_TRACES_SAMPLER_ARG\n",
        "[default: development]",
    ] {
        assert!(help.contains(expected), "{expected} missing from:\n{help}");
    }
}
