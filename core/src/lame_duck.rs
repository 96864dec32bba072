//! Lame duck mode as nats-server runs it: stop taking clients, tell the
//! protocol-1 ones (INFO with `ldm:true`), wait the grace period, then close
//! the rest spread over the remaining duration, and finally shut down.
//!
//! This is only the schedule; [`crate::Server::lame_duck_step`] applies it.

use std::time::{Duration, Instant};

/// What the runtime should do next in lame duck mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Call [`crate::Server::lame_duck_step`] again at this instant.
    WaitUntil(Instant),
    /// Every client is closed: shut down and exit 0.
    Done,
}

/// The closing schedule, fixed when the grace period ends.
#[derive(Debug, Clone)]
pub(crate) struct Schedule {
    pub(crate) grace_end: Instant,
    /// Client ids still to close, in order.
    pub(crate) pending: Vec<u64>,
    pub(crate) started_closing: bool,
    pub(crate) interval: Duration,
    pub(crate) batch: usize,
}

/// The shortest pause between two batches: below it, clients are closed in
/// larger batches instead.
const MIN_STEP: Duration = Duration::from_millis(10);

impl Schedule {
    pub(crate) fn new(now: Instant, grace: Duration) -> Schedule {
        Schedule {
            grace_end: now + grace,
            pending: Vec::new(),
            started_closing: false,
            interval: MIN_STEP,
            batch: 1,
        }
    }

    /// Spreads `clients` over `spread`, at most one second per client, as
    /// nats-server does.
    pub(crate) fn plan(&mut self, clients: Vec<u64>, spread: Duration) {
        let n = clients.len().max(1) as u32;
        let per = (spread / n).min(Duration::from_secs(1));
        if per >= MIN_STEP {
            self.interval = per;
            self.batch = 1;
        } else {
            self.interval = MIN_STEP;
            let steps = (spread.as_millis() / MIN_STEP.as_millis()).max(1) as usize;
            self.batch = clients.len().div_ceil(steps).max(1);
        }
        self.pending = clients;
        self.pending.reverse();
        self.started_closing = true;
    }

    /// The next batch of client ids to close.
    pub(crate) fn next_batch(&mut self) -> Vec<u64> {
        let n = self.batch.min(self.pending.len());
        let at = self.pending.len() - n;
        self.pending.split_off(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::disallowed_methods)] // a test needs some starting instant
    fn spreads_and_batches() {
        let now = Instant::now();
        let mut s = Schedule::new(now, Duration::from_secs(10));
        s.plan(vec![1, 2, 3], Duration::from_secs(110));
        assert_eq!((s.interval, s.batch), (Duration::from_secs(1), 1));
        assert_eq!(s.next_batch(), vec![1]);
        let mut many = Schedule::new(now, Duration::ZERO);
        many.plan((0..10_000).collect(), Duration::from_secs(20));
        assert_eq!(many.interval, MIN_STEP);
        assert_eq!(many.batch, 5);
        let mut closed = 0;
        while !many.pending.is_empty() {
            closed += many.next_batch().len();
        }
        assert_eq!(closed, 10_000);
    }
}
