//! HTTP-date (RFC 9110 section 5.6.7) to Unix milliseconds: the three
//! formats a recipient must accept.
//!
//! - IMF-fixdate, what everyone sends: `Sun, 06 Nov 1994 08:49:37 GMT`
//! - RFC 850, obsolete: `Sunday, 06-Nov-94 08:49:37 GMT`
//! - asctime, obsolete: `Sun Nov  6 08:49:37 1994`
//!
//! Exactly as the grammar says: names are case-sensitive, single spaces,
//! `GMT`, nothing before or after (the caller trims the header's OWS). The
//! day name must be one of the seven but is not checked against the date,
//! which RFC 9110 does not ask of a recipient. A leap second (`:60`) reads
//! as `:59`. RFC 850's two-digit year is read as RFC 9110 says: a year
//! that would be more than 50 years in the future is the most recent past
//! year with those digits, so the year lies in `(now - 50, now + 50]`;
//! that is why the parser takes `now_ms`. Pure arithmetic, no clock.
//!
//! The formatters of the two obsolete forms are here so that tests and the
//! fuzz target can round-trip them; IMF-fixdate is `time::format_http_date`.

use crate::time::{civil_from_days, days_from_civil, days_in_month, push_digits};

const SHORT_DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// 1970-01-01 was a Thursday: index 3 of `SHORT_DAYS`.
const EPOCH_WEEKDAY_INDEX: u64 = 3;
const MS_PER_DAY: u64 = 86_400_000;
const SECONDS_PER_DAY: i64 = 86_400;
/// The last year a date may name (four digits, like the other formats).
const YEAR_MAX: u32 = 9999;
/// RFC 9110: a two-digit year more than this far ahead is in the past.
const TWO_DIGIT_YEAR_FUTURE_MAX: i64 = 50;

/// The instant `text` names, in Unix milliseconds (negative before 1970;
/// years 0000 to 9999), or `None` when it is not an HTTP-date.
pub fn parse_http_date(text: &[u8], now_ms: u64) -> Option<i64> {
    if text.len() == 29 && text[3] == b',' {
        parse_imf_fixdate(text)
    } else if text.len() == 24 && text[3] == b' ' {
        parse_asctime(text)
    } else {
        parse_rfc850(text, now_ms)
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(text: &[u8]) -> Option<i64> {
    name_index(&SHORT_DAYS, &text[..3])?;
    expect(text, 3, b", ")?;
    let day = digits(&text[5..7])?;
    expect(text, 7, b" ")?;
    let month = month(&text[8..11])?;
    expect(text, 11, b" ")?;
    let year = digits(&text[12..16])?;
    expect(text, 16, b" ")?;
    let seconds = time_of_day(&text[17..25])?;
    expect(text, 25, b" GMT")?;
    instant(year, month, day, seconds)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn parse_rfc850(text: &[u8], now_ms: u64) -> Option<i64> {
    let comma = text.iter().position(|&byte| byte == b',')?;
    name_index(&LONG_DAYS, &text[..comma])?;
    let rest = &text[comma..];
    if rest.len() != 24 {
        return None;
    }
    expect(rest, 0, b", ")?;
    let day = digits(&rest[2..4])?;
    expect(rest, 4, b"-")?;
    let month = month(&rest[5..8])?;
    expect(rest, 8, b"-")?;
    let two_digit_year = digits(&rest[9..11])?;
    expect(rest, 11, b" ")?;
    let seconds = time_of_day(&rest[12..20])?;
    expect(rest, 20, b" GMT")?;
    instant(full_year(two_digit_year, now_ms), month, day, seconds)
}

/// `Sun Nov  6 08:49:37 1994` (the day is two digits or a space and one).
fn parse_asctime(text: &[u8]) -> Option<i64> {
    name_index(&SHORT_DAYS, &text[..3])?;
    expect(text, 3, b" ")?;
    let month = month(&text[4..7])?;
    expect(text, 7, b" ")?;
    let day = match text[8] {
        b' ' => digits(&text[9..10])?,
        _ => digits(&text[8..10])?,
    };
    expect(text, 10, b" ")?;
    let seconds = time_of_day(&text[11..19])?;
    expect(text, 19, b" ")?;
    let year = digits(&text[20..24])?;
    instant(year, month, day, seconds)
}

/// The year in `(now - 50, now + 50]` that ends in `two_digit_year`.
fn full_year(two_digit_year: u32, now_ms: u64) -> u32 {
    let (now_year, _, _) = civil_from_days(now_ms.min(crate::time::TIMESTAMP_MS_MAX) / MS_PER_DAY);
    let now_year = now_year as i64;
    let mut year = now_year - now_year % 100 + i64::from(two_digit_year);
    if year > now_year + TWO_DIGIT_YEAR_FUTURE_MAX {
        year -= 100;
    } else if year <= now_year - TWO_DIGIT_YEAR_FUTURE_MAX {
        year += 100;
    }
    // now_year is 1970..=9999, so year is 1920..=10049: it fits.
    year as u32
}

fn instant(year: u32, month: u32, day: u32, seconds: u32) -> Option<i64> {
    // An RFC 850 year read late in 9999's century may pass four digits.
    if year > YEAR_MAX || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some((days * SECONDS_PER_DAY + i64::from(seconds)) * 1000)
}

/// `HH:MM:SS` as seconds of the day; `:60` (a leap second) as `:59`.
fn time_of_day(text: &[u8]) -> Option<u32> {
    expect(text, 2, b":")?;
    expect(text, 5, b":")?;
    let hour = digits(&text[0..2])?;
    let minute = digits(&text[3..5])?;
    let second = digits(&text[6..8])?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(hour * 3600 + minute * 60 + second.min(59))
}

/// The month number (1-12) of a three-letter name.
fn month(name: &[u8]) -> Option<u32> {
    name_index(&MONTHS, name).map(|index| index as u32 + 1)
}

fn name_index(names: &[&str], name: &[u8]) -> Option<usize> {
    names.iter().position(|known| known.as_bytes() == name)
}

/// `Some(())` when `text` holds `expected` at `at`.
fn expect(text: &[u8], at: usize, expected: &[u8]) -> Option<()> {
    (text.get(at..at + expected.len())? == expected).then_some(())
}

/// ASCII digits (at most 4) as a number.
fn digits(text: &[u8]) -> Option<u32> {
    debug_assert!(text.len() <= 4);
    text.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// Appends `ms` (to the second) as an RFC 850 date with a two-digit year.
pub fn format_rfc850_date(ms: u64, out: &mut String) {
    let (days, seconds) = split(ms);
    let (year, month, day) = civil_from_days(days);
    out.push_str(LONG_DAYS[weekday_index(days)]);
    out.push_str(", ");
    push_digits(out, day, 2);
    out.push('-');
    out.push_str(MONTHS[month as usize - 1]);
    out.push('-');
    push_digits(out, year % 100, 2);
    out.push(' ');
    push_time(out, seconds);
    out.push_str(" GMT");
}

/// Appends `ms` (to the second) as an asctime date.
pub fn format_asctime_date(ms: u64, out: &mut String) {
    let (days, seconds) = split(ms);
    let (year, month, day) = civil_from_days(days);
    out.push_str(SHORT_DAYS[weekday_index(days)]);
    out.push(' ');
    out.push_str(MONTHS[month as usize - 1]);
    out.push(' ');
    if day < 10 {
        out.push(' ');
        push_digits(out, day, 1);
    } else {
        push_digits(out, day, 2);
    }
    out.push(' ');
    push_time(out, seconds);
    out.push(' ');
    push_digits(out, year, 4);
}

/// Days since 1970 and seconds of that day, for an instant in four-digit
/// years.
fn split(ms: u64) -> (u64, u64) {
    let ms = ms.min(crate::time::TIMESTAMP_MS_MAX);
    (ms / MS_PER_DAY, ms % MS_PER_DAY / 1000)
}

fn weekday_index(days: u64) -> usize {
    ((days + EPOCH_WEEKDAY_INDEX) % 7) as usize
}

fn push_time(out: &mut String, seconds: u64) {
    push_digits(out, seconds / 3600, 2);
    out.push(':');
    push_digits(out, seconds / 60 % 60, 2);
    out.push(':');
    push_digits(out, seconds % 60, 2);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::format_http_date;

    /// 2026-12-03T00:00:00Z, the "now" of the two-digit-year cases.
    const NOW_MS: u64 = 1_796_256_000_000;
    /// 1994-11-06T08:49:37Z, RFC 9110's example.
    const EXAMPLE_MS: i64 = 784_111_777_000;

    fn check(input: &str, expected: Option<i64>) {
        assert_eq!(
            parse_http_date(input.as_bytes(), NOW_MS),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn the_three_formats() {
        check("Sun, 06 Nov 1994 08:49:37 GMT", Some(EXAMPLE_MS));
        check("Sunday, 06-Nov-94 08:49:37 GMT", Some(EXAMPLE_MS));
        check("Sun Nov  6 08:49:37 1994", Some(EXAMPLE_MS));
        check("Sun Nov 06 08:49:37 1994", Some(EXAMPLE_MS));
        check("Thu, 01 Jan 1970 00:00:00 GMT", Some(0));
        check("Wed, 31 Dec 1969 23:59:59 GMT", Some(-1000));
        check("Fri, 31 Dec 9999 23:59:59 GMT", Some(253_402_300_799_000));
        check("Mon, 01 Jan 0001 00:00:00 GMT", Some(-62_135_596_800_000));
        // The day name is not checked against the date.
        check("Mon, 06 Nov 1994 08:49:37 GMT", Some(EXAMPLE_MS));
        // A leap second reads as :59.
        check("Sat, 31 Dec 2016 23:59:60 GMT", Some(1_483_228_799_000));
    }

    #[test]
    fn leap_years() {
        check("Thu, 29 Feb 2024 12:00:00 GMT", Some(1_709_208_000_000));
        check("Tue, 29 Feb 2000 00:00:00 GMT", Some(951_782_400_000));
        check("Thu, 29 Feb 2024 12:00:00 GMT", Some(1_709_208_000_000));
        check("Sun, 29 Feb 2026 00:00:00 GMT", None);
        check("Thu, 29 Feb 1900 00:00:00 GMT", None);
        check("Thu, 29 Feb 2100 00:00:00 GMT", None);
        check("Thu Feb 29 12:00:00 2024", Some(1_709_208_000_000));
        check("Thursday, 29-Feb-24 12:00:00 GMT", Some(1_709_208_000_000));
        check("Sunday, 29-Feb-26 00:00:00 GMT", None);
    }

    #[test]
    fn two_digit_years_within_fifty_years() {
        // Now is 2026: 76 is 2076 (50 ahead), 77 is 1977 (51 ahead otherwise).
        let year = |yy: &str| {
            let text = format!("Thursday, 01-Jan-{yy} 00:00:00 GMT");
            let ms = parse_http_date(text.as_bytes(), NOW_MS).expect("a date");
            let (year, _, _) = civil_from_days(ms.max(0) as u64 / MS_PER_DAY);
            if ms < 0 {
                0
            } else {
                year
            }
        };
        assert_eq!(year("26"), 2026);
        assert_eq!(year("76"), 2076);
        assert_eq!(year("77"), 1977);
        assert_eq!(year("99"), 1999);
        assert_eq!(year("00"), 2000);
        // Late in a century the window reaches into the next one.
        let late_century = (days_from_civil(2096, 1, 1) * SECONDS_PER_DAY * 1000) as u64;
        let ms = parse_http_date(b"Sunday, 10-Jan-10 00:00:00 GMT", late_century).expect("date");
        assert_eq!(civil_from_days(ms as u64 / MS_PER_DAY).0, 2110);
        let ms = parse_http_date(b"Sunday, 10-Jan-46 00:00:00 GMT", late_century).expect("date");
        assert_eq!(civil_from_days(ms as u64 / MS_PER_DAY).0, 2146);
        let ms = parse_http_date(b"Sunday, 10-Jan-47 00:00:00 GMT", late_century).expect("date");
        assert_eq!(civil_from_days(ms as u64 / MS_PER_DAY).0, 2047);
        // Late in 9999's century the window passes four digits: refused,
        // like a five-digit year would be in the other formats.
        let last_century = (days_from_civil(9990, 1, 1) * SECONDS_PER_DAY * 1000) as u64;
        assert_eq!(
            parse_http_date(b"Sunday, 10-Jan-10 00:00:00 GMT", last_century),
            None
        );
        let ms = parse_http_date(b"Sunday, 10-Jan-95 00:00:00 GMT", last_century).expect("date");
        assert_eq!(civil_from_days(ms as u64 / MS_PER_DAY).0, 9995);
    }

    #[test]
    fn bad_dates() {
        for input in [
            "",
            "0",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 32 Dec 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 nov 1994 08:49:37 GMT",
            "sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 23:60:00 GMT",
            "Sun, 06 Nov 1994 23:59:61 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 gmt",
            "Sun, 06 Nov 1994 08:49:37 GMT ",
            " Sun, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMTX",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun,  6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:3a GMT",
            "Sun, +6 Nov 1994 08:49:37 GMT",
            "Xyz, 06 Nov 1994 08:49:37 GMT",
            "Sun; 06 Nov 1994 08:49:37 GMT",
            "Sun,-06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT junk",
            "Sunday, 06 Nov 94 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT",
            "Funday, 06-Nov-94 08:49:37 GMT",
            "Sunday,06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994 ",
            "Sun Nov 6 08:49:37 1994",
            "Sun Nov  6 08:49:37 94",
            "Sun Nov 31 08:49:37 1994",
            "Sun Nov  0 08:49:37 1994",
            "Sun Nov  6 08:49:37 19x4",
            "Sun Nov  6 08:49:37 GMT 1994",
            "Sunday, 06-Nov-94 08:49:37 GMT\u{e9}",
            "\u{e9}\u{e9}\u{e9}, 06 Nov 1994 08:49:37 GMT",
            "3600",
        ] {
            check(input, None);
        }
    }

    #[test]
    fn formatted_dates_read_back() {
        for ms in [
            0,
            784_111_777_000,
            951_782_400_000,
            1_796_256_000_000,
            1_709_208_000_999,
        ] {
            let second = (ms / 1000 * 1000) as i64;
            let mut text = String::new();
            format_http_date(ms, &mut text);
            assert_eq!(parse_http_date(text.as_bytes(), ms), Some(second), "{text}");
            text.clear();
            format_rfc850_date(ms, &mut text);
            assert_eq!(parse_http_date(text.as_bytes(), ms), Some(second), "{text}");
            text.clear();
            format_asctime_date(ms, &mut text);
            assert_eq!(parse_http_date(text.as_bytes(), ms), Some(second), "{text}");
        }
        let mut text = String::new();
        format_rfc850_date(784_111_777_000, &mut text);
        assert_eq!(text, "Sunday, 06-Nov-94 08:49:37 GMT");
        text.clear();
        format_asctime_date(784_111_777_000, &mut text);
        assert_eq!(text, "Sun Nov  6 08:49:37 1994");
    }
}
