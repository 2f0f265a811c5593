//! `http::date::parse_http_date`: `Retry-After` dates (RFC 9110 5.6.7).
//!
//! Asserts:
//! - an accepted text is a whole second within years 0000..=9999 (0001 and
//!   later for RFC 850's window) and, in IMF-fixdate or RFC 850 form,
//!   written back by our formatter gives the same text after the day name
//!   (which the parser does not check), unless it was a leap second;
//! - an IMF-fixdate or asctime date does not depend on `now_ms`; an RFC 850
//!   one lies within fifty years of it;
//! - round trip: any instant (from the input's first 8 bytes), written in
//!   each of the three formats, reads back to its second.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::http::date::{format_asctime_date, format_rfc850_date, parse_http_date};
use sessions_lite::time::{format_http_date, TIMESTAMP_MS_MAX};

/// 0000-01-01T00:00:00Z in Unix milliseconds.
const YEAR_ZERO_MS: i64 = -62_167_219_200_000;
const FIFTY_YEARS_MS: i64 = 51 * 366 * 86_400_000;

fuzz_target!(|data: &[u8]| {
    let mut first = [0u8; 8];
    let taken = data.len().min(8);
    first[..taken].copy_from_slice(&data[..taken]);
    let ms = u64::from_le_bytes(first) % (TIMESTAMP_MS_MAX + 1);
    let second = (ms / 1000 * 1000) as i64;
    let mut text = String::new();
    format_http_date(ms, &mut text);
    assert_eq!(parse_http_date(text.as_bytes(), 0), Some(second), "{text}");
    text.clear();
    format_rfc850_date(ms, &mut text);
    assert_eq!(parse_http_date(text.as_bytes(), ms), Some(second), "{text}");
    text.clear();
    format_asctime_date(ms, &mut text);
    assert_eq!(
        parse_http_date(text.as_bytes(), u64::MAX),
        Some(second),
        "{text}"
    );

    let now_ms = ms;
    let Some(parsed) = parse_http_date(data, now_ms) else {
        return;
    };
    assert_eq!(parsed.rem_euclid(1000), 0);
    assert!((YEAR_ZERO_MS..=TIMESTAMP_MS_MAX as i64).contains(&parsed));
    let leap_second = data.windows(3).any(|window| window == b":60");
    let rfc850 = data.len() >= 30 && data[3] != b',' && data[3] != b' ';
    if rfc850 {
        assert!(
            (parsed - now_ms as i64).abs() <= FIFTY_YEARS_MS,
            "{parsed} far from {now_ms}"
        );
    } else {
        assert_eq!(parse_http_date(data, 0), Some(parsed));
        assert_eq!(parse_http_date(data, TIMESTAMP_MS_MAX), Some(parsed));
    }
    if parsed < 0 || leap_second {
        return;
    }
    let mut again = String::new();
    if data.len() == 29 {
        format_http_date(parsed as u64, &mut again);
        assert_eq!(&again.as_bytes()[3..], &data[3..]);
    } else if rfc850 {
        format_rfc850_date(parsed as u64, &mut again);
        let comma = data.iter().position(|&byte| byte == b',').unwrap_or(0);
        let again_comma = again.find(',').unwrap_or(0);
        assert_eq!(&again.as_bytes()[again_comma..], &data[comma..]);
    }
});
