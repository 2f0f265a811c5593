//! Server-Sent Events streams on the loop (`sse_stream.rs` is one stream):
//! starting one from its plan, handing list streams the tick's list (the
//! same `SharedMessage` the WebSocket clients get, built once), and forgetting
//! streams that end. Log streams are watchers of their session
//! (`WatcherKind::SseFollow`), woken by the one wake path (`wake.rs`).

use super::Server;
use crate::api::{StreamStart, StreamTopic};
use crate::conn::{Conn, ConnState};
use crate::level::Level;
use crate::limits::*;
use crate::sse;
use crate::sse_stream::{ListFeed, SharedList, SseStream, StreamEnd, StreamSource};
use crate::watchers::{Watcher, WatcherKind};
use crate::ws_feed::list_message;
use crate::ws_frame::SharedMessage;

/// The list streams (`/sessions/events`) by (slot, serial), and those that
/// started since the last look (they get a list at once). Streams that
/// ended are dropped lazily, as in `ws_hub.rs`.
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
            StreamTopic::Sessions => {
                self.list_streams.streams.push((slot, conn.serial));
                self.list_streams.joined.push((slot, conn.serial));
                StreamSource::Sessions(ListFeed::default())
            }
        };
        let stream = SseStream::new(framing, source, &self.app, &mut conn.output, now_ms);
        conn.state = ConnState::EventStream(Box::new(stream));
        self.app.counters.sse_clients += 1;
    }

    /// Every push tick: the tick's list (built here if the WebSocket
    /// clients did not need it) goes to every list stream.
    pub(super) fn on_list_stream_tick(&mut self, push: &mut Option<SharedMessage>, now_ms: u64) {
        let conns = &mut self.conns;
        self.list_streams
            .streams
            .retain(|&(slot, serial)| stream_mut(conns, slot, serial).is_some());
        self.list_streams.joined.clear();
        if self.list_streams.streams.is_empty() {
            return;
        }
        let push = push.get_or_insert_with(|| list_message(&self.app, now_ms, None));
        let targets = std::mem::take(&mut self.list_streams.streams);
        self.hand_out_list(&targets, push, now_ms);
        self.list_streams.streams = targets;
    }

    /// List streams that started since the last look get a list now,
    /// without waiting for the next tick (one list for all of them).
    pub(super) fn hand_out_joined_lists(&mut self, now_ms: u64) {
        if self.list_streams.joined.is_empty() {
            return;
        }
        let joined = std::mem::take(&mut self.list_streams.joined);
        let push = list_message(&self.app, now_ms, None);
        self.hand_out_list(&joined, &push, now_ms);
    }

    fn hand_out_list(&mut self, targets: &[(usize, u64)], push: &SharedMessage, now_ms: u64) {
        let mut list = SharedList::new(push.payload());
        let interval_ms = self.app.config.ws_push_interval_ms;
        for &(slot, serial) in targets {
            let Some(conn) = self.conns.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            let output_unsent = conn.unsent();
            if let Some(stream) = stream_of(conn, serial) {
                stream.offer_list(&mut list, output_unsent, interval_ms, now_ms);
                self.revisit.push(slot);
            }
        }
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
