//! A run of log entries written as JSON objects: a log page, a WebSocket
//! `log` message, an SSE event.
//!
//! The fields in front of an entry's message,
//! `{"cursor":C,"timestamp":"T","level":"L","message":`, are nearly the
//! same from one entry of a run to the next: the cursor is one more, the
//! time moves by a few milliseconds, the level rarely changes. So they are
//! kept between entries and changed in place (the cursor's last digit, the
//! time's 24 bytes, the level when it differs), and each entry is written
//! as three copies: those fields, its message and its close. The message
//! needs no escape test either: the ring tested it when it was pushed
//! (`RawEntry::message_json_plain`). Writing the fields one by one, and
//! testing every message again, was two thirds of the work of a page.

use crate::http::response::{decimal_len, write_json_utf8};
use crate::level::Level;
use crate::log_ring::RawEntry;
use crate::time::SecondCache;

/// With the comma that separates an entry from the one before: the first
/// entry of a run is written without it.
const CURSOR_KEY: &[u8] = b",{\"cursor\":";
const TIMESTAMP_KEY: &[u8] = b",\"timestamp\":\"";
const LEVEL_KEY: &[u8] = b"\",\"level\":\"";
/// With the quote that opens a plain message: its fields, its message and
/// its close are then three copies.
const MESSAGE_KEY: &[u8] = b"\",\"message\":\"";
/// Digits of the largest cursor (`u64::MAX`).
const CURSOR_DIGITS_MAX: usize = 20;
/// Bytes of an RFC 3339 time with milliseconds (`SecondCache`).
const TIME_BYTES: usize = 24;
/// Bytes of the longest level name (`error`).
const LEVEL_BYTES_MAX: usize = 5;
/// The most bytes the fields in front of a message take.
const FIELDS_BYTES_MAX: usize = CURSOR_KEY.len()
    + CURSOR_DIGITS_MAX
    + TIMESTAMP_KEY.len()
    + TIME_BYTES
    + LEVEL_KEY.len()
    + LEVEL_BYTES_MAX
    + MESSAGE_KEY.len();
/// The fields in front of the message of the last entry written.
pub struct EntryRun {
    fields: [u8; FIELDS_BYTES_MAX],
    /// Bytes of `fields` in use.
    len: usize,
    /// The cursor `fields` holds (once `wrote_one`).
    cursor: u64,
    /// Where the cursor's digits end (the time starts past its key).
    cursor_end: usize,
    level: Level,
    /// An entry was written: the next one is preceded by a comma.
    wrote_one: bool,
    /// The time `fields` holds (entries pushed together share it).
    timestamp_ms: u64,
    seconds: SecondCache,
}

impl Default for EntryRun {
    fn default() -> EntryRun {
        EntryRun {
            fields: [0; FIELDS_BYTES_MAX],
            len: 0,
            cursor: 0,
            cursor_end: 0,
            level: Level::Info,
            wrote_one: false,
            timestamp_ms: 0,
            seconds: SecondCache::default(),
        }
    }
}

/// Messages up to this many bytes are copied as a block of this size when
/// the ring holds that many bytes from the message on (then cut back).
const MESSAGE_BLOCK_BYTES: usize = 128;

/// Appends a plain message's bytes.
#[inline(always)]
fn write_message(out: &mut Vec<u8>, entry: &RawEntry) {
    let message = entry.message;
    let block: Option<&[u8; MESSAGE_BLOCK_BYTES]> = entry
        .message_and_after
        .get(..MESSAGE_BLOCK_BYTES)
        .and_then(|block| block.try_into().ok());
    match block {
        Some(block) if message.len() <= MESSAGE_BLOCK_BYTES => {
            let end = out.len() + message.len();
            out.extend_from_slice(block);
            out.truncate(end);
        }
        _ => out.extend_from_slice(message),
    }
}

impl EntryRun {
    /// Appends `entry` as one JSON object, after a comma if it is not the
    /// run's first.
    #[inline(always)]
    pub fn write(&mut self, out: &mut Vec<u8>, entry: &RawEntry) {
        if !self.next_cursor(entry.cursor) {
            self.rewrite_from_cursor(entry);
        } else {
            if entry.timestamp_ms != self.timestamp_ms {
                self.timestamp_ms = entry.timestamp_ms;
                let time_at = self.cursor_end + TIMESTAMP_KEY.len();
                let time = self.seconds.rfc3339_ms_bytes(entry.timestamp_ms);
                self.fields[time_at..time_at + TIME_BYTES].copy_from_slice(&time);
            }
            if entry.level != self.level {
                self.rewrite_level(entry.level);
            }
        }
        let from = usize::from(!self.wrote_one);
        self.wrote_one = true;
        if entry.message_json_plain && from == 0 {
            // All of `fields` is copied (a copy of a size known here is a
            // few moves, not a call) and the unused end cut off again.
            let end = out.len() + self.len;
            out.extend_from_slice(&self.fields);
            out.truncate(end);
            write_message(out, entry);
        } else if entry.message_json_plain {
            out.extend_from_slice(&self.fields[from..self.len]);
            out.extend_from_slice(entry.message);
        } else {
            // The escaper writes its own quotes.
            out.extend_from_slice(&self.fields[from..self.len - 1]);
            write_json_utf8(out, entry.message);
            out.pop();
        }
        match (entry.data, entry.truncated) {
            (None, false) => out.extend_from_slice(b"\"}"),
            (data, truncated) => {
                out.push(b'"');
                if let Some(data) = data {
                    out.extend_from_slice(b",\"data\":");
                    out.extend_from_slice(data);
                }
                if truncated {
                    out.extend_from_slice(b",\"truncated\":true");
                }
                out.push(b'}');
            }
        }
    }

    /// Moves the held cursor on to `cursor` in place when it is the next
    /// one with as many digits (the last digits carry); false otherwise.
    fn next_cursor(&mut self, cursor: u64) -> bool {
        if !self.wrote_one || self.cursor.wrapping_add(1) != cursor {
            return false;
        }
        let start = CURSOR_KEY.len();
        for at in (start..self.cursor_end).rev() {
            if self.fields[at] == b'9' {
                self.fields[at] = b'0';
            } else {
                self.fields[at] += 1;
                self.cursor = cursor;
                return true;
            }
        }
        // All nines: one more digit, so every field after it moves.
        false
    }

    /// Writes every field for `entry`.
    fn rewrite_from_cursor(&mut self, entry: &RawEntry) {
        self.fields[..CURSOR_KEY.len()].copy_from_slice(CURSOR_KEY);
        let digits = decimal_len(entry.cursor);
        let mut at = CURSOR_KEY.len() + digits;
        self.cursor_end = at;
        let mut rest = entry.cursor;
        for place in (CURSOR_KEY.len()..at).rev() {
            self.fields[place] = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.cursor = entry.cursor;
        self.timestamp_ms = entry.timestamp_ms;
        let time = self.seconds.rfc3339_ms_bytes(entry.timestamp_ms);
        for part in [TIMESTAMP_KEY, &time[..]] {
            self.fields[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.rewrite_level(entry.level);
    }

    /// Writes the level and what follows it.
    fn rewrite_level(&mut self, level: Level) {
        let mut at = self.cursor_end + TIMESTAMP_KEY.len() + TIME_BYTES;
        for part in [LEVEL_KEY, level.as_str().as_bytes(), MESSAGE_KEY] {
            self.fields[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        self.len = at;
        self.level = level;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::write_decimal;

    /// The entry as the fields were written one by one before `EntryRun`.
    fn one_by_one(entry: &RawEntry) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(b"{\"cursor\":");
        write_decimal(&mut out, entry.cursor);
        out.extend_from_slice(b",\"timestamp\":\"");
        out.extend_from_slice(&crate::time::rfc3339_ms_bytes(entry.timestamp_ms));
        out.extend_from_slice(b"\",\"level\":\"");
        out.extend_from_slice(entry.level.as_str().as_bytes());
        out.extend_from_slice(b"\",\"message\":");
        write_json_utf8(&mut out, entry.message);
        if let Some(data) = entry.data {
            out.extend_from_slice(b",\"data\":");
            out.extend_from_slice(data);
        }
        if entry.truncated {
            out.extend_from_slice(b",\"truncated\":true");
        }
        out.push(b'}');
        out
    }

    fn entry(cursor: u64, timestamp_ms: u64, level: Level, message: &str) -> RawEntry<'_> {
        RawEntry {
            cursor,
            timestamp_ms,
            level,
            truncated: false,
            message: message.as_bytes(),
            data: None,
            message_json_plain: crate::json_plain::json_plain(message.as_bytes()),
            message_and_after: message.as_bytes(),
        }
    }

    /// Runs over cursors that carry into a new digit, jump, or go back;
    /// times within a second and across seconds, days and years; levels
    /// changing or not; plain and escaped messages, data and truncation:
    /// every entry is the same bytes as written one by one.
    #[test]
    fn a_run_writes_each_entry_as_its_fields_one_by_one() {
        let levels = [
            Level::Info,
            Level::Info,
            Level::Error,
            Level::Debug,
            Level::Warn,
        ];
        let messages = [
            "plain",
            "",
            "with \"quote\"",
            "tab\there",
            "ünï ✓",
            "line\n",
        ];
        let starts = [0, 7, 95, 999, 99_999, u64::MAX - 3];
        let times = [
            0,
            999,
            1_000,
            86_399_999,
            1_733_000_000_123,
            253_402_300_799_999,
        ];
        for start in starts {
            let mut run = EntryRun::default();
            let mut ran = Vec::new();
            let mut expected: Vec<u8> = Vec::new();
            let mut cursor = start;
            for step in 0..40usize {
                // Three entries in a row share a time, as entries pushed together do.
                let timestamp_ms = times[(step / 3) % times.len()] + (step / 3) as u64;
                let mut entry = entry(cursor, timestamp_ms, levels[step % 5], messages[step % 6]);
                entry.truncated = step % 7 == 3;
                entry.data = (step % 4 == 1).then_some(&b"{\"k\":[1,2]}"[..]);
                run.write(&mut ran, &entry);
                if step > 0 {
                    expected.push(b',');
                }
                expected.extend_from_slice(&one_by_one(&entry));
                cursor = match step % 13 {
                    // A jump (a filtered page) and a step back (a new run
                    // reusing nothing it should not).
                    5 => cursor.saturating_add(1_000),
                    9 => cursor / 2,
                    _ => cursor.saturating_add(1),
                };
            }
            assert_eq!(
                String::from_utf8_lossy(&ran),
                String::from_utf8_lossy(&expected),
                "from {start}"
            );
        }
    }

    /// A short message with the ring's next bytes after it is copied as a
    /// block and cut back: none of what follows it shows.
    #[test]
    fn a_message_copied_as_a_block_ends_where_it_ends() {
        for len in [0, 1, 13, 127, 128, 129, 200] {
            let stored = "m".repeat(len) + &"#".repeat(300);
            let mut message_entry = entry(7, 1_000, Level::Info, &stored[..len]);
            message_entry.message_and_after = stored.as_bytes();
            let mut second = message_entry;
            second.cursor = 8;
            let mut run = EntryRun::default();
            let mut out = Vec::new();
            run.write(&mut out, &message_entry);
            run.write(&mut out, &second);
            let expected = [one_by_one(&message_entry), one_by_one(&second)].join(&b","[..]);
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected)
            );
        }
    }

    #[test]
    fn every_entry_is_json_with_its_fields() {
        let mut run = EntryRun::default();
        for cursor in [8, 9, 10, 11, 99, 100] {
            let mut out = Vec::new();
            run.write(
                &mut out,
                &entry(cursor, 1_000 * cursor, Level::Warn, "a \\ b"),
            );
            let object = out.strip_prefix(b",").unwrap_or(&out);
            assert_eq!(
                cursor == 8,
                object.len() == out.len(),
                "a comma from the second on"
            );
            let value: serde_json::Value = serde_json::from_slice(object).expect("JSON");
            assert_eq!(value["cursor"], cursor);
            assert_eq!(value["level"], "warn");
            assert_eq!(value["message"], "a \\ b");
        }
    }
}
