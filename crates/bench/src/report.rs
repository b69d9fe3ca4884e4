//! The figures, as a short table for people and as JSON for tools.

use std::fmt::Write;

use serde::Serialize;

use crate::latency::LatencyReport;
use crate::load::LoadReport;
use crate::pgbench::PgbenchReport;
use crate::probes::{DatabaseCounters, Floors};

/// The product's aims: under this much overhead per step ...
pub const TARGET_PER_STEP_MS: f64 = 0.5;
/// ... and this many times pgbench's TPS in steps per second.
pub const TARGET_PGBENCH_RATIO: f64 = 2.0;

#[derive(Debug, Serialize)]
pub struct Config {
    pub steps: usize,
    pub instances: usize,
    pub concurrency: usize,
    pub latency_runs: usize,
    pub poll_ms: u64,
    pub engine_settings: Vec<String>,
}

/// The engine database's work per completed step of the throughput run (the benchmark's own
/// polling reads are among the commits).
#[derive(Debug, Serialize)]
pub struct PerStep {
    pub commits: f64,
    pub rows_inserted: f64,
    pub rows_updated: f64,
    pub rows_deleted: f64,
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub config: Config,
    pub cpus: usize,
    pub latency: LatencyReport,
    pub throughput: LoadReport,
    pub database_totals: DatabaseCounters,
    pub database_per_step: PerStep,
    pub floors: Floors,
    pub pgbench: Option<PgbenchReport>,
    /// Steps per second ÷ pgbench TPS.
    pub pgbench_ratio: Option<f64>,
    pub meets_per_step_target: bool,
    pub meets_pgbench_target: Option<bool>,
}

impl Results {
    pub fn new(
        config: Config,
        latency: LatencyReport,
        throughput: LoadReport,
        database: DatabaseCounters,
        floors: Floors,
        pgbench: Option<PgbenchReport>,
    ) -> Results {
        let steps = throughput.steps.max(1) as f64;
        let pgbench_ratio = pgbench
            .as_ref()
            .filter(|p| p.tps > 0.0)
            .map(|p| throughput.steps_per_second / p.tps);
        Results {
            config,
            cpus: std::thread::available_parallelism().map_or(1, usize::from),
            meets_per_step_target: latency.per_step_ms > 0.0
                && latency.per_step_ms < TARGET_PER_STEP_MS,
            meets_pgbench_target: pgbench_ratio.map(|ratio| ratio >= TARGET_PGBENCH_RATIO),
            latency,
            throughput,
            database_per_step: PerStep {
                commits: database.commits as f64 / steps,
                rows_inserted: database.rows_inserted as f64 / steps,
                rows_updated: database.rows_updated as f64 / steps,
                rows_deleted: database.rows_deleted as f64 / steps,
            },
            database_totals: database,
            floors,
            pgbench,
            pgbench_ratio,
        }
    }

    pub fn table(&self) -> String {
        let l = &self.latency;
        let t = &self.throughput;
        let f = &self.floors;
        let mut out = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(out, "{name:<44} {value}");
        };
        row("", String::new());
        row(
            "latency: instances alone",
            format!("{} x {} noop steps", l.instances, l.steps_per_instance),
        );
        row(
            "  per step (instance duration / steps)",
            format!("{:.3} ms   (aim < {TARGET_PER_STEP_MS} ms)", l.per_step_ms),
        );
        row("  instance duration", summary(&l.instance_ms));
        row(
            "  step cycle (created -> next created)",
            summary(&l.step_cycle_ms),
        );
        row(
            "  execution (created -> completed)",
            summary(&l.execution_ms),
        );
        row(
            "throughput",
            format!("{} instances, {} in flight", t.instances, t.concurrency),
        );
        row(
            "  completed / failed",
            format!("{} / {} ({} steps)", t.completed, t.failed, t.steps),
        );
        row(
            "  steps/s (engine timestamps)",
            format!("{:.0} over {:.2} s", t.steps_per_second, t.engine_seconds),
        );
        row(
            "  steps/s (client wall clock)",
            format!(
                "{:.0} over {:.2} s",
                t.wall_steps_per_second, t.wall_seconds
            ),
        );
        row(
            "  per step under load (duration / steps)",
            format!("{:.3} ms", t.per_step_latency_ms),
        );
        row("  instance duration under load", summary(&t.instance_ms));
        if let Some(cpu) = t.process_cpu_ms_per_step {
            row("  engine process cpu per step", format!("{cpu:.3} ms"));
        }
        let d = &self.database_per_step;
        row(
            "  postgres per step",
            format!(
                "{:.2} commits, {:.2} inserts, {:.2} updates, {:.2} deletes",
                d.commits, d.rows_inserted, d.rows_updated, d.rows_deleted
            ),
        );
        row("floors", String::new());
        row("  postgres SELECT 1", summary(&f.postgres_round_trip_ms));
        row("  postgres durable commit", summary(&f.postgres_commit_ms));
        row("  redis PING", summary(&f.redis_round_trip_ms));
        match (&self.pgbench, self.pgbench_ratio) {
            (Some(p), Some(ratio)) => {
                row(
                    "pgbench (TPC-B-like, -c 8 -j 2)",
                    format!("{:.0} tps over {} s", p.tps, p.seconds),
                );
                row(
                    "  steps/s / pgbench tps",
                    format!("{ratio:.2}   (aim >= {TARGET_PGBENCH_RATIO})"),
                );
            }
            _ => row("pgbench", "not run".to_owned()),
        }
        out
    }
}

fn summary(s: &crate::stats::Summary) -> String {
    format!(
        "mean {:.3}  p50 {:.3}  p95 {:.3}  p99 {:.3}  max {:.3} ms (n={})",
        s.mean_ms, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.count
    )
}
