//! `AnswerReader`: a collector's HTTP/1.1 answer to the exporter, fed in
//! pieces as a socket would.
//!
//! Asserts:
//! - it never panics, and a body it hands over is within
//!   `OTLP_ANSWER_BODY_BYTES_MAX`;
//! - fed in pieces (at every cut for short inputs, then a few random cut
//!   sets) it reads the same answer, or the same refusal, as fed whole;
//! - closing the connection ends only an answer read to the close, or
//!   reports where it was cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::http::answer::{Answer, AnswerError, AnswerReader, ClosedAnswer};
use sessions_lite::limits::OTLP_ANSWER_BODY_BYTES_MAX;
use sessions_lite_fuzz::reads::{cut_sets, pieces, seed_of, Rng};

/// What a reader made of the pieces: the answer (without whether the
/// connection may be reused, which depends on what came after it in the
/// same piece), a refusal, or, once the pieces ran out, how a close ends it.
#[derive(Debug, PartialEq, Eq)]
enum Read {
    Answered(Answer),
    Refused(AnswerError),
    Closed(ClosedAnswer),
}

fn read(parts: &[&[u8]]) -> Read {
    let mut reader = AnswerReader::new();
    for part in parts {
        match reader.feed(part) {
            Ok(Some((answer, _close))) => {
                assert!(answer.body.len() <= OTLP_ANSWER_BODY_BYTES_MAX);
                return Read::Answered(answer);
            }
            Ok(None) => {}
            Err(error) => return Read::Refused(error),
        }
    }
    let closed = reader.on_close();
    if let ClosedAnswer::Complete(answer) = &closed {
        assert!(answer.body.len() <= OTLP_ANSWER_BODY_BYTES_MAX);
    }
    Read::Closed(closed)
}

fuzz_target!(|data: &[u8]| {
    let whole = read(&[data]);
    let mut rng = Rng::new(seed_of(data));
    for cuts in cut_sets(data.len(), &[], 64, &mut rng) {
        let parts = pieces(data, &cuts);
        assert_eq!(read(&parts), whole, "cut at {cuts:?}");
    }
});
