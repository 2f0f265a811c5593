//! Reading an HTTP/1.1 answer (a response to a request the server sent
//! itself: the exporter's to its collector), fed in pieces as they arrive.
//! Pure: no socket, no clock, so it is unit-tested and fuzzed alone.
//!
//! The head is parsed with httparse (at most `OTLP_ANSWER_HEAD_BYTES_MAX`
//! bytes, `OTLP_ANSWER_HEADERS_MAX` fields); the body is read by
//! `Content-Length`, chunked (our decoder) or to the close, never past
//! `OTLP_ANSWER_BODY_BYTES_MAX`. Interim `1xx` answers are skipped.

use crate::http::chunked::{ChunkError, ChunkedDecoder};
use crate::limits::*;

/// A complete answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: Option<Vec<u8>>,
    pub retry_after: Option<Vec<u8>>,
    pub body: Vec<u8>,
}

/// Why an answer can't be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// What came is not an HTTP/1.1 answer (or breaks its framing).
    Garbage(String),
    /// The body is over `OTLP_ANSWER_BODY_BYTES_MAX`.
    TooLarge,
}

/// How the peer's closing the connection ends the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClosedAnswer {
    /// A body read to the close is complete.
    Complete(Answer),
    /// Nothing came at all.
    NothingSent,
    /// The head came, the body was cut short.
    CutInBody,
    /// The connection closed inside the head.
    CutInHead,
}

/// How the answer's body is framed, once its head is read.
enum BodyFraming {
    Length(usize),
    Chunked(Box<ChunkedDecoder>),
    UntilClose,
}

/// The answer's head, once parsed.
struct AnswerHead {
    status: u16,
    content_type: Option<Vec<u8>>,
    retry_after: Option<Vec<u8>>,
    framing: BodyFraming,
    close: bool,
}

/// One answer being read.
#[derive(Default)]
pub struct AnswerReader {
    /// Bytes fed and not yet consumed.
    input: Vec<u8>,
    head: Option<AnswerHead>,
    body: Vec<u8>,
}

impl AnswerReader {
    pub fn new() -> AnswerReader {
        AnswerReader::default()
    }

    /// No byte of an answer has come yet.
    pub fn is_untouched(&self) -> bool {
        self.input.is_empty() && self.head.is_none()
    }

    /// Takes the next bytes; `Some((answer, close))` once complete, where
    /// `close` says the connection can't be used again (the answer said
    /// so, was read to the close, or bytes came after it).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<Option<(Answer, bool)>, AnswerError> {
        self.input.extend_from_slice(bytes);
        self.consume()
    }

    /// The peer closed the connection.
    pub fn on_close(&mut self) -> ClosedAnswer {
        match &self.head {
            Some(head) if matches!(head.framing, BodyFraming::UntilClose) => {
                let body = std::mem::take(&mut self.body);
                ClosedAnswer::Complete(answer_of(head, body))
            }
            Some(_) => ClosedAnswer::CutInBody,
            None if self.input.is_empty() => ClosedAnswer::NothingSent,
            None => ClosedAnswer::CutInHead,
        }
    }

    /// Parses what has arrived; `Some` once the answer is complete.
    fn consume(&mut self) -> Result<Option<(Answer, bool)>, AnswerError> {
        if self.head.is_none() {
            let Some((head, consumed)) = parse_answer_head(&self.input)? else {
                return Ok(None);
            };
            self.input.drain(..consumed);
            if (100..200).contains(&head.status) {
                // An interim answer (100 Continue): the real one follows.
                return self.consume();
            }
            self.head = Some(head);
        }
        let Some(head) = &mut self.head else {
            return Ok(None);
        };
        let complete = match &mut head.framing {
            BodyFraming::Length(length) => {
                let taken = self.input.len().min(*length - self.body.len());
                self.body.extend_from_slice(&self.input[..taken]);
                self.input.drain(..taken);
                self.body.len() == *length
            }
            BodyFraming::Chunked(decoder) => {
                let consumed = decoder
                    .decode(&self.input, &mut self.body)
                    .map_err(|error| match error {
                        ChunkError::BodyTooLarge => AnswerError::TooLarge,
                        other => {
                            AnswerError::Garbage(other.message(OTLP_ANSWER_BODY_BYTES_MAX as u64))
                        }
                    })?;
                self.input.drain(..consumed);
                if self.body.len() > OTLP_ANSWER_BODY_BYTES_MAX {
                    return Err(AnswerError::TooLarge);
                }
                decoder.is_done()
            }
            BodyFraming::UntilClose => {
                self.body.append(&mut self.input);
                if self.body.len() > OTLP_ANSWER_BODY_BYTES_MAX {
                    return Err(AnswerError::TooLarge);
                }
                false
            }
        };
        if !complete {
            return Ok(None);
        }
        let close = head.close || !self.input.is_empty();
        let body = std::mem::take(&mut self.body);
        let answer = answer_of(head, body);
        self.head = None;
        self.input.clear();
        Ok(Some((answer, close)))
    }
}

fn answer_of(head: &AnswerHead, body: Vec<u8>) -> Answer {
    Answer {
        status: head.status,
        content_type: head.content_type.clone(),
        retry_after: head.retry_after.clone(),
        body,
    }
}

/// The head of an answer, if complete: status, framing and the headers the
/// exporter reads.
fn parse_answer_head(input: &[u8]) -> Result<Option<(AnswerHead, usize)>, AnswerError> {
    let mut headers = [httparse::EMPTY_HEADER; OTLP_ANSWER_HEADERS_MAX];
    let mut response = httparse::Response::new(&mut headers);
    let consumed = match response.parse(input) {
        Ok(httparse::Status::Complete(consumed)) => consumed,
        Ok(httparse::Status::Partial) if input.len() > OTLP_ANSWER_HEAD_BYTES_MAX => {
            return Err(AnswerError::Garbage(format!(
                "answer head over {OTLP_ANSWER_HEAD_BYTES_MAX} bytes"
            )))
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(AnswerError::Garbage(error.to_string())),
    };
    if consumed > OTLP_ANSWER_HEAD_BYTES_MAX {
        return Err(AnswerError::Garbage(format!(
            "answer head over {OTLP_ANSWER_HEAD_BYTES_MAX} bytes"
        )));
    }
    let status = response.code.unwrap_or(0);
    let mut head = AnswerHead {
        status,
        content_type: None,
        retry_after: None,
        framing: BodyFraming::UntilClose,
        close: response.version == Some(0),
    };
    let mut length = None;
    let mut chunked = false;
    for header in response.headers.iter() {
        let value = trim(header.value);
        let name = header.name;
        if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("retry-after") {
            head.retry_after = Some(value.to_vec());
        } else if name.eq_ignore_ascii_case("connection") {
            head.close |= value.eq_ignore_ascii_case(b"close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case(b"chunked");
            if !chunked {
                return Err(AnswerError::Garbage(
                    "a transfer coding other than chunked".into(),
                ));
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(value)
                .ok()
                .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|text| text.parse::<u64>().ok())
                .ok_or_else(|| {
                    AnswerError::Garbage("a Content-Length that is not a number".into())
                })?;
            if length.is_some_and(|other| other != parsed) {
                return Err(AnswerError::Garbage(
                    "two different Content-Length headers".into(),
                ));
            }
            length = Some(parsed);
        }
    }
    let no_body = (100..200).contains(&status) || status == 204 || status == 304;
    head.framing = if no_body {
        BodyFraming::Length(0)
    } else if chunked {
        let decoder = ChunkedDecoder::new(OTLP_ANSWER_BODY_BYTES_MAX as u64);
        BodyFraming::Chunked(Box::new(decoder))
    } else if let Some(length) = length {
        if length > OTLP_ANSWER_BODY_BYTES_MAX as u64 {
            return Err(AnswerError::TooLarge);
        }
        BodyFraming::Length(length as usize)
    } else {
        head.close = true;
        BodyFraming::UntilClose
    };
    Ok(Some((head, consumed)))
}

fn trim(value: &[u8]) -> &[u8] {
    let start = value
        .iter()
        .position(|b| !b" \t".contains(b))
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|b| !b" \t".contains(b))
        .map_or(start, |end| end + 1);
    &value[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Result<Option<(u16, usize)>, AnswerError> {
        parse_answer_head(text.as_bytes())
            .map(|parsed| parsed.map(|(head, used)| (head.status, used)))
    }

    #[test]
    fn answer_heads() {
        let ok = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(head(ok), Ok(Some((200, ok.len() - 2))));
        assert_eq!(head("HTTP/1.1 200 OK\r\nContent-Le"), Ok(None));
        assert!(matches!(
            head("SSH-2.0-OpenSSH\r\n\r\n"),
            Err(AnswerError::Garbage(_))
        ));
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n",
            OTLP_ANSWER_BODY_BYTES_MAX + 1
        );
        assert_eq!(head(&big), Err(AnswerError::TooLarge));
        let at_cap =
            format!("HTTP/1.1 200 OK\r\nContent-Length: {OTLP_ANSWER_BODY_BYTES_MAX}\r\n\r\n");
        assert!(matches!(head(&at_cap), Ok(Some((200, _)))));
        let two = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert!(matches!(head(two), Err(AnswerError::Garbage(_))));
        let gzip = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert!(matches!(head(gzip), Err(AnswerError::Garbage(_))));
        let long = format!(
            "HTTP/1.1 200 OK\r\nX: {}",
            "a".repeat(OTLP_ANSWER_HEAD_BYTES_MAX)
        );
        assert!(matches!(head(&long), Err(AnswerError::Garbage(_))));
    }

    #[test]
    fn headers_the_exporter_reads() {
        let text = b"HTTP/1.1 503 Busy\r\nRetry-After:  7 \r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
        let (head, _) = parse_answer_head(text).expect("valid").expect("complete");
        assert_eq!(head.retry_after.as_deref(), Some(&b"7"[..]));
        assert_eq!(head.content_type.as_deref(), Some(&b"application/json"[..]));
        assert!(head.close);
        let until_close = b"HTTP/1.1 200 OK\r\n\r\n";
        let (head, _) = parse_answer_head(until_close)
            .expect("valid")
            .expect("complete");
        assert!(head.close && matches!(head.framing, BodyFraming::UntilClose));
    }

    /// Feeds `bytes` whole and in every split into two; the answer must
    /// read the same way. (Whether the connection can be reused may not:
    /// bytes after an answer that arrive later are the connection's
    /// business, `outbound.rs` closes an idle connection that speaks.)
    fn check_splits(bytes: &[u8]) -> Result<Option<(Answer, bool)>, AnswerError> {
        let answer_only = |outcome: &Result<Option<(Answer, bool)>, AnswerError>| {
            outcome.clone().map(|done| done.map(|(answer, _)| answer))
        };
        let whole = AnswerReader::new().feed(bytes);
        for split in 0..bytes.len() {
            let mut reader = AnswerReader::new();
            let outcome = match reader.feed(&bytes[..split]) {
                Ok(None) => reader.feed(&bytes[split..]),
                other => other,
            };
            assert_eq!(
                answer_only(&outcome),
                answer_only(&whole),
                "split at {split}"
            );
        }
        whole
    }

    #[test]
    fn an_answer_reads_the_same_in_any_pieces() {
        let chunked = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        let (answer, close) = check_splits(chunked).expect("valid").expect("complete");
        assert_eq!(
            (answer.status, answer.body.as_slice(), close),
            (200, &b"{}"[..], false)
        );
        let length = b"HTTP/1.1 503 Busy\r\nContent-Length: 3\r\nRetry-After: 2\r\n\r\nabc";
        let (answer, _) = check_splits(length).expect("valid").expect("complete");
        assert_eq!(answer.retry_after.as_deref(), Some(&b"2"[..]));
        // Bytes after the answer: the connection is not reused.
        let extra = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP";
        assert!(check_splits(extra).expect("valid").expect("complete").1);
        assert!(matches!(
            check_splits(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(AnswerError::Garbage(_))
        ));
    }

    #[test]
    fn closing_ends_only_an_answer_read_to_the_close() {
        let mut reader = AnswerReader::new();
        assert_eq!(reader.on_close(), ClosedAnswer::NothingSent);
        assert_eq!(reader.feed(b"HTTP/1.1 200 OK\r\n\r\nall of it"), Ok(None));
        match reader.on_close() {
            ClosedAnswer::Complete(answer) => assert_eq!(answer.body, b"all of it"),
            other => panic!("{other:?}"),
        }
        let mut cut = AnswerReader::new();
        assert_eq!(
            cut.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab"),
            Ok(None)
        );
        assert_eq!(cut.on_close(), ClosedAnswer::CutInBody);
        let mut in_head = AnswerReader::new();
        assert_eq!(in_head.feed(b"HTTP/1.1 2"), Ok(None));
        assert_eq!(in_head.on_close(), ClosedAnswer::CutInHead);
    }

    #[test]
    fn a_body_past_the_cap_is_too_large_however_framed() {
        let over = vec![b'x'; OTLP_ANSWER_BODY_BYTES_MAX + 1];
        let mut until_close = AnswerReader::new();
        assert_eq!(until_close.feed(b"HTTP/1.1 200 OK\r\n\r\n"), Ok(None));
        assert_eq!(until_close.feed(&over), Err(AnswerError::TooLarge));
        let mut chunked = AnswerReader::new();
        let head = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            over.len()
        );
        assert_eq!(chunked.feed(head.as_bytes()), Err(AnswerError::TooLarge));
        let mut at_cap = AnswerReader::new();
        assert_eq!(at_cap.feed(b"HTTP/1.1 200 OK\r\n\r\n"), Ok(None));
        assert_eq!(at_cap.feed(&over[1..]), Ok(None));
    }
}
