//! One client connection: its socket, buffers, deadline and state machine.
//!
//! A connection is always in exactly one `ConnState`. The server moves it
//! between states; each state names the deadline that applies to it, so a
//! timer firing only has to ask "what is due now?".

use crate::api::ParkedRead;
use crate::http::response::{write_response, Response};
use crate::limits::*;
use crate::request_body::BodyRead;
use crate::sse_stream::SseStream;
use crate::ws::WsConn;
use mio::net::TcpStream;

/// Where a connection is in its life.
pub enum ConnState {
    /// Waiting for a request head: between requests (idle keep-alive) or
    /// part-way through one (`head_started_ms` is set).
    ReadingHead,
    /// The head was accepted; its body is being read.
    ReadingBody(Box<BodyRead>),
    /// A log read waiting for entries (`wait=S`); pipelined requests behind
    /// it wait in `input`.
    LongPoll(Box<ParkedRead>),
    /// Upgraded: WebSocket frames in both directions.
    WebSocket(Box<WsConn>),
    /// A Server-Sent Events stream: the response goes on until the
    /// stream ends, the client goes away or reads too slowly; then the
    /// connection closes. Nothing more is read from the client.
    EventStream(Box<SseStream>),
    /// The last answer is queued with `Connection: close`; the connection
    /// closes once it is flushed (or its write deadline passes).
    Closing,
}

/// One accepted TCP connection.
pub struct Conn {
    pub stream: TcpStream,
    /// Unique per accepted connection, so a timer armed for an earlier
    /// occupant of the same slot is recognised as stale.
    pub serial: u64,
    pub state: ConnState,
    /// Bytes read and not yet consumed.
    pub input: Vec<u8>,
    /// Bytes to send; `output_sent` of them have been written.
    pub output: Vec<u8>,
    pub output_sent: usize,
    /// When the current head's first byte arrived.
    pub head_started_ms: Option<u64>,
    /// Last read or write progress, for idle and stall deadlines.
    pub last_activity_ms: u64,
    /// The deadline the wheel holds a timer for, if any.
    pub timer_armed_ms: Option<u64>,
    /// Reading stopped before `WouldBlock` (buffer full, parked, back
    /// pressure): mio is edge-triggered, so the server must come back.
    pub read_paused: bool,
    /// The peer shut its sending side.
    pub peer_closed: bool,
    /// An event reported that the peer hung up (EOF or error is waiting).
    pub hang_up_seen: bool,
    /// When the connection entered `Closing`.
    pub closing_since_ms: Option<u64>,
}

impl Conn {
    pub fn new(stream: TcpStream, serial: u64, now_ms: u64) -> Conn {
        Conn {
            stream,
            serial,
            state: ConnState::ReadingHead,
            input: Vec::new(),
            output: Vec::new(),
            output_sent: 0,
            head_started_ms: None,
            last_activity_ms: now_ms,
            timer_armed_ms: None,
            read_paused: false,
            peer_closed: false,
            hang_up_seen: false,
            closing_since_ms: None,
        }
    }

    /// Bytes queued and not yet written.
    pub fn unsent(&self) -> usize {
        self.output.len() - self.output_sent
    }

    /// The deadline of the current state.
    pub fn deadline_ms(&self) -> u64 {
        match &self.state {
            ConnState::ReadingHead => match self.head_started_ms {
                Some(started_ms) => started_ms + HEAD_TIMEOUT_MS,
                None if self.unsent() > 0 => self.last_activity_ms + WRITE_STALL_TIMEOUT_MS,
                None => self.last_activity_ms + IDLE_TIMEOUT_MS,
            },
            ConnState::ReadingBody(body) => self.last_activity_ms + body.idle_timeout_ms(),
            ConnState::LongPoll(parked) => parked.deadline_ms,
            ConnState::WebSocket(ws) => ws.deadline_ms(),
            ConnState::EventStream(stream) => {
                // A reader that takes nothing while bytes wait is closed.
                let unsent = self.unsent() + stream.shared_unsent_bytes();
                let stall_ms = match unsent {
                    0 => u64::MAX,
                    _ => self.last_activity_ms + WRITE_STALL_TIMEOUT_MS,
                };
                stream.deadline_ms(unsent).min(stall_ms)
            }
            ConnState::Closing => {
                self.closing_since_ms.unwrap_or(self.last_activity_ms) + WRITE_STALL_TIMEOUT_MS
            }
        }
    }

    /// Queues a response; a closing one moves the connection to `Closing`.
    /// A response written with room for its head becomes the output as it
    /// is when nothing else waits to be sent (its first bytes count as sent).
    pub fn queue(&mut self, response: Response, head_only: bool, now_ms: u64) {
        let close = response.close;
        if response.has_head_room() && self.unsent() == 0 && !head_only {
            match response.into_bytes(now_ms) {
                Ok((bytes, start)) => {
                    self.output = bytes;
                    self.output_sent = start;
                }
                Err(response) => write_response(&mut self.output, &response, false, now_ms),
            }
        } else {
            write_response(&mut self.output, &response, head_only, now_ms);
        }
        if close {
            self.state = ConnState::Closing;
            self.closing_since_ms = Some(now_ms);
        }
    }

    /// Drops written bytes from the front of `output` once it is drained,
    /// and gives back memory a burst left behind.
    pub fn compact_output(&mut self) {
        if self.output_sent == self.output.len() {
            self.output.clear();
            self.output_sent = 0;
            if self.output.capacity() > OUTPUT_BUFFER_KEEP_BYTES {
                self.output = Vec::new();
            }
        }
    }

    /// Gives back input memory a burst left behind.
    pub fn compact_input(&mut self) {
        if self.input.is_empty() && self.input.capacity() > INPUT_BUFFER_KEEP_BYTES {
            self.input = Vec::new();
        }
    }
}
