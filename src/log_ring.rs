//! LogRing: one session's log, a fixed-capacity ring of compact records.
//!
//! A server holds thousands of sessions of up to 10,000 lines each, so an
//! entry is not a struct of `String`s (three allocations and ~100 bytes of
//! headers per line) but a record packed into contiguous byte blocks:
//!
//! ```text
//! timestamp_ms: 6 bytes LE | flags: 1 byte | message_len: varint
//! | data_len: varint (only with FLAG_DATA) | message | data
//! ```
//!
//! The flags byte holds the level in bits 0-1, `truncated` in bit 2,
//! "has data" in bit 3 and "the message goes into JSON as it is" in bit 4:
//! a message is tested for characters JSON escapes once, when it is
//! pushed, so that the pages read from it (many per entry, for every
//! follower) copy it without looking at its bytes again. Blocks are `BLOCK_BYTES` long and live in a deque
//! ordered by cursor; a record bigger than a block gets its own block of
//! exactly its size. Eviction moves the front block's start forward and
//! frees the block once its last record is gone, so memory follows the
//! entries held: it grows lazily (an empty ring allocates nothing, the
//! first block starts small) and stays bounded in steady state. A read
//! binary-searches the blocks by first cursor and walks one block, so its
//! cost is the entries it yields plus a bounded seek, never the ring.

use std::collections::VecDeque;

use crate::json_plain::json_plain;
use crate::level::Level;
use crate::limits::{ENTRY_DATA_BYTES_MAX, LOG_RING_BYTES_MAX, MESSAGE_BYTES_MAX};

/// Size of one storage block; records are packed inside, none straddles two.
const BLOCK_BYTES: usize = 16 * 1024;
/// First block of a ring: small, so that a session with a few lines stays
/// small; it doubles up to `BLOCK_BYTES` as lines arrive.
const BLOCK_START_BYTES: usize = 1024;
/// A closed block keeps unused capacity of at most 1/this of its used bytes
/// (more is given back), so blocks cut short by a big record waste little.
const BLOCK_SLACK_DIVISOR: usize = 16;
/// Timestamps are stored in 48 bits (good until the year 10889); larger
/// ones are clamped to this.
const TIMESTAMP_MS_MAX: u64 = (1 << 48) - 1;
/// Bytes of the fixed part of a record header: timestamp and flags.
const HEADER_FIXED_BYTES: usize = 7;
/// Most bytes a varint of a `usize` takes (seven bits per byte).
const VARINT_BYTES_MAX: usize = usize::BITS.div_ceil(7) as usize;
/// Most bytes of a record header: the fixed part and two varints.
const HEADER_BYTES_MAX: usize = HEADER_FIXED_BYTES + 2 * VARINT_BYTES_MAX;

const FLAG_LEVEL_MASK: u8 = 0b0011;
const FLAG_TRUNCATED: u8 = 0b0100;
const FLAG_DATA: u8 = 0b1000;
const FLAG_JSON_PLAIN: u8 = 0b1_0000;

const _: () = assert!(BLOCK_START_BYTES <= BLOCK_BYTES);
const _: () = assert!(BLOCK_BYTES <= LOG_RING_BYTES_MAX);

/// One entry as read back from the ring; borrows the ring's bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    pub cursor: u64,
    pub timestamp_ms: u64,
    pub level: Level,
    /// The message was cut to `MESSAGE_BYTES_MAX` on the way in.
    pub truncated: bool,
    pub message: &'a str,
    /// The entry's `data` object, already serialized as compact JSON.
    pub data: Option<&'a str>,
}

/// One entry as the ring holds it: the same fields as `Entry`, with the
/// message and data as bytes. They are UTF-8 (they were `&str`s when
/// pushed) but not checked again, which was a sixth of the work of sending
/// a page or an export batch; the consumers that need a `&str` check
/// (`validated`), the rest copy bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawEntry<'a> {
    pub cursor: u64,
    pub timestamp_ms: u64,
    pub level: Level,
    pub truncated: bool,
    pub message: &'a [u8],
    pub data: Option<&'a [u8]>,
    /// `message` has no character JSON escapes (`json_plain`), as tested
    /// when it was pushed.
    pub message_json_plain: bool,
    /// `message` and the bytes after it in the ring's block (at least the
    /// message): a writer may copy a short message as a block of a fixed
    /// size from here and cut what follows it (a fixed-size copy is a few
    /// moves; one of a length known only at run time is a call).
    pub message_and_after: &'a [u8],
}

impl<'a> RawEntry<'a> {
    /// The entry with its text as `&str`.
    pub fn validated(self) -> Entry<'a> {
        Entry {
            cursor: self.cursor,
            timestamp_ms: self.timestamp_ms,
            level: self.level,
            truncated: self.truncated,
            message: str_stored(self.message),
            data: self.data.map(str_stored),
        }
    }
}

impl<'a> From<Entry<'a>> for RawEntry<'a> {
    fn from(entry: Entry<'a>) -> RawEntry<'a> {
        RawEntry {
            cursor: entry.cursor,
            timestamp_ms: entry.timestamp_ms,
            level: entry.level,
            truncated: entry.truncated,
            message: entry.message.as_bytes(),
            data: entry.data.map(str::as_bytes),
            message_json_plain: json_plain(entry.message.as_bytes()),
            message_and_after: entry.message.as_bytes(),
        }
    }
}
/// What pushes did to the rings they went to, by level code (`Level as
/// usize`): kept by the server across every ring, read by `/metrics`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogTally {
    pub appended: [u64; LEVEL_COUNT],
    /// Entries evicted to make room (capacity or byte cap), by their level.
    pub evicted: [u64; LEVEL_COUNT],
    /// Encoded record bytes pushed, and evicted: their difference is what
    /// the rings hold, less the rings of sessions evicted whole.
    pub bytes_added: u64,
    pub bytes_evicted: u64,
}

/// Levels a record can hold (two bits of the flags byte).
pub const LEVEL_COUNT: usize = 4;
/// Each level at its code (`Level as usize`): a record's two bits index it.
const LEVELS_BY_CODE: [Level; LEVEL_COUNT] = [Level::Debug, Level::Info, Level::Warn, Level::Error];
const _: () = assert!(Level::Error as usize == LEVEL_COUNT - 1);
const _: () = assert!(
    HEADER_FIXED_BYTES + 1 == 8,
    "a header is read as one 8-byte word"
);

/// Entries of one session. Holds at most `capacity` entries and at most
/// `LOG_RING_BYTES_MAX` bytes; older entries are evicted and counted.
pub struct LogRing {
    /// Blocks in cursor order; none is empty.
    blocks: VecDeque<Block>,
    entry_count_max: usize,
    record_bytes_max: usize,
    entry_count: usize,
    /// Sum of the encoded sizes of the records held.
    record_bytes: usize,
    next_cursor: u64,
    dropped: u64,
}

/// A run of records with consecutive cursors, packed back to back.
struct Block {
    /// Cursor of the record at `start`.
    first_cursor: u64,
    /// Offset of the oldest record held; above 0 only in the front block.
    start: usize,
    bytes: Vec<u8>,
}

impl LogRing {
    pub fn new(capacity: usize) -> LogRing {
        LogRing::with_bytes_max(capacity, LOG_RING_BYTES_MAX)
    }

    /// A ring with a smaller byte cap than `LOG_RING_BYTES_MAX` (tests and
    /// simulations use it to reach the cap with few entries).
    pub fn with_bytes_max(capacity: usize, record_bytes_max: usize) -> LogRing {
        assert!(capacity >= 1, "a log ring holds at least one entry");
        assert!(record_bytes_max <= LOG_RING_BYTES_MAX);
        LogRing {
            blocks: VecDeque::new(),
            entry_count_max: capacity,
            record_bytes_max,
            entry_count: 0,
            record_bytes: 0,
            next_cursor: 0,
            dropped: 0,
        }
    }

    /// Appends one entry and returns its cursor. Evicts the oldest entries
    /// while over the entry capacity or the byte cap (the new entry always
    /// stays). A message over `MESSAGE_BYTES_MAX` is cut at a char boundary
    /// and flagged truncated; a timestamp past 48 bits is clamped.
    pub fn push(
        &mut self,
        timestamp_ms: u64,
        level: Level,
        truncated: bool,
        message: &str,
        data: Option<&str>,
    ) -> u64 {
        let mut tally = LogTally::default();
        self.push_tallied(&mut tally, timestamp_ms, level, truncated, message, data)
    }

    /// `push`, adding what it did (the entry, evictions, bytes) to `tally`:
    /// the server's counters for `/metrics`, summed over every ring.
    pub fn push_tallied(
        &mut self,
        tally: &mut LogTally,
        timestamp_ms: u64,
        level: Level,
        truncated: bool,
        message: &str,
        data: Option<&str>,
    ) -> u64 {
        debug_assert!(data.is_none_or(|data| data.len() <= ENTRY_DATA_BYTES_MAX));
        let (message, truncated) = message_cut(message, truncated);
        let header = Header {
            timestamp_ms: timestamp_ms.min(TIMESTAMP_MS_MAX),
            flags: flags_encode(
                level,
                truncated,
                data.is_some(),
                json_plain(message.as_bytes()),
            ),
            message_len: message.len(),
            data_len: data.map(str::len),
        };
        // Encoded on the stack and appended whole: one capacity check
        // instead of one per header byte.
        let (header_bytes, header_len) = header.encode();
        let record_len = header_len + message.len() + data.map_or(0, str::len);
        debug_assert_eq!(record_len, header.record_len());
        let bytes = self.tail_for(record_len);
        let offset = bytes.len();
        bytes.extend_from_slice(&header_bytes[..header_len]);
        bytes.extend_from_slice(message.as_bytes());
        if let Some(data) = data {
            bytes.extend_from_slice(data.as_bytes());
        }
        debug_assert_eq!(bytes.len() - offset, record_len);

        let cursor = self.next_cursor;
        self.next_cursor += 1;
        self.entry_count += 1;
        self.record_bytes += record_len;
        tally.appended[level as usize] += 1;
        tally.bytes_added += record_len as u64;
        self.evict_over_limits(tally);
        cursor
    }

    /// Cursor the next pushed entry will get.
    pub fn next_cursor(&self) -> u64 {
        self.next_cursor
    }

    /// Cursor of the oldest entry held (== next_cursor when empty).
    pub fn first_cursor(&self) -> u64 {
        self.next_cursor - self.entry_count as u64
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entry_count
    }

    pub fn is_empty(&self) -> bool {
        self.entry_count == 0
    }

    /// Entries evicted so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Most entries held (the `capacity` given at creation).
    pub fn capacity(&self) -> usize {
        self.entry_count_max
    }

    /// Encoded bytes of the records held: what the byte cap limits.
    pub fn record_bytes(&self) -> usize {
        self.record_bytes
    }

    /// Entries with cursor >= `cursor`, oldest first (starting at
    /// `first_cursor()` when `cursor` was evicted). Cost O(entries yielded)
    /// plus a bounded seek.
    pub fn iter_from(&self, cursor: u64) -> impl Iterator<Item = Entry<'_>> + '_ {
        self.raw_iter_from(cursor).map(RawEntry::validated)
    }

    /// `iter_from` without checking the text again (see `RawEntry`).
    pub fn raw_iter_from(&self, cursor: u64) -> impl Iterator<Item = RawEntry<'_>> + '_ {
        let cursor = cursor.max(self.first_cursor());
        let (block_index, offset) = self.seek(cursor);
        let block_bytes = self.blocks.get(block_index).map_or(&[][..], |b| &b.bytes);
        Iter {
            blocks: &self.blocks,
            block_index,
            block_bytes,
            offset,
            cursor,
            end_cursor: self.next_cursor,
        }
    }

    /// `raw_iter_from(cursor).take(count)`, walked from inside: each entry
    /// goes to `each` as it is decoded. A page writer's path, where the
    /// iterator's `next` returning each entry was a quarter of the work.
    #[inline]
    pub fn for_each_raw<'a>(
        &'a self,
        cursor: u64,
        count: usize,
        mut each: impl FnMut(RawEntry<'a>),
    ) {
        let mut cursor = cursor.max(self.first_cursor());
        let end = self.next_cursor.min(cursor.saturating_add(count as u64));
        let (mut block_index, mut offset) = self.seek(cursor);
        while cursor < end {
            let bytes = &self.blocks[block_index].bytes[..];
            while offset < bytes.len() && cursor < end {
                let (entry, next) = record_decode(bytes, offset, cursor);
                each(entry);
                offset = next;
                cursor += 1;
            }
            // Only the front block starts past its first byte.
            block_index += 1;
            offset = 0;
        }
    }

    /// Heap bytes this ring holds (allocated capacity), for memory tests.
    pub fn heap_bytes(&self) -> usize {
        let blocks_bytes: usize = self.blocks.iter().map(|b| b.bytes.capacity()).sum();
        blocks_bytes + self.blocks.capacity() * std::mem::size_of::<Block>()
    }

    /// The tail block's bytes, with room for `record_len` more: a new block
    /// when the record does not fit in the current tail.
    fn tail_for(&mut self, record_len: usize) -> &mut Vec<u8> {
        let fits = self
            .blocks
            .back()
            .is_some_and(|b| b.bytes.len() + record_len <= BLOCK_BYTES);
        if !fits {
            if let Some(tail) = self.blocks.back_mut() {
                tail.close();
            }
            let capacity = match (record_len > BLOCK_BYTES, self.blocks.is_empty()) {
                (true, _) => record_len,
                (false, true) => record_len.max(BLOCK_START_BYTES),
                (false, false) => BLOCK_BYTES,
            };
            let bytes = Vec::with_capacity(capacity);
            self.blocks.push_back(Block {
                first_cursor: self.next_cursor,
                start: 0,
                bytes,
            });
        }
        let tail = self
            .blocks
            .back_mut()
            .expect("a tail block was just ensured");
        tail.reserve(record_len);
        &mut tail.bytes
    }

    fn evict_over_limits(&mut self, tally: &mut LogTally) {
        while self.entry_count > self.entry_count_max
            || (self.record_bytes > self.record_bytes_max && self.entry_count > 1)
        {
            self.evict_oldest(tally);
        }
    }

    fn evict_oldest(&mut self, tally: &mut LogTally) {
        let front = self
            .blocks
            .front_mut()
            .expect("a held entry lives in a block");
        let end = record_skip(&front.bytes, front.start);
        // The flags byte follows the 6-byte timestamp.
        let flags = front.bytes[front.start + HEADER_FIXED_BYTES - 1];
        tally.evicted[usize::from(flags & FLAG_LEVEL_MASK)] += 1;
        tally.bytes_evicted += (end - front.start) as u64;
        self.record_bytes -= end - front.start;
        front.start = end;
        front.first_cursor += 1;
        if front.start == front.bytes.len() {
            self.blocks.pop_front();
        }
        self.entry_count -= 1;
        self.dropped += 1;
    }

    /// Block index and byte offset of the record with `cursor`, or one past
    /// the last block when `cursor` is not held yet. `cursor` is held or
    /// future (never evicted).
    fn seek(&self, cursor: u64) -> (usize, usize) {
        if cursor >= self.next_cursor {
            return (self.blocks.len(), 0);
        }
        debug_assert!(cursor >= self.first_cursor());
        let block_index = self.blocks.partition_point(|b| b.first_cursor <= cursor) - 1;
        let block = &self.blocks[block_index];
        let mut offset = block.start;
        for _ in block.first_cursor..cursor {
            offset = record_skip(&block.bytes, offset);
        }
        (block_index, offset)
    }
}

impl Block {
    /// Makes room for a record of `record_len` that fits in the block; only
    /// the small first block of a ring ever has to grow (it doubles).
    fn reserve(&mut self, record_len: usize) {
        let len = self.bytes.len();
        if self.bytes.capacity() - len >= record_len {
            return;
        }
        let target = (2 * self.bytes.capacity()).clamp(len + record_len, BLOCK_BYTES);
        debug_assert!(target >= len + record_len, "the record fits in the block");
        self.bytes.reserve_exact(target - len);
    }

    /// No record will be appended any more: give back a large unused tail.
    fn close(&mut self) {
        let slack = self.bytes.capacity() - self.bytes.len();
        if slack > self.bytes.len() / BLOCK_SLACK_DIVISOR {
            self.bytes.shrink_to_fit();
        }
    }
}

/// Walks the records of the ring's blocks from a position, oldest first.
struct Iter<'a> {
    blocks: &'a VecDeque<Block>,
    block_index: usize,
    /// The bytes of `blocks[block_index]` (empty past the last block),
    /// held so that each record is not a deque look-up.
    block_bytes: &'a [u8],
    offset: usize,
    cursor: u64,
    end_cursor: u64,
}

impl<'a> Iterator for Iter<'a> {
    type Item = RawEntry<'a>;

    #[inline]
    fn next(&mut self) -> Option<RawEntry<'a>> {
        if self.cursor >= self.end_cursor {
            return None;
        }
        if self.offset == self.block_bytes.len() {
            self.block_index += 1;
            let block = &self.blocks[self.block_index];
            self.block_bytes = &block.bytes;
            self.offset = block.start;
            debug_assert_eq!(block.first_cursor, self.cursor);
        }
        let (entry, end) = record_decode(self.block_bytes, self.offset, self.cursor);
        self.offset = end;
        self.cursor += 1;
        Some(entry)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = usize::try_from(self.end_cursor.saturating_sub(self.cursor));
        let remaining = remaining.unwrap_or(usize::MAX);
        (remaining, Some(remaining))
    }
}

/// The fields in front of a record's message and data.
struct Header {
    timestamp_ms: u64,
    flags: u8,
    message_len: usize,
    data_len: Option<usize>,
}

impl Header {
    fn record_len(&self) -> usize {
        let data_len = self.data_len.map_or(0, |len| varint_len(len) + len);
        HEADER_FIXED_BYTES + varint_len(self.message_len) + self.message_len + data_len
    }

    /// The header's bytes: the first `.1` of `.0`.
    fn encode(&self) -> ([u8; HEADER_BYTES_MAX], usize) {
        debug_assert!(self.timestamp_ms <= TIMESTAMP_MS_MAX);
        let mut out = [0u8; HEADER_BYTES_MAX];
        out[..6].copy_from_slice(&self.timestamp_ms.to_le_bytes()[..6]);
        out[6] = self.flags;
        let mut len = varint_encode(&mut out, HEADER_FIXED_BYTES, self.message_len);
        if let Some(data_len) = self.data_len {
            len = varint_encode(&mut out, len, data_len);
        }
        (out, len)
    }

    /// Reads the header at `offset`; returns it and the offset of the message.
    #[inline(always)]
    fn decode(bytes: &[u8], offset: usize) -> (Header, usize) {
        // Every record starts with at least eight bytes (the fixed part and
        // a varint): one load holds the timestamp, the flags and, for a
        // message under 128 bytes, its length.
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[offset..offset + 8]);
        let word = u64::from_le_bytes(word);
        let timestamp_ms = word & TIMESTAMP_MS_MAX;
        let flags = (word >> 48) as u8;
        let first_len_byte = (word >> 56) as u8;
        let mut at = offset + HEADER_FIXED_BYTES;
        let message_len = if first_len_byte < 0x80 {
            at += 1;
            usize::from(first_len_byte)
        } else {
            varint_decode(bytes, &mut at)
        };
        let data_len = (flags & FLAG_DATA != 0).then(|| varint_decode(bytes, &mut at));
        (
            Header {
                timestamp_ms,
                flags,
                message_len,
                data_len,
            },
            at,
        )
    }
}

/// Offset just past the record at `offset`.
fn record_skip(bytes: &[u8], offset: usize) -> usize {
    let (header, at) = Header::decode(bytes, offset);
    at + header.message_len + header.data_len.unwrap_or(0)
}

/// The entry at `offset` and the offset just past it.
#[inline(always)]
fn record_decode(bytes: &[u8], offset: usize, cursor: u64) -> (RawEntry<'_>, usize) {
    let (header, message_start) = Header::decode(bytes, offset);
    let message_end = message_start + header.message_len;
    let data_end = message_end + header.data_len.unwrap_or(0);
    let entry = RawEntry {
        cursor,
        timestamp_ms: header.timestamp_ms,
        level: LEVELS_BY_CODE[usize::from(header.flags & FLAG_LEVEL_MASK)],
        truncated: header.flags & FLAG_TRUNCATED != 0,
        message: &bytes[message_start..message_end],
        message_and_after: &bytes[message_start..],
        data: header.data_len.map(|_| &bytes[message_end..data_end]),
        message_json_plain: header.flags & FLAG_JSON_PLAIN != 0,
    };
    (entry, data_end)
}

/// Bytes that were a `&str` when pushed.
fn str_stored(bytes: &[u8]) -> &str {
    std::str::from_utf8(bytes).expect("the ring stores only bytes copied from a str")
}

fn flags_encode(level: Level, truncated: bool, has_data: bool, json_plain: bool) -> u8 {
    let level_code = level as u8;
    debug_assert_eq!(level_code & !FLAG_LEVEL_MASK, 0);
    let truncated_flag = if truncated { FLAG_TRUNCATED } else { 0 };
    let data_flag = if has_data { FLAG_DATA } else { 0 };
    let plain_flag = if json_plain { FLAG_JSON_PLAIN } else { 0 };
    level_code | truncated_flag | data_flag | plain_flag
}

/// `message` cut to `MESSAGE_BYTES_MAX` at a char boundary, and whether it
/// is (now or already) truncated.
fn message_cut(message: &str, truncated: bool) -> (&str, bool) {
    if message.len() <= MESSAGE_BYTES_MAX {
        return (message, truncated);
    }
    let mut end = MESSAGE_BYTES_MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    (&message[..end], true)
}

/// LEB128: seven bits per byte, low first, high bit set on all but the last.
/// Writes `value` at `out[at..]`; returns the offset just past it.
fn varint_encode(out: &mut [u8], mut at: usize, mut value: usize) -> usize {
    while value >= 0x80 {
        out[at] = (value as u8 & 0x7f) | 0x80;
        value >>= 7;
        at += 1;
    }
    out[at] = value as u8;
    at + 1
}

fn varint_decode(bytes: &[u8], at: &mut usize) -> usize {
    let mut value = 0usize;
    let mut shift = 0;
    loop {
        let byte = bytes[*at];
        *at += 1;
        value |= usize::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return value;
        }
        shift += 7;
        debug_assert!(shift < usize::BITS, "varint longer than a usize");
    }
}

fn varint_len(value: usize) -> usize {
    let bits = usize::BITS - (value | 1).leading_zeros();
    bits.div_ceil(7) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ring tests each message for JSON escapes once, at push, and
    /// says so in every read of it (and in a record cut to the limit).
    /// Walking from inside yields what the iterator does, from any
    /// cursor (evicted, held, the end, past it) and for any count.
    #[test]
    fn for_each_raw_is_the_iterator_taken() {
        let mut ring = LogRing::with_bytes_max(300, 20_000);
        for index in 0..1_000u64 {
            let message = "m".repeat((index as usize * 37) % 200);
            let data = (index % 3 == 0).then_some("{\"n\":1}");
            ring.push(index, Level::Warn, false, &message, data);
        }
        let first = ring.first_cursor();
        for cursor in [
            0,
            first - 1,
            first,
            first + 1,
            first + 57,
            999,
            1_000,
            5_000,
        ] {
            for count in [0, 1, 2, 63, 299, 300, 301, usize::MAX] {
                let taken: Vec<RawEntry> = ring.raw_iter_from(cursor).take(count).collect();
                let mut walked = Vec::new();
                ring.for_each_raw(cursor, count, |entry| walked.push(entry));
                assert_eq!(walked, taken, "from {cursor}, {count}");
            }
        }
    }

    #[test]
    fn the_json_escape_test_is_kept_with_each_record() {
        let mut ring = LogRing::new(8);
        for message in [
            "plain text",
            "quote \" here",
            "tab\t",
            "",
            "ünï ✓",
            "back\\slash",
        ] {
            ring.push(1, Level::Info, false, message, None);
        }
        let long = "x".repeat(MESSAGE_BYTES_MAX + 10) + "\"";
        ring.push(1, Level::Info, false, &long, Some("{}"));
        for entry in ring.raw_iter_from(0) {
            assert_eq!(
                entry.message_json_plain,
                json_plain(entry.message),
                "{entry:?}"
            );
        }
        let flags: Vec<bool> = ring
            .raw_iter_from(0)
            .map(|e| e.message_json_plain)
            .collect();
        assert_eq!(flags, [true, false, false, true, true, false, true]);
    }

    #[test]
    fn tally_counts_pushes_and_evictions_by_level_and_bytes() {
        let mut ring = LogRing::new(2);
        let mut tally = LogTally::default();
        ring.push_tallied(&mut tally, 0, Level::Warn, false, "one", None);
        ring.push_tallied(&mut tally, 0, Level::Error, false, "two", Some("{}"));
        assert_eq!(tally.evicted, [0; LEVEL_COUNT], "at capacity, nothing goes");
        // Capacity + 1: the oldest (warn) goes, then the error one.
        ring.push_tallied(&mut tally, 0, Level::Debug, false, "three", None);
        ring.push_tallied(&mut tally, 0, Level::Debug, false, "four", None);
        assert_eq!(tally.appended, [2, 0, 1, 1]);
        assert_eq!(tally.evicted, [0, 0, 1, 1]);
        let held = tally.bytes_added - tally.bytes_evicted;
        assert_eq!(held, ring.record_bytes() as u64);
    }

    #[test]
    fn headers_decode_as_encoded() {
        let lens = [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            ENTRY_DATA_BYTES_MAX,
            usize::MAX,
        ];
        for message_len in lens {
            for data_len in lens.iter().copied().map(Some).chain([None]) {
                let header = Header {
                    timestamp_ms: TIMESTAMP_MS_MAX,
                    flags: flags_encode(Level::Warn, true, data_len.is_some(), true),
                    message_len,
                    data_len,
                };
                let (bytes, len) = header.encode();
                let (decoded, at) = Header::decode(&bytes, 0);
                assert_eq!(at, len, "{message_len} {data_len:?}");
                assert_eq!(
                    (decoded.timestamp_ms, decoded.flags),
                    (header.timestamp_ms, header.flags)
                );
                assert_eq!(
                    (decoded.message_len, decoded.data_len),
                    (message_len, data_len)
                );
                let lens_len = data_len.map_or(0, varint_len) + varint_len(message_len);
                assert_eq!(len, HEADER_FIXED_BYTES + lens_len);
            }
        }
    }

    /// Pushes `message` at info with no data, at time = its cursor.
    fn push_line(ring: &mut LogRing, message: &str) -> u64 {
        let timestamp_ms = ring.next_cursor();
        ring.push(timestamp_ms, Level::Info, false, message, None)
    }

    fn messages_from(ring: &LogRing, cursor: u64) -> Vec<String> {
        ring.iter_from(cursor)
            .map(|e| e.message.to_string())
            .collect()
    }

    fn cursors_from(ring: &LogRing, cursor: u64) -> Vec<u64> {
        ring.iter_from(cursor).map(|e| e.cursor).collect()
    }

    /// Checks (len, first_cursor, next_cursor, dropped) in one go.
    fn check_counts(ring: &LogRing, expected: (usize, u64, u64, u64)) {
        let actual = (
            ring.len(),
            ring.first_cursor(),
            ring.next_cursor(),
            ring.dropped(),
        );
        assert_eq!(actual, expected, "(len, first, next, dropped)");
    }

    #[test]
    fn empty_ring() {
        let ring = LogRing::new(10_000);
        check_counts(&ring, (0, 0, 0, 0));
        assert!(ring.is_empty());
        assert_eq!(ring.iter_from(0).count(), 0);
        assert_eq!(ring.heap_bytes(), 0);
    }

    #[test]
    fn push_and_read() {
        let mut ring = LogRing::new(10);
        assert_eq!(ring.push(1_000, Level::Warn, false, "first", None), 0);
        assert_eq!(ring.push(2_000, Level::Error, true, "second", None), 1);
        let entries: Vec<Entry> = ring.iter_from(0).collect();
        let first = Entry {
            cursor: 0,
            timestamp_ms: 1_000,
            level: Level::Warn,
            truncated: false,
            message: "first",
            data: None,
        };
        let second = Entry {
            cursor: 1,
            timestamp_ms: 2_000,
            level: Level::Error,
            truncated: true,
            message: "second",
            data: None,
        };
        assert_eq!(entries, vec![first, second]);
        assert_eq!(ring.iter_from(1).collect::<Vec<_>>(), vec![second]);
        check_counts(&ring, (2, 0, 2, 0));
        assert!(!ring.is_empty());
    }

    #[test]
    fn capacity_edges() {
        for (pushes, expected) in [(2, (2, 0, 2, 0)), (3, (3, 0, 3, 0)), (4, (3, 1, 4, 1))] {
            let mut ring = LogRing::new(3);
            for index in 0..pushes {
                push_line(&mut ring, &format!("line {index}"));
            }
            check_counts(&ring, expected);
            let expected_cursors: Vec<u64> = (expected.1..expected.2).collect();
            assert_eq!(cursors_from(&ring, 0), expected_cursors);
        }
    }

    #[test]
    fn capacity_one_keeps_the_newest() {
        let mut ring = LogRing::new(1);
        for index in 0..5 {
            assert_eq!(push_line(&mut ring, &format!("line {index}")), index);
        }
        check_counts(&ring, (1, 4, 5, 4));
        assert_eq!(messages_from(&ring, 0), vec!["line 4"]);
    }

    #[test]
    fn cursors_after_eviction() {
        let mut ring = LogRing::new(100);
        for index in 0..1_000 {
            push_line(&mut ring, &format!("line {index}"));
        }
        check_counts(&ring, (100, 900, 1_000, 900));
        assert_eq!(cursors_from(&ring, 0), (900..1_000).collect::<Vec<_>>());
        assert_eq!(cursors_from(&ring, 899), (900..1_000).collect::<Vec<_>>());
        assert_eq!(cursors_from(&ring, 950), (950..1_000).collect::<Vec<_>>());
        assert_eq!(messages_from(&ring, 999), vec!["line 999"]);
    }

    #[test]
    fn iter_from_future_cursor_is_empty() {
        let mut ring = LogRing::new(5);
        for index in 0..3 {
            push_line(&mut ring, &format!("line {index}"));
        }
        assert_eq!(ring.iter_from(3).count(), 0);
        assert_eq!(ring.iter_from(4).count(), 0);
        assert_eq!(ring.iter_from(u64::MAX).count(), 0);
        assert_eq!(ring.iter_from(2).size_hint(), (1, Some(1)));
    }

    #[test]
    fn iter_from_every_cursor_across_blocks() {
        let mut ring = LogRing::new(3_000);
        let line = "x".repeat(100);
        for _ in 0..5_000 {
            push_line(&mut ring, &line);
        }
        assert!(ring.blocks.len() > 10);
        for cursor in 0..5_001 {
            let first = cursor.max(2_000);
            assert_eq!(
                ring.iter_from(cursor).next().map(|e| e.cursor),
                (first < 5_000).then_some(first)
            );
        }
        assert_eq!(ring.iter_from(1_234).count(), 3_000);
    }

    #[test]
    fn data_round_trip() {
        let mut ring = LogRing::new(10);
        ring.push(
            7,
            Level::Debug,
            false,
            "with data",
            Some(r#"{"a":1,"b":"é"}"#),
        );
        ring.push(8, Level::Info, false, "without", None);
        ring.push(9, Level::Info, false, "empty data", Some(""));
        let data: Vec<Option<&str>> = ring.iter_from(0).map(|e| e.data).collect();
        assert_eq!(data, vec![Some(r#"{"a":1,"b":"é"}"#), None, Some("")]);
        assert_eq!(
            messages_from(&ring, 0),
            vec!["with data", "without", "empty data"]
        );
    }

    #[test]
    fn empty_messages() {
        let mut ring = LogRing::new(3);
        for _ in 0..5 {
            ring.push(1, Level::Info, false, "", None);
        }
        check_counts(&ring, (3, 2, 5, 2));
        assert_eq!(messages_from(&ring, 0), vec!["", "", ""]);
        assert_eq!(ring.record_bytes(), 3 * 8);
    }

    #[test]
    fn levels_flags_and_timestamps_round_trip() {
        let mut ring = LogRing::new(16);
        let levels = [Level::Debug, Level::Info, Level::Warn, Level::Error];
        for (index, level) in levels.into_iter().enumerate() {
            for truncated in [false, true] {
                ring.push(
                    index as u64 * 1_000_000_007,
                    level,
                    truncated,
                    "m",
                    Some("{}"),
                );
            }
        }
        let read: Vec<(u64, Level, bool)> = ring
            .iter_from(0)
            .map(|e| (e.timestamp_ms, e.level, e.truncated))
            .collect();
        let expected: Vec<(u64, Level, bool)> = levels
            .into_iter()
            .enumerate()
            .flat_map(|(i, l)| {
                [
                    (i as u64 * 1_000_000_007, l, false),
                    (i as u64 * 1_000_000_007, l, true),
                ]
            })
            .collect();
        assert_eq!(read, expected);
    }

    #[test]
    fn timestamp_past_48_bits_is_clamped() {
        let mut ring = LogRing::new(2);
        ring.push(TIMESTAMP_MS_MAX, Level::Info, false, "max", None);
        ring.push(u64::MAX, Level::Info, false, "over", None);
        let timestamps: Vec<u64> = ring.iter_from(0).map(|e| e.timestamp_ms).collect();
        assert_eq!(timestamps, vec![TIMESTAMP_MS_MAX, TIMESTAMP_MS_MAX]);
    }

    #[test]
    fn message_over_max_is_cut_at_a_char_boundary() {
        let mut ring = LogRing::new(4);
        let exact = "a".repeat(MESSAGE_BYTES_MAX);
        ring.push(0, Level::Info, false, &exact, None);
        // 'é' is 2 bytes: MESSAGE_BYTES_MAX + 1 bytes, cut inside the last char.
        let over = format!("{}é", "a".repeat(MESSAGE_BYTES_MAX - 1));
        ring.push(0, Level::Info, false, &over, None);
        let entries: Vec<Entry> = ring.iter_from(0).collect();
        assert_eq!(
            (entries[0].message.len(), entries[0].truncated),
            (MESSAGE_BYTES_MAX, false)
        );
        assert_eq!(
            (entries[1].message.len(), entries[1].truncated),
            (MESSAGE_BYTES_MAX - 1, true)
        );
    }

    #[test]
    fn record_larger_than_a_block() {
        let mut ring = LogRing::new(10);
        let big = "b".repeat(3 * BLOCK_BYTES);
        let data = format!(r#"{{"k":"{}"}}"#, "d".repeat(BLOCK_BYTES));
        push_line(&mut ring, "before");
        ring.push(1, Level::Warn, false, &big, Some(&data));
        push_line(&mut ring, "after");
        assert_eq!(ring.blocks.len(), 3);
        let own_block = &ring.blocks[1];
        assert_eq!(own_block.bytes.capacity(), own_block.bytes.len());
        let entries: Vec<Entry> = ring.iter_from(1).collect();
        assert_eq!(entries[0].message, big);
        assert_eq!(entries[0].data, Some(data.as_str()));
        assert_eq!(entries[1].message, "after");
        for _ in 0..10 {
            push_line(&mut ring, "small");
        }
        assert_eq!(
            ring.blocks.len(),
            1,
            "the big record's block is freed with it"
        );
    }

    #[test]
    fn byte_cap_edges() {
        // Records of 100 bytes: 7 header + 1 length byte + 92 message bytes.
        let message = "m".repeat(92);
        for (bytes_max, expected) in [
            (999, (9, 1, 10, 1)),
            (1_000, (10, 0, 10, 0)),
            (1_001, (10, 0, 10, 0)),
        ] {
            let mut ring = LogRing::with_bytes_max(100, bytes_max);
            for _ in 0..10 {
                push_line(&mut ring, &message);
            }
            check_counts(&ring, expected);
            assert!(ring.record_bytes() <= bytes_max);
            assert_eq!(ring.record_bytes(), expected.0 * 100);
        }
    }

    #[test]
    fn byte_cap_evicts_big_messages() {
        let mut ring = LogRing::new(10_000);
        let message = "z".repeat(MESSAGE_BYTES_MAX);
        let record_len = HEADER_FIXED_BYTES + varint_len(MESSAGE_BYTES_MAX) + MESSAGE_BYTES_MAX;
        let fitting = LOG_RING_BYTES_MAX / record_len;
        for _ in 0..fitting {
            push_line(&mut ring, &message);
        }
        check_counts(&ring, (fitting, 0, fitting as u64, 0));
        push_line(&mut ring, &message);
        check_counts(&ring, (fitting, 1, fitting as u64 + 1, 1));
        for _ in 0..100 {
            push_line(&mut ring, &message);
        }
        assert_eq!(ring.dropped(), 101);
        assert!(ring.record_bytes() <= LOG_RING_BYTES_MAX);
        assert!(ring.heap_bytes() <= LOG_RING_BYTES_MAX + LOG_RING_BYTES_MAX / 16);
    }

    #[test]
    fn byte_cap_keeps_the_newest_entry() {
        let mut ring = LogRing::with_bytes_max(10, 50);
        push_line(&mut ring, "small");
        push_line(&mut ring, &"big".repeat(40));
        check_counts(&ring, (1, 1, 2, 1));
        assert_eq!(ring.iter_from(0).next().map(|e| e.message.len()), Some(120));
    }

    #[test]
    fn memory_full_ring_of_80_byte_lines() {
        let mut ring = LogRing::new(10_000);
        let line = "l".repeat(80);
        let payload_bytes = 10_000 * line.len();
        let bound = payload_bytes + payload_bytes / 5;
        for _ in 0..10_000 {
            push_line(&mut ring, &line);
        }
        let full_bytes = ring.heap_bytes();
        println!("heap_bytes {full_bytes} for {payload_bytes} payload bytes");
        assert!(full_bytes <= bound, "{full_bytes} > {bound}");
        let mut steady_max = 0;
        for _ in 0..100_000 {
            push_line(&mut ring, &line);
            steady_max = steady_max.max(ring.heap_bytes());
        }
        println!("steady state heap_bytes at most {steady_max}");
        assert!(steady_max <= bound, "{steady_max} > {bound}");
        check_counts(&ring, (10_000, 100_000, 110_000, 100_000));
    }

    #[test]
    fn memory_grows_lazily() {
        let mut ring = LogRing::new(10_000);
        push_line(&mut ring, "one line");
        assert!(ring.heap_bytes() <= BLOCK_START_BYTES + 4 * std::mem::size_of::<Block>());
        for _ in 0..50 {
            push_line(&mut ring, &"x".repeat(100));
        }
        assert!(ring.heap_bytes() <= 2 * ring.record_bytes() + 1024);
    }

    #[test]
    fn memory_blocks_cut_short_give_back_slack() {
        // Two of these records never share a block: each block is half empty.
        let mut ring = LogRing::new(1_000);
        let line = "h".repeat(BLOCK_BYTES / 2 + 8);
        for _ in 0..3_000 {
            push_line(&mut ring, &line);
        }
        let bound = ring.record_bytes()
            + ring.record_bytes() / BLOCK_SLACK_DIVISOR
            + 2 * BLOCK_BYTES
            + 4096;
        assert!(
            ring.heap_bytes() <= bound,
            "{} > {bound}",
            ring.heap_bytes()
        );
    }

    /// xorshift64: enough randomness for a model test, and no crate.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }

        fn below(&mut self, bound: u64) -> u64 {
            self.next() % bound
        }
    }

    /// What the ring should hold: every entry kept, evicted by the rules.
    struct Model {
        entries: VecDeque<(u64, u64, Level, String, Option<String>)>,
        next_cursor: u64,
        dropped: u64,
    }

    fn model_record_len(message: &str, data: Option<&str>) -> usize {
        let length_bytes = |len: usize| {
            (1..)
                .find(|n| len < 1 << (7 * n))
                .expect("some length fits")
        };
        let data_bytes = data.map_or(0, |d| length_bytes(d.len()) + d.len());
        7 + length_bytes(message.len()) + message.len() + data_bytes
    }

    fn model_push(
        model: &mut Model,
        capacity: usize,
        bytes_max: usize,
        entry: (u64, Level, String, Option<String>),
    ) {
        let (timestamp_ms, level, message, data) = entry;
        model
            .entries
            .push_back((model.next_cursor, timestamp_ms, level, message, data));
        model.next_cursor += 1;
        let held = |m: &Model| {
            m.entries
                .iter()
                .map(|e| model_record_len(&e.3, e.4.as_deref()))
                .sum::<usize>()
        };
        while model.entries.len() > capacity || (held(model) > bytes_max && model.entries.len() > 1)
        {
            model.entries.pop_front();
            model.dropped += 1;
        }
    }

    fn random_entry(rng: &mut Rng) -> (u64, Level, String, Option<String>) {
        let message_len = match rng.below(10) {
            0 => 0,
            1 => rng.below(3 * BLOCK_BYTES as u64),
            _ => rng.below(200),
        } as usize;
        let message: String = (0..message_len)
            .map(|i| if i % 7 == 0 { 'é' } else { 'a' })
            .collect();
        let data = (rng.below(3) == 0).then(|| format!(r#"{{"n":{}}}"#, rng.next()));
        let level = Level::from_code(rng.below(4) as u8).expect("codes 0-3 are levels");
        (rng.below(1 << 50), level, message, data)
    }

    fn check_read(ring: &LogRing, model: &Model, cursor: u64, limit: usize, seed: u64) {
        let actual: Vec<(u64, u64, Level, &str, Option<&str>)> = ring
            .iter_from(cursor)
            .take(limit)
            .map(|e| (e.cursor, e.timestamp_ms, e.level, e.message, e.data))
            .collect();
        let expected: Vec<(u64, u64, Level, &str, Option<&str>)> = model
            .entries
            .iter()
            .filter(|e| e.0 >= cursor)
            .take(limit)
            .map(|e| {
                (
                    e.0,
                    e.1.min(TIMESTAMP_MS_MAX),
                    e.2,
                    e.3.as_str(),
                    e.4.as_deref(),
                )
            })
            .collect();
        assert!(
            actual == expected,
            "seed {seed}: read from {cursor} limit {limit} differs"
        );
    }

    fn run_model(seed: u64) {
        println!("log_ring model seed {seed}");
        let mut rng = Rng(seed.max(1));
        let capacity = 1 + rng.below(300) as usize;
        let bytes_max = [LOG_RING_BYTES_MAX, 4 * BLOCK_BYTES, 100_000][rng.below(3) as usize];
        let mut ring = LogRing::with_bytes_max(capacity, bytes_max);
        let mut model = Model {
            entries: VecDeque::new(),
            next_cursor: 0,
            dropped: 0,
        };
        for _ in 0..3_000 {
            if rng.below(4) == 0 {
                let cursor = rng.below(model.next_cursor + 3);
                check_read(&ring, &model, cursor, rng.below(400) as usize, seed);
                continue;
            }
            let entry = random_entry(&mut rng);
            let cursor = ring.push(entry.0, entry.1, false, &entry.2, entry.3.as_deref());
            assert_eq!(cursor, model.next_cursor, "seed {seed}");
            model_push(&mut model, capacity, bytes_max, entry);
            let first = model.entries.front().map_or(model.next_cursor, |e| e.0);
            let counts = (model.entries.len(), first, model.next_cursor, model.dropped);
            assert_eq!(
                (
                    ring.len(),
                    ring.first_cursor(),
                    ring.next_cursor(),
                    ring.dropped()
                ),
                counts,
                "seed {seed}"
            );
        }
        check_read(&ring, &model, 0, usize::MAX, seed);
    }

    #[test]
    fn randomized_against_a_vecdeque_model() {
        let seeds: Vec<u64> = match std::env::var("LOG_RING_SEED") {
            Ok(seed) => vec![seed.parse().expect("LOG_RING_SEED is a u64")],
            Err(_) => vec![0x9e37_79b9_7f4a_7c15, 1, 42, 0xdead_beef, 20_261_124],
        };
        for seed in seeds {
            run_model(seed);
        }
    }
}
