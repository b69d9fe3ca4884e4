use model::Job;
use model::actions::{LogLevel, LogMessageConfig};
use serde_json::json;

use super::{ActionResult, parse_config};

/// Writes the message to the worker's log, with the instance and step so that it can be found.
pub(super) fn run(job: &Job) -> ActionResult {
    let config: LogMessageConfig = parse_config("log_message", &job.input)?;
    let instance_id = job.instance_id.to_string();
    let (instance_id, step_id) = (instance_id.as_str(), job.step_id.as_str());
    let message = config.message.as_str();
    match config.level.unwrap_or(LogLevel::Info) {
        LogLevel::Trace => tracing::trace!(instance_id, step_id, message, "workflow log"),
        LogLevel::Debug => tracing::debug!(instance_id, step_id, message, "workflow log"),
        LogLevel::Info => tracing::info!(instance_id, step_id, message, "workflow log"),
        LogLevel::Warn => tracing::warn!(instance_id, step_id, message, "workflow log"),
        LogLevel::Error => tracing::error!(instance_id, step_id, message, "workflow log"),
    }
    Ok(json!({"logged": true}))
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use serde_json::json;

    use super::*;
    use crate::actions::tests::job;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_message_is_logged_at_its_level_with_the_step() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let job = job(
            "log_message",
            json!({"message": "order shipped", "level": "warn"}),
        );
        let output = tracing::subscriber::with_default(subscriber, || run(&job)).unwrap();
        assert_eq!(output, json!({"logged": true}));
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(logged.contains("WARN"), "{logged}");
        assert!(logged.contains("order shipped"), "{logged}");
        assert!(logged.contains(&job.instance_id.to_string()), "{logged}");
    }

    #[test]
    fn an_unknown_level_is_invalid_config() {
        let err = run(&job(
            "log_message",
            json!({"message": "x", "level": "loud"}),
        ))
        .unwrap_err();
        assert_eq!(err.kind, "invalid_config");
        assert!(!err.retryable);
    }
}
