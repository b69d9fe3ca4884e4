//! Trigger rows (`workflow.triggers`): webhooks and cron schedules that start instances.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{NewInstance, Page};

pub const WEBHOOK: &str = "webhook";
pub const SCHEDULE: &str = "schedule";

/// A stored trigger. Storage never sees a webhook's secret in the clear: the scheduler encrypts
/// it into `secret_ciphertext`, and `config` holds everything else.
#[derive(Debug, Clone, PartialEq)]
pub struct TriggerRecord {
    pub id: Uuid,
    pub tenant: String,
    pub template_id: Uuid,
    /// [`WEBHOOK`] or [`SCHEDULE`].
    pub kind: String,
    pub enabled: bool,
    pub config: serde_json::Value,
    pub secret_ciphertext: Option<Vec<u8>>,
    /// A schedule's next tick, the one its next instance is for; `None` for webhooks, disabled
    /// schedules and schedules with no tick left.
    pub next_fire_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct TriggerFilter {
    pub template_id: Option<Uuid>,
    pub kind: Option<String>,
    pub page: Page,
}

/// One tick of a schedule, claimed and carried out in one transaction: the trigger's
/// `next_fire_at` moves from `seen` to `next` and the instance is written only if
/// `next_fire_at` still is `seen`, so however many schedulers race for a tick, one wins and a
/// crash leaves either both writes or neither.
#[derive(Debug, Clone)]
pub struct ScheduleFiring {
    pub trigger_id: Uuid,
    /// The `next_fire_at` the scheduler read.
    pub seen: DateTime<Utc>,
    /// The tick after this one; `None` when the schedule has no tick left.
    pub next: Option<DateTime<Utc>>,
    /// The instance this tick starts (with its start timer); `None` to only move past the tick
    /// (the template is gone).
    pub instance: Option<NewInstance>,
}
