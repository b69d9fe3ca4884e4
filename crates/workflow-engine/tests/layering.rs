//! The layering the architecture page promises, checked on the resolved dependency graph
//! (`cargo tree`, normal dependencies only): the gateway and the worker reach the job queue and
//! event bus through `bus` and never link a database driver; the scheduler reaches `store`.

use std::collections::BTreeSet;
use std::process::Command;

/// The names of every package `package` links, itself included.
fn linked(package: &str) -> BTreeSet<String> {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let output = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none"])
        .args([
            "--format",
            "{p}",
            "--manifest-path",
            manifest,
            "-p",
            package,
        ])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree -p {package} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn database(packages: &BTreeSet<String>) -> Vec<&String> {
    packages
        .iter()
        .filter(|name| *name == "store" || name.starts_with("sqlx"))
        .collect()
}

#[test]
fn the_gateway_and_the_worker_never_link_the_database() {
    for service in ["gateway", "worker", "bus"] {
        let packages = linked(service);
        assert!(packages.contains("bus"), "{service}: {packages:?}");
        assert_eq!(
            database(&packages),
            Vec::<&String>::new(),
            "{service} must hand off through `bus` only"
        );
    }
}

#[test]
fn the_scheduler_owns_the_database() {
    let packages = linked("scheduler");
    assert!(packages.contains("store") && packages.contains("bus"));
    assert!(!database(&packages).is_empty());
}
