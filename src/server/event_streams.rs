//! Server-Sent Events streams on the loop (`sse_stream.rs` is one stream):
//! starting one from its plan, handing list streams their first list and
//! each tick's changes (the WebSocket subscribers' changes message, built
//! once per tick by the hub's `list_changes.rs` and framed once as an SSE
//! event), and forgetting streams that end. While list streams are open
//! the hub keeps the changes (`WsHub::set_list_streams_open`). Where a
//! list stream starts: a client reconnecting with `Last-Event-ID` equal to
//! the current `seq` holds the list as of it and gets changes only; any
//! other gets a whole list first. Log streams are watchers of their session
//! (`WatcherKind::SseFollow`), woken by the one wake path (`wake.rs`).

use super::visit_queue::{Visit, VisitQueue};
use super::Server;
use crate::api::{StreamStart, StreamTopic};
use crate::conn::{Conn, ConnState};
use crate::level::Level;
use crate::limits::*;
use crate::sse;
use crate::sse_stream::{ListEvents, ListFeed, SseStream, StreamEnd, StreamSource};
use crate::watchers::{Watcher, WatcherKind};

/// The list streams (`/sessions/events`) by (slot, serial), and those that
/// started since the last look and need a list (they get one at the end of
/// the turn). Streams that ended are dropped lazily, as in `ws_hub.rs`.
#[derive(Default)]
pub(super) struct ListStreams {
    streams: Vec<(usize, u64)>,
    joined: Vec<(usize, u64)>,
}

impl Server {
    /// Writes the head of a planned stream and starts it (HEAD: the head
    /// only, and the connection goes on).
    pub(super) fn start_event_stream(
        &mut self,
        slot: usize,
        conn: &mut Conn,
        start: StreamStart,
        keep_alive: bool,
        now_ms: u64,
    ) {
        let StreamStart {
            topic,
            framing,
            head_only,
        } = start;
        sse::write_stream_head(&mut conn.output, framing, head_only, now_ms);
        if head_only {
            if !keep_alive {
                conn.state = ConnState::Closing;
                conn.closing_since_ms = Some(now_ms);
            }
            return;
        }
        let source = match topic {
            StreamTopic::Log {
                session,
                cursor,
                limit,
            } => {
                let watcher = Watcher::new(WatcherKind::SseFollow, slot, conn.serial);
                self.watchers.watch(session, watcher);
                SseStream::log(session, cursor, limit)
            }
            StreamTopic::Sessions { last_event_id } => {
                // Tracking first: starting it may move `seq` (a paused
                // stream's old `seq` no longer names the list).
                self.ws_hub.set_list_streams_open(true, now_ms);
                let resumes = last_event_id == Some(self.ws_hub.seq());
                self.list_streams.streams.push((slot, conn.serial));
                if !resumes {
                    self.list_streams.joined.push((slot, conn.serial));
                }
                StreamSource::Sessions(ListFeed::new(!resumes))
            }
        };
        let stream = SseStream::new(framing, source, &self.app, &mut conn.output, now_ms);
        conn.state = ConnState::EventStream(Box::new(stream));
        self.app.counters.sse_clients += 1;
    }

    /// Before a push tick: list streams that closed are forgotten, and the
    /// hub is told whether any is left (then it keeps the changes).
    pub(super) fn forget_closed_list_streams(&mut self, now_ms: u64) {
        let conns = &mut self.conns;
        self.list_streams
            .streams
            .retain(|&(slot, serial)| stream_mut(conns, slot, serial).is_some());
        let open = !self.list_streams.streams.is_empty();
        self.ws_hub.set_list_streams_open(open, now_ms);
    }

    /// A push tick with changes: every list stream gets them (or a fresh
    /// list, if it fell behind), framed once for all. Ticks without
    /// changes never get here: at rest a list stream costs nothing.
    pub(super) fn hand_out_changes(&mut self, changes: &[u8], now_ms: u64) {
        if self.list_streams.streams.is_empty() {
            return;
        }
        let targets = std::mem::take(&mut self.list_streams.streams);
        let mut events = ListEvents::changes(&self.app, now_ms, self.ws_hub.seq(), changes);
        hand_out(
            &mut self.conns,
            &mut self.visits,
            &targets,
            &mut events,
            now_ms,
        );
        self.list_streams.streams = targets;
    }

    /// List streams that started since the last look get a list now,
    /// without waiting for the next tick (one list for all of them).
    pub(super) fn hand_out_joined_lists(&mut self, now_ms: u64) {
        if self.list_streams.joined.is_empty() {
            return;
        }
        let joined = std::mem::take(&mut self.list_streams.joined);
        let mut events = ListEvents::turn_end(&self.app, now_ms, self.ws_hub.seq());
        hand_out(
            &mut self.conns,
            &mut self.visits,
            &joined,
            &mut events,
            now_ms,
        );
    }

    /// A connection that held a stream is closing: its watch ends, and a
    /// stream cut off for reading too slowly is noted in the server's log.
    pub(super) fn on_event_stream_closed(&mut self, slot: usize, conn: &Conn, now_ms: u64) {
        let ConnState::EventStream(stream) = &conn.state else {
            return;
        };
        self.app.counters.sse_clients = self.app.counters.sse_clients.saturating_sub(1);
        if let Some(session) = stream.session() {
            let watcher = Watcher::new(WatcherKind::SseFollow, slot, conn.serial);
            self.watchers.unwatch(&session, watcher);
        }
        if stream.end == Some(StreamEnd::TooSlow) {
            let line = format!(
                "event stream #{} cut off: unsent bytes over {SSE_UNSENT_BYTES_MAX}",
                conn.serial
            );
            self.app.server_log(Level::Warn, &line, now_ms);
        }
    }

    /// A stream whose client took nothing for the stall time is closed.
    pub(super) fn note_stalled_stream(&mut self, conn: &Conn, now_ms: u64) {
        let line = format!(
            "event stream #{} closed: the client read nothing for {WRITE_STALL_TIMEOUT_MS} ms",
            conn.serial
        );
        self.app.server_log(Level::Warn, &line, now_ms);
    }
}

/// Offers `events` to every stream of `targets` still there; those offered
/// something are revisited to be written to.
fn hand_out(
    conns: &mut [Option<Conn>],
    visits: &mut VisitQueue,
    targets: &[(usize, u64)],
    events: &mut ListEvents,
    now_ms: u64,
) {
    let interval_ms = events.interval_ms();
    for &(slot, serial) in targets {
        let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else {
            continue;
        };
        let output_unsent = conn.unsent();
        if let Some(stream) = stream_of(conn, serial) {
            if stream.offer_list(events, output_unsent, interval_ms, now_ms) {
                visits.push(slot, Visit::Read);
            }
        }
    }
}

/// The stream in a slot, if it is still the one with `serial`.
pub(super) fn stream_mut(
    conns: &mut [Option<Conn>],
    slot: usize,
    serial: u64,
) -> Option<&mut SseStream> {
    stream_of(conns.get_mut(slot)?.as_mut()?, serial)
}

fn stream_of(conn: &mut Conn, serial: u64) -> Option<&mut SseStream> {
    match &mut conn.state {
        ConnState::EventStream(stream) if conn.serial == serial => Some(&mut **stream),
        _ => None,
    }
}
