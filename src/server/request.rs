//! The request path of an accepted connection: a complete head is
//! planned (`api::plan`: refuse early, before a body), its body read by
//! length or chunked into a buffer (inflated on the way when it came
//! compressed) or, for a plain-text log, appended line by line as it
//! arrives, then answered (`api::finish`) or parked as a long-poll watcher
//! of its session.

use super::Server;
use crate::api::App;
use crate::api::{self, Outcome, Plan};
use crate::conn::{Conn, ConnState};
use crate::http::chunked::ChunkedDecoder;
use crate::http::content_coding::{BodyInflater, ContentCoding, InflateError};
use crate::http::head::{parse_head, BodyFraming, HeadParse, Method, RequestHead};
use crate::http::response::{Response, CONTINUE};
use crate::ingest::TextLines;
use crate::level::Level;
use crate::limits::*;
use crate::request_body::{BodyProgress, BodyRead, BodySink};
use crate::verdict::Verdict;
use crate::watchers::{Watcher, WatcherKind};
use crate::ws::WsConn;

impl Server {
    /// Consumes buffered input: heads, bodies, WebSocket frames.
    pub(super) fn process(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> Verdict {
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
                    if let Some(session) = ws.take_new_follow() {
                        let watcher = Watcher::new(WatcherKind::WsFollow, slot, conn.serial);
                        self.watchers.watch(session, watcher);
                    }
                    if ws.take_feed_change() {
                        let feed = ws.list_feed();
                        self.ws_hub.on_feed_changed(slot, conn.serial, feed, now_ms);
                    }
                    return verdict;
                }
                ConnState::LongPoll(parked) if parked.answer_due => {
                    // Woken with something to say (`wake.rs`); requests
                    // pipelined behind it go on in this visit.
                    self.answer_parked(conn, now_ms);
                    true
                }
                ConnState::LongPoll(_) | ConnState::EventStream(_) | ConnState::Closing => false,
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
                self.app.counters.count_answer(None, response.status);
                conn.queue(response, false, now_ms);
                (input.len(), false)
            }
        };
        conn.input = input;
        conn.input.drain(..consumed);
        progressed
    }

    /// Acts on a complete head's plan: answer, upgrade, or read a body.
    fn start_request(
        &mut self,
        slot: usize,
        conn: &mut Conn,
        head: &RequestHead<'_>,
        plan: Plan,
        now_ms: u64,
    ) {
        let sink = match plan {
            Plan::Answer(response) => return self.answer_unread(conn, head, response, now_ms),
            Plan::Upgrade {
                response,
                echo,
                deflate,
            } => {
                conn.output.extend_from_slice(&response);
                self.app.counters.count_answer(Some(head.method), 101);
                self.app.counters.websocket_clients += 1;
                let mut ws = Box::new(WsConn::new(echo, deflate, now_ms));
                self.ws_hub
                    .join(slot, conn.serial, &mut ws, &mut self.app, now_ms);
                conn.state = ConnState::WebSocket(ws);
                return;
            }
            Plan::EventStream(start) => {
                return self.start_event_stream(slot, conn, start, head.keep_alive, now_ms);
            }
            Plan::Buffer { route, .. } if head.framing == BodyFraming::None => {
                // Nothing to read (every GET): answer now, without a
                // body-reading state to box and step through.
                let outcome = api::finish(&mut self.app, head, route, &[], now_ms);
                return self.conclude(slot, conn, head, outcome, now_ms);
            }
            Plan::Buffer {
                route,
                coding: ContentCoding::Identity,
                ..
            } => BodySink::Buffer {
                route,
                body: Vec::new(),
            },
            Plan::Buffer {
                route,
                body_bytes_max,
                coding,
            } => BodySink::Inflate {
                route,
                inflater: Box::new(BodyInflater::new(coding, body_bytes_max)),
                body: Vec::new(),
            },
            Plan::TextLog(session_id) => BodySink::TextLog {
                session_id,
                lines: Box::new(TextLines::new()),
                appended: 0,
                failure: None,
            },
        };
        start_body(conn, head, sink);
    }

    /// Answers a request before its body (refusals, mostly). An announced
    /// body that we did not read would be taken for the next request, so
    /// then the connection ends.
    fn answer_unread(
        &mut self,
        conn: &mut Conn,
        head: &RequestHead<'_>,
        mut response: Response,
        now_ms: u64,
    ) {
        api::log_refusal_if_error(&mut self.app, head, &response, now_ms);
        self.app
            .counters
            .count_answer(Some(head.method), response.status);
        if head.framing != BodyFraming::None && head.framing != BodyFraming::Length(0)
            || !head.keep_alive
        {
            response.close = true;
        }
        conn.queue(response, head.method == Method::Head, now_ms);
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
        let fed = feed_sink(&mut self.app, &mut body.sink, bytes, now_ms);
        conn.input.drain(..consumed);
        let refusal = match (fed, error) {
            (Err(response), _) => Some(response),
            (Ok(()), Some(error)) => {
                let body_bytes_max = body.sink.body_bytes_max();
                Some(Response::error(
                    error.status(),
                    &error.message(body_bytes_max),
                ))
            }
            (Ok(()), None) => None,
        };
        if let Some(response) = refusal {
            // The rest of the body is not read: the connection ends (and
            // the closing state drops what the body held).
            let response = response.closing();
            keep_partial_line(&mut self.app, &mut body.sink, now_ms);
            api::log_refusal(&mut self.app, Some(&body.head), &response, now_ms);
            let method = Some(body.head.method);
            self.app.counters.count_answer(method, response.status);
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
            // Read to its end, so the connection may go on after a refusal.
            BodySink::Inflate {
                route,
                inflater,
                body,
            } => match inflater.finish() {
                Ok(()) => api::finish(&mut self.app, &head, route, &body, now_ms),
                Err(error) => Outcome::Answer(inflate_refusal(&inflater, error)),
            },
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
                self.app
                    .counters
                    .count_answer(Some(head.method), response.status);
                response.close |= !head.keep_alive;
                conn.queue(response, head_only, now_ms);
            }
            Outcome::Park(parked) => {
                let watcher = Watcher::new(WatcherKind::LongPoll, slot, conn.serial);
                self.watchers.watch(parked.session_id, watcher);
                self.app.counters.long_polls_parked += 1;
                let mut parked = Box::new(parked);
                // Remembered so that the late answer closes the connection.
                parked.close_after = !head.keep_alive;
                conn.state = ConnState::LongPoll(parked);
            }
        }
    }
}

/// Moves a connection to reading the body of `head` into `sink`.
fn start_body(conn: &mut Conn, head: &RequestHead<'_>, sink: BodySink) {
    let body_bytes_max = sink.body_bytes_max();
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

/// The end of a text-log body, normal or not (the client went away,
/// stayed quiet past its limit, or broke the framing): a last line without
/// its newline is appended too, so nothing accepted is lost. JSON bodies
/// stay all or nothing. Most bodies end with a newline: then there is
/// nothing to append and no session to look up.
pub(super) fn keep_partial_line(app: &mut App, sink: &mut BodySink, now_ms: u64) {
    if let BodySink::TextLog { lines, .. } = sink {
        if lines.has_partial_line() {
            feed_text_log(app, sink, now_ms, |lines, emit| lines.finish(emit));
        }
    }
}

/// Feeds decoded body bytes to where they go; `Err` when a compressed
/// body is refused (the rest of it is then not read).
fn feed_sink(
    app: &mut App,
    sink: &mut BodySink,
    decoded: &[u8],
    now_ms: u64,
) -> Result<(), Response> {
    match sink {
        BodySink::Buffer { body, .. } => body.extend_from_slice(decoded),
        BodySink::Inflate { inflater, body, .. } => {
            if let Err(error) = inflater.feed(decoded, body) {
                return Err(inflate_refusal(inflater, error));
            }
        }
        BodySink::TextLog { .. } => {
            feed_text_log(app, sink, now_ms, |lines, emit| lines.feed(decoded, emit));
        }
    }
    Ok(())
}

/// The answer to a compressed body that was refused: 413 for one over its
/// limit once inflated, 400 for a broken stream.
fn inflate_refusal(inflater: &BodyInflater, error: InflateError) -> Response {
    let message = error.message(inflater.coding(), inflater.inflated_bytes_max());
    Response::error(error.status(), &message)
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
        step(lines, &mut |_, _| app.counters.refuse(Level::Info, 1));
        return;
    }
    let produce = |emit: &mut dyn FnMut(&str, bool)| step(lines, emit);
    match api::append_text_lines(app, *session_id, now_ms, produce) {
        Ok(count) => *appended += count,
        Err(response) => *failure = Some(response),
    }
}
