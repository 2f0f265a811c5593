//! permessage-deflate (RFC 7692) for WebSocket clients that offer it, as
//! browsers do: the negotiation, compressing a session list once for every
//! client that takes compressed lists, and undoing compression on what
//! clients send before tungstenite (which knows no extensions) sees it.
//!
//! Choices, all allowed by the RFC:
//! - Both sides run without context takeover: each message is compressed
//!   on its own. So one compressed list serves every client, and no client
//!   holds a 32 KiB window (plus compressor state) between messages.
//! - Only session lists are compressed. They are large (about 360 bytes a
//!   session) and repetitive (about 20:1 at level 1); everything else the
//!   server sends is small or per client, and goes uncompressed (RSV1
//!   clear), which the extension allows message by message.
//! - A client that limits the server's window (`server_max_window_bits`
//!   below 15) is accepted with that limit and simply gets lists
//!   uncompressed: the shared list is compressed with a 32 KiB window.
//! - Client messages are inflated whole, to at most `WS_MESSAGE_BYTES_MAX`
//!   (over it: close 1009, as for an uncompressed message), and handed to
//!   tungstenite as one uncompressed frame.

use crate::limits::{WS_COMPRESSED_MESSAGE_BYTES_MAX, WS_DEFLATE_LEVEL, WS_MESSAGE_BYTES_MAX};
use miniz_oxide::deflate::core::{
    compress, create_comp_flags_from_zip_params, CompressorOxide, TDEFLFlush, TDEFLStatus,
};
use miniz_oxide::inflate::core::inflate_flags::{
    TINFL_FLAG_HAS_MORE_INPUT, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
};
use miniz_oxide::inflate::core::{decompress, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;
use std::io::Cursor;
use tungstenite::protocol::frame::coding::OpCode;
use tungstenite::protocol::frame::FrameHeader;

/// The extension's name in `Sec-WebSocket-Extensions`.
const EXTENSION_NAME: &str = "permessage-deflate";
/// What a sync flush ends with; RFC 7692 7.2.1 strips it from a message
/// and 7.2.2 appends it again before inflating.
const SYNC_TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// The largest LZ77 window, 2^15 bytes, as `*_max_window_bits`.
const WINDOW_BITS_MAX: u8 = 15;
const WINDOW_BITS_MIN: u8 = 8;

/// What was agreed with one client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deflate {
    /// The client takes lists compressed with a full 32 KiB window.
    pub compressed_lists: bool,
    /// `server_max_window_bits` as the client asked (echoed back).
    server_max_window_bits: Option<u8>,
}

impl Deflate {
    /// The `Sec-WebSocket-Extensions` value of the 101 answer.
    pub fn response_header(&self) -> String {
        let mut value =
            format!("{EXTENSION_NAME}; server_no_context_takeover; client_no_context_takeover");
        if let Some(bits) = self.server_max_window_bits {
            value.push_str(&format!("; server_max_window_bits={bits}"));
        }
        value
    }
}

/// Picks the first `permessage-deflate` offer in the client's
/// `Sec-WebSocket-Extensions` value(s) whose parameters are all known and
/// valid. Anything else (other extensions, broken offers) is declined by
/// leaving it out, as RFC 6455 9.1 allows; the upgrade goes on without it.
pub fn negotiate(offers: &str) -> Option<Deflate> {
    offers.split(',').find_map(accept_offer)
}

fn accept_offer(offer: &str) -> Option<Deflate> {
    let mut parts = offer.split(';').map(|part| part.trim_matches([' ', '\t']));
    if !parts.next()?.eq_ignore_ascii_case(EXTENSION_NAME) {
        return None;
    }
    let mut seen = [false; 4];
    let mut server_max_window_bits = None;
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((name, value)) => (
                name.trim_matches([' ', '\t']),
                Some(unquote(value.trim_matches([' ', '\t']))?),
            ),
            None => (part, None),
        };
        let index = match name.to_ascii_lowercase().as_str() {
            "server_no_context_takeover" if value.is_none() => 0,
            "client_no_context_takeover" if value.is_none() => 1,
            "server_max_window_bits" => {
                server_max_window_bits = Some(window_bits(value?)?);
                2
            }
            "client_max_window_bits" => {
                // We inflate with a full window, so any client window does.
                if let Some(value) = value {
                    window_bits(value)?;
                }
                3
            }
            _ => return None,
        };
        // A parameter given twice makes the offer invalid (RFC 7692 7).
        if std::mem::replace(&mut seen[index], true) {
            return None;
        }
    }
    Some(Deflate {
        compressed_lists: server_max_window_bits.is_none_or(|bits| bits == WINDOW_BITS_MAX),
        server_max_window_bits,
    })
}

/// A parameter value: a token, or a quoted string holding one.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        Some(rest) => rest.strip_suffix('"'),
        None => Some(value),
    }
}

/// 8 to 15, in plain decimal digits (RFC 7692 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bits: u8 = value.parse().ok()?;
    (WINDOW_BITS_MIN..=WINDOW_BITS_MAX)
        .contains(&bits)
        .then_some(bits)
}

/// One message's payload compressed on its own (no context takeover),
/// sync-flushed, with the flush's empty-block tail removed (RFC 7692 7.2.1).
pub fn compress_message(payload: &[u8]) -> Vec<u8> {
    // Negative window bits: raw deflate, no zlib header.
    let flags = create_comp_flags_from_zip_params(i32::from(WS_DEFLATE_LEVEL), -15, 0);
    let mut compressor = CompressorOxide::new(flags);
    let mut output = vec![0; payload.len() / 8 + 64];
    let mut input = payload;
    let mut written = 0;
    loop {
        let (status, consumed, produced) = compress(
            &mut compressor,
            input,
            &mut output[written..],
            TDEFLFlush::Sync,
        );
        written += produced;
        input = &input[consumed.min(input.len())..];
        let flushed = input.is_empty() && written < output.len();
        match status {
            TDEFLStatus::Okay | TDEFLStatus::Done if flushed => break,
            TDEFLStatus::Okay | TDEFLStatus::Done => {
                let grown = output.len() * 2;
                output.resize(grown, 0);
            }
            // Only a bad parameter or a failed callback, neither of which
            // this call can produce; an empty message is still valid.
            TDEFLStatus::BadParam | TDEFLStatus::PutBufFailed => {
                written = 0;
                break;
            }
        }
    }
    output.truncate(written);
    if output.ends_with(&SYNC_TAIL) {
        output.truncate(written - SYNC_TAIL.len());
    }
    if output.is_empty() {
        // The one-byte empty message of RFC 7692 7.2.3.6.
        output.push(0x00);
    }
    output
}

/// Why a compressed message could not be inflated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// It inflates to more than the limit.
    TooBig,
    /// It is not valid DEFLATE data.
    Corrupt,
}

/// Inflates one message compressed without context takeover, to at most
/// `limit` bytes.
pub fn inflate_message(compressed: &[u8], limit: usize) -> Result<Vec<u8>, InflateError> {
    let mut input = Vec::with_capacity(compressed.len() + SYNC_TAIL.len());
    input.extend_from_slice(compressed);
    input.extend_from_slice(&SYNC_TAIL);
    // One byte past the limit tells "exactly the limit" from "more".
    let mut output = vec![0; limit + 1];
    let mut decompressor = Box::new(DecompressorOxide::new());
    let flags = TINFL_FLAG_HAS_MORE_INPUT | TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let (status, consumed, produced) = decompress(&mut decompressor, &input, &mut output, 0, flags);
    if produced > limit || status == TINFLStatus::HasMoreOutput {
        return Err(InflateError::TooBig);
    }
    match status {
        // The message ended at a block boundary: the tail was read.
        TINFLStatus::NeedsMoreInput if consumed == input.len() => {}
        // The sender closed with a final block (RFC 7692 7.2.3.4 allows
        // it); what follows it, our tail included, is not read.
        TINFLStatus::Done => {}
        _ => return Err(InflateError::Corrupt),
    }
    output.truncate(produced);
    Ok(output)
}

/// Why the client's frames were refused; the connection then fails with
/// the close code the variant names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InboundError {
    /// 1009: a frame or a compressed message over the limits.
    TooBig,
    /// 1002: frames that break the framing rules of a compressed message.
    Protocol(&'static str),
    /// 1007: compressed data that does not inflate.
    Corrupt,
}

/// A compressed message whose frames are still arriving.
struct CompressedMessage {
    opcode: u8,
    compressed: Vec<u8>,
}

/// Sits between the socket and tungstenite on a connection that agreed to
/// permessage-deflate. Frames of uncompressed messages and control frames
/// pass through byte for byte (tungstenite checks them). A compressed
/// message (RSV1 on its first frame) is gathered, inflated, and passed on
/// as one final, uncompressed frame when its last frame arrives; control
/// frames between its fragments pass on at once, as they would have.
#[derive(Default)]
pub struct InboundFrames {
    /// Bytes of a frame not yet complete.
    pending: Vec<u8>,
    message: Option<CompressedMessage>,
    /// An uncompressed fragmented message is open: its continuations pass.
    plain_open: bool,
}

/// The parsed header of one client frame.
struct FrameHead {
    fin: bool,
    rsv1: bool,
    /// RSV2 or RSV3: no extension here defines them.
    rsv_other: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    header_len: usize,
    payload_len: usize,
}

impl InboundFrames {
    /// Takes the bytes read from the client; appends to `out` what
    /// tungstenite should read. On an error, `out` holds what came before
    /// the bad frame, and the rest is dropped.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), InboundError> {
        self.pending.extend_from_slice(input);
        let mut start = 0;
        let result = loop {
            match parse_frame_head(&self.pending[start..]) {
                Ok(Some(head)) => {
                    let end = start + head.header_len + head.payload_len;
                    if end > self.pending.len() {
                        break Ok(());
                    }
                    if let Err(error) = self.on_frame(&head, start, out) {
                        break Err(error);
                    }
                    start = end;
                }
                Ok(None) => break Ok(()),
                Err(error) => break Err(error),
            }
        };
        if result.is_err() {
            self.pending.clear();
        } else {
            self.pending.drain(..start);
        }
        result
    }

    fn on_frame(
        &mut self,
        head: &FrameHead,
        start: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), InboundError> {
        let frame = &self.pending[start..start + head.header_len + head.payload_len];
        let is_data_start = head.opcode == 1 || head.opcode == 2;
        let compressed_part = match &self.message {
            Some(_) if head.opcode == 0 => true,
            Some(_) if is_data_start => {
                return Err(InboundError::Protocol(
                    "a new message began before a compressed one ended",
                ))
            }
            None => is_data_start && head.rsv1 && !self.plain_open,
            Some(_) => false,
        };
        if !compressed_part || head.rsv_other {
            // Control frames, uncompressed messages, and anything broken
            // that tungstenite will refuse with the right close code.
            if (head.opcode == 0 || is_data_start) && head.fin {
                self.plain_open = false;
            } else if is_data_start {
                self.plain_open = true;
            }
            out.extend_from_slice(frame);
            return Ok(());
        }
        if head.opcode == 0 && head.rsv1 {
            return Err(InboundError::Protocol(
                "RSV1 is set on a continuation frame",
            ));
        }
        let Some(mask) = head.mask else {
            return Err(InboundError::Protocol("a client frame is not masked"));
        };
        let payload = &frame[head.header_len..];
        let message = self.message.get_or_insert_with(|| CompressedMessage {
            opcode: head.opcode,
            compressed: Vec::new(),
        });
        if message.compressed.len() + payload.len() > WS_COMPRESSED_MESSAGE_BYTES_MAX {
            return Err(InboundError::TooBig);
        }
        let offset = message.compressed.len();
        message.compressed.extend_from_slice(payload);
        for (index, byte) in message.compressed[offset..].iter_mut().enumerate() {
            *byte ^= mask[index % 4];
        }
        if !head.fin {
            return Ok(());
        }
        let Some(message) = self.message.take() else {
            return Ok(());
        };
        let inflated = inflate_message(&message.compressed, WS_MESSAGE_BYTES_MAX).map_err(
            |error| match error {
                InflateError::TooBig => InboundError::TooBig,
                InflateError::Corrupt => InboundError::Corrupt,
            },
        )?;
        write_masked_frame(out, message.opcode, &inflated);
        Ok(())
    }
}

/// Parses a client frame header; `None` until all of it is there.
fn parse_frame_head(bytes: &[u8]) -> Result<Option<FrameHead>, InboundError> {
    let mut cursor = Cursor::new(bytes);
    let (header, payload_len) = match FrameHeader::parse(&mut cursor) {
        Ok(Some(parsed)) => parsed,
        Ok(None) => return Ok(None),
        // Only a reserved opcode is refused here.
        Err(_) => return Err(InboundError::Protocol("a frame with a reserved opcode")),
    };
    // Never buffer a frame bigger than any message we would take.
    let payload_len = usize::try_from(payload_len)
        .ok()
        .filter(|&len| len <= WS_COMPRESSED_MESSAGE_BYTES_MAX)
        .ok_or(InboundError::TooBig)?;
    Ok(Some(FrameHead {
        fin: header.is_final,
        rsv1: header.rsv1,
        rsv_other: header.rsv2 || header.rsv3,
        opcode: header.opcode.into(),
        mask: header.mask,
        // The cursor stopped at the end of the header (at most 14 bytes).
        header_len: cursor.position() as usize,
        payload_len,
    }))
}

/// One final client frame, masked with a zero key (the payload stays as
/// it is; tungstenite requires client frames to be masked).
fn write_masked_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    let header = FrameHeader {
        is_final: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::from(opcode),
        mask: Some([0; 4]),
    };
    // Formatting into a Vec cannot fail.
    let _ = header.format(payload.len() as u64, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed(offer: &str) -> Option<String> {
        negotiate(offer).map(|deflate| deflate.response_header())
    }

    const PLAIN: &str =
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover";

    #[test]
    fn negotiation_accepts_the_first_valid_offer() {
        assert_eq!(agreed("permessage-deflate").as_deref(), Some(PLAIN));
        // Chromium's offer.
        assert_eq!(
            agreed("permessage-deflate; client_max_window_bits").as_deref(),
            Some(PLAIN)
        );
        assert_eq!(
            agreed("x-webkit-deflate-frame, PerMessage-Deflate ; client_max_window_bits=10")
                .as_deref(),
            Some(PLAIN)
        );
        // A broken first offer is skipped, the second taken.
        let two = "permessage-deflate; bogus, permessage-deflate; server_no_context_takeover";
        assert_eq!(agreed(two).as_deref(), Some(PLAIN));
    }

    #[test]
    fn negotiation_honours_a_smaller_server_window() {
        let deflate = negotiate("permessage-deflate; server_max_window_bits=10").expect("offer");
        assert!(!deflate.compressed_lists);
        assert!(deflate
            .response_header()
            .ends_with("; server_max_window_bits=10"));
        let full = negotiate("permessage-deflate; server_max_window_bits=\"15\"").expect("offer");
        assert!(full.compressed_lists);
    }

    #[test]
    fn negotiation_declines_invalid_offers() {
        for offer in [
            "",
            "deflate-frame",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=+9",
            "permessage-deflate; client_max_window_bits=0x9",
            "permessage-deflate; server_no_context_takeover=1",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
            "permessage-deflate; unknown_parameter",
            "permessage-deflate; server_max_window_bits=\"10",
        ] {
            assert_eq!(negotiate(offer), None, "{offer}");
        }
    }

    #[test]
    fn compressed_messages_inflate_to_what_went_in() {
        let text: Vec<u8> = (0..5_000)
            .flat_map(|n| format!("{{\"id\":{n},\"appname\":\"agent\"}},").into_bytes())
            .collect();
        for payload in [&b""[..], b"a", b"Hello", &text[..1000], &text] {
            let compressed = compress_message(payload);
            assert!(!compressed.ends_with(&SYNC_TAIL));
            let limit = payload.len().max(1);
            assert_eq!(inflate_message(&compressed, limit).as_deref(), Ok(payload));
        }
        assert!(compress_message(&text).len() * 10 < text.len());
    }

    #[test]
    fn inflate_stops_at_the_limit() {
        let payload = vec![b'x'; 10_000];
        let compressed = compress_message(&payload);
        assert_eq!(
            inflate_message(&compressed, 10_000).map(|v| v.len()),
            Ok(10_000)
        );
        assert_eq!(
            inflate_message(&compressed, 9_999),
            Err(InflateError::TooBig)
        );
    }

    #[test]
    fn inflate_refuses_corrupt_data() {
        // Block type 3 does not exist.
        assert_eq!(
            inflate_message(&[0xff, 0xff], 100),
            Err(InflateError::Corrupt)
        );
        // A stored block whose length check fails.
        assert_eq!(
            inflate_message(&[0x00, 0x05, 0x00, 0x00, 0x00], 100),
            Err(InflateError::Corrupt)
        );
    }

    #[test]
    fn inflate_takes_the_rfc_examples() {
        // RFC 7692 7.2.3.1 and 7.2.3.4 (a final block): "Hello".
        let hello = [0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00];
        assert_eq!(inflate_message(&hello, 5).as_deref(), Ok(&b"Hello"[..]));
        let final_block = [0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00];
        assert_eq!(
            inflate_message(&final_block, 5).as_deref(),
            Ok(&b"Hello"[..])
        );
        // 7.2.3.6: the empty message.
        assert_eq!(inflate_message(&[0x00], 5).as_deref(), Ok(&b""[..]));
    }

    /// A client frame: FIN, RSV1, opcode, masked with `mask`.
    fn client_frame(fin: bool, rsv1: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let header = FrameHeader {
            is_final: fin,
            rsv1,
            rsv2: false,
            rsv3: false,
            opcode: OpCode::from(opcode),
            mask: Some(mask),
        };
        let mut frame = Vec::new();
        header
            .format(payload.len() as u64, &mut frame)
            .expect("a header");
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        frame
    }

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    fn feed_all(frames: &[u8]) -> (Vec<u8>, Result<(), InboundError>) {
        let mut inbound = InboundFrames::default();
        let mut out = Vec::new();
        let result = inbound.feed(frames, &mut out);
        (out, result)
    }

    #[test]
    fn a_compressed_message_becomes_one_plain_frame() {
        let compressed = compress_message(b"{\"type\":\"unfollow\"}");
        let frame = client_frame(true, true, 1, &compressed, MASK);
        let (out, result) = feed_all(&frame);
        assert_eq!(result, Ok(()));
        let mut expected = vec![0x81, 0x80 | 19, 0, 0, 0, 0];
        expected.extend_from_slice(b"{\"type\":\"unfollow\"}");
        assert_eq!(out, expected);
    }

    #[test]
    fn fragments_with_a_ping_between_them_byte_by_byte() {
        let compressed = compress_message(b"Hello, fragmented world");
        let (first, second) = compressed.split_at(compressed.len() / 2);
        let mut frames = client_frame(false, true, 1, first, MASK);
        let ping = client_frame(true, false, 9, b"p", MASK);
        frames.extend_from_slice(&ping);
        frames.extend(client_frame(true, false, 0, second, MASK));
        let plain = client_frame(true, false, 1, b"plain", MASK);
        frames.extend_from_slice(&plain);
        let mut inbound = InboundFrames::default();
        let mut out = Vec::new();
        for byte in &frames {
            assert_eq!(inbound.feed(std::slice::from_ref(byte), &mut out), Ok(()));
        }
        let mut expected = ping;
        expected.extend_from_slice(&[0x81, 0x80 | 23, 0, 0, 0, 0]);
        expected.extend_from_slice(b"Hello, fragmented world");
        expected.extend_from_slice(&plain);
        assert_eq!(out, expected);
    }

    #[test]
    fn uncompressed_fragments_pass_untouched() {
        let mut frames = client_frame(false, false, 2, b"ab", MASK);
        frames.extend(client_frame(true, false, 0, b"cd", MASK));
        let (out, result) = feed_all(&frames);
        assert_eq!((out, result), (frames, Ok(())));
    }

    #[test]
    fn framing_errors_of_compressed_messages() {
        let compressed = compress_message(b"Hello");
        let mut rsv1_continuation = client_frame(false, true, 1, &compressed[..2], MASK);
        rsv1_continuation.extend(client_frame(true, true, 0, &compressed[2..], MASK));
        assert!(matches!(
            feed_all(&rsv1_continuation).1,
            Err(InboundError::Protocol(_))
        ));
        let mut interleaved = client_frame(false, true, 1, &compressed[..2], MASK);
        interleaved.extend(client_frame(true, false, 1, b"x", MASK));
        assert!(matches!(
            feed_all(&interleaved).1,
            Err(InboundError::Protocol(_))
        ));
        let mut unmasked = client_frame(true, true, 1, &compressed, MASK);
        unmasked[1] &= 0x7f;
        unmasked.drain(2..6);
        assert!(matches!(
            feed_all(&unmasked).1,
            Err(InboundError::Protocol(_))
        ));
        let corrupt = client_frame(true, true, 1, &[0xff, 0xff], MASK);
        assert_eq!(feed_all(&corrupt).1, Err(InboundError::Corrupt));
    }

    #[test]
    fn a_deflate_bomb_is_too_big() {
        // 1 MiB of zeros compresses to a few KiB.
        let bomb = compress_message(&vec![0; 1 << 20]);
        assert!(bomb.len() < 16 * 1024);
        let frame = client_frame(true, true, 2, &bomb, MASK);
        assert_eq!(feed_all(&frame).1, Err(InboundError::TooBig));
    }

    #[test]
    fn at_the_limit_is_taken_one_past_is_too_big() {
        let at_limit = compress_message(&vec![b'a'; WS_MESSAGE_BYTES_MAX]);
        let (out, result) = feed_all(&client_frame(true, true, 2, &at_limit, MASK));
        assert_eq!(result, Ok(()));
        assert_eq!(out.len(), 10 + 4 + WS_MESSAGE_BYTES_MAX);
        let over = compress_message(&vec![b'a'; WS_MESSAGE_BYTES_MAX + 1]);
        let frame = client_frame(true, true, 2, &over, MASK);
        assert_eq!(feed_all(&frame).1, Err(InboundError::TooBig));
    }

    #[test]
    fn compressed_bytes_at_the_limit_are_taken_one_more_is_too_big() {
        // 0xff opens a block of the reserved type 3: the bytes are gathered
        // whole, then refused as corrupt, unless there are too many.
        let limit = WS_COMPRESSED_MESSAGE_BYTES_MAX;
        let at_limit = client_frame(true, true, 2, &vec![0xff; limit], MASK);
        assert_eq!(feed_all(&at_limit).1, Err(InboundError::Corrupt));
        let over = client_frame(true, true, 2, &vec![0xff; limit + 1], MASK);
        assert_eq!(feed_all(&over).1, Err(InboundError::TooBig));
        // The same across fragments: the message counts, not the frame.
        let mut split = client_frame(false, true, 2, &vec![0xff; limit / 2], MASK);
        split.extend(client_frame(true, false, 0, &vec![0xff; limit / 2], MASK));
        assert_eq!(feed_all(&split).1, Err(InboundError::Corrupt));
        let mut split = client_frame(false, true, 2, &vec![0xff; limit / 2], MASK);
        split.extend(client_frame(
            true,
            false,
            0,
            &vec![0xff; limit / 2 + 1],
            MASK,
        ));
        assert_eq!(feed_all(&split).1, Err(InboundError::TooBig));
    }

    #[test]
    fn a_frame_over_the_compressed_limit_is_refused_from_its_header() {
        let mut header = vec![0xc2, 0x80 | 127];
        header.extend_from_slice(&((WS_COMPRESSED_MESSAGE_BYTES_MAX as u64) + 1).to_be_bytes());
        // The mask key ends the header; no payload byte is needed.
        header.extend_from_slice(&MASK);
        assert_eq!(feed_all(&header).1, Err(InboundError::TooBig));
    }
}
