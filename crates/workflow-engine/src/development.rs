//! What the development mode makes up so that `make run` needs no configuration, and keeps
//! where it must survive a restart.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Where the development trigger key lives, beside the embedded SQLite file.
pub const TRIGGER_KEY_FILE: &str = "workflow-engine.trigger-key";

/// The key that encrypts webhook secrets in a development run without `TRIGGER_SECRET_KEY`
/// or `JWT_SECRET`: read from [`TRIGGER_KEY_FILE`], made (readable by the owner only) the first
/// time. A key derived from a made-up JWT secret would change every run and leave the stored
/// webhook secrets unreadable.
pub fn trigger_key(directory: &Path) -> anyhow::Result<scheduler::TriggerKey> {
    let path = directory.join(TRIGGER_KEY_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        return scheduler::TriggerKey::parse(text.trim())
            .with_context(|| format!("{}: not a key", path.display()));
    }
    let key = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(key.as_bytes())?;
    scheduler::TriggerKey::parse(&key).context("development trigger key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_made_once_and_read_back() {
        let directory = std::env::temp_dir().join(format!("wf-dev-key-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&directory).unwrap();
        let first = trigger_key(&directory).unwrap();
        let second = trigger_key(&directory).unwrap();
        let sealed = first.seal(uuid::Uuid::nil(), b"webhook secret");
        assert_eq!(
            second.open(uuid::Uuid::nil(), &sealed).unwrap(),
            b"webhook secret"
        );
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
