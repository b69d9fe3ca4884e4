//! Concurrency slots (`MAX_CONCURRENT_WORKFLOWS`, `TENANT_MAX_CONCURRENT_WORKFLOWS`): an
//! instance holds one while it has a job queued or running. Here what a checked batch may still
//! hand out, where an input waits when there is none, and its release when one frees.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use store::{SlotHolders, StoreError};

use super::{Admission, Core};

/// Where inputs wait for a concurrency slot: timers due at this fixed, far-away time, released
/// oldest first (their ids are time-ordered) when a slot frees.
pub(super) fn parked_at() -> DateTime<Utc> {
    DateTime::from_timestamp(220_898_995_200, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The slots one batch may hand out. Its decisions share it, each taking from what the others
/// left, so it sits behind a lock (the store runs them one at a time, but may run them from
/// any thread). An unchecked batch (`None`) hands out whatever is asked.
#[derive(Debug)]
pub(super) struct Allowance(Option<Mutex<FreeSlots>>);

/// A checked batch's slots: how many are free in all, and how many each tenant holds (counting
/// those the batch took) against the per-tenant cap.
#[derive(Debug)]
struct FreeSlots {
    free: u64,
    tenant_cap: u64,
    held: HashMap<String, u64>,
}

impl Allowance {
    pub(super) fn unchecked() -> Self {
        Self(None)
    }

    /// `cap` slots in all and `tenant_cap` per tenant, less those `holders` hold.
    pub(super) fn checked(holders: SlotHolders, cap: u32, tenant_cap: u32) -> Self {
        Self(Some(Mutex::new(FreeSlots {
            free: u64::from(cap).saturating_sub(holders.total()),
            tenant_cap: u64::from(tenant_cap),
            held: holders.by_tenant,
        })))
    }

    /// Takes a slot for a tenant's instance, when one is free in all and the tenant is under
    /// its cap.
    pub(super) fn take_slot(&self, tenant: &str) -> bool {
        let Some(slots) = &self.0 else {
            return true;
        };
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        let held = slots.held.get(tenant).copied().unwrap_or(0);
        if slots.free == 0 || held >= slots.tenant_cap {
            return false;
        }
        slots.free -= 1;
        slots.held.insert(tenant.to_owned(), held + 1);
        true
    }

    /// Returns slots a decision took for a tenant's instance (the decision is running again).
    pub(super) fn give_back(&self, tenant: &str, taken: u32) {
        let Some(slots) = &self.0 else {
            return;
        };
        if taken == 0 {
            return;
        }
        let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.free += u64::from(taken);
        if let Some(held) = slots.held.get_mut(tenant) {
            *held = held.saturating_sub(u64::from(taken));
        }
    }
}

impl Core {
    /// A batch's allowance: for a checked batch, the slots free as the store counts their
    /// holders now (the admission lock keeps that count true until the batch commits).
    pub(super) async fn allowance(&self, admission: Admission) -> Result<Allowance, StoreError> {
        if admission == Admission::Unchecked {
            return Ok(Allowance::unchecked());
        }
        let holders = self.store.slot_holders().await?;
        Ok(Allowance::checked(
            holders,
            self.settings.max_concurrent_workflows,
            self.settings.tenant_max_concurrent_workflows,
        ))
    }

    /// Lets the oldest inputs that waited for a slot go on, skipping those of tenants at their
    /// cap (an input released anyway, by a race, is parked again under its own id).
    pub(crate) async fn release_slots(self: Arc<Self>, slots: u32) {
        match self
            .store
            .release_parked(parked_at(), Utc::now(), slots, self.binding_tenant_cap())
            .await
        {
            Ok(timers) if !timers.is_empty() => self.fire_timers(timers).await,
            Ok(_) => {}
            Err(error) => tracing::warn!(error = %error, "cannot release parked inputs"),
        }
    }

    /// The per-tenant cap when it is below the global one; otherwise no tenant can reach it
    /// before the whole engine does, and releasing needs no per-tenant count.
    fn binding_tenant_cap(&self) -> Option<u32> {
        let settings = &self.settings;
        (settings.tenant_max_concurrent_workflows < settings.max_concurrent_workflows)
            .then_some(settings.tenant_max_concurrent_workflows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_taken_under_both_caps_and_given_back() {
        let holders = SlotHolders {
            by_tenant: HashMap::from([("busy".to_owned(), 1)]),
        };
        let allowance = Allowance::checked(holders, 3, 1);
        assert!(!allowance.take_slot("busy"), "busy is at its cap");
        assert!(allowance.take_slot("a"));
        assert!(!allowance.take_slot("a"), "a is at its cap");
        assert!(allowance.take_slot("b"));
        assert!(!allowance.take_slot("c"), "every slot is taken");
        allowance.give_back("a", 1);
        assert!(allowance.take_slot("c"));
        assert!(!allowance.take_slot("a"), "the slot went to c");
    }

    #[test]
    fn an_unchecked_batch_always_has_a_slot() {
        let allowance = Allowance::unchecked();
        assert!((0..10).all(|_| allowance.take_slot("a")));
    }
}
