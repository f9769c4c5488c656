//! The `Clock` port: what time it is, so that time-based rules (soak times) are tested by
//! moving a clock rather than by sleeping.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

/// The current time.
pub trait Clock: std::fmt::Debug + Send + Sync + 'static {
    fn now(&self) -> SystemTime;
}

/// The system's clock, to the millisecond (what the store keeps).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        crate::promotion::now()
    }
}

/// A clock that moves only when told: for tests.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<SystemTime>>,
}

impl ManualClock {
    pub fn starting_at(now: SystemTime) -> Self {
        Self {
            now: Arc::new(Mutex::new(now)),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        if let Ok(mut now) = self.now.lock() {
            *now += by;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SystemTime {
        self.now
            .lock()
            .map(|now| *now)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}
