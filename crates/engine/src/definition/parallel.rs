//! Parallel steps: branches, `fail_fast` and `max_concurrency`.

use serde_json::Value;

use super::action::parse_action;
use super::checker::Checker;
use super::{DEFAULT_MAX_CONCURRENCY, MAX_PARALLEL_BRANCHES, ParallelDef};

pub(super) fn parse_parallel(ck: &mut Checker, config: &Value, path: &str) -> Option<ParallelDef> {
    let branches_json = match config.get("parallel_steps") {
        Some(Value::Array(items)) if items.len() > MAX_PARALLEL_BRANCHES => {
            ck.error(
                format!("{path}/parallel_steps"),
                format!("a parallel step has at most {MAX_PARALLEL_BRANCHES} branches"),
            );
            return None;
        }
        Some(Value::Array(items)) if !items.is_empty() => items,
        _ => {
            ck.error(
                format!("{path}/parallel_steps"),
                "parallel_steps must be a non-empty array of actions",
            );
            return None;
        }
    };
    let mut branches = Vec::new();
    for (j, item) in branches_json.iter().enumerate() {
        if let Some(action) = parse_action(ck, item, &format!("{path}/parallel_steps/{j}"), true) {
            branches.push(action);
        }
    }
    let fail_fast = match config.get("failure_mode") {
        None | Some(Value::Null) => true,
        Some(Value::String(m)) if m == "fail_fast" => true,
        Some(Value::String(m)) if m == "wait_all" => false,
        Some(_) => {
            ck.error(
                format!("{path}/failure_mode"),
                "failure_mode must be fail_fast or wait_all",
            );
            true
        }
    };
    let max_concurrency = match config.get("max_concurrency") {
        None | Some(Value::Null) => Some(DEFAULT_MAX_CONCURRENCY),
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                ck.error(
                    format!("{path}/max_concurrency"),
                    "max_concurrency must be a positive integer",
                );
                None
            }
        },
    };
    Some(ParallelDef {
        branches,
        fail_fast,
        max_concurrency,
    })
}
