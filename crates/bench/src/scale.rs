//! The scale scenarios: one `parallel` step of many `noop` branches; many instances parked on an
//! event and released at once; and very many parked instances, for the scheduler's memory.
//! Instances are created through the API with `start: true`; a wait step holds no concurrency
//! slot, so they all reach it, but a start beyond `MAX_CONCURRENT_WORKFLOWS` may answer
//! `pending` first: "parked" is therefore checked as "no instance of the template is still
//! pending".

use std::time::{Duration, Instant};

use anyhow::bail;
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::client::Client;
use crate::engine::Engine;
use crate::load::rate;
use crate::watch::Watch;

/// Requests in flight at once when creating instances or sending events.
const CONCURRENT_CALLS: usize = 64;

#[derive(Debug, Serialize)]
pub struct ParallelReport {
    pub branches: usize,
    /// Start call -> completion seen by the client.
    pub seconds: f64,
    pub branches_per_second: f64,
}

pub async fn parallel(
    client: &Client,
    watch: &Watch,
    template_id: &str,
    branches: usize,
    timeout: Duration,
) -> anyhow::Result<ParallelReport> {
    let began = Instant::now();
    let ids = [client.start_instance(template_id).await?.id];
    let outcome = watch.wait_for(client, &ids, timeout).await?;
    if outcome.failed > 0 {
        bail!("the parallel instance {} did not complete", ids[0]);
    }
    let seconds = outcome.last_seen.duration_since(began).as_secs_f64();
    Ok(ParallelReport {
        branches,
        seconds,
        branches_per_second: rate(branches, seconds),
    })
}

#[derive(Debug, Serialize)]
pub struct ReleaseReport {
    pub instances: usize,
    /// Creating them and seeing them all parked.
    pub park_seconds: f64,
    /// First event sent -> last event accepted.
    pub send_seconds: f64,
    /// First event sent -> last completion seen by the client.
    pub seconds: f64,
    pub instances_per_second: f64,
    pub polled: usize,
}

/// `instances` of a template that waits for `event` and then runs a `noop`: all parked, then
/// the events sent concurrently.
pub async fn release(
    client: &Client,
    watch: &Watch,
    template_id: &str,
    event: &str,
    instances: usize,
    timeout: Duration,
) -> anyhow::Result<ReleaseReport> {
    let parking = Instant::now();
    let ids = park(client, template_id, instances, timeout).await?;
    let park_seconds = parking.elapsed().as_secs_f64();
    let began = Instant::now();
    stream::iter(ids.iter())
        .map(|id| client.send_event(id, event))
        .buffer_unordered(CONCURRENT_CALLS)
        .try_collect::<Vec<()>>()
        .await?;
    let send_seconds = began.elapsed().as_secs_f64();
    let outcome = watch.wait_for(client, &ids, timeout).await?;
    if outcome.failed > 0 {
        bail!("{} released instances did not complete", outcome.failed);
    }
    let seconds = outcome.last_seen.duration_since(began).as_secs_f64();
    Ok(ReleaseReport {
        instances,
        park_seconds,
        send_seconds,
        seconds,
        instances_per_second: rate(instances, seconds),
        polled: outcome.polled,
    })
}

#[derive(Debug, Serialize)]
pub struct WaitingReport {
    pub instances: usize,
    /// Creating them and seeing them all parked.
    pub park_seconds: f64,
    pub instances_per_second: f64,
    /// The scheduler process's `VmRSS` (the embedded process in embedded mode) before any
    /// work, after the first 1 % of the instances (the warm-up) and after all of them, each
    /// after a settling pause.
    pub scheduler_rss_idle_kib: u64,
    pub scheduler_rss_warm_kib: u64,
    pub scheduler_rss_after_kib: u64,
    /// (after - warm) / the instances parked after the warm-up: what one more waiting
    /// instance costs, without the pools, buffers and caches any work fills once.
    pub bytes_per_waiting_instance: f64,
}

/// The pause before each memory reading, so work in flight (buffers, pools) has settled.
const SETTLE: Duration = Duration::from_secs(2);

/// `instances` parked on an event that never comes; the scheduler's resident memory before
/// and after.
pub async fn waiting(
    engine: &Engine,
    client: &Client,
    template_id: &str,
    instances: usize,
    timeout: Duration,
) -> anyhow::Result<WaitingReport> {
    let pid = engine
        .scheduler_pid()
        .ok_or_else(|| anyhow::anyhow!("the scheduler process is gone"))?;
    let rss =
        || crate::procfs::rss_kib(pid).ok_or_else(|| anyhow::anyhow!("no VmRSS for pid {pid}"));
    tokio::time::sleep(SETTLE).await;
    let idle = rss()?;
    let warm_up = (instances / 100).max(1);
    let began = Instant::now();
    park(client, template_id, warm_up, timeout).await?;
    let warm_up_seconds = began.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let warm = rss()?;
    let began = Instant::now();
    park(client, template_id, instances - warm_up, timeout).await?;
    let park_seconds = warm_up_seconds + began.elapsed().as_secs_f64();
    tokio::time::sleep(SETTLE).await;
    let after = rss()?;
    let after_warm_up = (instances - warm_up).max(1);
    Ok(WaitingReport {
        instances,
        park_seconds,
        instances_per_second: rate(instances, park_seconds),
        scheduler_rss_idle_kib: idle,
        scheduler_rss_warm_kib: warm,
        scheduler_rss_after_kib: after,
        bytes_per_waiting_instance: (after as f64 - warm as f64) * 1024.0 / after_warm_up as f64,
    })
}

/// Creates and starts `instances` instances of a template whose first step is a wait, and
/// returns once none is pending any more (every one is at its wait).
async fn park(
    client: &Client,
    template_id: &str,
    instances: usize,
    timeout: Duration,
) -> anyhow::Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    let ids: Vec<String> = stream::iter(0..instances)
        .map(|_| async move { anyhow::Ok(client.start_instance(template_id).await?.id) })
        .buffer_unordered(CONCURRENT_CALLS)
        .try_collect()
        .await?;
    while client.any_in(template_id, "pending").await? {
        if Instant::now() > deadline {
            bail!("instances still pending after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(ids)
}
