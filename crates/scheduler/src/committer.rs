//! Group commit: inputs arriving together are decided and written in one transaction, so that
//! many instances moving at once cost one round trip and one fsync. Worker results go through
//! [`Committer`] (several loops, no admission check: an instance with a job in flight already
//! holds its slot); everything that may take a concurrency slot (starts, API inputs, timers)
//! through [`AdmittingCommitter`] (one loop, since admission reads the slot count and must see
//! every earlier batch committed).

use std::sync::{Arc, Weak};

use tokio::sync::{mpsc, oneshot};

use crate::SchedulerError;
use crate::core::{Admission, Applied, Core, Request};

/// Most results one transaction takes.
const MAX_BATCH: usize = 512;
/// Commit loops, each with its share of the instances: transactions in flight at once.
const COMMITTERS: usize = 4;

type Reply = oneshot::Sender<Result<Applied, SchedulerError>>;

/// Worker results by instance: each instance's results always go to the same loop, so two
/// batches never decide the same instance at once (they would race on its row version and
/// one would run again on locked rows), and results that arrive together for one instance
/// (the branches of a parallel step) are decided in one batch, on one decoding of its state.
#[derive(Clone)]
pub(crate) struct Committer {
    senders: Vec<mpsc::Sender<(Request, Reply)>>,
}

impl Committer {
    pub(crate) fn start(core: Arc<Core>) -> Self {
        let senders = (0..COMMITTERS)
            .map(|_| {
                let (sender, receiver) = mpsc::channel::<(Request, Reply)>(MAX_BATCH);
                tokio::spawn(commit_loop(core.clone(), receiver));
                sender
            })
            .collect();
        Self { senders }
    }

    pub(crate) async fn submit(&self, request: Request) -> Result<Applied, SchedulerError> {
        let (reply, answer) = oneshot::channel();
        // UUID v7: the low bits are random, so instances spread evenly over the loops.
        let shard = (request.instance_id.as_u128() % self.senders.len() as u128) as usize;
        if self.senders[shard].send((request, reply)).await.is_err() {
            return Err(shutting_down());
        }
        answer.await.unwrap_or_else(|_| Err(shutting_down()))
    }
}

/// The single loop that decides checked inputs, each batch under the admission lock with one
/// read of the slot holders. Holds the core weakly: the core owns this committer.
pub(crate) struct AdmittingCommitter {
    sender: mpsc::Sender<(Request, Reply)>,
}

impl AdmittingCommitter {
    pub(crate) fn start(core: Weak<Core>) -> Self {
        let (sender, receiver) = mpsc::channel::<(Request, Reply)>(MAX_BATCH);
        tokio::spawn(admit_loop(core, receiver));
        Self { sender }
    }

    /// Decides `requests`, in their order, together with whatever else is waiting.
    pub(crate) async fn submit_all(
        &self,
        requests: Vec<Request>,
    ) -> Vec<Result<Applied, SchedulerError>> {
        let mut answers = Vec::with_capacity(requests.len());
        for request in requests {
            let (reply, answer) = oneshot::channel();
            if self.sender.send((request, reply)).await.is_err() {
                drop(answer);
                answers.push(None);
                continue;
            }
            answers.push(Some(answer));
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            let result = match answer {
                Some(answer) => answer.await.unwrap_or_else(|_| Err(shutting_down())),
                None => Err(shutting_down()),
            };
            results.push(result);
        }
        results
    }
}

async fn admit_loop(core: Weak<Core>, mut receiver: mpsc::Receiver<(Request, Reply)>) {
    while let Some((requests, replies)) = next_batch(&mut receiver).await {
        let Some(core) = core.upgrade() else {
            return;
        };
        metrics::histogram!("workflow_admission_batch_size").record(requests.len() as f64);
        let results = core.apply_with(requests, Admission::Checked).await;
        drop(core);
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}

/// Waits for one input, then takes whatever else is already waiting, up to a batch.
async fn next_batch(
    receiver: &mut mpsc::Receiver<(Request, Reply)>,
) -> Option<(Vec<Request>, Vec<Reply>)> {
    let first = receiver.recv().await?;
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match receiver.try_recv() {
            Ok(item) => batch.push(item),
            Err(_) => break,
        }
    }
    Some(batch.into_iter().unzip())
}

fn shutting_down() -> SchedulerError {
    SchedulerError::Storage(store::StoreError::Rejected {
        code: model::ErrorCode::Unavailable,
        message: "scheduler is shutting down".to_owned(),
    })
}

async fn commit_loop(core: Arc<Core>, mut receiver: mpsc::Receiver<(Request, Reply)>) {
    while let Some((requests, replies)) = next_batch(&mut receiver).await {
        metrics::histogram!("workflow_commit_batch_size").record(requests.len() as f64);
        let started = std::time::Instant::now();
        let results = core.apply_with(requests, Admission::Unchecked).await;
        metrics::histogram!("workflow_decision_duration_seconds")
            .record(started.elapsed().as_secs_f64());
        for (reply, result) in replies.into_iter().zip(results) {
            let _ = reply.send(result);
        }
    }
}
