//! The yardstick: pgbench's TPC-B-like transactions per second on the same Postgres server.

use std::path::PathBuf;
use std::process::Stdio;

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::process::Command;

#[derive(Debug, Serialize)]
pub struct PgbenchReport {
    pub binary: String,
    pub clients: u32,
    pub threads: u32,
    pub seconds: u32,
    pub tps: f64,
}

/// `pgbench` on PATH, else the newest one a Debian PostgreSQL package installed.
pub fn find() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pgbench"))
            .find(|candidate| candidate.is_file())
    });
    if on_path.is_some() {
        return on_path;
    }
    let mut installed: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let binary = entry.path().join("bin/pgbench");
            binary.is_file().then_some((version, binary))
        })
        .collect();
    installed.sort();
    installed.pop().map(|(_, binary)| binary)
}

/// Initialises scale 1 in `database_url` (a scratch database) and runs the TPC-B-like script.
pub async fn run(
    binary: PathBuf,
    database_url: &str,
    seconds: u32,
) -> anyhow::Result<PgbenchReport> {
    let (clients, threads) = (8, 2);
    let init = Command::new(&binary)
        .args(["-i", "-s", "1", "-q", database_url])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .await
        .context("running pgbench -i")?;
    if !init.status.success() {
        bail!(
            "pgbench -i failed: {}",
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let output = Command::new(&binary)
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &threads.to_string(),
            "-T",
            &seconds.to_string(),
        ])
        .arg(database_url)
        .output()
        .await
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let tps = parse_tps(&stdout)
        .with_context(|| format!("no tps line in pgbench's output:\n{stdout}"))?;
    Ok(PgbenchReport {
        binary: binary.display().to_string(),
        clients,
        threads,
        seconds,
        tps,
    })
}

/// The figure of the `tps = ...` line; pgbench 14+ prints one, older ones two (the first
/// including connection time).
fn parse_tps(output: &str) -> Option<f64> {
    output
        .lines()
        .rev()
        .filter_map(|line| line.trim().strip_prefix("tps = "))
        .find_map(|rest| rest.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_the_summary() {
        let output = "number of failed transactions: 0 (0.000%)\n\
                      latency average = 6.110 ms\n\
                      initial connection time = 11.519 ms\n\
                      tps = 1309.386187 (without initial connection time)\n";
        assert_eq!(parse_tps(output), Some(1309.386187));
    }

    #[test]
    fn older_output_takes_the_figure_without_connections() {
        let output = "tps = 1200.5 (including connections establishing)\n\
                      tps = 1250.25 (excluding connections establishing)\n";
        assert_eq!(parse_tps(output), Some(1250.25));
        assert_eq!(parse_tps("latency average = 1 ms\n"), None);
    }
}
