//! The yardsticks, as the peers' README defines them: pgbench's TPC-B-like transactions per
//! second on the same Postgres server (scale 4: at scale 1 eight clients contend for one branch
//! row and pgbench reports about half its TPS, which would flatter the ratio), and the
//! one-client durable commit of a one-row INSERT, the least a durable step can pay.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use tokio::process::Command;

/// pgbench's database size for the TPC-B-like run.
pub const SCALE: u32 = 4;

#[derive(Debug, Serialize)]
pub struct PgbenchReport {
    pub binary: String,
    pub scale: u32,
    pub clients: u32,
    pub threads: u32,
    pub seconds: u32,
    pub tps: f64,
    /// One client, `INSERT` of one row per transaction, `-T floor_seconds`.
    pub floor_seconds: u32,
    pub floor_tps: f64,
    /// 1000 / floor_tps: one durable commit, in ms.
    pub floor_ms: f64,
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

/// Initialises scale 4 in `database_url` (a scratch database), runs the TPC-B-like script with
/// 8 clients, then the one-client commit floor.
pub async fn run(
    binary: PathBuf,
    database_url: &str,
    seconds: u32,
    floor_seconds: u32,
    script_dir: &Path,
) -> anyhow::Result<PgbenchReport> {
    let (clients, threads) = (8, 2);
    let scale = SCALE.to_string();
    pgbench(&binary, &["-i", "-q", "-s", &scale, database_url]).await?;
    let tps = pgbench(
        &binary,
        &[
            "-c",
            &clients.to_string(),
            "-j",
            &threads.to_string(),
            "-T",
            &seconds.to_string(),
            database_url,
        ],
    )
    .await?;

    let mut conn = PgConnection::connect(database_url).await?;
    // A regular table: a temporary one writes no WAL, so its commit would not wait for the disk.
    sqlx::raw_sql("CREATE TABLE IF NOT EXISTS bench_floor (id bigint)")
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    std::fs::create_dir_all(script_dir)?;
    let script = script_dir.join("bench-floor.sql");
    std::fs::write(&script, "INSERT INTO bench_floor (id) VALUES (1);\n")
        .with_context(|| format!("writing {}", script.display()))?;
    let script_arg = script.display().to_string();
    let floor_tps = pgbench(
        &binary,
        &[
            "-n",
            "-c",
            "1",
            "-j",
            "1",
            "-T",
            &floor_seconds.to_string(),
            "-f",
            &script_arg,
            database_url,
        ],
    )
    .await?;
    let _ = std::fs::remove_file(&script);
    Ok(PgbenchReport {
        binary: binary.display().to_string(),
        scale: SCALE,
        clients,
        threads,
        seconds,
        tps,
        floor_seconds,
        floor_tps,
        floor_ms: if floor_tps > 0.0 {
            1000.0 / floor_tps
        } else {
            0.0
        },
    })
}

/// Runs pgbench; answers the `tps =` figure of its summary (0 for `-i`, which prints none).
async fn pgbench(binary: &Path, args: &[&str]) -> anyhow::Result<f64> {
    let output = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await
        .context("running pgbench")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench {} failed: {}{}",
            args.first().unwrap_or(&""),
            stdout,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if args.first() == Some(&"-i") {
        return Ok(0.0);
    }
    parse_tps(&stdout).with_context(|| format!("no tps line in pgbench's output:\n{stdout}"))
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
