//! The data frames the server sends on a WebSocket, framed here rather
//! than by tungstenite: server frames are never masked, so the same bytes
//! serve every client, and a pushed message (`SharedMessage`) is framed
//! once, and compressed once more for clients that agreed to
//! permessage-deflate, whatever number of clients take it.

use crate::ws_deflate;
use std::rc::Rc;
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::{Frame, FrameHeader};
use tungstenite::Bytes;

/// The longest header of a frame we send: 2 bytes and a 64-bit length
/// (server frames are not masked).
pub const DATA_FRAME_HEADER_BYTES_MAX: usize = 2 + 8;

/// Appends one unmasked, final data frame (server frames are never masked,
/// so the same bytes serve every client).
pub fn push_frame(out: &mut Vec<u8>, data: Data, payload: impl Into<Bytes>) {
    let frame = Frame::message(payload, OpCode::Data(data), true);
    out.reserve(frame.len());
    // Formatting into a Vec cannot fail.
    let _ = frame.format(out);
}

/// One pushed message (a list, a changes message, a keep-alive): built
/// and framed once for every client, and compressed once, the first time
/// a client that takes it compressed asks.
pub struct SharedMessage {
    payload: Vec<u8>,
    plain: Option<Rc<Vec<u8>>>,
    deflated: Option<Rc<Vec<u8>>>,
}

impl SharedMessage {
    /// A message of the JSON text `payload`, not framed yet.
    pub fn new(payload: Vec<u8>) -> SharedMessage {
        SharedMessage {
            payload,
            plain: None,
            deflated: None,
        }
    }

    /// The message's JSON, which SSE list streams send too (`sse_stream.rs`).
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// Which frames were made so far: (plain, compressed).
    pub fn frames_made(&self) -> (bool, bool) {
        (self.plain.is_some(), self.deflated.is_some())
    }

    /// The whole frame, plain or compressed (RSV1 set).
    pub fn frame(&mut self, compressed: bool) -> Rc<Vec<u8>> {
        let payload = &self.payload;
        let slot = if compressed {
            &mut self.deflated
        } else {
            &mut self.plain
        };
        let frame = slot.get_or_insert_with(|| {
            let frame = if compressed {
                text_frame(&ws_deflate::compress_message(payload), true)
            } else {
                text_frame(payload, false)
            };
            Rc::new(frame)
        });
        Rc::clone(frame)
    }
}

/// A final, unmasked text frame around `payload` (RFC 6455 5.2); RSV1
/// marks it compressed.
pub fn text_frame(payload: &[u8], rsv1: bool) -> Vec<u8> {
    let mut frame = Vec::new();
    write_text_frame(&mut frame, payload, rsv1);
    frame
}

/// Appends the frame of `text_frame`. Framed here rather than by
/// `Frame::message`, which takes the payload by value: the plain list is
/// still needed for the compressed one, and a log message's buffer is
/// reused for the next.
pub fn write_text_frame(out: &mut Vec<u8>, payload: &[u8], rsv1: bool) {
    let header = FrameHeader {
        is_final: true,
        rsv1,
        rsv2: false,
        rsv3: false,
        opcode: OpCode::Data(Data::Text),
        mask: None,
    };
    let length = payload.len() as u64;
    out.reserve(header.len(length) + payload.len());
    // Formatting into a Vec cannot fail.
    let _ = header.format(length, out);
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_frames_match_tungstenite_framing() {
        for len in [0, 1, 125, 126, 0xffff, 0x10000, 300_000] {
            let payload = vec![b'a'; len];
            let mut expected = Vec::new();
            push_frame(&mut expected, Data::Text, payload.clone());
            assert_eq!(text_frame(&payload, false), expected, "{len}");
            let compressed = text_frame(&payload, true);
            assert_eq!(compressed[0], expected[0] | 0x40, "RSV1");
            assert_eq!(compressed[1..], expected[1..]);
        }
    }
}
