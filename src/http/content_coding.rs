//! `Content-Encoding` on request bodies: which codings the server takes
//! (RFC 9110 8.4), and `BodyInflater`, a streaming decoder for them. Pure:
//! bytes in as they arrive, inflated bytes out, a verdict at the end.
//!
//! Choices where the RFCs leave room:
//! - `gzip` (and `x-gzip`, RFC 9110 8.4.1.3) is RFC 1952, its header read
//!   here by hand (FEXTRA, FNAME, FCOMMENT skipped within limits; FHCRC
//!   checked), each member's CRC-32 and ISIZE checked. Several members one
//!   after another (`cat a.gz b.gz`) are one body, as `gunzip` reads them;
//!   any other byte after a member is trailing data: 400.
//! - `deflate` is the zlib format (RFC 9110 8.4.1.2, RFC 1950) with its
//!   Adler-32. Many clients send raw DEFLATE instead; a body whose first
//!   two bytes are not a zlib header is read as raw DEFLATE (as browsers
//!   do). No raw DEFLATE stream from a real compressor starts with a valid
//!   zlib header (that needs a stored block with non-zero padding bits),
//!   but raw DEFLATE has no checksum: only its own structure is checked.
//!   A preset dictionary (FDICT) is refused.
//! - `identity` is no coding; a list of two real codings is refused (415),
//!   since no client stacks them on a request.
//! - An empty body is not a gzip or zlib stream: 400.
//!
//! Every inflate step writes at most `INFLATE_STEP_BYTES_MAX`, and never
//! past one byte over the body limit, so a bomb is refused (413) having
//! held at most the limit, whatever its ratio.
//!
//! The body is held whole anyway (until its checksums match), so it is
//! also the DEFLATE window: miniz_oxide's core decompressor writes straight
//! into it and reads back-references from it, with no 32 KiB window of its
//! own to zero and copy out of per body. (The streaming `InflateState` did
//! that: 60% of the instructions of inflating a 4 KiB log body.)

use super::checksum::{Adler32, Crc32};
use super::head::trim_ows;
use crate::ingest::Quoted;
use crate::limits::{GZIP_HEADER_FIELD_BYTES_MAX, INFLATE_STEP_BYTES_MAX, INFLATE_STEP_BYTES_MIN};
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// The codings the server takes, as a 415's `Accept-Encoding` (RFC 7694).
pub const ACCEPTED_CODINGS: &str = "gzip, deflate";

/// A request body's content coding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentCoding {
    Identity,
    Gzip,
    Deflate,
}

impl ContentCoding {
    pub fn name(self) -> &'static str {
        match self {
            ContentCoding::Identity => "identity",
            ContentCoding::Gzip => "gzip",
            ContentCoding::Deflate => "deflate",
        }
    }
}

/// Why a `Content-Encoding` was refused (415).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodingRefusal {
    /// A coding we do not know, as sent (quoted and cut in the message).
    Unknown(String),
    /// Two codings stacked (`gzip, gzip`).
    Stacked,
}

impl CodingRefusal {
    pub fn message(&self) -> String {
        match self {
            CodingRefusal::Unknown(name) => format!(
                "Content-Encoding {} is not supported: send gzip, deflate or identity",
                Quoted(name)
            ),
            CodingRefusal::Stacked => {
                "only one Content-Encoding at a time is supported: gzip or deflate".into()
            }
        }
    }
}

/// Reads a `Content-Encoding` value (all its lines joined with ", ").
/// Empty list elements and `identity` are no coding.
pub fn parse_content_encoding(value: Option<&str>) -> Result<ContentCoding, CodingRefusal> {
    let mut coding = ContentCoding::Identity;
    for element in value.unwrap_or("").split(',') {
        let element = trim_ows(element);
        let this = if element.is_empty() || element.eq_ignore_ascii_case("identity") {
            continue;
        } else if element.eq_ignore_ascii_case("gzip") || element.eq_ignore_ascii_case("x-gzip") {
            ContentCoding::Gzip
        } else if element.eq_ignore_ascii_case("deflate") {
            ContentCoding::Deflate
        } else {
            return Err(CodingRefusal::Unknown(element.to_owned()));
        };
        if coding != ContentCoding::Identity {
            return Err(CodingRefusal::Stacked);
        }
        coding = this;
    }
    Ok(coding)
}

/// Why a compressed body was refused; the connection closes after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// Inflated, it is over the route's body limit (413).
    TooLarge,
    /// It does not start with gzip's magic bytes.
    NotGzip,
    /// A gzip member whose method is not DEFLATE (8).
    UnknownMethod,
    /// A gzip header with reserved flag bits set.
    ReservedFlags,
    /// FNAME or FCOMMENT over `GZIP_HEADER_FIELD_BYTES_MAX`.
    HeaderFieldTooLong,
    HeaderCrcMismatch,
    /// A zlib stream that needs a preset dictionary.
    PresetDictionary,
    /// The DEFLATE data is broken.
    BadData,
    CrcMismatch,
    SizeMismatch,
    AdlerMismatch,
    /// Bytes after the end of the stream (after the last gzip member).
    TrailingData,
    /// The body ended inside the stream.
    Truncated,
}

impl InflateError {
    pub fn status(self) -> u16 {
        match self {
            InflateError::TooLarge => 413,
            _ => 400,
        }
    }

    pub fn message(self, coding: ContentCoding, inflated_bytes_max: u64) -> String {
        let name = coding.name();
        match self {
            InflateError::TooLarge => {
                format!("request body exceeds {inflated_bytes_max} bytes once inflated")
            }
            InflateError::NotGzip => "gzip body does not start with the gzip magic 1f 8b".into(),
            InflateError::UnknownMethod => "gzip member's method is not deflate (8)".into(),
            InflateError::ReservedFlags => "gzip header has reserved flag bits set".into(),
            InflateError::HeaderFieldTooLong => format!(
                "gzip header's file name or comment exceeds {GZIP_HEADER_FIELD_BYTES_MAX} bytes"
            ),
            InflateError::HeaderCrcMismatch => "gzip header's CRC16 does not match".into(),
            InflateError::PresetDictionary => {
                "deflate body needs a preset dictionary, which is not supported".into()
            }
            InflateError::BadData => format!("{name} body's compressed data is invalid"),
            InflateError::CrcMismatch => "gzip body's CRC-32 does not match its data".into(),
            InflateError::SizeMismatch => "gzip body's ISIZE does not match its data".into(),
            InflateError::AdlerMismatch => "deflate body's Adler-32 does not match its data".into(),
            InflateError::TrailingData => format!("{name} body has bytes after its end"),
            InflateError::Truncated => {
                format!("{name} body is truncated: it ends inside the stream")
            }
        }
    }
}

// gzip header flags (RFC 1952 2.3.1). FTEXT (bit 0) is only a hint.
const FHCRC: u8 = 1 << 1;
const FEXTRA: u8 = 1 << 2;
const FNAME: u8 = 1 << 3;
const FCOMMENT: u8 = 1 << 4;
const FLAGS_RESERVED: u8 = 0xe0;
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// CM = 8: DEFLATE, in gzip and in zlib.
const METHOD_DEFLATE: u8 = 8;
/// ID1 ID2 CM FLG MTIME(4) XFL OS.
const GZIP_FIXED_HEADER_BYTES: usize = 10;
/// CRC32 and ISIZE, little-endian.
const GZIP_TRAILER_BYTES: usize = 8;
const ZLIB_HEADER_BYTES: usize = 2;
/// Adler-32, big-endian.
const ZLIB_TRAILER_BYTES: usize = 4;
const ZLIB_FDICT: u8 = 1 << 5;

/// Where the decoder is within the body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// gzip: the fixed 10 bytes of a member's header (in `piece`).
    GzipFixed,
    /// gzip: FEXTRA's 2-byte length (in `piece`).
    GzipExtraSize,
    /// gzip: FEXTRA's data, skipped; this many bytes to go.
    GzipExtra { left: usize },
    /// gzip: FNAME up to its zero; this many bytes seen.
    GzipName { size: usize },
    /// gzip: FCOMMENT up to its zero; this many bytes seen.
    GzipComment { size: usize },
    /// gzip: the header's CRC16 (in `piece`).
    GzipHeaderCrc,
    /// deflate: CMF and FLG, or the first two bytes of raw DEFLATE.
    ZlibHeader,
    /// Compressed data, through miniz_oxide, written from `member_start`.
    Deflate,
    /// gzip: CRC32 and ISIZE (in `piece`).
    GzipTrailer,
    /// deflate (zlib): Adler-32 (in `piece`).
    ZlibTrailer,
    /// gzip: a member ended and checked out; the body may end here, or
    /// another member start.
    BetweenMembers,
    /// deflate: the stream ended and checked out; nothing may follow.
    End,
    /// Refused; every later call gives the same error.
    Failed(InflateError),
}

/// A compressed request body being inflated as it arrives.
pub struct BodyInflater {
    coding: ContentCoding,
    stage: Stage,
    /// The fixed-size field being collected, and how much of it is in.
    piece: [u8; GZIP_FIXED_HEADER_BYTES],
    piece_size: usize,
    /// gzip: FLG of the member being read.
    flags: u8,
    /// gzip: every header byte so far, for FHCRC.
    header_crc: Crc32,
    deflate: Box<DecompressorOxide>,
    /// Where the current member's (or zlib stream's) data starts in the
    /// output: its DEFLATE window. Set at its first inflate step.
    member_start: Option<usize>,
    /// gzip: the member's data so far.
    crc: Crc32,
    /// zlib: the stream's data so far.
    adler: Adler32,
    /// deflate: no zlib header came, so no trailer will.
    raw: bool,
    /// Inflated bytes of the gzip member being read (ISIZE is this mod 2^32).
    member_size: u64,
    inflated_size: u64,
    inflated_bytes_max: u64,
    members: u64,
}

impl BodyInflater {
    /// A decoder for `coding` (gzip or deflate) whose output may total at
    /// most `inflated_bytes_max` bytes.
    pub fn new(coding: ContentCoding, inflated_bytes_max: u64) -> BodyInflater {
        debug_assert!(
            coding != ContentCoding::Identity,
            "identity needs no inflater"
        );
        let stage = match coding {
            ContentCoding::Deflate => Stage::ZlibHeader,
            _ => Stage::GzipFixed,
        };
        BodyInflater {
            coding,
            stage,
            piece: [0; GZIP_FIXED_HEADER_BYTES],
            piece_size: 0,
            flags: 0,
            header_crc: Crc32::new(),
            deflate: Box::default(),
            member_start: None,
            crc: Crc32::new(),
            adler: Adler32::new(),
            raw: false,
            member_size: 0,
            inflated_size: 0,
            inflated_bytes_max,
            members: 0,
        }
    }

    pub fn coding(&self) -> ContentCoding {
        self.coding
    }

    pub fn inflated_bytes_max(&self) -> u64 {
        self.inflated_bytes_max
    }

    /// Bytes inflated so far, over all members.
    pub fn inflated_size(&self) -> u64 {
        self.inflated_size
    }

    /// Takes every byte of `input` (the next piece of the body), appending
    /// what it inflates to to `out`. `out` is the same buffer every call,
    /// holding exactly what this inflater gave so far (the window of
    /// back-references). After an error nothing more is taken.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), InflateError> {
        assert_eq!(
            out.len() as u64,
            self.inflated_size,
            "out is not this body's output"
        );
        if let Stage::Failed(error) = self.stage {
            return Err(error);
        }
        let result = self.feed_stages(input, out);
        if let Err(error) = result {
            self.stage = Stage::Failed(error);
        }
        result
    }

    /// The body ended: `Ok` only when the stream ended properly.
    pub fn finish(&self) -> Result<(), InflateError> {
        match self.stage {
            Stage::BetweenMembers | Stage::End => Ok(()),
            Stage::Failed(error) => Err(error),
            _ => Err(InflateError::Truncated),
        }
    }

    fn feed_stages(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), InflateError> {
        while !input.is_empty() {
            match self.stage {
                Stage::GzipFixed => self.on_gzip_fixed(&mut input)?,
                Stage::GzipExtraSize => {
                    if self.collect_header(&mut input, 2) {
                        let left = usize::from(u16::from_le_bytes([self.piece[0], self.piece[1]]));
                        self.stage = Stage::GzipExtra { left };
                    }
                }
                Stage::GzipExtra { left } => {
                    let taken = left.min(input.len());
                    self.header_crc.update(&input[..taken]);
                    input = &input[taken..];
                    self.stage = if taken == left {
                        self.header_stage_after(FEXTRA)
                    } else {
                        Stage::GzipExtra { left: left - taken }
                    };
                }
                Stage::GzipName { size } => {
                    if let Some(size) = self.skip_zero_terminated(&mut input, size)? {
                        self.stage = Stage::GzipName { size };
                    } else {
                        self.stage = self.header_stage_after(FNAME);
                    }
                }
                Stage::GzipComment { size } => {
                    if let Some(size) = self.skip_zero_terminated(&mut input, size)? {
                        self.stage = Stage::GzipComment { size };
                    } else {
                        self.stage = self.header_stage_after(FCOMMENT);
                    }
                }
                Stage::GzipHeaderCrc => {
                    // The CRC16 covers the header before it, not itself.
                    if self.collect(&mut input, 2) {
                        let sent = u16::from_le_bytes([self.piece[0], self.piece[1]]);
                        if u32::from(sent) != self.header_crc.value() & 0xffff {
                            return Err(InflateError::HeaderCrcMismatch);
                        }
                        self.stage = Stage::Deflate;
                    }
                }
                Stage::ZlibHeader => {
                    if self.collect(&mut input, ZLIB_HEADER_BYTES) {
                        self.on_zlib_header(out)?;
                    }
                }
                Stage::Deflate => self.inflate_some(&mut input, out)?,
                Stage::GzipTrailer => {
                    if self.collect(&mut input, GZIP_TRAILER_BYTES) {
                        self.on_gzip_trailer()?;
                    }
                }
                Stage::ZlibTrailer => {
                    if self.collect(&mut input, ZLIB_TRAILER_BYTES) {
                        let sent = u32::from_be_bytes([
                            self.piece[0],
                            self.piece[1],
                            self.piece[2],
                            self.piece[3],
                        ]);
                        if sent != self.adler.value() {
                            return Err(InflateError::AdlerMismatch);
                        }
                        self.stage = Stage::End;
                    }
                }
                Stage::BetweenMembers => self.start_member(),
                Stage::End => return Err(InflateError::TrailingData),
                Stage::Failed(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Moves up to `size - piece_size` bytes of `input` into `piece`; true
    /// when the piece is whole (and then empties it for the next one).
    fn collect(&mut self, input: &mut &[u8], size: usize) -> bool {
        debug_assert!(self.piece_size < size && size <= self.piece.len());
        let taken = (size - self.piece_size).min(input.len());
        self.piece[self.piece_size..self.piece_size + taken].copy_from_slice(&input[..taken]);
        self.piece_size += taken;
        *input = &input[taken..];
        let whole = self.piece_size == size;
        if whole {
            self.piece_size = 0;
        }
        whole
    }

    /// `collect` for a piece of the gzip header, which FHCRC covers.
    fn collect_header(&mut self, input: &mut &[u8], size: usize) -> bool {
        let before = *input;
        let whole = self.collect(input, size);
        self.header_crc
            .update(&before[..before.len() - input.len()]);
        whole
    }

    fn start_member(&mut self) {
        self.stage = Stage::GzipFixed;
        self.header_crc = Crc32::new();
        self.crc = Crc32::new();
        self.member_size = 0;
        self.member_start = None;
        self.deflate.init();
    }

    /// The fixed header, checked byte by byte as it comes so that a body
    /// that is not gzip is refused at its first byte.
    fn on_gzip_fixed(&mut self, input: &mut &[u8]) -> Result<(), InflateError> {
        let whole = self.collect_header(input, GZIP_FIXED_HEADER_BYTES);
        let seen = if whole {
            GZIP_FIXED_HEADER_BYTES
        } else {
            self.piece_size
        };
        let magic_seen = seen.min(GZIP_MAGIC.len());
        if self.piece[..magic_seen] != GZIP_MAGIC[..magic_seen] {
            // After a member, bytes that do not start another are not gzip.
            return Err(if self.members == 0 {
                InflateError::NotGzip
            } else {
                InflateError::TrailingData
            });
        }
        if !whole {
            return Ok(());
        }
        if self.piece[2] != METHOD_DEFLATE {
            return Err(InflateError::UnknownMethod);
        }
        self.flags = self.piece[3];
        if self.flags & FLAGS_RESERVED != 0 {
            return Err(InflateError::ReservedFlags);
        }
        self.stage = self.header_stage_after(0);
        Ok(())
    }

    /// The header stage after the field `done` (0: the fixed part), by the
    /// order of RFC 1952 2.3: FEXTRA, FNAME, FCOMMENT, FHCRC, then data.
    fn header_stage_after(&self, done: u8) -> Stage {
        let order = [FEXTRA, FNAME, FCOMMENT, FHCRC];
        let next = order
            .iter()
            .skip_while(|&&field| done != 0 && field != done)
            .skip(usize::from(done != 0))
            .find(|&&field| self.flags & field != 0);
        match next {
            Some(&FEXTRA) => Stage::GzipExtraSize,
            Some(&FNAME) => Stage::GzipName { size: 0 },
            Some(&FCOMMENT) => Stage::GzipComment { size: 0 },
            Some(_) => Stage::GzipHeaderCrc,
            None => Stage::Deflate,
        }
    }

    /// Skips FNAME or FCOMMENT: `Some(size so far)` while its zero has not
    /// come, `None` once it has been taken.
    fn skip_zero_terminated(
        &mut self,
        input: &mut &[u8],
        size: usize,
    ) -> Result<Option<usize>, InflateError> {
        let zero = input.iter().position(|&byte| byte == 0);
        let field_bytes = zero.unwrap_or(input.len());
        if size + field_bytes > GZIP_HEADER_FIELD_BYTES_MAX {
            return Err(InflateError::HeaderFieldTooLong);
        }
        let taken = zero.map_or(input.len(), |zero| zero + 1);
        self.header_crc.update(&input[..taken]);
        *input = &input[taken..];
        Ok(zero.is_none().then_some(size + field_bytes))
    }

    /// CMF and FLG (RFC 1950 2.2), or raw DEFLATE if they are not a zlib
    /// header: those two bytes are then the start of the data.
    fn on_zlib_header(&mut self, out: &mut Vec<u8>) -> Result<(), InflateError> {
        let [cmf, flg] = [self.piece[0], self.piece[1]];
        let zlib = cmf & 0x0f == METHOD_DEFLATE
            && cmf >> 4 <= 7
            && (u16::from(cmf) << 8 | u16::from(flg)) % 31 == 0;
        self.stage = Stage::Deflate;
        if zlib {
            if flg & ZLIB_FDICT != 0 {
                return Err(InflateError::PresetDictionary);
            }
            return Ok(());
        }
        self.raw = true;
        let start = [cmf, flg];
        let mut rest = &start[..];
        self.inflate_some(&mut rest, out)?;
        // A stream may end within its first two bytes (an empty fixed
        // block); whatever is left is then after its end.
        self.feed_stages(rest, out)
    }

    /// Inflates from `input` until it is used up or the DEFLATE stream
    /// ends (then the trailer stage starts, `input` left at its first byte).
    fn inflate_some(&mut self, input: &mut &[u8], out: &mut Vec<u8>) -> Result<(), InflateError> {
        let member_start = *self.member_start.get_or_insert(out.len());
        // The output is zeroed before miniz writes it, so a step is sized
        // by what the input may give (text inflates about 4:1 to 10:1),
        // doubling while steps come back full, up to the cap.
        let mut step = input
            .len()
            .saturating_mul(4)
            .clamp(INFLATE_STEP_BYTES_MIN, INFLATE_STEP_BYTES_MAX);
        let flags = TINFL_FLAG_HAS_MORE_INPUT | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
        loop {
            // One byte past the limit tells "exactly the limit" from "more".
            let room_left = (self.inflated_bytes_max + 1).saturating_sub(self.inflated_size);
            let room = usize::try_from(room_left).unwrap_or(usize::MAX).min(step);
            let start = out.len();
            reserve_within(out, room, usize::try_from(room_left).unwrap_or(usize::MAX));
            out.resize(start + room, 0);
            let window = &mut out[member_start..];
            let (status, consumed, written) = decompress(
                &mut self.deflate,
                input,
                window,
                start - member_start,
                flags,
            );
            out.truncate(start + written);
            *input = &input[consumed..];
            self.count_inflated(&out[start..]);
            if self.inflated_size > self.inflated_bytes_max {
                return Err(InflateError::TooLarge);
            }
            match status {
                TINFLStatus::Done => {
                    self.stage = if self.coding == ContentCoding::Gzip {
                        Stage::GzipTrailer
                    } else if self.raw {
                        Stage::End
                    } else {
                        Stage::ZlibTrailer
                    };
                    return Ok(());
                }
                // The step was full: more output is waiting.
                TINFLStatus::HasMoreOutput => {
                    step = step.saturating_mul(2).min(INFLATE_STEP_BYTES_MAX);
                }
                // All input taken; the rest of the stream has not come yet.
                TINFLStatus::NeedsMoreInput if input.is_empty() => return Ok(()),
                TINFLStatus::NeedsMoreInput if consumed > 0 || written > 0 => {}
                _ => return Err(InflateError::BadData),
            }
        }
    }

    fn count_inflated(&mut self, inflated: &[u8]) {
        match self.coding {
            ContentCoding::Gzip => self.crc.update(inflated),
            _ if !self.raw => self.adler.update(inflated),
            _ => {}
        }
        self.member_size += inflated.len() as u64;
        self.inflated_size += inflated.len() as u64;
    }

    fn on_gzip_trailer(&mut self) -> Result<(), InflateError> {
        let [c0, c1, c2, c3, s0, s1, s2, s3, ..] = self.piece;
        if u32::from_le_bytes([c0, c1, c2, c3]) != self.crc.value() {
            return Err(InflateError::CrcMismatch);
        }
        // ISIZE is the size modulo 2^32 (RFC 1952 2.3.1).
        if u64::from(u32::from_le_bytes([s0, s1, s2, s3])) != self.member_size & 0xffff_ffff {
            return Err(InflateError::SizeMismatch);
        }
        self.members += 1;
        self.stage = Stage::BetweenMembers;
        Ok(())
    }
}

/// Makes room for `room` more bytes, growing by doubling as a Vec does but
/// never past `ceiling` more bytes: a body near its limit is not given
/// twice the limit's capacity.
fn reserve_within(out: &mut Vec<u8>, room: usize, ceiling: usize) {
    let needed = out.len().saturating_add(room);
    if needed <= out.capacity() {
        return;
    }
    let most = out.len().saturating_add(ceiling).max(needed);
    let target = out.capacity().saturating_mul(2).clamp(needed, most);
    out.reserve_exact(target - out.len());
}

#[cfg(test)]
mod tests;
