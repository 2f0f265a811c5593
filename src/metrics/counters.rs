//! The server's counters for `/metrics`: plain integers owned by the one
//! thread, bumped where the event happens (no atomics, no locks). The set
//! is fixed (no per-session labels), so the answer has a bounded size.

use crate::http::head::Method;
use crate::level::Level;
use crate::log_ring::{LogTally, LEVEL_COUNT};

/// The methods the answer counts, in label order; `Method::Other` (and a
/// request whose head could not be read) is `OTHER`.
pub const METHOD_LABELS: [&str; 6] = ["GET", "HEAD", "POST", "PUT", "DELETE", "OTHER"];
/// Status classes, in label order.
pub const CODE_LABELS: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Entries appended and evicted, and the bytes pushed, over every ring.
    pub log: LogTally,
    /// Entries the server read out of a body but did not append, because
    /// the session had ended or gone (a JSON/NDJSON batch, whole; the lines
    /// of a text body that arrived after it ended), by level.
    pub entries_refused: [u64; LEVEL_COUNT],
    /// Answers sent, by method and status class.
    pub http_answers: [[u64; CODE_LABELS.len()]; METHOD_LABELS.len()],
    /// Connections accepted and closed at once: `--max-connections`.
    pub connections_refused_max: u64,
    /// Upgraded connections open now (echo clients included).
    pub websocket_clients: u64,
    /// Server-sent-event clients open now: none yet (no SSE route); the
    /// series is there so dashboards need no change when it comes.
    pub sse_clients: u64,
    /// Log reads parked with `wait=` now.
    pub long_polls_parked: u64,
    /// Session-list pushes written in full to a client.
    pub list_pushes_sent: u64,
    /// Session-list pushes replaced by a newer one before they started.
    pub list_pushes_stale: u64,
}

impl Counters {
    /// One answer with `status` to a request with `method` (`None`: the
    /// head could not be read).
    pub fn count_answer(&mut self, method: Option<Method>, status: u16) {
        let method_index = match method {
            Some(Method::Get) => 0,
            Some(Method::Head) => 1,
            Some(Method::Post) => 2,
            Some(Method::Put) => 3,
            Some(Method::Delete) => 4,
            Some(Method::Other) | None => 5,
        };
        let class_index = usize::from(status / 100).clamp(1, CODE_LABELS.len()) - 1;
        self.http_answers[method_index][class_index] += 1;
    }

    /// `count` entries at `level` were refused.
    pub fn refuse(&mut self, level: Level, count: u64) {
        self.entries_refused[level as usize] += count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_land_in_their_method_and_class() {
        let mut counters = Counters::default();
        counters.count_answer(Some(Method::Get), 200);
        counters.count_answer(Some(Method::Get), 101);
        counters.count_answer(Some(Method::Delete), 599);
        counters.count_answer(None, 400);
        counters.count_answer(Some(Method::Other), 405);
        assert_eq!(counters.http_answers[0], [1, 1, 0, 0, 0]);
        assert_eq!(counters.http_answers[4], [0, 0, 0, 0, 1]);
        assert_eq!(counters.http_answers[5], [0, 0, 0, 2, 0]);
    }

    #[test]
    fn a_status_outside_the_classes_is_clamped_not_a_panic() {
        let mut counters = Counters::default();
        counters.count_answer(Some(Method::Put), 0);
        counters.count_answer(Some(Method::Put), 999);
        assert_eq!(counters.http_answers[3], [1, 0, 0, 0, 1]);
    }
}
