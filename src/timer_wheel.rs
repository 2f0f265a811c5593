//! TimerWheel: a hashed timing wheel that holds every deadline of the server.
//!
//! Time arrives as `now_ms`; the wheel never reads a clock, so tests and the
//! simulation drive it with a fake one. A timer is `(deadline_ms, key)`; the
//! wheel does not support cancellation. Owners cancel lazily instead: when a
//! key fires they check whether it still means anything (a connection keeps
//! the deadline it armed and ignores stale ones). This keeps `schedule` O(1)
//! and lets many thousands of deadlines share a few slot vectors.

/// One armed timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Timer<K> {
    deadline_ms: u64,
    key: K,
}

/// Hashed wheel of `slot_count` slots, each `slot_ms` wide. Timers further
/// away than one rotation wait in their slot until their round comes.
pub struct TimerWheel<K> {
    slots: Vec<Vec<Timer<K>>>,
    /// The earliest deadline in each slot (u64::MAX when empty), so that
    /// finding the next due time never walks the timers themselves.
    slot_min_ms: Vec<u64>,
    /// One bit per slot, set while the slot holds a timer, so that the
    /// search for the next due slot skips 64 empty slots per step.
    occupied: Vec<u64>,
    slot_ms: u64,
    /// Every slot before this tick has been processed; this one may hold
    /// timers due later within it.
    next_tick: u64,
    timer_count: usize,
}

impl<K: Copy> TimerWheel<K> {
    /// A wheel starting at `now_ms`. `slot_count` must be a power of two.
    pub fn new(slot_ms: u64, slot_count: usize, now_ms: u64) -> TimerWheel<K> {
        assert!(slot_ms > 0 && slot_count.is_power_of_two());
        TimerWheel {
            slots: (0..slot_count).map(|_| Vec::new()).collect(),
            slot_min_ms: vec![u64::MAX; slot_count],
            occupied: vec![0; slot_count.div_ceil(64)],
            slot_ms,
            next_tick: now_ms / slot_ms,
            timer_count: 0,
        }
    }

    /// Arms `key` to fire at `deadline_ms` (or on the next `advance` if that
    /// is already past).
    pub fn schedule(&mut self, deadline_ms: u64, key: K) {
        let tick = (deadline_ms / self.slot_ms).max(self.next_tick);
        let slot_index = self.slot_index(tick);
        self.slots[slot_index].push(Timer { deadline_ms, key });
        self.slot_min_ms[slot_index] = self.slot_min_ms[slot_index].min(deadline_ms);
        self.occupied[slot_index / 64] |= 1 << (slot_index % 64);
        self.timer_count += 1;
    }

    /// Timers armed and not yet fired.
    pub fn len(&self) -> usize {
        self.timer_count
    }

    pub fn is_empty(&self) -> bool {
        self.timer_count == 0
    }

    /// Moves time to `now_ms` and appends every key whose deadline is at or
    /// before it to `expired`, in no particular order within a slot.
    pub fn advance(&mut self, now_ms: u64, expired: &mut Vec<K>) {
        let now_tick = now_ms / self.slot_ms;
        if now_tick < self.next_tick {
            return;
        }
        // After a long sleep, one pass over every slot covers any gap.
        let last_tick = now_tick.min(self.next_tick + self.slots.len() as u64 - 1);
        for tick in self.next_tick..=last_tick {
            let slot_index = self.slot_index(tick);
            self.fire_slot(slot_index, now_ms, expired);
        }
        // The current tick stays open: a timer later in it fires next time.
        self.next_tick = now_tick;
    }

    fn fire_slot(&mut self, slot_index: usize, now_ms: u64, expired: &mut Vec<K>) {
        if self.slot_min_ms[slot_index] > now_ms {
            return;
        }
        let slot = &mut self.slots[slot_index];
        let before = slot.len();
        let mut slot_min_ms = u64::MAX;
        slot.retain(|timer| {
            if timer.deadline_ms <= now_ms {
                expired.push(timer.key);
                false
            } else {
                slot_min_ms = slot_min_ms.min(timer.deadline_ms);
                true
            }
        });
        self.slot_min_ms[slot_index] = slot_min_ms;
        if slot.is_empty() {
            self.occupied[slot_index / 64] &= !(1 << (slot_index % 64));
        }
        self.timer_count -= before - slot.len();
        if slot.is_empty() && slot.capacity() > 64 {
            // A burst of timers must not pin its memory forever.
            slot.shrink_to(8);
        }
    }

    /// Milliseconds from `now_ms` until the next slot that holds a timer is
    /// due, or `None` when the wheel is empty. May be early (a timer a whole
    /// rotation away shares its slot), never late.
    pub fn next_wait_ms(&self, now_ms: u64) -> Option<u64> {
        if self.timer_count == 0 {
            return None;
        }
        let mut step = 0u64;
        while step < self.slots.len() as u64 {
            let tick = self.next_tick + step;
            let slot_index = self.slot_index(tick);
            let word = self.occupied[slot_index / 64] >> (slot_index % 64);
            if word == 0 {
                // No timer in the rest of this word's slots: jump past them.
                step += 64 - (slot_index % 64) as u64;
                continue;
            }
            let skip = u64::from(word.trailing_zeros());
            if skip > 0 {
                step += skip;
                continue;
            }
            let slot_min_ms = self.slot_min_ms[slot_index];
            if slot_min_ms < (tick + 1) * self.slot_ms {
                return Some(slot_min_ms.saturating_sub(now_ms));
            }
            step += 1;
        }
        // Every timer is more than one rotation away: the earliest of them.
        let earliest_ms = self.slot_min_ms.iter().copied().min()?;
        Some(earliest_ms.saturating_sub(now_ms))
    }

    fn slot_index(&self, tick: u64) -> usize {
        (tick as usize) & (self.slots.len() - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::TimerWheel;

    fn fired(wheel: &mut TimerWheel<u32>, now_ms: u64) -> Vec<u32> {
        let mut expired = Vec::new();
        wheel.advance(now_ms, &mut expired);
        expired.sort_unstable();
        expired
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut wheel = TimerWheel::new(10, 8, 1_000);
        wheel.schedule(1_055, 1);
        assert_eq!(fired(&mut wheel, 1_054), Vec::<u32>::new());
        assert_eq!(fired(&mut wheel, 1_055), vec![1]);
        assert!(wheel.is_empty());
    }

    #[test]
    fn past_deadline_fires_on_next_advance() {
        let mut wheel = TimerWheel::new(10, 8, 1_000);
        wheel.schedule(5, 7);
        assert_eq!(fired(&mut wheel, 1_000), vec![7]);
    }

    #[test]
    fn timers_beyond_one_rotation_wait_their_round() {
        let mut wheel = TimerWheel::new(10, 8, 0);
        wheel.schedule(85, 1); // same slot as 5, one rotation later
        wheel.schedule(5, 2);
        assert_eq!(fired(&mut wheel, 10), vec![2]);
        assert_eq!(fired(&mut wheel, 80), Vec::<u32>::new());
        assert_eq!(fired(&mut wheel, 85), vec![1]);
    }

    #[test]
    fn long_jump_fires_everything_due() {
        let mut wheel = TimerWheel::new(10, 8, 0);
        for key in 0..100u32 {
            wheel.schedule(u64::from(key) * 7, key);
        }
        assert_eq!(fired(&mut wheel, 10_000).len(), 100);
        assert!(wheel.is_empty());
    }

    #[test]
    fn next_wait_is_never_late() {
        let mut wheel = TimerWheel::new(10, 8, 0);
        assert_eq!(wheel.next_wait_ms(0), None);
        wheel.schedule(37, 1);
        let wait = wheel.next_wait_ms(3).expect("armed");
        assert!(wait <= 34, "wait {wait}");
        wheel.schedule(500, 2);
        assert!(wheel.next_wait_ms(3).expect("armed") <= 34);
        let mut far = TimerWheel::new(10, 8, 0);
        far.schedule(95, 1); // slot 1, next rotation
        far.schedule(35, 2); // slot 3, this rotation
        assert_eq!(far.next_wait_ms(0), Some(35));
        let mut only_far = TimerWheel::new(10, 8, 0);
        only_far.schedule(1_000, 1);
        assert_eq!(only_far.next_wait_ms(0), Some(1_000));
    }

    #[test]
    fn next_wait_matches_a_brute_force_search() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut random = move |below: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % below
        };
        for _ in 0..200 {
            let mut wheel = TimerWheel::new(10, 256, 0);
            let mut deadlines = Vec::new();
            let mut now_ms = 0;
            for key in 0..random(40) as u32 {
                let deadline_ms = now_ms + random(8_000);
                wheel.schedule(deadline_ms, key);
                deadlines.push(deadline_ms);
                now_ms += random(300);
                let mut expired = Vec::new();
                wheel.advance(now_ms, &mut expired);
                deadlines.retain(|&deadline_ms| deadline_ms > now_ms);
                let wait = wheel.next_wait_ms(now_ms);
                match deadlines.iter().min() {
                    None => assert_eq!(wait, None),
                    Some(&earliest_ms) => {
                        let wait = wait.expect("armed");
                        assert!(
                            now_ms + wait <= earliest_ms,
                            "late: {wait} vs {earliest_ms}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn time_going_backwards_fires_nothing() {
        let mut wheel = TimerWheel::new(10, 8, 1_000);
        wheel.schedule(1_010, 1);
        assert_eq!(fired(&mut wheel, 500), Vec::<u32>::new());
        assert_eq!(fired(&mut wheel, 1_010), vec![1]);
    }
}
