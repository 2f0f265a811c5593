//! One HTTP/1.1 connection the server opens itself (the exporter's, to
//! its collector), on the same loop as accepted ones but in its own place:
//! its own token range (`Source::Outbound`), its own state machine and
//! deadlines, and nothing shared with `Conn`.
//!
//! One request at a time. A request is its head and its body, each sent
//! from its own buffer as it is (the body is never copied behind the head); the
//! answer's head is parsed with httparse, its body read by length, chunked
//! (our decoder, capped) or to the close, up to
//! `OTLP_ANSWER_BODY_BYTES_MAX`. Every state has a deadline: connecting,
//! sending and receiving share the request's (`start`'s `timeout_ms`), an
//! idle keep-alive connection closes after `OTLP_IDLE_KEEPALIVE_MS`. The
//! loop never waits on it: connect is non-blocking, and reads and writes
//! stop at `WouldBlock`.

pub use crate::http::answer::Answer;
use crate::http::answer::{AnswerError, AnswerReader, ClosedAnswer};
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

/// A request to send: its head, and its body from `body_start` in `body`
/// (an encoder's buffer, taken as it is, room in front and all).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub head: Vec<u8>,
    pub body: Vec<u8>,
    pub body_start: usize,
}

impl Request {
    pub fn len(&self) -> usize {
        self.head.len() + self.body.len() - self.body_start
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The unsent bytes from `sent` on, up to the end of the part they
    /// are in.
    fn from(&self, sent: usize) -> &[u8] {
        match sent.checked_sub(self.head.len()) {
            None => &self.head[sent..],
            Some(in_body) => &self.body[self.body_start + in_body..],
        }
    }
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

pub struct Outbound {
    token: Token,
    stream: Option<TcpStream>,
    state: OutboundState,
    addr: SocketAddr,
    request: Request,
    /// Bytes of the request (head, then body) written so far.
    request_sent: usize,
    answer: AnswerReader,
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
            request: Request::default(),
            request_sent: 0,
            answer: AnswerReader::new(),
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
        request: Request,
        timeout_ms: u64,
        now_ms: u64,
    ) -> Progress {
        debug_assert!(matches!(
            self.state,
            OutboundState::Closed | OutboundState::Idle
        ));
        self.request = request;
        self.request_sent = 0;
        self.answer = AnswerReader::new();
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
    pub fn take_request(&mut self) -> Request {
        std::mem::take(&mut self.request)
    }

    fn fail(&mut self, registry: &Registry, failure: Failure) -> Progress {
        self.close(registry);
        self.answer = AnswerReader::new();
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
                    let before_answer = self.answer.is_untouched();
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
            let rest = self.request.from(self.request_sent);
            match stream.write(rest) {
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
                Ok(count) => match self.answer.feed(&buffer[..count]) {
                    Ok(Some((answer, close))) => return Step::Done(answer, close),
                    Ok(None) => {}
                    Err(AnswerError::TooLarge) => return Step::Fail(Failure::AnswerTooLarge),
                    Err(AnswerError::Garbage(why)) => return Step::Fail(Failure::Garbage(why)),
                },
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
        let failure = match self.answer.on_close() {
            ClosedAnswer::Complete(answer) => return Step::Done(answer, true),
            ClosedAnswer::NothingSent => "the collector closed without answering",
            ClosedAnswer::CutInBody => "the collector closed in the middle of its answer",
            ClosedAnswer::CutInHead => {
                return Step::Fail(Failure::Garbage(
                    "the connection closed inside the answer's head".into(),
                ))
            }
        };
        Step::Fail(Failure::Connection(failure.into()))
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

fn connection_failure(what: &str, error: &io::Error) -> Failure {
    Failure::Connection(format!("{what} failed: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Starts `request` and turns the poll until it comes to something
    /// (at most 500 turns of 10 ms).
    fn run_to_end(outbound: &mut Outbound, poll: &mut mio::Poll, request: Request) -> Progress {
        let mut events = mio::Events::with_capacity(16);
        let mut progress = outbound.start(poll.registry(), request, 5_000, 0);
        for _ in 0..500 {
            if progress != Progress::Pending {
                break;
            }
            poll.poll(&mut events, Some(std::time::Duration::from_millis(10)))
                .expect("poll");
            progress = outbound.on_ready(poll.registry(), 0);
        }
        progress
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
            while !request.ends_with(b"\r\n\r\n{}") {
                match stream.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(count) => request.extend_from_slice(&buffer[..count]),
                }
            }
            let _ = stream.write_all(answer);
        });
        let mut poll = mio::Poll::new().expect("poll");
        let mut outbound = Outbound::new(Token(7), addr);
        let request = Request {
            head: b"POST /v1/logs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n".to_vec(),
            body: b"..{}".to_vec(),
            body_start: 2,
        };
        let progress = run_to_end(&mut outbound, &mut poll, request);
        peer.join().expect("peer");
        progress
    }

    fn one_byte() -> Request {
        Request {
            head: b"x".to_vec(),
            ..Request::default()
        }
    }

    #[test]
    fn a_request_is_its_head_then_its_body_from_its_start() {
        let request = Request {
            head: b"head:".to_vec(),
            body: b"roombody".to_vec(),
            body_start: 4,
        };
        assert_eq!(request.len(), 9);
        assert_eq!(request.from(0), b"head:");
        assert_eq!(request.from(3), b"d:");
        assert_eq!(request.from(5), b"body");
        assert_eq!(request.from(8), b"y");
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
        let mut outbound = Outbound::new(Token(7), addr);
        let progress = run_to_end(&mut outbound, &mut poll, one_byte());
        assert!(
            matches!(progress, Progress::Failed(Failure::Connection(_))),
            "{progress:?}"
        );
        assert_eq!(outbound.state(), OutboundState::Closed);
        assert_eq!(outbound.take_request(), one_byte(), "kept for the retry");
    }

    #[test]
    fn the_request_deadline_fails_and_an_idle_deadline_closes() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let poll = mio::Poll::new().expect("poll");
        let mut outbound = Outbound::new(Token(7), addr);
        let progress = outbound.start(poll.registry(), one_byte(), 1_000, 10);
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
}
