//! The one place the loop reads time: `run` reads it once per turn and
//! hands `now_ms` down, so everything below it runs on a fake clock in
//! tests.

use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch that never go backwards: the wall
/// clock read once at start plus a monotonic clock.
pub(super) struct Clock {
    started: Instant,
    started_wall_ms: u64,
}

impl Clock {
    pub(super) fn new() -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        Clock {
            started: Instant::now(),
            started_wall_ms: wall,
        }
    }

    pub(super) fn now_ms(&self) -> u64 {
        self.started_wall_ms + self.started.elapsed().as_millis() as u64
    }
}
