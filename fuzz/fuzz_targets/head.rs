//! `parse_head`: the request head and the framing decision.
//!
//! Asserts, for the input and for two copies padded to straddle the URI and
//! head size limits:
//! - a complete head is at most the input and `HEAD_BYTES_MAX`, ends with a
//!   blank line, has an origin-form target within `URI_BYTES_MAX`, a Host on
//!   HTTP/1.1, and chunked / 100-continue only on HTTP/1.1;
//! - the framing follows the header lines (read again with httparse): no
//!   `Transfer-Encoding` line unless chunked, then it is the only coding and
//!   there is no `Content-Length` line; `Length(n)` from exactly one
//!   `Content-Length` line whose value is n's digits; one `Host` line; each
//!   value carried to the router (Host, Origin, ...) is its line's value
//!   minus SP / HTAB at the ends;
//! - a refusal has a status the contract knows and a short message;
//! - prefixes agree with the whole input: a prefix that is `Complete` gives
//!   the very same head as the whole; a `Partial` prefix is not contradicted
//!   (the whole head is longer than it); a refused prefix means the whole is
//!   refused too (for the same reason, unless the prefix hit a size limit
//!   first), or, if the whole is still partial, that ending it with a blank
//!   line does not make it acceptable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::http::head::{parse_head, BodyFraming, HeadError, HeadParse, RequestHead};
use sessions_lite::limits::{HEADERS_MAX, HEAD_BYTES_MAX, URI_BYTES_MAX};
use sessions_lite_fuzz::reads::{seed_of, Rng};

type Verdict<'a> = Result<HeadParse<'a>, HeadError>;

fuzz_target!(|data: &[u8]| {
    let mut rng = Rng::new(seed_of(data));
    check(data, &[], &mut rng);
    // The same head grown past the limits: one byte of it repeated where the
    // hash says, so that the limits fall on every part of a head in turn.
    for limit in [URI_BYTES_MAX + 32, HEAD_BYTES_MAX] {
        let at = rng.below(data.len() + 1);
        let byte = data.get(at).copied().unwrap_or(b'a');
        let count = (limit + rng.below(9)).saturating_sub(data.len() + 4);
        let mut padded = Vec::with_capacity(data.len() + count);
        padded.extend_from_slice(&data[..at]);
        padded.resize(at + count, byte);
        padded.extend_from_slice(&data[at..]);
        let hot = [
            at,
            at + count,
            URI_BYTES_MAX + 32,
            HEAD_BYTES_MAX,
            padded.len(),
        ];
        check(&padded, &hot, &mut rng);
    }
});

fn check(buf: &[u8], hot: &[usize], rng: &mut Rng) {
    let whole = parse_head(buf);
    check_verdict(buf, &whole);
    for cut in cuts(buf, hot, &whole, rng) {
        let prefix = parse_head(&buf[..cut]);
        check_verdict(&buf[..cut], &prefix);
        check_prefix(buf, cut, &prefix, &whole);
    }
}

/// Every cut of a short input; for a long one, the cuts next to the first
/// line ends, to the end of the head and to the `hot` spots, and a few
/// random ones (each parse of a long input costs).
fn cuts(buf: &[u8], hot: &[usize], whole: &Verdict, rng: &mut Rng) -> Vec<usize> {
    if buf.len() <= 512 {
        return (0..buf.len()).collect();
    }
    let mut cuts = vec![1, buf.len() - 1];
    let line_ends = buf.iter().enumerate().filter(|(_, &byte)| byte == b'\n');
    for (index, _) in line_ends.take(8) {
        cuts.extend([index, index + 1]);
    }
    if let Ok(HeadParse::Complete(head)) = whole {
        cuts.extend([head.head_size - 1, head.head_size]);
    }
    for &spot in hot {
        cuts.extend([spot.saturating_sub(1), spot, spot + 1]);
    }
    cuts.extend((0..8).map(|_| rng.below(buf.len())));
    cuts.retain(|&cut| cut < buf.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

fn check_verdict(buf: &[u8], verdict: &Verdict) {
    match verdict {
        Ok(HeadParse::Partial) => {
            assert!(buf.len() < HEAD_BYTES_MAX, "partial at {} bytes", buf.len());
        }
        Ok(HeadParse::Complete(head)) => {
            assert!(
                head.head_size <= buf.len(),
                "head_size {} > input {}",
                head.head_size,
                buf.len()
            );
            assert!(head.head_size <= HEAD_BYTES_MAX);
            let head_bytes = &buf[..head.head_size];
            assert!(head_bytes.ends_with(b"\n\n") || head_bytes.ends_with(b"\n\r\n"));
            assert!(head.target.starts_with('/'), "target {:?}", head.target);
            assert!(head.target.len() <= URI_BYTES_MAX);
            assert!(head.version_minor <= 1);
            if head.version_minor == 1 {
                assert!(head.host.is_some(), "HTTP/1.1 without Host accepted");
            } else {
                assert_ne!(head.framing, BodyFraming::Chunked, "chunked on HTTP/1.0");
                assert!(!head.expect_continue, "100-continue on HTTP/1.0");
            }
            check_framing(head_bytes, head);
        }
        Err(error) => {
            assert!(
                matches!(error.status(), 400 | 414 | 417 | 431 | 501),
                "{error:?}"
            );
            let message = error.message();
            assert!(!message.is_empty() && message.len() < 200 && !message.ends_with('.'));
        }
    }
}

/// The framing decision and carried values against the header lines
/// themselves: the lines a proxy in front also sees, so a mismatch is a
/// smuggling (or check bypass) risk.
fn check_framing(head_bytes: &[u8], head: &RequestHead) {
    let mut headers = [httparse::EMPTY_HEADER; HEADERS_MAX];
    let mut request = httparse::Request::new(&mut headers);
    let status = request
        .parse(head_bytes)
        .expect("httparse reads the head again");
    assert_eq!(status, httparse::Status::Complete(head.head_size));
    let values = |name: &str| -> Vec<&[u8]> {
        let named = request
            .headers
            .iter()
            .filter(|header| header.name.eq_ignore_ascii_case(name));
        named.map(|header| header.value).collect()
    };
    let lengths = values("content-length");
    let codings = values("transfer-encoding");
    let trim = |value: &[u8]| -> Vec<u8> {
        let ows = |byte: &u8| *byte == b' ' || *byte == b'\t';
        let start = value
            .iter()
            .position(|byte| !ows(byte))
            .unwrap_or(value.len());
        let end = value
            .iter()
            .rposition(|byte| !ows(byte))
            .map_or(start, |end| end + 1);
        value[start..end.max(start)].to_ascii_lowercase()
    };
    match head.framing {
        BodyFraming::None => assert!(lengths.is_empty() && codings.is_empty()),
        BodyFraming::Length(length) => {
            assert!(codings.is_empty(), "Length with a Transfer-Encoding line");
            assert_eq!(
                lengths.len(),
                1,
                "Length from {} Content-Length lines",
                lengths.len()
            );
            let digits = trim(lengths[0]);
            assert!(
                digits.iter().all(u8::is_ascii_digit),
                "Content-Length {digits:?}"
            );
            assert_eq!(
                std::str::from_utf8(&digits)
                    .ok()
                    .and_then(|d| d.parse().ok()),
                Some(length)
            );
        }
        BodyFraming::Chunked => {
            assert!(lengths.is_empty(), "chunked with a Content-Length line");
            assert_eq!(
                codings.len(),
                1,
                "chunked from {} Transfer-Encoding lines",
                codings.len()
            );
            assert_eq!(
                trim(codings[0]),
                b"chunked",
                "Transfer-Encoding {:?}",
                codings[0]
            );
        }
    }
    if head.version_minor == 1 {
        assert_eq!(values("host").len(), 1, "one Host line on HTTP/1.1");
    }
    // A value the router acts on is the wire value minus OWS (SP / HTAB,
    // RFC 9110 5.5), from the field's last line.
    let carried = [
        ("host", &head.host),
        ("origin", &head.origin),
        ("content-type", &head.content_type),
        ("authorization", &head.authorization),
        ("accept", &head.accept),
        ("if-none-match", &head.if_none_match),
        ("sec-websocket-key", &head.websocket_key),
        ("sec-websocket-version", &head.websocket_version),
    ];
    for (name, value) in carried {
        let wire = values(name).last().map(|value| {
            let start = value.iter().position(|&byte| byte != b' ' && byte != b'\t');
            let end = value
                .iter()
                .rposition(|&byte| byte != b' ' && byte != b'\t');
            match (start, end) {
                (Some(start), Some(end)) => &value[start..=end],
                _ => &value[..0],
            }
        });
        assert_eq!(
            value.as_deref().map(str::as_bytes),
            wire,
            "{name} is not its wire value"
        );
    }
}

/// What the verdict on the first `cut` bytes allows the whole to be.
fn check_prefix(buf: &[u8], cut: usize, prefix: &Verdict, whole: &Verdict) {
    match (prefix, whole) {
        (Ok(HeadParse::Partial), Ok(HeadParse::Complete(head))) => assert!(
            head.head_size > cut,
            "prefix of {cut} bytes is partial, whole head is {} bytes",
            head.head_size
        ),
        (Ok(HeadParse::Partial), _) => {}
        (Ok(HeadParse::Complete(prefix_head)), _) => assert_eq!(
            whole.as_ref().ok(),
            Some(&HeadParse::Complete(prefix_head.clone())),
            "prefix of {cut} bytes is complete, the whole is not the same head"
        ),
        (Err(prefix_error), Err(whole_error)) => assert!(
            prefix_error == whole_error
                || matches!(prefix_error, HeadError::UriTooLong | HeadError::TooLarge),
            "prefix of {cut} bytes refused for {prefix_error:?}, the whole for {whole_error:?}"
        ),
        (Err(prefix_error), Ok(HeadParse::Partial)) => {
            // The whole is undecided: the blank line that ends it must not
            // make acceptable what a prefix already refused.
            let completed = [buf, b"\r\n\r\n"].concat();
            let verdict = parse_head(&completed);
            assert!(
                !matches!(verdict, Ok(HeadParse::Complete(_))),
                "prefix of {cut} bytes refused for {prefix_error:?}, the whole, completed, is {verdict:?}"
            );
        }
        (Err(prefix_error), Ok(whole_verdict)) => panic!(
            "prefix of {cut} bytes refused for {prefix_error:?}, the whole is {whole_verdict:?}"
        ),
    }
}
