//! Due timers carried out: the inputs they carry go to their instances in one batch, and the
//! subflow children they ask for are spawned ([`super::subflow`]). Timers are the outbox for
//! work between instances ([`Outbox`]), so this is where that work starts.

use std::sync::Arc;

use store::TimerRecord;

use super::subflow::Spawn;
use super::{Core, Request};
use crate::outbox::Outbox;

impl Core {
    /// Carries out due timers: inputs to their instances in one batch, children spawned.
    ///
    /// Boxed because it recurses through [`Core::apply`] (a decision can make timers due now).
    pub(crate) fn fire_timers(
        self: Arc<Self>,
        timers: Vec<TimerRecord>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> {
        Box::pin(async move { self.fire_timers_now(timers).await })
    }

    async fn fire_timers_now(self: Arc<Self>, timers: Vec<TimerRecord>) {
        let mut requests = Vec::new();
        for timer in timers {
            match serde_json::from_value::<Outbox>(timer.payload.clone()) {
                Ok(Outbox::Input { input }) => requests.push(Request {
                    fired_timer: Some(timer.id),
                    ..Request::internal(timer.instance_id, input)
                }),
                Ok(Outbox::SpawnChild {
                    tenant,
                    execution_id,
                    child_instance_id,
                    subflow,
                    version,
                    variables,
                    depth,
                }) => {
                    let spawn = Spawn {
                        timer: timer.id,
                        parent: timer.instance_id,
                        tenant,
                        execution_id,
                        child_instance_id,
                        subflow,
                        version,
                        variables,
                        depth,
                    };
                    let core = self.clone();
                    tokio::spawn(async move { core.spawn_child(spawn).await });
                }
                Err(error) => {
                    tracing::error!(timer_id = %timer.id, error = %error, "unreadable timer payload")
                }
            }
        }
        if requests.is_empty() {
            return;
        }
        for result in self.apply(requests).await {
            if let Err(error) = result {
                tracing::warn!(error = %error, "timer input failed");
            }
        }
    }
}
