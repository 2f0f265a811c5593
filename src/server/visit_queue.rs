//! The connections the loop comes back to without an event, in the order
//! they asked, each at most once: a connection that stopped reading or
//! writing early (a per-event cap, back pressure), a WebSocket or SSE
//! client handed a list push, a log follower woken, a long-poll whose
//! answer is due. The loop visits at most `DEFERRED_VISITS_PER_TURN_MAX`
//! of them per turn and carries the rest, in order, to the next turn
//! (polling with a zero timeout meanwhile), so that a push tick to a
//! thousand clients does not hold up a GET that arrives on another
//! connection for a thousand socket writes.
//!
//! Pure: slots only; the server knows what a slot holds. A slot is queued
//! once: asking again while it waits only widens what the visit does
//! (a read as well as a write), so a connection that asks three times in
//! one step costs one visit, and the queue never holds more entries than
//! there are slots.

use std::collections::VecDeque;

/// What a visit does to its connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Visit {
    /// Write only: a list push was handed over (a read would be an EAGAIN
    /// syscall per client per push).
    Write,
    /// Read, process and write, as on a readiness event.
    Read,
}

#[derive(Default)]
pub(super) struct VisitQueue {
    /// Slots in the order they were first queued.
    order: VecDeque<usize>,
    /// By slot: the visit it waits for, or `None` when it is not queued.
    queued: Vec<Option<Visit>>,
}

impl VisitQueue {
    /// Queues a visit to `slot`, or widens the one it waits for.
    pub(super) fn push(&mut self, slot: usize, visit: Visit) {
        if slot >= self.queued.len() {
            self.queued.resize(slot + 1, None);
        }
        match &mut self.queued[slot] {
            Some(waiting) => *waiting = (*waiting).max(visit),
            empty => {
                *empty = Some(visit);
                self.order.push_back(slot);
            }
        }
    }

    /// The visit queued first, taken off the queue.
    pub(super) fn pop(&mut self) -> Option<(usize, Visit)> {
        let slot = self.order.pop_front()?;
        let visit = self.queued[slot].take();
        debug_assert!(visit.is_some(), "slot {slot} was in the order unqueued");
        Some((slot, visit.unwrap_or(Visit::Read)))
    }

    /// Visits waiting.
    pub(super) fn len(&self) -> usize {
        self.order.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(queue: &mut VisitQueue) -> Vec<(usize, Visit)> {
        std::iter::from_fn(|| queue.pop()).collect()
    }

    #[test]
    fn visits_come_out_in_the_order_first_asked() {
        let mut queue = VisitQueue::default();
        for slot in [5, 0, 9, 3] {
            queue.push(slot, Visit::Write);
        }
        assert_eq!(queue.len(), 4);
        let slots: Vec<usize> = drain(&mut queue)
            .into_iter()
            .map(|(slot, _)| slot)
            .collect();
        assert_eq!(slots, [5, 0, 9, 3]);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_slot_asked_for_twice_is_visited_once_at_its_first_place() {
        let mut queue = VisitQueue::default();
        queue.push(2, Visit::Read);
        queue.push(7, Visit::Write);
        queue.push(2, Visit::Read);
        queue.push(2, Visit::Write);
        assert_eq!(drain(&mut queue), [(2, Visit::Read), (7, Visit::Write)]);
    }

    #[test]
    fn a_read_widens_a_waiting_write_and_never_narrows() {
        let mut queue = VisitQueue::default();
        queue.push(1, Visit::Write);
        queue.push(1, Visit::Read);
        queue.push(4, Visit::Read);
        queue.push(4, Visit::Write);
        assert_eq!(drain(&mut queue), [(1, Visit::Read), (4, Visit::Read)]);
    }

    #[test]
    fn a_slot_visited_may_be_queued_again_at_the_back() {
        let mut queue = VisitQueue::default();
        queue.push(0, Visit::Write);
        queue.push(1, Visit::Write);
        assert_eq!(queue.pop(), Some((0, Visit::Write)));
        queue.push(0, Visit::Read);
        assert_eq!(drain(&mut queue), [(1, Visit::Write), (0, Visit::Read)]);
    }
}
