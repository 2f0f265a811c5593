//! Reading and writing an accepted connection: until `WouldBlock`, a
//! short read, a per-event byte cap, a full buffer or back pressure. mio
//! is edge-triggered, so a connection that stops early is put on
//! `visits` and driven again on a later turn without an event.

use super::visit_queue::Visit;
use super::{Readiness, Server};
use crate::conn::{Conn, ConnState};
use crate::limits::*;
use crate::verdict::Verdict;
use std::io::{self, Read, Write};

impl Server {
    pub(super) fn drive(
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
            // Nothing more is read from these: a hang-up ends them.
            ConnState::LongPoll(_) | ConnState::EventStream(_) if closed_hint => {
                return Verdict::Close
            }
            _ => {}
        }
        let waiting = matches!(
            conn.state,
            ConnState::LongPoll(_) | ConnState::EventStream(_)
        );
        if conn.peer_closed && drained && !waiting {
            // The peer sent all it will; once our answers are out we are done.
            let complete_head_waiting =
                matches!(conn.state, ConnState::ReadingHead) && !conn.input.is_empty();
            if !complete_head_waiting {
                return Verdict::Close;
            }
        }
        if conn.read_paused && self.can_read(conn) {
            self.visits.push(slot, Visit::Read);
        }
        Verdict::Keep
    }

    pub(super) fn can_read(&self, conn: &Conn) -> bool {
        match conn.state {
            ConnState::Closing | ConnState::LongPoll(_) | ConnState::EventStream(_) => false,
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
                self.visits.push(slot, Visit::Read);
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
    pub(super) fn write_out(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> Verdict {
        if self.refill(conn, now_ms) == Verdict::Close {
            return Verdict::Close;
        }
        let mut written_total = 0;
        loop {
            let room = WRITE_BYTES_PER_EVENT_MAX - written_total;
            // The connection's own output first; a list push (WebSocket or
            // SSE) goes straight from its shared bytes once that is drained.
            let (bytes, from_push) = if conn.unsent() > 0 {
                (&conn.output[conn.output_sent..], false)
            } else if let Some(push) = shared_unsent(&conn.state) {
                (push, true)
            } else {
                break;
            };
            if room == 0 {
                self.visits.push(slot, Visit::Read);
                break;
            }
            match conn.stream.write(&bytes[..bytes.len().min(room)]) {
                Ok(0) => return Verdict::Close,
                Ok(count) => {
                    written_total += count;
                    conn.last_activity_ms = now_ms;
                    if from_push {
                        match &mut conn.state {
                            ConnState::WebSocket(ws) => {
                                self.app.counters.list_pushes_sent +=
                                    u64::from(ws.push_written(count));
                            }
                            ConnState::EventStream(stream) => stream.shared_written(count),
                            _ => {}
                        }
                    } else {
                        conn.output_sent += count;
                    }
                    if conn.unsent() == 0 && self.refill(conn, now_ms) == Verdict::Close {
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
            self.visits.push(slot, Visit::Read);
        }
        Verdict::Keep
    }

    /// Tops up a WebSocket connection's output from its queue and pushes,
    /// or an event stream's from its log or lists.
    fn refill(&self, conn: &mut Conn, now_ms: u64) -> Verdict {
        if !matches!(
            conn.state,
            ConnState::WebSocket(_) | ConnState::EventStream(_)
        ) {
            return Verdict::Keep;
        }
        if conn.output_sent == conn.output.len() {
            conn.output.clear();
            conn.output_sent = 0;
        }
        match &mut conn.state {
            ConnState::WebSocket(ws) => {
                ws.fill_output(&mut conn.output, &mut conn.output_sent, &self.app, now_ms)
            }
            ConnState::EventStream(stream) => {
                let idle = conn.output.is_empty() && stream.shared_unsent().is_none();
                let verdict =
                    stream.fill_output(&mut conn.output, conn.output_sent, &self.app, now_ms);
                if idle && (!conn.output.is_empty() || stream.shared_unsent().is_some()) {
                    // Bytes wait from now on: the stall time counts from here.
                    conn.last_activity_ms = now_ms;
                }
                verdict
            }
            _ => Verdict::Keep,
        }
    }
}

/// The rest of a list push in flight, if any (WebSocket or SSE).
fn shared_unsent(state: &ConnState) -> Option<&[u8]> {
    match state {
        ConnState::WebSocket(ws) => ws.push_unsent(),
        ConnState::EventStream(stream) => stream.shared_unsent(),
        _ => None,
    }
}
