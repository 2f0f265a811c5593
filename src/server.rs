//! The event loop: one mio `Poll`, the listener, connections in a slab, the
//! timer wheel, and `App` (the session table and routes).
//!
//! mio is edge-triggered: a readiness event comes once per change, so every
//! handler reads and writes until `WouldBlock`, or, when it stops early (a
//! per-event byte cap, a full buffer, a parked request), puts the connection
//! on `revisit` and comes back on the next turn without waiting for an event.

use crate::api::{self, App, Outcome, Plan};
use crate::config::Config;
use crate::conn::{BodyProgress, BodyRead, BodySink, Conn, ConnState};
use crate::http::chunked::ChunkedDecoder;
use crate::http::head::{parse_head, BodyFraming, HeadParse, Method, RequestHead};
use crate::http::response::{Response, CONTINUE};
use crate::ingest::TextLines;
use crate::level::Level;
use crate::limits::*;
use crate::sessions::{Expiry, SessionId};
use crate::timer_wheel::TimerWheel;
use crate::ws::{self, WsConn, WsHub};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const LISTENER: Token = Token(usize::MAX - 1);

/// Everything the wheel can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerKey {
    /// A connection's deadline as armed at `at_ms`.
    Conn {
        slot: usize,
        serial: u64,
        at_ms: u64,
    },
    /// The periodic WebSocket list push.
    WsPush { due_ms: u64 },
    /// Check whether a session has been idle past the TTL.
    SessionExpiry(SessionId),
}

/// Milliseconds since the Unix epoch that never go backwards: the wall
/// clock read once at start plus a monotonic clock.
struct Clock {
    started: Instant,
    started_wall_ms: u64,
}

impl Clock {
    fn new() -> Clock {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_millis() as u64);
        Clock {
            started: Instant::now(),
            started_wall_ms: wall,
        }
    }

    fn now_ms(&self) -> u64 {
        self.started_wall_ms + self.started.elapsed().as_millis() as u64
    }
}

/// What an event says about a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Readiness {
    /// Bytes (or EOF) may be waiting to be read.
    readable: bool,
    /// The peer shut its side or the socket failed.
    hang_up: bool,
}

impl Readiness {
    /// A connection the loop comes back to without an event.
    const REVISIT: Readiness = Readiness {
        readable: true,
        hang_up: false,
    };
}

/// What a step on a connection decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    Keep,
    Close,
}

pub struct Server {
    poll: Poll,
    listener: TcpListener,
    local_addr: SocketAddr,
    conns: Vec<Option<Conn>>,
    free_slots: Vec<usize>,
    next_serial: u64,
    pub app: App,
    wheel: TimerWheel<TimerKey>,
    /// Connections to process again this turn without an event.
    revisit: Vec<usize>,
    /// Parked log reads by session: (slot, serial).
    parked: HashMap<SessionId, Vec<(usize, u64)>>,
    ws_hub: WsHub,
    clock: Clock,
    read_scratch: Vec<u8>,
}

impl Server {
    /// Binds the listener and creates the server's own session.
    pub fn bind(config: Config) -> io::Result<Server> {
        let poll = Poll::new()?;
        let mut listener = bind_listener(config.listen)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let local_addr = listener.local_addr()?;
        let clock = Clock::new();
        let now_ms = clock.now_ms();
        let server_id = api::random_id().map_err(io::Error::other)?;
        let ws_interval_ms = config.ws_push_interval_ms;
        let mut app = App::new(config, local_addr, server_id, now_ms);
        let start_line = start_line(&app.config, local_addr);
        app.server_log(Level::Info, &start_line, now_ms);
        if app.config.token.is_none() && !local_addr.ip().is_loopback() {
            app.server_log(Level::Warn, &no_token_warning(local_addr), now_ms);
        }
        let mut wheel = TimerWheel::new(TIMER_SLOT_MS, TIMER_SLOTS, now_ms);
        let due_ms = now_ms + ws_interval_ms;
        wheel.schedule(due_ms, TimerKey::WsPush { due_ms });
        Ok(Server {
            poll,
            listener,
            local_addr,
            conns: Vec::new(),
            free_slots: Vec::new(),
            next_serial: 0,
            app,
            wheel,
            revisit: Vec::new(),
            parked: HashMap::new(),
            ws_hub: WsHub::new(),
            clock,
            read_scratch: vec![0; READ_CHUNK_BYTES],
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Runs the loop forever (until an unrecoverable poll error).
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(EVENTS_PER_POLL);
        let mut expired = Vec::new();
        loop {
            let now_ms = self.clock.now_ms();
            let timeout_ms = if self.revisit.is_empty() {
                self.wheel.next_wait_ms(now_ms)
            } else {
                Some(0)
            };
            let timeout = timeout_ms.map(std::time::Duration::from_millis);
            if let Err(error) = self.poll.poll(&mut events, timeout) {
                if error.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(error);
            }
            let now_ms = self.clock.now_ms();
            self.on_tick(&events, &mut expired, now_ms);
        }
    }

    /// The rest of a loop turn after `poll`: events, revisits, wake-ups,
    /// timers. Time is `now_ms` only, so tests drive it with a fake clock.
    fn on_tick(&mut self, events: &Events, expired: &mut Vec<TimerKey>, now_ms: u64) {
        for event in events.iter() {
            match event.token() {
                LISTENER => self.on_acceptable(now_ms),
                Token(slot) => {
                    let readiness = Readiness {
                        readable: event.is_readable() || event.is_read_closed(),
                        hang_up: event.is_read_closed() || event.is_error(),
                    };
                    self.on_ready(slot, readiness, now_ms)
                }
            }
        }
        for slot in std::mem::take(&mut self.revisit) {
            self.on_ready(slot, Readiness::REVISIT, now_ms);
        }
        self.wake_changed_sessions(now_ms);
        self.arm_session_expiry(now_ms);
        self.wheel.advance(now_ms, expired);
        for key in expired.drain(..) {
            self.on_timer(key, now_ms);
        }
        // Timers can change sessions too (expiry, pushes).
        self.wake_changed_sessions(now_ms);
    }

    fn on_acceptable(&mut self, now_ms: u64) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.on_accepted(stream, now_ms),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    // Out of file descriptors and the like: the listener
                    // stays; the next event retries.
                    let line = format!("accept failed: {error}");
                    self.app.server_log(Level::Error, &line, now_ms);
                    return;
                }
            }
        }
    }

    fn on_accepted(&mut self, mut stream: TcpStream, now_ms: u64) {
        if self.app.connection_count >= self.app.config.connections_max {
            // Accepted and closed at once: the client learns at once, and
            // the kernel's backlog does not fill with connections we won't
            // serve.
            drop(stream);
            return;
        }
        let _ = stream.set_nodelay(true);
        let slot = self.free_slots.pop().unwrap_or_else(|| {
            self.conns.push(None);
            self.conns.len() - 1
        });
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self
            .poll
            .registry()
            .register(&mut stream, Token(slot), interest)
            .is_err()
        {
            self.free_slots.push(slot);
            return;
        }
        self.next_serial += 1;
        self.conns[slot] = Some(Conn::new(stream, self.next_serial, now_ms));
        self.app.connection_count += 1;
        self.arm_timer(slot);
    }

    /// A readiness event (or a revisit): read, process, write.
    fn on_ready(&mut self, slot: usize, readiness: Readiness, now_ms: u64) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        conn.hang_up_seen |= readiness.hang_up;
        let verdict = self.drive(slot, &mut conn, readiness, now_ms);
        self.settle(slot, conn, verdict);
    }

    /// Puts a connection back in its slot, or closes it.
    fn settle(&mut self, slot: usize, mut conn: Conn, verdict: Verdict) {
        let finished = matches!(conn.state, ConnState::Closing) && conn.unsent() == 0;
        if verdict == Verdict::Close || finished {
            self.close(slot, conn);
            return;
        }
        conn.compact_input();
        let deadline_ms = conn.deadline_ms();
        let needs_timer = conn
            .timer_armed_ms
            .is_none_or(|armed_ms| deadline_ms < armed_ms);
        if needs_timer {
            conn.timer_armed_ms = Some(deadline_ms);
            self.wheel.schedule(
                deadline_ms,
                TimerKey::Conn {
                    slot,
                    serial: conn.serial,
                    at_ms: deadline_ms,
                },
            );
        }
        self.conns[slot] = Some(conn);
    }

    fn arm_timer(&mut self, slot: usize) {
        if let Some(conn) = self.conns.get_mut(slot).and_then(Option::take) {
            self.settle(slot, conn, Verdict::Keep);
        }
    }

    fn close(&mut self, slot: usize, mut conn: Conn) {
        let _ = self.poll.registry().deregister(&mut conn.stream);
        if let ConnState::ReadingBody(body) = &mut conn.state {
            // The client went away mid-body.
            keep_partial_line(&mut self.app, &mut body.sink, self.clock.now_ms());
        }
        if let ConnState::WebSocket(ws) = &conn.state {
            ws.on_closed(&mut self.app, self.clock.now_ms());
        }
        if let ConnState::LongPoll(parked) = &conn.state {
            if let Some(waiters) = self.parked.get_mut(&parked.session_id) {
                waiters.retain(|&(waiting_slot, _)| waiting_slot != slot);
            }
        }
        self.app.connection_count -= 1;
        self.free_slots.push(slot);
        // Dropping the stream closes the socket.
    }

    fn drive(
        &mut self,
        slot: usize,
        conn: &mut Conn,
        readiness: Readiness,
        now_ms: u64,
    ) -> Verdict {
        if self.write_out(slot, conn, now_ms) == Verdict::Close {
            return Verdict::Close;
        }
        // A writable-only edge has nothing to read: skip the EAGAIN read.
        if readiness.readable && self.read_in(slot, conn, now_ms) == Verdict::Close {
            return Verdict::Close;
        }
        if self.process(slot, conn, now_ms) == Verdict::Close {
            return Verdict::Close;
        }
        if self.write_out(slot, conn, now_ms) == Verdict::Close {
            return Verdict::Close;
        }
        self.after_io(slot, conn, readiness.hang_up)
    }

    /// Decides whether a connection is finished after its I/O.
    fn after_io(&mut self, slot: usize, conn: &mut Conn, closed_hint: bool) -> Verdict {
        let drained = conn.unsent() == 0;
        match conn.state {
            ConnState::Closing if drained => return Verdict::Close,
            ConnState::LongPoll(_) if closed_hint => return Verdict::Close,
            _ => {}
        }
        if conn.peer_closed && drained && !matches!(conn.state, ConnState::LongPoll(_)) {
            // The peer sent all it will; once our answers are out we are done.
            let complete_head_waiting =
                matches!(conn.state, ConnState::ReadingHead) && !conn.input.is_empty();
            if !complete_head_waiting {
                return Verdict::Close;
            }
        }
        if conn.read_paused && self.can_read(conn) {
            self.revisit.push(slot);
        }
        Verdict::Keep
    }

    fn can_read(&self, conn: &Conn) -> bool {
        match conn.state {
            ConnState::Closing | ConnState::LongPoll(_) => false,
            _ => {
                conn.input.len() < INPUT_BYTES_MAX
                    && conn.unsent() < CONN_OUTPUT_BYTES_HIGH
                    && !conn.peer_closed
            }
        }
    }

    /// Reads until `WouldBlock`, EOF, the per-event cap or a full buffer.
    fn read_in(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> Verdict {
        let mut read_total = 0;
        conn.read_paused = false;
        loop {
            if !self.can_read(conn) {
                conn.read_paused = !conn.peer_closed;
                return Verdict::Keep;
            }
            if read_total >= READ_BYTES_PER_EVENT_MAX {
                conn.read_paused = true;
                self.revisit.push(slot);
                return Verdict::Keep;
            }
            let room = (INPUT_BYTES_MAX - conn.input.len()).min(self.read_scratch.len());
            match conn.stream.read(&mut self.read_scratch[..room]) {
                Ok(0) => {
                    conn.peer_closed = true;
                    return Verdict::Keep;
                }
                Ok(count) => {
                    if conn.input.is_empty()
                        && matches!(conn.state, ConnState::ReadingHead)
                        && conn.head_started_ms.is_none()
                    {
                        conn.head_started_ms = Some(now_ms);
                    }
                    conn.input.extend_from_slice(&self.read_scratch[..count]);
                    conn.last_activity_ms = now_ms;
                    read_total += count;
                    if count < room && !conn.hang_up_seen {
                        // A short read emptied the socket's queue; the next
                        // byte to arrive raises a new edge. Saves the read
                        // that would only say WouldBlock (one syscall of
                        // three per keep-alive request). Once the peer hung
                        // up no edge is coming, so then read to the end.
                        return Verdict::Keep;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Verdict::Keep,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Verdict::Close,
            }
        }
    }

    /// Writes until `WouldBlock`, done, or the per-event cap.
    fn write_out(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> Verdict {
        if self.refill_ws(conn, now_ms) == Verdict::Close {
            return Verdict::Close;
        }
        let mut written_total = 0;
        loop {
            let room = WRITE_BYTES_PER_EVENT_MAX - written_total;
            // The connection's own output first; a WebSocket list push
            // goes straight from its shared frame once that is drained.
            let (bytes, from_push) = if conn.unsent() > 0 {
                (&conn.output[conn.output_sent..], false)
            } else if let Some(push) = ws_push_unsent(&conn.state) {
                (push, true)
            } else {
                break;
            };
            if room == 0 {
                self.revisit.push(slot);
                break;
            }
            match conn.stream.write(&bytes[..bytes.len().min(room)]) {
                Ok(0) => return Verdict::Close,
                Ok(count) => {
                    written_total += count;
                    conn.last_activity_ms = now_ms;
                    if from_push {
                        if let ConnState::WebSocket(ws) = &mut conn.state {
                            ws.push_written(count);
                        }
                    } else {
                        conn.output_sent += count;
                    }
                    if conn.unsent() == 0 && self.refill_ws(conn, now_ms) == Verdict::Close {
                        return Verdict::Close;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return Verdict::Close,
            }
        }
        conn.compact_output();
        if conn.read_paused && self.can_read(conn) && written_total > 0 {
            self.revisit.push(slot);
        }
        Verdict::Keep
    }

    /// Tops up a WebSocket connection's output from its queue and pushes.
    fn refill_ws(&self, conn: &mut Conn, now_ms: u64) -> Verdict {
        let ConnState::WebSocket(ws) = &mut conn.state else {
            return Verdict::Keep;
        };
        if conn.output_sent == conn.output.len() {
            conn.output.clear();
            conn.output_sent = 0;
        }
        match ws.fill_output(&mut conn.output, &mut conn.output_sent, &self.app, now_ms) {
            ws::WsVerdict::Close => Verdict::Close,
            ws::WsVerdict::Keep => Verdict::Keep,
        }
    }

    /// Consumes buffered input: heads, bodies, WebSocket frames.
    fn process(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> Verdict {
        loop {
            if conn.unsent() >= CONN_OUTPUT_BYTES_HIGH {
                // Back pressure: the rest waits until the peer reads.
                conn.read_paused = true;
                return Verdict::Keep;
            }
            let progressed = match &mut conn.state {
                ConnState::ReadingHead => self.process_head(slot, conn, now_ms),
                ConnState::ReadingBody(_) => self.process_body(slot, conn, now_ms),
                ConnState::WebSocket(ws) => {
                    let verdict = ws.on_input(&mut conn.input, &mut self.app, now_ms);
                    self.ws_hub.note(slot, conn.serial, ws);
                    return if verdict == ws::WsVerdict::Close {
                        Verdict::Close
                    } else {
                        Verdict::Keep
                    };
                }
                ConnState::LongPoll(_) | ConnState::Closing => false,
            };
            if !progressed {
                return Verdict::Keep;
            }
        }
    }

    /// Parses one head if complete; true when the state moved on.
    fn process_head(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> bool {
        if conn.input.is_empty() {
            conn.head_started_ms = None;
            return false;
        }
        if conn.head_started_ms.is_none() {
            conn.head_started_ms = Some(now_ms);
        }
        // The head borrows from the input: the input leaves the connection
        // while the request starts, and comes back without the head.
        let input = std::mem::take(&mut conn.input);
        let (consumed, progressed) = match &parse_head(&input) {
            Ok(HeadParse::Partial) => (0, false),
            Ok(HeadParse::Complete(head)) => {
                conn.head_started_ms = None;
                let plan = api::plan(&self.app, head);
                self.start_request(slot, conn, head, plan, now_ms);
                (head.head_size, true)
            }
            Err(error) => {
                let response = Response::error(error.status(), &error.message()).closing();
                api::log_refusal(&mut self.app, None, &response, now_ms);
                conn.queue(response, false, now_ms);
                (input.len(), false)
            }
        };
        conn.input = input;
        conn.input.drain(..consumed);
        progressed
    }

    fn start_request(
        &mut self,
        slot: usize,
        conn: &mut Conn,
        head: &RequestHead<'_>,
        plan: Plan,
        now_ms: u64,
    ) {
        let sink = match plan {
            Plan::Answer(mut response) => {
                api::log_refusal_if_error(&mut self.app, head, &response, now_ms);
                // An announced body that we did not read: its bytes would
                // be taken for the next request, so the connection ends.
                if head.framing != BodyFraming::None && head.framing != BodyFraming::Length(0)
                    || !head.keep_alive
                {
                    response.close = true;
                }
                conn.queue(response, head.method == Method::Head, now_ms);
                return;
            }
            Plan::Upgrade {
                response,
                echo,
                deflate,
            } => {
                conn.output.extend_from_slice(&response);
                let ws = WsConn::new(echo, deflate, now_ms);
                conn.state = ConnState::WebSocket(Box::new(ws));
                if let ConnState::WebSocket(ws) = &mut conn.state {
                    self.ws_hub
                        .join(slot, conn.serial, ws, &mut self.app, now_ms);
                }
                return;
            }
            Plan::Buffer { route, .. } if head.framing == BodyFraming::None => {
                // Nothing to read (every GET): answer now, without a
                // body-reading state to box and step through.
                let outcome = api::finish(&mut self.app, head, route, &[], now_ms);
                self.conclude(slot, conn, head, outcome, now_ms);
                return;
            }
            Plan::Buffer { route, .. } => BodySink::Buffer {
                route,
                body: Vec::new(),
            },
            Plan::TextLog(session_id) => BodySink::TextLog {
                session_id,
                lines: Box::new(TextLines::new()),
                appended: 0,
                failure: None,
            },
        };
        let body_bytes_max = match &sink {
            BodySink::Buffer { .. } => JSON_BODY_BYTES_MAX as u64,
            BodySink::TextLog { .. } => u64::MAX,
        };
        let progress = match head.framing {
            BodyFraming::None => BodyProgress::Length { remaining: 0 },
            BodyFraming::Length(length) => BodyProgress::Length { remaining: length },
            BodyFraming::Chunked => {
                BodyProgress::Chunked(Box::new(ChunkedDecoder::new(body_bytes_max)))
            }
        };
        if head.expect_continue && head.framing != BodyFraming::None {
            conn.output.extend_from_slice(CONTINUE);
        }
        conn.state = ConnState::ReadingBody(Box::new(BodyRead {
            head: head.clone().into_owned(),
            progress,
            sink,
        }));
    }

    /// Feeds input to the body being read; true when the request finished.
    fn process_body(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> bool {
        let ConnState::ReadingBody(body) = &mut conn.state else {
            return false;
        };
        // A body with a length is fed from the input where it lies; only a
        // chunked one is decoded into a buffer of its own.
        let mut decoded = Vec::new();
        let (consumed, complete, error, chunked) = match &mut body.progress {
            BodyProgress::Length { remaining } => {
                let taken = conn
                    .input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= taken as u64;
                (taken, *remaining == 0, None, false)
            }
            BodyProgress::Chunked(decoder) => match decoder.decode(&conn.input, &mut decoded) {
                Ok(consumed) => (consumed, decoder.is_done(), None, true),
                Err(error) => (conn.input.len(), false, Some(error), true),
            },
        };
        let bytes = if chunked {
            &decoded
        } else {
            &conn.input[..consumed]
        };
        feed_sink(&mut self.app, &mut body.sink, bytes, now_ms);
        conn.input.drain(..consumed);
        if let Some(error) = error {
            keep_partial_line(&mut self.app, &mut body.sink, now_ms);
            let response =
                Response::error(error.status(), &error.message(JSON_BODY_BYTES_MAX as u64))
                    .closing();
            api::log_refusal(&mut self.app, Some(&body.head), &response, now_ms);
            conn.queue(response, false, now_ms);
            return false;
        }
        if !complete {
            return false;
        }
        let ConnState::ReadingBody(body) =
            std::mem::replace(&mut conn.state, ConnState::ReadingHead)
        else {
            return false;
        };
        self.finish_request(slot, conn, *body, now_ms);
        true
    }

    fn finish_request(&mut self, slot: usize, conn: &mut Conn, mut body: BodyRead, now_ms: u64) {
        keep_partial_line(&mut self.app, &mut body.sink, now_ms);
        let BodyRead { head, sink, .. } = body;
        let outcome = match sink {
            BodySink::Buffer { route, body } => {
                api::finish(&mut self.app, &head, route, &body, now_ms)
            }
            BodySink::TextLog {
                session_id,
                appended,
                failure,
                ..
            } => {
                let response = failure.unwrap_or_else(|| {
                    let cursor = api::next_cursor(&self.app, &session_id).unwrap_or(0);
                    api::appended_answer(appended, cursor)
                });
                Outcome::Answer(response)
            }
        };
        self.conclude(slot, conn, &head, outcome, now_ms);
    }

    /// Queues the answer to a request, or parks it.
    fn conclude(
        &mut self,
        slot: usize,
        conn: &mut Conn,
        head: &RequestHead,
        outcome: Outcome,
        now_ms: u64,
    ) {
        let head_only = head.method == Method::Head;
        match outcome {
            Outcome::Answer(mut response) => {
                api::log_refusal_if_error(&mut self.app, head, &response, now_ms);
                response.close |= !head.keep_alive;
                conn.queue(response, head_only, now_ms);
            }
            Outcome::Park(parked) => {
                let waiters = self.parked.entry(parked.session_id).or_default();
                waiters.push((slot, conn.serial));
                let mut parked = Box::new(parked);
                // Remembered so that the late answer closes the connection.
                parked.close_after = !head.keep_alive;
                conn.state = ConnState::LongPoll(parked);
            }
        }
    }

    /// Answers parked reads and WebSocket followers of changed sessions.
    fn wake_changed_sessions(&mut self, now_ms: u64) {
        if self.app.changed_sessions.is_empty() {
            return;
        }
        let changed = std::mem::take(&mut self.app.changed_sessions);
        for session_id in &changed {
            let Some(waiters) = self.parked.remove(session_id) else {
                continue;
            };
            let mut still_waiting = Vec::new();
            for (slot, serial) in waiters {
                if !self.answer_parked(slot, serial, now_ms) {
                    still_waiting.push((slot, serial));
                }
            }
            if !still_waiting.is_empty() {
                self.parked.insert(*session_id, still_waiting);
            }
        }
        ws::on_sessions_changed(
            &changed,
            &mut self.ws_hub,
            &mut self.conns,
            &self.app,
            &mut self.revisit,
        );
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
    fn answer_parked_conn(
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
        conn.state = ConnState::ReadingHead;
        conn.queue(response, head_only, now_ms);
        // Pipelined requests may wait behind it, and the answer must go out.
        self.revisit.push(slot);
        true
    }

    fn on_timer(&mut self, key: TimerKey, now_ms: u64) {
        match key {
            TimerKey::Conn {
                slot,
                serial,
                at_ms,
            } => self.on_conn_timer(slot, serial, at_ms, now_ms),
            TimerKey::WsPush { due_ms } => {
                ws::on_push_tick(
                    &mut self.ws_hub,
                    &mut self.conns,
                    &self.app,
                    now_ms,
                    &mut self.revisit,
                );
                // The next push is due one interval after this one was due,
                // not after it ran, so lateness does not add up; a push
                // missed altogether (a long stall) is skipped, not doubled.
                let interval_ms = self.app.config.ws_push_interval_ms;
                let mut next_ms = due_ms + interval_ms;
                if next_ms <= now_ms {
                    next_ms = now_ms + interval_ms;
                }
                self.wheel
                    .schedule(next_ms, TimerKey::WsPush { due_ms: next_ms });
            }
            TimerKey::SessionExpiry(id) => self.on_expiry_timer(id, now_ms),
        }
    }

    fn on_conn_timer(&mut self, slot: usize, serial: u64, at_ms: u64, now_ms: u64) {
        let Some(mut conn) = self.conns.get_mut(slot).and_then(Option::take) else {
            return;
        };
        if conn.serial != serial || conn.timer_armed_ms != Some(at_ms) {
            // Stale: the slot has a new occupant, or a sooner timer replaced it.
            self.conns[slot] = Some(conn);
            return;
        }
        conn.timer_armed_ms = None;
        let verdict = if conn.deadline_ms() <= now_ms {
            self.on_deadline(slot, &mut conn, now_ms)
        } else {
            Verdict::Keep
        };
        self.settle(slot, conn, verdict);
    }

    /// The deadline of a connection's state has passed.
    fn on_deadline(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> Verdict {
        match &mut conn.state {
            ConnState::ReadingHead if conn.head_started_ms.is_some() => {
                let message = format!("request head not complete within {HEAD_TIMEOUT_MS} ms");
                let response = Response::error(408, &message).closing();
                api::log_refusal(&mut self.app, None, &response, now_ms);
                conn.input.clear();
                conn.queue(response, false, now_ms);
                self.write_out(slot, conn, now_ms)
            }
            ConnState::ReadingBody(body) => {
                keep_partial_line(&mut self.app, &mut body.sink, now_ms);
                let message = format!(
                    "request body stalled: no byte for {} ms",
                    body.idle_timeout_ms()
                );
                let response = Response::error(408, &message).closing();
                api::log_refusal(&mut self.app, Some(&body.head), &response, now_ms);
                conn.input.clear();
                conn.queue(response, false, now_ms);
                self.write_out(slot, conn, now_ms)
            }
            ConnState::LongPoll(parked) => {
                if let Some(waiters) = self.parked.get_mut(&parked.session_id) {
                    waiters.retain(|&(waiting_slot, _)| waiting_slot != slot);
                }
                self.answer_parked_conn(slot, conn, true, now_ms);
                Verdict::Keep
            }
            ConnState::WebSocket(ws) => {
                let verdict = ws.on_deadline(now_ms);
                if verdict == ws::WsVerdict::Close {
                    Verdict::Close
                } else {
                    self.write_out(slot, conn, now_ms)
                }
            }
            // Idle keep-alive, or a reader that stopped reading: close.
            ConnState::ReadingHead | ConnState::Closing => Verdict::Close,
        }
    }

    /// Sessions created since the last turn get their TTL timer.
    fn arm_session_expiry(&mut self, now_ms: u64) {
        let ttl_ms = self.app.config.session_ttl_secs * 1000;
        for id in std::mem::take(&mut self.app.created_sessions) {
            if ttl_ms > 0 {
                self.wheel
                    .schedule(now_ms + ttl_ms, TimerKey::SessionExpiry(id));
            }
        }
    }

    fn on_expiry_timer(&mut self, id: SessionId, now_ms: u64) {
        let ttl_ms = self.app.config.session_ttl_secs * 1000;
        match self.app.sessions.expire_if_idle(&id, ttl_ms, now_ms) {
            Expiry::Expired => {
                self.app.mark_changed(id);
                let line = format!(
                    "session {} ended (expired after {} s idle)",
                    crate::sessions::format_id(&id),
                    ttl_ms / 1000
                );
                self.app.server_log(Level::Info, &line, now_ms);
                for evicted in self.app.sessions.take_evicted() {
                    self.app.mark_changed(evicted);
                }
            }
            Expiry::NotYet { due_ms } => self.wheel.schedule(due_ms, TimerKey::SessionExpiry(id)),
            Expiry::Gone => {}
        }
    }
}

/// Binds the listening socket with a backlog of `LISTEN_BACKLOG` (std and
/// mio fix it at 128: a reconnect storm of a build farm would overflow it
/// and cost each dropped client a one-second SYN retry).
fn bind_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(TcpListener::from_std(socket.into()))
}

/// The rest of a WebSocket list push in flight, if any.
fn ws_push_unsent(state: &ConnState) -> Option<&[u8]> {
    match state {
        ConnState::WebSocket(ws) => ws.push_unsent(),
        _ => None,
    }
}

/// The end of a text-log body, normal or not (the client went away,
/// stayed quiet past its limit, or broke the framing): a last line without
/// its newline is appended too, so nothing accepted is lost. JSON bodies
/// stay all or nothing. Most bodies end with a newline: then there is
/// nothing to append and no session to look up.
fn keep_partial_line(app: &mut App, sink: &mut BodySink, now_ms: u64) {
    if let BodySink::TextLog { lines, .. } = sink {
        if lines.has_partial_line() {
            feed_text_log(app, sink, now_ms, |lines, emit| lines.finish(emit));
        }
    }
}

/// Feeds decoded body bytes to where they go.
fn feed_sink(app: &mut App, sink: &mut BodySink, decoded: &[u8], now_ms: u64) {
    match sink {
        BodySink::Buffer { body, .. } => body.extend_from_slice(decoded),
        BodySink::TextLog { .. } => {
            feed_text_log(app, sink, now_ms, |lines, emit| lines.feed(decoded, emit));
        }
    }
}

/// Appends the lines `step` emits to a text-log body's session and counts
/// them, or keeps the refusal (the session ended mid-body); after one,
/// the rest of the body is read and dropped.
fn feed_text_log(
    app: &mut App,
    sink: &mut BodySink,
    now_ms: u64,
    step: impl FnOnce(&mut TextLines, &mut dyn FnMut(&str, bool)),
) {
    let BodySink::TextLog {
        session_id,
        lines,
        appended,
        failure,
    } = sink
    else {
        return;
    };
    if failure.is_some() {
        step(lines, &mut |_, _| {});
        return;
    }
    let produce = |emit: &mut dyn FnMut(&str, bool)| step(lines, emit);
    match api::append_text_lines(app, *session_id, now_ms, produce) {
        Ok(count) => *appended += count,
        Err(response) => *failure = Some(response),
    }
}

/// The server's first log line: version, address, limits.
fn start_line(config: &Config, addr: SocketAddr) -> String {
    format!(
        "sessions-lite {} listening on http://{addr} (log capacity {}, max sessions {}, \
         max ended {}, ws interval {} ms, session ttl {} s, max connections {}, token {})",
        api::VERSION,
        config.log_capacity,
        config.sessions_max,
        config.ended_max,
        config.ws_push_interval_ms,
        config.session_ttl_secs,
        config.connections_max,
        if config.token.is_some() {
            "required for writes"
        } else {
            "off"
        },
    )
}

/// Said on stderr and in the server's log when bound beyond loopback.
pub fn no_token_warning(addr: SocketAddr) -> String {
    format!(
        "listening on {addr}, beyond loopback, without --token: anyone who can reach \
         this port can create sessions and write logs"
    )
}

#[cfg(test)]
mod tests {
    //! The loop driven by a fake clock: sockets are real (loopback), time is
    //! what the test says, so a timeout too long to wait for is checked at
    //! its edge, to the millisecond.

    use super::*;
    use crate::sessions::parse_id;
    use std::io::ErrorKind;
    use std::net::TcpStream as ClientStream;
    use std::time::Duration;

    /// Turns one step may take before the test gives up.
    const TURNS_MAX: usize = 500;
    /// Real time a turn waits for socket events (never the server's clock).
    const POLL_WAIT: Duration = Duration::from_millis(10);

    struct Driven {
        server: Server,
        events: Events,
        expired: Vec<TimerKey>,
    }

    impl Driven {
        fn start() -> Driven {
            let config = Config {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                ..Config::default()
            };
            Driven {
                server: Server::bind(config).expect("bind"),
                events: Events::with_capacity(EVENTS_PER_POLL),
                expired: Vec::new(),
            }
        }

        /// One loop turn at `now_ms`: what `run` does, with the clock given.
        fn turn(&mut self, now_ms: u64) {
            self.server
                .poll
                .poll(&mut self.events, Some(POLL_WAIT))
                .expect("poll");
            self.server.on_tick(&self.events, &mut self.expired, now_ms);
        }

        /// Turns at `now_ms` until `done` holds; false if it never does.
        fn turn_until(&mut self, now_ms: u64, done: impl Fn(&Server) -> bool) -> bool {
            (0..TURNS_MAX).any(|_| {
                self.turn(now_ms);
                done(&self.server)
            })
        }

        /// A client connection; reads never block (the test turns the loop).
        fn connect(&self) -> ClientStream {
            let stream = ClientStream::connect(self.server.local_addr()).expect("connect");
            stream.set_nonblocking(true).expect("nonblocking");
            stream
        }

        /// Turns at `now_ms` until the server closes `client`; what it sent.
        fn read_to_close(&mut self, client: &mut ClientStream, now_ms: u64) -> String {
            let mut received = Vec::new();
            let mut buffer = [0u8; 4096];
            for _ in 0..TURNS_MAX {
                self.turn(now_ms);
                loop {
                    match client.read(&mut buffer) {
                        Ok(0) => return String::from_utf8_lossy(&received).into_owned(),
                        Ok(count) => received.extend_from_slice(&buffer[..count]),
                        Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                        Err(error) => panic!("read: {error}"),
                    }
                }
            }
            panic!("not closed: {:?}", String::from_utf8_lossy(&received));
        }

        /// One request with `Connection: close` at `now_ms`; the answer's body.
        fn request(&mut self, head: &str, body: &str, now_ms: u64) -> String {
            let mut client = self.connect();
            let raw = format!(
                "{head} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
                 Content-Length: {}\r\n\r\n{body}",
                body.len()
            );
            client.write_all(raw.as_bytes()).expect("send");
            let answer = self.read_to_close(&mut client, now_ms);
            let (_, body) = answer.split_once("\r\n\r\n").expect("a head");
            body.to_owned()
        }

        /// True while a request body is being read (the test's stream).
        fn streaming(&self) -> bool {
            let mut states = self.server.conns.iter().flatten().map(|conn| &conn.state);
            states.any(|state| matches!(state, ConnState::ReadingBody(_)))
        }
    }

    fn entry_count(server: &Server, id: &SessionId) -> u64 {
        api::next_cursor(&server.app, id).expect("the session")
    }

    #[test]
    fn streamed_text_log_is_kept_until_its_idle_limit_and_closed_at_it() {
        let mut driven = Driven::start();
        let start_ms = driven.server.clock.now_ms();
        let created = driven.request(
            "POST /sessions/",
            r#"{"appname":"stream","mode":"test"}"#,
            start_ms,
        );
        let created: serde_json::Value = serde_json::from_str(&created).expect("json");
        let id_text = created["id"].as_str().expect("id").to_owned();
        let id = parse_id(&id_text).expect("a session id");
        // What `tail -f build.log | curl -T - URL` sends, one chunk per line.
        let mut stream = driven.connect();
        let head = format!(
            "PUT /sessions/{id_text}/log HTTP/1.1\r\nHost: 127.0.0.1\r\n\
             Transfer-Encoding: chunked\r\n\r\n9\r\nline one\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send");
        let first_ms = start_ms + 1;
        assert!(driven.turn_until(first_ms, |server| entry_count(server, &id) == 1));

        // Quiet one millisecond less than the limit: the stream stays.
        let quiet_ms = first_ms + LOG_STREAM_IDLE_TIMEOUT_MS - 1;
        driven.turn(quiet_ms);
        assert!(driven.streaming(), "closed before the limit");
        let mut buffer = [0u8; 256];
        let early = stream.read(&mut buffer);
        assert!(
            early
                .as_ref()
                .is_err_and(|error| error.kind() == ErrorKind::WouldBlock),
            "nothing is sent to a stream within its limit: {early:?}"
        );
        // A line then restarts the quiet time.
        stream.write_all(b"9\r\nline two\n\r\n").expect("send");
        let second_ms = quiet_ms;
        assert!(driven.turn_until(second_ms, |server| entry_count(server, &id) == 2));
        driven.turn(first_ms + LOG_STREAM_IDLE_TIMEOUT_MS);
        assert!(driven.streaming(), "the limit counts from the last byte");
        driven.turn(second_ms + LOG_STREAM_IDLE_TIMEOUT_MS - 1);
        assert!(driven.streaming(), "closed before the limit");

        // Half a line, then quiet for the limit: 408 and closed.
        stream.write_all(b"4\r\nhalf\r\n").expect("send");
        assert!(driven.turn_until(second_ms, |server| server
            .conns
            .iter()
            .flatten()
            .all(|conn| conn.input.is_empty())));
        let closed_ms = second_ms + LOG_STREAM_IDLE_TIMEOUT_MS;
        driven.turn(closed_ms);
        assert!(!driven.streaming(), "still open at the limit");
        let answer = driven.read_to_close(&mut stream, closed_ms);
        assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
        assert!(answer.contains("Connection: close\r\n"), "{answer}");
        let limit = format!("no byte for {LOG_STREAM_IDLE_TIMEOUT_MS} ms");
        assert!(answer.contains(&limit), "{answer}");

        // Nothing accepted is lost, not even the unfinished last line.
        let page = driven.request(&format!("GET /sessions/{id_text}/log"), "", closed_ms);
        let page: serde_json::Value = serde_json::from_str(&page).expect("json");
        let messages: Vec<&str> = page["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|entry| entry["message"].as_str().expect("message"))
            .collect();
        assert_eq!(messages, ["line one", "line two", "half"]);
    }
}
