//! `BodyInflater` at every edge: header flags, members, checksums, limits,
//! and every way a body can arrive in pieces.

use super::*;
use crate::http::checksum::Crc32;
use miniz_oxide::deflate::{compress_to_vec, compress_to_vec_zlib};

/// The optional parts of a gzip member's header.
#[derive(Default, Clone)]
struct Header {
    text: bool,
    extra: Option<Vec<u8>>,
    name: Option<Vec<u8>>,
    comment: Option<Vec<u8>>,
    header_crc: bool,
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = Crc32::new();
    crc.update(bytes);
    crc.value()
}

fn gzip_with(data: &[u8], header: &Header) -> Vec<u8> {
    let mut flags = 0;
    flags |= if header.text { 1 } else { 0 };
    flags |= if header.header_crc { FHCRC } else { 0 };
    flags |= if header.extra.is_some() { FEXTRA } else { 0 };
    flags |= if header.name.is_some() { FNAME } else { 0 };
    flags |= if header.comment.is_some() {
        FCOMMENT
    } else {
        0
    };
    let mut member = vec![0x1f, 0x8b, 8, flags, 1, 2, 3, 4, 0, 3];
    if let Some(extra) = &header.extra {
        member.extend_from_slice(&(extra.len() as u16).to_le_bytes());
        member.extend_from_slice(extra);
    }
    for field in [&header.name, &header.comment].into_iter().flatten() {
        member.extend_from_slice(field);
        member.push(0);
    }
    if header.header_crc {
        let crc16 = (crc32(&member) & 0xffff) as u16;
        member.extend_from_slice(&crc16.to_le_bytes());
    }
    member.extend_from_slice(&compress_to_vec(data, 6));
    member.extend_from_slice(&crc32(data).to_le_bytes());
    member.extend_from_slice(&(data.len() as u32).to_le_bytes());
    member
}

fn gzip(data: &[u8]) -> Vec<u8> {
    gzip_with(data, &Header::default())
}

const MAX: u64 = 1 << 20;

/// Inflates `body` fed in the given pieces, then finishes.
fn inflate_in(coding: ContentCoding, pieces: &[&[u8]], max: u64) -> Result<Vec<u8>, InflateError> {
    let mut inflater = BodyInflater::new(coding, max);
    let mut out = Vec::new();
    for piece in pieces {
        inflater.feed(piece, &mut out)?;
        assert!(out.len() as u64 <= max, "held more than the limit");
    }
    inflater.finish()?;
    assert_eq!(inflater.inflated_size(), out.len() as u64);
    Ok(out)
}

/// Whole, cut in two at every position (short bodies) and byte by byte:
/// the same verdict and bytes every way.
fn inflate_every_way(
    coding: ContentCoding,
    body: &[u8],
    max: u64,
) -> Result<Vec<u8>, InflateError> {
    let whole = inflate_in(coding, &[body], max);
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(inflate_in(coding, &bytes, max), whole, "byte by byte");
    let cuts: Vec<usize> = if body.len() <= 300 {
        (0..=body.len()).collect()
    } else {
        (0..=body.len()).step_by(body.len() / 97 + 1).collect()
    };
    for cut in cuts {
        let (a, b) = body.split_at(cut);
        assert_eq!(inflate_in(coding, &[a, b], max), whole, "cut at {cut}");
    }
    whole
}

fn gzip_ok(body: &[u8]) -> Vec<u8> {
    inflate_every_way(ContentCoding::Gzip, body, MAX).expect("a valid gzip body")
}

fn gzip_refused(body: &[u8]) -> InflateError {
    inflate_every_way(ContentCoding::Gzip, body, MAX).expect_err("a refused gzip body")
}

fn sample(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| b"build step 7: compiling\n"[i % 24] ^ (i / 977) as u8)
        .collect()
}

#[test]
fn content_encoding_values() {
    use ContentCoding::*;
    let cases: &[(Option<&str>, Result<ContentCoding, CodingRefusal>)] = &[
        (None, Ok(Identity)),
        (Some(""), Ok(Identity)),
        (Some("identity"), Ok(Identity)),
        (Some("gzip"), Ok(Gzip)),
        (Some("GZip"), Ok(Gzip)),
        (Some("x-gzip"), Ok(Gzip)),
        (Some("deflate"), Ok(Deflate)),
        (Some(" deflate\t"), Ok(Deflate)),
        (Some("identity, gzip"), Ok(Gzip)),
        (Some("gzip, , identity"), Ok(Gzip)),
        (Some("br"), Err(CodingRefusal::Unknown("br".into()))),
        (Some("gzip, br"), Err(CodingRefusal::Unknown("br".into()))),
        (Some("gzip, gzip"), Err(CodingRefusal::Stacked)),
        (Some("deflate, gzip"), Err(CodingRefusal::Stacked)),
        (
            Some("gzip;q=1"),
            Err(CodingRefusal::Unknown("gzip;q=1".into())),
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(&parse_content_encoding(*value), expected, "{value:?}");
    }
    // An echo is quoted and cut, like every echo of a client's string.
    let long = "é".repeat(1000);
    let refusal = parse_content_encoding(Some(&long)).expect_err("unknown");
    let message = refusal.message();
    assert!(
        message.len() < 200 && message.contains("(cut)"),
        "{message}"
    );
    assert!(CodingRefusal::Unknown("br".into())
        .message()
        .contains("\"br\" is not supported: send gzip, deflate or identity"));
}

#[test]
fn plain_member() {
    let data = sample(5000);
    assert_eq!(gzip_ok(&gzip(&data)), data);
    assert_eq!(gzip_ok(&gzip(b"")), b"");
}

#[test]
fn every_header_flag_alone_and_together() {
    let data = sample(700);
    let headers = [
        Header {
            text: true,
            ..Header::default()
        },
        Header {
            extra: Some(vec![]),
            ..Header::default()
        },
        Header {
            extra: Some(b"AB\x02\x00xy".to_vec()),
            ..Header::default()
        },
        Header {
            name: Some(b"build.log".to_vec()),
            ..Header::default()
        },
        Header {
            name: Some(vec![]),
            ..Header::default()
        },
        Header {
            comment: Some(b"from agent 7".to_vec()),
            ..Header::default()
        },
        Header {
            header_crc: true,
            ..Header::default()
        },
        Header {
            text: true,
            extra: Some(vec![7; 300]),
            name: Some(b"a.log".to_vec()),
            comment: Some(b"c".to_vec()),
            header_crc: true,
        },
    ];
    for header in &headers {
        assert_eq!(gzip_ok(&gzip_with(&data, header)), data);
    }
}

#[test]
fn largest_extra_field_is_skipped() {
    let header = Header {
        extra: Some(vec![0xab; 65_535]),
        ..Header::default()
    };
    let body = gzip_with(b"x\n", &header);
    assert_eq!(
        inflate_in(ContentCoding::Gzip, &[&body], MAX),
        Ok(b"x\n".to_vec())
    );
}

#[test]
fn name_and_comment_at_their_limit() {
    for build in [
        |field: Vec<u8>| Header {
            name: Some(field),
            ..Header::default()
        },
        |field: Vec<u8>| Header {
            comment: Some(field),
            ..Header::default()
        },
    ] {
        for size in [GZIP_HEADER_FIELD_BYTES_MAX - 1, GZIP_HEADER_FIELD_BYTES_MAX] {
            let body = gzip_with(b"ok\n", &build(vec![b'n'; size]));
            assert_eq!(
                inflate_in(ContentCoding::Gzip, &[&body], MAX),
                Ok(b"ok\n".to_vec())
            );
        }
        let over = gzip_with(b"ok\n", &build(vec![b'n'; GZIP_HEADER_FIELD_BYTES_MAX + 1]));
        let bytes: Vec<&[u8]> = over.chunks(1).collect();
        for pieces in [vec![&over[..]], bytes] {
            assert_eq!(
                inflate_in(ContentCoding::Gzip, &pieces, MAX),
                Err(InflateError::HeaderFieldTooLong)
            );
        }
    }
}

#[test]
fn header_errors() {
    let good = gzip_with(
        b"data\n",
        &Header {
            header_crc: true,
            ..Header::default()
        },
    );
    let mut bad_crc16 = good.clone();
    bad_crc16[10] ^= 1;
    assert_eq!(gzip_refused(&bad_crc16), InflateError::HeaderCrcMismatch);
    let mut method = good.clone();
    method[2] = 7;
    assert_eq!(gzip_refused(&method), InflateError::UnknownMethod);
    for reserved in [0x20, 0x40, 0x80] {
        let mut flags = good.clone();
        flags[3] |= reserved;
        assert_eq!(gzip_refused(&flags), InflateError::ReservedFlags);
    }
    assert_eq!(gzip_refused(b"hello, plain text\n"), InflateError::NotGzip);
    assert_eq!(gzip_refused(b"\x1f\x8c rest"), InflateError::NotGzip);
}

#[test]
fn a_body_that_is_not_gzip_is_refused_at_its_first_byte() {
    let mut inflater = BodyInflater::new(ContentCoding::Gzip, MAX);
    let mut out = Vec::new();
    assert_eq!(inflater.feed(b"{", &mut out), Err(InflateError::NotGzip));
    // The error sticks: later bytes are not taken.
    assert_eq!(
        inflater.feed(&gzip(b"x"), &mut out),
        Err(InflateError::NotGzip)
    );
    assert_eq!(inflater.finish(), Err(InflateError::NotGzip));
    assert!(out.is_empty());
}

#[test]
fn trailer_errors() {
    let data = sample(3000);
    let good = gzip(&data);
    let trailer = good.len() - 8;
    let mut crc = good.clone();
    crc[trailer] ^= 0x40;
    assert_eq!(gzip_refused(&crc), InflateError::CrcMismatch);
    let mut size = good.clone();
    size[trailer + 4] ^= 1;
    assert_eq!(gzip_refused(&size), InflateError::SizeMismatch);
    let mut data_bit = good.clone();
    data_bit[20] ^= 0x10;
    let error = gzip_refused(&data_bit);
    assert!(
        matches!(
            error,
            InflateError::BadData | InflateError::CrcMismatch | InflateError::SizeMismatch
        ),
        "{error:?}"
    );
}

#[test]
fn every_prefix_of_a_member_is_truncated() {
    let body = gzip_with(
        &sample(400),
        &Header {
            extra: Some(vec![1, 2]),
            name: Some(b"n".to_vec()),
            header_crc: true,
            ..Header::default()
        },
    );
    for cut in 0..body.len() {
        assert_eq!(
            inflate_in(ContentCoding::Gzip, &[&body[..cut]], MAX),
            Err(InflateError::Truncated),
            "cut at {cut}"
        );
    }
}

#[test]
fn empty_bodies_are_not_streams() {
    assert_eq!(
        inflate_in(ContentCoding::Gzip, &[], MAX),
        Err(InflateError::Truncated)
    );
    assert_eq!(
        inflate_in(ContentCoding::Deflate, &[b""], MAX),
        Err(InflateError::Truncated)
    );
}

#[test]
fn members_one_after_another_are_one_body() {
    let mut body = gzip(b"first\n");
    body.extend(gzip_with(
        b"second\n",
        &Header {
            name: Some(b"b".to_vec()),
            ..Header::default()
        },
    ));
    body.extend(gzip(b""));
    assert_eq!(gzip_ok(&body), b"first\nsecond\n");
    let mut garbage = gzip(b"first\n");
    garbage.extend_from_slice(b"\0\0\0\0");
    assert_eq!(gzip_refused(&garbage), InflateError::TrailingData);
    let mut half = gzip(b"first\n");
    half.push(0x1f);
    assert_eq!(gzip_refused(&half), InflateError::Truncated);
}

#[test]
fn zlib_streams() {
    let data = sample(4000);
    let zlib = compress_to_vec_zlib(&data, 6);
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, &zlib, MAX),
        Ok(data.clone())
    );
    let mut adler = zlib.clone();
    let last = adler.len() - 1;
    adler[last] ^= 1;
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, &adler, MAX),
        Err(InflateError::AdlerMismatch)
    );
    let mut trailing = zlib.clone();
    trailing.push(0);
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, &trailing, MAX),
        Err(InflateError::TrailingData)
    );
    for cut in [1, 2, 3, zlib.len() / 2, zlib.len() - 4, zlib.len() - 1] {
        assert_eq!(
            inflate_in(ContentCoding::Deflate, &[&zlib[..cut]], MAX),
            Err(InflateError::Truncated),
            "cut at {cut}"
        );
    }
    // 0x78 0xbb: a valid check with FDICT set.
    assert_eq!((0x78u16 << 8 | 0xbb) % 31, 0);
    assert_eq!(
        inflate_in(ContentCoding::Deflate, &[b"\x78\xbb\0\0\0\0"], MAX),
        Err(InflateError::PresetDictionary)
    );
}

#[test]
fn raw_deflate_is_taken_for_deflate() {
    let data = sample(4000);
    for level in [0, 1, 9] {
        let raw = compress_to_vec(&data, level);
        assert_eq!(
            inflate_every_way(ContentCoding::Deflate, &raw, MAX),
            Ok(data.clone())
        );
    }
    // The shortest stream: an empty final fixed block, two bytes.
    let empty = compress_to_vec(b"", 6);
    assert_eq!(empty.len(), 2);
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, &empty, MAX),
        Ok(vec![])
    );
    let mut trailing = compress_to_vec(b"x", 6);
    trailing.extend_from_slice(b"zz");
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, &trailing, MAX),
        Err(InflateError::TrailingData)
    );
    assert_eq!(
        inflate_every_way(ContentCoding::Deflate, b"\xff\xff\xff\xff", MAX),
        Err(InflateError::BadData)
    );
}

#[test]
fn inflated_size_at_the_limit() {
    let limit = 20_000u64;
    for size in [limit - 1, limit] {
        let data = sample(size as usize);
        for (coding, body) in [
            (ContentCoding::Gzip, gzip(&data)),
            (ContentCoding::Deflate, compress_to_vec_zlib(&data, 6)),
            (ContentCoding::Deflate, compress_to_vec(&data, 6)),
        ] {
            assert_eq!(
                inflate_every_way(coding, &body, limit),
                Ok(data.clone()),
                "{size}"
            );
        }
    }
    let over = sample(limit as usize + 1);
    for (coding, body) in [
        (ContentCoding::Gzip, gzip(&over)),
        (ContentCoding::Deflate, compress_to_vec_zlib(&over, 6)),
        (ContentCoding::Deflate, compress_to_vec(&over, 6)),
    ] {
        assert_eq!(
            inflate_every_way(coding, &body, limit),
            Err(InflateError::TooLarge)
        );
    }
}

#[test]
fn a_bomb_is_refused_having_held_at_most_the_limit() {
    let zeros = vec![0u8; 8 << 20];
    let bomb = gzip(&zeros);
    assert!(bomb.len() < 16 * 1024, "{} bytes", bomb.len());
    let limit = 256u64 << 10;
    let mut inflater = BodyInflater::new(ContentCoding::Gzip, limit);
    let mut out = Vec::new();
    assert_eq!(inflater.feed(&bomb, &mut out), Err(InflateError::TooLarge));
    assert!(out.len() as u64 <= limit + 1, "held {}", out.len());
    assert!(out.capacity() as u64 <= limit + 1 + INFLATE_STEP_BYTES_MAX as u64);
    // The whole bomb one byte at a time: the same, and no step grows the
    // body by more than the step cap.
    let mut inflater = BodyInflater::new(ContentCoding::Gzip, limit);
    let mut out = Vec::new();
    let mut verdict = Ok(());
    for byte in bomb.chunks(1) {
        let before = out.len();
        verdict = inflater.feed(byte, &mut out);
        let grown = out.len() - before;
        // A step writes at most the cap; one feed may take several steps
        // only while its output keeps filling them.
        assert!(
            grown <= 258 * 8 + INFLATE_STEP_BYTES_MAX || verdict.is_err(),
            "{grown}"
        );
        if verdict.is_err() {
            break;
        }
    }
    assert_eq!(verdict, Err(InflateError::TooLarge));
    assert!(out.len() as u64 <= limit + 1);
}

#[test]
fn messages_are_lowercase_and_name_the_limit() {
    assert_eq!(InflateError::TooLarge.status(), 413);
    assert_eq!(InflateError::CrcMismatch.status(), 400);
    let message = InflateError::TooLarge.message(ContentCoding::Gzip, 8 << 20);
    assert_eq!(message, "request body exceeds 8388608 bytes once inflated");
    assert!(InflateError::Truncated
        .message(ContentCoding::Deflate, 1)
        .starts_with("deflate body is truncated"));
}
