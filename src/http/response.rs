//! Response writer: status line, the headers every answer carries, body.
//!
//! Answers are written straight into the connection's output buffer, so a
//! batch of pipelined requests leaves in one `write`. A log page is written
//! behind room for its head instead (`Response::json_written`), and its
//! buffer becomes the output when nothing waits before it: the page is
//! never copied.

use crate::json_plain::json_plain;
use crate::limits::RESPONSE_HEAD_ROOM_BYTES;
use crate::time::format_http_date;
use std::cell::RefCell;

/// One answer, before it is written.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    /// The body, behind `head_room` bytes that are not part of it.
    body: Vec<u8>,
    /// Bytes kept free in front of the body for the head (`json_written`).
    head_room: usize,
    /// Headers beyond the standard ones, e.g. `Allow`, `Location`.
    pub headers: Vec<(&'static str, String)>,
    /// Close the connection after this answer.
    pub close: bool,
}

pub const CONTENT_TYPE_JSON: &str = "application/json";
pub const CONTENT_TYPE_TEXT: &str = "text/plain; charset=utf-8";

impl Response {
    pub fn json(status: u16, body: Vec<u8>) -> Response {
        Response {
            status,
            content_type: CONTENT_TYPE_JSON,
            body,
            head_room: 0,
            headers: Vec::new(),
            close: false,
        }
    }

    /// A large body, written by `write_body` into a buffer of `capacity`
    /// bytes after `RESPONSE_HEAD_ROOM_BYTES` left free: the head is then
    /// written into that room (`into_bytes`), and the buffer becomes the
    /// connection's output as it is, instead of the body being copied
    /// behind a head and its buffer freed.
    pub fn json_written(
        status: u16,
        capacity: usize,
        write_body: impl FnOnce(&mut Vec<u8>),
    ) -> Response {
        let mut body = Vec::with_capacity(RESPONSE_HEAD_ROOM_BYTES + capacity);
        body.resize(RESPONSE_HEAD_ROOM_BYTES, 0);
        write_body(&mut body);
        Response {
            head_room: RESPONSE_HEAD_ROOM_BYTES,
            ..Response::json(status, body)
        }
    }

    /// Written by `json_written`, with room for its head in front.
    pub fn has_head_room(&self) -> bool {
        self.head_room > 0
    }

    pub fn body(&self) -> &[u8] {
        &self.body[self.head_room..]
    }

    /// The whole answer in the body's own buffer, the head written into
    /// the room in front of the body: the buffer and the offset where the
    /// answer starts in it. The response back when there is no such room
    /// or the head does not fit it (`write_response` copies the body then).
    pub fn into_bytes(mut self, now_ms: u64) -> Result<(Vec<u8>, usize), Response> {
        if !self.has_head_room() {
            return Err(self);
        }
        let mut head = Vec::with_capacity(self.head_room);
        write_head(&mut head, &self, now_ms);
        let Some(start) = self.head_room.checked_sub(head.len()) else {
            return Err(self);
        };
        self.body[start..self.head_room].copy_from_slice(&head);
        Ok((self.body, start))
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Response {
        let mut body = Vec::with_capacity(message.len() + 16);
        body.extend_from_slice(b"{\"error\":");
        write_json_string(&mut body, message);
        body.extend_from_slice(b"}\n");
        Response::json(status, body)
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Response {
        self.headers.push((name, value));
        self
    }

    pub fn closing(mut self) -> Response {
        self.close = true;
        self
    }
}

/// Writes `text` as a JSON string literal.
pub fn write_json_string(out: &mut Vec<u8>, text: &str) {
    if json_plain(text.as_bytes()) {
        // Most names and messages need no escape: copy them as they are.
        out.push(b'"');
        out.extend_from_slice(text.as_bytes());
        out.push(b'"');
    } else {
        // serde_json's escaping is correct for every input; writing to a
        // Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, text);
    }
}

/// `write_json_string` for text known to be UTF-8 but held as bytes (a
/// log ring's): the common plain case is copied without checking it
/// again; the rest is checked once, on the way to the escaper.
pub fn write_json_utf8(out: &mut Vec<u8>, bytes: &[u8]) {
    if json_plain(bytes) {
        out.push(b'"');
        out.extend_from_slice(bytes);
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, &String::from_utf8_lossy(bytes));
    }
}

/// The reason phrase for each status code the server sends.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

thread_local! {
    /// The `Date` header value, formatted once per second (the loop is one
    /// thread, so this is the server's one cache).
    static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// Appends `Date: <IMF-fixdate>\r\n` for `now_ms`.
pub fn write_date(out: &mut Vec<u8>, now_ms: u64) {
    DATE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let second = now_ms / 1000;
        if cache.0 != second {
            cache.1.clear();
            format_http_date(now_ms, &mut cache.1);
            cache.0 = second;
        }
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(cache.1.as_bytes());
        out.extend_from_slice(b"\r\n");
    });
}

/// Appends the whole response to `out`. For HEAD (`head_only`) the headers
/// describe the body that a GET would get, and no body follows.
pub fn write_response(out: &mut Vec<u8>, response: &Response, head_only: bool, now_ms: u64) {
    write_head(out, response, now_ms);
    if !head_only {
        out.extend_from_slice(response.body());
    }
}

/// Appends the status line and headers, up to the blank line.
fn write_head(out: &mut Vec<u8>, response: &Response, now_ms: u64) {
    // Hand-assembled rather than `write!`: this runs once per request.
    let status = response.status;
    out.extend_from_slice(b"HTTP/1.1 ");
    write_decimal(out, u64::from(status));
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    if status == 304 {
        // No body and no body metadata: a Content-Length here would have
        // to equal the 200's (RFC 9110 8.6, 15.4.5), and 0 would not.
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(b"\r\nContent-Type: ");
        out.extend_from_slice(response.content_type.as_bytes());
        out.extend_from_slice(b"\r\nContent-Length: ");
        write_decimal(out, response.body().len() as u64);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"X-Content-Type-Options: nosniff\r\n");
    write_date(out, now_ms);
    for (name, value) in &response.headers {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if response.close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends `value` in decimal, two digits per division (every entry of a
/// log page has its cursor written).
pub fn write_decimal(out: &mut Vec<u8>, mut value: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    while value >= 10 {
        let pair = (value % 100) as usize * 2;
        value /= 100;
        start -= 2;
        digits[start..start + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if value > 0 || start == digits.len() {
        start -= 1;
        digits[start] = b'0' + value as u8;
    }
    out.extend_from_slice(&digits[start..]);
}

/// How many digits `write_decimal` writes for `value`.
pub fn decimal_len(value: u64) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

/// The interim answer to `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_strings() {
        let powers = (0..20).map(|exponent| 10u64.pow(exponent));
        let edges = powers.flat_map(|power| [power - 1, power, power + 1]);
        for value in edges.chain([0, 7, 10, 99, 100, 12_345, u64::MAX - 1, u64::MAX]) {
            let mut out = Vec::new();
            write_decimal(&mut out, value);
            assert_eq!(out, value.to_string().into_bytes());
            assert_eq!(decimal_len(value), out.len());
        }
        for text in [
            "plain",
            "",
            "quote \" in",
            "back\\slash",
            "tab\there",
            "\u{1}",
            "ünï",
        ] {
            let mut out = Vec::new();
            write_json_string(&mut out, text);
            let back: String = serde_json::from_slice(&out).expect("valid JSON string");
            assert_eq!(back, text);
        }
    }

    #[test]
    fn error_body_is_json() {
        let response = Response::error(404, "no session \"x\"");
        let value: serde_json::Value = serde_json::from_slice(response.body()).expect("json");
        assert_eq!(value["error"], "no session \"x\"");
    }

    /// A body written behind room for its head leaves as the same bytes
    /// that `write_response` writes; a head too big for the room is refused.
    #[test]
    fn a_body_written_in_place_gets_its_head_in_front() {
        let body = br#"{"entries":[]}"#;
        let expected = {
            let response = Response::json(200, body.to_vec()).with_header("X-Cursor", "7".into());
            let mut out = Vec::new();
            write_response(&mut out, &response, false, 1_000);
            out
        };
        let written = Response::json_written(200, 64, |out| out.extend_from_slice(body))
            .with_header("X-Cursor", "7".into());
        assert_eq!(written.body(), body);
        let (bytes, start) = written.into_bytes(1_000).expect("the head fits");
        assert_eq!(&bytes[start..], &expected[..]);
        let long = "x".repeat(RESPONSE_HEAD_ROOM_BYTES);
        let crowded = Response::json_written(200, 64, |out| out.extend_from_slice(body))
            .with_header("X-Long", long);
        let refused = crowded
            .into_bytes(1_000)
            .expect_err("no room for this head");
        let mut out = Vec::new();
        write_response(&mut out, &refused, false, 1_000);
        assert!(out.ends_with(body));
        assert!(Response::json(200, body.to_vec()).into_bytes(0).is_err());
    }

    #[test]
    fn not_modified_has_no_length_or_type() {
        let mut out = Vec::new();
        let response = Response::json(304, Vec::new());
        write_response(&mut out, &response, false, 0);
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with("HTTP/1.1 304 Not Modified\r\nX-Content-Type-Options: nosniff\r\n")
        );
        assert!(!text.contains("\nContent-Length:"), "{text}");
        assert!(!text.contains("\nContent-Type:"), "{text}");
        assert!(text.ends_with("\r\n\r\n"));
    }

    #[test]
    fn head_only_keeps_length() {
        let mut out = Vec::new();
        let response = Response::json(200, b"{}".to_vec()).closing();
        write_response(&mut out, &response, true, 0);
        assert!(String::from_utf8_lossy(&out).contains("Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"));
        let text = String::from_utf8(out).expect("ascii");
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
    }
}
