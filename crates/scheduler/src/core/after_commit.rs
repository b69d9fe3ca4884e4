//! What a committed batch leaves to do: its jobs to the queue and its events to the bus (by
//! the hand-off task), the slots it freed to the inputs parked for one, the timers already due
//! fired at once, and the sweeper woken when it made a timer due before its next look.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use model::{Job, WorkflowEvent};
use store::{TimerRecord, Transition};

use super::Core;
use super::slots::parked_at;

/// Gathered over the batch's committed decisions, then carried out by [`Core::follow_up`].
#[derive(Default)]
pub(super) struct AfterCommit {
    jobs: Vec<Job>,
    events: Vec<WorkflowEvent>,
    due_timers: Vec<TimerRecord>,
    earliest_later_timer: Option<DateTime<Utc>>,
    released: u32,
}

impl AfterCommit {
    /// Notes the step timeouts of a decision's jobs, those that leave through the queue and
    /// the one handed back eagerly alike: the sweeper fires them from the job rows.
    pub(super) fn watch_timeouts(&mut self, jobs: &[Job]) {
        for job in jobs.iter().filter(|job| job.timeout_timer.is_some()) {
            self.wake_by(job.deadline);
        }
    }

    /// Takes a committed decision's jobs, events and timers (what `now` has made due, and the
    /// new instances' start timers, fire at once; inputs parked for a slot wait).
    pub(super) fn add(&mut self, transition: Transition, now: DateTime<Utc>) {
        self.jobs.extend(transition.jobs);
        self.events.extend(transition.events);
        for new_instance in transition.new_instances {
            self.due_timers.extend(new_instance.timers);
        }
        for timer in transition.timers {
            if timer.due_at == parked_at() {
                continue;
            }
            if timer.due_at <= now {
                self.due_timers.push(timer);
            } else {
                self.wake_by(timer.due_at);
            }
        }
    }

    /// Slots an instance gave back.
    pub(super) fn release(&mut self, slots: u32) {
        self.released += slots;
    }

    fn wake_by(&mut self, at: DateTime<Utc>) {
        if self
            .earliest_later_timer
            .is_none_or(|earliest| at < earliest)
        {
            self.earliest_later_timer = Some(at);
        }
    }
}

impl Core {
    pub(super) async fn follow_up(self: &Arc<Self>, after: AfterCommit) {
        self.hand_off(after.jobs, after.events).await;
        if after.released > 0 {
            let core = self.clone();
            let released = after.released;
            tokio::spawn(async move { core.release_slots(released).await });
        }
        if let Some(at) = after.earliest_later_timer {
            self.wake_sweeper_by(at);
        }
        if !after.due_timers.is_empty() {
            let core = self.clone();
            let due = after.due_timers;
            tokio::spawn(async move { core.fire_timers(due).await });
        }
    }

    /// Wakes the sweeper when `at` comes before its next planned look.
    fn wake_sweeper_by(&self, at: DateTime<Utc>) {
        let next = *self
            .sweeper_next_wake
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if next.is_none_or(|next| at < next) {
            self.sweeper_wake.notify_one();
        }
    }
}
