//! The command line, and the plan it resolves to: which engine modes, which scenarios, and their
//! sizes (the peers' scenarios by default, small ones with `--quick`).

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "bench",
    about = "Runs the engine's release binary (split services and embedded) through the \
             benchmark's scenarios and compares it with pgbench"
)]
pub struct Cli {
    /// Which engine to run: the split services, the embedded process, or both.
    #[arg(long, value_enum, default_value_t = ModeChoice::Both)]
    pub mode: ModeChoice,
    /// Scenarios to run, comma-separated (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub only: Vec<Scenario>,
    /// A smoke run: every scenario, small.
    #[arg(long)]
    pub quick: bool,
    /// Instances parked on an event for the memory figure (default 100000; 1000 with --quick).
    #[arg(long)]
    pub scale_waiting: Option<usize>,
    /// S1: lone runs of the 20-step chain after the warm-up (default 10; 3 with --quick).
    #[arg(long)]
    pub s1_runs: Option<usize>,
    /// S2: instances of the 5-step chain (default 400; 40 with --quick).
    #[arg(long)]
    pub s2_instances: Option<usize>,
    /// S2: client tasks creating them.
    #[arg(long, default_value_t = 8)]
    pub s2_clients: usize,
    /// Branches of the parallel step (default 1000, the engine's limit; 100 with --quick).
    #[arg(long)]
    pub parallel_branches: Option<usize>,
    /// Instances parked on an event, then released at once (default 1000; 100 with --quick).
    #[arg(long)]
    pub release_instances: Option<usize>,
    /// Length of the 8-client pgbench run (default 10; 3 with --quick).
    #[arg(long)]
    pub pgbench_seconds: Option<u32>,
    /// Instances in the search benchmark's database (default 1000000; 10000 with --quick).
    #[arg(long)]
    pub search_rows: Option<u64>,
    /// Queries per filter shape in the search benchmark (default 200; 20 with --quick).
    #[arg(long)]
    pub search_queries: Option<usize>,
    /// Engine settings for every process, as the environment gives them
    /// (`--set WORKER_CONCURRENCY=64`).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = setting)]
    pub settings: Vec<(String, String)>,
    /// The engine binary (default: `release/workflow-engine` in the target directory).
    #[arg(long)]
    pub binary: Option<PathBuf>,
    /// Give up on one scenario after this long.
    #[arg(long, default_value_t = 900)]
    pub timeout_secs: u64,
    /// Where the results go (default: `bench-results.json` in the target directory).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Keep the databases this run made (their names are printed).
    #[arg(long)]
    pub keep_databases: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeChoice {
    Split,
    Embedded,
    Both,
}

/// How the engine runs: as deployed with one process per service, or as one process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineMode {
    /// `migrate`, then `scheduler`, `worker`, `gateway` processes over Postgres and Redis.
    Split,
    /// `workflow-engine` with no subcommand: SQLite and the in-memory queue.
    Embedded,
}

impl EngineMode {
    pub fn name(self) -> &'static str {
        match self {
            EngineMode::Split => "split",
            EngineMode::Embedded => "embedded",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Scenario {
    /// A 20-step noop chain, one instance at a time.
    S1,
    /// 400 instances of a 5-step noop chain from 8 client tasks.
    S2,
    /// One parallel step of 1000 noop branches.
    Parallel,
    /// 1000 instances parked on an event, released at once.
    Release,
    /// 100 000 instances parked on an event: the scheduler's memory.
    Waiting,
    /// pgbench TPC-B-like and the one-client durable commit.
    Pgbench,
    /// The instance search over 1 000 000 rows.
    Search,
}

/// Everything the run will do, with every size settled.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub modes: Vec<EngineMode>,
    pub scenarios: BTreeSet<Scenario>,
    pub s1_steps: usize,
    pub s1_warmup_runs: usize,
    pub s1_runs: usize,
    pub s2_instances: usize,
    pub s2_steps: usize,
    pub s2_clients: usize,
    pub parallel_branches: usize,
    pub release_instances: usize,
    pub waiting_instances: usize,
    pub pgbench_seconds: u32,
    pub floor_seconds: u32,
    pub search_rows: u64,
    pub search_queries: usize,
    pub timeout: Duration,
}

/// The engine refuses a parallel step with more branches (`MAX_PARALLEL_BRANCHES`).
pub const MAX_PARALLEL_BRANCHES: usize = 1000;

impl Cli {
    pub fn plan(&self) -> Result<Plan, String> {
        let quick = self.quick;
        let pick = |given: Option<usize>, full: usize, small: usize| {
            given.unwrap_or(if quick { small } else { full })
        };
        let modes = match self.mode {
            ModeChoice::Split => vec![EngineMode::Split],
            ModeChoice::Embedded => vec![EngineMode::Embedded],
            ModeChoice::Both => vec![EngineMode::Split, EngineMode::Embedded],
        };
        let scenarios: BTreeSet<Scenario> = if self.only.is_empty() {
            Scenario::value_variants().iter().copied().collect()
        } else {
            self.only.iter().copied().collect()
        };
        let plan = Plan {
            modes,
            scenarios,
            s1_steps: 20,
            s1_warmup_runs: 2,
            s1_runs: pick(self.s1_runs, 10, 3),
            s2_instances: pick(self.s2_instances, 400, 40),
            s2_steps: 5,
            s2_clients: self.s2_clients,
            parallel_branches: pick(self.parallel_branches, MAX_PARALLEL_BRANCHES, 100),
            release_instances: pick(self.release_instances, 1000, 100),
            waiting_instances: pick(self.scale_waiting, 100_000, 1000),
            pgbench_seconds: self.pgbench_seconds.unwrap_or(if quick { 3 } else { 10 }),
            floor_seconds: if quick { 2 } else { 5 },
            search_rows: self
                .search_rows
                .unwrap_or(if quick { 10_000 } else { 1_000_000 }),
            search_queries: pick(self.search_queries, 200, 20),
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
        };
        let counts = [
            ("--s1-runs", plan.s1_runs),
            ("--s2-instances", plan.s2_instances),
            ("--s2-clients", plan.s2_clients),
            ("--parallel-branches", plan.parallel_branches),
            ("--release-instances", plan.release_instances),
            ("--scale-waiting", plan.waiting_instances),
            ("--search-queries", plan.search_queries),
        ];
        if let Some((flag, _)) = counts.iter().find(|(_, n)| *n == 0) {
            return Err(format!("{flag} must be at least 1"));
        }
        if plan.parallel_branches > MAX_PARALLEL_BRANCHES {
            return Err(format!(
                "--parallel-branches is at most {MAX_PARALLEL_BRANCHES}, the engine's limit"
            ));
        }
        if plan.search_rows == 0 || plan.search_rows > i32::MAX as u64 {
            return Err("--search-rows must be between 1 and 2147483647".to_owned());
        }
        Ok(plan)
    }
}

impl Plan {
    pub fn runs(&self, scenario: Scenario) -> bool {
        self.scenarios.contains(&scenario)
    }

    /// Whether any scenario needs an engine running.
    pub fn needs_engine(&self) -> bool {
        [
            Scenario::S1,
            Scenario::S2,
            Scenario::Parallel,
            Scenario::Release,
            Scenario::Waiting,
        ]
        .iter()
        .any(|s| self.runs(*s))
    }
}

fn setting(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("'{text}' is not NAME=VALUE"))?;
    Ok((name.trim().to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(args: &[&str]) -> Result<Plan, String> {
        let mut argv = vec!["bench"];
        argv.extend_from_slice(args);
        Cli::try_parse_from(argv).map_err(|e| e.to_string())?.plan()
    }

    #[test]
    fn defaults_are_the_peers_scenarios_in_both_modes() {
        let plan = plan(&[]).unwrap();
        assert_eq!(plan.modes, [EngineMode::Split, EngineMode::Embedded]);
        assert_eq!(plan.scenarios.len(), 7);
        assert_eq!((plan.s1_steps, plan.s1_runs), (20, 10));
        assert_eq!(
            (plan.s2_instances, plan.s2_steps, plan.s2_clients),
            (400, 5, 8)
        );
        assert_eq!(plan.parallel_branches, 1000);
        assert_eq!(plan.release_instances, 1000);
        assert_eq!(plan.waiting_instances, 100_000);
        assert_eq!(plan.pgbench_seconds, 10);
        assert_eq!(plan.search_rows, 1_000_000);
    }

    #[test]
    fn quick_shrinks_what_was_not_given() {
        let plan = plan(&["--quick", "--scale-waiting", "5000"]).unwrap();
        assert_eq!(plan.waiting_instances, 5000);
        assert_eq!(plan.s2_instances, 40);
        assert_eq!(plan.parallel_branches, 100);
        assert_eq!(plan.search_rows, 10_000);
        assert_eq!(plan.pgbench_seconds, 3);
    }

    #[test]
    fn only_and_mode_narrow_the_run() {
        let plan = plan(&["--only", "s1,s2", "--mode", "embedded"]).unwrap();
        assert_eq!(plan.modes, [EngineMode::Embedded]);
        assert!(plan.runs(Scenario::S1) && plan.runs(Scenario::S2));
        assert!(!plan.runs(Scenario::Pgbench) && !plan.runs(Scenario::Search));
        assert!(plan.needs_engine());
        let search = super::tests::plan(&["--only", "search"]).unwrap();
        assert!(!search.needs_engine());
    }

    #[test]
    fn bad_sizes_and_names_are_refused() {
        assert!(plan(&["--only", "s3"]).is_err());
        assert!(plan(&["--mode", "cluster"]).is_err());
        let error = plan(&["--parallel-branches", "1001"]).unwrap_err();
        assert!(error.contains("at most 1000"), "{error}");
        let error = plan(&["--scale-waiting", "0"]).unwrap_err();
        assert!(error.contains("--scale-waiting"), "{error}");
        assert!(plan(&["--set", "NOEQUALS"]).is_err());
        assert_eq!(
            plan(&["--set", "WORKER_CONCURRENCY=64"]).map(|p| p.modes.len()),
            Ok(2)
        );
    }
}
