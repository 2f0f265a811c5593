//! Waking what waits on a session (`watchers.rs`): parked long-polls are
//! answered, WebSocket followers and SSE log streams read their log on
//! their next write.

use super::event_streams::stream_mut;
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
    /// that stop waiting are forgotten. Then clients that joined the
    /// WebSocket this turn get their first list.
    pub(super) fn wake_changed_sessions(&mut self, now_ms: u64) {
        self.hand_out_joined_lists(now_ms);
        if self.app.changed_sessions.is_empty() {
            return;
        }
        let changed = std::mem::take(&mut self.app.changed_sessions);
        // Out of `self` while it wakes: a wake answers or marks, and never
        // starts a watch of its own.
        let mut watchers = std::mem::take(&mut self.watchers);
        for session in &changed {
            watchers.wake(session, |watcher| self.wake(session, watcher, now_ms));
        }
        debug_assert!(self.watchers.is_empty(), "a wake started a watch");
        self.watchers = watchers;
        self.app.counters.list_pushes_stale +=
            self.ws_hub
                .on_turn_end(&mut self.conns, &self.app, &mut self.revisit);
    }

    /// Wakes one watcher of `session`.
    fn wake(&mut self, session: &SessionId, watcher: Watcher, now_ms: u64) -> Wake {
        let Watcher { kind, slot, serial } = watcher;
        let waiting = match kind {
            WatcherKind::LongPoll => !self.answer_parked(slot, serial, now_ms),
            WatcherKind::WsFollow => match client_mut(&mut self.conns, slot, serial) {
                Some(ws) if ws.follows(session) => {
                    ws.mark_follow_due();
                    self.revisit.push(slot);
                    true
                }
                _ => false,
            },
            WatcherKind::SseFollow => match stream_mut(&mut self.conns, slot, serial) {
                Some(stream) if stream.follows(session) => {
                    stream.mark_due();
                    self.revisit.push(slot);
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

    /// Answers a parked read if it has something to say. Returns false
    /// when it keeps waiting.
    fn answer_parked(&mut self, slot: usize, serial: u64, now_ms: u64) -> bool {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return true;
        };
        let answered =
            conn.serial != serial || self.answer_parked_conn(slot, &mut conn, false, now_ms);
        self.conns[slot] = Some(conn);
        answered
    }

    /// Answers the parked read of `conn` when ready (or `force`, at its
    /// deadline: an empty page with the same cursor).
    pub(super) fn answer_parked_conn(
        &mut self,
        slot: usize,
        conn: &mut Conn,
        force: bool,
        now_ms: u64,
    ) -> bool {
        let ConnState::LongPoll(parked) = &conn.state else {
            return true;
        };
        if !force && !api::parked_read_ready(&self.app, parked) {
            return false;
        }
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
        // Pipelined requests may wait behind it, and the answer must go out.
        self.revisit.push(slot);
        true
    }
}
