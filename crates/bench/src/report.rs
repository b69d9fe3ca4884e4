//! The figures: one table for people, both engine modes side by side, and the same as JSON for
//! tools.

use std::collections::BTreeMap;
use std::fmt::Write;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::latency::S1Report;
use crate::load::S2Report;
use crate::pgbench::PgbenchReport;
use crate::probes::{Floors, PerStep};
use crate::scale::{ParallelReport, ReleaseReport, WaitingReport};
use crate::search::SearchReport;

/// The product's aims: under this much overhead per step (or 1.5 × the durable-commit floor
/// when the floor itself is above it, as the peers' README has it) ...
pub const TARGET_PER_STEP_MS: f64 = 0.5;
/// ... and this many times pgbench's TPS in steps per second.
pub const TARGET_PGBENCH_RATIO: f64 = 2.0;

/// One engine mode's figures.
#[derive(Debug, Serialize)]
pub struct ModeResults {
    pub mode: &'static str,
    /// `VmRSS` of each engine process after start-up and at the end, KiB.
    pub rss_at_start_kib: BTreeMap<String, u64>,
    pub rss_at_end_kib: BTreeMap<String, u64>,
    pub s1: Option<S1Report>,
    pub s2: Option<S2Report>,
    /// CPU time of every engine process per S2 step.
    pub s2_engine_cpu_ms_per_step: Option<f64>,
    /// Postgres work per S2 step (split mode).
    pub s2_database_per_step: Option<PerStep>,
    /// S2 steps/s ÷ pgbench TPS.
    pub s2_pgbench_ratio: Option<f64>,
    pub parallel: Option<ParallelReport>,
    pub release: Option<ReleaseReport>,
    pub waiting: Option<WaitingReport>,
}

impl ModeResults {
    pub fn new(mode: &'static str) -> ModeResults {
        ModeResults {
            mode,
            rss_at_start_kib: BTreeMap::new(),
            rss_at_end_kib: BTreeMap::new(),
            s1: None,
            s2: None,
            s2_engine_cpu_ms_per_step: None,
            s2_database_per_step: None,
            s2_pgbench_ratio: None,
            parallel: None,
            release: None,
            waiting: None,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Results {
    pub started_at: DateTime<Utc>,
    pub cpus: usize,
    /// One-minute load average at the start and the end: the machine may be shared.
    pub load_average_start: Option<f64>,
    pub load_average_end: Option<f64>,
    pub engine_settings: Vec<String>,
    pub modes: Vec<ModeResults>,
    pub pgbench: Option<PgbenchReport>,
    pub floors: Option<Floors>,
    /// The per-step aim: 0.5 ms, or 1.5 × the durable-commit floor when that is above 0.5 ms.
    pub per_step_aim_ms: Option<f64>,
    pub search: Option<SearchReport>,
}

impl Results {
    /// Fills in what is computed from several parts: the ratios to pgbench, the aim.
    pub fn finish(&mut self) {
        let tps = self
            .pgbench
            .as_ref()
            .map(|p| p.tps)
            .filter(|tps| *tps > 0.0);
        for mode in &mut self.modes {
            mode.s2_pgbench_ratio = match (&mode.s2, tps) {
                (Some(s2), Some(tps)) => Some(s2.steps_per_second / tps),
                _ => None,
            };
        }
        self.per_step_aim_ms = self
            .pgbench
            .as_ref()
            .filter(|p| p.floor_ms > 0.0)
            .map(|p| TARGET_PER_STEP_MS.max(1.5 * p.floor_ms));
    }

    pub fn table(&self) -> String {
        let mut out = String::new();
        let width = 50;
        let _ = write!(out, "\n{:<width$}", "");
        for mode in &self.modes {
            let _ = write!(out, "{:>14}", mode.mode);
        }
        out.push('\n');
        let mut row = |label: String, cell: &dyn Fn(&ModeResults) -> Option<String>| {
            let cells: Vec<Option<String>> = self.modes.iter().map(cell).collect();
            if cells.iter().all(Option::is_none) {
                return;
            }
            let _ = write!(out, "{label:<width$}");
            for value in cells {
                let _ = write!(out, "{:>14}", value.unwrap_or_else(|| "-".to_owned()));
            }
            out.push('\n');
        };
        let s1 = self.modes.iter().find_map(|m| m.s1.as_ref());
        let runs = s1.map_or(0, |s| s.runs_ms_per_step.len());
        row(format!("S1 ms/step, median of {runs} (client)"), &|m| {
            m.s1.as_ref()
                .map(|s| format!("{:.3}", s.median_ms_per_step))
        });
        row("S1 ms/step, p99 of step cycles (engine)".into(), &|m| {
            m.s1.as_ref()
                .map(|s| format!("{:.3}", s.step_cycle_ms.p99_ms))
        });
        let s2 = self.modes.iter().find_map(|m| m.s2.as_ref());
        row(
            s2.map_or_else(String::new, |s| {
                format!(
                    "S2 steps/s ({} x {} steps, {} clients)",
                    s.instances, s.steps_per_instance, s.clients
                )
            }),
            &|m| m.s2.as_ref().map(|s| format!("{:.0}", s.steps_per_second)),
        );
        row("S2 / pgbench TPS".into(), &|m| {
            m.s2_pgbench_ratio.map(|r| format!("{r:.2}"))
        });
        row("S2 engine cpu ms/step".into(), &|m| {
            m.s2_engine_cpu_ms_per_step.map(|c| format!("{c:.3}"))
        });
        row("S2 postgres ins/upd/del per step".into(), &|m| {
            m.s2_database_per_step.as_ref().map(|d| {
                format!(
                    "{:.1}/{:.1}/{:.1}",
                    d.rows_inserted, d.rows_updated, d.rows_deleted
                )
            })
        });
        let branches = self.modes.iter().find_map(|m| m.parallel.as_ref());
        row(
            format!(
                "parallel, {} branches: s to completion",
                branches.map_or(0, |p| p.branches)
            ),
            &|m| m.parallel.as_ref().map(|p| format!("{:.2}", p.seconds)),
        );
        let release = self.modes.iter().find_map(|m| m.release.as_ref());
        row(
            format!(
                "release {} waiting: s to all completed",
                release.map_or(0, |r| r.instances)
            ),
            &|m| m.release.as_ref().map(|r| format!("{:.2}", r.seconds)),
        );
        let waiting = self.modes.iter().find_map(|m| m.waiting.as_ref());
        let parked = waiting.map_or(0, |w| w.instances);
        row(format!("{parked} waiting: scheduler RSS idle MiB"), &|m| {
            m.waiting
                .as_ref()
                .map(|w| format!("{:.1}", w.scheduler_rss_idle_kib as f64 / 1024.0))
        });
        row(
            format!("{parked} waiting: RSS after 1 % of them MiB"),
            &|m| {
                m.waiting
                    .as_ref()
                    .map(|w| format!("{:.1}", w.scheduler_rss_warm_kib as f64 / 1024.0))
            },
        );
        row(format!("{parked} waiting: scheduler RSS after MiB"), &|m| {
            m.waiting
                .as_ref()
                .map(|w| format!("{:.1}", w.scheduler_rss_after_kib as f64 / 1024.0))
        });
        row(
            format!("{parked} waiting: bytes per instance after 1 %"),
            &|m| {
                m.waiting
                    .as_ref()
                    .map(|w| format!("{:.0}", w.bytes_per_waiting_instance))
            },
        );
        row(format!("{parked} waiting: parked per second"), &|m| {
            m.waiting
                .as_ref()
                .map(|w| format!("{:.0}", w.instances_per_second))
        });
        if let Some(p) = &self.pgbench {
            let _ = writeln!(
                out,
                "pgbench TPC-B-like, scale {}, -c {} -j {} -T {}: {:.0} tps",
                p.scale, p.clients, p.threads, p.seconds, p.tps
            );
            let _ = writeln!(
                out,
                "one-client durable commit (one-row INSERT, -T {}): {:.3} ms ({:.0} tps)",
                p.floor_seconds, p.floor_ms, p.floor_tps
            );
        }
        if let Some(f) = &self.floors {
            let _ = writeln!(
                out,
                "round trips, p50: postgres SELECT 1 {:.3} ms, commit {:.3} ms, redis PING {:.3} ms",
                f.postgres_round_trip_ms.p50_ms,
                f.postgres_commit_ms.p50_ms,
                f.redis_round_trip_ms.p50_ms
            );
        }
        let aim = self.per_step_aim_ms.unwrap_or(TARGET_PER_STEP_MS);
        let _ = writeln!(
            out,
            "aims: S1 under {aim:.3} ms/step, S2 at {TARGET_PGBENCH_RATIO} x pgbench TPS; \
             load average {} at the start, {} at the end, {} cpus",
            load(self.load_average_start),
            load(self.load_average_end),
            self.cpus
        );
        out
    }
}

fn load(value: Option<f64>) -> String {
    value.map_or_else(|| "?".to_owned(), |v| format!("{v:.2}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Summary;

    fn s2(steps_per_second: f64) -> S2Report {
        S2Report {
            instances: 400,
            steps_per_instance: 5,
            clients: 8,
            submit_seconds: 0.5,
            wall_seconds: 1.0,
            steps_per_second,
            failed: 0,
            polled: 0,
        }
    }

    fn pgbench(tps: f64, floor_ms: f64) -> PgbenchReport {
        PgbenchReport {
            binary: "pgbench".into(),
            scale: 4,
            clients: 8,
            threads: 2,
            seconds: 10,
            tps,
            floor_seconds: 5,
            floor_tps: 1000.0 / floor_ms,
            floor_ms,
        }
    }

    fn results(modes: Vec<ModeResults>, pgbench: Option<PgbenchReport>) -> Results {
        Results {
            started_at: Utc::now(),
            cpus: 2,
            load_average_start: Some(1.0),
            load_average_end: None,
            engine_settings: Vec::new(),
            modes,
            pgbench,
            floors: None,
            per_step_aim_ms: None,
            search: None,
        }
    }

    #[test]
    fn ratios_and_aim_come_from_the_same_sitting() {
        let mut split = ModeResults::new("split");
        split.s2 = Some(s2(1500.0));
        let mut embedded = ModeResults::new("embedded");
        embedded.s2 = Some(s2(750.0));
        let mut r = results(vec![split, embedded], Some(pgbench(1000.0, 0.8)));
        r.finish();
        assert_eq!(r.modes[0].s2_pgbench_ratio, Some(1.5));
        assert_eq!(r.modes[1].s2_pgbench_ratio, Some(0.75));
        assert!((r.per_step_aim_ms.unwrap() - 1.2).abs() < 1e-9);
        let mut quick_disk = results(Vec::new(), Some(pgbench(1000.0, 0.2)));
        quick_disk.finish();
        assert_eq!(quick_disk.per_step_aim_ms, Some(0.5));
    }

    #[test]
    fn the_table_puts_modes_side_by_side_and_skips_what_did_not_run() {
        let mut split = ModeResults::new("split");
        split.s1 = Some(S1Report {
            steps: 20,
            warmup_runs: 2,
            runs_ms_per_step: vec![2.0, 3.0],
            median_ms_per_step: 2.5,
            step_cycle_ms: Summary {
                p99_ms: 4.25,
                ..Summary::default()
            },
            polled: 0,
        });
        let embedded = ModeResults::new("embedded");
        let table = results(vec![split, embedded], None).table();
        let header = table.lines().nth(1).unwrap();
        assert!(
            header.contains("split") && header.contains("embedded"),
            "{table}"
        );
        let s1 = table
            .lines()
            .find(|l| l.starts_with("S1 ms/step, median"))
            .unwrap();
        assert!(
            s1.contains("2.500") && s1.trim_end().ends_with('-'),
            "{table}"
        );
        assert!(table.contains("4.250"), "{table}");
        assert!(!table.contains("S2 steps/s"), "{table}");
        assert!(!table.contains("pgbench TPC-B"), "{table}");
    }
}
