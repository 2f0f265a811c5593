//! Waking what waits on a session (`watchers.rs`): a parked long-poll
//! with something to say is marked due, and WebSocket followers and SSE
//! log streams are marked to read their log; each is then a visit of the
//! loop (`visit_queue.rs`), so a wake renders nothing and a thousand
//! long-polls on one session are answered within the turns' budget.

use super::event_streams::stream_mut;
use super::visit_queue::Visit;
use super::Server;
use crate::api;
use crate::conn::{Conn, ConnState};
use crate::http::head::Method;
use crate::sessions::SessionId;
use crate::watchers::{Wake, Watcher, WatcherKind};
use crate::ws_hub::client_mut;

impl Server {
    /// The one wake path, once per loop turn (and after timers): every
    /// watcher of a session that changed is woken by its kind, and those
    /// that stop waiting are forgotten. List streams and clients that
    /// joined the WebSocket (or subscribed) this turn get their first list.
    pub(super) fn wake_changed_sessions(&mut self, now_ms: u64) {
        self.hand_out_joined_lists(now_ms);
        if !self.app.changed_sessions.is_empty() {
            self.wake_watchers(now_ms);
        }
        self.app.counters.list_pushes_stale +=
            self.ws_hub
                .on_turn_end(&mut self.conns, &self.app, &mut self.push_due);
        self.queue_pushes();
    }

    /// Wakes the watchers of every session in `changed_sessions`, and
    /// notes them for the list's changes stream.
    fn wake_watchers(&mut self, now_ms: u64) {
        let changed = std::mem::take(&mut self.app.changed_sessions);
        self.ws_hub.note_changed(&changed);
        // Out of `self` while it wakes: a wake answers or marks, and never
        // starts a watch of its own.
        let mut watchers = std::mem::take(&mut self.watchers);
        for session in &changed {
            watchers.wake(session, |watcher| self.wake(session, watcher, now_ms));
        }
        debug_assert!(self.watchers.is_empty(), "a wake started a watch");
        self.watchers = watchers;
    }

    /// Wakes one watcher of `session`.
    fn wake(&mut self, session: &SessionId, watcher: Watcher, now_ms: u64) -> Wake {
        let Watcher { kind, slot, serial } = watcher;
        let waiting = match kind {
            WatcherKind::LongPoll => self.mark_parked_due(slot, serial),
            WatcherKind::WsFollow => match client_mut(&mut self.conns, slot, serial) {
                Some(ws) if ws.follows(session) => {
                    ws.mark_follow_due();
                    self.visits.push(slot, Visit::Read);
                    true
                }
                _ => false,
            },
            WatcherKind::SseFollow => match stream_mut(&mut self.conns, slot, serial) {
                Some(stream) if stream.follows(session) => {
                    stream.mark_due();
                    self.visits.push(slot, Visit::Read);
                    true
                }
                _ => false,
            },
            WatcherKind::Export => match &mut self.exporter {
                Some(exporter) => {
                    exporter.note_changed(*session, now_ms);
                    true
                }
                None => false,
            },
        };
        if waiting {
            Wake::Keep
        } else {
            Wake::Forget
        }
    }

    /// Forgets WebSocket follows that no longer hold (closed, unfollowed,
    /// switched) without waking them. Long-polls leave the registry as
    /// they are answered or closed.
    pub(super) fn prune_watchers(&mut self) {
        let conns = &mut self.conns;
        self.watchers.prune(|session, watcher| match watcher.kind {
            WatcherKind::WsFollow => client_mut(conns, watcher.slot, watcher.serial)
                .is_some_and(|ws| ws.follows(session)),
            WatcherKind::SseFollow => stream_mut(conns, watcher.slot, watcher.serial)
                .is_some_and(|stream| stream.follows(session)),
            WatcherKind::LongPoll | WatcherKind::Export => true,
        });
    }

    /// A parked read with something to say (an entry at its cursor, its
    /// session ended or gone) is marked due and visited: it is answered
    /// there (`answer_parked`), with the page its log holds then. Returns
    /// true while it keeps waiting here. Readiness only grows (cursors and
    /// ends do not go back), so a read marked due stays answerable.
    fn mark_parked_due(&mut self, slot: usize, serial: u64) -> bool {
        let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
            return false;
        };
        let ConnState::LongPoll(parked) = &mut conn.state else {
            return false;
        };
        if conn.serial != serial {
            return false;
        }
        if !api::parked_read_ready(&self.app, parked) {
            return true;
        }
        parked.answer_due = true;
        self.visits.push(slot, Visit::Read);
        false
    }

    /// Answers the parked read of `conn` with the page its log holds now:
    /// when the wake marked it due, or at its deadline (then possibly an
    /// empty page with the same cursor).
    pub(super) fn answer_parked(&mut self, conn: &mut Conn, now_ms: u64) {
        let ConnState::LongPoll(parked) = &conn.state else {
            return;
        };
        let mut response = api::read_log(&self.app, &parked.session_id, &parked.query);
        response.close |= parked.close_after;
        let head_only = parked.head_only;
        self.app.counters.long_polls_parked -= 1;
        let method = if head_only { Method::Head } else { Method::Get };
        self.app
            .counters
            .count_answer(Some(method), response.status);
        conn.state = ConnState::ReadingHead;
        conn.queue(response, head_only, now_ms);
    }
}
