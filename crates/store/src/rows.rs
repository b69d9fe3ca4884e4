//! Row decoding, written once for both databases. A record is read column by column through
//! [`Columns`]; what differs per dialect is only how one column becomes a value: Postgres has
//! native uuid, timestamptz and jsonb columns, SQLite keeps them as text (see `codec`).

use chrono::{DateTime, Utc};
use model::{Instance, InstanceStatus, StepExecution, Template};
use sqlx::Row;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use uuid::Uuid;

use crate::codec::{self, parse_json, parse_json_opt, parse_time, parse_time_opt, parse_uuid};
use crate::instance_cache::Versioned;
use crate::trigger::TriggerRecord;
use crate::{LoadedInstance, SlotHolders, StateDocument, StoreError, TimerRecord};

/// One column of a row as the value the model wants.
pub(crate) trait Columns {
    fn text(&self, column: &str) -> Result<&str, StoreError>;
    fn string(&self, column: &str) -> Result<String, StoreError>;
    fn string_opt(&self, column: &str) -> Result<Option<String>, StoreError>;
    fn int(&self, column: &str) -> Result<i32, StoreError>;
    fn big_int(&self, column: &str) -> Result<i64, StoreError>;
    fn boolean(&self, column: &str) -> Result<bool, StoreError>;
    fn bytes_opt(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError>;
    fn uuid(&self, column: &str) -> Result<Uuid, StoreError>;
    fn uuid_opt(&self, column: &str) -> Result<Option<Uuid>, StoreError>;
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    fn time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError>;
    fn json_opt(&self, column: &str) -> Result<Option<serde_json::Value>, StoreError>;
}

/// Methods that decode a column as its own type, for the columns a database stores natively.
macro_rules! native_columns {
    ($($name:ident -> $ty:ty;)*) => {$(
        fn $name(&self, column: &str) -> Result<$ty, StoreError> {
            Ok(self.try_get(column)?)
        }
    )*};
}

impl Columns for PgRow {
    native_columns! {
        text -> &str;
        string -> String;
        string_opt -> Option<String>;
        int -> i32;
        big_int -> i64;
        boolean -> bool;
        bytes_opt -> Option<Vec<u8>>;
        uuid -> Uuid;
        uuid_opt -> Option<Uuid>;
        time -> DateTime<Utc>;
        time_opt -> Option<DateTime<Utc>>;
        json -> serde_json::Value;
        json_opt -> Option<serde_json::Value>;
    }
}

impl Columns for SqliteRow {
    native_columns! {
        text -> &str;
        string -> String;
        string_opt -> Option<String>;
        int -> i32;
        big_int -> i64;
        boolean -> bool;
        bytes_opt -> Option<Vec<u8>>;
    }

    fn uuid(&self, column: &str) -> Result<Uuid, StoreError> {
        parse_uuid(self.try_get(column)?)
    }
    fn uuid_opt(&self, column: &str) -> Result<Option<Uuid>, StoreError> {
        codec::parse_uuid_opt(self.try_get(column)?)
    }
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        parse_time(self.try_get(column)?)
    }
    fn time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        parse_time_opt(self.try_get(column)?)
    }
    fn json(&self, column: &str) -> Result<serde_json::Value, StoreError> {
        parse_json(self.try_get(column)?)
    }
    fn json_opt(&self, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
        parse_json_opt(self.try_get(column)?)
    }
}

pub(crate) fn instance_from_row(row: &impl Columns) -> Result<Instance, StoreError> {
    Ok(Instance {
        id: row.uuid("id")?,
        tenant: row.string("tenant")?,
        template_id: row.uuid("template_id")?,
        template_version: row.int("template_version")?,
        status: codec::instance_status(row.text("status")?)?,
        variables: row.json("variables")?,
        output: row.json_opt("output")?,
        error: codec::error_from_json(row.json_opt("error")?)?,
        parent_instance_id: row.uuid_opt("parent_instance_id")?,
        created_at: row.time("created_at")?,
        started_at: row.time_opt("started_at")?,
        completed_at: row.time_opt("completed_at")?,
        updated_at: row.time("updated_at")?,
        // Searches select the listed columns only; the trace context is for the single view.
        traceparent: row.string_opt("traceparent").unwrap_or(None),
    })
}

pub(crate) fn versioned_from_row(row: &impl Columns) -> Result<Versioned, StoreError> {
    Ok(Versioned {
        loaded: LoadedInstance {
            instance: instance_from_row(row)?,
            state: StateDocument::from_text(row.string("state")?)?,
        },
        version: row.big_int("version")?,
    })
}

pub(crate) fn template_from_row(row: &impl Columns) -> Result<Template, StoreError> {
    Ok(Template {
        id: row.uuid("id")?,
        tenant: row.string("tenant")?,
        name: row.string("name")?,
        description: row.string_opt("description")?,
        version: row.int("version")?,
        definition: row.json("definition")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        warnings: codec::warnings_from_json(row.json("warnings")?)?,
    })
}

pub(crate) fn execution_from_row(row: &impl Columns) -> Result<StepExecution, StoreError> {
    Ok(StepExecution {
        id: row.uuid("id")?,
        instance_id: row.uuid("instance_id")?,
        step_id: row.string("step_id")?,
        name: row.string_opt("name")?,
        step_type: row.string("type")?,
        status: codec::step_status(row.text("status")?)?,
        attempt: row.int("attempt")?,
        input: row.json_opt("input")?,
        output: row.json_opt("output")?,
        error: codec::error_from_json(row.json_opt("error")?)?,
        created_at: row.time("created_at")?,
        started_at: row.time_opt("started_at")?,
        completed_at: row.time_opt("completed_at")?,
    })
}

pub(crate) fn timer_from_row(row: &impl Columns) -> Result<TimerRecord, StoreError> {
    Ok(TimerRecord {
        id: row.uuid("id")?,
        instance_id: row.uuid("instance_id")?,
        due_at: row.time("due_at")?,
        payload: row.json("payload")?,
    })
}

/// Released timers in arrival order.
pub(crate) fn released(rows: &[impl Columns]) -> Result<Vec<TimerRecord>, StoreError> {
    let mut timers: Vec<TimerRecord> = rows.iter().map(timer_from_row).collect::<Result<_, _>>()?;
    timers.sort_by_key(|timer| timer.id);
    Ok(timers)
}

pub(crate) fn trigger_from_row(row: &impl Columns) -> Result<TriggerRecord, StoreError> {
    Ok(TriggerRecord {
        id: row.uuid("id")?,
        tenant: row.string("tenant")?,
        template_id: row.uuid("template_id")?,
        kind: row.string("type")?,
        enabled: row.boolean("enabled")?,
        config: row.json("config")?,
        secret_ciphertext: row.bytes_opt("secret_ciphertext")?,
        next_fire_at: row.time_opt("next_fire_at")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

/// The slot holders from `(tenant, instances with a job)` rows.
pub(crate) fn slot_holders(rows: Vec<(String, i64)>) -> SlotHolders {
    SlotHolders {
        by_tenant: rows
            .into_iter()
            .map(|(tenant, held)| (tenant, held.max(0) as u64))
            .collect(),
    }
}

/// Instances per status from `(status, count)` rows.
pub(crate) fn status_counts(
    rows: Vec<(String, i64)>,
) -> Result<Vec<(InstanceStatus, u64)>, StoreError> {
    rows.into_iter()
        .map(|(status, count)| Ok((codec::instance_status(&status)?, count.max(0) as u64)))
        .collect()
}
