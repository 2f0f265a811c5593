//! A connection's timer fired: stale timers are ignored, a deadline that
//! passed is handled by the state it belongs to (408 for a slow head or
//! body, an empty page for a long-poll, a ping or close for a WebSocket,
//! close for an idle or stuck connection).

use super::request::keep_partial_line;
use super::visit_queue::Visit;
use super::Server;
use crate::api;
use crate::conn::{Conn, ConnState};
use crate::http::response::Response;
use crate::limits::*;
use crate::verdict::Verdict;
use crate::watchers::{Watcher, WatcherKind};

impl Server {
    pub(super) fn on_conn_timer(&mut self, slot: usize, serial: u64, at_ms: u64, now_ms: u64) {
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
        self.settle(slot, conn, verdict, now_ms);
    }

    /// The deadline of a connection's state has passed.
    fn on_deadline(&mut self, slot: usize, conn: &mut Conn, now_ms: u64) -> Verdict {
        match &mut conn.state {
            ConnState::ReadingHead if conn.head_started_ms.is_some() => {
                let message = format!("request head not complete within {HEAD_TIMEOUT_MS} ms");
                let response = Response::error(408, &message).closing();
                api::log_refusal(&mut self.app, None, &response, now_ms);
                self.app.counters.count_answer(None, 408);
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
                self.app.counters.count_answer(Some(body.head.method), 408);
                conn.input.clear();
                conn.queue(response, false, now_ms);
                self.write_out(slot, conn, now_ms)
            }
            ConnState::LongPoll(parked) => {
                let watcher = Watcher::new(WatcherKind::LongPoll, slot, conn.serial);
                self.watchers.unwatch(&parked.session_id, watcher);
                self.answer_parked(conn, now_ms);
                // Pipelined requests may wait behind it, and the answer
                // must go out.
                self.visits.push(slot, Visit::Read);
                Verdict::Keep
            }
            ConnState::WebSocket(ws) => {
                if ws.on_deadline(now_ms) == Verdict::Close {
                    return Verdict::Close;
                }
                self.write_out(slot, conn, now_ms)
            }
            ConnState::EventStream(stream) => {
                let unsent = conn.output.len() - conn.output_sent + stream.shared_unsent_bytes();
                if unsent > 0 && now_ms >= conn.last_activity_ms + WRITE_STALL_TIMEOUT_MS {
                    self.note_stalled_stream(conn, now_ms);
                    return Verdict::Close;
                }
                if stream.on_deadline(&mut conn.output, unsent, now_ms) == Verdict::Close {
                    return Verdict::Close;
                }
                self.write_out(slot, conn, now_ms)
            }
            // Idle keep-alive, or a reader that stopped reading: close.
            ConnState::ReadingHead | ConnState::Closing => Verdict::Close,
        }
    }
}
