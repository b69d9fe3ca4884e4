//! Schedule triggers: at each cron tick, one instance, however many schedulers run.
//!
//! Every schedule keeps `next_fire_at` in the database. The loop sleeps until the earliest one
//! (or `WORKFLOW_CHECK_INTERVAL`, so that a schedule created through another replica is seen
//! within it; a schedule created or deleted through this replica wakes it at once), then claims
//! each due tick with a compare-and-set on `next_fire_at` that writes the tick's instance in the
//! same transaction: two replicas that read the same tick cannot both win, and a crash leaves
//! both writes or neither.
//!
//! Missed ticks (no scheduler ran through them) are not made up in a burst: the schedule fires
//! once, for the most recent tick that passed, and moves on to the first tick after now.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use store::{ScheduleFiring, TriggerRecord};
use tokio::sync::{Notify, watch};
use tracing::Instrument;

use crate::core::Core;
use crate::create_instance;
use crate::trigger_config::Schedule;

const BATCH: u32 = 100;
/// How soon to look again after the database failed.
const RETRY_AFTER: Duration = Duration::from_secs(1);

pub(crate) async fn run(core: Arc<Core>, wake: Arc<Notify>, mut shutdown: watch::Receiver<bool>) {
    loop {
        if *shutdown.borrow() {
            return;
        }
        let healthy = fire_due(&core).await;
        let now = Utc::now();
        let mut pause = core.settings.check_interval;
        match core.store.next_schedule_due().await {
            Ok(Some(due)) => pause = pause.min((due - now).to_std().unwrap_or_default()),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(error = %error, "cannot read the next schedule tick");
                pause = pause.min(RETRY_AFTER);
            }
        }
        if !healthy {
            pause = pause.max(RETRY_AFTER.min(core.settings.check_interval));
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = wake.notified() => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Fires every due tick. `false` when something failed and the loop should not spin on it.
async fn fire_due(core: &Arc<Core>) -> bool {
    loop {
        let due = match core.store.due_schedules(Utc::now(), BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(error = %error, "cannot read due schedules");
                return false;
            }
        };
        let full = due.len() as u32 == BATCH;
        let outcomes = futures::future::join_all(due.iter().map(|t| fire(core, t))).await;
        if outcomes.iter().any(|ok| !ok) {
            return false;
        }
        if !full {
            return true;
        }
    }
}

/// The ticks one firing is for: the most recent one that passed, and the next.
pub(crate) fn ticks(
    schedule: &Schedule,
    seen: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (DateTime<Utc>, Option<DateTime<Utc>>) {
    let tick = schedule
        .latest_until(now)
        .filter(|tick| *tick >= seen)
        .unwrap_or(seen);
    (tick, schedule.next_after(now))
}

/// Claims and carries out one schedule's due tick in a root span of its own, so that the
/// instance it starts (which keeps the span's trace context) is a trace beginning at the tick.
/// `false` on a failure worth a pause.
async fn fire(core: &Arc<Core>, trigger: &TriggerRecord) -> bool {
    // Disabled (free) without an exporter, as the other trace-only spans.
    let span = tracing::info_span!(
        target: proto::trace::SPAN_TARGET,
        parent: None,
        "schedule_tick",
        trigger_id = %trigger.id,
        tenant = %trigger.tenant,
        scheduled_at = tracing::field::Empty,
        instance_id = tracing::field::Empty,
    );
    fire_in_span(core, trigger).instrument(span).await
}

async fn fire_in_span(core: &Arc<Core>, trigger: &TriggerRecord) -> bool {
    let Some(seen) = trigger.next_fire_at else {
        return true;
    };
    let schedule = match Schedule::from_config(&trigger.config) {
        Ok(schedule) => schedule,
        Err(error) => {
            // Checked at creation; a row that no longer parses is stopped rather than retried.
            tracing::error!(trigger_id = %trigger.id, error = %error, "unreadable schedule; it stops");
            let stop = ScheduleFiring {
                trigger_id: trigger.id,
                seen,
                next: None,
                instance: None,
            };
            return core.store.fire_schedule(&stop).await.is_ok();
        }
    };
    let now = Utc::now();
    let (tick, next) = ticks(&schedule, seen, now);
    tracing::Span::current().record("scheduled_at", tick.to_rfc3339().as_str());
    let origin = serde_json::json!({
        "trigger_id": trigger.id,
        "scheduled_at": crate::convert::time(tick),
    });
    let prepared = match create_instance::load_template(
        core,
        &trigger.tenant,
        trigger.template_id,
        None,
    )
    .await
    .and_then(|template| {
        create_instance::prepare(&template, schedule.variables.clone(), true, now, origin)
    }) {
        Ok(prepared) => Some(prepared),
        Err(crate::SchedulerError::NotFound(_)) => {
            // A deleted template stays deleted: the schedule stops rather than skip every tick.
            tracing::warn!(trigger_id = %trigger.id, template_id = %trigger.template_id, "schedule's template is gone; the schedule stops");
            None
        }
        Err(error) => {
            tracing::warn!(trigger_id = %trigger.id, error = %error, "schedule tick not fired");
            return false;
        }
    };
    let firing = ScheduleFiring {
        trigger_id: trigger.id,
        seen,
        next: next.filter(|_| prepared.is_some()),
        instance: prepared.as_ref().map(|p| p.new.clone()),
    };
    match core.store.fire_schedule(&firing).await {
        Ok(true) => {}
        // Another scheduler took this tick.
        Ok(false) => return true,
        Err(error) => {
            tracing::warn!(trigger_id = %trigger.id, error = %error, "schedule tick not fired");
            return false;
        }
    }
    let Some(prepared) = prepared else {
        return true;
    };
    metrics::counter!("workflow_schedule_ticks_total").increment(1);
    let instance = prepared.new.instance.clone();
    tracing::Span::current().record("instance_id", tracing::field::display(instance.id));
    tracing::info!(trigger_id = %trigger.id, instance_id = %instance.id, tick = %tick, "schedule fired");
    if let Err(error) = create_instance::after_insert(core, instance, prepared).await {
        // The start timer is in the database: the sweeper carries it out.
        tracing::warn!(trigger_id = %trigger.id, error = %error, "scheduled instance not started yet");
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, m, s).unwrap()
    }

    #[test]
    fn a_due_tick_fires_for_itself_and_moves_to_the_next() {
        let schedule = Schedule::from_config(&json!({"cron": "*/10 * * * * *"})).unwrap();
        let now = at(12, 0, 0) + chrono::Duration::milliseconds(3);
        assert_eq!(
            ticks(&schedule, at(12, 0, 0), now),
            (at(12, 0, 0), Some(at(12, 0, 10)))
        );
    }

    #[test]
    fn missed_ticks_fire_once_for_the_latest() {
        let schedule = Schedule::from_config(&json!({"cron": "0 * * * *"})).unwrap();
        // Down from 09:00 until 12:30: the 09:00, 10:00, 11:00 and 12:00 ticks passed.
        let (tick, next) = ticks(&schedule, at(9, 0, 0), at(12, 30, 0));
        assert_eq!(tick, at(12, 0, 0));
        assert_eq!(next, Some(at(13, 0, 0)));
    }
}
