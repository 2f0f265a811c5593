//! A collector's answer to one export request, read as the OTLP/HTTP spec
//! says (opentelemetry-proto `docs/specification.md`, "OTLP/HTTP Response").
//!
//! - 2xx: accepted. The body is an `ExportLogsServiceResponse`; a set
//!   `partial_success` tells how many records the collector rejected (they
//!   must not be sent again). An empty or unreadable body is a full success.
//! - 429, 502, 503, 504: retry, after `Retry-After` when given (seconds or an
//!   HTTP-date, capped at `OTLP_RETRY_AFTER_MS_MAX`).
//! - Every other status: refused; the batch is dropped, never retried.
//! - A body over `OTLP_ANSWER_BODY_BYTES_MAX` is a non-retryable error
//!   whatever the status (the spec's rule for a client's response limit).
//!
//! Error bodies are a `google.rpc.Status` (`code` = 1, `message` = 2,
//! `details` = 3); its `message` is kept. The body's encoding comes from
//! its Content-Type, or, when that names neither, from a sniff: `{` is
//! JSON, else protobuf if it reads as a Status, else text. Every message
//! ends up in our own logs, so it is cut to `OTLP_ANSWER_MESSAGE_BYTES_MAX`
//! and its control characters are escaped, whatever the collector sent.

use serde_json::Value;

use crate::export::protobuf::{fields, WireValue};
use crate::http::date::parse_http_date;
use crate::limits::{
    OTLP_ANSWER_BODY_BYTES_MAX, OTLP_ANSWER_MESSAGE_BYTES_MAX, OTLP_RETRY_AFTER_MS_MAX,
};

/// What to do with the batch a collector answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Delivered (the rejected records too: they must not be sent again).
    Accepted {
        rejected_log_records: u64,
        /// The collector's `error_message` (or a note that the body was
        /// unreadable); empty on a plain full success.
        error_message: String,
    },
    /// Send the same batch again, after `after_ms` if the collector said.
    Retry {
        status: u16,
        after_ms: Option<u64>,
        message: String,
    },
    /// Drop the batch.
    Refused { status: u16, message: String },
}

/// The message of an error answer whose body says nothing.
pub const NO_MESSAGE: &str = "no message";

/// Whether the OTLP spec says to retry a request answered with `status`.
pub fn is_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// Reads one answer. `content_type` and `retry_after` are the raw header
/// values, if present; `body` is the whole body as received (the caller
/// stops reading one byte past `OTLP_ANSWER_BODY_BYTES_MAX`).
pub fn read_answer(
    status: u16,
    content_type: Option<&[u8]>,
    body: &[u8],
    retry_after: Option<&[u8]>,
    now_ms: u64,
) -> Answer {
    if body.len() > OTLP_ANSWER_BODY_BYTES_MAX {
        return Answer::Refused {
            status,
            message: format!("answer body exceeds {OTLP_ANSWER_BODY_BYTES_MAX} bytes"),
        };
    }
    let kind = body_kind(content_type, body);
    if (200..300).contains(&status) {
        let (rejected_log_records, error_message) = read_partial_success(kind, body);
        return Answer::Accepted {
            rejected_log_records,
            error_message,
        };
    }
    let message = read_status_message(kind, body);
    if is_retryable(status) {
        Answer::Retry {
            status,
            after_ms: retry_after.and_then(|value| retry_after_ms(value, now_ms)),
            message,
        }
    } else {
        Answer::Refused { status, message }
    }
}

/// A `Retry-After` value as a delay from `now_ms`, at most
/// `OTLP_RETRY_AFTER_MS_MAX`; a past date is 0. `None` when it is neither
/// delay-seconds nor an HTTP-date.
pub fn retry_after_ms(value: &[u8], now_ms: u64) -> Option<u64> {
    let value = trim_ows(value);
    if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
        // Digits past what a u64 holds are a very long delay: the cap.
        let seconds = value.iter().try_fold(0u64, |seconds, &digit| {
            seconds
                .checked_mul(10)?
                .checked_add(u64::from(digit - b'0'))
        });
        let delay_ms = seconds.map_or(u64::MAX, |seconds| seconds.saturating_mul(1000));
        return Some(delay_ms.min(OTLP_RETRY_AFTER_MS_MAX));
    }
    let date_ms = parse_http_date(value, now_ms)?;
    let delay_ms = (i128::from(date_ms) - i128::from(now_ms)).clamp(0, i128::from(u64::MAX));
    Some((delay_ms as u64).min(OTLP_RETRY_AFTER_MS_MAX))
}

/// How a body is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BodyKind {
    Protobuf,
    Json,
    Text,
    /// No Content-Type, or one we do not know, and no `{`: protobuf if it
    /// reads as the message expected, else text.
    Guess,
}

fn body_kind(content_type: Option<&[u8]>, body: &[u8]) -> BodyKind {
    let media_type = content_type.map(|value| {
        let end = value.iter().position(|&byte| byte == b';');
        trim_ows(&value[..end.unwrap_or(value.len())])
    });
    match media_type {
        Some(media) if media.eq_ignore_ascii_case(b"application/x-protobuf") => BodyKind::Protobuf,
        Some(media) if media.eq_ignore_ascii_case(b"application/protobuf") => BodyKind::Protobuf,
        Some(media) if media.eq_ignore_ascii_case(b"application/json") => BodyKind::Json,
        Some(media) if starts_with_ignore_case(media, b"text/") => BodyKind::Text,
        _ if trim_whitespace(body).first() == Some(&b'{') => BodyKind::Json,
        _ => BodyKind::Guess,
    }
}

/// `(rejected_log_records, error_message)` of a 2xx body.
fn read_partial_success(kind: BodyKind, body: &[u8]) -> (u64, String) {
    if trim_whitespace(body).is_empty() {
        return (0, String::new());
    }
    let partial = match kind {
        BodyKind::Protobuf | BodyKind::Guess => protobuf_partial_success(body),
        BodyKind::Json => json_partial_success(body),
        BodyKind::Text => None,
    };
    partial.unwrap_or_else(|| {
        let mut message = String::from("unreadable answer: ");
        push_printable(&mut message, &text_prefix(body));
        (0, message)
    })
}

/// `ExportLogsServiceResponse { ExportLogsPartialSuccess partial_success = 1 }`
/// with `{ int64 rejected_log_records = 1; string error_message = 2; }`.
/// Unknown fields are skipped (a newer collector may send more).
fn protobuf_partial_success(body: &[u8]) -> Option<(u64, String)> {
    let mut rejected = 0;
    let mut message = String::new();
    for field in fields(body) {
        let field = field.ok()?;
        let (1, WireValue::Len(partial)) = (field.number, field.value) else {
            continue;
        };
        for field in fields(partial) {
            let field = field.ok()?;
            match (field.number, field.value) {
                (1, WireValue::Varint(count)) => rejected = clamp_count(count as i64 as i128),
                (2, WireValue::Len(text)) => {
                    message.clear();
                    push_printable(&mut message, &String::from_utf8_lossy(text));
                }
                (1 | 2, _) => return None,
                _ => {}
            }
        }
    }
    Some((rejected, message))
}

/// `{"partialSuccess": {"rejectedLogRecords": "5" or 5, "errorMessage": ".."}}`;
/// the proto field names are accepted too, as proto3 JSON parsers do.
fn json_partial_success(body: &[u8]) -> Option<(u64, String)> {
    let answer: Value = serde_json::from_slice(body).ok()?;
    let answer = answer.as_object()?;
    let partial = match json_field(answer, "partialSuccess", "partial_success") {
        None | Some(Value::Null) => return Some((0, String::new())),
        Some(partial) => partial.as_object()?,
    };
    let rejected = match json_field(partial, "rejectedLogRecords", "rejected_log_records") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(number)) => json_number_count(number),
        Some(Value::String(text)) => string_count(text)?,
        Some(_) => return None,
    };
    let mut message = String::new();
    match json_field(partial, "errorMessage", "error_message") {
        None | Some(Value::Null) => {}
        Some(Value::String(text)) => push_printable(&mut message, text),
        Some(_) => return None,
    }
    Some((rejected, message))
}

fn json_field<'a>(
    object: &'a serde_json::Map<String, Value>,
    camel: &str,
    snake: &str,
) -> Option<&'a Value> {
    object.get(camel).or_else(|| object.get(snake))
}

fn json_number_count(number: &serde_json::Number) -> u64 {
    if let Some(count) = number.as_u64() {
        count
    } else if let Some(count) = number.as_i64() {
        clamp_count(i128::from(count))
    } else {
        // Saturating: NaN is 0, huge is u64::MAX.
        number.as_f64().unwrap_or(0.0).max(0.0) as u64
    }
}

/// An int64 written as a decimal string: digits with an optional sign.
fn string_count(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    if text.starts_with('-') {
        return Some(0);
    }
    Some(digits.parse().unwrap_or(u64::MAX))
}

/// A rejected count, negative or absurd, within `0..=u64::MAX`.
fn clamp_count(count: i128) -> u64 {
    count.clamp(0, i128::from(u64::MAX)) as u64
}

/// The message of an error body: a `google.rpc.Status`'s `message`, or the
/// start of the body as text, or `NO_MESSAGE`.
fn read_status_message(kind: BodyKind, body: &[u8]) -> String {
    let status_message = match kind {
        BodyKind::Protobuf => protobuf_status_message(body, false),
        BodyKind::Guess => protobuf_status_message(body, true),
        BodyKind::Json => json_status_message(body),
        BodyKind::Text => None,
    };
    let mut message = String::new();
    match status_message {
        Some(text) => push_printable(&mut message, &text),
        None => push_printable(&mut message, &text_prefix(body)),
    }
    if message.is_empty() {
        message.push_str(NO_MESSAGE);
    }
    message
}

/// `google.rpc.Status { int32 code = 1; string message = 2; repeated Any
/// details = 3; }`. `strict` (the body was only guessed to be protobuf):
/// no unknown fields and a UTF-8 message, so text is not misread.
fn protobuf_status_message(body: &[u8], strict: bool) -> Option<String> {
    let mut message = None;
    for field in fields(body) {
        let field = field.ok()?;
        match (field.number, field.value) {
            (1, WireValue::Varint(_)) | (3, WireValue::Len(_)) => {}
            (2, WireValue::Len(text)) => {
                message = Some(match std::str::from_utf8(text) {
                    Ok(text) => text.to_owned(),
                    Err(_) if strict => return None,
                    Err(_) => String::from_utf8_lossy(text).into_owned(),
                });
            }
            (1..=3, _) => return None,
            _ if strict => return None,
            _ => {}
        }
    }
    if strict && message.is_none() {
        return None;
    }
    Some(message.unwrap_or_default())
}

/// `{"code": 3, "message": "..."}`; `None` unless `message` is a string.
fn json_status_message(body: &[u8]) -> Option<String> {
    let status: Value = serde_json::from_slice(body).ok()?;
    match status.get("message")? {
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

/// The start of `body` as text: enough bytes for a full message, invalid
/// UTF-8 replaced, surrounding whitespace dropped.
fn text_prefix(body: &[u8]) -> String {
    let prefix = &body[..body.len().min(OTLP_ANSWER_MESSAGE_BYTES_MAX)];
    String::from_utf8_lossy(trim_whitespace(prefix)).into_owned()
}

/// Appends `text` to `out` with control characters (and the Unicode line
/// and paragraph separators) escaped, up to `OTLP_ANSWER_MESSAGE_BYTES_MAX`
/// bytes of `out` in all, cut between characters.
fn push_printable(out: &mut String, text: &str) {
    let mut escaped = String::new();
    for char in text.trim().chars() {
        escaped.clear();
        if char.is_control() || matches!(char, '\u{2028}' | '\u{2029}') {
            escaped.extend(char.escape_default());
        } else {
            escaped.push(char);
        }
        if out.len() + escaped.len() > OTLP_ANSWER_MESSAGE_BYTES_MAX {
            break;
        }
        out.push_str(&escaped);
    }
}

fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |byte: &u8| *byte == b' ' || *byte == b'\t';
    let start = bytes.iter().position(|byte| !is_ows(byte));
    let end = bytes.iter().rposition(|byte| !is_ows(byte));
    match (start, end) {
        (Some(start), Some(end)) => &bytes[start..=end],
        _ => &[],
    }
}

fn trim_whitespace(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn starts_with_ignore_case(bytes: &[u8], prefix: &[u8]) -> bool {
    bytes.len() >= prefix.len() && bytes[..prefix.len()].eq_ignore_ascii_case(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::protobuf::{begin_message, end_message, put_bytes_field, put_varint_field};

    const NOW_MS: u64 = 784_111_777_000; // Sun, 06 Nov 1994 08:49:37 GMT
    const PROTOBUF: Option<&[u8]> = Some(b"application/x-protobuf");
    const JSON: Option<&[u8]> = Some(b"application/json");

    fn check(status: u16, content_type: Option<&[u8]>, body: &[u8], expected: Answer) {
        assert_eq!(
            read_answer(status, content_type, body, None, NOW_MS),
            expected,
            "status {status}, body {:?}",
            String::from_utf8_lossy(&body[..body.len().min(100)])
        );
    }

    fn accepted(rejected_log_records: u64, error_message: &str) -> Answer {
        Answer::Accepted {
            rejected_log_records,
            error_message: error_message.into(),
        }
    }

    fn refused(status: u16, message: &str) -> Answer {
        Answer::Refused {
            status,
            message: message.into(),
        }
    }

    fn retry(status: u16, message: &str) -> Answer {
        Answer::Retry {
            status,
            after_ms: None,
            message: message.into(),
        }
    }

    fn partial_protobuf(rejected: i64, message: &str) -> Vec<u8> {
        let mut buf = Vec::new();
        let mark = begin_message(&mut buf, 1);
        put_varint_field(&mut buf, 1, rejected as u64);
        put_bytes_field(&mut buf, 2, message.as_bytes());
        end_message(&mut buf, mark);
        buf
    }

    fn status_protobuf(message: &[u8]) -> Vec<u8> {
        let mut buf = Vec::new();
        put_varint_field(&mut buf, 1, 3);
        put_bytes_field(&mut buf, 2, message);
        put_bytes_field(&mut buf, 3, b"\x0a\x03abc");
        buf
    }

    #[test]
    fn classification_by_status() {
        for status in 0..=999u16 {
            let answer = read_answer(status, None, b"", None, NOW_MS);
            let expected = match status {
                200..=299 => accepted(0, ""),
                429 | 502 | 503 | 504 => retry(status, NO_MESSAGE),
                _ => refused(status, NO_MESSAGE),
            };
            assert_eq!(answer, expected, "{status}");
        }
    }

    #[test]
    fn full_and_partial_success() {
        check(200, PROTOBUF, b"", accepted(0, ""));
        check(200, JSON, b"{}", accepted(0, ""));
        check(200, JSON, b" {\"partialSuccess\":null} ", accepted(0, ""));
        check(
            200,
            PROTOBUF,
            &partial_protobuf(5, "bad"),
            accepted(5, "bad"),
        );
        check(200, None, &partial_protobuf(5, "bad"), accepted(5, "bad"));
        check(200, PROTOBUF, &partial_protobuf(-5, ""), accepted(0, ""));
        check(
            200,
            PROTOBUF,
            &partial_protobuf(0, "a warning"),
            accepted(0, "a warning"),
        );
        let json = |text: &str| text.as_bytes().to_vec();
        let cases: &[(&str, Answer)] = &[
            (
                r#"{"partialSuccess":{"rejectedLogRecords":"5","errorMessage":"x"}}"#,
                accepted(5, "x"),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":5}}"#,
                accepted(5, ""),
            ),
            (
                r#"{"partial_success":{"rejected_log_records":"7","error_message":"y"}}"#,
                accepted(7, "y"),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":-3}}"#,
                accepted(0, ""),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":"-3"}}"#,
                accepted(0, ""),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":1e300}}"#,
                accepted(u64::MAX, ""),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":"99999999999999999999999"}}"#,
                accepted(u64::MAX, ""),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":2.5}}"#,
                accepted(2, ""),
            ),
            (
                r#"{"partialSuccess":{"errorMessage":"line\none\u0000"}}"#,
                accepted(0, "line\\none\\u{0}"),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":"five"}}"#,
                accepted(
                    0,
                    r#"unreadable answer: {"partialSuccess":{"rejectedLogRecords":"five"}}"#,
                ),
            ),
            (
                r#"{"partialSuccess":{"rejectedLogRecords":true}}"#,
                accepted(
                    0,
                    r#"unreadable answer: {"partialSuccess":{"rejectedLogRecords":true}}"#,
                ),
            ),
            (
                r#"{"partialSuccess":"no"}"#,
                accepted(0, r#"unreadable answer: {"partialSuccess":"no"}"#),
            ),
            (r#"[1]"#, accepted(0, "unreadable answer: [1]")),
        ];
        for (body, expected) in cases {
            check(200, JSON, &json(body), expected.clone());
        }
        // 2xx other than 200, and a protobuf body with unknown fields.
        let mut body = partial_protobuf(2, "z");
        put_varint_field(&mut body, 9, 1);
        check(204, PROTOBUF, &body, accepted(2, "z"));
        check(
            200,
            PROTOBUF,
            b"\xff",
            accepted(0, "unreadable answer: \u{fffd}"),
        );
        check(
            200,
            Some(b"text/html"),
            b"<html>ok</html>\n",
            accepted(0, "unreadable answer: <html>ok</html>"),
        );
    }

    #[test]
    fn error_messages() {
        check(
            400,
            PROTOBUF,
            &status_protobuf(b"bad data"),
            refused(400, "bad data"),
        );
        check(
            400,
            Some(b"Application/X-Protobuf; charset=x"),
            &status_protobuf(b"bad"),
            refused(400, "bad"),
        );
        check(
            400,
            None,
            &status_protobuf(b"guessed"),
            refused(400, "guessed"),
        );
        check(
            503,
            JSON,
            br#"{"code":14,"message":"overloaded"}"#,
            retry(503, "overloaded"),
        );
        check(
            503,
            Some(b" application/json ; q=1"),
            br#"{"message":"x"}"#,
            retry(503, "x"),
        );
        check(
            503,
            None,
            br#"  {"message":"sniffed"}"#,
            retry(503, "sniffed"),
        );
        check(
            400,
            PROTOBUF,
            &status_protobuf(b""),
            refused(400, NO_MESSAGE),
        );
        check(
            400,
            PROTOBUF,
            &status_protobuf(b"bad \xff utf-8"),
            refused(400, "bad \u{fffd} utf-8"),
        );
        // Not a Status: the start of the body, printable.
        check(
            502,
            Some(b"text/html"),
            b"<html>\r\n<h1>502 Bad Gateway</h1>\r\n</html>\r\n",
            retry(502, "<html>\\r\\n<h1>502 Bad Gateway</h1>\\r\\n</html>"),
        );
        check(502, None, b"Bad Gateway", retry(502, "Bad Gateway"));
        check(
            404,
            JSON,
            b"{\"error\":\"no route\"}",
            refused(404, "{\"error\":\"no route\"}"),
        );
        check(
            404,
            JSON,
            b"{\"message\":5}",
            refused(404, "{\"message\":5}"),
        );
        check(500, PROTOBUF, b"\x08", refused(500, "\\u{8}"));
        check(
            500,
            None,
            b"\x1b[31mred\xe2\x80\xa8\x1b[0m",
            refused(500, "\\u{1b}[31mred\\u{2028}\\u{1b}[0m"),
        );
        check(500, None, b"  \n ", refused(500, NO_MESSAGE));
        // Strict when guessing: an unknown field means text.
        let mut body = status_protobuf(b"m");
        put_varint_field(&mut body, 4, 1);
        let Answer::Refused { message, .. } = read_answer(500, None, &body, None, 0) else {
            panic!("refused expected");
        };
        assert_ne!(message, "m");
        assert!(message.starts_with("\\u{8}\\u{3}"), "{message}");
    }

    #[test]
    fn messages_are_cut_on_a_char_boundary() {
        let limit = OTLP_ANSWER_MESSAGE_BYTES_MAX;
        for (text, expected_size) in [
            ("a".repeat(limit), limit),
            ("a".repeat(limit + 1), limit),
            ("a".repeat(limit - 1), limit - 1),
            (format!("{}é", "a".repeat(limit - 1)), limit - 1),
            ("€".repeat(limit), limit / 3 * 3),
            ("\u{1}".repeat(limit), limit / 5 * 5),
        ] {
            let body = status_protobuf(text.as_bytes());
            let Answer::Refused { message, .. } = read_answer(400, PROTOBUF, &body, None, 0) else {
                panic!("refused expected");
            };
            assert_eq!(message.len(), expected_size, "{text:?}");
            let Answer::Refused { message, .. } =
                read_answer(400, Some(b"text/plain"), text.as_bytes(), None, 0)
            else {
                panic!("refused expected");
            };
            assert!(message.len() <= limit);
        }
        let huge = vec![b'x'; OTLP_ANSWER_BODY_BYTES_MAX];
        check(
            200,
            Some(b"text/plain"),
            &huge,
            accepted(0, &format!("unreadable answer: {}", "x".repeat(limit - 19))),
        );
        let over = vec![b'x'; OTLP_ANSWER_BODY_BYTES_MAX + 1];
        check(
            200,
            None,
            &over,
            refused(200, "answer body exceeds 4194304 bytes"),
        );
        check(
            503,
            None,
            &over,
            refused(503, "answer body exceeds 4194304 bytes"),
        );
    }

    #[test]
    fn retry_after_values() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1", Some(1_000)),
            (" 120\t", Some(120_000)),
            ("007", Some(7_000)),
            ("300", Some(300_000)),
            ("301", Some(OTLP_RETRY_AFTER_MS_MAX)),
            ("99999999999999999999999999", Some(OTLP_RETRY_AFTER_MS_MAX)),
            ("18446744073709551615", Some(OTLP_RETRY_AFTER_MS_MAX)),
            ("Sun, 06 Nov 1994 08:49:47 GMT", Some(10_000)),
            ("Sunday, 06-Nov-94 08:50:37 GMT", Some(60_000)),
            ("Sun Nov  6 08:49:38 1994", Some(1_000)),
            ("Sun, 06 Nov 1994 08:49:37 GMT", Some(0)),
            ("Sat, 05 Nov 1994 08:49:37 GMT", Some(0)),
            ("Thu, 01 Jan 1970 00:00:00 GMT", Some(0)),
            ("Mon, 01 Jan 0001 00:00:00 GMT", Some(0)),
            (
                "Fri, 31 Dec 9999 23:59:59 GMT",
                Some(OTLP_RETRY_AFTER_MS_MAX),
            ),
            ("", None),
            (" ", None),
            ("-1", None),
            ("1.5", None),
            ("+5", None),
            ("5s", None),
            ("1 2", None),
            ("soon", None),
            ("Sun, 06 Nov 1994 08:49:47 GMT x", None),
        ];
        for &(value, expected) in cases {
            assert_eq!(
                retry_after_ms(value.as_bytes(), NOW_MS),
                expected,
                "{value:?}"
            );
        }
        let answer = read_answer(429, None, b"", Some(b"5"), NOW_MS);
        assert_eq!(
            answer,
            Answer::Retry {
                status: 429,
                after_ms: Some(5_000),
                message: NO_MESSAGE.into()
            }
        );
        // Retry-After on a refusal or a success changes nothing.
        assert_eq!(
            read_answer(400, None, b"", Some(b"5"), NOW_MS),
            refused(400, NO_MESSAGE)
        );
        assert_eq!(
            read_answer(200, None, b"", Some(b"5"), NOW_MS),
            accepted(0, "")
        );
    }
}
