//! Decoder for `Transfer-Encoding: chunked` request bodies (RFC 9112 7.1).
//!
//! httparse's `parse_chunk_size` takes sizes up to u64::MAX and extensions of
//! any length, so this decoder is our own: a size line is at most
//! `CHUNK_LINE_BYTES_MAX` bytes, each size is checked against the body limit
//! before a byte of its data is kept, and only CRLF ends a line. It is
//! incremental: bytes may arrive split at any point.

use crate::limits::{CHUNK_LINE_BYTES_MAX, TRAILER_BYTES_MAX};

/// Where the decoder is within the chunked body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChunkState {
    /// Reading `1*HEXDIG [ chunk-ext ] CRLF`.
    SizeLine,
    /// Inside chunk data, this many bytes still to come.
    Data { remaining: u64 },
    /// After chunk data: the CRLF that must follow it.
    DataEnd { seen_cr: bool },
    /// After the last (zero) chunk: trailer lines until an empty one.
    Trailer,
    /// The body is complete; bytes after it belong to the next request.
    Done,
}

/// Why a chunked body was refused; the connection closes after the answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChunkError {
    LineTooLong,
    BadSize,
    BadLineEnd,
    BodyTooLarge,
    TrailerTooLarge,
}

impl ChunkError {
    pub fn status(self) -> u16 {
        match self {
            ChunkError::BodyTooLarge => 413,
            ChunkError::TrailerTooLarge => 431,
            _ => 400,
        }
    }

    pub fn message(self, body_bytes_max: u64) -> String {
        match self {
            ChunkError::LineTooLong => {
                format!("chunk size line exceeds {CHUNK_LINE_BYTES_MAX} bytes")
            }
            ChunkError::BadSize => "chunk size must be hexadecimal digits".into(),
            ChunkError::BadLineEnd => "chunk lines must end with CRLF".into(),
            ChunkError::BodyTooLarge => format!("request body exceeds {body_bytes_max} bytes"),
            ChunkError::TrailerTooLarge => {
                format!("chunked trailer exceeds {TRAILER_BYTES_MAX} bytes")
            }
        }
    }
}

/// Incremental chunked decoder with a cap on the decoded size.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: ChunkState,
    /// The size or trailer line read so far.
    line: Vec<u8>,
    decoded_total: u64,
    body_bytes_max: u64,
    trailer_size: usize,
}

impl ChunkedDecoder {
    pub fn new(body_bytes_max: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::SizeLine,
            line: Vec::new(),
            decoded_total: 0,
            body_bytes_max,
            trailer_size: 0,
        }
    }

    /// The terminating chunk and trailer have been read.
    pub fn is_done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes from `input`, appending chunk data to `out`. Returns how many
    /// bytes of `input` were consumed (all of them unless the body ended).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<usize, ChunkError> {
        let mut consumed = 0;
        while consumed < input.len() && self.state != ChunkState::Done {
            let rest = &input[consumed..];
            consumed += match self.state {
                ChunkState::SizeLine => self.on_size_line(rest)?,
                ChunkState::Data { remaining } => self.on_data(rest, remaining, out),
                ChunkState::DataEnd { seen_cr } => self.on_data_end(rest[0], seen_cr)?,
                ChunkState::Trailer => self.on_trailer(rest)?,
                ChunkState::Done => 0,
            };
        }
        debug_assert!(consumed <= input.len());
        Ok(consumed)
    }

    /// Collects one line ending in CRLF into `self.line`. Returns the bytes
    /// consumed and whether the line is complete (CRLF stripped).
    fn collect_line(&mut self, rest: &[u8], line_max: usize) -> Result<(usize, bool), ChunkError> {
        let newline = rest.iter().position(|&byte| byte == b'\n');
        let taken = newline.map_or(rest.len(), |index| index + 1);
        if self.line.len() + taken > line_max {
            return Err(ChunkError::LineTooLong);
        }
        self.line.extend_from_slice(&rest[..taken]);
        if newline.is_none() {
            return Ok((taken, false));
        }
        if !self.line.ends_with(b"\r\n") {
            return Err(ChunkError::BadLineEnd);
        }
        self.line.truncate(self.line.len() - 2);
        if self.line.contains(&b'\r') {
            return Err(ChunkError::BadLineEnd);
        }
        Ok((taken, true))
    }

    fn on_size_line(&mut self, rest: &[u8]) -> Result<usize, ChunkError> {
        let (taken, complete) = self.collect_line(rest, CHUNK_LINE_BYTES_MAX)?;
        if complete {
            let size = parse_chunk_size(&self.line)?;
            self.line.clear();
            if size > self.body_bytes_max - self.decoded_total {
                return Err(ChunkError::BodyTooLarge);
            }
            self.decoded_total += size;
            self.state = if size == 0 {
                ChunkState::Trailer
            } else {
                ChunkState::Data { remaining: size }
            };
        }
        Ok(taken)
    }

    fn on_data(&mut self, rest: &[u8], remaining: u64, out: &mut Vec<u8>) -> usize {
        let taken = rest
            .len()
            .min(usize::try_from(remaining).unwrap_or(usize::MAX));
        out.extend_from_slice(&rest[..taken]);
        let remaining = remaining - taken as u64;
        self.state = if remaining == 0 {
            ChunkState::DataEnd { seen_cr: false }
        } else {
            ChunkState::Data { remaining }
        };
        taken
    }

    fn on_data_end(&mut self, byte: u8, seen_cr: bool) -> Result<usize, ChunkError> {
        self.state = match (seen_cr, byte) {
            (false, b'\r') => ChunkState::DataEnd { seen_cr: true },
            (true, b'\n') => ChunkState::SizeLine,
            _ => return Err(ChunkError::BadLineEnd),
        };
        Ok(1)
    }

    fn on_trailer(&mut self, rest: &[u8]) -> Result<usize, ChunkError> {
        let (taken, complete) = self
            .collect_line(rest, TRAILER_BYTES_MAX)
            .map_err(|error| match error {
                ChunkError::LineTooLong => ChunkError::TrailerTooLarge,
                other => other,
            })?;
        self.trailer_size += taken;
        if self.trailer_size > TRAILER_BYTES_MAX {
            return Err(ChunkError::TrailerTooLarge);
        }
        if complete {
            // Trailer fields are read and ignored; an empty line ends them.
            if self.line.is_empty() {
                self.state = ChunkState::Done;
            }
            self.line.clear();
        }
        Ok(taken)
    }
}

/// Skipping SP / HTAB on a byte slice.
trait TrimBws {
    fn trim_start_matches_bws(&self) -> &Self;
}

impl TrimBws for [u8] {
    fn trim_start_matches_bws(&self) -> &[u8] {
        let start = self
            .iter()
            .position(|&byte| byte != b' ' && byte != b'\t')
            .unwrap_or(self.len());
        &self[start..]
    }
}

/// `1*HEXDIG` optionally followed by `;` extensions (ignored). At most 15
/// hex digits, so the size always fits in a u64 with room to add.
fn parse_chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits_end = line
        .iter()
        .position(|byte| !byte.is_ascii_hexdigit())
        .unwrap_or(line.len());
    let (digits, rest) = line.split_at(digits_end);
    if digits.is_empty() || digits.len() > 15 {
        return Err(ChunkError::BadSize);
    }
    // BWS is spaces and tabs only (RFC 9110 5.6.3); a form feed or any other
    // byte here is not whitespace to a strict peer, so it is an error.
    let after_space = rest.trim_start_matches_bws();
    if !after_space.is_empty() && after_space[0] != b';' {
        return Err(ChunkError::BadSize);
    }
    let size = digits.iter().fold(0u64, |size, &digit| {
        let value = (digit as char).to_digit(16).unwrap_or(0);
        size * 16 + u64::from(value)
    });
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], max: u64) -> Result<(Vec<u8>, usize, bool), ChunkError> {
        let mut decoder = ChunkedDecoder::new(max);
        let mut out = Vec::new();
        let consumed = decoder.decode(input, &mut out)?;
        Ok((out, consumed, decoder.is_done()))
    }

    #[test]
    fn decodes_chunks_and_stops_at_the_end() {
        let input = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-T: y\r\n\r\nGET /next";
        let (out, consumed, done) = decode_all(input, 100).expect("valid");
        assert_eq!(out, b"hello world");
        assert!(done);
        assert_eq!(&input[consumed..], b"GET /next");
    }

    #[test]
    fn every_split_gives_the_same_body() {
        let input = b"3\r\nabc\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n";
        for cut in 0..=input.len() {
            let mut decoder = ChunkedDecoder::new(1000);
            let mut out = Vec::new();
            let first = decoder.decode(&input[..cut], &mut out).expect("first");
            assert_eq!(first, cut);
            let second = decoder.decode(&input[cut..], &mut out).expect("second");
            assert_eq!(first + second, input.len());
            assert!(decoder.is_done());
            assert_eq!(out, b"abc0123456789abcdef");
        }
    }

    #[test]
    fn refusals() {
        let cases: &[(&[u8], ChunkError)] = &[
            (b"zz\r\n", ChunkError::BadSize),
            (b"\r\n", ChunkError::BadSize),
            (b"5 x\r\n", ChunkError::BadSize),
            (b"1234567890abcdef0\r\n", ChunkError::BadSize),
            (b"5\n", ChunkError::BadLineEnd),
            (b"5\r\r\n", ChunkError::BadLineEnd),
            (b"2\r\nabX", ChunkError::BadLineEnd),
            (b"2\r\nab\rX", ChunkError::BadLineEnd),
            (b"65\r\n", ChunkError::BodyTooLarge),
        ];
        for (input, expected) in cases {
            assert_eq!(decode_all(input, 100).err(), Some(*expected), "{input:?}");
        }
    }

    /// Found by fuzzing (seed `size-formfeed`): `trim_ascii_start` took a
    /// form feed after the size for whitespace.
    #[test]
    fn form_feed_after_chunk_size_is_refused() {
        assert_eq!(
            decode_all(b"5\x0c\r\nhello\r\n0\r\n\r\n", 100).err(),
            Some(ChunkError::BadSize)
        );
        assert!(decode_all(b"5 \t;ext\r\nhello\r\n0\r\n\r\n", 100).is_ok());
    }

    #[test]
    fn body_limit_edges() {
        let body = |size: usize| format!("{size:x}\r\n{}\r\n0\r\n\r\n", "a".repeat(size));
        assert!(decode_all(body(99).as_bytes(), 100).is_ok());
        assert!(decode_all(body(100).as_bytes(), 100).is_ok());
        assert_eq!(
            decode_all(body(101).as_bytes(), 100).err(),
            Some(ChunkError::BodyTooLarge)
        );
        // Two chunks together over the limit.
        let two = b"32\r\n".to_vec();
        let mut decoder = ChunkedDecoder::new(60);
        let mut out = Vec::new();
        let data = format!("{}\r\n", "b".repeat(50));
        decoder.decode(&two, &mut out).expect("first size");
        decoder
            .decode(data.as_bytes(), &mut out)
            .expect("first data");
        assert_eq!(
            decoder.decode(b"b\r\n", &mut out),
            Err(ChunkError::BodyTooLarge)
        );
    }

    #[test]
    fn size_line_length_edge() {
        let line = |length: usize| format!("1;{}\r\n", "e".repeat(length - 4));
        assert!(decode_all(line(CHUNK_LINE_BYTES_MAX).as_bytes(), 10).is_ok());
        assert_eq!(
            decode_all(line(CHUNK_LINE_BYTES_MAX + 1).as_bytes(), 10).err(),
            Some(ChunkError::LineTooLong)
        );
    }

    #[test]
    fn trailer_limit() {
        let input = format!("0\r\nX: {}\r\n\r\n", "t".repeat(TRAILER_BYTES_MAX));
        assert_eq!(
            decode_all(input.as_bytes(), 10).err(),
            Some(ChunkError::TrailerTooLarge)
        );
    }
}
