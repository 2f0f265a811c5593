//! `ChunkedDecoder`: chunked request bodies (RFC 9112 section 7.1).
//!
//! Asserts:
//! - each `decode` consumes at most its input, all of it unless the body is
//!   done, never yields more bytes than it consumed, and keeps the decoded
//!   total within the cap; once done it consumes nothing more;
//! - fed in pieces (two at every cut for short inputs, three, one byte per
//!   call) it yields the same bytes, consumed count, end and refusal as fed
//!   whole;
//! - it agrees with a plain whole-input reading of RFC 9112's grammar (the
//!   reference below): same body and end when it accepts, a refusal when
//!   the reference refuses (smuggling lives in such disagreements);
//! - round trip: the fuzz input encoded as chunks (sizes in either case,
//!   leading zeros, extensions, trailers, a next request behind) decodes
//!   back to itself, ending exactly where the encoding ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::http::chunked::{ChunkError, ChunkedDecoder};
use sessions_lite::limits::{CHUNK_LINE_BYTES_MAX, JSON_BODY_BYTES_MAX, TRAILER_BYTES_MAX};
use sessions_lite_fuzz::reads::{cut_sets, pieces, seed_of, Rng};

/// What one decoder made of its input.
#[derive(Debug, PartialEq, Eq)]
struct Decoded {
    body: Vec<u8>,
    /// Bytes taken from the input; 0 after a refusal (the connection is
    /// closed, so what was taken no longer matters).
    consumed: usize,
    done: bool,
    error: Option<ChunkError>,
}

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(seed_of(data));
    let caps = [0, 1, 16, 100, JSON_BODY_BYTES_MAX as u64, u64::MAX];
    let cap = caps[rng.below(caps.len())];
    let whole = decode(&[data], cap);
    assert_eq!(whole, reference(data, cap), "decoder and reference differ");
    for cuts in cut_sets(data.len(), &[], 128, &mut rng) {
        assert_eq!(decode(&pieces(data, &cuts), cap), whole, "cut at {cuts:?}");
    }
    let bytes: Vec<&[u8]> = data.chunks(1).collect();
    assert_eq!(decode(&bytes, cap), whole, "byte by byte");
    round_trip(data, &mut rng);
});

/// Feeds `reads` in order until the body is done or refused.
fn decode(reads: &[&[u8]], cap: u64) -> Decoded {
    let mut decoder = ChunkedDecoder::new(cap);
    let mut decoded = Decoded {
        body: Vec::new(),
        consumed: 0,
        done: false,
        error: None,
    };
    for read in reads {
        let body_size_before = decoded.body.len();
        let was_done = decoder.is_done();
        match decoder.decode(read, &mut decoded.body) {
            Ok(consumed) => {
                assert!(consumed <= read.len());
                if !decoder.is_done() {
                    assert_eq!(consumed, read.len(), "stopped early but not done");
                }
                if was_done {
                    assert_eq!(consumed, 0, "consumed bytes after the end");
                }
                assert!(decoded.body.len() - body_size_before <= consumed);
                decoded.consumed += consumed;
            }
            Err(error) => {
                decoded.error = Some(error);
                decoded.consumed = 0;
                break;
            }
        }
        assert!(decoded.body.len() as u64 <= cap, "decoded over the cap");
    }
    decoded.done = decoder.is_done();
    decoded
}

/// RFC 9112 7.1 read over the whole input at once, with the decoder's
/// documented limits: a size line (CRLF included) of at most
/// `CHUNK_LINE_BYTES_MAX` bytes holding 1 to 15 hex digits, then optional
/// whitespace (SP / HTAB) and `;` extensions of any content; only CRLF ends a
/// line and no other CR is allowed in it; data followed by CRLF; the size
/// checked against the cap before its data; trailer lines (ignored) up to
/// an empty one, at most `TRAILER_BYTES_MAX` bytes in all.
fn reference(input: &[u8], cap: u64) -> Decoded {
    let mut decoded = Decoded {
        body: Vec::new(),
        consumed: 0,
        done: false,
        error: None,
    };
    let mut at = 0;
    loop {
        let line = match line_at(input, at, CHUNK_LINE_BYTES_MAX) {
            Line::Complete(line) => line,
            Line::Incomplete => return incomplete(decoded, input),
            Line::Refused(error) => return refused(decoded, error),
        };
        at += line.len() + 2;
        let Some(size) = chunk_size(line) else {
            return refused(decoded, ChunkError::BadSize);
        };
        if size > cap - decoded.body.len() as u64 {
            return refused(decoded, ChunkError::BodyTooLarge);
        }
        if size == 0 {
            break;
        }
        let data_end = at.saturating_add(size as usize).min(input.len());
        decoded.body.extend_from_slice(&input[at..data_end]);
        if data_end - at < size as usize {
            return incomplete(decoded, input);
        }
        at = data_end;
        for expected in [b'\r', b'\n'] {
            match input.get(at) {
                None => return incomplete(decoded, input),
                Some(&byte) if byte == expected => at += 1,
                Some(_) => return refused(decoded, ChunkError::BadLineEnd),
            }
        }
    }
    let trailer_start = at;
    loop {
        let line = match line_at(input, at, TRAILER_BYTES_MAX) {
            Line::Complete(line) => line,
            Line::Incomplete if input.len() - trailer_start > TRAILER_BYTES_MAX => {
                return refused(decoded, ChunkError::TrailerTooLarge)
            }
            Line::Incomplete => return incomplete(decoded, input),
            Line::Refused(ChunkError::LineTooLong) => {
                return refused(decoded, ChunkError::TrailerTooLarge)
            }
            Line::Refused(error) => return refused(decoded, error),
        };
        at += line.len() + 2;
        if at - trailer_start > TRAILER_BYTES_MAX {
            return refused(decoded, ChunkError::TrailerTooLarge);
        }
        if line.is_empty() {
            decoded.done = true;
            decoded.consumed = at;
            return decoded;
        }
    }
}

/// Out of input before the end: all of it was taken.
fn incomplete(mut decoded: Decoded, input: &[u8]) -> Decoded {
    decoded.consumed = input.len();
    decoded
}

fn refused(mut decoded: Decoded, error: ChunkError) -> Decoded {
    decoded.error = Some(error);
    decoded
}

enum Line<'a> {
    /// The line without its CRLF.
    Complete(&'a [u8]),
    Incomplete,
    Refused(ChunkError),
}

fn line_at(input: &[u8], at: usize, line_max: usize) -> Line<'_> {
    let rest = &input[at..];
    let Some(newline) = rest.iter().position(|&byte| byte == b'\n') else {
        return match rest.len() > line_max {
            true => Line::Refused(ChunkError::LineTooLong),
            false => Line::Incomplete,
        };
    };
    if newline + 1 > line_max {
        return Line::Refused(ChunkError::LineTooLong);
    }
    let line = &rest[..newline];
    match line.split_last() {
        Some((b'\r', content)) if !content.contains(&b'\r') => Line::Complete(content),
        _ => Line::Refused(ChunkError::BadLineEnd),
    }
}

/// `1*HEXDIG [ BWS ";" anything ]`, at most 15 digits.
fn chunk_size(line: &[u8]) -> Option<u64> {
    let digit_count = line
        .iter()
        .take_while(|byte| byte.is_ascii_hexdigit())
        .count();
    if digit_count == 0 || digit_count > 15 {
        return None;
    }
    let rest = &line[digit_count..];
    let after_space = rest.iter().position(|&byte| byte != b' ' && byte != b'\t');
    if let Some(index) = after_space {
        if rest[index] != b';' {
            return None;
        }
    }
    let digits = std::str::from_utf8(&line[..digit_count]).ok()?;
    u64::from_str_radix(digits, 16).ok()
}

/// Encodes `payload` as chunks in one of many valid ways and decodes it.
fn round_trip(payload: &[u8], rng: &mut Rng) {
    let mut encoded = Vec::new();
    let mut rest = payload;
    while !rest.is_empty() {
        let (chunk, tail) = rest.split_at(1 + rng.below(rest.len()));
        push_size_line(&mut encoded, chunk.len(), rng);
        encoded.extend_from_slice(chunk);
        encoded.extend_from_slice(b"\r\n");
        rest = tail;
    }
    push_size_line(&mut encoded, 0, rng);
    for index in 0..rng.below(3) {
        encoded.extend_from_slice(format!("X-Trailer-{index}: v{index}\r\n").as_bytes());
    }
    encoded.extend_from_slice(b"\r\n");
    let body_end = encoded.len();
    encoded.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let cap = [payload.len() as u64, JSON_BODY_BYTES_MAX as u64, u64::MAX][rng.below(3)];
    let expected = Decoded {
        body: payload.to_vec(),
        consumed: body_end,
        done: true,
        error: None,
    };
    assert_eq!(
        decode(&[&encoded], cap),
        expected,
        "round trip of {encoded:?}"
    );
    let cuts = [rng.below(encoded.len() + 1), rng.below(encoded.len() + 1)];
    let cuts = [cuts[0].min(cuts[1]), cuts[0].max(cuts[1])];
    assert_eq!(
        decode(&pieces(&encoded, &cuts), cap),
        expected,
        "round trip cut at {cuts:?}"
    );
    if !payload.is_empty() {
        let short = decode(&[&encoded], payload.len() as u64 - 1);
        assert_eq!(
            short.error,
            Some(ChunkError::BodyTooLarge),
            "one byte over the cap"
        );
    }
}

fn push_size_line(out: &mut Vec<u8>, size: usize, rng: &mut Rng) {
    let zeros = "0".repeat(rng.below(4));
    let digits = match rng.below(2) {
        0 => format!("{zeros}{size:x}"),
        _ => format!("{zeros}{size:X}"),
    };
    out.extend_from_slice(digits.as_bytes());
    let extension: &[u8] = match rng.below(4) {
        0 => b";name=value",
        1 => b" ;a ;b=\"q\"",
        2 => b"\t;x",
        _ => b"",
    };
    out.extend_from_slice(extension);
    out.extend_from_slice(b"\r\n");
}
