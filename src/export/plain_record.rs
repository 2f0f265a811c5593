//! The common record written straight: a plain log line (no `data`, not
//! cut, nothing lost before it, a cursor that fits an int64) is nearly all
//! an exporter sends. Its size is known before it starts, so its length is
//! written once and its room reserved once (nothing patched or moved). The bytes are the same as the
//! general encoder's (`otlp_request`'s tests check that, record by record).

use crate::export::otlp_fields::*;
use crate::export::protobuf::{varint_size, WIRE_FIXED64, WIRE_LEN, WIRE_VARINT};

/// A plain log line, ready to encode.
pub struct PlainEntry<'a> {
    pub time_unix_nano: u64,
    pub observed_time_unix_nano: u64,
    /// An OTLP `SeverityNumber` (all of ours are below 128: one byte).
    pub severity_number: u8,
    pub severity_text: &'a str,
    pub body: &'a [u8],
    /// The session's attributes, already encoded as `LogRecord.attributes`
    /// fields (the same for every record of the session).
    pub session_attributes: &'a [u8],
    pub cursor_key: &'static str,
    /// At most `i64::MAX` (an `intValue`).
    pub cursor: u64,
}

/// A field's key when the number is below 16 (one byte).
const fn tag(number: u32, wire_type: u8) -> u8 {
    assert!(number < 16);
    (number << 3) as u8 | wire_type
}

const _: () = assert!(RECORD_OBSERVED_TIME_UNIX_NANO < 16 && SCOPE_LOGS_LOG_RECORDS < 16);

/// Bytes of a length-delimited field of `size` bytes, with its key.
fn len_field_size(size: usize) -> usize {
    1 + varint_size(size as u64) + size
}

/// A varint into room already reserved.
fn push_varint(buf: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        buf.push((value as u8) | 0x80);
        value >>= 7;
    }
    buf.push(value as u8);
}

/// Appends `entry` as one `ScopeLogs.log_records` field.
pub fn write(buf: &mut Vec<u8>, entry: &PlainEntry) {
    debug_assert!(entry.cursor <= i64::MAX as u64 && entry.severity_number < 0x80);
    let key = entry.cursor_key.as_bytes();
    let text = entry.severity_text.as_bytes();
    let string_value = len_field_size(entry.body.len());
    let cursor_value = 1 + varint_size(entry.cursor);
    let cursor_attribute = len_field_size(key.len()) + len_field_size(cursor_value);
    let record = 2 * 9
        + 2
        + len_field_size(text.len())
        + len_field_size(string_value)
        + entry.session_attributes.len()
        + len_field_size(cursor_attribute);
    let start = buf.len();
    buf.reserve(len_field_size(record));

    buf.push(tag(SCOPE_LOGS_LOG_RECORDS, WIRE_LEN));
    push_varint(buf, record as u64);
    buf.push(tag(RECORD_TIME_UNIX_NANO, WIRE_FIXED64));
    buf.extend_from_slice(&entry.time_unix_nano.to_le_bytes());
    buf.push(tag(RECORD_OBSERVED_TIME_UNIX_NANO, WIRE_FIXED64));
    buf.extend_from_slice(&entry.observed_time_unix_nano.to_le_bytes());
    buf.extend_from_slice(&[
        tag(RECORD_SEVERITY_NUMBER, WIRE_VARINT),
        entry.severity_number,
        tag(RECORD_SEVERITY_TEXT, WIRE_LEN),
    ]);
    push_varint(buf, text.len() as u64);
    buf.extend_from_slice(text);
    buf.push(tag(RECORD_BODY, WIRE_LEN));
    push_varint(buf, string_value as u64);
    buf.push(tag(ANY_STRING, WIRE_LEN));
    push_varint(buf, entry.body.len() as u64);
    buf.extend_from_slice(entry.body);
    buf.extend_from_slice(entry.session_attributes);
    buf.push(tag(RECORD_ATTRIBUTES, WIRE_LEN));
    push_varint(buf, cursor_attribute as u64);
    buf.push(tag(KEY_VALUE_KEY, WIRE_LEN));
    push_varint(buf, key.len() as u64);
    buf.extend_from_slice(key);
    buf.extend_from_slice(&[
        tag(KEY_VALUE_VALUE, WIRE_LEN),
        cursor_value as u8,
        tag(ANY_INT, WIRE_VARINT),
    ]);
    push_varint(buf, entry.cursor);
    debug_assert_eq!(
        buf.len() - start,
        len_field_size(record),
        "plain record size"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_fields_keep_the_size_exact() {
        // Every length at its largest: a 16 MiB body, u64 times, the
        // largest cursor (the size is checked against what was written).
        let body = vec![b'x'; 1 << 24];
        let mut buf = vec![7];
        write(
            &mut buf,
            &PlainEntry {
                time_unix_nano: u64::MAX,
                observed_time_unix_nano: u64::MAX,
                severity_number: 17,
                severity_text: "error",
                body: &body,
                session_attributes: &[1; 300],
                cursor_key: "sessions_lite.log.cursor",
                cursor: i64::MAX as u64,
            },
        );
        assert_eq!(buf[0], 7);
        assert_eq!(buf[1], tag(SCOPE_LOGS_LOG_RECORDS, WIRE_LEN));
        let record = buf.len() - 2 - varint_size((buf.len() - 2) as u64);
        assert_eq!(len_field_size(record), buf.len() - 1);
    }
}
