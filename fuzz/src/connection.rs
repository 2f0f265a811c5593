//! A model of the server's connection loop (`process_head` and
//! `process_body` in src/server.rs): parse a head from the buffered input,
//! read its body by `Content-Length` or chunked, then the next pipelined
//! request; a refused head or chunk closes the connection. It records what
//! the server decides, so that a target can compare the decisions for one
//! byte stream that arrives in different reads.

use sessions_lite::http::chunked::{ChunkError, ChunkedDecoder};
use sessions_lite::http::head::{parse_head, BodyFraming, HeadError, HeadParse, RequestHead};
use sessions_lite::limits::HEAD_BYTES_MAX;

/// One decision of the server, in order.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Head(Box<RequestHead<'static>>),
    /// The whole decoded body of the request whose head came before.
    Body(Vec<u8>),
    HeadRefused(HeadError),
    BodyRefused(ChunkError),
}

/// Where the connection stands when the input ends.
#[derive(Debug, PartialEq, Eq)]
pub enum Rest {
    /// Between requests, nothing buffered.
    Idle,
    /// Part of a head is buffered.
    InHead(Vec<u8>),
    /// Part of a body was decoded.
    InBody(Vec<u8>),
    /// A refusal closed the connection.
    Closed,
}

enum State {
    Head,
    Length { remaining: u64 },
    Chunked(Box<ChunkedDecoder>),
    Closed,
}

pub struct Connection {
    input: Vec<u8>,
    state: State,
    body: Vec<u8>,
    body_bytes_max: u64,
    events: Vec<Event>,
}

impl Connection {
    /// `body_bytes_max` is the chunked decoder's cap (the server passes
    /// `JSON_BODY_BYTES_MAX` for buffered bodies, `u64::MAX` for text logs).
    pub fn new(body_bytes_max: u64) -> Connection {
        Connection {
            input: Vec::new(),
            state: State::Head,
            body: Vec::new(),
            body_bytes_max,
            events: Vec::new(),
        }
    }

    /// Bytes from one read; acts on everything they complete.
    pub fn on_read(&mut self, bytes: &[u8]) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.input.extend_from_slice(bytes);
        while self.step() {}
    }

    /// The peer stopped sending: what was decided, and what was left.
    pub fn finish(self) -> (Vec<Event>, Rest) {
        let rest = match self.state {
            State::Closed => Rest::Closed,
            State::Head if self.input.is_empty() => Rest::Idle,
            State::Head => Rest::InHead(self.input),
            State::Length { .. } | State::Chunked(_) => {
                assert!(
                    self.input.is_empty(),
                    "a body in progress left input unread"
                );
                Rest::InBody(self.body)
            }
        };
        (self.events, rest)
    }

    /// One step; true when it made progress.
    fn step(&mut self) -> bool {
        match self.state {
            State::Closed => false,
            State::Head => self.step_head(),
            State::Length { .. } | State::Chunked(_) => self.step_body(),
        }
    }

    fn step_head(&mut self) -> bool {
        if self.input.is_empty() {
            return false;
        }
        let head = match parse_head(&self.input) {
            Ok(HeadParse::Partial) => {
                assert!(
                    self.input.len() < HEAD_BYTES_MAX,
                    "partial head over the limit"
                );
                return false;
            }
            Ok(HeadParse::Complete(head)) => head.into_owned(),
            Err(error) => {
                self.events.push(Event::HeadRefused(error));
                self.state = State::Closed;
                return false;
            }
        };
        assert!(head.head_size > 0 && head.head_size <= self.input.len());
        self.input.drain(..head.head_size);
        self.state = match head.framing {
            BodyFraming::None => State::Length { remaining: 0 },
            BodyFraming::Length(length) => State::Length { remaining: length },
            BodyFraming::Chunked => {
                State::Chunked(Box::new(ChunkedDecoder::new(self.body_bytes_max)))
            }
        };
        self.events.push(Event::Head(Box::new(head)));
        true
    }

    fn step_body(&mut self) -> bool {
        let body_size_before = self.body.len();
        let (consumed, complete) = match &mut self.state {
            State::Length { remaining } => {
                let taken = self
                    .input
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                self.body.extend_from_slice(&self.input[..taken]);
                *remaining -= taken as u64;
                (taken, *remaining == 0)
            }
            State::Chunked(decoder) => match decoder.decode(&self.input, &mut self.body) {
                Ok(consumed) => {
                    assert!(consumed <= self.input.len(), "consumed more than the input");
                    if !decoder.is_done() {
                        assert_eq!(consumed, self.input.len(), "stopped early but not done");
                    }
                    assert!(
                        self.body.len() as u64 <= self.body_bytes_max,
                        "body over its cap"
                    );
                    (consumed, decoder.is_done())
                }
                Err(error) => {
                    self.events.push(Event::BodyRefused(error));
                    self.state = State::Closed;
                    return false;
                }
            },
            State::Head | State::Closed => unreachable!("step_body outside a body"),
        };
        assert!(
            self.body.len() - body_size_before <= consumed,
            "decoded more than consumed"
        );
        self.input.drain(..consumed);
        if !complete {
            return false;
        }
        self.events
            .push(Event::Body(std::mem::take(&mut self.body)));
        self.state = State::Head;
        true
    }
}

/// The decisions for one stream read whole and read in `pieces` agree: the
/// same events in the same order and the same state at the end. The one
/// allowed difference: a head refused early for a limit (`UriTooLong`,
/// `TooLarge`, decided on a partial head) where the whole input was refused
/// for another reason found later in the same head.
pub fn agree(whole: &(Vec<Event>, Rest), split: &(Vec<Event>, Rest)) -> bool {
    if whole == split {
        return true;
    }
    let (whole_events, split_events) = (&whole.0, &split.0);
    if whole_events.len() != split_events.len() || whole.1 != split.1 {
        return false;
    }
    let last = whole_events.len().saturating_sub(1);
    whole_events
        .iter()
        .zip(split_events)
        .enumerate()
        .all(|(index, pair)| match pair {
            (
                Event::HeadRefused(_),
                Event::HeadRefused(HeadError::UriTooLong | HeadError::TooLarge),
            ) => index == last,
            (a, b) => a == b,
        })
}

/// Runs a stream through a fresh connection, read by read.
pub fn run(reads: &[&[u8]], body_bytes_max: u64) -> (Vec<Event>, Rest) {
    let mut connection = Connection::new(body_bytes_max);
    for read in reads {
        connection.on_read(read);
    }
    connection.finish()
}
