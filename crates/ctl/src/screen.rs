//! How a followed instance is shown: on a terminal, a block of step lines and a progress line
//! redrawn in place; otherwise a plain line per change (logs, pipes, CI); the raw events as
//! JSON lines with `--output json`; nothing for `start --wait`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use chrono::Utc;
use crossterm::{cursor, queue, terminal};

use crate::cli::Output;
use crate::table::{duration, elapsed};
use crate::watch::{Row, View};

#[derive(Debug)]
pub(crate) enum Screen {
    /// Nothing while it runs (`start --wait`).
    Quiet,
    /// Each event's data, one JSON document a line.
    Json,
    /// A line per step change and per instance status change.
    Plain(Plain),
    /// Lines updated in place.
    Live(Live),
}

#[derive(Debug, Default)]
pub(crate) struct Plain {
    printed: HashMap<String, (String, i64)>,
    instance_status: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct Live {
    /// Lines drawn last time, to move back over.
    drawn: u16,
}

impl Screen {
    /// The screen for `watch`: live on a terminal, plain lines elsewhere.
    pub(crate) fn for_watch(output: Output) -> Self {
        match output {
            Output::Json => Self::Json,
            Output::Table if std::io::stdout().is_terminal() => Self::Live(Live::default()),
            Output::Table => Self::Plain(Plain::default()),
        }
    }

    pub(crate) fn is_live(&self) -> bool {
        matches!(self, Self::Live(_))
    }

    /// An event as it came off the stream.
    pub(crate) fn event(&mut self, data: &str) {
        if let Self::Json = self {
            let line = serde_json::from_str::<serde_json::Value>(data)
                .map_or_else(|_| data.to_owned(), |v| v.to_string());
            write_out(&format!("{line}\n"));
        }
    }

    /// Shows the view as it is now: after a change, at a first look, at a tick.
    pub(crate) fn show(&mut self, view: &View) {
        match self {
            Self::Quiet | Self::Json => {}
            Self::Plain(plain) => plain.show(view),
            Self::Live(live) => live.draw(view),
        }
    }

    /// The final state.
    pub(crate) fn finish(&mut self, view: &View) {
        self.show(view);
    }
}

impl Plain {
    fn show(&mut self, view: &View) {
        let width = id_width(view);
        let mut text = String::new();
        for row in &view.rows {
            let seen = (row.status.clone(), row.attempt);
            if self.printed.get(&row.key) != Some(&seen) {
                text.push_str(&step_line(row, width, false));
                text.push('\n');
                self.printed.insert(row.key.clone(), seen);
            }
        }
        if self.instance_status.as_deref() != Some(view.instance.status.as_str()) {
            text.push_str(&progress_line(view));
            text.push('\n');
            self.instance_status = Some(view.instance.status.clone());
        }
        if !text.is_empty() {
            write_out(&text);
        }
    }
}

impl Live {
    fn draw(&mut self, view: &View) {
        let (columns, rows) = terminal::size().unwrap_or((100, 40));
        let width = id_width(view);
        let mut lines: Vec<String> = view
            .rows
            .iter()
            .map(|row| step_line(row, width, true))
            .collect();
        // Taller than the screen, the cursor could not go back up over it: the latest steps.
        let room = usize::from(rows.saturating_sub(3)).max(1);
        if lines.len() > room {
            let hidden = lines.len() - room + 1;
            lines.drain(..hidden);
            lines.insert(0, format!("  ... {hidden} earlier step(s)"));
        }
        lines.push(progress_line(view));
        let mut out = std::io::stdout().lock();
        if self.drawn > 0 {
            let _ = queue!(out, cursor::MoveUp(self.drawn), cursor::MoveToColumn(0));
        }
        for line in &lines {
            let fitted: String = line.chars().take(usize::from(columns.max(2)) - 1).collect();
            let _ = queue!(out, terminal::Clear(terminal::ClearType::CurrentLine));
            let _ = writeln!(out, "{fitted}");
        }
        let _ = queue!(out, terminal::Clear(terminal::ClearType::FromCursorDown));
        let _ = out.flush();
        self.drawn = u16::try_from(lines.len()).unwrap_or(u16::MAX);
    }
}

fn write_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

fn id_width(view: &View) -> usize {
    view.rows
        .iter()
        .map(|r| r.step_id.chars().count())
        .max()
        .unwrap_or(0)
}

/// `  send_welcome  completed  attempt 1  120ms`.
pub(crate) fn step_line(row: &Row, width: usize, live: bool) -> String {
    let mark = if live { mark(&row.status) } else { "" };
    let took = row.duration(Utc::now()).map(elapsed).unwrap_or_default();
    let status = if row.status.is_empty() {
        "pending"
    } else {
        &row.status
    };
    format!(
        "{mark}{:<width$}  {status:<9}  attempt {}  {took}",
        row.step_id, row.attempt
    )
    .trim_end()
    .to_owned()
}

fn mark(status: &str) -> &'static str {
    match status {
        "completed" => "✓ ",
        "failed" => "✗ ",
        "cancelled" | "skipped" => "- ",
        "running" => "» ",
        "waiting" => "… ",
        _ => "· ",
    }
}

/// `instance 019a…: running · 1/3 steps done, 1 running · 1.2s`.
pub(crate) fn progress_line(view: &View) -> String {
    let done = view.rows.iter().filter(|r| r.is_finished()).count();
    let count = |status: &str| view.rows.iter().filter(|r| r.status == status).count();
    let (running, waiting, failed) = (count("running"), count("waiting"), count("failed"));
    let mut line = format!(
        "instance {}: {} · {done}/{} steps done",
        view.instance.id,
        view.instance.status,
        view.rows.len()
    );
    if running > 0 {
        line.push_str(&format!(", {running} running"));
    }
    if waiting > 0 {
        line.push_str(&format!(", {waiting} waiting"));
    }
    if failed > 0 {
        line.push_str(&format!(", {failed} failed"));
    }
    let end = match view.instance.completed_at.as_deref() {
        Some(at) => crate::table::parse_time(at),
        None if view.finished() => None,
        None => Some(Utc::now()),
    };
    if let (Some(from), Some(to)) = (view.started_at(), end) {
        line.push_str(&format!(" · {}", duration(from, to)));
    }
    line
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::api::{Instance, Step};

    #[test]
    fn the_lines_say_where_each_step_and_the_instance_are() {
        let instance: Instance = serde_json::from_value(json!({"id": "i1", "template_id": "t",
            "template_version": 1, "status": "running", "variables": {}, "output": null,
            "error": null, "parent_instance_id": null, "created_at": "2026-12-01T10:00:00Z",
            "started_at": "2026-12-01T10:00:00Z", "completed_at": null,
            "updated_at": "2026-12-01T10:00:01Z"}))
        .unwrap();
        let step = |id: &str, step: &str, status: &str, done: Option<&str>| -> Step {
            serde_json::from_value(json!({"id": id, "step_id": step, "name": null,
                "type": "action", "status": status, "attempt": 1, "error": null,
                "created_at": "2026-12-01T10:00:00Z", "started_at": "2026-12-01T10:00:00Z",
                "completed_at": done}))
            .unwrap()
        };
        let view = View::new(
            instance,
            &[
                step("e1", "fetch", "completed", Some("2026-12-01T10:00:01.5Z")),
                step("e2", "approve", "waiting", None),
            ],
        );
        assert_eq!(
            step_line(&view.rows[0], 7, false),
            "fetch    completed  attempt 1  1.5s"
        );
        assert_eq!(
            step_line(&view.rows[0], 7, true),
            "✓ fetch    completed  attempt 1  1.5s"
        );
        let progress = progress_line(&view);
        assert!(
            progress.starts_with("instance i1: running · 1/2 steps done, 1 waiting · "),
            "{progress}"
        );
    }
}
