//! The background loops' handles: how a shutdown stops them, and when each last ended a
//! round (what `/readyz` reports).
//!
//! Invariant: a loop beats once per round, idle rounds included (an idle round ends after the
//! poll interval), so a beat older than `stalled_after` means the loop is stuck or gone.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

/// The loops `/readyz` reports on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loop {
    /// Flag ends and inactivity rules.
    Scheduler,
    /// E-mail and SMS deliveries (off without a channel configured).
    Outbox,
    /// Event dispatch and webhook deliveries.
    Webhooks,
}

impl Loop {
    pub const ALL: [Loop; 3] = [Loop::Scheduler, Loop::Outbox, Loop::Webhooks];

    pub fn name(self) -> &'static str {
        match self {
            Loop::Scheduler => "scheduler",
            Loop::Outbox => "outbox",
            Loop::Webhooks => "webhooks",
        }
    }
}

/// When each loop last ended a round (ms since the epoch; 0: not yet), and which run.
#[derive(Debug)]
pub struct Heartbeats {
    last: [AtomicI64; Loop::ALL.len()],
    running: [bool; Loop::ALL.len()],
    poll: Duration,
}

/// One loop's state, as `/readyz` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoopState {
    /// Not run by this process (the outbox without a channel).
    Off,
    /// Started, no round ended yet.
    Starting,
    Running {
        seconds_ago: i64,
    },
    /// No round ended for longer than a round may take.
    Stalled {
        seconds_ago: i64,
    },
}

impl LoopState {
    pub fn is_stalled(&self) -> bool {
        matches!(self, LoopState::Stalled { .. })
    }
}

impl Heartbeats {
    /// `outbox`: whether the e-mail and SMS worker runs.
    pub fn new(poll: Duration, outbox: bool) -> Self {
        Self {
            last: Default::default(),
            running: Loop::ALL.map(|l| l != Loop::Outbox || outbox),
            poll,
        }
    }

    /// A round may take the poll interval (idle) or its sends' timeouts (30 s for e-mail)
    /// twice over; past this, the loop is called stalled.
    pub fn stalled_after(&self) -> Duration {
        Duration::from_secs(120) + self.poll * 3
    }

    /// `which`'s state at `now_ms`.
    pub fn state(&self, which: Loop, now_ms: i64) -> LoopState {
        let i = which as usize;
        if !self.running[i] {
            return LoopState::Off;
        }
        let last = self.last[i].load(Ordering::Relaxed);
        if last == 0 {
            return LoopState::Starting;
        }
        let seconds_ago = (now_ms - last).max(0) / 1000;
        if seconds_ago > self.stalled_after().as_secs() as i64 {
            LoopState::Stalled { seconds_ago }
        } else {
            LoopState::Running { seconds_ago }
        }
    }

    fn beat(&self, which: Loop, now_ms: i64) {
        self.last[which as usize].store(now_ms, Ordering::Relaxed);
    }
}

/// A loop's handle: the shutdown's stop signal and its heartbeat.
#[derive(Clone)]
pub struct Worker {
    stop: watch::Receiver<bool>,
    beats: Arc<Heartbeats>,
    which: Loop,
}

impl Worker {
    pub fn new(stop: watch::Receiver<bool>, beats: Arc<Heartbeats>, which: Loop) -> Self {
        Self { stop, beats, which }
    }

    /// Whether a stop was asked for (or whoever could ask is gone).
    pub fn asked(&self) -> bool {
        *self.stop.borrow() || self.stop.has_changed().is_err()
    }

    /// A round ended.
    pub fn beat(&self) {
        self.beats
            .beat(self.which, tus_core::time::ms(tus_core::Core::now()));
    }

    /// Ends an idle round: beats, then waits for `poll`, or less if a stop is asked for.
    pub async fn pause(&mut self, poll: Duration) {
        self.beat();
        let _ = tokio::time::timeout(poll, self.stop.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_loop_is_starting_then_running_then_stalled_and_an_unused_one_off() {
        let beats = Heartbeats::new(Duration::from_secs(5), false);
        assert_eq!(beats.state(Loop::Outbox, 1_000_000), LoopState::Off);
        assert_eq!(beats.state(Loop::Scheduler, 1_000_000), LoopState::Starting);
        beats.beat(Loop::Scheduler, 1_000_000);
        assert_eq!(
            beats.state(Loop::Scheduler, 1_004_000),
            LoopState::Running { seconds_ago: 4 }
        );
        // 120 s + 3 polls of 5 s: still running at 135 s, stalled after.
        assert!(!beats.state(Loop::Scheduler, 1_135_000).is_stalled());
        assert_eq!(
            beats.state(Loop::Scheduler, 1_136_000),
            LoopState::Stalled { seconds_ago: 136 }
        );
        assert_eq!(beats.state(Loop::Webhooks, 1_136_000), LoopState::Starting);
        let running = Heartbeats::new(Duration::from_secs(5), true);
        assert_eq!(running.state(Loop::Outbox, 0), LoopState::Starting);
    }
}
