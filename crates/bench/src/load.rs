//! S2, throughput: `instances` instances of a short `noop` chain, created and started as fast
//! as `clients` concurrent client tasks can; steps/s = instances × steps / (first start call ->
//! last completion seen by the client), as the peers' benchmarks compute it. A full-size run
//! before the measured one warms the connections, pools and caches, as theirs does.

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::future::try_join_all;
use serde::Serialize;

use crate::client::Client;
use crate::watch::Watch;

pub struct S2Plan {
    pub instances: usize,
    pub steps: usize,
    pub clients: usize,
    pub timeout: Duration,
}

#[derive(Debug, Serialize)]
pub struct S2Report {
    pub instances: usize,
    pub steps_per_instance: usize,
    pub clients: usize,
    /// First start call -> last start call answered.
    pub submit_seconds: f64,
    /// First start call -> last completion seen.
    pub wall_seconds: f64,
    pub steps_per_second: f64,
    pub failed: usize,
    /// Instances whose completion the stream missed and a GET found.
    pub polled: usize,
}

pub async fn run(
    client: &Client,
    watch: &Watch,
    template_id: &str,
    plan: &S2Plan,
) -> anyhow::Result<S2Report> {
    let began = Instant::now();
    let shares = split(plan.instances, plan.clients);
    let created = try_join_all(shares.into_iter().map(|count| async move {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(client.start_instance(template_id).await?.id);
        }
        anyhow::Ok(ids)
    }))
    .await?;
    let submit_seconds = began.elapsed().as_secs_f64();
    let ids: Vec<String> = created.into_iter().flatten().collect();
    let outcome = watch.wait_for(client, &ids, plan.timeout).await?;
    if outcome.failed > 0 {
        bail!("{} of the S2 instances did not complete", outcome.failed);
    }
    let wall_seconds = outcome.last_seen.duration_since(began).as_secs_f64();
    Ok(S2Report {
        instances: plan.instances,
        steps_per_instance: plan.steps,
        clients: plan.clients,
        submit_seconds,
        wall_seconds,
        steps_per_second: rate(plan.instances * plan.steps, wall_seconds),
        failed: outcome.failed,
        polled: outcome.polled,
    })
}

/// `total` spread over `parts` as evenly as it goes (parts of zero dropped).
fn split(total: usize, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    (0..parts)
        .map(|index| total / parts + usize::from(index < total % parts))
        .filter(|count| *count > 0)
        .collect()
}

pub fn rate(count: usize, seconds: f64) -> f64 {
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_are_shared_between_clients() {
        assert_eq!(split(400, 8), [50; 8]);
        assert_eq!(split(10, 4), [3, 3, 2, 2]);
        assert_eq!(split(2, 8), [1, 1]);
        assert_eq!(split(400, 8).iter().sum::<usize>(), 400);
    }

    #[test]
    fn rate_is_count_over_seconds() {
        assert_eq!(rate(2000, 0.5), 4000.0);
        assert_eq!(rate(2000, 0.0), 0.0);
    }
}
