//! Server-Sent Events framing (WHATWG HTML, "Server-sent events"): the
//! response head of a stream, its events, comments and `retry:`, each in
//! an HTTP/1.1 chunk; and what a request says about wanting a stream.
//!
//! An event is field lines (`data: ...`, `id: ...`, `event: ...`) and a
//! blank line; a line starting with `:` is a comment. The spec lets the
//! fields of one event come in any order and sets the event's id when it
//! is dispatched (at the blank line), so a page's `data:` is written
//! before its `id:`: the cursor after a page is known only once its
//! entries are rendered. Every value here is one line: the JSON we write
//! has no raw CR or LF (strings escape them).
//!
//! HTTP/1.1 streams are chunked, so the end of a stream (the zero-size
//! chunk) is told apart from a connection that broke: `curl` exits 0 only
//! on the first, and a proxy may keep the connection to us. HTTP/1.0 has
//! no chunks: its streams are close-delimited. Either way the stream is
//! the connection's last response (`Connection: close`).
//!
//! Pure: no I/O, no clock (the `Date` header gets `now_ms`).

use crate::http::head::trim_ows;
use crate::http::response::{write_date, write_decimal};

pub const CONTENT_TYPE_EVENT_STREAM: &str = "text/event-stream";

/// How a stream's bytes are delimited on the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// HTTP/1.1: each write one chunk; the stream ends with the last chunk.
    Chunked,
    /// HTTP/1.0: the stream ends when the connection closes.
    CloseDelimited,
}

impl Framing {
    pub fn for_version(version_minor: u8) -> Framing {
        if version_minor >= 1 {
            Framing::Chunked
        } else {
            Framing::CloseDelimited
        }
    }
}

/// The longest chunk-size line we write: 16 hex digits and CRLF.
const CHUNK_HEAD_BYTES_MAX: usize = 16 + 2;

/// Appends the head of a `200` event stream. `head_only` (HEAD): the same
/// fields a GET gets, without `Connection: close`, since no stream follows.
pub fn write_stream_head(out: &mut Vec<u8>, framing: Framing, head_only: bool, now_ms: u64) {
    out.extend_from_slice(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
          Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
          X-Accel-Buffering: no\r\n",
    );
    write_date(out, now_ms);
    if framing == Framing::Chunked {
        out.extend_from_slice(b"Transfer-Encoding: chunked\r\n");
    }
    if !head_only {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends what `write` writes as one chunk (nothing when it writes
/// nothing: an empty chunk would end the stream). The bytes are written in
/// place behind room for the chunk's size line, then moved up to it.
pub fn write_framed(out: &mut Vec<u8>, framing: Framing, write: impl FnOnce(&mut Vec<u8>)) {
    if framing == Framing::CloseDelimited {
        return write(out);
    }
    let start = out.len();
    out.resize(start + CHUNK_HEAD_BYTES_MAX, 0);
    write(out);
    let body_size = out.len() - start - CHUNK_HEAD_BYTES_MAX;
    if body_size == 0 {
        out.truncate(start);
        return;
    }
    let size_line = format!("{body_size:x}\r\n");
    let body_start = start + CHUNK_HEAD_BYTES_MAX;
    let head_start = body_start - size_line.len();
    out[head_start..body_start].copy_from_slice(size_line.as_bytes());
    out.copy_within(head_start.., start);
    out.truncate(out.len() - (head_start - start));
    out.extend_from_slice(b"\r\n");
}

/// Appends the end of a chunked stream (the last chunk).
pub fn write_stream_end(out: &mut Vec<u8>, framing: Framing) {
    if framing == Framing::Chunked {
        out.extend_from_slice(b"0\r\n\r\n");
    }
}

/// `data: <data>` then `id: <id>` when given, and the blank line that
/// dispatches the event. `event`: its type (`message` when `None`).
pub fn write_event(out: &mut Vec<u8>, event: Option<&str>, data: &[u8], id: Option<u64>) {
    debug_assert!(!data.iter().any(|&byte| byte == b'\n' || byte == b'\r'));
    if let Some(event) = event {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(event.as_bytes());
        out.push(b'\n');
    }
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(data);
    out.push(b'\n');
    if let Some(id) = id {
        write_id(out, id);
    }
    out.push(b'\n');
}

/// `id: <id>` (the line that ends a page's event, before its blank line).
pub fn write_id(out: &mut Vec<u8>, id: u64) {
    out.extend_from_slice(b"id: ");
    write_decimal(out, id);
    out.push(b'\n');
}

/// `retry: <ms>` with its blank line: the client's reconnection delay.
pub fn write_retry(out: &mut Vec<u8>, retry_ms: u64) {
    out.extend_from_slice(b"retry: ");
    write_decimal(out, retry_ms);
    out.extend_from_slice(b"\n\n");
}

/// The heartbeat: a comment line, ignored by every client.
pub const HEARTBEAT: &[u8] = b": keep-alive\n\n";

/// True when `Accept` lists `text/event-stream` (what `EventSource` sends).
pub fn wants_event_stream(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| {
        accept.split(',').any(|media| {
            let media = trim_ows(media.split(';').next().unwrap_or(""));
            media.eq_ignore_ascii_case(CONTENT_TYPE_EVENT_STREAM)
        })
    })
}

/// A `Last-Event-ID` value: our ids are cursors (logs) or `seq` (the list),
/// decimal. Empty is absent (the spec's browsers send none until an event
/// had an id).
pub fn parse_last_event_id(text: Option<&str>) -> Result<Option<u64>, String> {
    let Some(text) = text.map(trim_ows).filter(|text| !text.is_empty()) else {
        return Ok(None);
    };
    let digits_only = text.bytes().all(|byte| byte.is_ascii_digit());
    match text.parse::<u64>() {
        Ok(cursor) if digits_only => Ok(Some(cursor)),
        _ => Err("Last-Event-ID must be a non-negative whole number (a cursor or a seq)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(framing: Framing, body: &[u8]) -> Vec<u8> {
        let mut out = b"before".to_vec();
        write_framed(&mut out, framing, |out| out.extend_from_slice(body));
        out
    }

    #[test]
    fn a_chunk_has_its_exact_hex_size_and_nothing_is_an_empty_chunk() {
        assert_eq!(
            framed(Framing::Chunked, b"data: x\n\n"),
            b"before9\r\ndata: x\n\n\r\n"
        );
        assert_eq!(framed(Framing::Chunked, b""), b"before");
        assert_eq!(framed(Framing::CloseDelimited, b"abc"), b"beforeabc");
        let big = vec![b'a'; 0x12345];
        let out = framed(Framing::Chunked, &big);
        assert!(out.starts_with(b"before12345\r\naaa"));
        assert!(out.ends_with(b"aaa\r\n"));
        assert_eq!(out.len(), 6 + 7 + big.len() + 2);
    }

    #[test]
    fn events_put_data_before_id_and_end_with_a_blank_line() {
        let mut out = Vec::new();
        write_event(&mut out, None, br#"{"a":1}"#, Some(42));
        write_event(&mut out, Some("end"), b"{}", None);
        write_retry(&mut out, 1000);
        assert_eq!(
            String::from_utf8(out).expect("text"),
            "data: {\"a\":1}\nid: 42\n\nevent: end\ndata: {}\n\nretry: 1000\n\n"
        );
    }

    #[test]
    fn the_head_says_event_stream_no_cache_and_its_framing() {
        let mut out = Vec::new();
        write_stream_head(&mut out, Framing::Chunked, false, 0);
        let head = String::from_utf8(out).expect("text");
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        for field in [
            "Content-Type: text/event-stream\r\n",
            "Cache-Control: no-cache\r\n",
            "Transfer-Encoding: chunked\r\n",
            "Connection: close\r\n",
        ] {
            assert!(head.contains(field), "{head}");
        }
        assert!(!head.contains("Content-Length"), "{head}");
        assert!(head.ends_with("\r\n\r\n"));
        let mut out = Vec::new();
        write_stream_head(&mut out, Framing::CloseDelimited, true, 0);
        let head = String::from_utf8(out).expect("text");
        assert!(!head.contains("Transfer-Encoding") && !head.contains("Connection"));
    }

    #[test]
    fn accept_and_last_event_id() {
        assert!(wants_event_stream(Some("text/event-stream")));
        assert!(wants_event_stream(Some(
            "application/json, Text/Event-Stream;q=1"
        )));
        assert!(!wants_event_stream(Some("*/*")));
        assert!(!wants_event_stream(None));
        assert_eq!(parse_last_event_id(None), Ok(None));
        assert_eq!(parse_last_event_id(Some("")), Ok(None));
        assert_eq!(parse_last_event_id(Some(" 17 ")), Ok(Some(17)));
        let max = u64::MAX.to_string();
        assert_eq!(parse_last_event_id(Some(&max)), Ok(Some(u64::MAX)));
        for bad in ["-1", "1.5", "abc", "+3", "18446744073709551616"] {
            assert!(parse_last_event_id(Some(bad)).is_err(), "{bad}");
        }
    }
}
