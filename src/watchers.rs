//! Who waits on which session: one registry for every reader that a change
//! to a session must wake (a parked long-poll, a WebSocket follower, a
//! Server-Sent Events log stream, the OTLP exporter, which watches every
//! session). The server wakes them in
//! one place (`Server::wake_changed_sessions`) and asks each, by its kind,
//! whether it still waits; those that don't are forgotten there, and
//! watchers of connections that closed are dropped the same way, lazily.
//!
//! Pure: no I/O, no clock, no connections; a watcher names its connection
//! by (slot, serial), and the server knows what that means.

use crate::sessions::SessionId;
use std::collections::HashMap;

/// What waits, and so what waking it means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WatcherKind {
    /// A log read parked with `wait=S`: answered once the log has an entry
    /// at or after its cursor, or the session ends.
    LongPoll,
    /// A WebSocket client following the session's log.
    WsFollow,
    /// A Server-Sent Events stream of the session's log.
    SseFollow,
    /// The OTLP exporter: notes the session as having something to export.
    Export,
}

/// One watcher. `slot` and `serial` name a connection (unused by kinds
/// that have none, such as `Export`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Watcher {
    pub kind: WatcherKind,
    pub slot: usize,
    pub serial: u64,
}

impl Watcher {
    pub fn new(kind: WatcherKind, slot: usize, serial: u64) -> Watcher {
        Watcher { kind, slot, serial }
    }
}

/// Whether a woken watcher goes on waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// Still waiting for this session.
    Keep,
    /// Done (answered, gone, or watching something else): forget it.
    Forget,
}

/// Watchers by session, and those that watch every session.
#[derive(Default)]
pub struct Watchers {
    by_session: HashMap<SessionId, Vec<Watcher>>,
    every_session: Vec<Watcher>,
}

impl Watchers {
    pub fn new() -> Watchers {
        Watchers::default()
    }

    /// Starts watching `session` (once: watching twice is one watcher).
    pub fn watch(&mut self, session: SessionId, watcher: Watcher) {
        let watchers = self.by_session.entry(session).or_default();
        if !watchers.contains(&watcher) {
            watchers.push(watcher);
        }
    }

    /// Watches every session, present and future.
    pub fn watch_every_session(&mut self, watcher: Watcher) {
        if !self.every_session.contains(&watcher) {
            self.every_session.push(watcher);
        }
    }

    /// Stops watching `session`.
    pub fn unwatch(&mut self, session: &SessionId, watcher: Watcher) {
        if let Some(watchers) = self.by_session.get_mut(session) {
            watchers.retain(|&other| other != watcher);
            if watchers.is_empty() {
                self.by_session.remove(session);
            }
        }
    }

    /// The one wake path: `wake` is called for every watcher of `session`
    /// (its own, then those of every session); those it answers `Forget`
    /// for are dropped.
    pub fn wake(&mut self, session: &SessionId, mut wake: impl FnMut(Watcher) -> Wake) {
        if let Some(mut watchers) = self.by_session.remove(session) {
            watchers.retain(|&watcher| wake(watcher) == Wake::Keep);
            if !watchers.is_empty() {
                // A wake can't add watchers to the session it wakes (it
                // has no request to start), so nothing is overwritten.
                self.by_session.insert(*session, watchers);
            }
        }
        self.every_session
            .retain(|&watcher| wake(watcher) == Wake::Keep);
    }

    /// Drops the watchers `keep` says no to (closed connections, follows
    /// that moved on), without waking anyone.
    pub fn prune(&mut self, mut keep: impl FnMut(&SessionId, Watcher) -> bool) {
        self.by_session.retain(|session, watchers| {
            watchers.retain(|&watcher| keep(session, watcher));
            !watchers.is_empty()
        });
    }

    /// True when nobody watches anything.
    pub fn is_empty(&self) -> bool {
        self.by_session.is_empty() && self.every_session.is_empty()
    }

    /// Watchers of `kind` over all sessions (every-session watchers once).
    pub fn count(&self, kind: WatcherKind) -> usize {
        let by_session = self.by_session.values().flatten();
        by_session
            .chain(&self.every_session)
            .filter(|watcher| watcher.kind == kind)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(byte: u8) -> SessionId {
        [byte; 12]
    }

    fn poll(slot: usize) -> Watcher {
        Watcher::new(WatcherKind::LongPoll, slot, slot as u64 + 100)
    }

    /// Wakes `session`, keeping the watchers in `keep`; who was woken.
    fn check_wake(watchers: &mut Watchers, session: u8, keep: &[Watcher]) -> Vec<Watcher> {
        let mut woken = Vec::new();
        watchers.wake(&id(session), |watcher| {
            woken.push(watcher);
            if keep.contains(&watcher) {
                Wake::Keep
            } else {
                Wake::Forget
            }
        });
        woken
    }

    #[test]
    fn a_wake_reaches_the_session_s_watchers_then_every_session_s() {
        let mut watchers = Watchers::new();
        let export = Watcher::new(WatcherKind::Export, 0, 0);
        watchers.watch(id(1), poll(1));
        watchers.watch(id(2), poll(2));
        watchers.watch_every_session(export);
        assert_eq!(check_wake(&mut watchers, 1, &[export]), [poll(1), export]);
        // Forgotten once it said so; the others stay.
        assert_eq!(check_wake(&mut watchers, 1, &[export]), [export]);
        // The exporter is forgotten once it says so, like any other.
        assert_eq!(check_wake(&mut watchers, 2, &[poll(2)]), [poll(2), export]);
        assert_eq!(check_wake(&mut watchers, 2, &[]), [poll(2)]);
        assert_eq!(watchers.count(WatcherKind::LongPoll), 0);
        assert_eq!(check_wake(&mut watchers, 3, &[]), Vec::<Watcher>::new());
    }

    #[test]
    fn watching_twice_is_one_watcher_and_unwatch_removes_it() {
        let mut watchers = Watchers::new();
        watchers.watch(id(1), poll(1));
        watchers.watch(id(1), poll(1));
        let follow = Watcher::new(WatcherKind::WsFollow, 1, 101);
        watchers.watch(id(1), follow);
        assert_eq!(watchers.count(WatcherKind::LongPoll), 1);
        assert_eq!(watchers.count(WatcherKind::WsFollow), 1);
        watchers.unwatch(&id(1), poll(1));
        assert_eq!(check_wake(&mut watchers, 1, &[follow]), [follow]);
    }

    #[test]
    fn prune_drops_without_waking() {
        let mut watchers = Watchers::new();
        watchers.watch(id(1), poll(1));
        watchers.watch(id(1), poll(2));
        watchers.prune(|_, watcher| watcher.slot == 2);
        assert_eq!(check_wake(&mut watchers, 1, &[]), [poll(2)]);
    }
}
