//! `content_coding`: the streaming decoder of compressed request bodies
//! (`http::content_coding::BodyInflater`) and the `Content-Encoding` parser.
//!
//! The input's first byte picks the coding and a limit; the rest is used
//! twice: as a body as sent (mostly broken streams), and as the data of
//! streams we build (gzip members with header fields chosen by the input's
//! hash, zlib, raw DEFLATE), optionally with one byte flipped.
//!
//! Asserts:
//! - the verdict and the inflated bytes are the same fed whole, cut in two
//!   or three anywhere, and byte by byte (up to 512 bytes);
//! - the held output never passes the limit by more than the one byte
//!   that tells "over"; only a stream over the limit is `TooLarge`;
//! - an error sticks: later feeds and `finish` give it again;
//! - an accepted zlib or raw body inflates to what miniz_oxide's one-shot
//!   decoder gives for it, an accepted gzip body to the concatenation of
//!   its members' data;
//! - round trip: a built stream inflates to its data (or is `TooLarge`
//!   exactly when the data is over the limit), several gzip members to
//!   their data joined; a flipped byte never yields wrong data silently
//!   for gzip and zlib (their checksums catch it, or it is refused);
//! - `parse_content_encoding` on the input as text: an accepted value
//!   names at most one of gzip / x-gzip / deflate besides identity.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};
use miniz_oxide::inflate::{decompress_to_vec, decompress_to_vec_zlib};
use sessions_lite::http::checksum::Crc32;
use sessions_lite::http::content_coding::{
    parse_content_encoding, BodyInflater, ContentCoding, InflateError,
};
use sessions_lite_fuzz::reads::{cut_sets, seed_of, Rng};

type Verdict = Result<Vec<u8>, InflateError>;

/// Feeds `body` cut at `cuts`, then finishes; checks the limit and that
/// an error sticks.
fn inflate_cut(coding: ContentCoding, body: &[u8], cuts: &[usize], max: u64) -> Verdict {
    let mut inflater = BodyInflater::new(coding, max);
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&body.len())) {
        let fed = inflater.feed(&body[start..end], &mut out);
        assert!(out.len() as u64 <= max + 1, "held {} over {max}", out.len());
        assert_eq!(inflater.inflated_size(), out.len() as u64);
        if let Err(error) = fed {
            assert_eq!(inflater.feed(b"\x1f\x8b\x08", &mut out), Err(error));
            assert_eq!(inflater.finish(), Err(error));
            return Err(error);
        }
        start = end;
    }
    assert!(out.len() as u64 <= max);
    inflater.finish().map(|()| out)
}

/// The verdict on `body` fed whole, and the same verdict every other way.
fn inflate_every_way(coding: ContentCoding, body: &[u8], max: u64, rng: &mut Rng) -> Verdict {
    let whole = inflate_cut(coding, body, &[], max);
    for cuts in cut_sets(body.len(), &[10, body.len().saturating_sub(8)], 24, rng) {
        assert_eq!(
            inflate_cut(coding, body, &cuts, max),
            whole,
            "cuts {cuts:?}"
        );
    }
    if body.len() <= 512 {
        let bytes: Vec<usize> = (1..body.len()).collect();
        assert_eq!(
            inflate_cut(coding, body, &bytes, max),
            whole,
            "byte by byte"
        );
    }
    whole
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.value()
}

/// A gzip member of `data` with header fields the rng picks.
fn gzip_member(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let flags = (rng.next_u64() & 0x1f) as u8;
    let mut member = vec![0x1f, 0x8b, 8, flags, 0, 0, 0, 0, 0, 255];
    if flags & 4 != 0 {
        let extra = rng.below(40);
        member.extend_from_slice(&(extra as u16).to_le_bytes());
        member.extend(std::iter::repeat_n(0xee, extra));
    }
    for bit in [8, 16] {
        if flags & bit != 0 {
            member.extend(std::iter::repeat_n(b'n', rng.below(20)));
            member.push(0);
        }
    }
    if flags & 2 != 0 {
        let crc16 = (crc32(&member) & 0xffff) as u16;
        member.extend_from_slice(&crc16.to_le_bytes());
    }
    member.extend(compress_to_vec(data, rng.below(10) as u8));
    member.extend_from_slice(&crc32(data).to_le_bytes());
    member.extend_from_slice(&(data.len() as u32).to_le_bytes());
    member
}

/// What a built stream must inflate to under `max`.
fn expected(data: &[u8], max: u64) -> Verdict {
    if data.len() as u64 > max {
        Err(InflateError::TooLarge)
    } else {
        Ok(data.to_vec())
    }
}

fn check_sent_body(coding: ContentCoding, body: &[u8], max: u64, rng: &mut Rng) {
    let verdict = inflate_every_way(coding, body, max, rng);
    let Ok(out) = verdict else {
        return;
    };
    if coding != ContentCoding::Deflate {
        return;
    }
    // The same bytes through miniz's one-shot decoders: zlib when the
    // header is zlib's, else raw (our fallback); ours took the same stream.
    let zlib = body.len() >= 2
        && body[0] & 0x0f == 8
        && body[0] >> 4 <= 7
        && (u16::from(body[0]) << 8 | u16::from(body[1])) % 31 == 0;
    let reference = if zlib {
        decompress_to_vec_zlib(body)
    } else {
        decompress_to_vec(body)
    };
    if let Ok(reference) = reference {
        assert_eq!(out, reference, "differs from miniz's one-shot decoder");
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&selector, rest)) = input.split_first() else {
        return;
    };
    let mut rng = Rng::new(seed_of(input));
    let coding = if selector & 1 == 0 {
        ContentCoding::Gzip
    } else {
        ContentCoding::Deflate
    };
    // Small limits reach the edge; large ones let real data through.
    let max = match selector >> 1 & 3 {
        0 => u64::from(selector >> 3),
        1 => rest.len() as u64,
        2 => (rest.len() as u64).saturating_sub(1),
        _ => 1 << 20,
    };
    check_sent_body(coding, rest, max, &mut rng);

    // Built streams of `rest` as data.
    let mut gzip = gzip_member(rest, &mut rng);
    assert_eq!(
        inflate_every_way(ContentCoding::Gzip, &gzip, max, &mut rng),
        expected(rest, max)
    );
    let zlib = compress_to_vec_zlib(rest, rng.below(10) as u8);
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, &zlib, max, &mut rng),
        expected(rest, max)
    );
    let raw = compress_to_vec(rest, rng.below(10) as u8);
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, &raw, max, &mut rng),
        expected(rest, max)
    );

    // Two members: one body, the data joined.
    let split = rng.below(rest.len() + 1);
    let mut two = gzip_member(&rest[..split], &mut rng);
    two.extend(gzip_member(&rest[split..], &mut rng));
    assert_eq!(
        inflate_every_way(ContentCoding::Gzip, &two, max, &mut rng),
        expected(rest, max)
    );

    // One flipped bit: never the wrong data, quietly. (A flip in a header's
    // MTIME, XFL, OS, FEXTRA data, name or comment changes nothing, so the
    // right data may still come back.)
    let at = rng.below(gzip.len());
    gzip[at] ^= 1 << rng.below(8);
    if let Ok(out) = inflate_cut(ContentCoding::Gzip, &gzip, &[], 1 << 20) {
        assert_eq!(out, rest, "gzip with a flipped bit at {at} gave other data");
    }
    let mut zlib = zlib;
    let at = rng.below(zlib.len());
    zlib[at] ^= 1 << rng.below(8);
    if let Ok(out) = inflate_cut(ContentCoding::Deflate, &zlib, &[], 1 << 20) {
        // A flipped header bit may turn it into raw DEFLATE, which has no
        // checksum; only a stream still read as zlib must be right.
        if zlib[0] & 0x0f == 8 && (u16::from(zlib[0]) << 8 | u16::from(zlib[1])) % 31 == 0 {
            assert_eq!(out, rest, "zlib with a flipped bit at {at} gave other data");
        }
    }

    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(coding) = parse_content_encoding(Some(text)) {
            let real = text
                .split(',')
                .map(|element| element.trim_matches([' ', '\t']))
                .filter(|element| !element.is_empty() && !element.eq_ignore_ascii_case("identity"))
                .collect::<Vec<_>>();
            assert!(real.len() <= 1, "{text:?} accepted as {coding:?}");
            let named = real.first().map(|name| name.to_ascii_lowercase());
            let expected = match named.as_deref() {
                None => ContentCoding::Identity,
                Some("gzip" | "x-gzip") => ContentCoding::Gzip,
                Some("deflate") => ContentCoding::Deflate,
                Some(other) => panic!("{other:?} accepted"),
            };
            assert_eq!(coding, expected);
        }
    }
});
