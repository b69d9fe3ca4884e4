//! Eager dispatch (as Temporal's eager activities): the first job a worker's result makes on
//! the queue that worker asked for goes back in its answer instead of through the queue. The
//! job's row and lease were written with the decision, so a worker that dies with it loses
//! nothing: the sweeper hands it out again when the lease runs out.

use model::Job;

use super::{Core, Request};

impl Core {
    /// Takes the first of a committed decision's `jobs` on the queue one of the decision's
    /// `requests` asked for, stamped with its lease token; the others stay for the queue.
    /// Returns which request asked, with the job.
    pub(super) fn take_eager<'r>(
        &self,
        requests: impl IntoIterator<Item = (usize, &'r Request)>,
        jobs: &mut Vec<Job>,
    ) -> Option<(usize, Job)> {
        let (member, queue) = requests
            .into_iter()
            .find_map(|(index, request)| Some((index, request.eager_queue.as_deref()?)))?;
        let position = jobs.iter().position(|job| job.queue == queue)?;
        let mut job = jobs.remove(position);
        self.lease.stamp(std::slice::from_mut(&mut job));
        metrics::counter!("workflow_eager_dispatches_total").increment(1);
        Some((member, job))
    }
}
