//! WebSocket clients: `/sessions/ws` (session-list pushes and log follows)
//! and `/ws-echo` (an echo for the conformance suite, behind `--ws-echo`).
//!
//! The socket stays with the server: it reads into `Conn.input` and writes
//! `Conn.output`, and list pushes straight from their shared frame
//! (`push_unsent`). tungstenite runs over `MemStream`, an in-memory stream
//! whose reads take the bytes the server read (`WouldBlock` once they are
//! used up) and whose writes append to a queue. So tungstenite never owns a
//! socket and never blocks: its `WouldBlock` means "wait for the next event
//! on this connection". tungstenite parses and checks client frames and
//! answers pings and closes; the data frames we send are framed here
//! (`push_frame`, `text_frame`), so one list push is framed once and shared
//! by all clients, and compressed once more for those that agreed to
//! permessage-deflate (`ws_deflate`, which also undoes the client's
//! compression before tungstenite reads).
//!
//! A client's unsent bytes are the server's output not yet written, the
//! queue (`MemStream.outgoing`) and the list pushes not yet written.
//! Lists never pile up: a newer list replaces one not yet started. Log
//! entries are read from the ring only `WS_LOG_READ_AHEAD_BYTES_MAX` ahead
//! (the ring is the buffer; what it evicts meanwhile is reported as
//! `dropped`), counted as the exact bytes of their framed messages: a
//! message is rendered entry by entry, and the entry that would take it
//! past the read-ahead is taken back for the next one. Only an entry
//! bigger than the room left goes past it, alone, so a client's queue
//! never holds more than the read-ahead plus
//! `WS_LOG_READ_AHEAD_OVERSHOOT_BYTES_MAX`. A backlog leaves in messages
//! of `WS_LOG_ENTRIES_PER_MESSAGE_MAX` entries, or of as many as the whole
//! read-ahead holds: a message is cut short only when nothing is queued
//! before it; otherwise it waits until the socket has taken the queue.
//! A client that still holds more than `WS_UNSENT_BYTES_MAX`
//! of older messages when a new list is due, a whole interval after the
//! one it is on, is closed with 1008 (as is one whose queue alone passes
//! it). One that reads nothing while lists are small holds at most two of
//! them, shared, and is dropped by the ping timeout.
//!
//! tungstenite sends no close frame on a protocol error, so `fail` sends
//! one (1002, 1007 or 1009) and the connection ends once it is flushed.

use crate::api::App;
use crate::level::Level;
use crate::limits::*;
use crate::log_ring::LogRing;
use crate::sessions::{format_id, parse_id, ListFilter, SessionId};
use crate::verdict::Verdict;
use crate::views;
use crate::ws_deflate::{self, Deflate, InboundError, InboundFrames};
use serde_json::{Map, Value};
use std::io::{self, Read, Write};
use std::rc::Rc;
use tungstenite::protocol::frame::coding::{CloseCode, Data, OpCode};
use tungstenite::protocol::frame::{CloseFrame, Frame, FrameHeader};
use tungstenite::protocol::{Role, WebSocketConfig};
use tungstenite::{Bytes, Error, Message, Utf8Bytes, WebSocket};

/// The largest frame tungstenite writes for us: a control frame (ping,
/// pong, close) of 125 payload bytes behind the longest header.
const CONTROL_FRAME_BYTES_MAX: usize = 14 + 125;
/// A close reason must fit a control frame with its 2-byte code.
const CLOSE_REASON_BYTES_MAX: usize = 123;
/// The longest header of a frame we send: 2 bytes and a 64-bit length
/// (server frames are not masked).
const DATA_FRAME_HEADER_BYTES_MAX: usize = 2 + 8;

/// A message from a client of `/sessions/ws`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientMessage {
    /// Send the log of `session` from `cursor` on, then as it grows.
    Follow { session: SessionId, cursor: u64 },
    /// Stop sending log entries.
    Unfollow,
}

/// Parses one text message of a `/sessions/ws` client. The error is the
/// text of the `{"type":"error"}` answer.
pub fn parse_client_message(text: &str) -> Result<ClientMessage, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("message is not JSON: {error}"))?;
    let Some(object) = value.as_object() else {
        return Err("message must be a JSON object".into());
    };
    match object.get("type").and_then(Value::as_str) {
        Some("follow") => parse_follow(object),
        Some("unfollow") => Ok(ClientMessage::Unfollow),
        Some(other) if other.len() <= 32 => Err(format!(
            "unknown message type {other:?} (expected \"follow\" or \"unfollow\")"
        )),
        Some(_) => Err("unknown message type (expected \"follow\" or \"unfollow\")".into()),
        None => Err("message needs a \"type\": \"follow\" or \"unfollow\"".into()),
    }
}

fn parse_follow(object: &Map<String, Value>) -> Result<ClientMessage, String> {
    let session = object
        .get("session")
        .and_then(Value::as_str)
        .and_then(parse_id)
        .ok_or("\"session\" must be a session id (24 hex digits)")?;
    // No cursor means the start of what the log holds, as for GET .../log.
    let cursor = match object.get("cursor") {
        None | Some(Value::Null) => 0,
        Some(cursor) => cursor
            .as_u64()
            .ok_or("\"cursor\" must be a non-negative integer")?,
    };
    Ok(ClientMessage::Follow { session, cursor })
}

/// The stream tungstenite runs over: bytes the server read in, frames to
/// send out. Writes always succeed; the caps are enforced around it.
#[derive(Default)]
struct MemStream {
    incoming: Vec<u8>,
    incoming_read: usize,
    outgoing: Vec<u8>,
}

impl Read for MemStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = &self.incoming[self.incoming_read..];
        if available.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let count = available.len().min(buf.len());
        buf[..count].copy_from_slice(&available[..count]);
        self.incoming_read += count;
        if self.incoming_read == self.incoming.len() {
            self.incoming.clear();
            self.incoming_read = 0;
        }
        Ok(count)
    }
}

impl Write for MemStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.outgoing.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// tungstenite's limits, from `limits.rs` (its defaults allow 64 MiB
/// messages and an unbounded write buffer). It writes only control frames
/// here, so its buffer needs room for one beyond `WS_WRITE_BUFFER_BYTES`.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER_BYTES)
        .write_buffer_size(WS_WRITE_BUFFER_BYTES)
        .max_write_buffer_size(WS_WRITE_BUFFER_BYTES + CONTROL_FRAME_BYTES_MAX)
        .max_message_size(Some(WS_MESSAGE_BYTES_MAX))
        .max_frame_size(Some(WS_MESSAGE_BYTES_MAX))
        .accept_unmasked_frames(false)
}

/// Appends one unmasked, final data frame (server frames are never masked,
/// so the same bytes serve every client).
fn push_frame(out: &mut Vec<u8>, data: Data, payload: impl Into<Bytes>) {
    let frame = Frame::message(payload, OpCode::Data(data), true);
    out.reserve(frame.len());
    // Formatting into a Vec cannot fail.
    let _ = frame.format(out);
}

/// A followed log: the next cursor to send, and whether the ring may hold
/// entries for it (set when the session changes, cleared once caught up).
struct Follow {
    session: SessionId,
    cursor: u64,
    due: bool,
    /// Framed bytes of the last `log` message (before the first: the whole
    /// read-ahead). A message starts behind queued bytes only if there is
    /// room for one as big.
    message_bytes_last: usize,
}

/// A session-list push for one client: the frame shared by all clients
/// (of its kind: plain or compressed), how much of it this client's socket
/// has taken, and when it was offered.
struct Push {
    frame: Rc<Vec<u8>>,
    offset: usize,
    offered_ms: u64,
}

impl Push {
    fn remaining(&self) -> usize {
        self.frame.len() - self.offset
    }
}

/// One upgraded connection.
pub struct WsConn {
    pub echo: bool,
    socket: WebSocket<MemStream>,
    /// permessage-deflate as agreed in the upgrade.
    deflate: Option<Deflate>,
    /// Undoes the client's compression before tungstenite reads (only
    /// with `deflate`).
    inbound: Option<Box<InboundFrames>>,
    /// The connection's serial (set on join), to name it in the server log.
    serial: u64,
    joined_ms: u64,
    /// Last byte from the client: a quiet client is pinged, then closed.
    last_heard_ms: u64,
    pinged: bool,
    follow: Option<Follow>,
    /// `follow` changed and the hub has not indexed it yet.
    follow_unnoted: bool,
    /// The newest list push not yet started (a newer one replaces it).
    push_next: Option<Push>,
    /// The list push being written: the socket takes it straight from the
    /// shared frame, and nothing else is handed over until it is out.
    push_sending: Option<Push>,
    /// Set once the connection is ending: nothing new is sent, what is
    /// queued is flushed, and at this time it is dropped regardless.
    ending_deadline_ms: Option<u64>,
    /// Why the connection ended, for the server log.
    end_reason: Option<(Level, String)>,
}

impl WsConn {
    pub fn new(echo: bool, deflate: Option<Deflate>, now_ms: u64) -> WsConn {
        WsConn {
            echo,
            socket: WebSocket::from_raw_socket(MemStream::default(), Role::Server, Some(config())),
            deflate,
            inbound: deflate.map(|_| Box::default()),
            serial: 0,
            joined_ms: now_ms,
            last_heard_ms: now_ms,
            pinged: false,
            follow: None,
            follow_unnoted: false,
            push_next: None,
            push_sending: None,
            ending_deadline_ms: None,
            end_reason: None,
        }
    }

    /// When the connection next needs attention without an event: a ping,
    /// the pong deadline, or the end of an ending.
    pub fn deadline_ms(&self) -> u64 {
        match self.ending_deadline_ms {
            Some(deadline_ms) => deadline_ms,
            None if self.pinged => self.last_heard_ms + WS_PONG_TIMEOUT_MS,
            None => self.last_heard_ms + WS_PING_INTERVAL_MS,
        }
    }

    /// Feeds the bytes the server read to tungstenite and handles every
    /// complete message. Answers land in the queue; `fill_output` hands
    /// them to the server.
    pub fn on_input(&mut self, input: &mut Vec<u8>, app: &mut App, now_ms: u64) -> Verdict {
        if input.is_empty() {
            return Verdict::Keep;
        }
        self.last_heard_ms = now_ms;
        self.pinged = false;
        if self.ending_deadline_ms.is_some() {
            // After our close frame nothing the client says matters.
            input.clear();
            return Verdict::Keep;
        }
        let stream = self.socket.get_mut();
        let inbound_result = match &mut self.inbound {
            Some(inbound) => inbound.feed(input, &mut stream.incoming),
            None => {
                stream.incoming.extend_from_slice(input);
                Ok(())
            }
        };
        input.clear();
        // What came before a bad compressed frame is still handled first.
        while self.ending_deadline_ms.is_none() {
            match self.socket.read() {
                Ok(message) => self.on_message(message, app),
                Err(Error::Io(error)) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) => self.on_read_error(error, now_ms),
            }
        }
        if let (Err(error), None) = (inbound_result, self.ending_deadline_ms) {
            self.on_inbound_error(error, now_ms);
        }
        if self.ending_deadline_ms.is_some() {
            let stream = self.socket.get_mut();
            stream.incoming.clear();
            stream.incoming_read = 0;
        }
        self.flush_socket(now_ms);
        Verdict::Keep
    }

    fn on_message(&mut self, message: Message, app: &App) {
        match message {
            Message::Text(text) if self.echo => self.queue(Data::Text, text),
            Message::Binary(data) if self.echo => self.queue(Data::Binary, data),
            Message::Text(text) => self.on_client_text(&text, app),
            Message::Binary(_) => {
                self.queue_error("binary messages are not understood: send JSON text")
            }
            Message::Close(frame) => {
                let code = frame.map_or("no code".to_owned(), |frame| frame.code.to_string());
                self.end_reason = Some((Level::Info, format!("closed by the client ({code})")));
                // tungstenite queued the answer; the next read sends it
                // and reports the handshake complete.
            }
            // tungstenite queued the pong; any byte already counted as life.
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }

    fn on_client_text(&mut self, text: &str, app: &App) {
        match parse_client_message(text) {
            Ok(ClientMessage::Follow { session, cursor }) => {
                self.start_follow(session, cursor, app)
            }
            Ok(ClientMessage::Unfollow) => self.follow = None,
            Err(message) => self.queue_error(&message),
        }
    }

    /// Replaces the follow; the log is read in `fill_output`, as far as the
    /// unsent bytes allow.
    fn start_follow(&mut self, session: SessionId, cursor: u64, app: &App) {
        let Some(found) = app.sessions.get(&session) else {
            return self.queue_error(&format!("unknown session {}", format_id(&session)));
        };
        let next = found.log.next_cursor();
        if cursor > next {
            return self.queue_error(&format!(
                "cursor {cursor} is beyond the log's next cursor {next}"
            ));
        }
        self.follow = Some(Follow {
            session,
            cursor,
            due: true,
            message_bytes_last: WS_LOG_READ_AHEAD_BYTES_MAX,
        });
        self.follow_unnoted = true;
    }

    fn on_read_error(&mut self, error: Error, now_ms: u64) {
        let (code, reason) = match error {
            Error::ConnectionClosed | Error::AlreadyClosed => {
                // The close handshake is complete: flush, then drop.
                return self.end(now_ms, WRITE_STALL_TIMEOUT_MS);
            }
            Error::Capacity(_) => too_big(),
            Error::Utf8(_) => (CloseCode::Invalid, "text is not valid UTF-8".to_owned()),
            Error::Protocol(error) => protocol_error(error),
            error => (CloseCode::Error, error.to_string()),
        };
        self.fail(code, &reason, now_ms);
    }

    /// What tungstenite's errors are to its reads, `InboundFrames`'
    /// are to the compressed messages it undoes: the same close codes.
    fn on_inbound_error(&mut self, error: InboundError, now_ms: u64) {
        let (code, reason) = match error {
            InboundError::TooBig => too_big(),
            InboundError::Protocol(why) => protocol_error(why),
            InboundError::Corrupt => (
                CloseCode::Invalid,
                "compressed message does not inflate".to_owned(),
            ),
        };
        self.fail(code, &reason, now_ms);
    }

    /// Sends a close frame with `code` (tungstenite does not on errors)
    /// and ends the connection once it is flushed.
    fn fail(&mut self, code: CloseCode, reason: &str, now_ms: u64) {
        self.end_reason = Some((Level::Warn, format!("{reason} (close {code})")));
        let mut cut = reason.len().min(CLOSE_REASON_BYTES_MAX);
        while !reason.is_char_boundary(cut) {
            cut -= 1;
        }
        let frame = CloseFrame {
            code,
            reason: Utf8Bytes::from(&reason[..cut]),
        };
        // An already closed socket has nothing more to send.
        let _ = self.socket.close(Some(frame));
        self.end(now_ms, WRITE_STALL_TIMEOUT_MS);
    }

    /// Nothing new is sent from now on; what is queued is flushed, for at
    /// most `grace_ms`.
    fn end(&mut self, now_ms: u64, grace_ms: u64) {
        self.follow = None;
        self.push_next = None;
        self.ending_deadline_ms = Some(now_ms + grace_ms);
    }

    /// A quiet client gets a ping; one quiet past the pong timeout is
    /// dropped; an ending that did not flush in time is dropped.
    pub fn on_deadline(&mut self, now_ms: u64) -> Verdict {
        if self.ending_deadline_ms.is_some() {
            return Verdict::Close;
        }
        if now_ms >= self.last_heard_ms + WS_PONG_TIMEOUT_MS {
            let reason = format!("no answer to a ping for {} s", WS_PONG_TIMEOUT_MS / 1000);
            self.end_reason = Some((Level::Warn, reason));
            return Verdict::Close;
        }
        if now_ms >= self.last_heard_ms + WS_PING_INTERVAL_MS && !self.pinged {
            // Only fails once closing, which `ending_deadline_ms` rules out.
            let _ = self.socket.write(Message::Ping(Bytes::new()));
            self.flush_socket(now_ms);
            self.pinged = true;
        }
        Verdict::Keep
    }

    /// Notes the client leaving in the server's log.
    pub fn on_closed(&self, app: &mut App, now_ms: u64) {
        let (level, reason) = match &self.end_reason {
            Some((level, reason)) => (*level, reason.as_str()),
            None => (Level::Info, "connection lost"),
        };
        let seconds = now_ms.saturating_sub(self.joined_ms) / 1000;
        let line = format!(
            "websocket client #{} left after {seconds} s: {reason}",
            self.serial
        );
        app.server_log(level, &line, now_ms);
    }

    /// Tops up the server's output: the rest of a list push, then queued
    /// frames, then the next list push; reads the followed log first when
    /// there is room. `Close` once an ending has flushed everything.
    pub fn fill_output(
        &mut self,
        output: &mut Vec<u8>,
        output_sent: &mut usize,
        app: &App,
        now_ms: u64,
    ) -> Verdict {
        let output_unsent = output.len() - *output_sent;
        // A client that sends without reading while a list push holds up
        // its queue; every other growth is bounded before the cap.
        if self.ending_deadline_ms.is_none()
            && self.queued_bytes(output_unsent) > WS_UNSENT_BYTES_MAX
        {
            self.cut_off(now_ms);
        }
        self.read_log(app, output_unsent);
        self.hand_over(output, *output_sent);
        let flushed = output.len() == *output_sent && self.unsent_bytes(0) == 0;
        if self.ending_deadline_ms.is_some() && flushed {
            return Verdict::Close;
        }
        Verdict::Keep
    }

    /// The server's output not yet written and the queue: the bytes that
    /// this client alone holds.
    fn queued_bytes(&self, output_unsent: usize) -> usize {
        output_unsent + self.socket.get_ref().outgoing.len()
    }

    /// Everything not yet written, list pushes included.
    fn unsent_bytes(&self, output_unsent: usize) -> usize {
        let sending = self.push_sending.as_ref().map_or(0, Push::remaining);
        let next = self.push_next.as_ref().map_or(0, Push::remaining);
        self.queued_bytes(output_unsent) + sending + next
    }

    /// Over the unsent cap: drop what has not started, send 1008 if the
    /// socket takes it, and drop the connection at once.
    fn cut_off(&mut self, now_ms: u64) {
        self.push_next = None;
        self.socket.get_mut().outgoing.clear();
        let reason = format!("unsent bytes over {WS_UNSENT_BYTES_MAX}");
        self.fail(CloseCode::Policy, &reason, now_ms);
        self.end(now_ms, 0);
    }

    /// Moves queued frames into the server's output, and starts the next
    /// list push once the output is drained. A push is never copied: the
    /// server writes it from the shared frame (`push_unsent`), and nothing
    /// is handed over while it is in flight, so frames never interleave.
    fn hand_over(&mut self, output: &mut Vec<u8>, output_sent: usize) {
        if self.push_sending.is_some() {
            return;
        }
        let outgoing = &mut self.socket.get_mut().outgoing;
        output.extend_from_slice(outgoing);
        outgoing.clear();
        if outgoing.capacity() > OUTPUT_BUFFER_KEEP_BYTES {
            *outgoing = Vec::new();
        }
        if output.len() == output_sent {
            self.push_sending = self.push_next.take();
        }
    }

    /// The rest of the list push in flight, to be written as it is; only
    /// once the server's own output for this client is drained.
    pub fn push_unsent(&self) -> Option<&[u8]> {
        let push = self.push_sending.as_ref()?;
        Some(&push.frame[push.offset..])
    }

    /// The socket took `count` bytes of `push_unsent`; true when that was
    /// the rest of it.
    pub fn push_written(&mut self, count: usize) -> bool {
        if let Some(push) = &mut self.push_sending {
            push.offset = (push.offset + count).min(push.frame.len());
            if push.offset == push.frame.len() {
                self.push_sending = None;
                return true;
            }
        }
        false
    }

    /// Reads the followed log into `log` messages while the bytes queued in
    /// front of them stay under the read-ahead; the rest waits in the ring.
    fn read_log(&mut self, app: &App, output_unsent: usize) {
        let Some(follow) = self.follow.as_mut().filter(|follow| follow.due) else {
            return;
        };
        let outgoing = &mut self.socket.get_mut().outgoing;
        let queued = output_unsent + outgoing.len();
        if queued >= WS_LOG_READ_AHEAD_BYTES_MAX {
            return;
        }
        match app.sessions.get(&follow.session) {
            Some(session) => read_log_messages(follow, &session.log, queued, outgoing),
            None => {
                let message = format!("session {} no longer exists", format_id(&follow.session));
                self.follow = None;
                self.queue_error(&message);
            }
        }
    }

    /// Queues a data frame unless the connection is closing.
    fn queue(&mut self, data: Data, payload: impl Into<Bytes>) {
        if self.ending_deadline_ms.is_none() && self.socket.can_write() {
            push_frame(&mut self.socket.get_mut().outgoing, data, payload);
        }
    }

    fn queue_error(&mut self, message: &str) {
        self.queue(Data::Text, views::ws_error_message(message));
    }

    /// Makes tungstenite write what it holds (pongs, close answers) into
    /// the queue; a finished close handshake ends the connection.
    fn flush_socket(&mut self, now_ms: u64) {
        if let Err(Error::ConnectionClosed) = self.socket.flush() {
            if self.ending_deadline_ms.is_none() {
                self.end(now_ms, WRITE_STALL_TIMEOUT_MS);
            }
        }
    }

    /// A new list is due. A client that still holds more than
    /// `WS_UNSENT_BYTES_MAX` of older messages after a whole interval (its
    /// queue, and the rest of a list offered an interval ago or more) is
    /// cut off; otherwise the new list replaces one not yet started, so
    /// lists never pile up. True when it replaced one (dropped as stale).
    pub fn offer_push(
        &mut self,
        push: &mut ListPush,
        output_unsent: usize,
        interval_ms: u64,
        now_ms: u64,
    ) -> bool {
        if self.ending_deadline_ms.is_some() || self.echo {
            return false;
        }
        let compressed = self.deflate.is_some_and(|deflate| deflate.compressed_lists);
        let overdue = self
            .push_sending
            .as_ref()
            .filter(|push| push.offered_ms + interval_ms <= now_ms);
        let stale = self.queued_bytes(output_unsent) + overdue.map_or(0, Push::remaining);
        if stale > WS_UNSENT_BYTES_MAX {
            self.cut_off(now_ms);
            return false;
        }
        let replaced = self.push_next.replace(Push {
            frame: push.frame(compressed),
            offset: 0,
            offered_ms: now_ms,
        });
        replaced.is_some()
    }

    /// Whether this client follows `session`'s log.
    pub fn follows(&self, session: &SessionId) -> bool {
        self.follow
            .as_ref()
            .is_some_and(|follow| follow.session == *session)
    }

    /// The followed log changed: read it on the next `fill_output`.
    pub fn mark_follow_due(&mut self) {
        if let Some(follow) = &mut self.follow {
            follow.due = true;
        }
    }

    /// The session of a follow started since the last call, once, so the
    /// server can register the client as its watcher.
    pub fn take_new_follow(&mut self) -> Option<SessionId> {
        if !std::mem::take(&mut self.follow_unnoted) {
            return None;
        }
        self.follow.as_ref().map(|follow| follow.session)
    }

    /// The connection was upgraded as connection number `serial`.
    pub fn on_joined(&mut self, serial: u64) {
        self.serial = serial;
    }
}

/// Writes `log` messages for `follow` into `out` behind `queued` bytes,
/// while they fit the read-ahead, until the log is caught up (then `due`
/// is cleared).
///
/// A message holds `WS_LOG_ENTRIES_PER_MESSAGE_MAX` entries, or those that
/// fit the room left (`write_log_message` measures them exactly), and at
/// least one. Every message starts with room left, so only a message of
/// one entry can pass the read-ahead, by at most its own size
/// (`WS_LOG_READ_AHEAD_OVERSHOOT_BYTES_MAX`).
///
/// A message is cut short by the room left only when nothing is queued
/// before it: behind queued bytes, one starts only with room for one as
/// big as the last, and one cut all the same is taken back. The rest then
/// waits until the socket has taken the queue and `fill_output` calls
/// again with the whole read-ahead. So a backlog leaves in messages as
/// full as the read-ahead allows, not in pieces cut to what a half-drained
/// queue leaves.
fn read_log_messages(follow: &mut Follow, log: &LogRing, queued: usize, out: &mut Vec<u8>) {
    let mut room = WS_LOG_READ_AHEAD_BYTES_MAX.saturating_sub(queued);
    let mut payload = Vec::new();
    loop {
        let (first, next) = (log.first_cursor(), log.next_cursor());
        let start = follow.cursor.max(first);
        // Entries at or after the cursor that the ring evicted already.
        let dropped = first.saturating_sub(follow.cursor);
        if start >= next && dropped == 0 {
            follow.due = false;
            return;
        }
        let queue_empty = room == WS_LOG_READ_AHEAD_BYTES_MAX;
        if room == 0 || (!queue_empty && room < follow.message_bytes_last) {
            return;
        }
        payload.clear();
        let entries = log
            .raw_iter_from(start)
            .take(WS_LOG_ENTRIES_PER_MESSAGE_MAX);
        let payload_max = room.saturating_sub(DATA_FRAME_HEADER_BYTES_MAX);
        let count = views::write_log_message(
            &mut payload,
            &follow.session,
            start,
            entries,
            dropped,
            payload_max,
        );
        let caught_up = start + count as u64 >= next;
        if count < WS_LOG_ENTRIES_PER_MESSAGE_MAX && !caught_up && !queue_empty {
            // Bigger than the last: wait for an empty queue.
            follow.message_bytes_last = WS_LOG_READ_AHEAD_BYTES_MAX;
            return;
        }
        let before = out.len();
        write_text_frame(out, &payload, false);
        let message_bytes = out.len() - before;
        debug_assert!(count <= 1 || message_bytes <= room);
        follow.cursor = start + count as u64;
        follow.message_bytes_last = message_bytes;
        room = room.saturating_sub(message_bytes);
        if count < WS_LOG_ENTRIES_PER_MESSAGE_MAX {
            follow.due = !caught_up;
            return;
        }
    }
}

/// One session-list push: built and framed once for every client, and
/// compressed once, the first time a client that takes it compressed asks.
pub struct ListPush {
    payload: Vec<u8>,
    plain: Option<Rc<Vec<u8>>>,
    deflated: Option<Rc<Vec<u8>>>,
}

impl ListPush {
    pub fn new(app: &App, now_ms: u64) -> ListPush {
        let sessions = app.sessions.list(ListFilter::All);
        let payload = views::sessions_message(now_ms, &app.sessions.server_id(), &sessions);
        ListPush {
            payload,
            plain: None,
            deflated: None,
        }
    }

    /// The message's JSON, which SSE list streams send too (`sse_stream.rs`).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The whole frame, plain or compressed (RSV1 set).
    pub fn frame(&mut self, compressed: bool) -> Rc<Vec<u8>> {
        let payload = &self.payload;
        let slot = if compressed {
            &mut self.deflated
        } else {
            &mut self.plain
        };
        let frame = slot.get_or_insert_with(|| {
            let frame = if compressed {
                text_frame(&ws_deflate::compress_message(payload), true)
            } else {
                text_frame(payload, false)
            };
            Rc::new(frame)
        });
        Rc::clone(frame)
    }
}

/// Close 1009: a message over `WS_MESSAGE_BYTES_MAX`, compressed or not.
fn too_big() -> (CloseCode, String) {
    (
        CloseCode::Size,
        format!("message exceeds {WS_MESSAGE_BYTES_MAX} bytes"),
    )
}

/// Close 1002, naming what broke the framing rules.
fn protocol_error(why: impl std::fmt::Display) -> (CloseCode, String) {
    (CloseCode::Protocol, format!("protocol error: {why}"))
}

/// A final, unmasked text frame around `payload` (RFC 6455 5.2); RSV1
/// marks it compressed.
fn text_frame(payload: &[u8], rsv1: bool) -> Vec<u8> {
    let mut frame = Vec::new();
    write_text_frame(&mut frame, payload, rsv1);
    frame
}

/// Appends the frame of `text_frame`. Framed here rather than by
/// `Frame::message`, which takes the payload by value: the plain list is
/// still needed for the compressed one, and a log message's buffer is
/// reused for the next.
fn write_text_frame(out: &mut Vec<u8>, payload: &[u8], rsv1: bool) {
    let header = FrameHeader {
        is_final: true,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Data(Data::Text),
        mask: None,
    };
    let length = payload.len() as u64;
    out.reserve(header.len(length) + payload.len());
    // Formatting into a Vec cannot fail.
    let _ = header.format(length, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "5f0a1b2c3d4e5f60718293a4";

    fn check(text: &str, expected: Result<ClientMessage, &str>) {
        let actual = parse_client_message(text);
        match (&actual, &expected) {
            (Ok(actual), Ok(expected)) => assert_eq!(actual, expected, "{text}"),
            (Err(actual), Err(expected)) => {
                assert!(
                    actual.contains(expected),
                    "{text}: {actual:?} lacks {expected:?}"
                )
            }
            _ => panic!("{text}: got {actual:?}, expected {expected:?}"),
        }
    }

    fn follow(cursor: u64) -> Result<ClientMessage, &'static str> {
        let session = parse_id(ID).expect("test id");
        Ok(ClientMessage::Follow { session, cursor })
    }

    #[test]
    fn follow_messages() {
        check(
            &format!(r#"{{"type":"follow","session":"{ID}","cursor":7}}"#),
            follow(7),
        );
        check(
            &format!(r#"{{"type":"follow","session":"{ID}"}}"#),
            follow(0),
        );
        check(
            &format!(r#"{{"type":"follow","session":"{ID}","cursor":null}}"#),
            follow(0),
        );
        let upper = ID.to_ascii_uppercase();
        check(
            &format!(r#"{{"type":"follow","session":"{upper}","cursor":1}}"#),
            follow(1),
        );
        check(
            &format!(r#"{{"cursor":3,"session":"{ID}","type":"follow","x":1}}"#),
            follow(3),
        );
        let max = u64::MAX;
        check(
            &format!(r#"{{"type":"follow","session":"{ID}","cursor":{max}}}"#),
            follow(max),
        );
    }

    #[test]
    fn unfollow_message() {
        check(r#"{"type":"unfollow"}"#, Ok(ClientMessage::Unfollow));
        check(
            r#"{"type":"unfollow","session":"junk"}"#,
            Ok(ClientMessage::Unfollow),
        );
    }

    #[test]
    fn bad_messages() {
        check("", Err("not JSON"));
        check("follow", Err("not JSON"));
        check(r#"{"type":"follow""#, Err("not JSON"));
        check("[1,2]", Err("must be a JSON object"));
        check("42", Err("must be a JSON object"));
        check("{}", Err("needs a \"type\""));
        check(r#"{"type":7}"#, Err("needs a \"type\""));
        check(
            r#"{"type":"subscribe"}"#,
            Err("unknown message type \"subscribe\""),
        );
        let long = "x".repeat(1000);
        let answer = parse_client_message(&format!(r#"{{"type":"{long}"}}"#));
        assert!(
            answer.is_err_and(|error| !error.contains(&long)),
            "a long type is not echoed"
        );
    }

    #[test]
    fn bad_follow_fields() {
        check(
            r#"{"type":"follow"}"#,
            Err("\"session\" must be a session id"),
        );
        check(
            r#"{"type":"follow","session":"abc","cursor":0}"#,
            Err("\"session\" must"),
        );
        check(
            r#"{"type":"follow","session":5,"cursor":0}"#,
            Err("\"session\" must"),
        );
        let short = &ID[..23];
        check(
            &format!(r#"{{"type":"follow","session":"{short}"}}"#),
            Err("\"session\" must"),
        );
        let bad = ["-1", "1.5", "\"3\"", "true", "18446744073709551616", "[]"];
        for cursor in bad {
            let text = format!(r#"{{"type":"follow","session":"{ID}","cursor":{cursor}}}"#);
            check(&text, Err("\"cursor\" must be a non-negative integer"));
        }
    }

    fn app() -> App {
        let config = crate::config::Config::default();
        let addr = "127.0.0.1:8558".parse().expect("address");
        App::new(config, addr, [7; 12], 0)
    }

    fn list_of(payload: &[u8]) -> ListPush {
        ListPush {
            payload: payload.to_vec(),
            plain: None,
            deflated: None,
        }
    }

    /// Everything the client would send, as if the socket took all of it:
    /// its output, and list pushes written from their shared frames.
    fn drain(ws: &mut WsConn, app: &App, now_ms: u64) -> (Vec<u8>, Verdict) {
        let mut written = Vec::new();
        loop {
            let (mut output, mut sent) = (Vec::new(), 0);
            let verdict = ws.fill_output(&mut output, &mut sent, app, now_ms);
            written.extend_from_slice(&output);
            let push = ws.push_unsent().map(<[u8]>::to_vec);
            match push {
                Some(push) if verdict == Verdict::Keep => {
                    written.extend_from_slice(&push);
                    ws.push_written(push.len());
                }
                _ => return (written, verdict),
            }
        }
    }

    /// The JSON payloads of the unmasked text frames in `bytes`, in order.
    fn text_messages(mut bytes: &[u8]) -> Vec<Value> {
        let mut messages = Vec::new();
        while !bytes.is_empty() {
            assert_eq!(bytes[0], 0x81, "a final text frame");
            let (length, header) = match bytes[1] {
                126 => (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])), 4),
                127 => {
                    let length: [u8; 8] = bytes[2..10].try_into().expect("8 bytes");
                    (u64::from_be_bytes(length) as usize, 10)
                }
                length => (usize::from(length), 2),
            };
            let payload = &bytes[header..header + length];
            messages.push(serde_json::from_slice(payload).expect("a JSON message"));
            bytes = &bytes[header + length..];
        }
        messages
    }

    /// Follows the server's own log from `cursor` as a client whose socket
    /// is topped up twice a turn: still holding `queued` bytes (a write
    /// event that left some), then drained; each time it takes everything.
    /// Returns the `log` messages in order, after checking the bytes queued
    /// each time against the read-ahead and its overshoot.
    fn catch_up(app: &App, cursor: u64, queued: usize) -> Vec<Value> {
        let mut ws = WsConn::new(false, None, 0);
        ws.start_follow(app.sessions.server_id(), cursor, app);
        let mut messages = Vec::new();
        loop {
            let count_before = messages.len();
            for queued in [queued, 0] {
                let (mut output, mut sent) = (vec![b'q'; queued], 0);
                ws.fill_output(&mut output, &mut sent, app, 0);
                let bound = WS_LOG_READ_AHEAD_BYTES_MAX + WS_LOG_READ_AHEAD_OVERSHOOT_BYTES_MAX;
                assert!(output.len() < bound, "{} bytes queued", output.len());
                messages.extend(text_messages(&output[queued..]));
            }
            if messages.len() == count_before {
                return messages;
            }
        }
    }

    fn entry_counts(messages: &[Value]) -> Vec<usize> {
        let entries = |message: &Value| message["entries"].as_array().map_or(0, Vec::len);
        messages.iter().map(entries).collect()
    }

    /// Every entry once and in order, from `first` to the log's end.
    fn check_in_order(messages: &[Value], first: u64, next: u64) {
        let mut cursor = first;
        for message in messages {
            for entry in message["entries"].as_array().expect("entries") {
                assert_eq!(entry["cursor"], cursor);
                cursor += 1;
            }
            assert_eq!(message["cursor"], cursor);
        }
        assert_eq!(cursor, next);
    }

    #[test]
    fn a_10000_entry_backlog_leaves_in_messages_as_full_as_allowed() {
        // Short lines and the benchmark's 80-byte lines: 1,000 entries fit
        // the read-ahead, so ten full messages.
        // Also when the server tops the queue up before it drained.
        for line_bytes in [8, 80] {
            let mut app = app();
            for index in 0..10_000 {
                app.server_log(Level::Info, &format!("{index:0>line_bytes$}"), 1_000);
            }
            for queued in [0, 1, 100_000, WS_LOG_READ_AHEAD_BYTES_MAX - 1] {
                let messages = catch_up(&app, 0, queued);
                assert_eq!(entry_counts(&messages), [1000; 10], "{line_bytes} {queued}");
                check_in_order(&messages, 0, 10_000);
            }
        }
        let mut app = app();
        for index in 0..10_000 {
            app.server_log(Level::Info, &format!("{index:0>1000}"), 1_000);
        }
        let messages = catch_up(&app, 0, 100_000);
        check_in_order(&messages, 0, 10_000);
        // Each message but the last holds what the read-ahead does: the
        // count shrinks by one only where cursors gain a digit.
        let counts = entry_counts(&messages);
        let full = counts[0];
        let (last, others) = counts.split_last().expect("messages");
        assert!(others.iter().all(|&count| count + 1 >= full), "{counts:?}");
        assert!(*last <= full);
        let log = &app
            .sessions
            .get(&app.sessions.server_id())
            .expect("own")
            .log;
        let framed_bytes = |count| {
            let mut payload = Vec::new();
            let id = app.sessions.server_id();
            let entries = log.raw_iter_from(0).take(count);
            views::write_log_message(&mut payload, &id, 0, entries, 0, usize::MAX);
            text_frame(&payload, false).len()
        };
        assert!(framed_bytes(full) <= WS_LOG_READ_AHEAD_BYTES_MAX);
        assert!(framed_bytes(full + 1) > WS_LOG_READ_AHEAD_BYTES_MAX);
    }

    #[test]
    fn an_entry_too_big_for_the_room_left_goes_alone_within_the_overshoot() {
        let mut app = app();
        let server_id = app.sessions.server_id();
        let session = app.sessions.active_mut(&server_id, 0).expect("own session");
        // The largest entry there is: every message byte escaped as \u0001.
        let huge = "\u{1}".repeat(MESSAGE_BYTES_MAX);
        let data = format!(r#"{{"d":"{}"}}"#, "d".repeat(ENTRY_DATA_BYTES_MAX - 8));
        for _ in 0..5 {
            session.log.push(0, Level::Info, false, "small", None);
            session.log.push(0, Level::Error, true, &huge, Some(&data));
        }
        // A socket that takes everything, and one that is nearly full.
        for queued in [0, WS_LOG_READ_AHEAD_BYTES_MAX - 1] {
            let messages = catch_up(&app, 0, queued);
            check_in_order(&messages, 0, 10);
            for message in &messages {
                let entries = message["entries"].as_array().expect("entries");
                let huge_count = entries.iter().filter(|entry| entry["truncated"] == true);
                assert!(huge_count.count() == 0 || entries.len() == 1, "{queued}");
            }
        }
    }

    #[test]
    fn text_frames_match_tungstenite_framing() {
        for len in [0, 1, 125, 126, 0xffff, 0x10000, 300_000] {
            let payload = vec![b'a'; len];
            let mut expected = Vec::new();
            push_frame(&mut expected, Data::Text, payload.clone());
            assert_eq!(text_frame(&payload, false), expected, "{len}");
            let compressed = text_frame(&payload, true);
            assert_eq!(compressed[0], expected[0] | 0x40, "RSV1");
            assert_eq!(compressed[1..], expected[1..]);
        }
    }

    #[test]
    fn a_compressed_list_goes_only_to_clients_that_agreed() {
        let app = app();
        let deflate = ws_deflate::negotiate("permessage-deflate");
        let small_window = ws_deflate::negotiate("permessage-deflate; server_max_window_bits=9");
        let payload = br#"{"type":"sessions","sessions":[{"id":"1"},{"id":"2"},{"id":"3"}]}"#;
        let mut push = list_of(payload);
        let mut sent = Vec::new();
        for agreed in [None, deflate, small_window] {
            let mut ws = WsConn::new(false, agreed, 0);
            ws.offer_push(&mut push, 0, 1_000, 1_000);
            sent.push(drain(&mut ws, &app, 1_000).0);
        }
        assert_eq!(sent[0], text_frame(payload, false));
        assert_eq!(sent[2], sent[0], "a window under 32 KiB gets it plain");
        assert_eq!(sent[1][0], 0xc1, "FIN, RSV1, text");
        let inflated = ws_deflate::inflate_message(&sent[1][2..], payload.len());
        assert_eq!(inflated.as_deref(), Ok(&payload[..]));
        // Framed once per kind, shared by every client of that kind.
        assert!(push.plain.is_some() && push.deflated.is_some());
    }

    #[test]
    fn a_compressed_follow_message_is_understood() {
        let mut app = app();
        let mut ws = WsConn::new(false, ws_deflate::negotiate("permessage-deflate"), 0);
        let compressed = ws_deflate::compress_message(br#"{"type":"nonsense"}"#);
        let mask = [9, 8, 7, 6];
        let mut frame = vec![0xc1, 0x80 | compressed.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(compressed.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        assert_eq!(ws.on_input(&mut frame, &mut app, 10), Verdict::Keep);
        let (output, _) = drain(&mut ws, &app, 10);
        let text = String::from_utf8_lossy(&output);
        assert!(text.contains("unknown message type"), "{text}");
    }

    #[test]
    fn a_compressed_bomb_closes_1009() {
        let mut app = app();
        let mut ws = WsConn::new(false, ws_deflate::negotiate("permessage-deflate"), 0);
        let bomb = ws_deflate::compress_message(&vec![b' '; WS_MESSAGE_BYTES_MAX + 1]);
        let mut frame = vec![0xc1, 0x80 | 126];
        frame.extend_from_slice(&(bomb.len() as u16).to_be_bytes());
        frame.extend_from_slice(&[0; 4]);
        frame.extend_from_slice(&bomb);
        ws.on_input(&mut frame, &mut app, 10);
        let (output, _) = drain(&mut ws, &app, 10);
        assert_eq!(
            (output[0], &output[2..4]),
            (0x88, &[0x03, 0xf1][..]),
            "close 1009"
        );
    }

    #[test]
    fn a_quiet_client_is_pinged_then_dropped() {
        let app = app();
        let mut ws = WsConn::new(false, None, 1_000);
        assert_eq!(ws.deadline_ms(), 1_000 + WS_PING_INTERVAL_MS);
        assert_eq!(ws.on_deadline(1_000 + WS_PING_INTERVAL_MS), Verdict::Keep);
        assert_eq!(
            drain(&mut ws, &app, 31_000).0,
            [0x89, 0x00],
            "an empty ping"
        );
        assert_eq!(ws.deadline_ms(), 1_000 + WS_PONG_TIMEOUT_MS);
        assert_eq!(ws.on_deadline(1_000 + WS_PONG_TIMEOUT_MS), Verdict::Close);
    }

    #[test]
    fn any_frame_from_the_client_counts_as_an_answer() {
        let mut app = app();
        let mut ws = WsConn::new(false, None, 0);
        assert_eq!(ws.on_deadline(WS_PING_INTERVAL_MS), Verdict::Keep);
        // A masked, empty pong.
        let mut pong = vec![0x8a, 0x80, 1, 2, 3, 4];
        assert_eq!(ws.on_input(&mut pong, &mut app, 40_000), Verdict::Keep);
        assert!(pong.is_empty(), "input taken");
        assert_eq!(ws.deadline_ms(), 40_000 + WS_PING_INTERVAL_MS);
    }

    #[test]
    fn a_newer_list_replaces_one_not_started() {
        let app = app();
        let mut ws = WsConn::new(false, None, 0);
        let (mut old, mut new) = (list_of(b"old"), list_of(b"new"));
        // The socket is slow: 10 bytes still wait in the output.
        ws.offer_push(&mut old, 10, 1_000, 1_000);
        ws.offer_push(&mut new, 10, 1_000, 2_000);
        let (output, verdict) = drain(&mut ws, &app, 2_000);
        assert_eq!(
            (output, verdict),
            (text_frame(b"new", false), Verdict::Keep)
        );
        assert_eq!(drain(&mut ws, &app, 2_000).0, b"", "sent once");
    }

    #[test]
    fn a_list_is_written_from_the_shared_frame_with_nothing_between() {
        let app = app();
        let mut ws = WsConn::new(false, None, 0);
        let mut big = list_of(&vec![b'x'; 200_000]);
        ws.offer_push(&mut big, 0, 1_000, 1_000);
        let (mut output, mut sent) = (Vec::new(), 0);
        ws.fill_output(&mut output, &mut sent, &app, 1_000);
        assert!(output.is_empty(), "never copied into the output");
        let frame = big.frame(false);
        assert_eq!(ws.push_unsent(), Some(&frame[..]));
        // The socket takes part of it; an error is queued meanwhile.
        ws.push_written(70_000);
        ws.queue_error("meanwhile");
        ws.fill_output(&mut output, &mut sent, &app, 1_000);
        assert!(output.is_empty(), "nothing may interleave with the list");
        assert_eq!(ws.push_unsent(), Some(&frame[70_000..]));
        ws.push_written(frame.len() - 70_000);
        assert_eq!(ws.push_unsent(), None);
        ws.fill_output(&mut output, &mut sent, &app, 1_000);
        assert!(output.starts_with(&[0x81]), "then the error frame");
    }

    #[test]
    fn a_client_still_holding_a_list_after_an_interval_is_cut_off() {
        let app = app();
        let mut ws = WsConn::new(false, None, 0);
        let mut big = list_of(&vec![b'x'; WS_UNSENT_BYTES_MAX + 100_000]);
        ws.offer_push(&mut big, 0, 1_000, 1_000);
        let (mut output, mut sent) = (Vec::new(), 0);
        ws.fill_output(&mut output, &mut sent, &app, 1_000);
        ws.push_written(64 * 1024);
        // Less than an interval later the rest does not count yet.
        ws.offer_push(&mut big, 0, 1_000, 1_999);
        assert!(ws.ending_deadline_ms.is_none());
        ws.offer_push(&mut big, 0, 1_000, 2_000);
        assert!(ws.ending_deadline_ms.is_some());
        assert_eq!(ws.deadline_ms(), 2_000, "dropped at once");
        assert_eq!(ws.on_deadline(2_000), Verdict::Close);
        let reason = ws.end_reason.as_ref().map(|(_, reason)| reason.as_str());
        assert!(
            reason.is_some_and(|reason| reason.ends_with("(close 1008)")),
            "{reason:?}"
        );
    }

    #[test]
    fn mem_stream_would_block_when_empty() {
        let mut stream = MemStream::default();
        let mut buf = [0u8; 4];
        let error = stream.read(&mut buf).expect_err("empty");
        assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
        stream.incoming.extend_from_slice(b"abcdef");
        assert_eq!(stream.read(&mut buf).ok(), Some(4));
        assert_eq!(stream.read(&mut buf).ok(), Some(2));
        assert_eq!(&buf[..2], b"ef");
        assert!(stream.read(&mut buf).is_err());
        assert_eq!(stream.write(b"xy").ok(), Some(2));
        assert_eq!(stream.outgoing, b"xy");
    }
}
