//! `parse_rfc3339`: entry timestamps (`"timestamp"` in JSON / NDJSON).
//!
//! Asserts:
//! - an accepted text gives a time within 1970..=9999 (`TIMESTAMP_MS_MAX`),
//!   and `rfc3339_ms` of it reads back the same;
//! - digits past the milliseconds change nothing (they are cut, not
//!   rounded), and `T`/`Z` read the same in lower case;
//! - an offset moves the time by exactly that offset: the same wall clock
//!   with `Z` reads `offset` later or earlier (when both are in range);
//! - round trip: any time in range (from the input's first 8 bytes) written
//!   by `rfc3339_ms` reads back the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sessions_lite::time::{parse_rfc3339, rfc3339_ms, TIMESTAMP_MS_MAX};

fuzz_target!(|data: &[u8]| {
    let mut first = [0u8; 8];
    let taken = data.len().min(8);
    first[..taken].copy_from_slice(&data[..taken]);
    let ms = u64::from_le_bytes(first) % (TIMESTAMP_MS_MAX + 1);
    assert_eq!(
        parse_rfc3339(&rfc3339_ms(ms)),
        Some(ms),
        "{}",
        rfc3339_ms(ms)
    );

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Some(ms) = parse_rfc3339(text) else {
        return;
    };
    assert!(ms <= TIMESTAMP_MS_MAX);
    assert_eq!(
        parse_rfc3339(&rfc3339_ms(ms)),
        Some(ms),
        "{text} -> {}",
        rfc3339_ms(ms)
    );
    let lower = text.replace('T', "t").replace('Z', "z");
    assert_eq!(parse_rfc3339(&lower), Some(ms), "{lower}");
    // Accepted texts are ASCII: byte 19 on is `[.digits](Z|±hh:mm)`.
    let (wall, tail) = text.split_at(19);
    let (digits, offset) = match tail.strip_prefix('.') {
        Some(rest) => rest.split_at(rest.bytes().take_while(u8::is_ascii_digit).count()),
        None => ("", tail),
    };
    let fraction = if digits.is_empty() {
        String::new()
    } else {
        format!(".{digits}")
    };
    let longer = format!("{wall}.{digits:0<3}9999{offset}");
    assert_eq!(parse_rfc3339(&longer), Some(ms), "{longer}");
    if let Some(sign) = offset.strip_prefix(['+', '-']).map(|_| &offset[..1]) {
        let minutes = i64::from(offset[1..3].parse::<u16>().expect("hours")) * 60
            + i64::from(offset[4..6].parse::<u16>().expect("minutes"));
        let utc_wall = parse_rfc3339(&format!("{wall}{fraction}Z"));
        let shift = if sign == "+" { -minutes } else { minutes } * 60_000;
        if let Some(utc_wall) = utc_wall {
            if !wall.ends_with(":60") {
                assert_eq!(ms as i64, utc_wall as i64 + shift, "{text}");
            }
        }
    }
});
