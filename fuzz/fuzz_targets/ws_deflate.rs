//! `ws_deflate`: the permessage-deflate offer parser and the filter that
//! turns a compressed client's frames into plain frames for tungstenite.
//!
//! The input's first byte picks a split point; the rest is client bytes
//! (and, read as text, an extension offer).
//!
//! Asserts:
//! - `negotiate` never panics; an accepted offer's answer names the
//!   extension and both no-context-takeover parameters;
//! - `InboundFrames::feed` gives the same output and result whether the
//!   bytes arrive at once or in two pieces split anywhere;
//! - what it passes on is a sequence of whole frames, none with a payload
//!   over the compressed-message limit (inflated ones stay under the
//!   smaller `WS_MESSAGE_BYTES_MAX`, which the unit tests check);
//! - `compress_message` then `inflate_message` gives back the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::limits::WS_COMPRESSED_MESSAGE_BYTES_MAX;
use sessions_lite::ws_deflate::{compress_message, inflate_message, negotiate, InboundFrames};

fn feed_in_pieces(pieces: &[&[u8]]) -> (Vec<u8>, Result<(), String>) {
    let mut inbound = InboundFrames::default();
    let mut out = Vec::new();
    for piece in pieces {
        if let Err(error) = inbound.feed(piece, &mut out) {
            return (out, Err(format!("{error:?}")));
        }
    }
    (out, Ok(()))
}

/// Walks the frames of `out`; each must be whole.
fn check_frames(mut out: &[u8]) {
    while !out.is_empty() {
        assert!(out.len() >= 2, "a cut frame header");
        let (length, mut header): (usize, usize) = match out[1] & 0x7f {
            126 => (u16::from_be_bytes([out[2], out[3]]) as usize, 4),
            127 => {
                let bytes: [u8; 8] = out[2..10].try_into().expect("8 bytes");
                (u64::from_be_bytes(bytes) as usize, 10)
            }
            length => (length as usize, 2),
        };
        if out[1] & 0x80 != 0 {
            header += 4;
        }
        assert!(
            length <= WS_COMPRESSED_MESSAGE_BYTES_MAX,
            "a frame of {length} bytes"
        );
        assert!(out.len() >= header + length, "a cut frame");
        out = &out[header + length..];
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, bytes)) = data.split_first() else {
        return;
    };
    if let Ok(text) = std::str::from_utf8(bytes) {
        if let Some(deflate) = negotiate(text) {
            let answer = deflate.response_header();
            assert!(answer.starts_with(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            ));
        }
    }
    let at = (split as usize * bytes.len()) / 256;
    let whole = feed_in_pieces(&[bytes]);
    let split_up = feed_in_pieces(&[&bytes[..at], &bytes[at..]]);
    assert_eq!(whole, split_up, "split at {at}");
    check_frames(&whole.0);
    let compressed = compress_message(bytes);
    assert_eq!(
        inflate_message(&compressed, bytes.len().max(1)).as_deref(),
        Ok(bytes),
        "round trip"
    );
});
