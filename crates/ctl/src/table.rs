//! Output for a person: borderless tables (comfy-table), times and durations made short;
//! and the one place that writes to standard output.

use std::io::Write;

use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table, presets};
use serde_json::Value;

use crate::error::{CtlError, Result};

/// A borderless table with a header row, as wide as the terminal allows.
pub(crate) fn table<const N: usize>(header: [&str; N]) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::NOTHING)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(header);
    for column in table.column_iter_mut() {
        column.set_padding((0, 2));
    }
    table
}

/// The table's text, without the padding at the end of its lines.
pub(crate) fn render(table: &Table) -> String {
    table
        .lines()
        .map(|line| line.trim_end().to_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Writes text to standard output; a closed pipe (`| head`) ends the output quietly.
pub(crate) fn print(text: impl AsRef<str>) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_all(text.as_ref().as_bytes())
        .and_then(|()| {
            if text.as_ref().ends_with('\n') {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush());
    match written {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(CtlError::Output),
    }
}

/// JSON as the API sent it, indented.
pub(crate) fn print_json(value: &Value) -> Result<()> {
    print(pretty(value))
}

pub(crate) fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A timestamp as a person reads it: `2026-12-01 10:22:03`, in UTC.
pub(crate) fn time(text: Option<&str>) -> String {
    match text {
        None => "-".to_owned(),
        Some(text) => parse_time(text).map_or_else(
            || text.to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        ),
    }
}

/// The time between two instants, as [`elapsed`] writes it.
pub(crate) fn duration(from: DateTime<Utc>, to: DateTime<Utc>) -> String {
    elapsed(to - from)
}

/// A duration: `850ms`, `12.3s`, `4m05s`, `2h10m`.
pub(crate) fn elapsed(span: chrono::TimeDelta) -> String {
    let ms = span.num_milliseconds().max(0);
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..60_000 => format!("{:.1}s", ms as f64 / 1000.0),
        60_000..3_600_000 => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h{:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// The duration between two API timestamps, `-` when either is missing.
pub(crate) fn span(from: Option<&str>, to: Option<&str>) -> String {
    match (from.and_then(parse_time), to.and_then(parse_time)) {
        (Some(from), Some(to)) => duration(from, to),
        _ => "-".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_short() {
        let t0 = parse_time("2026-12-01T10:00:00Z").unwrap();
        let after = |ms: i64| t0 + chrono::Duration::milliseconds(ms);
        assert_eq!(duration(t0, after(850)), "850ms");
        assert_eq!(duration(t0, after(12_345)), "12.3s");
        assert_eq!(duration(t0, after(245_000)), "4m05s");
        assert_eq!(duration(t0, after(7_800_000)), "2h10m");
        assert_eq!(duration(after(5), t0), "0ms");
        assert_eq!(span(Some("2026-12-01T10:00:00Z"), None), "-");
    }

    #[test]
    fn times_read_in_utc() {
        assert_eq!(
            time(Some("2026-12-01T11:22:03.123+01:00")),
            "2026-12-01 10:22:03"
        );
        assert_eq!(time(None), "-");
        assert_eq!(time(Some("soon")), "soon");
    }
}
