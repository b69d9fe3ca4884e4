use serde_json::json;

use super::ActionResult;

/// Does nothing, for tests and benchmarks of the engine itself.
pub(super) fn run() -> ActionResult {
    Ok(json!({}))
}
