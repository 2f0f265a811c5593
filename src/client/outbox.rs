//! The lines `run` has read and not yet delivered, encoded as NDJSON log
//! entries and cut into batches. Pure (no I/O, no clock: time arrives as
//! `now_ms`); `run` shares one `Outbox` between its pipe readers and its
//! sender behind a mutex.
//!
//! Bounds: at most `RUN_UNSENT_LINES_MAX` lines and `RUN_UNSENT_BYTES_MAX`
//! bytes are held, counting the batch on its way to the server; a line
//! that does not fit is counted in `undelivered` and dropped (the newest
//! go, so what is kept stays in order behind what was delivered). A batch
//! is sealed once it reaches `RUN_BATCH_BYTES_MAX`; the open batch is
//! ready `RUN_BATCH_WINDOW_MS` after its first line.

use std::collections::VecDeque;

use crate::http::response::write_json_string;
use crate::level::Level;
use crate::limits::{
    RUN_BATCH_BYTES_MAX, RUN_BATCH_WINDOW_MS, RUN_UNSENT_BYTES_MAX, RUN_UNSENT_LINES_MAX,
};

/// Lines encoded as NDJSON, one after another, with where each ends.
#[derive(Default)]
pub struct EncodedLines {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl EncodedLines {
    /// Appends one entry: `{"level":..,"timestamp":..,"message":..}`. Bytes
    /// that are not UTF-8 become U+FFFD; the message is escaped as JSON.
    pub fn push(&mut self, level: Level, timestamp: &[u8; 24], message: &[u8]) {
        self.bytes.extend_from_slice(b"{\"level\":\"");
        self.bytes.extend_from_slice(level.as_str().as_bytes());
        self.bytes.extend_from_slice(b"\",\"timestamp\":\"");
        self.bytes.extend_from_slice(timestamp);
        self.bytes.extend_from_slice(b"\",\"message\":");
        write_json_string(&mut self.bytes, &String::from_utf8_lossy(message));
        self.bytes.extend_from_slice(b"}\n");
        self.ends.push(self.bytes.len());
    }

    pub fn line_count(&self) -> usize {
        self.ends.len()
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }
}

/// Lines for one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    pub bytes: Vec<u8>,
    pub line_count: usize,
}

/// What the sender should do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Take {
    Send(Batch),
    /// The open batch is ready at this time (or sooner, if it fills up).
    WaitUntil(u64),
    /// Nothing held.
    Empty,
}

#[derive(Default)]
pub struct Outbox {
    /// Sealed batches, then the open one (last, when `open_since_ms` is set).
    batches: VecDeque<Batch>,
    /// When the open batch got its first line.
    open_since_ms: Option<u64>,
    /// Held lines and bytes, the batch being sent included.
    unsent_lines: usize,
    unsent_bytes: usize,
    /// Lines that will not reach the log: refused here or given up on.
    pub undelivered: u64,
    /// No more lines will come: the open batch is ready at once.
    pub closed: bool,
}

impl Outbox {
    pub fn new() -> Outbox {
        Outbox::default()
    }

    /// Lines that would be accepted now.
    pub fn line_room(&self) -> usize {
        RUN_UNSENT_LINES_MAX - self.unsent_lines
    }

    /// True when all of `lines` would be accepted now.
    pub fn fits(&self, lines: &EncodedLines) -> bool {
        lines.ends.len() <= self.line_room()
            && lines.bytes.len() <= RUN_UNSENT_BYTES_MAX - self.unsent_bytes
    }

    /// Takes as many of `lines` (in order) as the bounds allow, counting the
    /// rest as undelivered; returns how many were taken.
    pub fn push(&mut self, lines: &EncodedLines, now_ms: u64) -> usize {
        let mut taken = lines.ends.len().min(self.line_room());
        let byte_room = RUN_UNSENT_BYTES_MAX - self.unsent_bytes;
        while taken > 0 && lines.ends[taken - 1] > byte_room {
            taken -= 1;
        }
        self.undelivered += (lines.ends.len() - taken) as u64;
        let mut start = 0;
        for &end in &lines.ends[..taken] {
            self.open_batch(now_ms)
                .bytes
                .extend_from_slice(&lines.bytes[start..end]);
            self.finish_line(end - start);
            start = end;
        }
        taken
    }

    fn open_batch(&mut self, now_ms: u64) -> &mut Batch {
        if self.open_since_ms.is_none() {
            self.open_since_ms = Some(now_ms);
            self.batches.push_back(Batch::default());
        }
        let last = self.batches.len() - 1;
        &mut self.batches[last]
    }

    fn finish_line(&mut self, size: usize) {
        self.unsent_lines += 1;
        self.unsent_bytes += size;
        if let Some(open) = self.batches.back_mut() {
            open.line_count += 1;
            if open.bytes.len() >= RUN_BATCH_BYTES_MAX {
                self.open_since_ms = None;
            }
        }
    }

    /// The next batch to send, if one is ready at `now_ms`. It stays
    /// counted as held until `settle`.
    pub fn take(&mut self, now_ms: u64) -> Take {
        let sealed = self.batches.len() > 1 || self.open_since_ms.is_none();
        match (self.batches.front(), self.open_since_ms) {
            (None, _) => Take::Empty,
            (Some(_), Some(since)) if !sealed && !self.closed => {
                let ready_ms = since + RUN_BATCH_WINDOW_MS;
                if now_ms < ready_ms {
                    return Take::WaitUntil(ready_ms);
                }
                self.pop()
            }
            (Some(_), _) => self.pop(),
        }
    }

    fn pop(&mut self) -> Take {
        if self.batches.len() == 1 {
            self.open_since_ms = None;
        }
        match self.batches.pop_front() {
            Some(batch) => Take::Send(batch),
            None => Take::Empty,
        }
    }

    /// A taken batch is done with: delivered, or given up on.
    pub fn settle(&mut self, line_count: usize, byte_count: usize, delivered: bool) {
        debug_assert!(line_count <= self.unsent_lines && byte_count <= self.unsent_bytes);
        self.unsent_lines -= line_count;
        self.unsent_bytes -= byte_count;
        if !delivered {
            self.undelivered += line_count as u64;
        }
    }

    /// Gives up on everything held but not taken (the service refused us
    /// for good, or time ran out).
    pub fn drop_held(&mut self) {
        while let Some(batch) = self.batches.pop_front() {
            self.settle(batch.line_count, batch.bytes.len(), false);
        }
        self.open_since_ms = None;
    }

    pub fn unsent_lines(&self) -> usize {
        self.unsent_lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIME: &[u8; 24] = b"2026-12-03T10:00:00.000Z";

    fn lines(count: usize) -> EncodedLines {
        let mut lines = EncodedLines::default();
        for _ in 0..count {
            lines.push(Level::Info, TIME, b"y");
        }
        lines
    }

    #[test]
    fn entries_are_ndjson_the_server_reads() {
        let mut encoded = EncodedLines::default();
        encoded.push(Level::Warn, TIME, b"say \"hi\"\\ \t\x01 \xff");
        let text = String::from_utf8(encoded.bytes.clone()).expect("utf-8");
        assert_eq!(
            text,
            "{\"level\":\"warn\",\"timestamp\":\"2026-12-03T10:00:00.000Z\",\
             \"message\":\"say \\\"hi\\\"\\\\ \\t\\u0001 \u{fffd}\"}\n"
        );
        let entries = crate::ingest::parse_ndjson_body(&encoded.bytes).expect("valid");
        assert_eq!(entries.len(), 1);
    }

    #[test]
    fn unsent_lines_bound_at_max_minus_one_max_and_max_plus_one() {
        for (count, taken) in [
            (RUN_UNSENT_LINES_MAX - 1, RUN_UNSENT_LINES_MAX - 1),
            (RUN_UNSENT_LINES_MAX, RUN_UNSENT_LINES_MAX),
            (RUN_UNSENT_LINES_MAX + 1, RUN_UNSENT_LINES_MAX),
        ] {
            let mut outbox = Outbox::new();
            assert_eq!(outbox.push(&lines(count), 0), taken);
            assert_eq!(outbox.undelivered, (count - taken) as u64);
            assert_eq!(outbox.unsent_lines(), taken);
        }
    }

    #[test]
    fn a_batch_in_flight_counts_until_settled() {
        let mut outbox = Outbox::new();
        outbox.push(&lines(RUN_UNSENT_LINES_MAX), 0);
        let mut held = 0;
        outbox.closed = true;
        let mut first = None;
        while let Take::Send(batch) = outbox.take(0) {
            held += batch.line_count;
            first.get_or_insert(batch);
        }
        assert_eq!(held, RUN_UNSENT_LINES_MAX);
        // Everything is on its way; nothing more fits until a batch settles.
        assert_eq!(outbox.push(&lines(1), 0), 0);
        let first = first.expect("a batch");
        outbox.settle(first.line_count, first.bytes.len(), true);
        assert_eq!(outbox.push(&lines(1), 0), 1);
        assert_eq!(outbox.undelivered, 1);
    }

    #[test]
    fn batches_wait_for_the_window_or_fill_up() {
        let mut outbox = Outbox::new();
        assert_eq!(outbox.take(0), Take::Empty);
        outbox.push(&lines(3), 100);
        assert_eq!(outbox.take(100), Take::WaitUntil(100 + RUN_BATCH_WINDOW_MS));
        outbox.push(&lines(1), 103);
        let Take::Send(batch) = outbox.take(100 + RUN_BATCH_WINDOW_MS) else {
            panic!("ready after the window")
        };
        assert_eq!(batch.line_count, 4);
        assert_eq!(outbox.take(200), Take::Empty);
        // A batch that reaches RUN_BATCH_BYTES_MAX goes at once.
        let per_line = lines(1).bytes.len();
        outbox.push(&lines(RUN_BATCH_BYTES_MAX / per_line + 1), 300);
        let Take::Send(full) = outbox.take(300) else {
            panic!("full batch goes at once")
        };
        assert!(full.bytes.len() >= RUN_BATCH_BYTES_MAX);
        assert!(full.bytes.len() < RUN_BATCH_BYTES_MAX + per_line);
    }

    #[test]
    fn dropped_held_lines_are_undelivered() {
        let mut outbox = Outbox::new();
        outbox.push(&lines(5), 0);
        outbox.drop_held();
        assert_eq!((outbox.undelivered, outbox.unsent_lines()), (5, 0));
    }
}
