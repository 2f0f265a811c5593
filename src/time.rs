//! RFC 3339 time stamps to and from milliseconds since the Unix epoch.
//!
//! Pure arithmetic, no clock and no crates: the server passes `now_ms` in.
//! Times are written as UTC with exactly three fraction digits
//! (`2026-11-24T10:05:12.345Z`). Parsing accepts any RFC 3339 date-time from
//! 1970-01-01T00:00:00Z to 9999-12-31T23:59:59.999Z: `T`/`t`, `Z`/`z` or a
//! `±hh:mm` offset, and a fraction of any length (milliseconds kept, the rest
//! dropped, not rounded). A leap second (`:60`) is accepted only where RFC 3339
//! allows it, at 23:59 UTC, and is read as `23:59:59.999Z`: Unix time has no
//! leap seconds, and this keeps it after every other instant of that minute.

use std::cell::Cell;

/// The last instant that four year digits can write: 9999-12-31T23:59:59.999Z.
pub const TIMESTAMP_MS_MAX: u64 = 253_402_300_799_999;

const MS_PER_DAY: u64 = 86_400_000;
const MS_PER_HOUR: u64 = 3_600_000;
const MS_PER_MINUTE: u64 = 60_000;
const MS_PER_SECOND: u64 = 1_000;
/// Days from 0000-03-01 (the start of the proleptic Gregorian era used by
/// `civil_from_days`) to 1970-01-01.
const EPOCH_DAYS_FROM_ERA: i64 = 719_468;
const DAYS_PER_ERA: i64 = 146_097;

/// `ms` as RFC 3339 UTC with milliseconds, e.g. `2026-11-24T10:05:12.345Z`.
pub fn rfc3339_ms(ms: u64) -> String {
    let mut out = String::with_capacity(24);
    format_rfc3339_ms(ms, &mut out);
    out
}

/// Appends `ms` as RFC 3339 UTC with milliseconds. Values past
/// [`TIMESTAMP_MS_MAX`] are written as that instant, so the output is always
/// a valid 24-byte time stamp.
pub fn format_rfc3339_ms(ms: u64, out: &mut String) {
    let bytes = rfc3339_ms_bytes(ms);
    // The 24 bytes are ASCII digits and separators.
    out.push_str(std::str::from_utf8(&bytes).unwrap_or_default());
}

/// Appends `ms` as an HTTP date (RFC 9110 IMF-fixdate), always 29 bytes:
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn format_http_date(ms: u64, out: &mut String) {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let ms = ms.min(TIMESTAMP_MS_MAX);
    let days = ms / MS_PER_DAY;
    let (year, month, day) = civil_from_days(days);
    let time = ms % MS_PER_DAY;
    out.push_str(WEEKDAYS[(days % 7) as usize]);
    out.push_str(", ");
    push_digits(out, day, 2);
    out.push(' ');
    out.push_str(MONTHS[(month - 1) as usize]);
    out.push(' ');
    push_digits(out, year, 4);
    out.push(' ');
    push_digits(out, time / MS_PER_HOUR, 2);
    out.push(':');
    push_digits(out, time / MS_PER_MINUTE % 60, 2);
    out.push(':');
    push_digits(out, time / MS_PER_SECOND % 60, 2);
    out.push_str(" GMT");
}

/// `ms` as RFC 3339 UTC with milliseconds, as 24 bytes: the allocation-free
/// form of [`format_rfc3339_ms`] for the JSON writers.
pub fn rfc3339_ms_bytes(ms: u64) -> [u8; 24] {
    thread_local! {
        /// Recently written seconds, direct-mapped by second: a session's
        /// times and the entries of one burst share a handful of seconds.
        static SECONDS: Cell<[(u64, [u8; 24]); 4]> = const { Cell::new([(u64::MAX, [0; 24]); 4]) };
    }
    let ms = ms.min(TIMESTAMP_MS_MAX);
    let second = ms / MS_PER_SECOND;
    let mut out = SECONDS.with(|cache| {
        let mut seconds = cache.get();
        let slot = (second % 4) as usize;
        if seconds[slot].0 != second {
            seconds[slot] = (second, format_second(second * MS_PER_SECOND));
            cache.set(seconds);
        }
        seconds[slot].1
    });
    with_millis(&mut out, ms);
    out
}

/// The second last written, for times written one after another (the
/// entries of a log page): within it a time costs its three millisecond
/// digits, with no look-up in the shared cache of `rfc3339_ms_bytes`.
pub struct SecondCache {
    second: u64,
    bytes: [u8; 24],
}

impl SecondCache {
    /// The same bytes as `rfc3339_ms_bytes(ms)`.
    pub fn rfc3339_ms_bytes(&mut self, ms: u64) -> [u8; 24] {
        let ms = ms.min(TIMESTAMP_MS_MAX);
        let second = ms / MS_PER_SECOND;
        if second != self.second {
            self.second = second;
            self.bytes = format_second(second * MS_PER_SECOND);
        }
        with_millis(&mut self.bytes, ms);
        self.bytes
    }
}

impl Default for SecondCache {
    fn default() -> SecondCache {
        SecondCache {
            second: u64::MAX,
            bytes: [0; 24],
        }
    }
}

/// Writes the milliseconds of `ms` into the 24 bytes of a time in its second.
fn with_millis(time: &mut [u8; 24], ms: u64) {
    let millis = ms % MS_PER_SECOND;
    time[20] = b'0' + (millis / 100) as u8;
    time[21] = b'0' + (millis / 10 % 10) as u8;
    time[22] = b'0' + (millis % 10) as u8;
}

/// The 24 bytes of an RFC 3339 time with `.000` milliseconds.
fn format_second(ms: u64) -> [u8; 24] {
    let (year, month, day) = civil_from_days(ms / MS_PER_DAY);
    let time = ms % MS_PER_DAY;
    let mut out = *b"0000-00-00T00:00:00.000Z";
    let mut put = |at: usize, width: usize, mut value: u64| {
        for place in (at..at + width).rev() {
            out[place] = b'0' + (value % 10) as u8;
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, time / MS_PER_HOUR);
    put(14, 2, time / MS_PER_MINUTE % 60);
    put(17, 2, time / MS_PER_SECOND % 60);
    out
}

/// Parses an RFC 3339 date-time into milliseconds since the Unix epoch.
/// None for anything malformed, out of range, or outside 1970..=9999 (UTC).
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)?;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    let separators = [(4, b'-'), (7, b'-'), (13, b':'), (16, b':')];
    if separators
        .iter()
        .any(|&(at, byte)| b.get(at) != Some(&byte))
    {
        return None;
    }
    if !matches!(b.get(10), Some(b'T' | b't')) {
        return None;
    }
    let (fraction_ms, rest) = parse_fraction(b.get(19..)?)?;
    let offset_minutes = parse_offset(rest)?;
    let date_ok = (1..=12).contains(&month) && (1..=days_in_month(year, month)).contains(&day);
    if !date_ok || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let local_minutes = i64::from(hour * 60 + minute);
    let (second, fraction_ms) = match second {
        60 if (local_minutes - offset_minutes).rem_euclid(1440) == 1439 => (59, 999),
        60 => return None,
        _ => (second, fraction_ms),
    };
    let local_ms = days_from_civil(year, month, day) * MS_PER_DAY as i64
        + local_minutes * MS_PER_MINUTE as i64
        + i64::from(second) * MS_PER_SECOND as i64
        + i64::from(fraction_ms);
    let utc_ms = local_ms - offset_minutes * MS_PER_MINUTE as i64;
    u64::try_from(utc_ms)
        .ok()
        .filter(|&ms| ms <= TIMESTAMP_MS_MAX)
}

/// `count` ASCII digits at `start` as a number.
fn digits(b: &[u8], start: usize, count: usize) -> Option<u32> {
    let field = b.get(start..start + count)?;
    field.iter().try_fold(0u32, |value, &byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// An optional `.digits` fraction: its first three digits as milliseconds
/// (right-padded with zeros) and the bytes after it.
fn parse_fraction(b: &[u8]) -> Option<(u32, &[u8])> {
    let Some(fraction) = b.strip_prefix(b".") else {
        return Some((0, b));
    };
    let digit_count = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
    if digit_count == 0 {
        return None;
    }
    let ms = (0..3).fold(0u32, |ms, i| {
        let digit = fraction
            .get(i)
            .filter(|_| i < digit_count)
            .map_or(0, |&b| b - b'0');
        ms * 10 + u32::from(digit)
    });
    Some((ms, &fraction[digit_count..]))
}

/// The time offset that ends the string, in minutes east of UTC.
fn parse_offset(b: &[u8]) -> Option<i64> {
    let sign = match b {
        [b'Z' | b'z'] => return Some(0),
        [b'+', _, _, b':', _, _] => 1,
        [b'-', _, _, b':', _, _] => -1,
        _ => return None,
    };
    let hours = digits(b, 1, 2)?;
    let minutes = digits(b, 4, 2)?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(sign * i64::from(hours * 60 + minutes))
}

pub(crate) fn is_leap_year(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (negative before it).
/// Howard Hinnant's `days_from_civil`, with eras of 400 years starting in March.
pub(crate) fn days_from_civil(year: u32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_DAYS_FROM_ERA
}

/// (year, month, day) of `days` since 1970-01-01; the inverse of
/// `days_from_civil` for days >= 0.
pub(crate) fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let days = days + EPOCH_DAYS_FROM_ERA as u64;
    let era = days / DAYS_PER_ERA as u64;
    let day_of_era = days - era * DAYS_PER_ERA as u64;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Appends `value` in decimal, left-padded with zeros to `width` digits.
pub(crate) fn push_digits(out: &mut String, value: u64, width: u32) {
    debug_assert!(value < 10u64.pow(width));
    for place in (0..width).rev() {
        let digit = (value / 10u64.pow(place) % 10) as u8;
        out.push(char::from(b'0' + digit));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_cache_writes_what_rfc3339_ms_bytes_writes() {
        let mut cache = SecondCache::default();
        let times = [
            1_764_000_000_123,
            1_764_000_000_999,
            1_764_000_001_000,
            1_764_000_000_005,
            0,
            TIMESTAMP_MS_MAX,
            u64::MAX,
            1_764_000_000_000,
        ];
        for ms in times {
            assert_eq!(cache.rfc3339_ms_bytes(ms), rfc3339_ms_bytes(ms), "{ms}");
        }
    }

    #[test]
    fn http_dates() {
        let mut out = String::new();
        format_http_date(784_111_777_000, &mut out);
        assert_eq!(out, "Sun, 06 Nov 1994 08:49:37 GMT");
        out.clear();
        format_http_date(0, &mut out);
        assert_eq!(out, "Thu, 01 Jan 1970 00:00:00 GMT");
        out.clear();
        format_http_date(1_795_608_000_999, &mut out);
        assert_eq!(out.len(), 29);
    }

    fn check(input: &str, expected: Option<&str>) {
        let parsed = parse_rfc3339(input);
        assert_eq!(
            parsed.map(rfc3339_ms).as_deref(),
            expected,
            "input {input:?}"
        );
    }

    #[test]
    fn parse_accepts_rfc3339() {
        let cases = [
            ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
            ("2026-11-24T10:05:12.345Z", "2026-11-24T10:05:12.345Z"),
            ("2026-11-24t10:05:12.345z", "2026-11-24T10:05:12.345Z"),
            ("2026-11-24T10:05:12.5Z", "2026-11-24T10:05:12.500Z"),
            ("2026-11-24T10:05:12.12Z", "2026-11-24T10:05:12.120Z"),
            (
                "2026-11-24T10:05:12.123999999999Z",
                "2026-11-24T10:05:12.123Z",
            ),
            ("2026-11-24T12:05:12+02:00", "2026-11-24T10:05:12.000Z"),
            ("2026-11-24T00:05:12-10:30", "2026-11-24T10:35:12.000Z"),
            ("2026-11-24T10:05:12-00:00", "2026-11-24T10:05:12.000Z"),
            ("1969-12-31T23:00:00-01:00", "1970-01-01T00:00:00.000Z"),
            ("2000-02-29T23:59:59.999Z", "2000-02-29T23:59:59.999Z"),
            ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"),
            ("2026-12-31T23:59:60Z", "2026-12-31T23:59:59.999Z"),
            ("2026-12-31T23:59:60.5Z", "2026-12-31T23:59:59.999Z"),
            ("2027-01-01T00:59:60+01:00", "2026-12-31T23:59:59.999Z"),
            ("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z"),
            ("9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999Z"),
        ];
        for (input, expected) in cases {
            check(input, Some(expected));
        }
    }

    #[test]
    fn parse_rejects_the_rest() {
        let cases = [
            "",
            "2026-11-24",
            "2026-11-24T10:05Z",
            "2026-11-24 10:05:12Z",
            "2026-11-24T10:05:12",
            "2026-11-24T10:05:12.Z",
            "2026-11-24T10:05:12.123",
            "2026-11-24T10:05:12+0200",
            "2026-11-24T10:05:12+02",
            "2026-11-24T10:05:12+24:00",
            "2026-11-24T10:05:12+02:60",
            "2026-11-24T10:05:12ZZ",
            "2026-11-24T10:05:12Z ",
            " 2026-11-24T10:05:12Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-11-00T00:00:00Z",
            "2026-11-31T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-11-24T24:00:00Z",
            "2026-11-24T10:60:00Z",
            "2026-11-24T10:05:61Z",
            "2026-11-24T10:05:60Z",
            "2026-12-31T23:59:60+01:00",
            "1969-12-31T23:59:59.999Z",
            "1970-01-01T00:00:00+00:01",
            "0000-01-01T00:00:00Z",
            "10000-01-01T00:00:00Z",
            "+2026-11-24T10:05:12Z",
            "2026-1a-24T10:05:12Z",
            "2026-11-24T10:05:12.1e3Z",
            "２０２６-11-24T10:05:12Z",
            "2026-11-24T10:05:12.١Z",
        ];
        for input in cases {
            check(input, None);
        }
    }

    #[test]
    fn format_known_instants() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(rfc3339_ms(1_795_514_712_345), "2026-11-24T10:05:12.345Z");
        assert_eq!(rfc3339_ms(TIMESTAMP_MS_MAX), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(TIMESTAMP_MS_MAX + 1), "9999-12-31T23:59:59.999Z");
        assert_eq!(rfc3339_ms(u64::MAX), "9999-12-31T23:59:59.999Z");
        let mut out = String::from("at ");
        format_rfc3339_ms(1, &mut out);
        assert_eq!(out, "at 1970-01-01T00:00:00.001Z");
    }

    #[test]
    fn every_day_matches_a_naive_calendar() {
        let (mut year, mut month, mut day) = (1970, 1, 1);
        for days in 0..=TIMESTAMP_MS_MAX / MS_PER_DAY {
            assert_eq!(civil_from_days(days), (year, month, day), "day {days}");
            let (y, m, d) = (year as u32, month as u32, day as u32);
            assert_eq!(days_from_civil(y, m, d), days as i64);
            day += 1;
            if day > u64::from(days_in_month(y, m)) {
                day = 1;
                month += 1;
            }
            if month > 12 {
                month = 1;
                year += 1;
            }
        }
        assert_eq!((year, month, day), (10000, 1, 1));
    }

    #[test]
    fn random_instants_round_trip() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..100_000 {
            // xorshift64*: enough spread for a round trip, no crate needed.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            let ms = state.wrapping_mul(0x2545_f491_4f6c_dd1d) % (TIMESTAMP_MS_MAX + 1);
            let text = rfc3339_ms(ms);
            assert_eq!(text.len(), 24);
            assert_eq!(parse_rfc3339(&text), Some(ms), "{text}");
        }
    }

    #[test]
    fn offsets_shift_the_instant() {
        let utc = parse_rfc3339("2026-03-01T00:30:00Z");
        assert_eq!(parse_rfc3339("2026-02-28T23:30:00-01:00"), utc);
        assert_eq!(parse_rfc3339("2026-03-01T01:30:00+01:00"), utc);
        assert_eq!(parse_rfc3339("2026-03-01T10:15:00+09:45"), utc);
    }
}
