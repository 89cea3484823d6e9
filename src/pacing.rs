//! Pacing: when status calls may start. One [`Pacer`] lives as long as the process, so a warm
//! process starts each invocation at the rate it learned; the checker asks it before every
//! call and tells it how each call ended.
//!
//! The decisions are plain functions of the state and an explicit `now`, so they are tested
//! with a simulated clock (no sleeping).

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// How a call ended, as far as pacing cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pace {
    /// Kendra answered (statuses, or a refusal of the documents): the rate was fine.
    Answered,
    /// Kendra answered `ThrottlingException`: the account's quota is used up.
    Throttled,
    /// The call failed for another reason (5xx, timeout): says nothing about the rate.
    Neutral,
}

/// The pacing state of a process.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<PacerState>,
}

impl Pacer {
    pub fn new(max_rps: Option<f64>) -> Pacer {
        Pacer {
            state: Mutex::new(PacerState::new(max_rps)),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The instant the next call may start (at or after `now`); the slot is taken.
    pub fn reserve(&self, now: Instant) -> Instant {
        self.state().reserve(now)
    }

    /// Tells the pacer how a call that started at `started` ended at `now`.
    pub fn record(&self, started: Instant, pace: Pace, now: Instant) {
        self.state().record(started, pace, now);
    }

    /// The calls per second the process is held to now, if any.
    pub fn rate(&self) -> Option<f64> {
        self.state().rate
    }
}

/// The pacing decisions, over plain values.
#[derive(Clone, Debug, PartialEq)]
pub struct PacerState {
    /// Calls per second allowed now; `None`: only the concurrency limit applies.
    pub rate: Option<f64>,
    /// `KENDRA_MAX_RPS`: the rate never goes above it.
    pub ceiling: Option<f64>,
    next_slot: Option<Instant>,
}

impl PacerState {
    pub fn new(max_rps: Option<f64>) -> PacerState {
        PacerState {
            rate: max_rps,
            ceiling: max_rps,
            next_slot: None,
        }
    }

    fn interval(&self) -> Duration {
        self.rate
            .and_then(|rate| Duration::try_from_secs_f64(1.0 / rate).ok())
            .unwrap_or(Duration::ZERO)
    }

    pub fn reserve(&mut self, now: Instant) -> Instant {
        let slot = self.next_slot.map_or(now, |next| next.max(now));
        self.next_slot = Some(slot + self.interval());
        slot
    }

    pub fn record(&mut self, _started: Instant, _pace: Pace, _now: Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_rate_spaces_slots() {
        let start = Instant::now();
        let mut state = PacerState::new(Some(10.0));
        let slots: Vec<Duration> = (0..3).map(|_| state.reserve(start) - start).collect();
        assert_eq!(
            slots,
            [
                Duration::ZERO,
                Duration::from_millis(100),
                Duration::from_millis(200)
            ]
        );
        // After a pause the next slot is now, not in the past.
        let later = start + Duration::from_secs(5);
        assert_eq!(state.reserve(later), later);
    }

    #[test]
    fn without_a_rate_every_slot_is_now() {
        let start = Instant::now();
        let mut state = PacerState::new(None);
        assert_eq!(state.reserve(start), start);
        assert_eq!(state.reserve(start), start);
    }
}
