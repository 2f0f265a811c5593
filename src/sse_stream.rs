//! One Server-Sent Events stream on a connection: a session's log
//! (`GET /sessions/{id}/log` with `Accept: text/event-stream`) or the
//! session list (`GET /sessions/events`).
//!
//! Like a WebSocket follower (`ws.rs`), a log stream reads its log from
//! the ring only `SSE_READ_AHEAD_BYTES_MAX` ahead of what the socket took:
//! the ring is the buffer, and entries it evicts meanwhile are counted as
//! `dropped` in the next page, as a page read counts them. Each page is an
//! event of at most the request's page limit, measured exactly, so the
//! stream never holds more than the read-ahead and one entry
//! (`SSE_READ_AHEAD_OVERSHOOT_BYTES_MAX`). A list stream gets the whole
//! list once (`event: sessions`, `id:` its `seq`), then the changes of
//! each tick where something changed (`event: changes`, `id:` its `seq`),
//! as bytes built and framed once for every list stream (`ListEvents`)
//! and written straight from them. The rule is the WebSocket
//! subscriber's (`ws_feed.rs`): a stream still holding unsent bytes of an
//! earlier event when changes are due gets a fresh list instead, which
//! replaces what had not started, so it never holds a backlog; one that
//! holds more than `SSE_UNSENT_BYTES_MAX` of older bytes then is cut off.
//! At a quiet tick a list stream is not even looked at: its only cost at
//! rest is the heartbeat. A reader that takes nothing at all
//! while bytes wait is closed after `WRITE_STALL_TIMEOUT_MS` (`conn.rs`).
//!
//! No I/O and no clock: the server writes `Conn.output` and passes
//! `now_ms`.

use crate::api::App;
use crate::limits::*;
use crate::log_ring::LogRing;
use crate::sessions::{format_id, ListFilter, SessionId};
use crate::sse::{self, Framing};
use crate::verdict::Verdict;
use crate::views::{self, PageEnd};
use std::rc::Rc;

/// The bytes of an event around its page, at most: `data: `, `\nid: `, a
/// 20-digit cursor, `\n\n` and the chunk's size line and CRLF.
const PAGE_EVENT_EXTRA_BYTES_MAX: usize = 64;
const _: () = assert!(PAGE_EVENT_EXTRA_BYTES_MAX + 256 < 512);

/// What a stream sends.
pub enum StreamSource {
    /// A session's log from `cursor` on, in pages of at most `limit`.
    Log(LogFollow),
    /// The session list once, then its changes.
    Sessions(ListFeed),
}

/// A followed log: the next cursor to send, and whether the ring may hold
/// something for it (set when the session changes, cleared once caught up).
pub struct LogFollow {
    pub session: SessionId,
    pub cursor: u64,
    pub limit: usize,
    due: bool,
}

/// A list stream's events: whether it needs a whole list at the next
/// offer, the newest event not yet started, and the one the socket is
/// taking straight from its shared bytes.
pub struct ListFeed {
    list_due: bool,
    next: Option<SharedBytes>,
    sending: Option<SharedBytes>,
}

impl ListFeed {
    /// `list_due`: it starts with a whole list (false: a client resuming
    /// at the current `seq` gets changes only).
    pub fn new(list_due: bool) -> ListFeed {
        ListFeed {
            list_due,
            next: None,
            sending: None,
        }
    }
}

struct SharedBytes {
    bytes: Rc<Vec<u8>>,
    offset: usize,
    offered_ms: u64,
}

impl SharedBytes {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.offset
    }
}

/// The list events of one moment, each built and framed (per framing)
/// the first time a stream needs it, then shared by every list stream:
/// the whole list as of `seq` (`{"type":"sessions","seq":N,...}`, the
/// WebSocket subscriber's list) and, at a tick with changes, the changes
/// message (`list_changes.rs`' bytes, the WebSocket's JSON).
pub struct ListEvents<'a> {
    app: &'a App,
    now_ms: u64,
    seq: u64,
    changes: Option<&'a [u8]>,
    changes_framed: FramedOnce,
    list: Option<Vec<u8>>,
    list_framed: FramedOnce,
}

impl<'a> ListEvents<'a> {
    /// The end of a turn: lists for streams that just started.
    pub fn turn_end(app: &'a App, now_ms: u64, seq: u64) -> ListEvents<'a> {
        ListEvents::new(app, now_ms, seq, None)
    }

    /// A push tick with changes: `changes` is the changes message `seq`.
    pub fn changes(app: &'a App, now_ms: u64, seq: u64, changes: &'a [u8]) -> ListEvents<'a> {
        ListEvents::new(app, now_ms, seq, Some(changes))
    }

    fn new(app: &'a App, now_ms: u64, seq: u64, changes: Option<&'a [u8]>) -> ListEvents<'a> {
        ListEvents {
            app,
            now_ms,
            seq,
            changes,
            changes_framed: FramedOnce::default(),
            list: None,
            list_framed: FramedOnce::default(),
        }
    }

    /// The push interval: an event offered this long ago and not yet
    /// sent counts as held.
    pub fn interval_ms(&self) -> u64 {
        self.app.config.ws_push_interval_ms
    }

    /// How many lists were built (at most one; none at rest).
    pub fn lists_built(&self) -> usize {
        usize::from(self.list.is_some())
    }

    fn list_event(&mut self, framing: Framing) -> Rc<Vec<u8>> {
        let (app, now_ms, seq) = (self.app, self.now_ms, self.seq);
        let payload = self.list.get_or_insert_with(|| {
            let sessions = app.sessions.list(ListFilter::All);
            let server_id = app.sessions.server_id();
            views::sessions_message_at_seq(seq, now_ms, &server_id, &sessions)
        });
        self.list_framed.event(framing, "sessions", payload, seq)
    }

    fn changes_event(&mut self, framing: Framing) -> Option<Rc<Vec<u8>>> {
        let changes = self.changes?;
        Some(
            self.changes_framed
                .event(framing, "changes", changes, self.seq),
        )
    }
}

/// One event's bytes, framed once per framing.
#[derive(Default)]
struct FramedOnce {
    chunked: Option<Rc<Vec<u8>>>,
    close_delimited: Option<Rc<Vec<u8>>>,
}

impl FramedOnce {
    fn event(&mut self, framing: Framing, name: &str, payload: &[u8], id: u64) -> Rc<Vec<u8>> {
        let slot = match framing {
            Framing::Chunked => &mut self.chunked,
            Framing::CloseDelimited => &mut self.close_delimited,
        };
        let event = slot.get_or_insert_with(|| {
            let mut out = Vec::with_capacity(payload.len() + 64);
            sse::write_framed(&mut out, framing, |out| {
                sse::write_event(out, Some(name), payload, Some(id))
            });
            Rc::new(out)
        });
        Rc::clone(event)
    }
}

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Sending events.
    Open,
    /// Its last bytes are queued (the end, or nothing more to say): the
    /// connection closes once they are flushed, or at `deadline_ms`.
    Ending { deadline_ms: u64 },
    /// Cut off (a slow list reader): closed at once, unflushed.
    CutOff,
}

/// Why a stream ended, for the server's log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    SessionEnded,
    SessionGone,
    Lifetime,
    TooSlow,
}

pub struct SseStream {
    pub framing: Framing,
    pub source: StreamSource,
    phase: Phase,
    started_ms: u64,
    /// When an event or heartbeat was last queued.
    last_sent_ms: u64,
    heartbeat_ms: u64,
    /// 0: no lifetime.
    lifetime_ms: u64,
    pub end: Option<StreamEnd>,
}

impl SseStream {
    /// A stream whose head is written; queues its `retry:` into `output`.
    pub fn new(
        framing: Framing,
        source: StreamSource,
        app: &App,
        output: &mut Vec<u8>,
        now_ms: u64,
    ) -> SseStream {
        sse::write_framed(output, framing, |out| sse::write_retry(out, SSE_RETRY_MS));
        SseStream {
            framing,
            source,
            phase: Phase::Open,
            started_ms: now_ms,
            last_sent_ms: now_ms,
            heartbeat_ms: app.config.sse_heartbeat_ms,
            lifetime_ms: app.config.sse_lifetime_ms,
            end: None,
        }
    }

    pub fn log(session: SessionId, cursor: u64, limit: usize) -> StreamSource {
        StreamSource::Log(LogFollow {
            session,
            cursor,
            limit,
            due: true,
        })
    }

    /// When the stream next needs attention without an event: the end of
    /// an ending, its lifetime, or a heartbeat (only when nothing waits to
    /// be sent: the stall deadline then applies, `conn.rs`).
    pub fn deadline_ms(&self, unsent: usize) -> u64 {
        match self.phase {
            Phase::Ending { deadline_ms } => deadline_ms,
            Phase::CutOff => self.last_sent_ms,
            Phase::Open => {
                let lifetime_ms = match self.lifetime_ms {
                    0 => u64::MAX,
                    lifetime_ms => self.started_ms + lifetime_ms,
                };
                let heartbeat_ms = match unsent {
                    0 => self.last_sent_ms + self.heartbeat_ms,
                    _ => u64::MAX,
                };
                lifetime_ms.min(heartbeat_ms)
            }
        }
    }

    /// The deadline passed: an ending that did not flush is dropped; a
    /// stream past its lifetime ends (without `event: end`: the client
    /// reconnects); a quiet one gets a heartbeat.
    pub fn on_deadline(&mut self, output: &mut Vec<u8>, unsent: usize, now_ms: u64) -> Verdict {
        match self.phase {
            Phase::Ending { .. } | Phase::CutOff => return Verdict::Close,
            Phase::Open => {}
        }
        if self.lifetime_ms > 0 && now_ms >= self.started_ms + self.lifetime_ms {
            self.finish(output, StreamEnd::Lifetime, now_ms);
        } else if unsent == 0 && now_ms >= self.last_sent_ms + self.heartbeat_ms {
            sse::write_framed(output, self.framing, |out| {
                out.extend_from_slice(sse::HEARTBEAT)
            });
            self.last_sent_ms = now_ms;
        }
        Verdict::Keep
    }

    /// Tops up the server's output: the followed log's pages while they fit
    /// the read-ahead, its end; or the next list once the output and the
    /// list in flight are out. `Close` once an ending has flushed.
    pub fn fill_output(
        &mut self,
        output: &mut Vec<u8>,
        output_sent: usize,
        app: &App,
        now_ms: u64,
    ) -> Verdict {
        if self.phase == Phase::CutOff {
            return Verdict::Close;
        }
        let output_unsent = output.len() - output_sent;
        if self.phase == Phase::Open {
            match &mut self.source {
                StreamSource::Log(follow) => {
                    let framing = self.framing;
                    match follow_log(follow, app, framing, output, output_unsent) {
                        LogProgress::Sent => self.last_sent_ms = now_ms,
                        LogProgress::Waiting => {}
                        LogProgress::Over(end) => self.finish(output, end, now_ms),
                    }
                }
                StreamSource::Sessions(feed) => {
                    if output_unsent == 0 && feed.sending.is_none() {
                        feed.sending = feed.next.take();
                    }
                }
            }
        }
        let flushed = output.len() == output_sent && self.shared_unsent().is_none();
        match self.phase {
            Phase::Ending { .. } if flushed => Verdict::Close,
            _ => Verdict::Keep,
        }
    }

    /// Queues the end of the stream; it closes once that is flushed.
    fn finish(&mut self, output: &mut Vec<u8>, end: StreamEnd, now_ms: u64) {
        sse::write_stream_end(output, self.framing);
        if let StreamSource::Sessions(feed) = &mut self.source {
            feed.next = None;
        }
        self.end = Some(end);
        self.phase = Phase::Ending {
            deadline_ms: now_ms + WRITE_STALL_TIMEOUT_MS,
        };
    }

    /// The rest of the list push in flight, to be written as it is; only
    /// once the server's own output for this stream is drained.
    pub fn shared_unsent(&self) -> Option<&[u8]> {
        match &self.source {
            StreamSource::Sessions(ListFeed {
                sending: Some(push),
                ..
            }) => Some(&push.bytes[push.offset..]),
            _ => None,
        }
    }

    /// The socket took `count` bytes of `shared_unsent`.
    pub fn shared_written(&mut self, count: usize) {
        if let StreamSource::Sessions(feed) = &mut self.source {
            if let Some(push) = &mut feed.sending {
                push.offset = (push.offset + count).min(push.bytes.len());
                if push.offset == push.bytes.len() {
                    feed.sending = None;
                }
            }
        }
    }

    /// Bytes not yet written that `Conn.output` does not hold: list pushes.
    pub fn shared_unsent_bytes(&self) -> usize {
        match &self.source {
            StreamSource::Sessions(feed) => {
                let sending = feed.sending.as_ref().map_or(0, SharedBytes::remaining);
                sending + feed.next.as_ref().map_or(0, SharedBytes::remaining)
            }
            StreamSource::Log(_) => 0,
        }
    }

    /// Offers this stream what `events` has for it: the whole list if it
    /// needs one, or, at a tick with changes, the changes, or a fresh list
    /// if it still holds an earlier event (a backlog is never kept); else
    /// nothing. A stream that still holds more than `SSE_UNSENT_BYTES_MAX`
    /// of older bytes (its output, and the rest of an event offered an
    /// interval ago or more) is cut off instead; otherwise the new event
    /// replaces one not yet started. True when something was offered.
    pub fn offer_list(
        &mut self,
        events: &mut ListEvents,
        output_unsent: usize,
        interval_ms: u64,
        now_ms: u64,
    ) -> bool {
        let StreamSource::Sessions(feed) = &mut self.source else {
            return false;
        };
        if self.phase != Phase::Open {
            return false;
        }
        let behind = feed.sending.is_some() || feed.next.is_some();
        let has_changes = events.changes.is_some();
        if !feed.list_due && !has_changes {
            return false;
        }
        let overdue = feed
            .sending
            .as_ref()
            .filter(|push| push.offered_ms + interval_ms <= now_ms);
        if output_unsent + overdue.map_or(0, SharedBytes::remaining) > SSE_UNSENT_BYTES_MAX {
            feed.next = None;
            feed.sending = None;
            self.end = Some(StreamEnd::TooSlow);
            self.phase = Phase::CutOff;
            return true;
        }
        let bytes = match feed.list_due || behind {
            true => events.list_event(self.framing),
            false => match events.changes_event(self.framing) {
                Some(bytes) => bytes,
                None => return false,
            },
        };
        feed.list_due = false;
        feed.next = Some(SharedBytes {
            bytes,
            offset: 0,
            offered_ms: now_ms,
        });
        self.last_sent_ms = now_ms;
        true
    }

    /// Whether this stream follows `session`'s log.
    pub fn follows(&self, session: &SessionId) -> bool {
        matches!(&self.source, StreamSource::Log(follow) if follow.session == *session && self.phase == Phase::Open)
    }

    /// The followed log changed: read it on the next `fill_output`.
    pub fn mark_due(&mut self) {
        if let StreamSource::Log(follow) = &mut self.source {
            follow.due = true;
        }
    }

    /// The session a log stream follows.
    pub fn session(&self) -> Option<SessionId> {
        match &self.source {
            StreamSource::Log(follow) => Some(follow.session),
            StreamSource::Sessions(_) => None,
        }
    }
}

/// What reading a followed log did.
enum LogProgress {
    Sent,
    Waiting,
    Over(StreamEnd),
}

/// Writes pages for `follow` into `out` behind `queued` bytes while they
/// fit the read-ahead, and says when the log is over (the session ended
/// and every entry was sent, or the session is gone).
fn follow_log(
    follow: &mut LogFollow,
    app: &App,
    framing: Framing,
    out: &mut Vec<u8>,
    queued: usize,
) -> LogProgress {
    if !follow.due {
        return LogProgress::Waiting;
    }
    let Some(session) = app.sessions.get(&follow.session) else {
        let error = format!("session {} no longer exists", format_id(&follow.session));
        let mut data = b"{\"error\":".to_vec();
        crate::http::response::write_json_string(&mut data, &error);
        data.push(b'}');
        sse::write_framed(out, framing, |out| {
            sse::write_event(out, Some("end"), &data, Some(follow.cursor))
        });
        return LogProgress::Over(StreamEnd::SessionGone);
    };
    let sent = write_pages(follow, &session.log, framing, queued, out);
    if !follow.due && !session.is_active() {
        let mut data = views::session_body(session);
        data.pop();
        sse::write_framed(out, framing, |out| {
            sse::write_event(out, Some("end"), &data, Some(follow.cursor))
        });
        return LogProgress::Over(StreamEnd::SessionEnded);
    }
    if sent {
        LogProgress::Sent
    } else {
        LogProgress::Waiting
    }
}

/// Writes page events for `follow` into `out` behind `queued` bytes while
/// they fit the read-ahead, until the log is caught up (then `due` is
/// cleared). A page behind queued bytes starts only with half the
/// read-ahead free, so a backlog leaves in full pages, not in pieces cut
/// to what a half-drained queue leaves. True when a page was written.
fn write_pages(
    follow: &mut LogFollow,
    log: &LogRing,
    framing: Framing,
    queued: usize,
    out: &mut Vec<u8>,
) -> bool {
    let mut room = SSE_READ_AHEAD_BYTES_MAX.saturating_sub(queued);
    let mut sent = false;
    loop {
        let (first, next) = (log.first_cursor(), log.next_cursor());
        let start = follow.cursor.max(first);
        // Entries at or after the cursor that the ring evicted already.
        let dropped = first.saturating_sub(follow.cursor);
        if start >= next && dropped == 0 {
            follow.due = false;
            return sent;
        }
        let queue_empty = room == SSE_READ_AHEAD_BYTES_MAX;
        if !queue_empty && room < SSE_READ_AHEAD_BYTES_MAX / 2 {
            return sent;
        }
        let end = PageEnd {
            cursor: start,
            dropped,
            more: false,
            total: log.len(),
        };
        let page_max = room.saturating_sub(PAGE_EVENT_EXTRA_BYTES_MAX);
        let entries = log.raw_iter_from(start).take(follow.limit);
        let before = out.len();
        let mut count = 0;
        sse::write_framed(out, framing, |out| {
            out.extend_from_slice(b"data: ");
            count = views::write_log_page_within(out, start, entries, &end, next, page_max);
            out.push(b'\n');
            sse::write_id(out, start + count as u64);
            out.push(b'\n');
        });
        let event_bytes = out.len() - before;
        debug_assert!(count <= 1 || event_bytes <= room);
        follow.cursor = start + count as u64;
        sent = true;
        room = room.saturating_sub(event_bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::level::Level;

    fn app() -> App {
        let config = crate::config::Config::default();
        let addr = "127.0.0.1:8558".parse().expect("address");
        App::new(config, addr, [7; 12], 0)
    }

    /// The `data:` JSON of every page event in `bytes` (chunked), in order.
    fn pages(bytes: &[u8]) -> Vec<serde_json::Value> {
        let text = String::from_utf8_lossy(bytes);
        text.lines()
            .filter_map(|line| line.strip_prefix("data: "))
            .map(|data| serde_json::from_str(data).expect("one line of JSON"))
            .collect()
    }

    /// Follows the server's own log from `cursor` with a socket that takes
    /// everything after each fill; every page, with the bytes of each fill
    /// checked against the read-ahead and its overshoot.
    fn catch_up(app: &App, cursor: u64) -> Vec<serde_json::Value> {
        let mut output = Vec::new();
        let source = SseStream::log(app.sessions.server_id(), cursor, LOG_READ_LIMIT_DEFAULT);
        let mut stream = SseStream::new(Framing::Chunked, source, app, &mut output, 0);
        let mut all = Vec::new();
        for _ in 0..1_000 {
            output.clear();
            stream.fill_output(&mut output, 0, app, 0);
            let bound = SSE_READ_AHEAD_BYTES_MAX + SSE_READ_AHEAD_OVERSHOOT_BYTES_MAX;
            assert!(output.len() < bound, "{} bytes queued", output.len());
            if output.is_empty() {
                return all;
            }
            all.extend(pages(&output));
        }
        panic!("never caught up");
    }

    #[test]
    fn a_backlog_leaves_in_pages_of_the_limit_each_entry_once() {
        let mut app = app();
        for index in 0..9_000 {
            app.server_log(Level::Info, &format!("line {index:<75}"), 1_000);
        }
        let pages = catch_up(&app, 0);
        let mut cursor = 0;
        for page in &pages {
            for entry in page["entries"].as_array().expect("entries") {
                assert_eq!(entry["cursor"], cursor);
                cursor += 1;
            }
            assert_eq!(page["cursor"], cursor);
            assert_eq!(page["dropped"], 0);
        }
        let next = app
            .sessions
            .get(&app.sessions.server_id())
            .expect("own")
            .log
            .next_cursor();
        assert_eq!(cursor, next);
        let counts: Vec<usize> = pages
            .iter()
            .map(|page| page["entries"].as_array().map_or(0, Vec::len))
            .collect();
        assert!(
            counts[..counts.len() - 1]
                .iter()
                .all(|&count| count == 1000),
            "{counts:?}"
        );
        assert_eq!(
            pages.last().map(|page| page["more"].clone()),
            Some(serde_json::json!(false))
        );
    }

    #[test]
    fn big_entries_fill_the_read_ahead_and_pass_it_by_one_at_most() {
        let mut app = app();
        for index in 0..200 {
            app.server_log(Level::Info, &format!("{index:0>60000}"), 1_000);
        }
        let pages = catch_up(&app, 0);
        let entries: usize = pages
            .iter()
            .map(|page| page["entries"].as_array().map_or(0, Vec::len))
            .sum();
        assert!(entries >= 200, "{entries}");
    }

    #[test]
    fn a_quiet_stream_gets_a_heartbeat_at_its_interval_and_not_before() {
        let app = app();
        let mut output = Vec::new();
        let source = StreamSource::Sessions(ListFeed::new(false));
        let mut stream = SseStream::new(Framing::Chunked, source, &app, &mut output, 0);
        output.clear();
        let heartbeat_ms = app.config.sse_heartbeat_ms;
        assert_eq!(stream.deadline_ms(0), heartbeat_ms);
        assert_eq!(
            stream.deadline_ms(1),
            u64::MAX,
            "bytes waiting: the stall applies"
        );
        stream.on_deadline(&mut output, 0, heartbeat_ms - 1);
        assert!(output.is_empty());
        stream.on_deadline(&mut output, 0, heartbeat_ms);
        assert_eq!(output, b"e\r\n: keep-alive\n\n\r\n");
        assert_eq!(stream.deadline_ms(0), 2 * heartbeat_ms);
    }

    /// The event names `stream` was offered, by what is queued for it.
    fn offered(stream: &SseStream) -> String {
        let text = String::from_utf8_lossy(stream.shared_unsent().unwrap_or_default());
        text.lines()
            .filter_map(|line| line.strip_prefix("event: "))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn a_list_first_then_changes_and_a_fresh_list_for_a_stream_behind() {
        let app = app();
        let mut output = Vec::new();
        let new_stream = |list_due, output: &mut Vec<u8>| {
            let source = StreamSource::Sessions(ListFeed::new(list_due));
            SseStream::new(Framing::Chunked, source, &app, output, 0)
        };
        let mut fresh = new_stream(true, &mut output);
        let mut resumed = new_stream(false, &mut output);
        let changes = br#"{"type":"changes","seq":5,"upserts":[],"removed":[]}"#;
        // The end of a turn: only the stream that needs a list gets one.
        let mut events = ListEvents::turn_end(&app, 0, 4);
        assert!(fresh.offer_list(&mut events, 0, 100, 0));
        assert!(!resumed.offer_list(&mut events, 0, 100, 0));
        assert_eq!(events.lists_built(), 1);
        output.clear();
        for stream in [&mut fresh, &mut resumed] {
            stream.fill_output(&mut output, 0, &app, 0);
        }
        assert_eq!(offered(&fresh), "sessions");
        assert!(
            String::from_utf8_lossy(fresh.shared_unsent().unwrap_or_default())
                .contains("\nid: 4\n\n")
        );
        // A tick with changes: the caught-up stream gets them; the one
        // still holding its list gets a fresh one, not a backlog.
        let mut events = ListEvents::changes(&app, 100, 5, changes);
        assert!(fresh.offer_list(&mut events, 0, 100, 100));
        assert!(resumed.offer_list(&mut events, 0, 100, 100));
        assert_eq!(events.lists_built(), 1);
        resumed.fill_output(&mut output, 0, &app, 100);
        assert_eq!(offered(&resumed), "changes");
        let unsent = resumed.shared_unsent().unwrap_or_default();
        assert!(String::from_utf8_lossy(unsent).ends_with("id: 5\n\n\r\n"));
        // Taken, the stream is caught up and gets changes again.
        let sent = fresh.shared_unsent().map_or(0, <[u8]>::len);
        fresh.shared_written(sent);
        fresh.fill_output(&mut output, 0, &app, 100);
        assert_eq!(offered(&fresh), "sessions", "the fresh list at seq 5");
        let unsent = fresh.shared_unsent().unwrap_or_default();
        assert!(String::from_utf8_lossy(unsent).contains("\"seq\":5,"));
    }
}
