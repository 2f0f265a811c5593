//! One HTTP/1.1 connection the server opens itself (the exporter's, to
//! its collector), on the same loop as accepted ones but in its own place:
//! its own token range (`Source::Outbound`), its own state machine and
//! deadlines, and nothing shared with `Conn`.
//!
//! One request at a time. A request is sent whole from one buffer; the
//! answer's head is parsed with httparse, its body read by length, chunked
//! (our decoder, capped) or to the close, up to
//! `OTLP_ANSWER_BODY_BYTES_MAX`. Every state has a deadline: connecting,
//! sending and receiving share the request's (`start`'s `timeout_ms`), an
//! idle keep-alive connection closes after `OTLP_IDLE_KEEPALIVE_MS`. The
//! loop never waits on it: connect is non-blocking, and reads and writes
//! stop at `WouldBlock`.

use crate::http::chunked::{ChunkError, ChunkedDecoder};
use crate::limits::*;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;

/// Where the connection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutboundState {
    /// No socket.
    Closed,
    /// A non-blocking connect is in progress (deadline: the request's).
    Connecting,
    /// Writing the request (deadline: the request's).
    Sending,
    /// Reading the answer (deadline: the request's).
    Receiving,
    /// Kept alive between requests (deadline: `OTLP_IDLE_KEEPALIVE_MS`).
    Idle,
}

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<Vec<u8>>,
    pub retry_after: Option<Vec<u8>>,
    pub body: Vec<u8>,
}

/// Why a request got no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Connecting, writing or reading failed, or the peer closed first.
    Connection(String),
    /// The request's deadline passed.
    Timeout { timeout_ms: u64 },
    /// What came back is not an HTTP/1.1 answer.
    Garbage(String),
    /// The answer's body is over `OTLP_ANSWER_BODY_BYTES_MAX`.
    AnswerTooLarge,
}

impl Failure {
    /// Whether sending again may work (the OTLP spec retries connection
    /// failures; an answer too large is the collector's doing, every time).
    pub fn is_retryable(&self) -> bool {
        !matches!(self, Failure::AnswerTooLarge)
    }

    pub fn message(&self) -> String {
        match self {
            Failure::Connection(why) => why.clone(),
            Failure::Timeout { timeout_ms } => format!("no answer within {timeout_ms} ms"),
            Failure::Garbage(why) => format!("unreadable answer: {why}"),
            Failure::AnswerTooLarge => {
                format!("answer body over {OTLP_ANSWER_BODY_BYTES_MAX} bytes")
            }
        }
    }
}

/// What a step on the connection came to.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Nothing to report yet.
    Pending,
    Answered(Answer),
    Failed(Failure),
}

/// How the answer's body is framed, once its head is read.
enum BodyFraming {
    Length(usize),
    Chunked(Box<ChunkedDecoder>),
    UntilClose,
}

/// The answer's head, once parsed.
struct AnswerHead {
    status: u16,
    content_type: Option<Vec<u8>>,
    retry_after: Option<Vec<u8>>,
    framing: BodyFraming,
    close: bool,
}

pub struct Outbound {
    token: Token,
    stream: Option<TcpStream>,
    state: OutboundState,
    addr: SocketAddr,
    request: Vec<u8>,
    request_sent: usize,
    /// Answer bytes read and not yet consumed.
    input: Vec<u8>,
    head: Option<AnswerHead>,
    body: Vec<u8>,
    deadline_ms: u64,
    timeout_ms: u64,
    /// The request went out on a kept-alive connection: if that turns out
    /// closed before any answer byte, it is sent once more on a new one.
    reused: bool,
}

impl Outbound {
    pub fn new(token: Token, addr: SocketAddr) -> Outbound {
        Outbound {
            token,
            stream: None,
            state: OutboundState::Closed,
            addr,
            request: Vec::new(),
            request_sent: 0,
            input: Vec::new(),
            head: None,
            body: Vec::new(),
            deadline_ms: 0,
            timeout_ms: 0,
            reused: false,
        }
    }

    pub fn state(&self) -> OutboundState {
        self.state
    }

    /// When `on_deadline` must be called, if ever.
    pub fn deadline_ms(&self) -> Option<u64> {
        match self.state {
            OutboundState::Closed => None,
            _ => Some(self.deadline_ms),
        }
    }

    /// Sends `request` (head and body, whole), on the kept-alive
    /// connection if there is one, else on a new one.
    pub fn start(
        &mut self,
        registry: &Registry,
        request: Vec<u8>,
        timeout_ms: u64,
        now_ms: u64,
    ) -> Progress {
        debug_assert!(matches!(
            self.state,
            OutboundState::Closed | OutboundState::Idle
        ));
        self.request = request;
        self.request_sent = 0;
        self.input.clear();
        self.head = None;
        self.body = Vec::new();
        self.timeout_ms = timeout_ms;
        self.deadline_ms = now_ms + timeout_ms;
        self.reused = self.state == OutboundState::Idle;
        if self.reused {
            self.state = OutboundState::Sending;
            return self.drive(registry, now_ms);
        }
        self.connect(registry)
    }

    fn connect(&mut self, registry: &Registry) -> Progress {
        self.close(registry);
        let mut stream = match TcpStream::connect(self.addr) {
            Ok(stream) => stream,
            Err(error) => return self.fail(registry, connection_failure("connect", &error)),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if let Err(error) = registry.register(&mut stream, self.token, interest) {
            return self.fail(registry, connection_failure("register", &error));
        }
        let _ = stream.set_nodelay(true);
        self.stream = Some(stream);
        self.state = OutboundState::Connecting;
        Progress::Pending
    }

    /// A readiness event (or a revisit): connect, write, read as far as
    /// the socket allows.
    pub fn on_ready(&mut self, registry: &Registry, now_ms: u64) -> Progress {
        self.drive(registry, now_ms)
    }

    /// The deadline passed: a request in progress fails, an idle
    /// connection closes.
    pub fn on_deadline(&mut self, registry: &Registry, now_ms: u64) -> Progress {
        if self.deadline_ms > now_ms {
            return Progress::Pending;
        }
        match self.state {
            OutboundState::Closed => Progress::Pending,
            OutboundState::Idle => {
                self.close(registry);
                Progress::Pending
            }
            _ => {
                let timeout_ms = self.timeout_ms;
                self.fail(registry, Failure::Timeout { timeout_ms })
            }
        }
    }

    /// Drops the socket (nothing in flight is reported).
    pub fn close(&mut self, registry: &Registry) {
        if let Some(mut stream) = self.stream.take() {
            let _ = registry.deregister(&mut stream);
        }
        self.state = OutboundState::Closed;
    }

    /// Gives back the request of the last attempt that failed, to be sent
    /// again (empty after an answer: then it is dropped at once).
    pub fn take_request(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.request)
    }

    fn fail(&mut self, registry: &Registry, failure: Failure) -> Progress {
        self.close(registry);
        self.body = Vec::new();
        self.input = Vec::new();
        Progress::Failed(failure)
    }

    fn drive(&mut self, registry: &Registry, now_ms: u64) -> Progress {
        loop {
            let step = match self.state {
                OutboundState::Closed => return Progress::Pending,
                OutboundState::Connecting => self.check_connected(),
                OutboundState::Sending => self.write_request(),
                OutboundState::Receiving | OutboundState::Idle => self.read_answer(),
            };
            match step {
                Step::Again => continue,
                Step::Wait => return Progress::Pending,
                Step::Done(answer, close) => {
                    if close {
                        self.close(registry);
                    } else {
                        self.state = OutboundState::Idle;
                        self.deadline_ms = now_ms + OTLP_IDLE_KEEPALIVE_MS;
                    }
                    return Progress::Answered(answer);
                }
                Step::IdleClosed => {
                    self.close(registry);
                    return Progress::Pending;
                }
                Step::Fail(failure) => {
                    let before_answer = self.input.is_empty() && self.head.is_none();
                    if self.reused && before_answer && self.state != OutboundState::Connecting {
                        // The kept-alive connection had closed: one more
                        // try on a new one, within the same deadline.
                        self.reused = false;
                        self.request_sent = 0;
                        if let Progress::Failed(failure) = self.connect(registry) {
                            return self.fail(registry, failure);
                        }
                        continue;
                    }
                    return self.fail(registry, failure);
                }
            }
        }
    }

    /// A connect in progress is done once the socket has a peer (mio: on a
    /// writable event, `take_error`, then `peer_addr`).
    fn check_connected(&mut self) -> Step {
        let Some(stream) = &self.stream else {
            return Step::Wait;
        };
        match stream.take_error() {
            Ok(Some(error)) | Err(error) => {
                return Step::Fail(connection_failure("connect", &error))
            }
            Ok(None) => {}
        }
        match stream.peer_addr() {
            Ok(_) => {
                self.state = OutboundState::Sending;
                Step::Again
            }
            Err(error) if error.kind() == io::ErrorKind::NotConnected => Step::Wait,
            Err(error) if error.raw_os_error() == Some(115) => Step::Wait, // EINPROGRESS
            Err(error) => Step::Fail(connection_failure("connect", &error)),
        }
    }

    fn write_request(&mut self) -> Step {
        let Some(stream) = &mut self.stream else {
            return Step::Wait;
        };
        while self.request_sent < self.request.len() {
            match stream.write(&self.request[self.request_sent..]) {
                Ok(0) => return Step::Fail(Failure::Connection("the collector closed".into())),
                Ok(count) => self.request_sent += count,
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Step::Fail(connection_failure("send", &error)),
            }
        }
        self.state = OutboundState::Receiving;
        Step::Again
    }

    /// Reads until `WouldBlock` or a complete answer.
    fn read_answer(&mut self) -> Step {
        let mut buffer = [0u8; 16 * 1024];
        loop {
            if self.state == OutboundState::Receiving {
                match self.consume() {
                    Ok(Some((answer, close))) => return Step::Done(answer, close),
                    Ok(None) => {}
                    Err(failure) => return Step::Fail(failure),
                }
            }
            let Some(stream) = &mut self.stream else {
                return Step::Wait;
            };
            match stream.read(&mut buffer) {
                Ok(0) if self.state == OutboundState::Idle => return Step::IdleClosed,
                Ok(0) => return self.on_peer_closed(),
                Ok(_) if self.state == OutboundState::Idle => {
                    // Bytes nobody asked for: the connection is not ours to trust.
                    return Step::IdleClosed;
                }
                Ok(count) => self.input.extend_from_slice(&buffer[..count]),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return Step::Wait,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) if self.state == OutboundState::Idle => return Step::IdleClosed,
                Err(error) => return Step::Fail(connection_failure("receive", &error)),
            }
        }
    }

    /// The collector closed: the end of a body read to the close, or a
    /// broken answer.
    fn on_peer_closed(&mut self) -> Step {
        match &self.head {
            Some(head) if matches!(head.framing, BodyFraming::UntilClose) => {
                let body = std::mem::take(&mut self.body);
                Step::Done(answer_of(head, body), true)
            }
            Some(_) => Step::Fail(Failure::Connection(
                "the collector closed in the middle of its answer".into(),
            )),
            None if self.input.is_empty() => Step::Fail(Failure::Connection(
                "the collector closed without answering".into(),
            )),
            None => Step::Fail(Failure::Garbage(
                "the connection closed inside the answer's head".into(),
            )),
        }
    }

    /// Parses what has arrived; `Some` once the answer is complete.
    fn consume(&mut self) -> Result<Option<(Answer, bool)>, Failure> {
        if self.head.is_none() {
            let Some((head, consumed)) = parse_answer_head(&self.input)? else {
                return Ok(None);
            };
            self.input.drain(..consumed);
            if (100..200).contains(&head.status) {
                // An interim answer (100 Continue): the real one follows.
                return self.consume();
            }
            self.head = Some(head);
        }
        let Some(head) = &mut self.head else {
            return Ok(None);
        };
        let complete = match &mut head.framing {
            BodyFraming::Length(length) => {
                let taken = self.input.len().min(*length - self.body.len());
                self.body.extend_from_slice(&self.input[..taken]);
                self.input.drain(..taken);
                self.body.len() == *length
            }
            BodyFraming::Chunked(decoder) => {
                let consumed = decoder
                    .decode(&self.input, &mut self.body)
                    .map_err(|error| match error {
                        ChunkError::BodyTooLarge => Failure::AnswerTooLarge,
                        other => Failure::Garbage(other.message(OTLP_ANSWER_BODY_BYTES_MAX as u64)),
                    })?;
                self.input.drain(..consumed);
                if self.body.len() > OTLP_ANSWER_BODY_BYTES_MAX {
                    return Err(Failure::AnswerTooLarge);
                }
                decoder.is_done()
            }
            BodyFraming::UntilClose => {
                self.body.append(&mut self.input);
                if self.body.len() > OTLP_ANSWER_BODY_BYTES_MAX {
                    return Err(Failure::AnswerTooLarge);
                }
                false
            }
        };
        if !complete {
            return Ok(None);
        }
        let close = head.close || !self.input.is_empty();
        let body = std::mem::take(&mut self.body);
        let answer = answer_of(head, body);
        self.head = None;
        self.input.clear();
        Ok(Some((answer, close)))
    }
}

enum Step {
    Again,
    Wait,
    Done(Answer, bool),
    /// An idle connection closed or spoke out of turn: drop it quietly.
    IdleClosed,
    Fail(Failure),
}

fn answer_of(head: &AnswerHead, body: Vec<u8>) -> Answer {
    Answer {
        status: head.status,
        content_type: head.content_type.clone(),
        retry_after: head.retry_after.clone(),
        body,
    }
}

fn connection_failure(what: &str, error: &io::Error) -> Failure {
    Failure::Connection(format!("{what} failed: {error}"))
}

/// The head of an answer, if complete: status, framing and the headers the
/// exporter reads. A chunked body over the cap is `AnswerTooLarge` in
/// `consume`; broken chunked framing is garbage (retried).
fn parse_answer_head(input: &[u8]) -> Result<Option<(AnswerHead, usize)>, Failure> {
    let mut headers = [httparse::EMPTY_HEADER; OTLP_ANSWER_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let consumed = match response.parse(input) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if input.len() > OTLP_ANSWER_HEAD_BYTES_MAX => {
            return Err(Failure::Garbage(format!(
                "answer head over {OTLP_ANSWER_HEAD_BYTES_MAX} bytes"
            )))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(Failure::Garbage(error.to_string())),
    };
    if consumed > OTLP_ANSWER_HEAD_BYTES_MAX {
        return Err(Failure::Garbage(format!(
            "answer head over {OTLP_ANSWER_HEAD_BYTES_MAX} bytes"
        )));
    }
    let status = response.code.unwrap_or(0);
    let mut head = AnswerHead {
        status,
        content_type: None,
        retry_after: None,
        framing: BodyFraming::UntilClose,
        close: response.version == Some(0),
    };
    let mut length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let value = trim(header.value);
        let name = header.name;
        if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("connection") {
            head.close |= value.eq_ignore_ascii_case(b"close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case(b"chunked");
            if !chunked {
                return Err(Failure::Garbage(
                    "a transfer coding other than chunked".into(),
                ));
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or_else(|| Failure::Garbage("a Content-Length that is not a number".into()))?;
            if length.is_some_and(|other| other != parsed) {
                return Err(Failure::Garbage(
                    "two different Content-Length headers".into(),
                ));
            }
            length = Some(parsed);
        }
    }
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    head.framing = if no_body {
        BodyFraming::Length(0)
    } else if chunked {
        let decoder = ChunkedDecoder::new(OTLP_ANSWER_BODY_BYTES_MAX as u64);
        BodyFraming::Chunked(Box::new(decoder))
    } else if let Some(length) = length {
        if length > OTLP_ANSWER_BODY_BYTES_MAX as u64 {
            return Err(Failure::AnswerTooLarge);
        }
        BodyFraming::Length(length as usize)
    } else {
        head.close = true;
        BodyFraming::UntilClose
    };
    Ok(Some((head, consumed)))
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !b" \t".contains(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !b" \t".contains(b))
        .map_or(start, |end| end + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(u16, usize)>, Failure> {
        parse_answer_head(text.as_bytes())
            .map(|parsed| parsed.map(|(head, used)| (head.status, used)))
    }

    #[test]
    fn answer_heads() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(head(ok), Ok(Some((200, ok.len() - 2))));
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert!(matches!(
            head("SSH-2.0-OpenSSH\r\n\r\n"),
            Err(Failure::Garbage(_))
        ));
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            OTLP_ANSWER_BODY_BYTES_MAX + 1
        );
        assert_eq!(head(&big), Err(Failure::AnswerTooLarge));
        let at_cap =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {OTLP_ANSWER_BODY_BYTES_MAX}\r\n\r\n");
        assert!(matches!(head(&at_cap), Ok(Some((200, _)))));
        let two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(matches!(head(two), Err(Failure::Garbage(_))));
        let gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert!(matches!(head(gzip), Err(Failure::Garbage(_))));
        let long = format!(
            "HTTP/1.1 200 OK\r\nX: {}",
            "a".repeat(OTLP_ANSWER_HEAD_BYTES_MAX)
        );
        assert!(matches!(head(&long), Err(Failure::Garbage(_))));
    }

    /// One request to a loopback peer that reads it and answers `answer`
    /// (then closes); what the connection came to.
    fn exchange(answer: &'static [u8]) -> Progress {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let peer = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().expect("accept");
            let mut request = Vec::new();
            let mut buffer = [0u8; 1024];
            while !request.ends_with(b"\r\n\r\n") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(count) => request.extend_from_slice(&buffer[..count]),
                }
            }
            let _ = stream.write_all(answer);
        });
        let mut poll = mio::Poll::new().expect("poll");
        let mut events = mio::Events::with_capacity(16);
        let mut outbound = Outbound::new(Token(7), addr);
        let request = b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_vec();
        let mut progress = outbound.start(poll.registry(), request, 5_000, 0);
        for _ in 0..500 {
            if progress != Progress::Pending {
                break;
            }
            poll.poll(&mut events, Some(std::time::Duration::from_millis(10)))
                .expect("poll");
            progress = outbound.on_ready(poll.registry(), 0);
        }
        peer.join().expect("peer");
        progress
    }

    fn answered(status: u16, body: &[u8]) -> Progress {
        Progress::Answered(Answer {
            status,
            content_type: None,
            retry_after: None,
            body: body.to_vec(),
        })
    }

    #[test]
    fn answers_by_length_chunked_and_to_the_close() {
        assert_eq!(
            exchange(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"),
            answered(200, b"{}")
        );
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(exchange(chunked), answered(200, b"{}"));
        assert_eq!(
            exchange(b"HTTP/1.1 400 Bad\r\n\r\nno framing"),
            answered(400, b"no framing")
        );
        let interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        assert_eq!(exchange(interim), answered(204, b""));
    }

    #[test]
    fn broken_answers_fail_retryably() {
        let broken_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        for answer in [
            &broken_chunk[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"",
            b"HTTP/1.1 20",
        ] {
            match exchange(answer) {
                Progress::Failed(failure) => assert!(failure.is_retryable(), "{failure:?}"),
                other => panic!("{:?}: {other:?}", String::from_utf8_lossy(answer)),
            }
        }
    }

    #[test]
    fn a_refused_connection_is_a_retryable_failure() {
        let addr = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr")
        };
        let mut poll = mio::Poll::new().expect("poll");
        let mut events = mio::Events::with_capacity(16);
        let mut outbound = Outbound::new(Token(7), addr);
        let mut progress = outbound.start(poll.registry(), b"x".to_vec(), 5_000, 0);
        for _ in 0..500 {
            if progress != Progress::Pending {
                break;
            }
            poll.poll(&mut events, Some(std::time::Duration::from_millis(10)))
                .expect("poll");
            progress = outbound.on_ready(poll.registry(), 0);
        }
        assert!(
            matches!(progress, Progress::Failed(Failure::Connection(_))),
            "{progress:?}"
        );
        assert_eq!(outbound.state(), OutboundState::Closed);
        assert_eq!(outbound.take_request(), b"x", "kept for the retry");
    }

    #[test]
    fn the_request_deadline_fails_and_an_idle_deadline_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let poll = mio::Poll::new().expect("poll");
        let mut outbound = Outbound::new(Token(7), addr);
        let progress = outbound.start(poll.registry(), b"x".to_vec(), 1_000, 10);
        assert_eq!(progress, Progress::Pending);
        assert_eq!(outbound.deadline_ms(), Some(1_010));
        assert_eq!(
            outbound.on_deadline(poll.registry(), 1_009),
            Progress::Pending
        );
        let failed = outbound.on_deadline(poll.registry(), 1_010);
        assert_eq!(
            failed,
            Progress::Failed(Failure::Timeout { timeout_ms: 1_000 })
        );
        assert_eq!(outbound.deadline_ms(), None);
        drop(listener);
    }

    #[test]
    fn headers_the_exporter_reads() {
        let text = b"HTTP/1.1 503 Busy\r\nRetry-After:  7 \r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (head, _) = parse_answer_head(text).expect("valid").expect("complete");
        assert_eq!(head.retry_after.as_deref(), Some(&b"7"[..]));
        assert_eq!(head.content_type.as_deref(), Some(&b"application/json"[..]));
        assert!(head.close);
        let until_close = b"HTTP/1.1 200 OK\r\n\r\n";
        let (head, _) = parse_answer_head(until_close)
            .expect("valid")
            .expect("complete");
        assert!(head.close && matches!(head.framing, BodyFraming::UntilClose));
    }
}
