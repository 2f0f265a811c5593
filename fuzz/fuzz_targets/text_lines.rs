//! `TextLines`: plain-text log bodies split into lines as bytes arrive.
//!
//! Asserts, for the input and for a copy whose line is grown to straddle
//! `MESSAGE_BYTES_MAX` (so cuts land on multi-byte characters, CR and
//! invalid bytes at the limit):
//! - every message is valid UTF-8, not empty, holds no LF, and is at most
//!   `MESSAGE_BYTES_MAX` bytes; `truncated` only when it was cut at the limit;
//! - the lines are those of a plain model: the whole body converted with
//!   `String::from_utf8_lossy`, split at LF, one CR before each LF dropped,
//!   empty lines skipped, each cut on a char boundary at the limit;
//! - fed in two or three pieces (every cut for short inputs) or byte by
//!   byte, it emits exactly what it emits fed whole;
//! - `finish` twice emits nothing the second time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::ingest::{truncate_message, TextLines};
use sessions_lite::limits::MESSAGE_BYTES_MAX;
use sessions_lite_fuzz::reads::{cut_sets, few_cut_sets, pieces, seed_of, Rng};

type Lines = Vec<(String, bool)>;

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(seed_of(data));
    let cuts = cut_sets(data.len(), &[], 128, &mut rng);
    check(data, &cuts);
    if data.len() <= 1024 {
        let bytes: Vec<&[u8]> = data.chunks(1).collect();
        assert_eq!(run(&bytes), run(&[data]), "byte by byte");
    }
    // One byte or character repeated at a place the hash picks, so that the
    // line holding it ends within a few bytes of the limit.
    let at = rng.below(data.len() + 1);
    let unit: &[u8] = [&b"a"[..], "é".as_bytes(), "€".as_bytes(), "😀".as_bytes()][rng.below(4)];
    let target = MESSAGE_BYTES_MAX - 8 + rng.below(16);
    let mut long = Vec::with_capacity(data.len() + target);
    long.extend_from_slice(&data[..at]);
    while long.len() < at + target {
        long.extend_from_slice(unit);
    }
    let pad_end = long.len();
    long.extend_from_slice(&data[at..]);
    let hot = [
        at,
        pad_end,
        at + MESSAGE_BYTES_MAX,
        at + MESSAGE_BYTES_MAX + 4,
    ];
    // Each run over 64 KiB costs: a few cuts, most near the limit.
    let cuts = few_cut_sets(long.len(), &hot, &mut rng);
    check(&long, &cuts);
});

fn check(data: &[u8], cut_sets: &[Vec<usize>]) {
    let whole = run(&[data]);
    for (message, truncated) in &whole {
        assert!(std::str::from_utf8(message.as_bytes()).is_ok());
        assert!(!message.is_empty(), "empty line emitted");
        assert!(!message.contains('\n'), "LF inside a line");
        assert!(
            message.len() <= MESSAGE_BYTES_MAX,
            "message is {} bytes",
            message.len()
        );
        if *truncated {
            assert!(
                message.len() + 3 >= MESSAGE_BYTES_MAX,
                "cut at {} bytes",
                message.len()
            );
        }
    }
    assert_eq!(whole, model(data), "differs from the model");
    for cuts in cut_sets {
        assert_eq!(run(&pieces(data, cuts)), whole, "cut at {cuts:?}");
    }
}

fn run(reads: &[&[u8]]) -> Lines {
    let mut lines = TextLines::new();
    let mut out = Vec::new();
    let mut emit = |message: &str, truncated: bool| out.push((message.to_owned(), truncated));
    for read in reads {
        lines.feed(read, &mut emit);
    }
    lines.finish(&mut emit);
    let emitted = out.len();
    lines.finish(&mut |_, _| panic!("a second finish emitted a line"));
    assert_eq!(out.len(), emitted);
    out
}

/// What the lines must be, from the whole body at once.
fn model(data: &[u8]) -> Lines {
    let text = String::from_utf8_lossy(data);
    let segments: Vec<&str> = text.split('\n').collect();
    let last = segments.len() - 1;
    segments
        .iter()
        .enumerate()
        .map(|(index, segment)| match index < last {
            true => segment.strip_suffix('\r').unwrap_or(segment),
            false => segment,
        })
        .filter(|line| !line.is_empty())
        .map(|line| {
            let (kept, truncated) = truncate_message(line);
            (kept.to_owned(), truncated)
        })
        .collect()
}
