//! A stream of pipelined requests through the server's framing: head, then
//! a body by `Content-Length` or chunked (`ChunkedDecoder`), then the next
//! head, as `src/server.rs` does it (modelled in `src/connection.rs`).
//!
//! Asserts that the decisions (each head, each decoded body, each refusal,
//! and the state at the end) are the same whether the stream arrives in one
//! read, cut in two at every position (a sample for long inputs), in three
//! pieces, or one byte per read; and, inside the model, that the decoder
//! never consumes more than it was given, stops early only when the body is
//! done, never decodes more bytes than it consumed, and keeps to its cap.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::limits::JSON_BODY_BYTES_MAX;
use sessions_lite_fuzz::connection::{agree, run, Event};
use sessions_lite_fuzz::reads::{cut_sets, pieces, seed_of, Rng};

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(seed_of(data));
    // The server's two caps (buffered bodies, streamed text) and a small one
    // that the fuzzer can reach.
    let body_bytes_max = [JSON_BODY_BYTES_MAX as u64, u64::MAX, 64][rng.below(3)];
    let whole = run(&[data], body_bytes_max);
    for event in &whole.0 {
        if let Event::Body(body) = event {
            assert!(body.len() <= data.len());
        }
    }
    for cuts in cut_sets(data.len(), &[], 256, &mut rng) {
        let split = run(&pieces(data, &cuts), body_bytes_max);
        assert!(
            agree(&whole, &split),
            "cut at {cuts:?}:\nwhole {whole:?}\nsplit {split:?}"
        );
    }
    if data.len() <= 1024 {
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        let split = run(&bytes, body_bytes_max);
        assert!(
            agree(&whole, &split),
            "byte by byte:\nwhole {whole:?}\nsplit {split:?}"
        );
    }
});
